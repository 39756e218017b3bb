"""Differential test: one script of ovs-vsctl / ovs-ofctl / ovs-appctl commands, run once
against Open vSwitch's own ovs-vswitchd (Debian's, userspace datapath) and once against
pyvswitchd, each with a private ovsdb-server, run directory and network namespace; the
outputs of the commands both support must agree once normalised.

Normalisation removes only what differs between any two runs of the same daemon: flow
durations and idle ages, MAC ages, port MAC addresses and datapath ids (random per
bridge), and the order of lines where OVS gives no order (flow dumps, fdb).  Both flood
NORMAL in the order the ports joined the bridge (checked before any port moves); after
a port is renumbered the datapath actions of a flood are compared as a set, since the
two re-add the moved ports in different orders.
"""

from __future__ import annotations

import re
import shlex
import struct
import time

import pytest

from harness import wait_for
from ovsdb_harness import OvsdbServer, OvsdbSwitch, ReferenceVswitchd
from topology import Hosts


def _frame(dst: str, src: str) -> str:
    """An Ethernet + IPv4 frame from ``src`` to ``dst`` (hex, as netdev-dummy/receive
    takes it)."""
    mac = lambda m: bytes.fromhex(m.replace(":", ""))          # noqa: E731
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20, 1, 0, 64, 253, 0,
                     bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
    return (mac(dst) + mac(src) + b"\x08\x00" + ip).ljust(60, b"\0").hex()


MAC1, MAC2, MAC3 = "02:00:00:00:00:01", "02:00:00:00:00:02", "02:00:00:00:00:03"
BCAST = "ff:ff:ff:ff:ff:ff"


# --- normalisers: command output -> what is compared --------------------------------
def raw(out: str) -> str:
    return out.strip()


def port_list(out: str) -> list[str]:
    """``ovs-ofctl show``: the ports, as "number(name)"."""
    return sorted(re.findall(r"^ (\w+\([^)]*\)):", out, re.M))


def flows(out: str) -> list[str]:
    """``ovs-ofctl dump-flows``: each flow without its duration and ages."""
    lines = []
    for line in out.splitlines()[1:]:
        line = re.sub(r"(duration|idle_age|hard_age)=[^,]*, ", "", line.strip())
        lines.append(line)
    return sorted(lines)


def datapath_actions(out: str) -> str:
    """``ofproto/trace``: the final "Datapath actions:" line, a flood as a set."""
    last = [line for line in out.splitlines() if line.startswith("Datapath actions:")][-1]
    actions = last.split(":", 1)[1].strip()
    if re.fullmatch(r"\d+(,\d+)+", actions):
        actions = ",".join(sorted(actions.split(","), key=int))
    return actions


def datapath_actions_in_order(out: str) -> str:
    """``ofproto/trace``: the final "Datapath actions:" line as it is (a NORMAL flood in
    the order the ports joined the bridge)."""
    return [line for line in out.splitlines() if line.startswith("Datapath actions:")][-1]


def trace_megaflow(out: str) -> list[str]:
    """``ofproto/trace``: the "Megaflow:" and "Datapath actions:" lines."""
    return [line for line in out.splitlines()
            if line.startswith(("Megaflow:", "Datapath actions:"))]


def trace_tables(out: str) -> list[str]:
    """``ofproto/trace``: the table-by-table walk (each "N. match, priority P" line, in
    order) and the final datapath actions."""
    walk = [line.strip() for line in out.splitlines() if re.match(r"\s*\d+\. ", line)]
    return walk + [datapath_actions(out)]


def trace_body(out: str) -> list[str]:
    """``ofproto/trace``: the whole output, line for line (flow, bridge, each table with
    its actions and what they did, final flow, megaflow, datapath actions).  Only the
    recirculation ids are normalised: the datapath hands them out (Open vSwitch parks
    each packet-in under one, for continuations; pyvswitchd prints 0)."""
    out = re.sub(r"recirc\(0x[0-9a-f]+\)", "recirc(ID)", out)
    out = re.sub(r"continuation=0,recirc_id=\d+,", "continuation=0,recirc_id=ID,", out)
    return out.rstrip("\n").split("\n")


def trace_body_but_megaflow(out: str) -> list[str]:
    """``trace_body`` without the "Megaflow:" line, for the traces whose megaflow is
    known to differ: after a packet-in Open vSwitch also matches nw_proto; after a
    recirculation it shows the thawed flow as "ip" where pyvswitchd, which matches
    nw_proto there, shows "tcp"."""
    return [line for line in trace_body(out) if not line.startswith("Megaflow:")]


def fdb(out: str) -> list[str]:
    """``fdb/show``: port, VLAN and MAC of each entry (the age moves)."""
    return sorted(" ".join(line.split()[:3]) for line in out.splitlines()[1:])


def dpif_ports(out: str) -> list[str]:
    """``dpif/show``: the datapath, bridges and ports with their numbers and types
    (hit/miss counters aside)."""
    return [re.sub(r": hit:\d+ missed:\d+", "", line) for line in out.splitlines()]


def in_band_rules(out: str) -> list[str]:
    """``bridge/dump-flows``: the in-band hidden rules (priorities 180000-180008), match
    and actions, MAC addresses (random per bridge) masked."""
    rules = []
    for line in out.splitlines():
        m = re.search(r"priority=(18000\d.*)", line)
        if m:
            rules.append(re.sub(r"([0-9a-f]{2}:){5}[0-9a-f]{2}", "MAC", m.group(1)))
    return sorted(rules)


def _masked_ip(m: re.Match) -> str:
    value, mask = (int.from_bytes(bytes(map(int, g.split("."))), "big") for g in m.groups())
    return ".".join(str(b) for b in (value & mask).to_bytes(4, "big")) + "/" + m.group(2)


def dp_flows(out: str) -> list[str]:
    """``dpif/dump-flows``: each datapath flow (key, counters, actions), in a fixed order
    (OVS dumps in hash order).  A partly masked address is compared under its mask: OVS
    prints the bits of the first packet's key beyond the mask, pyvswitchd keeps keys
    masked (a megaflow is smaller so)."""
    lines = []
    for line in out.splitlines():
        line = re.sub(r"used:[^,]*", "used:X", line)
        lines.append(re.sub(r"(\d+\.\d+\.\d+\.\d+)/(\d+\.\d+\.\d+\.\d+)",
                            _masked_ip, line))
    return sorted(lines)


def exit_status(out: str) -> str:
    return ""


# --- the script ---------------------------------------------------------------------
# (tool, arguments, normaliser); "vsctl" commands wait for the switch (no --no-wait).
# ("receive", port, frame) injects a frame and waits for it to be handled.
SCRIPT = [
    ("vsctl", "add-br br0 -- set Bridge br0 datapath_type=netdev", raw),
    ("vsctl", "add-port br0 p1 -- set Interface p1 type=dummy ofport_request=5", raw),
    ("vsctl", "add-port br0 p2 -- set Interface p2 type=dummy", raw),
    ("vsctl", "add-port br0 p3 -- set Interface p3 type=dummy", raw),
    ("vsctl", "get Interface p1 ofport", raw),
    ("vsctl", "get Interface p2 ofport", raw),
    ("vsctl", "get Interface p3 ofport", raw),
    ("vsctl", "get Interface br0 ofport", raw),
    ("ofctl", "show br0", port_list),
    # NORMAL floods in the order the ports were added (the bridge's own port first).
    ("appctl", "ofproto/trace br0 in_port=5,dl_dst=02:00:00:00:00:09",
     datapath_actions_in_order),
    ("appctl", "ofproto/trace br0 in_port=LOCAL,dl_dst=02:00:00:00:00:09",
     datapath_actions_in_order),
    # A requested number held by another port: that port moves.
    ("vsctl", "set Interface p3 ofport_request=1", raw),
    ("vsctl", "get Interface p3 ofport", raw),
    ("vsctl", "get Interface p2 ofport", raw),
    ("ofctl", "show br0", port_list),
    ("appctl", "dpif/show", dpif_ports),
    # A device that does not exist: reported in Interface.error, the rest applies.
    ("vsctl", "add-port br0 pvsnosuch0", raw),
    ("vsctl", "get Interface pvsnosuch0 ofport", raw),
    ("vsctl", "get Interface pvsnosuch0 error", raw),
    ("vsctl", "del-port br0 pvsnosuch0", raw),
    ("ofctl", "dump-flows br0", flows),
    ("ofctl", "add-flow br0 priority=100,in_port=5,dl_dst=02:00:00:00:00:02,actions=output:1",
     raw),
    ("ofctl", "add-flow br0 priority=50,ip,nw_dst=10.9.0.0/16,actions=drop", raw),
    ("ofctl", "add-flow br0 table=1,priority=1,tcp,tp_dst=80,actions=mod_nw_tos:4,resubmit(,2)",
     raw),
    ("ofctl", "dump-flows br0", flows),
    ("appctl", "ofproto/trace br0 in_port=5,dl_dst=02:00:00:00:00:02", datapath_actions),
    ("appctl", "ofproto/trace br0 in_port=5,ip,nw_dst=10.9.1.1", datapath_actions),
    ("appctl", "ofproto/trace br0 in_port=1,dl_dst=02:00:00:00:00:09", datapath_actions),
    # A pipeline over three tables, explained table by table.
    ("ofctl", "add-flow br0 table=0,priority=200,udp,actions=resubmit(,3)", raw),
    ("ofctl", "add-flow br0 table=3,priority=7,udp,tp_dst=53,actions=goto_table:4",
     raw),
    ("ofctl", "add-flow br0 table=4,priority=1,actions=output:1", raw),
    ("appctl", "ofproto/trace br0 in_port=5,udp,nw_dst=10.1.1.1,udp_dst=53", trace_tables),
    ("appctl", "ofproto/trace br0 in_port=5,udp,nw_dst=10.1.1.1,udp_dst=54", trace_tables),
    ("ofctl", "del-flows br0 udp", raw),
    ("ofctl", "del-flows br0 table=4", raw),
    ("ofctl", "del-flows br0 ip", raw),
    ("ofctl", "--strict del-flows br0 priority=100,in_port=5,dl_dst=02:00:00:00:00:02", raw),
    ("ofctl", "dump-flows br0", flows),
    # Traffic through NORMAL: MAC learning.
    ("receive", "p1", _frame(BCAST, MAC1)),
    ("receive", "p3", _frame(MAC1, MAC3)),
    ("appctl", "fdb/show br0", fdb),
    ("appctl", "ofproto/trace br0 in_port=1,dl_dst=02:00:00:00:00:01", datapath_actions),
    ("appctl", "ofproto/trace br0 in_port=5,dl_dst=02:00:00:00:00:03", datapath_actions),
    ("appctl", "fdb/flush br0", raw),
    ("appctl", "fdb/show br0", fdb),
    ("vsctl", "set-fail-mode br0 secure", raw),
    ("ofctl", "dump-flows br0", flows),
    ("vsctl", "del-fail-mode br0", raw),
    ("ofctl", "dump-flows br0", flows),
    # In-band control: the hidden rules for a controller (unreachable, no next hop).
    ("vsctl", "set-controller br0 tcp:192.0.2.1:6653", raw),
    ("appctl-until", "bridge/dump-flows br0", in_band_rules),
    ("vsctl", "set Bridge br0 other_config:disable-in-band=true", raw),
    ("sleep", "0.5", None),
    ("appctl", "bridge/dump-flows br0", in_band_rules),
    ("vsctl", "del-controller br0", raw),
    ("vsctl", "del-port br0 p2", raw),
    ("ofctl", "show br0", port_list),
    ("vsctl", "del-br br0", raw),
    ("ofctl", "show br0", exit_status),
]


# Started with other_config:flow-restore-wait=true, as a restart script does: the
# restored flows are in place before traffic is handled or a controller connects.
RESTORE_SETUP = [
    "set Open_vSwitch . other_config:flow-restore-wait=true",
    "add-br br0 -- set Bridge br0 datapath_type=netdev",
    "add-port br0 p1 -- set Interface p1 type=dummy ofport_request=1",
    "add-port br0 p2 -- set Interface p2 type=dummy ofport_request=2",
    "add-br br1 -- set Bridge br1 datapath_type=netdev -- set-controller br1 tcp:127.0.0.1:9",
]
RESTORE_SCRIPT = [
    ("ofctl", "dump-flows br0", flows),
    ("ofctl", "dump-flows br1", flows),
    ("ofctl", "add-flow br0 priority=10,in_port=1,actions=output:2", raw),
    ("ofctl", "add-flow br1 priority=10,actions=drop", raw),
    ("ofctl", "dump-flows br0", flows),
    ("receive-unhandled", "p1", _frame(BCAST, MAC1)),
    ("appctl", "fdb/show br0", fdb),
    ("vsctl", "remove Open_vSwitch . other_config flow-restore-wait", raw),
    ("ofctl", "dump-flows br0", flows),
    ("ofctl", "dump-flows br1", flows),
    ("receive", "p2", _frame(BCAST, MAC2)),
    ("appctl", "fdb/show br0", fdb),
    ("vsctl", "set Open_vSwitch . other_config:flow-restore-wait=true", raw),
    ("receive", "p2", _frame(MAC1, MAC2)),
    ("ofctl", "dump-flows br0", flows),
]


# Header rewrites: the datapath actions as committed before each output, in Open
# vSwitch's datapath syntax (set(ipv4(tos=0x8/0xfc)), push_vlan(vid=9,pcp=0), ...): masked
# sets per header, VLAN and MPLS pushes carrying the whole tag, no IP rewrite while
# nw_proto is 0.
REWRITE_SCRIPT = [
    ("vsctl", "add-br br0 -- set Bridge br0 datapath_type=netdev fail_mode=secure", raw),
    ("vsctl", "add-port br0 p1 -- set Interface p1 type=dummy ofport_request=1", raw),
    ("vsctl", "add-port br0 p2 -- set Interface p2 type=dummy ofport_request=2", raw),
    ("ofctl", "add-flow br0 in_port=1,ip,actions=mod_nw_tos:8,output:2", raw),
    ("ofctl", "add-flow br0 in_port=2,actions=mod_vlan_vid:9,mod_dl_src:02:00:00:00:00:09,"
              "output:1", raw),
    ("appctl", "ofproto/trace br0 in_port=1,ip,nw_dst=10.1.1.1", datapath_actions),
    ("appctl", "ofproto/trace br0 in_port=2,dl_dst=02:00:00:00:00:01", datapath_actions),
    ("ofctl", "add-flow br0 priority=40000,in_port=1,tcp,actions=mod_nw_src:10.0.0.9,"
              "mod_tp_dst:8080,dec_ttl,output:2", raw),
    ("appctl", "ofproto/trace br0 in_port=1,tcp,nw_src=1.1.1.1,nw_ttl=64,tp_dst=80",
     datapath_actions),
    ("ofctl", "add-flow br0 priority=40000,in_port=1,udp,actions=mod_tp_src:53,"
              "set_field:1->nw_ecn,output:2,mod_dl_dst:02:00:00:00:00:07,output:2", raw),
    ("appctl", "ofproto/trace br0 in_port=1,udp,nw_ttl=9,udp_src=99", datapath_actions),
    ("ofctl", "add-flow br0 priority=40000,in_port=1,udp6,actions=set_field:2001:db8::1->"
              "ipv6_src,mod_nw_ttl:7,set_field:3->ipv6_label,output:2", raw),
    ("appctl", "ofproto/trace br0 in_port=1,udp6,ipv6_src=2001:db8::2,nw_ttl=64",
     datapath_actions),
    ("ofctl", "add-flow br0 priority=40000,in_port=1,dl_vlan=5,actions=mod_vlan_vid:7,output:2",
     raw),
    ("appctl", "ofproto/trace br0 in_port=1,dl_vlan=5,dl_vlan_pcp=3", datapath_actions),
    ("ofctl", "-O OpenFlow13 add-flow br0 priority=40000,in_port=1,dl_vlan=6,"
              "actions=strip_vlan,output:2,"
              "push_vlan:0x88a8,set_field:4102->vlan_vid,output:2", raw),
    ("appctl", "ofproto/trace br0 in_port=1,dl_vlan=6", datapath_actions),
    ("ofctl", "add-flow br0 priority=40000,in_port=1,icmp,actions=push_mpls:0x8847,"
              "set_field:10->mpls_label,output:2", raw),
    ("appctl", "ofproto/trace br0 in_port=1,icmp,nw_ttl=64", datapath_actions),
    ("ofctl", "add-flow br0 priority=40000,in_port=1,arp,actions=set_field:10.0.0.5->arp_spa,"
              "output:2", raw),
    ("appctl", "ofproto/trace br0 in_port=1,arp,arp_op=1", datapath_actions),
]

# A packet that recirculates (pop_mpls, then a table that needs the IP header), and the
# trace of its second pass, named by recirc_id as the first trace printed it.  (The second
# pass rewrites the IP header: OVS's trace then leaves nw_proto out of the megaflow that
# its datapath flow matches, see DPIF_SCRIPT; pyvswitchd shows it.  Actions compared.)
_O13 = "-O OpenFlow13 "
RECIRC_SCRIPT = [
    ("vsctl", "add-br br0 -- set Bridge br0 datapath_type=netdev fail_mode=secure", raw),
    ("vsctl", "add-port br0 p1 -- set Interface p1 type=dummy ofport_request=1", raw),
    ("vsctl", "add-port br0 p2 -- set Interface p2 type=dummy ofport_request=2", raw),
    ("ofctl", "-O OpenFlow13 add-flow br0 in_port=1,mpls,actions=pop_mpls:0x0800,"
              "goto_table:1", raw),
    ("ofctl", "-O OpenFlow13 add-flow br0 table=1,ip,actions=mod_nw_tos:8,output:2", raw),
    ("appctl", "ofproto/trace br0 in_port=1,mpls,mpls_label=5,mpls_bos=1", trace_megaflow),
    ("appctl", "ofproto/trace br0 in_port=1,mpls,mpls_label=5,mpls_bos=1", trace_body),
    ("appctl", "ofproto/trace br0 recirc_id=0x1,in_port=1,tcp,nw_dst=10.0.0.1",
     datapath_actions),
    # The thawed pass: "thaw", "Resuming from table 0", the frozen goto_table restored as
    # resubmit(,1).
    ("appctl", "ofproto/trace br0 recirc_id=0x1,in_port=1,tcp,nw_dst=10.0.0.1",
     trace_body_but_megaflow),
    ("appctl", "ofproto/trace br0 recirc_id=0x9,in_port=1,tcp", datapath_actions),
    ("appctl", "ofproto/trace br0 recirc_id=0x9,in_port=1,tcp", trace_body),
]


# pop_mpls inside a resubmit, a group bucket and a clone, then an action that needs the
# IPv4 header: where each freezes (the first pass) and what the recirculated pass runs
# (the rest of the inner list, then the rest of the resubmit's caller; only the rest of
# the bucket or clone).  After the bucket the packet goes on, labelled again; after the
# clone nothing more runs (OVS's exit stays set).  One frozen state per scenario, traced
# once, so both hand out ids 1, 2, 3 in order.
_MPLS_IN = "in_port=1,mpls,mpls_label=5,mpls_bos=1"
NESTED_RECIRC_SCRIPT = [
    ("vsctl", "add-br br0 -- set Bridge br0 datapath_type=netdev fail_mode=secure", raw),
    *[("vsctl", f"add-port br0 p{i} -- set Interface p{i} type=dummy ofport_request={i}",
       raw) for i in (1, 2, 3, 4)],
    ("ofctl", _O13 + "add-flow br0 in_port=1,mpls,actions=resubmit(,1),output:3", raw),
    ("ofctl", _O13 + "add-flow br0 table=1,mpls,actions=pop_mpls:0x0800,dec_ttl,"
              "output:2", raw),
    ("appctl", f"ofproto/trace br0 {_MPLS_IN}", trace_body),
    ("appctl", "ofproto/trace br0 recirc_id=0x1,in_port=1,udp,nw_ttl=30", datapath_actions),
    ("appctl", "ofproto/trace br0 recirc_id=0x1,in_port=1,udp,nw_ttl=30",
     trace_body_but_megaflow),
    ("ofctl", "del-flows br0", raw),
    ("ofctl", _O13 + "add-group br0 group_id=1,type=all,bucket=actions=pop_mpls:"
              "0x0800,dec_ttl,output:2,bucket=actions=output:4", raw),
    ("ofctl", _O13 + "add-flow br0 in_port=1,mpls,actions=group:1,output:3", raw),
    ("appctl", f"ofproto/trace br0 {_MPLS_IN},mpls_ttl=7", trace_body),
    ("appctl", "ofproto/trace br0 recirc_id=0x2,in_port=1,udp,nw_ttl=30", datapath_actions),
    ("ofctl", "del-flows br0", raw),
    ("ofctl", _O13 + "add-flow br0 in_port=1,mpls,actions=clone(pop_mpls:0x0800,"
              "set_field:10.0.0.9->ip_dst,output:2),output:3", raw),
    ("appctl", f"ofproto/trace br0 {_MPLS_IN},mpls_ttl=8", trace_body),
    ("appctl", "ofproto/trace br0 recirc_id=0x3,in_port=1,udp,nw_dst=10.0.0.2",
     datapath_actions),
    # A bucket shares the packet's action set: its recirculation carries it too, so the
    # action set runs in both passes.
    ("ofctl", "del-flows br0", raw),
    ("ofctl", _O13 + "add-flow br0 in_port=1,mpls,actions=write_actions(output:4),"
              "goto_table:1", raw),
    ("ofctl", _O13 + "add-flow br0 table=1,actions=group:1,resubmit(,2)", raw),
    ("ofctl", _O13 + "add-flow br0 table=2,actions=output:3", raw),
    ("appctl", f"ofproto/trace br0 {_MPLS_IN},mpls_ttl=9", trace_body),
    ("appctl", "ofproto/trace br0 recirc_id=0x4,in_port=1,udp,nw_ttl=30", trace_body),
    # Open vSwitch freezes before a push_vlan after a pop too ("for simplicity").
    ("ofctl", "del-flows br0", raw),
    ("ofctl", _O13 + "add-flow br0 in_port=1,mpls,actions=pop_mpls:0x0800,"
              "push_vlan:0x8100,output:2", raw),
    ("appctl", f"ofproto/trace br0 {_MPLS_IN},mpls_ttl=10", datapath_actions),
    # exit ends the translation at every level, as a clone that froze does: after a
    # resubmit, after a clone, and the action set; a group bucket ends it for itself.
    ("ofctl", "del-flows br0", raw),
    ("ofctl", _O13 + "add-flow br0 in_port=1,actions=write_actions(output:4),goto_table:1",
     raw),
    ("ofctl", _O13 + "add-flow br0 table=1,actions=resubmit(,2),output:2", raw),
    ("ofctl", _O13 + "add-flow br0 table=2,actions=output:3,exit", raw),
    ("appctl", "ofproto/trace br0 in_port=1,ip", datapath_actions),
    ("ofctl", _O13 + "add-flow br0 priority=40000,in_port=1,ip,actions=clone(output:3,"
              "exit),output:2", raw),
    ("appctl", "ofproto/trace br0 in_port=1,ip", datapath_actions),
    ("ofctl", _O13 + "add-group br0 group_id=2,type=all,bucket=actions=resubmit(,2),"
              "bucket=actions=output:4", raw),
    ("ofctl", _O13 + "add-flow br0 priority=40000,in_port=1,arp,actions=group:2,"
              "output:2", raw),
    ("appctl", "ofproto/trace br0 in_port=1,arp", datapath_actions),
]

# ofproto/trace's whole output, table by table and action by action, for the common
# cases: output (to a port, to the input port, to no port), a table miss, resubmit (a hit,
# a miss), goto_table, set_field and move (" -> ... is now ..."), push/pop VLAN, dec_ttl
# and its exception, a packet for the controller, write_actions/clear_actions and the
# action set, groups (all, indirect, fast failover), NORMAL (flooding, a learned port,
# the input port, a VLAN the port refuses) and a packet given as hex (which learns).
# Flows go in with OpenFlow 1.3 (set_field) or 1.0 (strip_vlan, NORMAL): Open vSwitch
# spells an action as the protocol that installed it did (mod_nw_dst, load:, pop_vlan
# are OpenFlow 1.0 / Nicira / 1.1 spellings pyvswitchd does not keep).
TRACE_SCRIPT = [
    ("vsctl", "add-br br0 -- set Bridge br0 datapath_type=netdev fail_mode=secure", raw),
    ("vsctl", "add-port br0 p1 -- set Interface p1 type=dummy ofport_request=1", raw),
    ("vsctl", "add-port br0 p2 -- set Interface p2 type=dummy ofport_request=2", raw),
    ("vsctl", "add-port br0 p3 -- set Interface p3 type=dummy ofport_request=3", raw),
    ("vsctl", "add-port br0 p4 -- set Interface p4 type=dummy ofport_request=4", raw),
    ("ofctl", "add-flow br0 priority=10,in_port=1,actions=output:1,output:9,output:2", raw),
    ("appctl", "ofproto/trace br0 in_port=1,dl_dst=02:00:00:00:00:02", trace_body),
    ("appctl", "ofproto/trace br0 in_port=4,dl_dst=02:00:00:00:00:02", trace_body),
    ("ofctl", _O13 + "add-flow br0 priority=20,in_port=1,ip,actions=set_field:10.0.0.9->"
              "ip_dst,resubmit(,5),resubmit(,1),CONTROLLER:100,output:3", raw),
    ("ofctl", _O13 + "add-flow br0 table=1,priority=5,ip,actions=set_field:02:00:00:00:00:09"
              "->eth_src,move:NXM_OF_IP_DST[0..7]->NXM_NX_REG3[8..15],"
              "move:NXM_OF_ETH_SRC[]->NXM_OF_ETH_DST[],push_vlan:0x8100,"
              "set_field:4101->vlan_vid,mod_nw_ttl:9,dec_ttl,output:4", raw),
    ("appctl", "ofproto/trace br0 in_port=1,tcp,nw_src=10.1.1.1,nw_ttl=64,tp_dst=80",
     trace_body),
    ("ofctl", "add-flow br0 priority=30,in_port=1,dl_vlan=7,actions=strip_vlan,output:3",
     raw),
    ("appctl", "ofproto/trace br0 in_port=1,dl_vlan=7,udp,nw_ttl=64", trace_body),
    ("ofctl", _O13 + "add-flow br0 priority=20,in_port=2,actions=write_actions(output:3),"
              "write_metadata:0x5/0xff,goto_table:2", raw),
    ("ofctl", _O13 + "add-flow br0 table=2,priority=5,metadata=0x5,ip,actions=dec_ttl,"
              "clear_actions,write_actions(set_field:7->ip_dscp,output:4),goto_table:3", raw),
    ("appctl", "ofproto/trace br0 in_port=2,ip,nw_ttl=64", trace_body),
    ("appctl", "ofproto/trace br0 in_port=2,tcp,nw_ttl=1", trace_body_but_megaflow),
    ("appctl", "ofproto/trace br0 in_port=2,arp", trace_body),
    ("ofctl", _O13 + "add-group br0 group_id=1,type=all,bucket=output:2,"
              "bucket=set_field:02:00:00:00:00:07->eth_src,output:3", raw),
    ("ofctl", _O13 + "add-group br0 group_id=3,type=indirect,bucket=group:1", raw),
    ("ofctl", _O13 + "add-group br0 group_id=4,type=ff,bucket=watch_port:9,output:9,"
              "bucket=watch_port:4,output:4", raw),
    ("ofctl", _O13 + "add-flow br0 priority=20,in_port=3,ip,actions=group:1,group:3,"
              "group:4,output:2", raw),
    ("appctl", "ofproto/trace br0 in_port=3,ip", trace_body),
    ("ofctl", _O13 + "add-flow br0 priority=20,in_port=3,arp,"
              "actions=write_actions(group:1,output:1)", raw),
    ("appctl", "ofproto/trace br0 in_port=3,arp", trace_body),
    ("ofctl", "add-flow br0 priority=5,actions=NORMAL", raw),
    ("appctl", "ofproto/trace br0 in_port=4,dl_dst=02:00:00:00:00:01", trace_body),
    ("appctl", "ofproto/trace br0 in_port=4 " + _frame(MAC3, MAC1), trace_body),
    ("appctl", "ofproto/trace br0 in_port=3,dl_dst=02:00:00:00:00:01", trace_body),
    ("appctl", "ofproto/trace br0 in_port=4,dl_dst=02:00:00:00:00:01", trace_body),
    ("vsctl", "set Port p4 tag=10", raw),
    ("appctl", "ofproto/trace br0 in_port=4,dl_vlan=5", trace_body),
    ("appctl", "ofproto/trace br0 in_port=4,dl_dst=02:00:00:00:00:03", trace_body),
]


# Datapath flows as dpif/dump-flows prints them: keys in OVS's datapath syntax (masked
# fields, VLAN encapsulation, fragments), committed rewrites in the actions.
_TAGGED = ("020000000001020000000003810000050800450000140001000040fd0000"
           "0a0000010a000002").ljust(120, "0")
DPIF_SCRIPT = [
    ("vsctl", "add-br br0 -- set Bridge br0 datapath_type=netdev", raw),
    ("vsctl", "add-port br0 p1 -- set Interface p1 type=dummy ofport_request=1", raw),
    ("vsctl", "add-port br0 p2 -- set Interface p2 type=dummy ofport_request=2", raw),
    ("receive", "p1", _frame(BCAST, MAC1)),
    ("appctl", "dpif/dump-flows br0", dp_flows),
    ("ofctl", "add-flow br0 priority=40000,in_port=2,ip,actions=mod_nw_tos:8,"
              "mod_dl_src:02:00:00:00:00:09,output:1", raw),
    ("receive", "p2", _frame(MAC1, MAC3)),
    ("ofctl", "add-flow br0 priority=40000,in_port=1,ip,nw_src=10.0.0.0/8,actions=output:2",
     raw),
    ("receive", "p1", _frame(MAC1, MAC3)),
    ("ofctl", "add-flow br0 priority=40001,in_port=1,dl_vlan=5,actions=strip_vlan,output:2",
     raw),
    ("receive", "p1", _TAGGED),
    ("appctl", "dpif/dump-flows br0", dp_flows),
]


def _run(target, server: OvsdbServer, script: list[tuple]) -> list[tuple]:
    """Run ``script`` against ``target``; each result is (step, return code, normalised)."""
    results = []
    for i, (tool, args, norm) in enumerate(script):
        if tool == "receive":
            before = _handled(target)
            target.appctl("netdev-dummy/receive", args, norm)
            wait_for(lambda: _handled(target) > before, 5, interval=0.05,
                     what=f"step {i}: the frame received on {args} to be handled")
            continue
        if tool == "receive-unhandled":      # nothing to wait for: give it a moment
            target.appctl("netdev-dummy/receive", args, norm)
            time.sleep(0.5)
            continue
        if tool == "sleep":
            time.sleep(float(args))
            continue
        if tool == "appctl-until":          # a result that appears on the next loop pass
            r = wait_for(lambda: (lambda r: r if norm(r.stdout) else None)(
                target.appctl(*shlex.split(args))), 5, interval=0.1,
                what=f"step {i}: {args} to show something")
            results.append((f"{i}: appctl {args}", r.returncode, norm(r.stdout)))
            continue
        argv = shlex.split(args)
        if tool == "vsctl":
            r = server.vsctl(*argv, check=False)
        elif tool == "ofctl":
            r = target.ofctl(*argv, check=False)
        else:
            r = target.appctl(*argv, check=False)
        results.append((f"{i}: {tool} {args}", r.returncode,
                        norm(r.stdout) if r.returncode == 0 else None))
    return results


def _handled(target) -> int:
    """Datapath lookups so far (hits + misses), from dpif/show."""
    out = target.appctl("dpif/show").stdout
    return sum(int(n) for n in re.findall(r"(?:hit|missed):(\d+)", out))


@pytest.fixture
def namespaces():
    made: list[Hosts] = []

    def make() -> str:
        h = Hosts(0)
        made.append(h)
        return h.up().switch_ns

    yield make
    for h in made:
        h.cleanup()


def _both(namespaces, script: list[tuple], setup: list[str] = ()) -> tuple[list, list]:
    """(Open vSwitch's results, pyvswitchd's) for ``script``, each daemon started on a
    fresh database after the ``setup`` ovs-vsctl commands (run with --no-wait)."""
    servers: list[OvsdbServer] = []
    targets = []
    results = []
    try:
        for make in (lambda db: ReferenceVswitchd(db, namespaces()),
                     lambda db: OvsdbSwitch(db, namespaces(), name="diff")):
            db = OvsdbServer()
            servers.append(db)
            db.start().init()
            for command in setup:
                db.vsctl("--no-wait", *shlex.split(command))
            target = make(db)
            targets.append(target)
            target.start()
            # A change ovs-vsctl waits for: the daemon has applied the whole setup.
            db.vsctl("set", "Open_vSwitch", ".", "external_ids:differential=1")
            results.append(_run(target, db, script))
    finally:
        for t in targets:
            t.cleanup()
        for s in servers:
            s.cleanup()
    return results[0], results[1]


def _assert_same(expected: list, got: list) -> None:
    mismatches = [f"{e[0]}\n  ovs-vswitchd: rc={e[1]} {e[2]!r}\n"
                  f"  pyvswitchd:   rc={g[1]} {g[2]!r}"
                  for e, g in zip(expected, got) if e != g]
    assert not mismatches, "\n".join(mismatches)
    assert len(expected) == len(got)


def test_same_script_same_results_as_open_vswitch(namespaces):
    expected, got = _both(namespaces, SCRIPT)
    _assert_same(expected, got)
    assert len(got) > 30


def test_flow_restore_wait_same_as_open_vswitch(namespaces):
    expected, got = _both(namespaces, RESTORE_SCRIPT, RESTORE_SETUP)
    _assert_same(expected, got)


def test_trace_of_header_rewrites_same_as_open_vswitch(namespaces):
    expected, got = _both(namespaces, REWRITE_SCRIPT)
    _assert_same(expected, got)


def test_datapath_flows_same_as_open_vswitch(namespaces):
    expected, got = _both(namespaces, DPIF_SCRIPT)
    _assert_same(expected, got)


def test_trace_of_a_recirculation_same_as_open_vswitch(namespaces):
    expected, got = _both(namespaces, RECIRC_SCRIPT)
    _assert_same(expected, got)


def test_recirculation_inside_resubmit_group_and_clone_same_as_open_vswitch(namespaces):
    expected, got = _both(namespaces, NESTED_RECIRC_SCRIPT)
    _assert_same(expected, got)
    actions = [g[2] if isinstance(g[2], str) else g[2][-1]
               for g in got if "ofproto/trace" in g[0]]
    assert actions[0] == "Datapath actions: pop_mpls(eth_type=0x800),recirc(ID)"
    assert actions[1] == "set(ipv4(ttl=29)),3,4"           # p2, then p3 (odp 3, 4)
    assert actions[3].startswith("Datapath actions: pop_mpls(eth_type=0x800),recirc(ID),"
                                 "push_mpls(")
    assert actions[5] == "Datapath actions: pop_mpls(eth_type=0x800),recirc(ID)"
    assert actions[8] == "Datapath actions: set(ipv4(ttl=29)),3,5"   # p2, then p4
    assert actions[9] == "pop_mpls(eth_type=0x800),recirc(0x5)"
    assert actions[10:] == ["4", "4", "3,4,5"]         # p3; p3; p2,p3,p4 (sorted)


def test_trace_text_line_for_line_same_as_open_vswitch(namespaces):
    expected, got = _both(namespaces, TRACE_SCRIPT)
    _assert_same(expected, got)
    traces = ["\n".join(g[2]) for g in got if g[0].split(": ", 1)[1].startswith("appctl")]
    assert len(traces) == 15
    text = "\n".join(traces)
    # The cases the script means to cover are really there (in both, as they agree).
    for line in ("    output:1\n     >> skipping output to input port",
                 "     >> Nonexistent output port", " 0. No match.\n    drop",
                 "     5. No match.\n            drop",
                 "             -> NXM_NX_REG3[8..15] is now 0x9",
                 "--. Executing action set:", "     -> action set was: output:3",
                 "             >> IPv4 decrement TTL exception",
                 "    bucket 1\n            output:4", "     -> using bucket 1",
                 "     -> learned that 02:00:00:00:00:01 is on port p4 in VLAN 0",
                 "     -> forwarding to learned port",
                 "     -> learned port is input port, dropping",
                 "     -> no learned MAC for destination, flooding",
                 "     >> disallowed VLAN VID for this input port, dropping",
                 "Final flow: unchanged", "Final flow: tcp,reg3=0x900,in_port=1,dl_vlan=5,"):
        assert line in text, line
