"""Translation and the provider, with dummy ports and a real userspace datapath.

The OpenFlow tables here are a minimal stand-in (one real classifier per table) so these
tests exercise translation alone; the real FlowTables are tested in test_flow_tables*.
"""

from collections import defaultdict

from pyvswitch.classifier.classifier import Classifier
from pyvswitch.datapath import actions as dp
from pyvswitch.netdev.base import open_netdev
from pyvswitch.ofproto.ofproto import Ofproto
from pyvswitch.ofproto_dpif.ofproto_dpif import OfprotoDpif
from pyvswitch.ofproto_dpif.xlate import PIN_EXPLICIT_MISS, PacketInCookie, translate
from pyvswitch.openflow import ofpacts as of
from pyvswitch.packet import fields as F
from pyvswitch.packet.addr import mac_to_int
from pyvswitch.packet.compose import compose
from pyvswitch.packet.extract import extract
from pyvswitch.packet.fields import Match, Slot

H1, H2, H3 = (mac_to_int(f"00:00:00:00:00:0{i}") for i in (1, 2, 3))
BCAST = mac_to_int("ff:ff:ff:ff:ff:ff")


class Rule:
    def __init__(self, table_id, match, priority, instructions, cookie=0):
        self.table_id, self.match, self.priority = table_id, match, priority
        self.instructions, self.cookie = instructions, cookie
        self.packet_count = self.byte_count = 0
        self.used_ms = 0

    def add_stats(self, packets, nbytes, used):
        self.packet_count += packets
        self.byte_count += nbytes
        self.used_ms = used


class StandInFlows:
    def __init__(self):
        self.tables = defaultdict(Classifier)

    def add(self, table_id, match, priority, instructions, cookie=0):
        rule = Rule(table_id, match, priority, instructions, cookie)
        self.tables[table_id].insert(rule, 1)
        return rule

    def lookup(self, table_id, flow, wc=None, count=True):
        return self.tables[table_id].lookup(flow, 1, wc)


def make_bridge(n_ports=3):
    ofproto = Ofproto("br0", 1)
    ofproto.flows = StandInFlows()
    provider = OfprotoDpif(ofproto)
    ports = {}
    for i in range(1, n_ports + 1):
        nd = open_netdev(f"p{i}", "dummy")
        ofproto.add_port(f"p{i}", nd, i)
        ports[i] = nd
    return ofproto, provider, ports


def ip_flow(in_port, src=H1, dst=H2, **kw):
    flow = list(F.ZERO_FLOW)
    flow[Slot.IN_PORT] = in_port
    flow[Slot.ETH_SRC], flow[Slot.ETH_DST] = src, dst
    flow[Slot.ETH_TYPE] = F.ETH_TYPE_IP
    flow[Slot.NW_SRC], flow[Slot.NW_DST] = 0x0A000001, 0x0A000002
    flow[Slot.NW_PROTO] = 17
    flow[Slot.NW_TTL] = 64
    flow[Slot.TP_SRC], flow[Slot.TP_DST] = 1000, 2000
    for k, v in kw.items():
        flow[Slot[k.upper()]] = v
    return tuple(flow)


def apply(*actions):
    return of.Instructions(apply=tuple(actions))


def test_output_and_megaflow_mask_covers_only_what_was_consulted():
    ofproto, provider, _ = make_bridge()
    ofproto.flows.add(0, Match().set("in_port", 1), 100, apply(of.Output(2)))
    out = translate(provider, ip_flow(1))
    assert out.actions == [dp.Output(provider.ofp_to_odp[2])]
    assert out.wc[Slot.IN_PORT] == 0xFFFFFFFF
    assert out.wc[Slot.NW_SRC] == 0 and out.wc[Slot.TP_DST] == 0


def test_set_field_then_output_edits_in_order_and_checks_prereqs():
    ofproto, provider, _ = make_bridge()
    ofproto.flows.add(0, Match(), 1, apply(
        of.SetField(F.BY_NAME["ip_dst"], 0x0A0000FE), of.Output(2),
        of.SetField(F.BY_NAME["icmp_type"], 8)))       # not ICMP: skipped
    out = translate(provider, ip_flow(1))
    assert dp.format_actions(out.actions) == \
        f"set(ipv4(dst=10.0.0.254)),{provider.ofp_to_odp[2]}"
    assert out.wc[Slot.NW_PROTO] == 0xFF        # the tcp_dst prerequisite was consulted


def _mac(v: int) -> str:
    return v.to_bytes(6, "big").hex(":")


def test_goto_table_metadata_and_action_set_order():
    ofproto, provider, _ = make_bridge()
    ofproto.flows.add(0, Match(), 1, of.Instructions(
        write=(of.Output(3), of.SetField(F.BY_NAME["eth_dst"], H3)),
        write_metadata=(0xAB, 0xFF), goto_table=1))
    ofproto.flows.add(1, Match().set("metadata", 0xAB), 5,
                      of.Instructions(apply=(of.Output(2),)))
    out = translate(provider, ip_flow(1))
    # apply-actions of table 1 first, then the action set: set_field before output.
    o2, o3 = provider.ofp_to_odp[2], provider.ofp_to_odp[3]
    assert dp.format_actions(out.actions) == \
        f"{o2},set(eth(dst={_mac(H3)})),{o3}"
    assert out.wc[Slot.METADATA] == 0           # pipeline fields never reach the datapath


def test_table_miss_drops_for_openflow13_and_table_miss_flow_sends_explicit_miss():
    ofproto, provider, _ = make_bridge()
    assert translate(provider, ip_flow(1)).actions == []
    ofproto.flows.add(0, Match(), 0, apply(of.Output(of.OFPP_CONTROLLER, 0xFFFF)),
                      cookie=0x77)
    (act,) = translate(provider, ip_flow(1)).actions
    assert isinstance(act, dp.Userspace) and isinstance(act.cookie, PacketInCookie)
    assert act.cookie.reason == PIN_EXPLICIT_MISS and act.cookie.cookie == 0x77
    assert act.cookie.in_port == 1


def test_dec_ttl_at_one_goes_to_controller_not_out():
    ofproto, provider, _ = make_bridge()
    ofproto.flows.add(0, Match(), 1, apply(of.DecNwTtl(), of.Output(2)))
    out = translate(provider, ip_flow(1, nw_ttl=1))
    assert [type(a) for a in out.actions] == [dp.Userspace]
    out = translate(provider, ip_flow(1, nw_ttl=9))
    assert dp.format_actions(out.actions) == \
        f"set(ipv4(ttl=8)),{provider.ofp_to_odp[2]}"


def test_resubmit_and_push_vlan():
    ofproto, provider, _ = make_bridge()
    ofproto.flows.add(0, Match(), 1, apply(of.Resubmit(of.OFPP_IN_PORT, 2)))
    ofproto.flows.add(2, Match(), 1, apply(of.PushVlan(0x8100),
                                           of.SetField(F.BY_NAME["vlan_vid"], 0x1000 | 7),
                                           of.Output(3)))
    out = translate(provider, ip_flow(1))
    # One push with the whole tag, as Open vSwitch commits it.
    assert out.actions == [dp.PushVlan(0x8100, 7), dp.Output(provider.ofp_to_odp[3])]
    assert dp.format_actions(out.actions) == f"push_vlan(vid=7,pcp=0),{provider.ofp_to_odp[3]}"


def test_normal_floods_then_learns():
    ofproto, provider, ports = make_bridge()
    ofproto.flows.add(0, Match(), 0, apply(of.Output(of.OFPP_NORMAL)))
    out = translate(provider, ip_flow(1, src=H1, dst=H2))
    outs = {a.port for a in out.actions if isinstance(a, dp.Output)}
    assert outs == {provider.ofp_to_odp[n] for n in (2, 3)}
    translate(provider, ip_flow(2, src=H2, dst=H1))      # H2 learned on port 2
    out = translate(provider, ip_flow(1, src=H1, dst=H2))
    assert out.actions == [dp.Output(provider.ofp_to_odp[2])]
    assert out.wc[Slot.ETH_SRC] and out.wc[Slot.ETH_DST]


def test_access_ports_keep_vlans_apart():
    ofproto, provider, _ = make_bridge(4)
    for port, tag in ((1, 10), (2, 10), (3, 20), (4, 20)):
        provider.set_port_vlan(port, "access", tag, ())
    ofproto.flows.add(0, Match(), 0, apply(of.Output(of.OFPP_NORMAL)))
    out = translate(provider, ip_flow(1, dst=BCAST))
    outs = {a.port for a in out.actions if isinstance(a, dp.Output)}
    assert outs == {provider.ofp_to_odp[2]}


def test_datapath_forwards_caches_and_revalidates():
    ofproto, provider, ports = make_bridge()
    rule = ofproto.flows.add(0, Match().set("in_port", 1), 10, apply(of.Output(2)))
    frame = compose(ip_flow(1), payload_len=20)
    ports[1].inject(frame)
    provider.run(1000)
    assert len(ports[2].captured) == 1
    for _ in range(5):
        ports[1].inject(frame)
    provider.run(1100)
    assert len(ports[2].captured) == 6
    stats = provider.dpif.stats()
    assert stats.n_missed == 1                   # only the first packet was translated
    provider.flush_stats(1200)
    assert rule.packet_count == 6                # cache hits reached the rule
    # A change of tables: the cached flow is re-translated before the next packet.
    ofproto.flows.tables[0].remove(rule, 2)
    ofproto.flows.tables[0] = Classifier()
    ofproto.flows.add(0, Match().set("in_port", 1), 10, apply(of.Output(3)))
    provider.tables_changed()
    ports[1].inject(frame)
    provider.run(1300)
    assert len(ports[2].captured) == 6 and len(ports[3].captured) == 1


def test_packet_in_reaches_no_one_without_sessions_but_is_translated():
    ofproto, provider, ports = make_bridge()
    ofproto.flows.add(0, Match(), 0, apply(of.Output(of.OFPP_CONTROLLER, 0xFFFF)))
    ports[1].inject(compose(ip_flow(1)))
    provider.run(0)
    provider.run(1)                              # the ACTION upcall comes back
    assert provider.n_packet_ins == 0            # no controller connected


def test_packet_out_executes_actions():
    ofproto, provider, ports = make_bridge()
    frame = compose(ip_flow(1))
    provider.packet_out(of.OFPP_CONTROLLER, (of.SetField(F.BY_NAME["eth_dst"], H3),
                                             of.Output(2)), frame, 0)
    (sent,) = ports[2].captured
    assert extract(sent, 0)[Slot.ETH_DST] == H3


def test_of10_set_tp_src_rewrites_udp_ports_too():
    ofproto, provider, _ = make_bridge()
    ofproto.flows.add(0, Match(), 1, apply(of.SetField(F.BY_NAME["tcp_src"], 4242),
                                           of.Output(2)))
    out = translate(provider, ip_flow(1))            # a UDP flow
    assert dp.format_actions(out.actions).startswith("set(udp(src=4242)),")


def test_push_mpls_takes_tc_from_the_dscp_and_ttl_from_ip():
    ofproto, provider, _ = make_bridge()
    ofproto.flows.add(0, Match(), 1, apply(of.PushMpls(0x8847), of.Output(2)))
    out = translate(provider, ip_flow(1, nw_tos=32, nw_ttl=17))  # DSCP 8
    (push, _) = out.actions
    assert push.lse == (0 << 12) | (0 << 9) | 0x100 | 17


def test_resubmit_to_another_port_looks_up_with_it_but_acts_with_the_packets_own():
    """resubmit(2,1): table 1 is looked up as if the packet came in on port 2; its actions
    see the real in_port (output:IN_PORT sends back where the packet came from, and an
    output to port 2 is not skipped as the input port), as in Open vSwitch."""
    ofproto, provider, _ = make_bridge()
    ofproto.flows.add(0, Match().set("in_port", 1), 10, apply(of.Resubmit(2, 1)))
    ofproto.flows.add(1, Match().set("in_port", 2), 10,
                      apply(of.Output(of.OFPP_IN_PORT), of.Output(2)))
    out = translate(provider, ip_flow(1))
    assert out.actions == [dp.Output(provider.ofp_to_odp[1]), dp.Output(provider.ofp_to_odp[2])]
    assert out.wc[Slot.IN_PORT] == 0xFFFFFFFF


def test_exit_ends_every_level_and_the_action_set_but_only_its_own_bucket():
    from pyvswitch.openflow import messages_gm as gm
    from pyvswitch.openflow.messages_gm import Bucket, GroupMod
    ofproto, provider, _ = make_bridge(n_ports=4)
    odp = provider.ofp_to_odp
    ofproto.flows.add(0, Match(), 1, of.Instructions(write=(of.Output(4),), goto_table=1))
    ofproto.flows.add(1, Match(), 1, apply(of.Resubmit(of.OFPP_IN_PORT, 2), of.Output(2)))
    ofproto.flows.add(2, Match(), 1, apply(of.Output(3), of.Exit()))
    assert translate(provider, ip_flow(1)).actions == [dp.Output(odp[3])]
    ofproto.flows.add(0, Match().set("in_port", 1), 9, apply(
        of.Clone((of.Output(3), of.Exit())), of.Output(2)))
    assert translate(provider, ip_flow(1)).actions == [dp.Output(odp[3])]
    ofproto.groups.apply(GroupMod(gm.OFPGC_ADD, gm.OFPGT_ALL, 1, (
        Bucket((of.Resubmit(of.OFPP_IN_PORT, 2),)), Bucket((of.Output(4),)))), now=0)
    ofproto.flows.add(0, Match().set("in_port", 1), 10, apply(of.GroupAction(1),
                                                               of.Output(2)))
    assert translate(provider, ip_flow(1)).actions == [
        dp.Output(odp[3]), dp.Output(odp[4]), dp.Output(odp[2])]
