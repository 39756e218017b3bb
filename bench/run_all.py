#!/usr/bin/env python3
"""`make bench`: every benchmark, one after another, each printing its own table with
ratios against Open vSwitch measured in the same run.  Pass --quick for short runs."""

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
QUICK = "--quick" in sys.argv

BENCHES = [
    ("forwarding (veth, 64-byte UDP)", ["fwd_bench.py", "--rounds", "3" if QUICK else "5",
                                        "--secs", "2" if QUICK else "3"]),
    ("packet-ins", ["pktin_bench.py", "--seconds", "4" if QUICK else "8"]),
    ("flow tables", ["flowmod_bench.py", "--flows", "10000" if QUICK else "100000"]),
    ("new flows through the miss path (no I/O, no reference)", ["miss_bench.py"]),
    ("classifier (no reference)", ["classifier_bench.py"]),
    ("flow key extraction (no reference)", ["extract_bench.py"]),
]

status = 0
for title, argv in BENCHES:
    print(f"\n=== {title} ===", flush=True)
    r = subprocess.run([sys.executable, str(HERE / argv[0]), *argv[1:]])
    status |= r.returncode
sys.exit(status)
