"""FlowTables against a small reference model: random OF1.3 flow_mod sequences (add,
modify, delete, strict or loose, cookie and out_port filters, failing batches) must leave
the same flows as the model, and every lookup must return a highest-priority match."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pyvswitch.ofproto.tables import FlowTables
from pyvswitch.openflow.errors import OFPError
from pyvswitch.openflow.messages import (
    OFPFC_ADD, OFPFC_DELETE, OFPFC_DELETE_STRICT, OFPFC_MODIFY, OFPFC_MODIFY_STRICT, FlowMod,
)
from pyvswitch.openflow.ofpacts import OFPP_ANY, Instructions, Output
from pyvswitch.packet import fields as F
from pyvswitch.packet.fields import Match, Slot

# A small universe so that flow_mods often select the same rules.
in_ports = st.sampled_from([None, 1, 2])
eth_types = st.sampled_from([None, 0x0800])
ip_srcs = st.sampled_from([None, (0x0A000000, 0xFF000000), (0x0A000001, 0xFFFFFFFF)])


@st.composite
def matches(draw):
    m = Match()
    port, eth, ip = draw(in_ports), draw(eth_types), draw(ip_srcs)
    if port is not None:
        m.set("in_port", port)
    if eth is not None:
        m.set("eth_type", eth)
        if ip is not None:
            m.set("ip_src", *ip)
    return m


flow_mods = st.builds(
    lambda cmd, match, prio, port, cookie, cmask, out_port, table: FlowMod(
        match, Instructions(apply=(Output(port),)), command=cmd, cookie=cookie,
        cookie_mask=cmask, table_id=table, priority=prio, out_port=out_port),
    st.sampled_from([OFPFC_ADD, OFPFC_ADD, OFPFC_MODIFY, OFPFC_MODIFY_STRICT, OFPFC_DELETE,
                     OFPFC_DELETE_STRICT]),
    matches(), st.sampled_from([1, 2, 3]), st.sampled_from([1, 2, 3]),
    st.sampled_from([0, 1, 2]), st.sampled_from([0, 0, 3]),
    st.sampled_from([OFPP_ANY, OFPP_ANY, 2]), st.sampled_from([0, 1]))


def _selects(criteria: Match, rule_match: Match) -> bool:
    """Loose selection: the rule matches at least every bit the criteria match, equally."""
    for cv, cm, rv, rm in zip(criteria.values, criteria.masks, rule_match.values,
                              rule_match.masks):
        if cm & ~rm or (rv & cm) != cv:
            return False
    return True


class Model:
    """Dict (table, match key, priority) -> [actions port, cookie]."""

    def __init__(self):
        self.rules: dict[tuple, list] = {}

    def apply(self, fm: FlowMod) -> None:
        key = (fm.table_id, fm.match.frozen(), fm.priority)
        port = fm.instructions.apply[0].port
        if fm.command == OFPFC_ADD:
            self.rules[key] = [port, fm.cookie]
            return
        strict = fm.command in (OFPFC_MODIFY_STRICT, OFPFC_DELETE_STRICT)
        chosen = []
        for (table, mkey, prio), (rport, cookie) in self.rules.items():
            if table != fm.table_id or (cookie ^ fm.cookie) & fm.cookie_mask:
                continue
            if strict and (mkey != fm.match.frozen() or prio != fm.priority):
                continue
            if not strict and not _selects(fm.match, Match(*mkey)):
                continue
            if fm.command in (OFPFC_DELETE, OFPFC_DELETE_STRICT) and \
                    fm.out_port != OFPP_ANY and rport != fm.out_port:
                continue
            chosen.append((table, mkey, prio))
        for key in chosen:
            if fm.command in (OFPFC_DELETE, OFPFC_DELETE_STRICT):
                del self.rules[key]
            else:
                self.rules[key][0] = port         # OF1.3 modify keeps the cookie

    def state(self) -> set:
        return {(t, m, p, port, cookie) for (t, m, p), (port, cookie) in self.rules.items()}


def tables_state(ft: FlowTables) -> set:
    return {(r.table_id, r.match.frozen(), r.priority, r.instructions.apply[0].port,
             r.cookie) for r in ft.rules()}


def packets():
    for port in (1, 2, 3):
        for eth in (0x0800, 0x0806):
            for ip in (0x0A000001, 0x0A000002, 0x0B000001):
                f = list(F.ZERO_FLOW)
                f[Slot.IN_PORT], f[Slot.ETH_TYPE], f[Slot.NW_SRC] = port, eth, ip
                yield tuple(f)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(flow_mods, min_size=1, max_size=3), min_size=1, max_size=12),
       st.lists(st.booleans(), min_size=12, max_size=12))
def test_flow_tables_agree_with_the_model(batches, fail_flags):
    ft, model = FlowTables(), Model()
    for batch, fail in zip(batches, fail_flags):
        before = tables_state(ft)
        if fail:
            bad = FlowMod(Match(), Instructions(apply=(Output(1),)), table_id=0,
                          buffer_id=9)
            try:
                ft.apply_batch(batch + [bad], 0, version=0x04)
            except OFPError as err:
                assert err.name == "OFPBRC_BUFFER_UNKNOWN"
            assert tables_state(ft) == before
            continue
        ft.apply_batch(batch, 0, version=0x04)
        for fm in batch:
            model.apply(fm)
        assert tables_state(ft) == model.state()
        ft.run(0)
    for table in (0, 1):
        rules = [r for r in ft.rules() if r.table_id == table]
        for flow in packets():
            hit = ft.lookup(table, flow)
            matching = [r for r in rules if r.match.matches(flow)]
            if not matching:
                assert hit is None
            else:
                assert hit is not None and hit.match.matches(flow)
                assert hit.priority == max(r.priority for r in matching)
