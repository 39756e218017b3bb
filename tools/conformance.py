#!/usr/bin/env python3
"""Run os-ken's OpenFlow switch test tool (``os_ken/tests/switch``) against pyvswitchd.

What it owns: the whole conformance run, from topology to verdict.

* **Topology** (``Topology``): two network namespaces made for this run, ``<p>t`` holding
  the *target* switch (pyvswitchd, dpid 1, ``datapath_type = "netdev"``, ``fail_mode =
  "secure"``, ports 1-3 = veths ``t1..t3``) and ``<p>x`` holding the *tester* switch
  (dpid 2, ports 1-3 = ``x1..x3``, the peers of ``t1..t3``).  The tester switch is Debian's
  Open vSwitch (userspace datapath, its own ovsdb-server, private rundir) or, with
  ``--tester-switch=pyvswitchd``, a second pyvswitchd.  A control veth joins the two
  namespaces; os-ken runs in the target namespace, so pyvswitchd reaches it on
  127.0.0.1 and the tester switch on 172.31.254.1.  IPv6 is disabled in both namespaces
  so no router solicitation or DAD frame ever reaches a port the tests count.
* **The tool**: os-ken 4.x has no ``osken-manager``; this file re-executes itself with
  ``--launch-tester`` to load ``os_ken.tests.switch.tester`` through ``AppManager`` with
  ``OSKEN_HUB_TYPE=eventlet`` (the native hub hangs on the first case) and the
  ``--test-switch-*`` options.  The tool prints one line per case and sends itself
  SIGTERM when done (exit status 143).
* **Supervision**: if the target pyvswitchd exits during a run it is restarted (the tool
  waits for both switches, the interrupted case fails); if the tool prints nothing for
  ``--stall`` seconds it is stopped and the cases it did not reach count as ``NOT RUN``.
* **Verdict**: per-case results are parsed from the tool's output (the case list is read
  from the JSON files, so every case is accounted for), printed as a table per version and
  suite, optionally written as JSON, written as a pass list, or compared with a pass list
  (exit status 1 when a case in the pass list no longer passes).

Everything this run creates (namespaces, veths, processes, run directories) is removed on
exit, also after a failure or Ctrl-C.  Needs root.

Examples::

    tools/conformance.py of13/action/00_OUTPUT.json      # one JSON file
    tools/conformance.py of13/group of13/meter           # whole suites
    tools/conformance.py of13 of14 of10                  # everything (about an hour)
    tools/conformance.py --subset ci --compare tests/conformance/pass_list.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

OF_NAMES = {"of10": ("openflow10", "OpenFlow10"), "of13": ("openflow13", "OpenFlow13"),
            "of14": ("openflow14", "OpenFlow14"), "of15": ("openflow15", "OpenFlow15")}

# The CI subset: a few minutes on a busy 2-core machine.  Group and meter cases send a
# 30 s packet stream each when the switch accepts them, so only one file of each is in
# the subset; action and match are sampled by file.
CI_SUBSET = [     # ~2 minutes: the meter file's three 30 s streams are most of it
    "of13/meter/01_DROP_01_PKTPS_00_100.json",
    "of13/action/00_OUTPUT.json",
    "of13/action/17_PUSH_VLAN.json",
    "of13/action/18_POP_VLAN.json",
    "of13/action/23_SET_NW_TTL_IPv4.json",
    "of13/action/24_DEC_NW_TTL_IPv4.json",
    "of13/action/25_SET_FIELD/03_ETH_DST.json",
    "of13/action/25_SET_FIELD/11_IPV4_SRC.json",
    "of13/match/00_IN_PORT.json",
    "of13/match/03_ETH_DST.json",
    "of13/match/05_ETH_TYPE.json",
    "of13/match/11_IPV4_SRC.json",
    "of13/match/13_TCP_SRC_IPv4.json",
    "of13/match/08_IP_DSCP_IPv4.json",      # pop_mpls, then the next table reads the IP
]


def suites_root() -> Path:
    import importlib.util
    spec = importlib.util.find_spec("os_ken")
    if spec is None or not spec.submodule_search_locations:
        sys.exit("os-ken is not installed in this Python (run `make setup`, use .venv)")
    return Path(list(spec.submodule_search_locations)[0]) / "tests" / "switch"


# --------------------------------------------------------------------------------------
# cases: what the JSON files promise
# --------------------------------------------------------------------------------------

@dataclass
class CaseFile:
    path: Path
    rel: str                      # e.g. of13/action/00_OUTPUT.json
    description: str              # the file's first string, how the tool names it
    cases: list[str]              # case ids (descriptions, "#n" added to repeats)


def case_ids(descriptions: list[str]) -> list[str]:
    seen: dict[str, int] = {}
    out = []
    for d in descriptions:
        seen[d] = seen.get(d, 0) + 1
        out.append(d if seen[d] == 1 else f"{d} #{seen[d]}")
    return out


def read_case_file(path: Path, root: Path) -> CaseFile:
    data = json.loads(path.read_text())
    desc = next((x for x in data if isinstance(x, str)), path.stem)
    cases = [str(x.get("description")) for x in data if isinstance(x, dict)]
    return CaseFile(path, path.relative_to(root).as_posix(), desc, case_ids(cases))


@dataclass
class Suite:
    version: str                  # of10, of13, of14
    name: str                     # action, match, group, meter
    files: list[CaseFile] = field(default_factory=list)
    # Files the tool never runs: it keys files by their description, so of two files
    # that share one only one runs (of10 has two such pairs).  We run the first in name
    # order and report the other as skipped, which also makes the tool's count ours.
    skipped: list[CaseFile] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.version}/{self.name}"


def select(specs: list[str], root: Path) -> list[Suite]:
    """Suites (in a stable order) holding the JSON files ``specs`` name: a version
    (``of13``), a suite (``of13/match``), a sub-directory or one JSON file, relative to
    os-ken's ``tests/switch`` or as a path."""
    chosen: dict[str, Path] = {}
    for spec in specs:
        p = Path(spec)
        if not p.is_absolute() and not p.exists():
            p = root / spec
        p = p.resolve()
        if not p.exists():
            sys.exit(f"{spec}: no such suite, directory or JSON file under {root}")
        try:
            p.relative_to(root)
        except ValueError:
            sys.exit(f"{spec}: not inside {root} (the tool's own suites)")
        files = [p] if p.is_file() else sorted(p.rglob("*.json"))
        for f in files:
            chosen[f.relative_to(root).as_posix()] = f
    suites: dict[str, Suite] = {}
    for rel in sorted(chosen):
        parts = rel.split("/")
        if len(parts) < 3 or parts[0] not in OF_NAMES:
            sys.exit(f"{rel}: expected <version>/<suite>/...json")
        s = suites.setdefault(f"{parts[0]}/{parts[1]}", Suite(parts[0], parts[1]))
        cf = read_case_file(chosen[rel], root)
        if any(f.description == cf.description for f in s.files):
            s.skipped.append(cf)
        else:
            s.files.append(cf)
    return list(suites.values())


# --------------------------------------------------------------------------------------
# the tool's output
# --------------------------------------------------------------------------------------

@dataclass
class CaseResult:
    file: str                     # file description
    case: str                     # case id
    status: str                   # OK, ERROR, NOT RUN
    detail: str = ""

    @property
    def key(self) -> str:
        return f"{self.file} :: {self.case}"


def parse_output(text: str, files: list[CaseFile]) -> tuple[list[CaseResult], tuple | None]:
    """Per-case results (in the tool's order) and the ``OK(n) / ERROR(m)`` summary."""
    by_desc = {f.description: f for f in files}
    results: list[CaseResult] = []
    current: CaseFile | None = None
    seen: dict[str, int] = {}
    summary = None
    for line in text.splitlines():
        # The tool prints a dot per second of a packet stream on stdout, without a
        # newline, so a dot run can sit in front of a result line.
        line = line.lstrip(".")
        stripped = line.strip()
        if not line.startswith(" ") and stripped in by_desc:
            current = by_desc[stripped]
            seen = {}
            continue
        if line.startswith("        ") and results and not results[-1].detail \
                and results[-1].status == "ERROR":
            results[-1].detail = stripped
            continue
        if line.startswith("    ") and not line.startswith("        ") and current:
            body = line[4:].rstrip()
            for status in ("OK", "ERROR"):
                if body.endswith(" " + status):
                    desc = body[: -len(status)].rstrip()
                    seen[desc] = seen.get(desc, 0) + 1
                    cid = desc if seen[desc] == 1 else f"{desc} #{seen[desc]}"
                    results.append(CaseResult(current.description, cid, status))
                    break
            continue
        if stripped.startswith("OK(") and "/ ERROR(" in stripped:
            try:
                ok = int(stripped.split("OK(")[1].split(")")[0])
                err = int(stripped.split("ERROR(")[1].split(")")[0])
                summary = (ok, err)
            except (IndexError, ValueError):
                pass
    return results, summary


def complete(results: list[CaseResult], files: list[CaseFile], why: str) -> list[CaseResult]:
    """Every case of ``files`` in file order, ``NOT RUN`` where the tool gave no verdict."""
    got = {(r.file, r.case): r for r in results}
    out = []
    for f in files:
        for c in f.cases:
            out.append(got.get((f.description, c)) or CaseResult(f.description, c,
                                                                   "NOT RUN", why))
    return out


# --------------------------------------------------------------------------------------
# processes and namespaces
# --------------------------------------------------------------------------------------

sys.path.insert(0, str(Path(__file__).resolve().parent))
from conformance_switches import (  # noqa: E402  (the topology and the switches)
    CTL_PORT, CTL_TARGET_IP, TARGET_DPID, TESTER_DPID, OvsSwitch, PyvsSwitch,
    Topology, pyvswitchd_toml, stop_pid,
)


# --------------------------------------------------------------------------------------
# the run
# --------------------------------------------------------------------------------------

def launch_tester(argv: list[str]) -> int:
    """Inside the subprocess: run os-ken's tester app (never returns normally: the tool
    SIGTERMs itself when it is done)."""
    p = argparse.ArgumentParser()
    p.add_argument("--dir", required=True)
    p.add_argument("--target-version", required=True)
    p.add_argument("--tester-version", default="openflow13")
    p.add_argument("--port", type=int, default=CTL_PORT)
    p.add_argument("--log", required=True)
    a = p.parse_args(argv)
    os.environ["OSKEN_HUB_TYPE"] = "eventlet"
    import logging
    logging.basicConfig(filename=a.log, level=logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")
    from os_ken.lib import hub
    hub.patch(thread=False)
    from os_ken import cfg
    from os_ken.base.app_manager import AppManager
    import os_ken.controller.controller  # noqa: F401  (registers the ofp_* options)
    import os_ken.flags  # noqa: F401  (registers the --test-switch-* options)
    import os_ken.log  # noqa: F401  (registers --log-file, which the tool reads)
    cfg.CONF(args=["--ofp-listen-host", "0.0.0.0", "--ofp-tcp-listen-port", str(a.port),
                   "--test-switch-target", TARGET_DPID, "--test-switch-tester", TESTER_DPID,
                   "--test-switch-dir", a.dir, "--test-switch-target-version",
                   a.target_version, "--test-switch-tester-version", a.tester_version],
             project="os_ken", default_config_files=[])
    manager = AppManager.get_instance()
    manager.load_apps(["os_ken.tests.switch.tester"])
    services = manager.instantiate_apps(**manager.create_contexts())
    try:
        hub.joinall(services)
    finally:
        manager.close()
    return 0


@dataclass
class SuiteRun:
    suite: Suite
    results: list[CaseResult]
    summary: tuple | None
    seconds: float
    notes: list[str]


class Runner:
    def __init__(self, args, root: Path) -> None:
        self.args = args
        self.root = root
        self.workdir = Path(tempfile.mkdtemp(prefix="pyvs-conformance-"))
        self.topo = Topology(args.prefix or f"pvc{os.getpid() % 10000}")
        self.tester_sw = None
        self.count = 0

    def log(self, msg: str) -> None:
        print(f"[conformance] {msg}", file=sys.stderr, flush=True)

    def setup(self) -> None:
        self.topo.up()
        ctl = f"tcp:{CTL_TARGET_IP}:{CTL_PORT}"
        if self.args.tester_switch == "ovs":
            self.tester_sw = OvsSwitch(self.workdir, "tester", self.topo.tester_ns, "brx",
                                       TESTER_DPID, ["x1", "x2", "x3"], "OpenFlow13", ctl)
        else:
            self.tester_sw = PyvsSwitch(self.workdir, "tester", self.topo.tester_ns,
                                        pyvswitchd_toml("brx", TESTER_DPID, "OpenFlow13",
                                                        ["x1", "x2", "x3"], ctl))
        self.tester_sw.start()

    def teardown(self) -> None:
        """Idempotent: stop the tester switch, delete the namespaces, the run dir."""
        if self.tester_sw is not None:
            self.tester_sw.stop()
            self.tester_sw = None
        self.topo.down()
        if not self.workdir.exists():
            return
        if self.args.keep_logs:
            self.log(f"logs kept in {self.workdir}")
        else:
            shutil.rmtree(self.workdir, ignore_errors=True)

    def run_suite(self, suite: Suite) -> SuiteRun:
        t0 = time.monotonic()
        self.count += 1
        sdir = self.workdir / f"{self.count:02d}-{suite.key.replace('/', '-')}"
        cases = sdir / "cases"
        cases.mkdir(parents=True)
        for i, f in enumerate(suite.files):   # the tool takes one directory: link the files
            (cases / f"{i:03d}-{f.path.name}").symlink_to(f.path)
        ofname, ofproto = OF_NAMES[suite.version]
        ports, ctl = ["t1", "t2", "t3"], f"tcp:127.0.0.1:{CTL_PORT}"
        if self.args.target_switch == "ovs":    # to measure Open vSwitch itself
            target = OvsSwitch(sdir, "target", self.topo.target_ns, "brt", TARGET_DPID,
                               ports, ofproto, ctl)
        else:
            target = PyvsSwitch(sdir, "target", self.topo.target_ns,
                                pyvswitchd_toml("brt", TARGET_DPID, ofproto, ports, ctl))
        out_path = sdir / "tester.out"
        notes: list[str] = []
        tester = None
        try:
            target.start()
            with open(out_path, "wb") as out:
                tester = subprocess.Popen(
                    ["ip", "netns", "exec", self.topo.target_ns, sys.executable,
                     str(Path(__file__).resolve()), "--launch-tester", "--dir", str(cases),
                     "--target-version", ofname, "--log", str(sdir / "osken.log")],
                    stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                    env=dict(os.environ, OSKEN_HUB_TYPE="eventlet", PYTHONUNBUFFERED="1"))
            why = self._supervise(tester, target, out_path, suite, notes)
        finally:
            if tester is not None and tester.poll() is None:
                stop_pid(tester.pid)
                tester.wait()
            target.stop()
        text = out_path.read_text(errors="replace")
        results, summary = parse_output(text, suite.files)
        if getattr(target, "restarts", 0):
            notes.append(f"target pyvswitchd exited and was restarted {target.restarts} "
                         f"time(s); stderr tail: "
                         + target.stderr.read_text(errors="replace")[-600:].strip())
        for f in suite.skipped:
            twin = next(g.rel for g in suite.files if g.description == f.description)
            notes.append(f"{f.rel} ({len(f.cases)} cases) not run: the tool keys files by "
                         f"description and {twin} has the same one")
        res = complete(results, suite.files, why or "no verdict from the tool")
        return SuiteRun(suite, res, summary, time.monotonic() - t0, notes)

    def _supervise(self, tester, target, out_path: Path, suite: Suite, notes) -> str:
        """Wait for the tool to finish; restart a dead target; stop a stalled tool."""
        last_size, last_change = -1, time.monotonic()
        total = sum(len(f.cases) for f in suite.files)
        done_lines = 0
        while tester.poll() is None:
            time.sleep(0.5)
            size = out_path.stat().st_size
            now = time.monotonic()
            if size != last_size:
                last_size, last_change = size, now
                text = out_path.read_text(errors="replace")
                n = len(parse_output(text, suite.files)[0])
                if n != done_lines:
                    done_lines = n
                    if self.args.progress:
                        self.log(f"{suite.key}: {n}/{total} cases")
            if not target.alive():
                code = target.proc.returncode if getattr(target, "proc", None) else "?"
                notes.append(f"the target switch exited ({code}) after {done_lines} case(s)")
                self.log(notes[-1] + "; restarting it")
                target.restart()
            if not self.tester_sw.alive():
                self.tester_sw.restart()
            if now - last_change > self.args.stall:
                notes.append(f"the tool printed nothing for {self.args.stall:.0f}s after "
                             f"{done_lines} case(s); stopped")
                self.log(notes[-1])
                return "the tool stalled before this case"
        if tester.returncode not in (143, -15, 0):
            notes.append(f"the tool exited with status {tester.returncode}")
        return ""


# --------------------------------------------------------------------------------------
# report, pass lists
# --------------------------------------------------------------------------------------

def print_table(runs: list[SuiteRun], show_failures: bool = True) -> None:
    print()
    print(f"{'suite':<14} {'cases':>6} {'OK':>6} {'ERROR':>6} {'NOT RUN':>8} {'time':>8}")
    for r in runs:
        c = {s: sum(1 for x in r.results if x.status == s) for s in ("OK", "ERROR", "NOT RUN")}
        print(f"{r.suite.key:<14} {len(r.results):>6} {c['OK']:>6} {c['ERROR']:>6} "
              f"{c['NOT RUN']:>8} {r.seconds:>7.0f}s")
    for r in runs:
        if r.summary is not None:
            ok = sum(1 for x in r.results if x.status == "OK")
            if r.summary[0] != ok:
                print(f"note: {r.suite.key}: the tool's summary says OK({r.summary[0]}) / "
                      f"ERROR({r.summary[1]})")
        for n in r.notes:
            print(f"note: {r.suite.key}: {n}")
    if not show_failures:
        return
    for r in runs:
        bad = [x for x in r.results if x.status != "OK"]
        if not bad:
            continue
        print(f"\n{r.suite.key}: {len(bad)} failing")
        for x in bad:
            print(f"  {x.status:<7} {x.key}")
            if x.detail:
                print(f"          {x.detail[:300]}")


def results_json(runs: list[SuiteRun], tester_switch: str) -> dict:
    return {"tester_switch": tester_switch,
            "suites": {r.suite.key: {
                "files": [f.rel for f in r.suite.files],
                "seconds": round(r.seconds),
                "summary": list(r.summary) if r.summary else None,
                "notes": r.notes,
                "cases": [{"file": x.file, "case": x.case, "status": x.status,
                           "detail": x.detail} for x in r.results]} for r in runs}}


THROUGHPUT_MISS = "Received unexpected throughput"


def level(x: CaseResult) -> int:
    """2: OK; 1: a throughput case whose traffic flowed at a rate outside the tool's 10 %
    band (the rate the tool's own packet stream reaches depends on the machine's load);
    0: anything else."""
    if x.status == "OK":
        return 2
    return 1 if x.status == "ERROR" and x.detail.startswith(THROUGHPUT_MISS) else 0


def pass_list(runs: list[SuiteRun], tester_switch: str) -> dict:
    return {"about": "cases of os-ken's switch test tool that pyvswitchd passes ('pass') "
                     "and throughput cases whose traffic flows but off the tool's rate "
                     "('flows'); written by tools/conformance.py --write-pass-list",
            "tester_switch": tester_switch,
            "suites": {r.suite.key: {
                "files": [f.rel for f in r.suite.files],
                "pass": sorted(x.key for x in r.results if level(x) == 2),
                "flows": sorted(x.key for x in r.results if level(x) == 1)}
                for r in runs}}


def compare(runs: list[SuiteRun], reference: dict) -> tuple[list[tuple], list[str]]:
    """(regressions as (suite, case key, what happened), improvements) against a pass
    list, over the files that ran.

    A case listed under 'pass' regresses when it no longer passes, except that a
    throughput case which still flows (level 1) is not held to the tool's rate band, which
    the tool's own sender misses on a loaded machine; a case listed under 'flows' regresses
    when its traffic no longer flows or its group/meter is refused."""
    regressions, gains = [], []
    for r in runs:
        ref = reference.get("suites", {}).get(r.suite.key)
        if ref is None:
            continue
        ran_files = {f.description for f in r.suite.files}
        ref_files = set(ref.get("files", []))
        want = {k: 2 for k in ref.get("pass", [])}
        want.update({k: 1 for k in ref.get("flows", [])})
        now = {x.key: x for x in r.results}
        for key in sorted(want):
            if key.split(" :: ", 1)[0] not in ran_files:
                continue
            x = now.get(key)
            got = level(x) if x else -1
            if got >= want[key] or (got == 1 and want[key] == 2):
                continue
            detail = f"{x.status}: {x.detail}" if x else "the case no longer exists"
            regressions.append((r.suite.key, key, detail))
        for x in r.results:
            f = next(f for f in r.suite.files if f.description == x.file)
            if f.rel in ref_files and level(x) > want.get(x.key, 0):
                gains.append(f"{r.suite.key}: {x.key}" + ("" if level(x) == 2 else
                                                         " (flows, rate off)"))
    return regressions, gains


def retry_again(runner: Runner, runs: list[SuiteRun], regressions: list[tuple]) -> None:
    """Run the files holding regressed cases once more and keep each case's better
    result (timing cases, e.g. table statistics read while a busy machine is still
    crediting the previous case's packets, can fail once)."""
    for r in runs:
        bad_files = {key.split(" :: ", 1)[0] for sk, key, _ in regressions if sk == r.suite.key}
        files = [f for f in r.suite.files if f.description in bad_files]
        if not files:
            continue
        runner.log(f"{r.suite.key}: running {len(files)} file(s) again for "
                   f"{sum(1 for sk, *_ in regressions if sk == r.suite.key)} regressed case(s)")
        again = runner.run_suite(Suite(r.suite.version, r.suite.name, files))
        better = {x.key: x for x in again.results}
        r.results = [better[x.key] if x.key in better and level(better[x.key]) > level(x)
                     else x for x in r.results]
        r.notes.append(f"ran {', '.join(f.rel for f in files)} again (best result kept)")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--launch-tester"]:
        return launch_tester(argv[1:])
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", nargs="*",
                   help="of10|of13|of14, a suite (of13/match), a sub-directory or a JSON file")
    p.add_argument("--subset", choices=["ci"], help="the CI subset (CI_SUBSET in this file)")
    p.add_argument("--tester-switch", choices=["ovs", "pyvswitchd"], default="ovs")
    p.add_argument("--target-switch", choices=["pyvswitchd", "ovs"], default="pyvswitchd",
                   help="the switch under test (ovs: measure Open vSwitch the same way)")
    p.add_argument("--json", metavar="FILE", help="write every case's result as JSON")
    p.add_argument("--write-pass-list", metavar="FILE")
    p.add_argument("--compare", metavar="FILE",
                   help="pass list to compare with: exit 1 on any regression")
    p.add_argument("--retries", type=int, default=1,
                   help="with --compare: run the files holding regressed cases again, up "
                        "to this many times; a case regresses only if it fails every time")
    p.add_argument("--stall", type=float, default=150.0,
                   help="seconds without output after which the tool is stopped")
    p.add_argument("--keep-logs", action="store_true", help="keep the run directory")
    p.add_argument("--prefix", default="", help="namespace name prefix")
    p.add_argument("--progress", action="store_true", help="report each case's completion")
    p.add_argument("--list", action="store_true", help="list the selected files and stop")
    args = p.parse_args(argv)
    root = suites_root()
    specs = list(args.what) + (CI_SUBSET if args.subset == "ci" else [])
    if not specs:
        p.error("name what to run (e.g. of13/action/00_OUTPUT.json, of13/group, of13) "
                "or --subset ci")
    suites = select(specs, root)
    if args.list:
        for s in suites:
            for f in s.files:
                print(f"{f.rel}\t{len(f.cases)}\t{f.description}")
        return 0
    if os.geteuid() != 0:
        sys.exit("conformance runs need root (network namespaces)")
    # The target and tester run this Python (the venv that has pyvswitch and os-ken).
    runner = Runner(args, root)

    def on_term(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)
    runs: list[SuiteRun] = []
    reference = json.loads(Path(args.compare).read_text()) if args.compare else None
    try:
        runner.setup()
        for s in suites:
            n = sum(len(f.cases) for f in s.files)
            runner.log(f"{s.key}: {len(s.files)} file(s), {n} case(s)")
            runs.append(runner.run_suite(s))
        for _ in range(args.retries if reference else 0):
            regressions = compare(runs, reference)[0]
            if not regressions:
                break
            retry_again(runner, runs, regressions)
    except KeyboardInterrupt:
        runner.log("interrupted; cleaning up")
        runner.teardown()
        if runs:
            print_table(runs, show_failures=False)
        return 130
    finally:
        runner.teardown()
    print_table(runs)
    if args.json:
        Path(args.json).write_text(json.dumps(results_json(runs, args.tester_switch),
                                              indent=1) + "\n")
    if args.write_pass_list:
        Path(args.write_pass_list).parent.mkdir(parents=True, exist_ok=True)
        Path(args.write_pass_list).write_text(
            json.dumps(pass_list(runs, args.tester_switch), indent=1) + "\n")
    if reference is not None:
        regressions, gains = compare(runs, reference)
        if gains:
            print(f"\n{len(gains)} case(s) pass that the pass list does not have "
                  f"(update it with --write-pass-list):")
            for g in gains:
                print(f"  + {g}")
        if regressions:
            print(f"\n{len(regressions)} REGRESSION(S) against {args.compare}:")
            for suite_key, key, detail in regressions:
                print(f"  - {suite_key}: {key}\n      {detail[:300]}")
            return 1
        print(f"\nno regression against {args.compare}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
