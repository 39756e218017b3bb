"""TLS on the OpenFlow channel, with throwaway CAs made by the test (openssl CLI).

pssl: with ovs-ofctl and a Python TLS client as peers, ssl: with ovs-testcontroller as the
controller; peer verification both ways, --bootstrap-ca-cert, and reloading replaced key,
certificate and CA files for new connections.
"""

import os
import shutil
import signal
import socket
import ssl
import stat
import struct
import subprocess
import time

import pytest

from harness import bridge_toml, free_tcp_port, wait_for
from tls_pki import controller, listening, pki, tls_hello  # noqa: F401 - fixtures


def ssl_toml(key, crt, ca, bootstrap=False):
    return (f'[ssl]\nprivate_key = "{key}"\ncertificate = "{crt}"\nca_cert = "{ca}"\n'
            + ("bootstrap_ca_cert = true\n" if bootstrap else ""))


def tls_switch(make_switch, pki, key_crt=None, ca=None):
    port = free_tcp_port()
    key, crt = key_crt or pki["switch"]
    text = (ssl_toml(key, crt, ca or pki["ca"])
            + bridge_toml(controllers=[{"target": f"pssl:{port}:127.0.0.1"}]))
    return make_switch(text), port


def test_ovs_ofctl_over_tls_with_a_certificate_from_the_ca(make_switch, pki):
    sw, port = tls_switch(make_switch, pki)
    key, crt = pki["controller"]
    out = sw.ofctl(f"--private-key={key}", f"--certificate={crt}", f"--ca-cert={pki['ca']}",
                   "-O", "OpenFlow13", "show", f"ssl:127.0.0.1:{port}").stdout
    assert "dpid:0000000000000001" in out and " 1(p1)" in out
    assert "TLS session established" in sw.log_text()


def test_a_certificate_from_another_ca_is_refused_and_logged(make_switch, pki):
    sw, port = tls_switch(make_switch, pki)
    key, crt = pki["stranger"]
    r = sw.ofctl(f"--private-key={key}", f"--certificate={crt}", f"--ca-cert={pki['ca']}",
                 "-O", "OpenFlow13", "show", f"ssl:127.0.0.1:{port}", check=False, timeout=20)
    assert r.returncode != 0
    wait_for(lambda: "SSL handshake failed: peer certificate not accepted" in sw.log_text(),
             10, what="the refusal to be logged")
    # The switch is unaffected.
    assert "OF1.3" in sw.ofctl("-O", "OpenFlow13", "show", "br0").stdout


def test_a_client_without_certificate_is_refused_and_logged(make_switch, pki):
    sw, port = tls_switch(make_switch, pki)
    with pytest.raises((ssl.SSLError, ConnectionError)):
        _, first = tls_hello(port, ca=pki["ca"])
        if not first:                       # closed without a HELLO: refused
            raise ConnectionError("closed")
    wait_for(lambda: "peer presented no certificate" in sw.log_text(), 5,
             what="the refusal to be logged")
    # A client with a proper certificate still gets a HELLO.
    key, crt = pki["controller"]
    cn, first = tls_hello(port, key, crt, pki["ca"])
    assert cn == "switch" and first[1] == 0 and len(first) == 8


# --- ssl: (the switch connects to a controller) -----------------------------------------
def active_switch(make_switch, port, ssl_text):
    text = ssl_text + bridge_toml(controllers=[{"target": f"ssl:127.0.0.1:{port}",
                                                "max_backoff": 1000}])
    return make_switch(text)


def session_active(sw):
    out = sw.appctl("ofproto/show-connections", "br0").stdout
    return "state: ACTIVE" in out and "session br0<->ssl:" in out


def test_ssl_controller_with_a_certificate_from_the_ca_is_connected(make_switch, pki,
                                                                    controller):
    port = free_tcp_port()
    key, crt = pki["controller"]
    controller(port, key, crt, pki["ca"])
    skey, scrt = pki["switch"]
    sw = active_switch(make_switch, port, ssl_toml(skey, scrt, pki["ca"]))
    wait_for(lambda: session_active(sw), 15, what="the ssl: controller session")
    assert "peer CN=controller" in sw.log_text()


def test_ssl_controller_with_a_certificate_from_another_ca_is_refused(make_switch, pki,
                                                                      controller):
    port = free_tcp_port()
    key, crt = pki["stranger"]
    controller(port, key, crt, pki["ca"])
    skey, scrt = pki["switch"]
    sw = active_switch(make_switch, port, ssl_toml(skey, scrt, pki["ca"]))
    wait_for(lambda: "peer certificate not accepted" in sw.log_text(), 15,
             what="the refusal to be logged")
    time.sleep(1.5)                     # at least one more attempt: still refused
    assert not session_active(sw)


# --- --bootstrap-ca-cert -----------------------------------------------------------------
def test_bootstrap_takes_the_controllers_ca_then_verifies_with_it(make_switch, pki,
                                                                 controller, tmp_path):
    port = free_tcp_port()
    key, crt = pki["controller"]
    controller(port, key, crt, pki["ca"], peer_ca=pki["ca"])
    ca_file = tmp_path / "bootstrapped-ca.pem"
    skey, scrt = pki["switch"]
    sw = active_switch(make_switch, port, ssl_toml(skey, scrt, ca_file, bootstrap=True))
    wait_for(lambda: session_active(sw), 20, what="the session after bootstrap")
    log = sw.log_text()
    assert f"successfully bootstrapped CA cert to {ca_file}" in log
    assert "dropping the bootstrap connection" in log
    saved = ssl.PEM_cert_to_DER_cert(ca_file.read_text())
    assert saved == ssl.PEM_cert_to_DER_cert(pki["ca"].read_text())
    assert stat.S_IMODE(os.stat(ca_file).st_mode) & 0o222 == 0    # read-only


@pytest.fixture
def leaf_only_server():
    """``openssl s_server`` presenting its certificate without the CA above it."""
    procs = []

    def start(port, key, crt):
        procs.append(subprocess.Popen(
            ["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert", str(crt),
             "-key", str(key), "-quiet"], stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_for(lambda: listening(port), 10, what="openssl s_server to listen")

    yield start
    for p in procs:
        p.kill()
        p.wait()


def test_bootstrap_refuses_a_chain_without_a_self_signed_top(make_switch, pki,
                                                            leaf_only_server, tmp_path):
    port = free_tcp_port()
    key, crt = pki["controller"]
    leaf_only_server(port, key, crt)
    ca_file = tmp_path / "never.pem"
    skey, scrt = pki["switch"]
    sw = active_switch(make_switch, port, ssl_toml(skey, scrt, ca_file, bootstrap=True))
    wait_for(lambda: "could not bootstrap CA cert" in sw.log_text(), 15,
             what="the bootstrap refusal")
    assert "not configured to send its CA certificate" in sw.log_text()
    assert not ca_file.exists()
    assert not session_active(sw)


def test_bootstrap_with_an_existing_ca_file_is_plain_verification(make_switch, pki,
                                                                  controller, tmp_path):
    port = free_tcp_port()
    key, crt = pki["stranger"]
    controller(port, key, crt, pki["ca"], peer_ca=pki["other_ca"])
    ca_file = tmp_path / "ca.pem"
    shutil.copy(pki["ca"], ca_file)
    skey, scrt = pki["switch"]
    sw = active_switch(make_switch, port, ssl_toml(skey, scrt, ca_file, bootstrap=True))
    wait_for(lambda: "peer certificate not accepted" in sw.log_text(), 15,
             what="the refusal to be logged")
    assert "bootstrapped" not in sw.log_text()
    assert ssl.PEM_cert_to_DER_cert(ca_file.read_text()) == \
        ssl.PEM_cert_to_DER_cert(pki["ca"].read_text())


# --- reload -------------------------------------------------------------------------------
def replace(dst, src):
    """Replace ``dst`` by a copy of ``src`` the way an operator's tool would (rename)."""
    tmp = dst.with_suffix(".new")
    shutil.copy(src, tmp)
    os.replace(tmp, dst)


def test_replaced_certificate_and_ca_are_used_by_new_connections(make_switch, pki, tmp_path):
    key, crt, ca = tmp_path / "sw.key", tmp_path / "sw.crt", tmp_path / "ca.crt"
    shutil.copy(pki["switch"][0], key)
    shutil.copy(pki["switch"][1], crt)
    shutil.copy(pki["ca"], ca)
    sw, port = tls_switch(make_switch, pki, (key, crt), ca)
    ckey, ccrt = pki["controller"]
    assert tls_hello(port, ckey, ccrt, pki["ca"])[0] == "switch"

    # A renewed certificate (same CA): the next connection sees it.
    replace(key, pki["switch2"][0])
    replace(crt, pki["switch2"][1])
    cn, first = tls_hello(port, ckey, ccrt, pki["ca"])
    assert cn == "switch-renewed" and len(first) == 8
    assert "SSL key/certificates reloaded" in sw.log_text()

    # A new CA (and a certificate from it): old peers are refused, new ones accepted.
    replace(key, pki["stranger_switch"][0])
    replace(crt, pki["stranger_switch"][1])
    replace(ca, pki["other_ca"])
    skey, scrt = pki["stranger"]
    assert tls_hello(port, skey, scrt, pki["other_ca"])[0] == "stranger-switch"
    with pytest.raises((ssl.SSLError, ConnectionError)):
        tls_hello(port, ckey, ccrt, pki["other_ca"])[1] or _raise_closed()


def test_sighup_switches_to_other_files_named_in_the_ssl_table(make_switch, pki):
    sw, port = tls_switch(make_switch, pki)
    ckey, ccrt = pki["controller"]
    assert tls_hello(port, ckey, ccrt, pki["ca"])[0] == "switch"
    key2, crt2 = pki["switch2"]
    sw.config.write_text(sw.config.read_text().replace(str(pki["switch"][0]), str(key2))
                         .replace(str(pki["switch"][1]), str(crt2)))
    sw.proc.send_signal(signal.SIGHUP)
    wait_for(lambda: "reloaded" in sw.log_text(), 10, what="the reload")
    assert tls_hello(port, ckey, ccrt, pki["ca"])[0] == "switch-renewed"


def _raise_closed():
    raise ConnectionError("closed without a HELLO")


def test_a_half_replaced_key_pair_keeps_the_previous_one(make_switch, pki, tmp_path):
    key, crt = tmp_path / "sw.key", tmp_path / "sw.crt"
    shutil.copy(pki["switch"][0], key)
    shutil.copy(pki["switch"][1], crt)
    sw, port = tls_switch(make_switch, pki, (key, crt))
    ckey, ccrt = pki["controller"]
    replace(crt, pki["switch2"][1])             # key not replaced yet: they do not match
    cn, first = tls_hello(port, ckey, ccrt, pki["ca"])
    assert cn == "switch" and len(first) == 8
    assert "keeping the previous ones" in sw.log_text()
    replace(key, pki["switch2"][0])             # now they match again
    assert tls_hello(port, ckey, ccrt, pki["ca"])[0] == "switch-renewed"


def test_handshake_failures_are_rate_limited_and_the_switch_keeps_answering(make_switch,
                                                                            pki):
    sw, port = tls_switch(make_switch, pki)
    start = time.monotonic()
    attempts = 150
    for _ in range(attempts):
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"\x16\x03\x01\x00\x05hello")      # not a TLS ClientHello
            try:
                s.recv(100)                              # the switch closes it
            except OSError:
                pass
    elapsed = time.monotonic() - start
    logged = sw.log_text().count("SSL handshake failed")
    # 25 at once, then 10 per second (+1 s for the daemon lagging behind the test).
    assert 25 <= logged <= 25 + 10 * (elapsed + 1)
    if elapsed < 10:                # the usual case: well under one message per attempt
        assert logged < attempts
    assert "similar messages suppressed" in sw.log_text() or elapsed < 1
    ckey, ccrt = pki["controller"]
    cn, first = tls_hello(port, ckey, ccrt, pki["ca"])
    assert cn == "switch" and struct.unpack("!BBHI", first)[1] == 0     # a HELLO
