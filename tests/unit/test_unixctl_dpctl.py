"""dpctl/* text and argument handling (vswitchd/unixctl_dpctl.py): option and filter
parsing, Open vSwitch's layout of show and dump-flows, and del-flows crediting the
flushed flows' statistics, on a bridge over in-memory ports with a stepped clock."""

from types import SimpleNamespace

import ovs.unixctl
import ovs.util
import pytest

from pyvswitch.datapath.actions import Clone, Output, Recirc
from pyvswitch.datapath.dpif import DpFlow
from pyvswitch.netdev.base import open_netdev
from pyvswitch.ofproto.ofproto import Ofproto
from pyvswitch.ofproto_dpif.ofproto_dpif import OfprotoDpif
from pyvswitch.openflow import ofpacts as of
from pyvswitch.openflow.messages import FlowMod
from pyvswitch.packet.fields import N_SLOTS, Match, Slot
from pyvswitch.vswitchd import unixctl_dpctl as dpctl
from pyvswitch.vswitchd.unixctl_dpctl import (
    DpctlError, DpctlOptions, actions_text, datapath_views, dump_flows_text,
    filter_matches, flow_ufid, format_flow, human_size, parse_filter, parse_options,
    pick_datapath, show_text, split_dump_flows_args, tcp_flags_text)

FRAME_A = bytes.fromhex("020000000002" "020000000001" "0800") + bytes(46)
FRAME_B = bytes.fromhex("020000000003" "020000000001" "0800") + bytes(46)


# --- helpers -----------------------------------------------------------------------------

def dp_flow(in_port=3, src=0x020000000002, dst=0x020000000001, actions=(Output(2),),
            packets=1, nbytes=60, used=1000.0, tcp_flags=0, extra=()):
    """A cached flow like the ones OVS shows for an IPv4 frame forwarded by MAC."""
    key, mask = [0] * N_SLOTS, [0] * N_SLOTS
    for slot, value, m in ((Slot.IN_PORT, in_port, 0xFFFFFFFF),
                           (Slot.ETH_SRC, src, (1 << 48) - 1),
                           (Slot.ETH_DST, dst, (1 << 48) - 1),
                           (Slot.ETH_TYPE, 0x0800, 0xFFFF),
                           (Slot.NW_FRAG, 0, 3), (Slot.RECIRC_ID, 0, 0xFFFFFFFF),
                           *extra):
        key[slot], mask[slot] = value & m, m
    return DpFlow(tuple(key), tuple(mask), tuple(actions), packets, nbytes, used, tcp_flags)


def bridge(name="br0", dp_type="netdev", n_ports=2):
    """A bridge with dummy ports p1..pN (datapath ports 1..N) and two rules: frames to
    02:00:00:00:00:02 go to port 2, everything else to port 1... or 3 if it exists."""
    ofproto = Ofproto(name, 1)
    provider = OfprotoDpif(ofproto)
    ports = {}
    for i in range(1, n_ports + 1):
        ports[i] = open_netdev(f"p{i}", "dummy")
        ofproto.add_port(f"p{i}", ports[i], i)
    ofproto.flows.apply_flow_mod(FlowMod(
        match=Match().set("eth_dst", 0x020000000002),
        instructions=of.Instructions(apply=(of.Output(2),)), table_id=0, priority=10), 0)
    ofproto.flows.apply_flow_mod(FlowMod(
        match=Match(), instructions=of.Instructions(apply=(of.Output(n_ports),)),
        table_id=0, priority=0), 0)
    br = SimpleNamespace(name=name, cfg=SimpleNamespace(datapath_type=dp_type),
                         ofproto=ofproto, provider=provider, iface_cfgs={})
    return br, ports


def switch(*brs):
    return SimpleNamespace(bridges={br.name: br for br in brs})


def send(br, port, frame, n, now):
    for _ in range(n):
        port.inject(frame)
        br.provider.run(now)


def rule_packets(br):
    return sorted((r.priority, r.packet_count) for r in br.ofproto.flows.collect(0xFF, Match()))


class Conn:
    """What a unixctl connection is told."""

    def __init__(self):
        self.ok = self.error = None

    def reply(self, body):
        self.ok = body

    def reply_error(self, body):
        self.error = body


@pytest.fixture
def appctl():
    """``appctl(switch, "dpctl/show", "-s", now=150)`` runs the registered command as
    the daemon's unixctl server would, at time ``now``; returns the Conn."""
    saved = dict(ovs.unixctl.commands)

    def run(sw, name, *args, now=150):
        for key in [k for k in ovs.unixctl.commands if k.startswith("dpctl/")]:
            del ovs.unixctl.commands[key]
        dpctl.register(SimpleNamespace(bridges=sw), clock=lambda: now)
        command = ovs.unixctl.commands[name]
        assert command.min_args <= len(args) <= command.max_args
        conn = Conn()
        command.callback(conn, list(args), command.aux)
        return conn

    yield run
    ovs.unixctl.commands.clear()
    ovs.unixctl.commands.update(saved)


# --- options -----------------------------------------------------------------------------

def test_options_are_read_up_to_the_first_argument():
    opts, rest = parse_options(["-m", "-s", "netdev@ovs-netdev", "-m"])
    assert (opts.verbosity, opts.statistics, opts.names) == (1, True, True)
    assert rest == ["netdev@ovs-netdev", "-m"]


def test_short_options_combine_and_more_repeats():
    opts, rest = parse_options(["-mms", "--more"])
    assert (opts.verbosity, opts.statistics, rest) == (3, True, [])


def test_names_follow_verbosity_unless_set():
    assert parse_options([])[0].names is False
    assert parse_options(["--names"])[0].names is True
    assert parse_options(["-m", "--no-names"])[0].names is False


@pytest.mark.parametrize("arg, message", [("-x", "Unrecognized option -x"),
                                          ("-mx", "Unrecognized option -x"),
                                          ("--bogus", "Unrecognized option --bogus")])
def test_unknown_options_are_refused(arg, message):
    with pytest.raises(DpctlError, match=f"^{message}$"):
        parse_options([arg])


def test_filter_and_type_come_off_the_end_once_each():
    rest, flt, types = split_dump_flows_args(["netdev@ovs-netdev", "filter=in_port(1)",
                                              "type=ovs"])
    assert (rest, flt, types) == (["netdev@ovs-netdev"], "in_port(1)", "ovs")
    rest, flt, types = split_dump_flows_args(["filter=a", "filter=in_port(2)"])
    assert (rest, flt, types) == (["filter=a"], "in_port(2)", None)


def test_unknown_dump_type_is_refused():
    with pytest.raises(DpctlError, match=r"Failed to parse type \(bogus\)"):
        split_dump_flows_args(["type=ovs,bogus"])


# --- filters -----------------------------------------------------------------------------

def test_filter_in_datapath_key_syntax_selects_by_port_and_type():
    flt = parse_filter("in_port(3),eth_type(0x0800)", {3: "p2"})
    assert filter_matches(flt, dp_flow(in_port=3).key)
    assert not filter_matches(flt, dp_flow(in_port=2).key)


def test_filter_names_a_port():
    flt = parse_filter("in_port=p2", {2: "p1", 3: "p2"})
    assert filter_matches(flt, dp_flow(in_port=3).key)
    assert not filter_matches(flt, dp_flow(in_port=2).key)


def test_filter_protocol_keyword_with_fields_is_the_protocol():
    flt = parse_filter("ipv4(src=10.0.0.1)", {})
    assert filter_matches(flt, dp_flow().key)
    arp = dp_flow(extra=((Slot.ETH_TYPE, 0x0806, 0xFFFF),))
    assert not filter_matches(flt, arp.key)


def test_filter_on_a_field_the_flow_wildcards_does_not_match():
    """OVS compares with the flow's masked key: a wildcarded nw_src is 0 there."""
    flt = parse_filter("ip,nw_src=10.0.0.1", {})
    assert not filter_matches(flt, dp_flow().key)
    exact = dp_flow(extra=((Slot.NW_SRC, 0x0A000001, 0xFFFFFFFF),))
    assert filter_matches(flt, exact.key)


def test_filter_recirc_id():
    assert filter_matches(parse_filter("recirc_id(0)", {}), dp_flow().key)
    assert not filter_matches(parse_filter("recirc_id(0x2)", {}), dp_flow().key)


def test_bad_filter_is_reported():
    ovs.util.PROGRAM_NAME = "pyvswitchd"
    with pytest.raises(DpctlError, match=r"^pyvswitchd: Failed to parse filter \(bogus: "):
        parse_filter("bogus", {})


# --- flow text ---------------------------------------------------------------------------

def test_flow_line_is_open_vswitchs():
    # The same flow as Debian's ovs-vswitchd 3.1 printed it (dummy ports p1, p2).
    assert format_flow(dp_flow(), now=2030.0) == (
        "recirc_id(0),in_port(3),packet_type(ns=0,id=0),eth(src=02:00:00:00:00:02,"
        "dst=02:00:00:00:00:01),eth_type(0x0800),ipv4(frag=no), packets:1, bytes:60, "
        "used:1.030s, actions:2")


def test_flow_never_hit_is_used_never():
    f = dp_flow(packets=0, nbytes=0, used=0.0, actions=(Output(1), Output(3)))
    assert format_flow(f, now=5.0).endswith(", packets:0, bytes:0, used:never, actions:1,3")


def test_more_adds_ufid_names_and_dp_layer():
    f = dp_flow(actions=(Output(2), Clone((Output(1),)), Recirc(2)))
    opts, _ = parse_options(["-m"])
    text = format_flow(f, 1000.0, opts, {1: "br0", 2: "p1", 3: "p2"})
    assert text.startswith(f"ufid:{flow_ufid(f.key, f.mask)}, recirc_id(0),in_port(p2),")
    assert text.endswith(", used:0.000s, dp:ovs, actions:p1,clone(br0),recirc(0x2)")


def test_ufid_is_stable_and_distinct_per_flow():
    a, b = dp_flow(in_port=2), dp_flow(in_port=3)
    assert flow_ufid(a.key, a.mask) == flow_ufid(dp_flow(in_port=2).key, a.mask)
    assert flow_ufid(a.key, a.mask) != flow_ufid(b.key, b.mask)
    assert len(flow_ufid(a.key, a.mask).split("-")) == 5


def test_tcp_flags_in_tcpdump_letters():
    assert tcp_flags_text(0x12) == "S."
    assert tcp_flags_text(0x19) == "FP."
    assert tcp_flags_text(0) == "none"
    f = dp_flow(tcp_flags=0x02)
    assert ", used:1.000s, flags:S, actions:2" in format_flow(f, 2000.0)


def test_actions_by_number_or_name():
    acts = (Output(1), Output(4))
    assert actions_text(acts) == "1,4"
    assert actions_text(acts, {1: "br0"}) == "br0,4"
    assert actions_text(()) == "drop"


def test_human_sizes():
    assert human_size(1023) == ""
    assert human_size(1536) == " (1.5 KiB)"
    assert human_size(3 << 20) == " (3.0 MiB)"
    assert human_size(None) == ""


# --- datapaths, show -----------------------------------------------------------------------

def test_one_datapath_per_type():
    a, _ = bridge("br0")
    b, _ = bridge("br1")
    c, _ = bridge("br2", dp_type="dummy")
    assert list(datapath_views(switch(a, b, c))) == ["netdev@ovs-netdev",
                                                      "dummy@ovs-dummy"]


def test_datapath_argument_is_optional_with_one_datapath():
    a, _ = bridge("br0")
    views = datapath_views(switch(a))
    assert pick_datapath(views, [], 2)[0].name == "netdev@ovs-netdev"
    assert pick_datapath(views, ["netdev@ovs-netdev"], 2)[1] == []
    assert pick_datapath(views, ["ovs-netdev", "x"], 3)[1] == ["x"]
    with pytest.raises(DpctlError, match=r"datapath not found \(Invalid argument\)"):
        pick_datapath(views, ["nosuch"], 2)


def test_several_datapaths_need_a_name():
    a, _ = bridge("br0")
    c, _ = bridge("br2", dp_type="dummy")
    with pytest.raises(DpctlError, match="multiple datapaths, specify one"):
        pick_datapath(datapath_views(switch(a, c)), [], 2)
    with pytest.raises(DpctlError, match="no datapaths exist"):
        pick_datapath({}, [], 2)


def test_show_lists_lookups_flows_and_ports():
    br, ports = bridge(n_ports=3)
    send(br, ports[1], FRAME_A, 3, 100)       # one miss, then two hits
    view = datapath_views(switch(br))["netdev@ovs-netdev"]
    assert show_text(view) == (
        "netdev@ovs-netdev:\n"
        "  lookups: hit:2 missed:1 lost:0\n"
        "  flows: 1\n"
        "  port 1: p1 (dummy)\n"
        "  port 2: p2 (dummy)\n"
        "  port 3: p3 (dummy)\n")


def test_show_with_statistics_gives_each_ports_counters():
    br, ports = bridge()
    send(br, ports[1], FRAME_A, 3, 100)
    text = show_text(datapath_views(switch(br))["netdev@ovs-netdev"], statistics=True)
    lines = text.splitlines()
    at = lines.index("  port 1: p1 (dummy)")
    assert lines[at + 1] == "    RX packets:3 errors:0 dropped:0 overruns:0 frame:0"
    assert lines[at + 2].startswith("    TX packets:0 errors:0 dropped:0 aborted:")
    assert lines[at + 3] == "    collisions:0"
    assert lines[at + 4] == "    RX bytes:180  TX bytes:0"
    at = lines.index("  port 2: p2 (dummy)")
    assert lines[at + 4] == "    RX bytes:0  TX bytes:180"


def test_system_ports_show_no_type():
    br, ports = bridge()
    ports[1].type = "system"          # as a Linux device reports itself
    text = show_text(datapath_views(switch(br))["netdev@ovs-netdev"])
    assert "  port 1: p1\n" in text and "  port 2: p2 (dummy)\n" in text


def test_internal_ports_are_taps_and_options_follow_the_type():
    br, ports = bridge()
    ports[1].type = "internal"
    br.iface_cfgs["p2"] = SimpleNamespace(options={"peer": "q2", "a": "1"})
    text = show_text(datapath_views(switch(br))["netdev@ovs-netdev"])
    assert "  port 1: p1 (tap)\n" in text
    assert "  port 2: p2 (dummy: a=1, peer=q2)\n" in text


# --- dump-flows, del-flows -----------------------------------------------------------------

def test_dump_flows_heading_and_counts():
    br, ports = bridge(n_ports=3)
    send(br, ports[1], FRAME_A, 4, 100)
    send(br, ports[1], FRAME_B, 1, 100)
    view = datapath_views(switch(br))["netdev@ovs-netdev"]
    text = dump_flows_text(view, DpctlOptions(), None, None, 150)
    lines = text.splitlines()
    assert lines[0] == "flow-dump from the main thread:"
    assert len(lines) == 3
    to_a = [line for line in lines if "dst=02:00:00:00:00:02" in line]
    assert len(to_a) == 1 and ", packets:3, bytes:180, used:0.050s, actions:2" in to_a[0]
    assert "in_port(1)" in to_a[0]


def test_dump_flows_filter_and_type_select():
    br, ports = bridge(n_ports=3)
    send(br, ports[1], FRAME_A, 2, 100)
    send(br, ports[2], FRAME_B, 2, 100)
    view = datapath_views(switch(br))["netdev@ovs-netdev"]
    flt = parse_filter("in_port(p2)", view.port_names())
    text = dump_flows_text(view, DpctlOptions(), flt, None, 100)
    assert len(text.splitlines()) == 2 and "in_port(2)" in text
    assert dump_flows_text(view, DpctlOptions(), None, "tc", 100) == ""
    assert len(dump_flows_text(view, DpctlOptions(), None, "ovs", 100).splitlines()) == 3


def test_dump_flows_of_an_empty_datapath_prints_nothing():
    br, _ = bridge()
    view = datapath_views(switch(br))["netdev@ovs-netdev"]
    assert dump_flows_text(view, DpctlOptions(), None, None, 0) == ""


def test_del_flows_empties_the_cache_and_credits_the_rules(appctl):
    br, ports = bridge(n_ports=3)
    send(br, ports[1], FRAME_A, 5, 100)      # 1 upcall + 4 cached hits
    send(br, ports[1], FRAME_B, 2, 100)      # 1 upcall + 1 cached hit
    assert rule_packets(br) == [(0, 1), (10, 1)]       # hits not pushed yet
    conn = appctl(switch(br), "dpctl/del-flows")
    assert (conn.ok, conn.error) == ("", None)
    assert br.provider.dpif.flow_dump() == [] and br.provider.upcalls.ukeys == {}
    assert rule_packets(br) == [(0, 2), (10, 5)]
    assert appctl(switch(br), "dpctl/dump-flows").ok == ""
    send(br, ports[1], FRAME_A, 1, 200)      # a new miss installs the flow again
    assert len(br.provider.dpif.flow_dump()) == 1


def test_del_flow_by_ufid_credits_that_flow_only(appctl):
    br, ports = bridge(n_ports=3)
    send(br, ports[1], FRAME_A, 3, 100)
    send(br, ports[1], FRAME_B, 3, 100)
    flows = br.provider.dpif.flow_dump()
    a = next(f for f in flows if f.key[Slot.ETH_DST] == 0x020000000002)
    conn = appctl(switch(br), "dpctl/del-flow", "-s", f"ufid:{flow_ufid(a.key, a.mask)}")
    assert conn.error is None and conn.ok.startswith("packets:2, bytes:120, used:")
    assert len(br.provider.dpif.flow_dump()) == 1
    assert (a.key, a.mask) not in br.provider.upcalls.ukeys
    assert rule_packets(br) == [(0, 3), (10, 3)]


def test_get_flow_by_ufid(appctl):
    br, ports = bridge(n_ports=3)
    send(br, ports[1], FRAME_A, 2, 100)
    f = br.provider.dpif.flow_dump()[0]
    ufid = flow_ufid(f.key, f.mask)
    conn = appctl(switch(br), "dpctl/get-flow", f"ufid:{ufid}")
    assert conn.ok.startswith("recirc_id(0),in_port(1),") and "packets:1" in conn.ok
    conn = appctl(switch(br), "dpctl/get-flow", "ufid:" + "0" * 8 + "-0000-0000-0000-"
                  + "0" * 12)
    assert conn.ok is None and "getting flow" in conn.error


def test_commands_through_unixctl(appctl):
    br, ports = bridge()
    sw = switch(br)
    assert appctl(sw, "dpctl/dump-dps").ok == "netdev@ovs-netdev\n"
    assert appctl(sw, "dpctl/show", "-s").ok.count("RX packets:") == 2
    conn = appctl(sw, "dpctl/show", "nosuch")
    assert conn.ok is None and "opening datapath nosuch failed" in conn.error
    conn = appctl(sw, "dpctl/dump-flows", "-x")
    assert conn.error == "Unrecognized option -x\n"
    conn = appctl(sw, "dpctl/dump-flows", "filter=bogus")
    assert "Failed to parse filter" in conn.error
    assert appctl(sw, "dpctl/del-flows", "nosuch").error.endswith(
        "datapath not found (Invalid argument)\n")


def test_del_flow_by_the_key_as_dump_flows_prints_it(appctl):
    br, ports = bridge(n_ports=3)
    send(br, ports[1], FRAME_A, 2, 100)
    send(br, ports[1], FRAME_B, 2, 100)
    line = next(line for line in appctl(switch(br), "dpctl/dump-flows", "-m").ok.splitlines()
                if "dst=02:00:00:00:00:03" in line)
    key = line.split(", ")[1]                 # after the ufid
    assert key.startswith("recirc_id(0),in_port(p1),")
    assert appctl(switch(br), "dpctl/del-flow", key).error is None
    left = br.provider.dpif.flow_dump()
    assert len(left) == 1 and left[0].key[Slot.ETH_DST] == 0x020000000002
    conn = appctl(switch(br), "dpctl/del-flow", key)
    assert "deleting flow" in conn.error and "Perhaps you need to specify a UFID?" in conn.error


def test_bridges_of_one_type_share_the_datapath_view():
    a, _ = bridge("br0")
    b, _ = bridge("br1")
    view = datapath_views(switch(a, b))["netdev@ovs-netdev"]
    assert [(p.number, p.name) for p in view.ports()] == [(1, "p1"), (1, "p1"),
                                                         (2, "p2"), (2, "p2")]
    assert show_text(view).count("  port 1: p1 (dummy)\n") == 2


def test_a_packet_for_the_controller_reads_as_open_vswitchs_userspace_action():
    from pyvswitch.datapath.actions import Userspace, format_actions
    from pyvswitch.ofproto_dpif.xlate import PacketInCookie
    pin = PacketInCookie(reason=1, table_id=0, cookie=0x12, max_len=65535,
                         controller_id=0, pipeline=(), in_port=1)
    assert format_actions([Userspace(pin)]) == (
        "userspace(pid=0,controller(reason=1,dont_send=0,continuation=0,recirc_id=0,"
        "rule_cookie=0x12,controller_id=0,max_len=65535))")
