"""After a flow_mod, cached datapath flows are revalidated as a user needs: a change that
applies to a cached flow's packets takes effect for the next packet; flows no change can
touch are left alone (a bridge on in-memory ports, stepped clock)."""

from pyvswitch.netdev.base import open_netdev
from pyvswitch.ofproto.ofproto import Ofproto
from pyvswitch.ofproto_dpif.ofproto_dpif import OfprotoDpif
from pyvswitch.openflow import ofpacts as of
from pyvswitch.openflow.messages import OFPFC_DELETE_STRICT, FlowMod
from pyvswitch.packet.fields import BY_NAME, Match

from tests.unit.test_upcall_stats import FRAME_A, FRAME_B

MAC_A, MAC_B, MAC_SRC = 0x020000000002, 0x020000000003, 0x020000000001
MAC_C = 0x020000000004


def bridge():
    ofproto = Ofproto("br0", 1)
    provider = OfprotoDpif(ofproto)
    ports = {}
    for i in (1, 2, 3, 4):
        ports[i] = open_netdev(f"p{i}", "dummy")
        ofproto.add_port(f"p{i}", ports[i], i)
    add(ofproto, Match().set("eth_dst", MAC_A), 10, of.Output(2))
    add(ofproto, Match(), 0, of.Output(3))
    return ofproto, provider, ports


def add(ofproto, match, priority, *actions, table_id=0, goto=None, now=0):
    ofproto.flows.apply_flow_mod(FlowMod(
        match=match, instructions=of.Instructions(apply=tuple(actions), goto_table=goto),
        table_id=table_id, priority=priority), now)


def send(provider, port, frame, now):
    port.inject(frame)
    provider.run(now)


def tx(ports):
    return {i: p.get_stats().tx_packets for i, p in ports.items()}


def test_an_added_rule_takes_over_the_cached_flows_it_matches_and_only_those():
    ofproto, provider, ports = bridge()
    send(provider, ports[1], FRAME_A, 1)
    send(provider, ports[1], FRAME_B, 1)
    assert tx(ports)[2] == 1 and tx(ports)[3] == 1
    cached_a = next(k for k, u in provider.upcalls.ukeys.items() if u.rules[0].priority == 10)
    # Higher priority for destination B only: the cached flow of A is untouched.
    add(ofproto, Match().set("eth_dst", MAC_B), 20, of.Output(4), now=2)
    provider.run(2)
    assert cached_a in provider.upcalls.ukeys
    assert provider.upcalls.n_revalidations >= 1
    send(provider, ports[1], FRAME_A, 3)
    send(provider, ports[1], FRAME_B, 3)
    assert tx(ports) == {1: 0, 2: 2, 3: 1, 4: 1}


def test_an_added_rule_on_a_field_the_megaflow_ignores_still_takes_effect():
    ofproto, provider, ports = bridge()
    send(provider, ports[1], FRAME_B, 1)          # the catch-all; megaflow keys eth_dst only
    add(ofproto, Match().set("eth_src", MAC_SRC), 30, of.Output(4), now=2)
    provider.run(2)
    send(provider, ports[1], FRAME_B, 3)
    assert tx(ports)[4] == 1 and tx(ports)[3] == 1


def test_deleting_the_rule_a_cached_flow_hit_sends_its_packets_elsewhere():
    ofproto, provider, ports = bridge()
    send(provider, ports[1], FRAME_A, 1)
    send(provider, ports[1], FRAME_B, 1)
    ofproto.flows.apply_flow_mod(FlowMod(
        match=Match().set("eth_dst", MAC_A), command=OFPFC_DELETE_STRICT, table_id=0,
        priority=10, instructions=of.Instructions()), 2)
    provider.run(2)
    assert len(provider.upcalls.ukeys) == 1       # B's flow did not hit it: kept
    send(provider, ports[1], FRAME_A, 3)
    assert tx(ports)[2] == 1 and tx(ports)[3] == 2


def test_a_rule_added_to_a_later_table_is_checked_against_the_rewritten_packet():
    """Table 0 sets reg0 and goes to table 1, where a new rule matches the new reg0
    value: the datapath key (reg0 = 0) does not show it, so the flow must be redone."""
    ofproto, provider, ports = bridge()
    add(ofproto, Match().set("eth_dst", MAC_B), 40, of.SetField(BY_NAME["reg0"], 5), goto=1)
    add(ofproto, Match(), 0, of.Output(3), table_id=1)
    send(provider, ports[1], FRAME_B, 1)
    assert tx(ports)[3] == 1
    add(ofproto, Match().set("reg0", 5), 10, of.Output(4), table_id=1, now=2)
    provider.run(2)
    send(provider, ports[1], FRAME_B, 3)
    assert tx(ports)[4] == 1


def test_a_group_change_revalidates_every_cached_flow():
    ofproto, provider, ports = bridge()
    send(provider, ports[1], FRAME_A, 1)
    send(provider, ports[1], FRAME_B, 1)
    before = provider.upcalls.n_revalidations
    provider.tables_changed()                     # what groups and meters call
    provider.run(2)
    assert provider.upcalls.n_revalidations == before + 1
    assert len(provider.upcalls.ukeys) == 2


def test_a_rule_added_to_table_0_is_checked_against_a_resubmitted_lookup_too():
    """Table 0 rewrites eth_dst and resubmits to table 0: the second lookup sees the new
    address, which the datapath key does not show."""
    ofproto, provider, ports = bridge()
    add(ofproto, Match().set("eth_dst", MAC_B), 40,
        of.SetField(BY_NAME["eth_dst"], MAC_C), of.Resubmit(table_id=0))
    send(provider, ports[1], FRAME_B, 1)          # second lookup: the catch-all
    assert tx(ports)[3] == 1
    add(ofproto, Match().set("eth_dst", MAC_C), 50, of.Output(4), now=2)
    provider.run(2)
    send(provider, ports[1], FRAME_B, 3)
    assert tx(ports)[4] == 1


def test_a_rule_added_to_a_table_a_cached_flow_never_looked_at_leaves_it_alone(monkeypatch):
    import pyvswitch.ofproto_dpif.upcall as upcall
    ofproto, provider, ports = bridge()
    send(provider, ports[1], FRAME_A, 1)          # table 0 only
    calls = []
    real = upcall.translate
    monkeypatch.setattr(upcall, "translate", lambda *a, **k: calls.append(1) or real(*a, **k))
    add(ofproto, Match(), 10, of.Output(4), table_id=5, now=2)
    provider.run(2)
    assert calls == [] and len(provider.upcalls.ukeys) == 1
    send(provider, ports[1], FRAME_A, 3)
    assert tx(ports)[2] == 2


def test_many_table_0_rules_at_once_retranslate_the_flows_that_looked_table_0_up(
        monkeypatch):
    """Past OVERLAP_TESTS_MAX new table-0 rules in one pass, each cached flow that looked
    table 0 up is translated again instead of tested rule by rule: the flows no rule
    applies to keep their actions, the one a new rule matches changes."""
    import pyvswitch.ofproto_dpif.upcall as upcall
    ofproto, provider, ports = bridge()
    send(provider, ports[1], FRAME_A, 1)
    send(provider, ports[1], FRAME_B, 1)
    calls = []
    real = upcall.translate
    monkeypatch.setattr(upcall, "translate", lambda *a, **k: calls.append(1) or real(*a, **k))
    n = upcall.OVERLAP_TESTS_MAX + 1
    for i in range(n):                              # none of them matches A or B
        add(ofproto, Match().set("eth_dst", MAC_C + 1 + i), 50, of.Output(4), now=2)
    add(ofproto, Match().set("eth_dst", MAC_B), 50, of.Output(4), now=2)
    provider.run(2)
    assert len(calls) == 2                          # both flows, once each
    send(provider, ports[1], FRAME_A, 3)
    send(provider, ports[1], FRAME_B, 3)
    assert tx(ports) == {1: 0, 2: 2, 3: 1, 4: 1}
