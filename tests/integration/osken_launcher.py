"""Run os-ken (a real OpenFlow controller framework) for integration tests.

os-ken 4.x ships no ``osken-manager`` script, so this file is both:

* **the launcher**, run as a subprocess::

      python osken_launcher.py --port PORT --app osken_apps.recorder [--app ...]
                               --out EVENTS.jsonl [--cmd COMMANDS.jsonl] [--ofp 1.3]
                               [--connect 127.0.0.1:PORT] [--log FILE]

  It sets ``OSKEN_HUB_TYPE=eventlet`` before os-ken is imported (with the native hub
  os-ken hangs), configures ``cfg.CONF`` to listen for switches on 127.0.0.1:PORT (and,
  with ``--connect``, to connect out to a switch's passive listener), loads the apps with
  ``AppManager`` (no wsapi) and runs until SIGTERM, on which it records a ``stopped``
  event and exits 0.  Apps (``tests/integration/osken_apps``) write what they observe as
  JSON lines to ``--out`` and read instructions from ``--cmd``.

* **the test-side helper** ``OsKen``: start/stop one such process, read its events, send
  it commands and wait for their answers.  ``stop`` always kills the process (SIGKILL after
  a grace period), so a fixture calling it in its teardown never leaves one behind.

Time: events carry ``time.monotonic()`` (one clock for every process on the machine), so
tests can compare them with their own clock.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from processes import TestProcess

HERE = Path(__file__).resolve().parent


# --------------------------------------------------------------------------------------
# launcher (runs inside the subprocess)
# --------------------------------------------------------------------------------------

def _launch(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="run os-ken apps for a test")
    parser.add_argument("--port", type=int, required=True,
                        help="TCP port to listen on for switches (127.0.0.1)")
    parser.add_argument("--app", action="append", required=True,
                        help="app module(s), e.g. osken_apps.recorder; ':' or ',' separated")
    parser.add_argument("--out", required=True, help="file the apps append JSON lines to")
    parser.add_argument("--cmd", default="", help="JSON-lines command file apps poll")
    parser.add_argument("--ofp", default="1.3", help="OpenFlow version(s), e.g. 1.3,1.4")
    parser.add_argument("--connect", default="",
                        help="HOST:PORT of a switch's passive listener to connect to")
    parser.add_argument("--log", default="", help="os-ken log file (default stderr)")
    args = parser.parse_args(argv)

    # Everything the apps need travels in the environment, read when they are imported.
    os.environ["OSKEN_HUB_TYPE"] = "eventlet"
    os.environ["OSKEN_TEST_OUT"] = args.out
    os.environ["OSKEN_TEST_CMD"] = args.cmd
    os.environ["OSKEN_TEST_OFP"] = args.ofp
    sys.path.insert(0, str(HERE))

    import logging
    logging.basicConfig(filename=args.log or None, level=logging.INFO,
                        format="%(asctime)s %(name)s %(levelname)s %(message)s")

    from os_ken.lib import hub
    hub.patch(thread=False)
    from os_ken import cfg
    from os_ken.base.app_manager import AppManager
    import os_ken.controller.controller  # noqa: F401  (registers the ofp_* options)
    from osken_apps import common

    cli = ["--ofp-listen-host", "127.0.0.1", "--ofp-tcp-listen-port", str(args.port)]
    if args.connect:
        cli += ["--ofp-switch-address-list", args.connect,
                "--ofp-switch-connect-interval", "1"]
    cfg.CONF(args=cli, project="os_ken", default_config_files=[])

    def on_term(signum, frame):
        common.report("stopped", signal=signum)
        os._exit(0)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)

    apps = [a for spec in args.app for part in spec.split(":") for a in part.split(",") if a]
    manager = AppManager.get_instance()
    manager.load_apps(apps)
    contexts = manager.create_contexts()
    services = manager.instantiate_apps(**contexts)
    common.report("started", apps=apps, port=args.port)
    try:
        hub.joinall(services)
    finally:
        manager.close()
    return 0


# --------------------------------------------------------------------------------------
# test side
# --------------------------------------------------------------------------------------

def is_listening(port: int, host_hex: str = "0100007F", pid: int | None = None) -> bool:
    """True when something LISTENs on 127.0.0.1:``port`` (read from /proc, no connect);
    with ``pid``, in that process's network namespace."""
    want = f"{host_hex}:{port:04X}"
    table = f"/proc/{pid}/net/tcp" if pid else "/proc/net/tcp"
    try:
        lines = Path(table).read_text().splitlines()[1:]
    except OSError:
        return False
    for line in lines:
        fields = line.split()
        if len(fields) > 3 and fields[1] == want and fields[3] == "0A":
            return True
    return False


class OsKen(TestProcess):
    """One os-ken process running test apps, seen from the test."""

    def __init__(self, port: int, apps: list[str], ofp: str = "1.3", connect: str = "",
                 name: str = "osken", netns: str | None = None) -> None:
        super().__init__(f"pyvs-{name}-", "osken.log")
        self.port = port
        self.netns = netns          # run os-ken inside this network namespace
        self.apps = apps
        self.ofp = ofp
        self.connect = connect
        self.out = self.dir / "events.jsonl"
        self.cmd = self.dir / "commands.jsonl"
        self._next_id = 0
        self.listening_at: float | None = None

    def start(self, timeout: float = 20.0) -> "OsKen":
        self.out.write_text("")
        self.cmd.write_text("")
        env = dict(os.environ, OSKEN_HUB_TYPE="eventlet")
        argv = (["ip", "netns", "exec", self.netns] if self.netns else []) + [
                sys.executable, str(HERE / "osken_launcher.py"), "--port", str(self.port),
                "--out", str(self.out), "--cmd", str(self.cmd), "--ofp", self.ofp,
                "--log", str(self.log)]
        for app in self.apps:
            argv += ["--app", app]
        if self.connect:
            argv += ["--connect", self.connect]
        self.proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
                                     cwd=str(HERE))
        pid = self.proc.pid if self.netns else None
        self._wait(lambda: self._alive() and is_listening(self.port, pid=pid), timeout,
                   f"os-ken to listen on port {self.port}")
        self.listening_at = time.monotonic()
        return self

    def _alive(self) -> bool:
        if self.proc is None or self.proc.poll() is not None:
            code = None if self.proc is None else self.proc.returncode
            raise AssertionError(f"os-ken exited ({code}):\n{self.log_text()}")
        return True

    # --- events -----------------------------------------------------------------------
    def events(self, kind: str | None = None) -> list[dict]:
        out = []
        for line in self.out.read_text().splitlines():
            if not line.strip():
                continue
            try:
                ev = json.loads(line)
            except ValueError:
                continue  # a line still being written
            if kind is None or ev.get("event") == kind:
                out.append(ev)
        return out

    def wait_event(self, kind: str, pred=lambda ev: True, timeout: float = 10.0) -> dict:
        def find():
            self._alive()
            for ev in self.events(kind):
                if pred(ev):
                    return ev
            return None
        return self._wait(find, timeout, f"os-ken event {kind!r}")

    # --- commands ---------------------------------------------------------------------
    def send(self, op: str, **fields) -> int:
        """Append a command for the apps; returns its id (replies carry it as ``cmd``)."""
        self._next_id += 1
        line = json.dumps({"id": self._next_id, "op": op, **fields})
        with open(self.cmd, "a") as f:
            f.write(line + "\n")
        return self._next_id

    def answer(self, cmd_id: int, timeout: float = 10.0) -> dict:
        """The first reply or error the switch sent to command ``cmd_id``."""
        def find():
            self._alive()
            for ev in self.events():
                if ev.get("cmd") == cmd_id and ev.get("event") != "sent":
                    return ev
            return None
        return self._wait(find, timeout, f"an answer to command {cmd_id}")

    def request(self, op: str, timeout: float = 10.0, **fields) -> dict:
        return self.answer(self.send(op, **fields), timeout)

    def _wait(self, predicate, timeout: float, what: str):
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() >= deadline:
                raise AssertionError(f"timed out after {timeout}s waiting for {what}; "
                                     f"events so far: {self.events() if self.out.exists() else []}"
                                     f"\nos-ken log:\n{self.log_text()[-3000:]}")
            time.sleep(0.05)


if __name__ == "__main__":
    sys.exit(_launch())
