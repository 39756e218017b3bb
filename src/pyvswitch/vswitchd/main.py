"""pyvswitchd: the daemon shell (OVS vswitchd/ovs-vswitchd.c).

What this module owns
---------------------
Command-line options in Open vSwitch's spelling, logging set-up (``ovs.vlog``), pidfile
and detaching (``ovs.daemon``), signals, the unixctl server, and **the one poll loop**::

    while not exiting:
        bridges.run(now); unixctl.run()          # do pending work, never block
        bridges.wait(poller, now); unixctl.wait(poller)
        poller.block()                           # sleep until an fd or timer is ready

This is the only place below which nothing reads the clock: ``now`` is read once per pass
(``ovs.timeval.msec()``) and passed down.

Configuration sources: ``--config FILE.toml`` (the embedded default) or a DATABASE remote
(``unix:PATH``/``tcp:IP:PORT``, the OVSDB issue).  With a TOML file, SIGHUP re-reads it
and applies only the difference through the same ``Bridges.reconfigure`` path OVSDB uses
(``TomlSource``); a file that cannot be used is logged and the running configuration
kept.

Safe defaults: a run directory this daemon creates is owner-only (0700) and the unixctl
socket is created owner-only (0600), like the management and snoop sockets
(``io.listener``).  No listener is opened that the configuration does not name.
"""

from __future__ import annotations

import argparse
import gc
import os
import signal
import sys

import ovs.daemon
import ovs.dirs
import ovs.poller
import ovs.timeval
import ovs.unixctl
import ovs.unixctl.server
import ovs.util
import ovs.vlog

from pyvswitch import __version__
from pyvswitch.config import toml_source
# Imported here, before logging is set up: ovs.db.idl registers its log module on import.
from pyvswitch.config.ovsdb_source import OvsdbSource
from pyvswitch.io.ssl_stream import SslConfig
from pyvswitch.util import poller as loop_poller
from pyvswitch.util.vlog import Logger
from pyvswitch.vswitchd.bridge import Bridges
from pyvswitch.vswitchd import unixctl_cmds, unixctl_dpctl, unixctl_dpif, unixctl_memory

log = Logger("vswitchd")

PROGRAM = "pyvswitchd"


def default_rundir() -> str:
    return os.environ.get("OVS_RUNDIR") or "/var/run/openvswitch"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=PROGRAM, description="Open vSwitch's switch daemon, in Python.")
    parser.add_argument("database", nargs="?",
                        help="OVSDB remote (unix:PATH or tcp:IP:PORT) to read the "
                             "configuration from")
    parser.add_argument("--config", metavar="FILE",
                        help="read the configuration from a TOML file instead of OVSDB")
    parser.add_argument("--rundir", default=None,
                        help="directory for sockets and pidfile "
                             "(default $OVS_RUNDIR or /var/run/openvswitch)")
    parser.add_argument("--unixctl", metavar="SOCKET", default=None,
                        help="control socket (default RUNDIR/pyvswitchd.PID.ctl)")
    parser.add_argument("--private-key", metavar="FILE", help="SSL private key")
    parser.add_argument("--certificate", metavar="FILE", help="SSL certificate for the key")
    parser.add_argument("--ca-cert", metavar="FILE",
                        help="CA certificate that peers' certificates must chain to")
    parser.add_argument("--bootstrap-ca-cert", metavar="FILE",
                        help="like --ca-cert, but if FILE does not exist, take the CA "
                             "from the first ssl: peer's chain and save it to FILE")
    parser.add_argument("--version", action="version",
                        version=f"{PROGRAM} (pyvswitch) {__version__}")
    ovs.daemon.add_args(parser)
    ovs.vlog.add_args(parser)
    return parser.parse_args(argv)


class Daemon:
    """The running daemon: configuration source, bridges, unixctl, the loop."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.rundir = args.rundir or default_rundir()
        self.bridges = Bridges(self.rundir)
        self.exiting = False
        self.reload_requested = False
        self.unixctl: ovs.unixctl.server.UnixctlServer | None = None
        self.source = None
        self.memory = unixctl_memory.MemoryMonitor(ovs.timeval.msec())
        # Signals interrupt poll() only if something is written to a watched fd.
        self._sig_r, self._sig_w = os.pipe()
        os.set_blocking(self._sig_r, False)
        os.set_blocking(self._sig_w, False)
        signal.set_wakeup_fd(self._sig_w)

    def start(self) -> None:
        if self.args.config:
            self.source = TomlSource(self.args.config)
        elif self.args.database:
            self.source = OvsdbSource(self.args.database)
        else:
            raise toml_source.ConfigError(
                "no configuration: give --config FILE.toml or a DATABASE remote")
        old_umask = os.umask(0o177)           # the socket is owner-only (0600)
        try:
            error, self.unixctl = ovs.unixctl.server.UnixctlServer.create(
                self.args.unixctl, version=f"{__version__} (pyvswitch)")
        finally:
            os.umask(old_umask)
        if error:
            raise OSError(error, "cannot create the unixctl socket")
        unixctl_cmds.register(self)
        unixctl_dpif.register(self)
        unixctl_dpctl.register(self)
        unixctl_memory.register(self)

    def run_once(self, poller: loop_poller.Poller) -> None:
        if loop_poller.may_be_ready(self._sig_r):
            try:
                while os.read(self._sig_r, 64):
                    pass
            except BlockingIOError:
                pass
        now = ovs.timeval.msec()
        self.memory.run(now, self.bridges, getattr(self.source, "idl", None))
        if self.reload_requested:
            self.reload_requested = False
            reload = getattr(self.source, "reload", None)
            if reload is not None:
                reload(self, now)
            else:
                log.info("SIGHUP ignored: the configuration comes from the database")
        try:                  # the configuration source must not take the switch down
            self.source.run(self, now)
        except Exception:
            log.exception("unexpected error reading the configuration; the last "
                          "configuration stays in effect")
        self.bridges.run(now)
        if _unixctl_has_work(self.unixctl):
            self.unixctl.run()
        now = ovs.timeval.msec()
        self.source.wait(poller)
        self.bridges.wait(poller, now)
        self.unixctl.wait(poller)
        poller.fd_wait(self._sig_r, ovs.poller.POLLIN)

    def loop(self) -> None:
        poller = loop_poller.Poller()
        while not self.exiting:
            self.run_once(poller)
            if self.exiting:
                break
            poller.block()

    def stop(self) -> None:
        self.bridges.close(ovs.timeval.msec())
        close_source = getattr(self.source, "close", None)
        if close_source is not None:
            close_source()
        if self.unixctl is not None:
            self.unixctl.close()
            self.unixctl = None


def _unixctl_has_work(server: ovs.unixctl.server.UnixctlServer) -> bool:
    """False when the unixctl server has no connection and its listening socket was not
    readable at the last poll: its ``run`` would only try an ``accept`` that fails."""
    if server._conns:
        return True
    sock = getattr(server._listener, "socket", None)
    return sock is None or loop_poller.may_be_ready(sock.fileno())


class TomlSource:
    """The TOML file: read at start, re-read on SIGHUP (``reload``).

    At start a bad row (port, interface, controller) is logged and left out, the rest
    used.  On reload the new file must be clean: if it cannot be parsed or any row has a
    problem, everything is logged and nothing changes (a typo must not remove a running
    port).  A clean file goes through ``Bridges.reconfigure``, which leaves untouched
    bridges, ports and controller connections as they are (flows stay); the ``flows`` of
    a bridge are added only when the bridge is created.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        cfg, problems = toml_source.load(path)
        for p in problems:
            log.error("%s", p)
        self.cfg = cfg
        self.applied = False

    def run(self, daemon: Daemon, now: float) -> None:
        if not self.applied:
            SslConfig.apply(self.cfg.ssl, daemon.args)
            daemon.bridges.reconfigure(self.cfg, now)
            self.applied = True
            ovs.daemon.daemonize_complete()

    def reload(self, daemon: Daemon, now: float) -> bool:
        """Re-read the file; apply it if clean.  True when applied."""
        try:
            cfg, problems = toml_source.load(self.path)
        except toml_source.ConfigError as e:
            log.error("SIGHUP: %s; keeping the running configuration", e)
            return False
        if problems:
            for p in problems:
                log.error("SIGHUP: %s", p)
            log.error("SIGHUP: %s has %d problem(s); keeping the running configuration",
                      self.path, len(problems))
            return False
        self.cfg = cfg
        if not self.applied:     # not started yet: run() applies it (and daemonizes)
            return True
        SslConfig.apply(cfg.ssl, daemon.args)
        try:
            daemon.bridges.reconfigure(cfg, now)
        except Exception:  # fault isolation: a bug in one reload must not end the switch
            log.exception("SIGHUP: unexpected error applying %s", self.path)
            return False
        log.info("SIGHUP: %s reloaded (%s)", self.path,
                 ", ".join(sorted(cfg.bridges)) or "no bridges")
        return True

    def wait(self, poller) -> None:
        if not self.applied:
            poller.immediate_wake()


#: Allocations between two young-generation collections (CPython's default: 700).
GC_GEN0_THRESHOLD = 10_000


def _tune_gc() -> None:
    """Make the cyclic collector cheaper for a switch holding 100k+ rules.

    The code and data imported so far live as long as the process: ``gc.freeze`` moves
    them out of the collector's sight, so the full collections a big flow table triggers
    no longer scan them.  Only import-time objects are frozen (none of the bridge state,
    which reconfiguration may drop).  A larger young generation makes the long-lived
    rules of an add-flows or a bundle reach the older generations in fewer, larger
    steps (about a tenth of the bundle ADD time); the packet path makes mostly acyclic
    short-lived objects, freed by reference counting whatever the threshold, and a
    young collection of 10k objects costs well under a millisecond.  PyPy's collector
    is another design (incremental, no generation thresholds): nothing to tune."""
    if not hasattr(gc, "freeze"):
        return
    gc.collect()
    gc.freeze()
    _, gen1, gen2 = gc.get_threshold()
    gc.set_threshold(GC_GEN0_THRESHOLD, gen1, gen2)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.config:   # --detach changes to /; SIGHUP must still find the file
        args.config = os.path.abspath(args.config)
    ovs.util.PROGRAM_NAME = PROGRAM
    rundir = args.rundir or default_rundir()
    ovs.dirs.RUNDIR = rundir
    try:
        os.makedirs(rundir, mode=0o700, exist_ok=True)  # created owner-only; an
        # existing directory (shared with Open vSwitch, say) is left as it is
    except OSError as e:
        print(f"{PROGRAM}: cannot create run directory {rundir}: {e.strerror}",
              file=sys.stderr)
        return 1
    if args.config:  # fail fast, before detaching, on a file that cannot be used
        try:
            toml_source.load(args.config)
        except toml_source.ConfigError as e:
            print(f"{PROGRAM}: {e}", file=sys.stderr)
            return 1
    ovs.vlog.handle_args(args)
    if not args.pidfile:  # ovs-appctl -t pyvswitchd finds us through the pidfile
        args.pidfile = os.path.join(rundir, f"{PROGRAM}.pid")
    ovs.daemon.handle_args(args)

    _tune_gc()
    daemon = Daemon(args)
    ovs.daemon.daemonize_start()

    def on_signal(signum, frame):
        daemon.exiting = True

    def on_sighup(signum, frame):
        daemon.reload_requested = True
    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGHUP, on_sighup)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)

    try:
        daemon.start()
        log.info("%s %s started (rundir %s)", PROGRAM, __version__, rundir)
        daemon.loop()
    except toml_source.ConfigError as e:
        print(f"{PROGRAM}: {e}", file=sys.stderr)
        return 1
    finally:
        daemon.stop()
        log.info("%s exiting", PROGRAM)
    return 0


if __name__ == "__main__":
    sys.exit(main())
