"""os-ken's OpenFlow switch test tool against pyvswitchd: the CI subset, no regression.

``tools/conformance.py --subset ci`` builds the two-switch topology (pyvswitchd as the
target, Open vSwitch's userspace datapath as the tester, each in a namespace of its own),
runs the tool on the files in ``CI_SUBSET`` and compares every case with the committed
pass list ``tests/conformance/pass_list.json``: a case that passed when the list was written
and fails now is a regression and fails this test.  When a change makes more cases pass,
refresh the list (see docs/conformance.md).  A few minutes; needs root.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TOOL = REPO / "tools" / "conformance.py"
PASS_LIST = REPO / "tests" / "conformance" / "pass_list.json"


def load_tool():
    spec = importlib.util.spec_from_file_location("conformance_tool", TOOL)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = mod          # dataclasses look their module up there
    spec.loader.exec_module(mod)
    return mod


def test_pass_list_covers_the_ci_subset():
    tool = load_tool()
    ref = json.loads(PASS_LIST.read_text())
    files = sorted(f for s in ref["suites"].values() for f in s["files"])
    assert files == sorted(tool.CI_SUBSET), "pass list and CI_SUBSET name different files"
    root = tool.suites_root()
    suites = tool.select(tool.CI_SUBSET, root)
    known = {f"{f.description} :: {c}" for s in suites for f in s.files for c in f.cases}
    listed = {k for s in ref["suites"].values() for k in s["pass"]}
    assert listed <= known, f"pass list names cases the tool does not have: {listed - known}"
    assert listed, "the pass list is empty"


def test_output_parsing_and_regression_check():
    """The parser reads the tool's per-case lines; the comparison flags a lost pass."""
    tool = load_tool()
    f = tool.CaseFile(Path("x.json"), "of13/action/x.json", "action: 00_OUTPUT",
                      ["a-->'actions=output:2'", "b-->'actions=output:2'", "c"])
    text = "\n".join([
        "--- Test start ---", "waiting for switches connection...", "action: 00_OUTPUT",
        "    " + "a-->'actions=output:2'".ljust(100) + " OK",
        "......    " + "b-->'actions=output:2'".ljust(100) + " ERROR",
        "        Received incorrect packet: ipv4(ttl=64)",
        "---  Test end  ---", "", "OK(1) / ERROR(1)"])
    results, summary = tool.parse_output(text, [f])
    assert summary == (1, 1)
    assert [(r.case, r.status) for r in results] == [
        ("a-->'actions=output:2'", "OK"), ("b-->'actions=output:2'", "ERROR")]
    assert results[1].detail == "Received incorrect packet: ipv4(ttl=64)"
    full = tool.complete(results, [f], "stalled")
    assert [r.status for r in full] == ["OK", "ERROR", "NOT RUN"]
    run = tool.SuiteRun(tool.Suite("of13", "action", [f]), full, summary, 1.0, [])
    ref = {"suites": {"of13/action": {"files": ["of13/action/x.json"],
                                      "pass": ["action: 00_OUTPUT :: a-->'actions=output:2'",
                                               "action: 00_OUTPUT :: c"]}}}
    regressions, gains = tool.compare([run], ref)
    assert len(regressions) == 1 and "action: 00_OUTPUT :: c" in regressions[0]
    assert gains == []

    # Throughput cases: one that flows off the tool's rate band is held as "flows"; a
    # case listed as flowing regresses when its group/meter is refused.
    g = tool.CaseFile(Path("g.json"), "of13/group/g.json", "group: 00_ALL", ["t1", "t2"])
    rate = "Received unexpected throughput: {'in_port': 2} 1656.99kbps"
    refused = "Failed to add groups: OFPErrorMsg[type=0x06, code=0x00]"
    now = [tool.CaseResult("group: 00_ALL", "t1", "ERROR", rate),
           tool.CaseResult("group: 00_ALL", "t2", "ERROR", refused)]
    run = tool.SuiteRun(tool.Suite("of13", "group", [g]), now, None, 1.0, [])
    ref = {"suites": {"of13/group": {"files": ["of13/group/g.json"],
                                     "pass": ["group: 00_ALL :: t1"],
                                     "flows": ["group: 00_ALL :: t2"]}}}
    regressions, _ = tool.compare([run], ref)
    assert len(regressions) == 1 and "group: 00_ALL :: t2" in regressions[0]
    written = tool.pass_list([run], "ovs")["suites"]["of13/group"]
    assert written["flows"] == ["group: 00_ALL :: t1"] and written["pass"] == []


def test_ci_subset_has_no_regression():
    r = subprocess.run([sys.executable, str(TOOL), "--subset", "ci", "--compare",
                        str(PASS_LIST)], capture_output=True, text=True, timeout=1200,
                       cwd=str(REPO))
    assert r.returncode == 0, f"conformance regressions:\n{r.stdout[-6000:]}\n{r.stderr[-3000:]}"
    assert "no regression against" in r.stdout
