"""A helper process a test starts (a controller, usually): its private directory and log
file, and a stop that cannot leave it running.  Subclasses add ``start`` and what the
test reads back from the process.  Shared by the os-ken, Ryu, Faucet and
ovs-testcontroller wrappers."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

#: The interpreter the tests run pyvswitchd under: this one, or the one the environment
#: names in PYVSWITCH_DAEMON_PYTHON (``make test`` runs a set of files a second time with
#: the daemon on PyPy, the faster runtime; see the Makefile).
DAEMON_PYTHON = os.environ.get("PYVSWITCH_DAEMON_PYTHON") or sys.executable


class TestProcess:
    __test__ = False               # not a pytest test class

    def __init__(self, prefix: str, log_name: str) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix=prefix))
        self.log = self.dir / log_name
        self.proc: subprocess.Popen | None = None

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self, sig: int = signal.SIGTERM, grace: float = 5.0) -> int | None:
        """Stop the process (``sig`` first, SIGKILL after ``grace`` seconds); its exit
        status, or None if it never started."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(grace)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
