"""The wildcards a lookup reports: sufficient for megaflows, and narrowed by stages/tries."""

from __future__ import annotations

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyvswitch.classifier import Classifier
from pyvswitch.classifier.trie import PrefixTrie, prefix_len
from pyvswitch.packet.fields import N_SLOTS, SLOT_BITS, Match, Slot

S = Slot


class Rule:
    __slots__ = ("match", "priority", "name")

    def __init__(self, match: Match, priority: int, name: str = "") -> None:
        self.match, self.priority, self.name = match, priority, name

    def __repr__(self) -> str:
        return f"Rule({self.name} pri={self.priority} {self.match})"


def flow_of(**slots: int) -> tuple[int, ...]:
    flow = [0] * N_SLOTS
    for name, value in slots.items():
        flow[S[name.upper()]] = value
    return tuple(flow)


def lookup_wc(cls: Classifier, flow, version: int = 1):
    wc = [0] * N_SLOTS
    rule = cls.lookup(flow, version, wc)
    return rule, {S(i).name: hex(m) for i, m in enumerate(wc) if m}


# --- sufficiency -------------------------------------------------------------------------

#: Slots the random rules match on, with the values they use.
_SLOT_VALUES = {
    S.IN_PORT: [1, 2, 3], S.REG0: [0, 5], S.ETH_DST: [0x020000000001, 0x020000000002],
    S.ETH_TYPE: [0x0800, 0x86DD], S.VLAN_TCI: [0, 0x1005],
    S.NW_SRC: [0x0A000001, 0x0A0000F0, 0xC0A80001], S.NW_DST: [0x0A000001, 0x0A010101],
    S.IPV6_DST: [0x20010DB8 << 96 | 1, 0xFE80 << 112 | 1], S.NW_PROTO: [6, 17],
    S.TP_SRC: [80, 1024], S.TP_DST: [80, 443, 0x1F90],
}


def _random_mask(rng: random.Random, slot: int, cidr: bool) -> int:
    width = SLOT_BITS[slot]
    kind = 1 if cidr else rng.randrange(3)
    if kind == 0:
        return (1 << width) - 1
    if kind == 1:
        n = rng.randrange(1, width + 1)
        return ((1 << n) - 1) << (width - n)
    return rng.getrandbits(width) or 1


NEVER = 10**9          # compile_after: stay on the per-subtable probe loop
ALL_PREFIXES = (S.NW_SRC, S.NW_DST, S.IPV6_SRC, S.IPV6_DST)


def make(prefix_slots=None, compile_after: int = 1000) -> Classifier:
    if prefix_slots is None:
        return Classifier(compile_after=compile_after)
    return Classifier(prefix_slots, compile_after=compile_after)


@pytest.fixture(params=[0, NEVER], ids=["compiled", "probe-loop"])
def compile_after(request) -> int:
    return request.param


def _build(seed: int, n_rules: int, n_masks: int, prefix_slots=None,
           routes: bool = False, compile_after: int = 0) -> tuple[Classifier, list[Rule]]:
    """Random rules over ``n_masks`` masks; ``routes``: CIDR masks on IP addresses only."""
    rng = random.Random(seed)
    if routes:
        pool = [S.NW_SRC, S.NW_DST, S.IPV6_DST]
        templates = [[S.ETH_TYPE] + rng.sample(pool, rng.randrange(1, 3))
                     for _ in range(n_masks)]
    else:
        templates = [rng.sample(sorted(_SLOT_VALUES), rng.randrange(0, 5))
                     for _ in range(n_masks)]
    masks = [{s: _random_mask(rng, s, routes and s in (S.NW_SRC, S.NW_DST, S.IPV6_DST))
              for s in t} for t in templates]
    cls = make(prefix_slots, compile_after)
    rules = []
    for i in range(n_rules):
        match = Match()
        for slot, mask in rng.choice(masks).items():
            value = rng.choice(_SLOT_VALUES[slot]) ^ (rng.getrandbits(8) << rng.randrange(24))
            match.set_slot(slot, value & ((1 << SLOT_BITS[slot]) - 1), mask)
        rule = Rule(match, rng.randrange(10), f"r{i}")
        cls.insert(rule, 1 + i % 3)           # visible from versions 1, 2 or 3
        rules.append(rule)
    for rule in rules[::7]:
        cls.remove(rule, 3)
    return cls, rules


#: (classifier, its rules): big and mixed, small (few masks, many free bits), routes;
#: each with and without tries, each as compiled lookup and as probe loop.
CLASSIFIERS = [
    _build(seed, n, masks, tries, routes, mode)
    for seed, n, masks, routes in ((99, 400, 25, False), (3, 30, 5, False), (5, 60, 8, True))
    for tries in (ALL_PREFIXES, ())
    for mode in (0, NEVER)
]

_flows = st.builds(
    lambda picks, noise: tuple(
        (_SLOT_VALUES[s][picks[i] % len(_SLOT_VALUES[s])] ^ noise[i]) if s in _SLOT_VALUES
        else noise[i] & ((1 << SLOT_BITS[s]) - 1)
        for i, s in enumerate(S)),
    st.lists(st.integers(0, 3), min_size=N_SLOTS, max_size=N_SLOTS),
    st.lists(st.sampled_from([0, 0, 0, 1, 0x80, 0x100, 1 << 31]),
             min_size=N_SLOTS, max_size=N_SLOTS),
)


def _overlay(flow, match: Match, bits: list[int]) -> tuple[int, ...]:
    """``flow`` with the ``bits`` of each slot taken from ``match``'s values."""
    return tuple((f & ~b) | (v & b) for f, v, b in zip(flow, match.values, bits))


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(flow=_flows, version=st.integers(0, 4), which=st.integers(0, len(CLASSIFIERS) - 1),
       near=st.integers(0, 399) | st.none(), seed=st.integers(0, 2**32))
def test_flows_agreeing_on_the_wildcards_get_the_same_rule(flow, version, which, near, seed):
    """Changing any bits outside the reported mask never changes the lookup's answer.

    The changed flows are aimed at the rules: every rule's values are copied into the free
    bits it matches on, so a missing wildcard bit would let some rule match (or stop
    matching) and change the answer.  Random bit flips cover the rest.
    """
    cls, rules = CLASSIFIERS[which]
    if near is not None:               # start right on (or next to) a rule
        match = rules[near % len(rules)].match
        flow = _overlay(flow, match, match.masks)
    rnd = random.Random(seed)         # the perturbations (hypothesis' Random is slow)
    wc = [0] * N_SLOTS
    found = cls.lookup(flow, version, wc)
    free = [~w & ((1 << n) - 1) for w, n in zip(wc, SLOT_BITS)]
    for rule in rules:
        bits = [f & m for f, m in zip(free, rule.match.masks)]
        assert cls.lookup(_overlay(flow, rule.match, bits), version) is found, rule
    for _ in range(20):
        other = list(flow)
        for slot in rnd.sample(range(N_SLOTS), rnd.randrange(1, N_SLOTS)):
            other[slot] ^= rnd.getrandbits(SLOT_BITS[slot]) & free[slot]
        assert cls.lookup(tuple(other), version) is found


def test_wildcards_of_the_matching_rule_cover_its_mask():
    cls, rules = _build(5, 200, 20)
    rng = random.Random(1)
    for rule in rng.sample(rules, 50):
        flow = tuple(rule.match.values)
        wc = [0] * N_SLOTS
        found = cls.lookup(flow, 3, wc)
        if found is not None:
            assert all(w & m == m for w, m in zip(wc, found.match.masks))


# --- staged lookup -----------------------------------------------------------------------

def _l2_and_l4(compile_after):
    cls = make(compile_after=compile_after)
    l2 = Rule(Match().set("eth_dst", 0x020000000001), 10, "l2")
    l4 = Rule(Match().set("eth_type", 0x0800).set("ip_proto", 6).set("tcp_dst", 80), 5, "l4")
    cls.insert(l2, 1)
    cls.insert(l4, 1)
    return cls, l2, l4


def test_packet_that_misses_at_l2_does_not_unwildcard_l3_or_l4(compile_after):
    cls, _, _ = _l2_and_l4(compile_after)
    arp = flow_of(eth_dst=0x020000000009, eth_type=0x0806, nw_proto=1, tp_dst=80)
    rule, wc = lookup_wc(cls, arp)
    assert rule is None
    assert wc == {"ETH_DST": hex((1 << 48) - 1), "ETH_TYPE": "0xffff"}


def test_packet_that_misses_at_l3_does_not_unwildcard_l4(compile_after):
    cls, _, _ = _l2_and_l4(compile_after)
    udp = flow_of(eth_dst=0x020000000009, eth_type=0x0800, nw_proto=17, tp_dst=80)
    rule, wc = lookup_wc(cls, udp)
    assert rule is None
    assert wc == {"ETH_DST": hex((1 << 48) - 1), "ETH_TYPE": "0xffff", "NW_PROTO": "0xff"}


def test_packet_that_reaches_l4_unwildcards_the_whole_mask(compile_after):
    cls, _, l4 = _l2_and_l4(compile_after)
    tcp = flow_of(eth_dst=0x020000000009, eth_type=0x0800, nw_proto=6, tp_dst=80)
    rule, wc = lookup_wc(cls, tcp)
    assert rule is l4
    assert wc == {"ETH_DST": hex((1 << 48) - 1), "ETH_TYPE": "0xffff", "NW_PROTO": "0xff",
                  "TP_DST": "0xffff"}


def test_metadata_stage_miss_reads_only_the_register(compile_after):
    cls = make(compile_after=compile_after)
    rule = Rule(Match().set("reg0", 1).set("eth_type", 0x0800).set("tcp_dst", 22)
                .set("ip_proto", 6), 1)
    cls.insert(rule, 1)
    found, wc = lookup_wc(cls, flow_of(reg0=2, eth_type=0x0800, nw_proto=6, tp_dst=22))
    assert found is None and wc == {"REG0": "0xffffffff"}


def test_higher_priority_match_stops_the_search(compile_after):
    cls = make(compile_after=compile_after)
    ip = Rule(Match().set("eth_type", 0x0800), 100, "ip")
    ssh = Rule(Match().set("eth_type", 0x0800).set("ip_proto", 6).set("tcp_dst", 22), 1)
    cls.insert(ssh, 1)
    cls.insert(ip, 1)
    found, wc = lookup_wc(cls, flow_of(eth_type=0x0800, nw_proto=6, tp_dst=22))
    assert found is ip and wc == {"ETH_TYPE": "0xffff"}


# --- prefix tries ------------------------------------------------------------------------

def _routes(compile_after: int, prefix_slots=None) -> Classifier:
    cls = make(prefix_slots, compile_after)
    for i, (net, plen) in enumerate([(0x0A000000, 8), (0x0A000001, 32), (0x0A000002, 32)]):
        mask = ((1 << plen) - 1) << (32 - plen)
        cls.insert(Rule(Match().set("eth_type", 0x0800).set("ip_dst", net, mask), plen,
                        f"r{i}"), 1)
    return cls


def test_trie_skips_subtables_reading_only_the_diverging_bits(compile_after):
    # 192.x diverges from 10.x at the very first bit: one bit decides that neither the
    # /8 nor the /32 subtable can match, and eth_type is not even read.
    found, wc = lookup_wc(_routes(compile_after), flow_of(eth_type=0x0800, nw_dst=0xC0A80101))
    assert found is None and wc == {"NW_DST": "0x80000000"}


def test_trie_reads_up_to_the_first_bit_that_leaves_every_longer_prefix(compile_after):
    # 10.0.1.1 is in 10/8 but diverges from 10.0.0.1 and 10.0.0.2 at bit 23.
    found, wc = lookup_wc(_routes(compile_after), flow_of(eth_type=0x0800, nw_dst=0x0A000101))
    assert found.name == "r0"
    assert wc == {"ETH_TYPE": "0xffff", "NW_DST": "0xffffff00"}


def test_without_tries_the_whole_prefix_is_unwildcarded(compile_after):
    found, wc = lookup_wc(_routes(compile_after, ()), flow_of(eth_type=0x0800, nw_dst=0xC0A80101))
    assert found is None and wc == {"ETH_TYPE": "0xffff", "NW_DST": "0xffffffff"}


def test_tries_follow_rule_removal(compile_after):
    cls = make(compile_after=compile_after)
    host = Rule(Match().set("eth_type", 0x0800).set("ip_dst", 0x0A000001), 1)
    net = Rule(Match().set("eth_type", 0x0800).set("ip_dst", 0xC0000000, 0xFF000000), 1)
    cls.insert(host, 1)
    cls.insert(net, 1)
    flow = flow_of(eth_type=0x0800, nw_dst=0x0A000002)
    assert lookup_wc(cls, flow)[1]["NW_DST"] == "0xfffffffe"   # 10.0.0.2 vs .1: 31 bits
    cls.remove(host, 2)
    cls.collect(2)
    assert lookup_wc(cls, flow, 2) == (None, {"NW_DST": "0x80000000"})


def _brute(prefixes: list[tuple[int, int]], addr: int, width: int) -> tuple[int, int]:
    plens, longest = 0, 0
    for value, plen in prefixes:
        common = min(width - (addr ^ value).bit_length(), plen)
        longest = max(longest, common)
        if common == plen:
            plens |= 1 << plen
    return plens, min(longest + 1, width)


@settings(max_examples=200, deadline=None)
@given(ops=st.lists(st.tuples(st.integers(0, 255), st.integers(0, 8), st.booleans()),
                    max_size=40),
       addrs=st.lists(st.integers(0, 255), min_size=1, max_size=10))
def test_trie_lookup_matches_brute_force(ops, addrs):
    trie, stored = PrefixTrie(8), []
    for raw, plen, add in ops:
        value = raw & (((1 << plen) - 1) << (8 - plen))
        if add or (value, plen) not in stored:
            trie.insert(value, plen)
            stored.append((value, plen))
        else:
            trie.remove(value, plen)
            stored.remove((value, plen))
    for addr in addrs:
        plens, bits = trie.lookup(addr)
        want_plens, want_bits = _brute(stored, addr, 8)
        assert plens == want_plens
        if stored:
            assert bits == want_bits
        assert trie.lookup_mask(addr) == (plens, ((1 << bits) - 1) << (8 - bits))
    assert trie.n_prefixes == len(stored)


def test_prefix_len():
    assert prefix_len(0xFFFFFF00, 32) == 24
    assert prefix_len(0xFFFFFFFF, 32) == 32
    assert prefix_len(0, 32) == 0
    assert prefix_len(0x00FF00FF, 32) is None


def test_ipv6_tries_when_configured(compile_after):
    net = Match().set("eth_type", 0x86DD).set("ipv6_dst", 0x20010DB8 << 96, ((1 << 64) - 1) << 64)
    flow = flow_of(eth_type=0x86DD, ipv6_dst=0xFE80 << 112 | 1)
    with_trie = make(ALL_PREFIXES, compile_after)
    default = make(None, compile_after)
    for cls in (with_trie, default):
        cls.insert(Rule(net, 1), 1)
    # 2001:... and fe80:... differ in the first bit.
    assert lookup_wc(with_trie, flow) == (None, {"IPV6_DST": hex(1 << 127)})
    assert lookup_wc(default, flow) == (None, {"ETH_TYPE": "0xffff",
                                              "IPV6_DST": hex(((1 << 64) - 1) << 64)})
