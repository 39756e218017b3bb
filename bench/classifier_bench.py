"""Classifier benchmark: insert rate, lookup rate (with wildcards), memory per rule.

Run: ``.venv/bin/python bench/classifier_bench.py [--rules N] [--lookup-rules N]``.
Prints one line per figure.  Times are CPU time of this process (time.process_time), so
other load on a shared machine does not skew them.  Not a test: nothing here asserts.
"""

from __future__ import annotations

import argparse
import random
import time
import tracemalloc

from pyvswitch.classifier import Classifier
from pyvswitch.packet.fields import N_SLOTS, SLOT_BITS, Match, Slot

S = Slot


class Rule:
    __slots__ = ("match", "priority")

    def __init__(self, match: Match, priority: int) -> None:
        self.match, self.priority = match, priority


def _full(slot: int) -> int:
    return (1 << SLOT_BITS[slot]) - 1


def _cidr(slot: int, n: int) -> int:
    return ((1 << n) - 1) << (SLOT_BITS[slot] - n)


#: Masks in the style of real pipelines: L2 learning, ACLs, routes, metadata dispatch.
MASKS: list[dict[int, int]] = [
    {S.IN_PORT: _full(S.IN_PORT)},
    {S.ETH_DST: _full(S.ETH_DST)},
    {S.IN_PORT: _full(S.IN_PORT), S.ETH_SRC: _full(S.ETH_SRC)},
    {S.VLAN_TCI: 0x1FFF, S.ETH_DST: _full(S.ETH_DST)},
    {S.ETH_TYPE: 0xFFFF},
    {S.ETH_TYPE: 0xFFFF, S.NW_DST: _cidr(S.NW_DST, 32)},
    {S.ETH_TYPE: 0xFFFF, S.NW_DST: _cidr(S.NW_DST, 24)},
    {S.ETH_TYPE: 0xFFFF, S.NW_DST: _cidr(S.NW_DST, 16)},
    {S.ETH_TYPE: 0xFFFF, S.NW_SRC: _cidr(S.NW_SRC, 24), S.NW_DST: _cidr(S.NW_DST, 24)},
    {S.ETH_TYPE: 0xFFFF, S.NW_PROTO: 0xFF, S.TP_DST: 0xFFFF},
    {S.ETH_TYPE: 0xFFFF, S.NW_PROTO: 0xFF, S.TP_SRC: 0xFFFF},
    {S.ETH_TYPE: 0xFFFF, S.NW_DST: _cidr(S.NW_DST, 32), S.NW_PROTO: 0xFF,
     S.TP_DST: 0xFFFF},
    {S.ETH_TYPE: 0xFFFF, S.NW_SRC: _cidr(S.NW_SRC, 32), S.NW_DST: _cidr(S.NW_DST, 32),
     S.NW_PROTO: 0xFF, S.TP_SRC: 0xFFFF, S.TP_DST: 0xFFFF},
    {S.ETH_TYPE: 0xFFFF, S.IPV6_DST: _cidr(S.IPV6_DST, 64)},
    {S.ETH_TYPE: 0xFFFF, S.IPV6_DST: _cidr(S.IPV6_DST, 128)},
    {S.METADATA: 0xFFFF, S.REG0: _full(S.REG0)},
    {S.REG0: _full(S.REG0), S.ETH_DST: _full(S.ETH_DST)},
    {S.ETH_TYPE: 0xFFFF, S.NW_PROTO: 0xFF, S.TP_DST: 0xFF00},
    {S.IN_PORT: _full(S.IN_PORT), S.ETH_TYPE: 0xFFFF, S.NW_TOS: 0xFF},
    {S.ETH_DST: 0x010000000000},
]

_ETH_TYPE_OF = {S.NW_DST: 0x0800, S.NW_SRC: 0x0800, S.IPV6_DST: 0x86DD}


def make_rules(n: int, rng: random.Random, masks=MASKS) -> list[Rule]:
    rules = []
    for _ in range(n):
        mask = rng.choice(masks)
        match = Match()
        eth_type = next((_ETH_TYPE_OF[s] for s in mask if s in _ETH_TYPE_OF), 0x0800)
        for slot, m in mask.items():
            value = eth_type if slot == S.ETH_TYPE else rng.getrandbits(SLOT_BITS[slot])
            if slot == S.NW_PROTO:
                value = rng.choice((6, 17))
            if slot in (S.IN_PORT, S.TP_SRC, S.TP_DST, S.REG0):
                value = rng.randrange(1, 2000)
            if m == 0x010000000000:
                value = m                 # "any multicast destination"
            match.set_slot(slot, value & m, m)
        rules.append(Rule(match, rng.randrange(0, 1000)))
    return rules


def make_flows(n: int, rules: list[Rule], rng: random.Random) -> list[tuple[int, ...]]:
    flows = []
    for _ in range(n):
        flow = [rng.getrandbits(min(SLOT_BITS[s], 32)) for s in range(N_SLOTS)]
        flow[S.ETH_TYPE] = rng.choice((0x0800, 0x0800, 0x86DD, 0x0806))
        flow[S.NW_PROTO] = rng.choice((6, 17, 1))
        if rng.random() < 0.7:        # most packets are aimed at some rule
            match = rng.choice(rules).match
            flow = [(f & ~m) | v for f, v, m in zip(flow, match.values, match.masks)]
        flows.append(tuple(f & _full(s) for s, f in enumerate(flow)))
    return flows


def bench_insert(n: int) -> None:
    rng = random.Random(1)
    rules = make_rules(n, rng)
    cls = Classifier()
    t0 = time.process_time()
    for rule in rules:
        cls.insert(rule, 1)
    elapsed = time.process_time() - t0
    print(f"insert: {n} rules, {cls.n_subtables} masks: {elapsed:.2f} s "
          f"({n / elapsed:,.0f} rules/s)")
    t0 = time.process_time()
    for rule in rules[: n // 2]:
        cls.remove(rule, 2)
    cls.collect(2)
    print(f"remove+collect: {n // 2} rules: {time.process_time() - t0:.2f} s")
    del cls
    tracemalloc.start()
    cls = Classifier()
    for rule in rules:
        cls.insert(rule, 1)
    current, _ = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(f"memory: {current / n:.0f} bytes/rule in the classifier "
          f"(not counting the rule and its Match)")


def bench_lookup(n_rules: int, n_lookups: int, prefix_slots, compile_after=0) -> None:
    rng = random.Random(2)
    rules = make_rules(n_rules, rng)
    cls = (Classifier(compile_after=compile_after) if prefix_slots is None
           else Classifier(prefix_slots, compile_after=compile_after))
    for rule in rules:
        cls.insert(rule, 1)
    flows = make_flows(2000, rules, rng)
    tries = "ipv4 tries" if prefix_slots is None else "no tries"
    if compile_after:
        tries += ", probe loop: not yet compiled"
    for label, pass_wc in (("with wc", True), ("no wc", False)):
        best = 0.0
        for _ in range(3):            # best of three: the machine is shared
            hits = 0
            t0 = time.process_time()
            for i in range(n_lookups):
                wc = [0] * N_SLOTS if pass_wc else None
                hits += cls.lookup(flows[i % len(flows)], 1, wc) is not None
            best = max(best, n_lookups / (time.process_time() - t0))
        print(f"lookup ({label}, {tries}): {n_rules} rules, {cls.n_subtables} masks: "
              f"{best:,.0f} lookups/s ({hits * 100 // n_lookups}% hit)")
    bits = 0
    for flow in flows:
        wc = [0] * N_SLOTS
        cls.lookup(flow, 1, wc)
        bits += sum(bin(w).count("1") for w in wc)
    union = [0] * N_SLOTS
    for rule in rules:
        union = [u | m for u, m in zip(union, rule.match.masks)]
    print(f"wildcards ({tries}): {bits / len(flows):.0f} bits un-wildcarded per lookup "
          f"on average (the union of all masks is "
          f"{sum(bin(u).count('1') for u in union)} bits)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rules", type=int, default=100_000)
    parser.add_argument("--lookup-rules", type=int, default=1000)
    parser.add_argument("--lookups", type=int, default=20_000)
    args = parser.parse_args()
    bench_lookup(args.lookup_rules, args.lookups, None)
    bench_lookup(args.lookup_rules, args.lookups, ())
    bench_lookup(args.lookup_rules, args.lookups, None, compile_after=10**9)
    bench_insert(args.rules)


if __name__ == "__main__":
    main()
