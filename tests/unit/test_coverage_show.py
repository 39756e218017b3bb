"""coverage/show in Open vSwitch's layout, with 5 s / minute / hour rates from run(now)."""

import re

from pyvswitch.util import coverage


def _line(name: str) -> str:
    return next(line for line in coverage.show().splitlines() if line.startswith(name + " "))


def test_rates_and_totals_in_ovs_layout():
    c = coverage.Counter("test_cov_rates")
    coverage.Counter("test_cov_never")
    start = (coverage.next_run() or 0) + 1
    coverage.run(start)                 # closes the slot in progress (or starts timing)
    t = coverage.next_run()
    coverage.run(t)
    c.inc(50)
    coverage.run(t + 5000)              # 50 events in the last 5 s slot
    line = _line("test_cov_rates")
    assert re.fullmatch(r"test_cov_rates {10} {2}10\.0/sec {5}0\.833/sec {8}0\.0139/sec"
                        r" {3}total: 50", line), line
    text = coverage.show()
    assert re.match(r"Event coverage, avg rate over last: 5 seconds, last minute, last "
                    r"hour,  hash=[0-9a-f]{8}:\n", text)
    assert re.search(r"^\d+ events never hit$", text, re.M)
    assert "test_cov_never" not in text
    # A loop that slept 3 slots spreads what happened over them.
    c.inc(30)
    coverage.run(t + 5000 + 15000)
    assert _line("test_cov_rates").split()[1] == "2.0/sec"
    assert _line("test_cov_rates").endswith("total: 80")
