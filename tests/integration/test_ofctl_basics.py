"""Open vSwitch's own ovs-ofctl against pyvswitchd: show, dump-ports-desc, snoop."""

import re
import subprocess
import time

from harness import bridge_toml, free_tcp_port, wait_for


def test_show_over_mgmt_socket_lists_configured_ports(make_switch):
    sw = make_switch(bridge_toml(ports=2))
    out = sw.ofctl("-O", "OpenFlow13", "show", "br0").stdout
    assert "dpid:0000000000000001" in out
    assert "n_tables:254, n_buffers:0" in out
    assert re.search(r"^ 1\(p1\): addr:", out, re.M)
    assert re.search(r"^ 2\(p2\): addr:", out, re.M)
    assert re.search(r"^ LOCAL\(br0\): addr:", out, re.M)
    assert "OFPT_ERROR" not in out


def test_show_over_ptcp_listener(make_switch):
    port = free_tcp_port()
    sw = make_switch(bridge_toml(controllers=[{"target": f"ptcp:{port}:127.0.0.1"}]))
    out = sw.ofctl("show", f"tcp:127.0.0.1:{port}").stdout
    assert "OFPT_FEATURES_REPLY" in out and "dpid:0000000000000001" in out
    assert " 1(p1)" in out and " 2(p2)" in out


def test_dump_ports_desc_openflow15(make_switch):
    sw = make_switch(bridge_toml(ports=3))
    out = sw.ofctl("-O", "OpenFlow15", "dump-ports-desc", "br0").stdout
    assert "OFPST_PORT_DESC reply (OF1.5)" in out
    for n in (1, 2, 3):
        assert f" {n}(p{n}): addr:" in out
    assert "LOCAL(br0)" in out


def test_protocols_limit_the_versions_offered(make_switch):
    sw = make_switch(bridge_toml(protocols='["OpenFlow13"]'))
    assert "OF1.3" in sw.ofctl("-O", "OpenFlow13", "show", "br0").stdout
    r = sw.ofctl("-O", "OpenFlow10", "show", "br0", check=False)
    assert r.returncode != 0
    assert "version negotiation failed" in r.stderr


def test_snoop_prints_controller_traffic(make_switch):
    """A snooper attached to the bridge sees what the controller connection carries."""
    port = free_tcp_port()
    sw = make_switch(bridge_toml(controllers=[{"target": f"tcp:127.0.0.1:{port}"}]))
    # The "controller" is ovs-testcontroller-free: a listening ovs-ofctl would not answer,
    # so use a tiny socket peer that completes the HELLO and sends an echo request.
    import socket
    import struct
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(1)
    srv.settimeout(15)
    conn, _ = srv.accept()
    conn.settimeout(5)
    try:
        conn.sendall(struct.pack("!BBHI", 4, 0, 8, 1))  # HELLO, OpenFlow 1.3
        conn.recv(1024)
        snoop = subprocess.Popen(["ovs-ofctl", "snoop", "br0"], env=sw.env,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            time.sleep(1.0)  # let the snooper attach
            conn.sendall(struct.pack("!BBHI", 4, 2, 12, 0x1234) + b"ping")  # ECHO_REQUEST
            reply = conn.recv(1024)
            assert reply[1] == 3  # ECHO_REPLY
            time.sleep(0.5)
        finally:
            snoop.terminate()
            out, _ = snoop.communicate(timeout=5)
        assert "OFPT_ECHO_REQUEST" in out and "OFPT_ECHO_REPLY" in out
        assert "xid=0x1234" in out
    finally:
        conn.close()
        srv.close()


def test_appctl_talks_to_the_daemon(make_switch):
    sw = make_switch(bridge_toml())
    assert sw.appctl("ofproto/list").stdout.split() == ["br0"]
    assert "list-commands" in sw.appctl("list-commands").stdout
    sw.appctl("exit")
    wait_for(lambda: sw.proc.poll() is not None, 10, what="pyvswitchd to exit")
    assert sw.proc.returncode == 0
    assert not (sw.rundir / "br0.mgmt").exists()
    assert not (sw.rundir / "pyvswitchd.pid").exists()
