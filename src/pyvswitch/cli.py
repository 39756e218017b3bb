"""``pyvswitch``: the user's command line (the daemon is ``pyvswitchd``).

What this module owns
---------------------
Small, scriptable commands around the daemon, needing nothing but this package:

* ``pyvswitch check-config FILE.toml`` - validate a configuration file the way the daemon
  will read it: fatal errors (exit 1) and the rows it would skip (exit 2), or "ok" (exit 0).
* ``pyvswitch ctl [--rundir DIR] COMMAND [ARG...]`` - send a unixctl command to the running
  daemon (what ``ovs-appctl -t pyvswitchd`` does, without Open vSwitch installed), e.g.
  ``pyvswitch ctl ofproto/trace br0 in_port=1,dl_dst=ff:ff:ff:ff:ff:ff``.
* ``pyvswitch version``.

Must not import: the daemon's internals beyond ``config`` (it runs outside the daemon).
"""

from __future__ import annotations

import argparse
import os
import sys

from pyvswitch import __version__


def _check_config(args: argparse.Namespace) -> int:
    from pyvswitch.config.toml_source import ConfigError, load
    try:
        cfg, problems = load(args.file)
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for p in problems:
        print(f"skipped: {p}", file=sys.stderr)
    n_ports = sum(len(b.ports) for b in cfg.bridges.values())
    n_ctrl = sum(len(b.controllers) for b in cfg.bridges.values())
    print(f"{'ok' if not problems else 'usable'}: {len(cfg.bridges)} bridge(s), "
          f"{n_ports} port(s), {n_ctrl} controller(s)")
    return 2 if problems else 0


def _ctl(args: argparse.Namespace) -> int:
    import ovs.unixctl.client
    rundir = args.rundir or os.environ.get("OVS_RUNDIR") or "/var/run/openvswitch"
    try:
        with open(os.path.join(rundir, "pyvswitchd.pid")) as f:
            pid = int(f.read().strip())
    except (OSError, ValueError) as e:
        print(f"pyvswitch: cannot find the daemon in {rundir} ({e})", file=sys.stderr)
        return 1
    error, client = ovs.unixctl.client.UnixctlClient.create(
        os.path.join(rundir, f"pyvswitchd.{pid}.ctl"))
    if error:
        print(f"pyvswitch: cannot connect to the daemon ({os.strerror(error)})",
              file=sys.stderr)
        return 1
    try:
        error, err_text, result = client.transact(args.command, args.args)
    finally:
        client.close()
    if error:
        print(f"pyvswitch: transaction failed ({os.strerror(error)})", file=sys.stderr)
        return 1
    if err_text is not None:
        sys.stderr.write(err_text if err_text.endswith("\n") else err_text + "\n")
        return 2
    if result:
        sys.stdout.write(result)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="pyvswitch",
                                     description="Work with a pyvswitchd switch.")
    sub = parser.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("check-config", help="validate a TOML configuration file")
    p.add_argument("file")
    p.set_defaults(fn=_check_config)
    p = sub.add_parser("ctl", help="send a unixctl command to the running daemon")
    p.add_argument("--rundir", help="the daemon's run directory (default $OVS_RUNDIR)")
    p.add_argument("command")
    p.add_argument("args", nargs="*")
    p.set_defaults(fn=_ctl)
    p = sub.add_parser("version", help="print the version")
    p.set_defaults(fn=lambda a: print(f"pyvswitch {__version__}") or 0)
    args = parser.parse_args(argv)
    return args.fn(args)


if __name__ == "__main__":
    sys.exit(main())
