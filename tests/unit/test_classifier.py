"""The classifier agrees with the linear reference: lookups, versions, searches, errors."""

from __future__ import annotations

import random

import pytest

from pyvswitch.classifier import Classifier, LinearClassifier
from pyvswitch.packet.fields import N_SLOTS, SLOT_BITS, Match, Slot

S = Slot


class Rule:
    """What ofproto hands the classifier: a match and a priority."""

    __slots__ = ("match", "priority", "name")

    def __init__(self, match: Match, priority: int, name: str = "") -> None:
        self.match = match
        self.priority = priority
        self.name = name

    def __repr__(self) -> str:
        return f"Rule({self.name} pri={self.priority} {self.match})"


def _full(slot: int) -> int:
    return (1 << SLOT_BITS[slot]) - 1


def _prefix(slot: int, n: int) -> int:
    w = SLOT_BITS[slot]
    return ((1 << n) - 1) << (w - n)


#: Candidate values per slot: few enough that random flows often hit random rules.
UNIVERSE: dict[int, list[int]] = {
    S.IN_PORT: [1, 2, 3, 4],
    S.METADATA: [0, 0x10, 0xFF00, 0xFF10],
    S.REG0: [0, 1, 2, 0x100],
    S.ETH_SRC: [0x020000000001, 0x020000000002, 0x010000000003],
    S.ETH_DST: [0x020000000001, 0x020000000002, 0x01005E000001],
    S.ETH_TYPE: [0x0800, 0x86DD, 0x0806],
    S.VLAN_TCI: [0, 0x1005, 0x100A, 0x3005],
    S.NW_SRC: [0x0A000001, 0x0A000102, 0x0A010003, 0xC0A80101],
    S.NW_DST: [0x0A000001, 0x0A000102, 0x0A010003, 0xC0A80101, 0x0A00000F],
    S.IPV6_SRC: [0x20010DB8 << 96 | 1, 0x20010DB8_0001 << 80 | 2, 0xFE80 << 112 | 1],
    S.IPV6_DST: [0x20010DB8 << 96 | 1, 0x20010DB8_0001 << 80 | 2, 0xFE80 << 112 | 1],
    S.NW_PROTO: [6, 17, 1],
    S.NW_TOS: [0, 0x10, 0xB8],
    S.TP_SRC: [80, 443, 53, 1024],
    S.TP_DST: [80, 443, 53, 1024, 0x5000],
    S.TCP_FLAGS: [0, 0x02, 0x12],
}

E, P = "exact", "prefix"
#: Mask templates: (slot, kind, arg) lists.  About two dozen distinct masks.
TEMPLATES: list[list[tuple[int, str, int]]] = [
    [(S.IN_PORT, E, 0)],
    [(S.ETH_DST, E, 0)],
    [(S.ETH_TYPE, E, 0), (S.NW_DST, P, 24)],
    [(S.ETH_TYPE, E, 0), (S.NW_DST, P, 16)],
    [(S.ETH_TYPE, E, 0), (S.NW_SRC, P, 8), (S.NW_DST, P, 32)],
    [(S.ETH_TYPE, E, 0), (S.NW_PROTO, E, 0), (S.TP_DST, E, 0)],
    [(S.ETH_TYPE, E, 0), (S.NW_PROTO, E, 0), (S.TP_DST, "bits", 0xFF00)],
    [(S.IN_PORT, E, 0), (S.ETH_TYPE, E, 0), (S.NW_PROTO, E, 0), (S.TP_SRC, E, 0),
     (S.TP_DST, E, 0)],
    [(S.METADATA, "bits", 0xFF00), (S.REG0, E, 0)],
    [(S.REG0, E, 0), (S.ETH_TYPE, E, 0)],
    [(S.VLAN_TCI, "bits", 0x1FFF)],
    [(S.VLAN_TCI, "bits", 0x1000), (S.ETH_SRC, E, 0)],
    [(S.ETH_TYPE, E, 0), (S.IPV6_DST, P, 64)],
    [(S.ETH_TYPE, E, 0), (S.IPV6_SRC, P, 48), (S.NW_PROTO, E, 0)],
    [(S.ETH_TYPE, E, 0), (S.NW_SRC, "bits", 0x00FF00FF)],
    [],
    [(S.IN_PORT, E, 0), (S.ETH_DST, "bits", 0x010000000000)],
    [(S.ETH_TYPE, E, 0), (S.NW_PROTO, E, 0), (S.TCP_FLAGS, "bits", 0x12)],
    [(S.ETH_TYPE, E, 0)],
    [(S.IN_PORT, E, 0), (S.METADATA, E, 0), (S.ETH_TYPE, E, 0), (S.NW_DST, P, 28),
     (S.TP_DST, E, 0)],
    [(S.ETH_TYPE, E, 0), (S.NW_DST, P, 32), (S.NW_PROTO, E, 0)],
    [(S.ETH_TYPE, E, 0), (S.IPV6_DST, P, 128)],
    [(S.REG0, "bits", 0xFF), (S.TP_SRC, E, 0)],
    [(S.ETH_TYPE, E, 0), (S.NW_TOS, E, 0), (S.NW_SRC, P, 24)],
]


def _mask(slot: int, kind: str, arg: int) -> int:
    if kind == E:
        return _full(slot)
    if kind == P:
        return _prefix(slot, arg)
    return arg


def random_slot_value(rng: random.Random, slot: int) -> int:
    """Mostly a universe value, sometimes with random low bits or fully random."""
    pool = UNIVERSE.get(slot)
    if pool is None:
        return 0
    value = rng.choice(pool)
    if rng.random() < 0.1:
        value ^= rng.getrandbits(min(8, SLOT_BITS[slot]))
    return value & _full(slot)


def random_match(rng: random.Random, template=None) -> Match:
    match = Match()
    for slot, kind, arg in template if template is not None else rng.choice(TEMPLATES):
        mask = _mask(slot, kind, arg)
        match.set_slot(slot, random_slot_value(rng, slot), mask)
    return match


def random_rule(rng: random.Random, name: str) -> Rule:
    return Rule(random_match(rng), rng.randrange(16), name)


def random_flow(rng: random.Random, rules: list[Rule]) -> tuple[int, ...]:
    """A random flow, half the time built to satisfy one random rule."""
    flow = [random_slot_value(rng, s) for s in range(N_SLOTS)]
    if rules and rng.random() < 0.5:
        match = rng.choice(rules).match
        for s in range(N_SLOTS):
            flow[s] = (flow[s] & ~match.masks[s]) | match.values[s]
    return tuple(flow)


def both() -> tuple[Classifier, LinearClassifier]:
    return Classifier(), LinearClassifier()


def _do(pair, method: str, *args) -> None:
    for cls in pair:
        getattr(cls, method)(*args)


# --- the randomized agreement test -----------------------------------------------------

def test_random_lookups_agree_with_reference():
    """101,000 lookups over 1,200 rules in ~24 masks, across four versions and a collect."""
    rng = random.Random(20261123)
    pair = both()
    rules = [random_rule(rng, f"r{i}") for i in range(1200)]
    for rule in rules:
        _do(pair, "insert", rule, 1)
    # Version 2: 200 rules go, 100 come.  Version 3: MODIFY-style replacements.
    gone = rng.sample(rules, 200)
    for rule in gone:
        _do(pair, "remove", rule, 2)
    live = [r for r in rules if r not in set(gone)]
    for i in range(100):
        rule = random_rule(rng, f"n{i}")
        _do(pair, "insert", rule, 2)
        live.append(rule)
    for i, old in enumerate(rng.sample(live, 60)):
        priority = old.priority if i % 2 else rng.randrange(16)
        new = Rule(old.match.copy(), priority, f"m{i}")
        _do(pair, "replace", old, new, 3)
    assert pair[0].n_subtables >= 20

    flows = [random_flow(rng, rules) for _ in range(25_000)]
    mismatches = []
    hits = 0
    for version in (0, 1, 2, 3):          # version 0: before anything was inserted
        for flow in flows[:1000] if version == 0 else flows:
            got = pair[0].lookup(flow, version, [0] * N_SLOTS)
            want = pair[1].lookup(flow, version)
            hits += want is not None
            if got is not want:
                mismatches.append((version, flow, got, want))
    _do(pair, "collect", 3)
    for flow in flows:
        got, want = pair[0].lookup(flow, 3), pair[1].lookup(flow, 3)
        if got is not want:
            mismatches.append(("after collect", flow, got, want))
    assert not mismatches, mismatches[:3]
    assert hits > 40_000            # the flows really exercise the rules
    assert len(pair[0]) == len(pair[1]) == 1100
    assert list(pair[0]) == list(pair[1])


def test_mass_removal_then_collect_agrees_with_reference():
    """A del-flows of most rules (whole subtables go, prefix tries lose most prefixes and
    are refilled from the survivors), then new rules: lookups still agree."""
    rng = random.Random(4711)
    pair = both()
    rules = [random_rule(rng, f"r{i}") for i in range(1500)]
    for rule in rules:
        _do(pair, "insert", rule, 1)
    flows = [random_flow(rng, rules) for _ in range(3000)]
    for flow in flows[:500]:                     # build the tries before the removal
        pair[0].lookup(flow, 1)
    masks = sorted({tuple(r.match.masks) for r in rules})
    kept_masks = set(masks[::2])                 # the other masks lose every rule
    keep = set(rng.sample([i for i, r in enumerate(rules)
                           if tuple(r.match.masks) in kept_masks], 200))
    for i, rule in enumerate(rules):
        if i not in keep:
            _do(pair, "remove", rule, 2)
    n_before = pair[0].n_subtables
    assert pair[0].collect(2) == len(rules) - 200
    pair[1].collect(2)
    assert pair[0].n_subtables < n_before
    for trie in pair[0]._tries.values():
        assert trie.n_prefixes <= 200
    fresh = [random_rule(rng, f"n{i}") for i in range(300)]
    for rule in fresh:
        _do(pair, "insert", rule, 3)
    mismatches = []
    for flow in flows + [random_flow(rng, fresh) for _ in range(2000)]:
        wc = [0] * N_SLOTS
        got, want = pair[0].lookup(flow, 3, wc), pair[1].lookup(flow, 3)
        if got is not want:
            mismatches.append((flow, got, want))
    assert not mismatches, mismatches[:3]
    assert len(pair[0]) == len(pair[1]) == 500


def test_ties_go_to_the_rule_inserted_first():
    cls = Classifier()
    port = Rule(Match().set("in_port", 1), 5, "port")
    ip = Rule(Match().set("eth_type", 0x0800), 5, "ip")
    cls.insert(port, 1)
    cls.insert(ip, 1)
    flow = [0] * N_SLOTS
    flow[S.IN_PORT], flow[S.ETH_TYPE] = 1, 0x0800
    assert cls.lookup(tuple(flow), 1) is port
    other = Classifier()
    other.insert(ip, 1)
    other.insert(port, 1)
    assert other.lookup(tuple(flow), 1) is ip


# --- versions ----------------------------------------------------------------------------

def _flow(**slots: int) -> tuple[int, ...]:
    flow = [0] * N_SLOTS
    for name, value in slots.items():
        flow[S[name.upper()]] = value
    return tuple(flow)


def test_removed_rule_is_still_seen_by_older_versions_until_collected():
    cls = Classifier()
    rule = Rule(Match().set("in_port", 7), 10)
    cls.insert(rule, 1)
    cls.remove(rule, 5)
    flow = _flow(in_port=7)
    assert cls.lookup(flow, 4) is rule
    assert cls.lookup(flow, 5) is None
    assert list(cls.rules_in(4)) == [rule] and list(cls.rules_in(5)) == []
    assert len(cls) == 0 and list(cls) == []
    assert cls.collect(4) == 0          # version 4 still sees it
    assert cls.lookup(flow, 4) is rule
    assert cls.collect(5) == 1
    assert cls.n_subtables == 0
    with pytest.raises(KeyError):
        cls.remove(rule, 6)


def test_batch_inserted_at_one_version_appears_at_once():
    cls = Classifier()
    base = Rule(Match(), 0, "default")
    cls.insert(base, 1)
    batch = [Rule(Match().set("tcp_dst", port).set("ip_proto", 6).set("eth_type", 0x800),
                  100, str(port)) for port in range(20, 40)]
    for rule in batch:
        cls.insert(rule, 6)
    flows = [_flow(eth_type=0x800, nw_proto=6, tp_dst=port) for port in range(20, 40)]
    assert all(cls.lookup(f, 5) is base for f in flows)
    assert [cls.lookup(f, 6) for f in flows] == batch
    assert set(map(id, cls.rules_in(5))) == {id(base)}
    assert len(list(cls.rules_in(6))) == 21 == len(cls)


def test_replace_switches_rules_at_one_version_and_keeps_tie_order():
    cls = Classifier()
    old = Rule(Match().set("in_port", 1), 5, "old")
    rival = Rule(Match().set("eth_type", 0x0806), 5, "rival")
    cls.insert(old, 1)
    cls.insert(rival, 1)
    new = Rule(Match().set("in_port", 1), 5, "new")
    cls.replace(old, new, 3)
    flow = _flow(in_port=1, eth_type=0x0806)
    assert cls.lookup(flow, 2) is old
    assert cls.lookup(flow, 3) is new      # inherits old's win over the tie
    assert cls.find_exactly(new.match, 5, 2) is old
    assert cls.find_exactly(new.match, 5, 3) is new
    assert len(cls) == 2


def test_rule_inserted_and_removed_at_the_same_version_is_never_visible():
    cls = Classifier()
    rule = Rule(Match().set("in_port", 2), 1)
    cls.insert(rule, 4)
    cls.remove(rule, 4)                      # an aborted bundle
    assert all(cls.lookup(_flow(in_port=2), v) is None for v in range(8))
    assert cls.collect(0) == 1


def test_errors():
    cls = Classifier()
    rule = Rule(Match(), 0)
    cls.insert(rule, 1)
    with pytest.raises(ValueError):
        cls.insert(rule, 2)
    cls.remove(rule, 2)
    with pytest.raises(ValueError):
        cls.remove(rule, 3)
    with pytest.raises(KeyError):
        cls.remove(Rule(Match(), 0), 3)
    with pytest.raises(ValueError):
        list(cls.find_matches(Match(), 1, strict=True))


# --- searches ----------------------------------------------------------------------------

def _query(rng: random.Random, rules: list[Rule]) -> Match:
    """A query match: a rule's match with some slots dropped or narrowed, or random."""
    if rng.random() < 0.3:
        return random_match(rng)
    match = rng.choice(rules).match.copy()
    for s in range(N_SLOTS):
        if match.masks[s] and rng.random() < 0.4:
            keep = match.masks[s] & rng.choice([0, _prefix(s, SLOT_BITS[s] // 2)])
            match.set_slot(s, match.values[s], keep)
    return match


def test_find_matches_and_find_exactly_agree_with_reference():
    rng = random.Random(7)
    pair = both()
    rules = [random_rule(rng, f"r{i}") for i in range(600)]
    for rule in rules:
        _do(pair, "insert", rule, 1)
    for rule in rng.sample(rules, 100):
        _do(pair, "remove", rule, 2)
    total_loose = 0
    for _ in range(150):
        query = _query(rng, rules)
        priority = rng.randrange(16)
        for version in (1, 2):
            loose = [list(c.find_matches(query, version)) for c in pair]
            assert loose[0] == loose[1]
            total_loose += len(loose[0])
            strict = [list(c.find_matches(query, version, True, priority)) for c in pair]
            assert strict[0] == strict[1]
            exact = [c.find_exactly(query, priority, version) for c in pair]
            assert exact[0] is exact[1]
    for rule in rng.sample(rules, 50):
        for version in (1, 2):
            got = pair[0].find_exactly(rule.match.copy(), rule.priority, version)
            assert got is pair[1].find_exactly(rule.match, rule.priority, version)
    assert total_loose > 500
    # Loose semantics spelled out: a catch-all query finds everything visible.
    assert list(pair[0].find_matches(Match(), 2)) == list(pair[0].rules_in(2))


def test_loose_match_means_at_least_as_specific():
    cls = Classifier()
    net = Rule(Match().set("eth_type", 0x800).set("ip_dst", 0x0A000000, 0xFF000000), 1)
    host = Rule(Match().set("eth_type", 0x800).set("ip_dst", 0x0A000001), 1)
    other = Rule(Match().set("eth_type", 0x800).set("ip_dst", 0x0B000001), 1)
    arp = Rule(Match().set("eth_type", 0x806), 1)
    for rule in (net, host, other, arp):
        cls.insert(rule, 1)
    query = Match().set("eth_type", 0x800).set("ip_dst", 0x0A000000, 0xFF000000)
    assert list(cls.find_matches(query, 1)) == [net, host]
    assert list(cls.find_matches(query, 1, strict=True, priority=1)) == [net]
    assert list(cls.find_matches(query, 1, strict=True, priority=2)) == []


@pytest.mark.parametrize("compile_after", [0, 3, 10**9])
def test_interleaved_changes_and_lookups_agree_with_reference(compile_after):
    """Lookups between single changes: new masks, raised and lowered maxima, collects;
    on the compiled lookup, on the per-subtable probe loop, and switching between them."""
    rng = random.Random(11)
    pair = Classifier(compile_after=compile_after), LinearClassifier()
    live: list[Rule] = []
    version = 1
    flows: list[tuple[int, ...]] = []
    for step in range(1000 if compile_after > 100 else 300):   # small: many recompiles
        op = rng.random()
        if op < 0.5 or not live:
            rule = Rule(random_match(rng), rng.randrange(40), f"s{step}")
            _do(pair, "insert", rule, version)
            live.append(rule)
        elif op < 0.8:
            rule = live.pop(rng.randrange(len(live)))
            _do(pair, "remove", rule, version)
        elif op < 0.9:
            old = live.pop(rng.randrange(len(live)))
            new = Rule(old.match.copy(), rng.choice([old.priority, rng.randrange(40)]))
            _do(pair, "replace", old, new, version)
            live.append(new)
        else:
            _do(pair, "collect", version)
        if rng.random() < 0.3:
            version += 1
        flows.append(random_flow(rng, live))
        for flow in rng.sample(flows, min(len(flows), 5)):
            for v in (version - 1, version):
                assert pair[0].lookup(flow, v) is pair[1].lookup(flow, v), (step, v)
    assert list(pair[0]) == list(pair[1])
    for query in [Match()] + [r.match for r in live[:50]]:
        assert (list(pair[0].find_matches(query, version))
                == list(pair[1].find_matches(query, version)))


def test_value_bits_outside_the_mask_do_not_hide_a_rule():
    values = [0] * N_SLOTS
    masks = [0] * N_SLOTS
    values[S.NW_DST], masks[S.NW_DST] = 0x0A0000FF, 0xFFFFFF00    # stray low bits
    values[S.ETH_TYPE], masks[S.ETH_TYPE] = 0x0800, 0xFFFF
    rule = Rule(Match(values, masks), 1)
    cls = Classifier()
    cls.insert(rule, 1)
    assert cls.lookup(_flow(eth_type=0x0800, nw_dst=0x0A000007), 1) is rule
    assert cls.collect(1) == 0 and len(cls) == 1


def test_collect_only_frees_what_no_remaining_version_sees():
    cls, ref = both()
    rules = [Rule(Match().set("in_port", i), 1) for i in range(10)]
    for rule in rules:
        _do((cls, ref), "insert", rule, 1)
    for i, rule in enumerate(rules):
        _do((cls, ref), "remove", rule, 2 + i)    # removed at versions 2..11
    assert cls.collect(6) == ref.collect(6) == 5  # those removed at 2..6
    assert list(cls.rules_in(6)) == list(ref.rules_in(6)) == rules[5:]
    assert cls.collect(100) == 5 and cls.n_subtables == 0


def test_find_exactly_keyed_then_insert_with_its_key():
    """flow_mod ADD looks a match up and inserts it with the key found: the rule is then
    what lookups and exact searches see, like one inserted without a key."""
    cls = Classifier()
    match = Match().set("in_port", 3).set("eth_type", 0x0800).set("ip_dst", 0x0A000001)
    mask = tuple(match.masks)
    assert cls.find_exactly_keyed(match, 5, 1, mask) == (None, None)   # no subtable yet
    first = Rule(match, 5, "first")
    cls.insert(first, 1, mask)
    other = Rule(match.copy().set("ip_dst", 0x0A000002), 5, "other")
    found, key = cls.find_exactly_keyed(other.match, 5, 2, mask)
    assert found is None and key is not None
    cls.insert(other, 2, mask, key)
    assert cls.find_exactly_keyed(match, 5, 2, mask)[0] is first
    assert cls.find_exactly(other.match, 5, 2) is other
    assert cls.lookup(_flow(in_port=3, eth_type=0x0800, nw_dst=0x0A000002), 2) is other
    assert cls.lookup(_flow(in_port=3, eth_type=0x0800, nw_dst=0x0A000002), 1) is None
