"""Run the Faucet controller (PyPI ``faucet``, from its own venv) for integration tests.

Faucet pins an older os-ken than the project's ``.venv``, so it lives in ``.venv-faucet``,
made (once, then cached) by ``tools/faucet_venv.sh``.  ``Faucet`` starts
``osken-manager faucet.faucet`` from that venv, optionally inside a network namespace, with
its configuration, logs and Prometheus port all private to the test (FAUCET_CONFIG,
FAUCET_LOG, FAUCET_EXCEPTION_LOG, FAUCET_PROMETHEUS_ADDR/PORT), listening for switches on
127.0.0.1:PORT.  ``cleanup`` always kills the process and removes its files.

Imports nothing of pyvswitch; the test talks to the switch through ``harness.Switch``.
"""

from __future__ import annotations

import os
import subprocess
import time
from pathlib import Path

from osken_launcher import is_listening
from processes import TestProcess

REPO = Path(__file__).resolve().parents[2]
VENV_SCRIPT = REPO / "tools" / "faucet_venv.sh"


def faucet_venv(timeout: float = 600) -> Path:
    """The Faucet venv, made by tools/faucet_venv.sh if missing (about a minute, once)."""
    r = subprocess.run(["bash", str(VENV_SCRIPT)], capture_output=True, text=True,
                       timeout=timeout)
    if r.returncode != 0:
        raise AssertionError(f"tools/faucet_venv.sh failed ({r.returncode}):\n"
                             f"{r.stderr[-4000:]}")
    return Path(r.stdout.strip().splitlines()[-1])


class Faucet(TestProcess):
    """One Faucet process, seen from the test."""

    def __init__(self, venv: Path, config_yaml: str, port: int,
                 netns: str | None = None) -> None:
        super().__init__("pyvs-faucet-", "faucet.log")
        self.venv = venv
        self.port = port
        self.netns = netns
        self.config = self.dir / "faucet.yaml"
        self.config.write_text(config_yaml)
        self.exception_log = self.dir / "faucet_exception.log"
        self.stderr = self.dir / "stderr.log"

    def start(self, timeout: float = 30.0) -> "Faucet":
        from harness import free_tcp_port
        env = dict(os.environ,
                   FAUCET_CONFIG=str(self.config),
                   FAUCET_LOG=str(self.log),
                   FAUCET_EXCEPTION_LOG=str(self.exception_log),
                   FAUCET_PROMETHEUS_ADDR="127.0.0.1",
                   FAUCET_PROMETHEUS_PORT=str(free_tcp_port()),
                   FAUCET_LOG_LEVEL="DEBUG",
                   PATH=f"{self.venv / 'bin'}:{os.environ.get('PATH', '')}")
        env.pop("VIRTUAL_ENV", None)
        env.pop("PYTHONPATH", None)
        argv = (["ip", "netns", "exec", self.netns] if self.netns else []) + [
            str(self.venv / "bin" / "osken-manager"), "--ofp-listen-host=127.0.0.1",
            f"--ofp-tcp-listen-port={self.port}", "faucet.faucet"]
        with open(self.stderr, "wb") as err:
            self.proc = subprocess.Popen(argv, env=env, stdin=subprocess.DEVNULL,
                                         stdout=err, stderr=subprocess.STDOUT,
                                         cwd=str(self.dir))
        pid = self.proc.pid if self.netns else None
        deadline = time.monotonic() + timeout
        while not is_listening(self.port, pid=pid):
            if self.proc.poll() is not None:
                raise AssertionError(f"faucet exited ({self.proc.returncode}):\n"
                                     f"{self.output()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"faucet did not listen on {self.port} in {timeout}s:\n"
                                     f"{self.output()}")
            time.sleep(0.1)
        return self

    def exceptions(self) -> str:
        if not self.exception_log.exists():
            return ""
        return self.exception_log.read_text(errors="replace")

    def output(self) -> str:
        err = self.stderr.read_text(errors="replace") if self.stderr.exists() else ""
        return (f"--- faucet.log\n{self.log_text()[-4000:]}\n--- exceptions\n"
                f"{self.exceptions()[-3000:]}\n--- stderr\n{err[-3000:]}")

