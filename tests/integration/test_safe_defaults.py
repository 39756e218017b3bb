"""Safe defaults: only the listeners the configuration names, owner-only local sockets.

What a local user or a host on the network could reach is read from the outside, as an
auditor would: file modes in the run directory, and the daemon's sockets matched against
the kernel's tables in /proc/PID/net/{tcp,tcp6,udp,udp6,raw,raw6}.
"""

import os
import signal
import stat

from harness import Switch, bridge_toml, free_tcp_port, wait_for

TCP_LISTEN = "0A"


def socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def inet_sockets(pid: int) -> list[tuple[str, str, int, str]]:
    """(table, local address hex, local port, state) of the daemon's IP sockets."""
    mine = socket_inodes(pid)
    found = []
    for table in ("tcp", "tcp6", "udp", "udp6", "raw", "raw6"):
        with open(f"/proc/{pid}/net/{table}") as f:
            next(f)
            for line in f:
                fields = line.split()
                if fields[9] in mine:
                    addr, port = fields[1].rsplit(":", 1)
                    found.append((table, addr, int(port, 16), fields[3]))
    return found


def listeners(pid: int) -> list[tuple[str, str, int, str]]:
    return [s for s in inet_sockets(pid)
            if not s[0].startswith("tcp") or s[3] == TCP_LISTEN]


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_no_ip_listener_and_owner_only_sockets_by_default(make_switch):
    sw = Switch(bridge_toml())          # no controller, no listener named
    sw.rundir.rmdir()                   # let the daemon create its run directory
    try:
        sw.start()
        assert mode(sw.rundir) == 0o700
        sockets = [p for p in sw.rundir.iterdir() if stat.S_ISSOCK(os.stat(p).st_mode)]
        names = sorted(p.name for p in sockets)
        assert names[:2] == ["br0.mgmt", "br0.snoop"]
        assert len(names) == 3 and names[2].startswith("pyvswitchd.")   # unixctl .ctl
        for p in sockets:
            assert mode(p) == 0o600, p.name
        assert listeners(sw.proc.pid) == []
        assert inet_sockets(sw.proc.pid) == []
    finally:
        sw.cleanup()


def test_only_the_named_listener_is_open(make_switch):
    port = free_tcp_port()
    sw = make_switch(bridge_toml(controllers=[{"target": f"ptcp:{port}:127.0.0.1"}]))
    assert listeners(sw.proc.pid) == [("tcp", "0100007F", port, TCP_LISTEN)]
    for p in sw.rundir.iterdir():
        if stat.S_ISSOCK(os.stat(p).st_mode):
            assert mode(p) == 0o600, p.name


def test_an_active_controller_opens_no_listener(make_switch):
    port = free_tcp_port()                # nobody listens there: the switch keeps trying
    sw = make_switch(bridge_toml(controllers=[{"target": f"tcp:127.0.0.1:{port}"}]))
    assert listeners(sw.proc.pid) == []


def test_a_listener_removed_from_the_file_is_closed_on_sighup(make_switch):
    port = free_tcp_port()
    sw = make_switch(bridge_toml(controllers=[{"target": f"ptcp:{port}:127.0.0.1"}]))
    assert [s[2] for s in listeners(sw.proc.pid)] == [port]
    sw.config.write_text(bridge_toml())
    sw.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "reloaded" in sw.log_text(), 10, what="the reload")
    wait_for(lambda: listeners(sw.proc.pid) == [], 5, what="the listener to close")
