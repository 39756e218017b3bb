"""unixctl commands of pyvswitchd (what ``ovs-appctl -t pyvswitchd CMD`` can ask).

What this module owns
---------------------
Registering the daemon's commands with the ``ovs`` package's unixctl server and turning
the running state into the text Open vSwitch's commands print.  Commands only read state
or call the same entry points the configuration path uses; none blocks.

Must not import: ``vswitchd.main`` at module level (it passes itself in).
"""

from __future__ import annotations

import ovs.timeval
import ovs.unixctl

from pyvswitch.util import unixctl_guard


def register(daemon) -> None:
    """Register every command; ``daemon`` is the running ``vswitchd.main.Daemon``."""
    unixctl_guard.install()      # no command, ours or the library's, can stop the daemon

    def cmd(name: str, usage: str, min_args: int, max_args: int):
        def deco(fn):
            ovs.unixctl.command_register(name, usage, min_args, max_args,
                                         lambda conn, argv, aux: fn(conn, argv), None)
            return fn
        return deco

    @cmd("list-commands", "", 0, 0)
    def _list_commands(conn, argv):
        lines = ["The available commands are:"]
        for name in sorted(ovs.unixctl.commands):
            usage = ovs.unixctl.commands[name].usage
            lines.append(f"  {name:<23} {usage}".rstrip())
        conn.reply("\n".join(lines) + "\n")

    @cmd("exit", "", 0, 0)
    def _exit(conn, argv):
        daemon.exiting = True
        conn.reply(None)

    @cmd("ofproto/list", "", 0, 0)
    def _ofproto_list(conn, argv):
        conn.reply("".join(f"{name}\n" for name in sorted(daemon.bridges.bridges)))

    @cmd("bridge/reconnect", "[bridge]", 0, 1)
    def _reconnect(conn, argv):
        bridges = daemon.bridges.bridges
        if argv and argv[0] not in bridges:
            conn.reply_error("no such bridge\n")
            return
        now = ovs.timeval.msec()
        for name, br in bridges.items():
            if argv and name != argv[0]:
                continue
            for svc in br.ofproto.connmgr.services.values():
                if svc.rconn is not None:
                    svc.rconn.reconnect(now)
        conn.reply(None)

    @cmd("ofproto/show-connections", "bridge", 1, 1)
    def _connections(conn, argv):
        br = daemon.bridges.bridges.get(argv[0])
        if br is None:
            conn.reply_error("no such bridge\n")
            return
        now = ovs.timeval.msec()
        lines = []
        for svc in br.ofproto.connmgr.services.values():
            lines.append(f'{svc.conn_type.value} "{svc.target}"')
            if svc.rconn is not None:
                r = svc.rconn
                lines.append(f"  state: {r.state.value}")
                lines.append(f"  backoff: {r.backoff_ms() // 1000} s, "
                             f"probe interval: {r.probe_interval_ms // 1000} s")
                if r.last_connected is not None:
                    lines.append(f"  sec_since_connect: {int(now - r.last_connected) // 1000}")
            for ofconn in svc.ofconns():
                role = {1: "other", 2: "master", 3: "slave"}.get(ofconn.role, "?")
                lines.append(f"  session {ofconn.name}: version {ofconn.version:#x}, "
                             f"role {role}, tx queue {len(ofconn.rconn.txq)}")
        conn.reply("\n".join(lines) + "\n")
