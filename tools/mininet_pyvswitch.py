"""Mininet switch class that runs pyvswitchd, one daemon per Mininet switch.

    mn --custom tools/mininet_pyvswitch.py --switch pyvswitch \\
       --controller remote,ip=127.0.0.1,port=6653 --test pingall

For each switch, ``PyvSwitch.start`` writes a TOML configuration (one bridge named after
the switch, Mininet's datapath id, every Mininet interface as a ``system`` port on its
Mininet port number, one ``tcp:`` controller per Mininet controller, fail mode ``secure``
unless ``failMode='standalone'``), starts ``pyvswitchd --detach`` with a run directory of
its own (``/tmp/pyvs-mn-<switch>-*``: sockets, pidfile, log, config) and waits for the
bridge's management socket.  ``stop`` sends SIGTERM, waits for the daemon to exit and
removes the directory.  ``dpctl`` (Mininet's CLI command) runs ``ovs-ofctl`` against the
switch, ``connected`` asks the daemon (``ofproto/show-connections``) whether a controller
session is up, so ``mn --wait`` works.

``mn -c`` also stops any pyvswitchd a crashed run left behind (found by the pidfiles in
``/tmp/pyvs-mn-*``).  With ``PYVSWITCH_MN_SCOPED_CLEANUP=1`` in the environment (the tests
set it), a failing ``mn`` cleans up only its own pyvswitchd daemons and run directories,
instead of Mininet's machine-wide clean-up (``killall ping ovs-testcontroller ...``,
``rm /tmp/*.log``), which would hit unrelated programs on a shared machine.

Which pyvswitchd: ``$PYVSWITCHD`` if set, else this checkout's ``.venv/bin/pyvswitchd``,
else ``pyvswitchd`` on PATH.  Runs inside ``mn`` (Debian's python3 with ``mininet``); imports
nothing of pyvswitch itself.
"""

import glob
import os
import shutil
import signal
import sys
import tempfile
import time

from mininet.log import debug, error, info
from mininet.node import Switch


def _cleanup_hook():
    return cleanup_own_daemons()


if os.environ.get("PYVSWITCH_MN_SCOPED_CLEANUP") == "1":
    # mn's error path calls the `cleanup` it imported into its own module; point that at
    # our scoped clean-up so a failing run leaves other programs on the machine alone.
    _main = sys.modules.get("__main__")
    if _main is not None and hasattr(_main, "cleanup"):
        _main.cleanup = _cleanup_hook


def _this_file():
    """mn runs a --custom file with exec(), so there is no __file__: the code object
    still knows the path it was compiled from."""
    try:
        return __file__
    except NameError:
        import inspect
        return inspect.currentframe().f_code.co_filename


REPO = os.path.dirname(os.path.dirname(os.path.abspath(_this_file())))
RUNDIR_PREFIX = "pyvs-mn-"
_started = []           # run directories of the daemons this process started


def pyvswitchd_command():
    """The argv prefix that runs pyvswitchd."""
    explicit = os.environ.get("PYVSWITCHD")
    if explicit:
        return explicit.split()
    local = os.path.join(REPO, ".venv", "bin", "pyvswitchd")
    if os.access(local, os.X_OK):
        return [local]
    found = shutil.which("pyvswitchd")
    if found:
        return [found]
    raise RuntimeError("pyvswitchd not found: set PYVSWITCHD or run `make venv` in " + REPO)


def _toml_string(text):
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _read_pid(rundir):
    try:
        with open(os.path.join(rundir, "pyvswitchd.pid")) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def _alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stop_daemon(rundir, grace=10.0):
    """SIGTERM the pyvswitchd whose pidfile is in ``rundir``; SIGKILL after ``grace`` s."""
    pid = _read_pid(rundir)
    if pid is None or not _alive(pid):
        return
    os.kill(pid, signal.SIGTERM)
    deadline = time.time() + grace
    while time.time() < deadline and _alive(pid):
        time.sleep(0.05)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)


class PyvSwitch(Switch):
    """A Mininet switch that is a pyvswitchd process (userspace, AF_PACKET ports)."""

    def __init__(self, name, failMode="secure", protocols=None, datapath="netdev",
                 **params):
        """failMode: 'secure' or 'standalone'; protocols: e.g. 'OpenFlow13' or
        'OpenFlow10,OpenFlow13' (default: pyvswitchd's)."""
        Switch.__init__(self, name, **params)
        self.failMode = failMode
        self.protocols = protocols
        self.datapath = datapath
        self.rundir = None
        self.n_controllers = 0

    @classmethod
    def setup(cls):
        pyvswitchd_command()    # fail early, with a clear message, if it is missing

    def _env_prefix(self):
        return "OVS_RUNDIR=%s " % self.rundir

    def config_text(self, controllers):
        lines = ["[[bridge]]",
                 "name = %s" % _toml_string(self.name),
                 "datapath_type = %s" % _toml_string(self.datapath),
                 "fail_mode = %s" % _toml_string(self.failMode),
                 "datapath_id = %s" % _toml_string(self.dpid)]
        if self.protocols:
            names = [p.strip() for p in self.protocols.split(",") if p.strip()]
            lines.append("protocols = [%s]" % ", ".join(_toml_string(p) for p in names))
        for intf in self.intfList():
            if intf.name == "lo" or self.ports.get(intf) is None:
                continue
            lines += ["[[bridge.port]]",
                      "name = %s" % _toml_string(intf.name),
                      'type = "system"',
                      "ofport_request = %d" % self.ports[intf]]
        for ctl in controllers:
            target = "%s:%s:%d" % (getattr(ctl, "protocol", "tcp"), ctl.IP(), ctl.port)
            lines += ["[[bridge.controller]]",
                      "target = %s" % _toml_string(target),
                      "max_backoff = 1000"]
        if self.listenPort:
            lines += ["[[bridge.controller]]",
                      "target = %s" % _toml_string("ptcp:%d" % self.listenPort)]
        return "\n".join(lines) + "\n"

    def start(self, controllers):
        self.rundir = tempfile.mkdtemp(prefix="%s%s-" % (RUNDIR_PREFIX, self.name))
        _started.append(self.rundir)
        self.n_controllers = len(controllers)
        config = os.path.join(self.rundir, "config.toml")
        with open(config, "w") as f:
            f.write(self.config_text(controllers))
        for intf in self.intfList():
            if intf.name != "lo":
                self.cmd("ip link set dev %s up" % intf.name)
        argv = pyvswitchd_command() + [
            "--config", config, "--rundir", self.rundir,
            "--log-file=%s" % os.path.join(self.rundir, "pyvswitchd.log"),
            "--pidfile=%s" % os.path.join(self.rundir, "pyvswitchd.pid"),
            "-vconsole:off", "--detach", "--no-chdir"]
        out = self.cmd(" ".join(argv) + " 2>&1; echo pyvswitchd-exit=$?")
        mgmt = os.path.join(self.rundir, "%s.mgmt" % self.name)
        deadline = time.time() + 30
        while not os.path.exists(mgmt):
            if "pyvswitchd-exit=0" not in out or time.time() > deadline:
                error("*** %s: pyvswitchd did not start: %s\n%s\n"
                      % (self.name, out, self.log_text()[-2000:]))
                raise RuntimeError("pyvswitchd for %s did not start" % self.name)
            time.sleep(0.05)
        debug("*** %s: pyvswitchd pid %s, rundir %s\n"
              % (self.name, _read_pid(self.rundir), self.rundir))

    def log_text(self):
        try:
            with open(os.path.join(self.rundir, "pyvswitchd.log")) as f:
                return f.read()
        except (OSError, TypeError):
            return ""

    def connected(self):
        """A standalone switch forwards without a controller; otherwise a primary
        controller session must be up."""
        if self.rundir is None:
            return False
        if self.failMode == "standalone" or not self.n_controllers:
            return True
        out = self.cmd(self._env_prefix() + "ovs-appctl -t pyvswitchd "
                       "ofproto/show-connections %s" % self.name)
        primary = False
        for line in out.splitlines():
            if not line.startswith(" "):
                primary = line.startswith("primary")
            elif primary and line.strip().startswith("session "):
                return True
        return False

    def dpctl(self, *args):
        """Run ovs-ofctl COMMAND against this switch (Mininet's ``dpctl`` CLI)."""
        return self.cmd(self._env_prefix() + "ovs-ofctl", args[0], self.name, *args[1:])

    def stop(self, deleteIntfs=True):
        if self.rundir:
            _stop_daemon(self.rundir)
            shutil.rmtree(self.rundir, ignore_errors=True)
            self.rundir = None
        Switch.stop(self, deleteIntfs)


def _run_dirs():
    return glob.glob(os.path.join(tempfile.gettempdir(), RUNDIR_PREFIX + "*"))


def _stop_dirs(rundirs):
    for rundir in rundirs:
        if os.path.exists(os.path.join(rundir, "config.toml")):
            info("*** Stopping pyvswitchd in %s\n" % rundir)
            _stop_daemon(rundir)
            shutil.rmtree(rundir, ignore_errors=True)


def cleanup_daemons():
    """``mn -c``: stop every pyvswitchd a Mininet run left behind (/tmp/pyvs-mn-*)."""
    _stop_dirs(_run_dirs())


def cleanup_own_daemons():
    """A failing ``mn``: stop the pyvswitchd daemons this process started, nothing else."""
    _stop_dirs(list(_started))


try:
    from mininet.clean import addCleanupCallback
    addCleanupCallback(cleanup_daemons)
except ImportError:     # an older Mininet: `mn -c` just does not know about us
    pass

switches = {"pyvswitch": PyvSwitch}
