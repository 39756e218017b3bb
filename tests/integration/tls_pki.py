"""Throwaway PKI and TLS peers for the TLS tests (TOML and OVSDB).

``pki``: a module-scoped set of CAs and certificates made with the openssl CLI;
``controller``: ovs-testcontroller listening on pssl: (stopped at the end of the test);
``tls_hello``: a Python TLS client that returns the switch's certificate name and the
first bytes of its OpenFlow HELLO.
"""

import socket
import ssl
import subprocess

import pytest

from harness import wait_for

#: P-256 keys: made in milliseconds, unlike RSA ones.
NEWKEY = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1")


def make_ca(dir_, name):
    key, crt = dir_ / f"{name}-ca.key", dir_ / f"{name}-ca.crt"
    subprocess.run(["openssl", "req", "-x509", *NEWKEY, "-nodes", "-days", "2",
                    "-subj", f"/CN={name} test CA", "-keyout", str(key), "-out", str(crt)],
                   check=True, capture_output=True)
    return key, crt


def make_cert(dir_, name, ca_key, ca_crt):
    key, csr, crt = (dir_ / f"{name}.{ext}" for ext in ("key", "csr", "crt"))
    subprocess.run(["openssl", "req", *NEWKEY, "-nodes", "-subj", f"/CN={name}",
                    "-keyout", str(key), "-out", str(csr)], check=True, capture_output=True)
    subprocess.run(["openssl", "x509", "-req", "-in", str(csr), "-CA", str(ca_crt), "-CAkey",
                    str(ca_key), "-CAcreateserial", "-days", "2", "-out", str(crt)],
                   check=True, capture_output=True)
    return key, crt


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    d = tmp_path_factory.mktemp("pki")
    ca_key, ca_crt = make_ca(d, "good")
    other_key, other_crt = make_ca(d, "other")
    return {
        "dir": d, "ca": ca_crt, "other_ca": other_crt,
        "switch": make_cert(d, "switch", ca_key, ca_crt),
        "switch2": make_cert(d, "switch-renewed", ca_key, ca_crt),
        "controller": make_cert(d, "controller", ca_key, ca_crt),
        "stranger": make_cert(d, "stranger", other_key, other_crt),
        "stranger_switch": make_cert(d, "stranger-switch", other_key, other_crt),
    }


def tls_hello(port, key=None, crt=None, ca=None):
    """Connect as a TLS client; return (peer CN, first 8 bytes the switch sent) or raise."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.load_verify_locations(str(ca))
    if key:
        ctx.load_cert_chain(str(crt), str(key))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as raw, \
            ctx.wrap_socket(raw) as tls:
        cert = tls.getpeercert()
        cn = dict(rdn[0] for rdn in cert["subject"])["commonName"]
        return cn, tls.recv(8)


class Controller:
    """ovs-testcontroller listening on pssl: with the given files."""

    def __init__(self, tmp, port, key, crt, ca, peer_ca=None):
        self.log = tmp / f"testcontroller-{port}.log"
        cmd = ["ovs-testcontroller", "-p", str(key), "-c", str(crt), "-C", str(ca),
               f"--unixctl={tmp}/testcontroller-{port}.ctl", f"--log-file={self.log}",
               "-vconsole:off", "-vfile:info", "-n"]
        if peer_ca:
            cmd.append(f"--peer-ca-cert={peer_ca}")
        self.proc = subprocess.Popen(cmd + [f"pssl:{port}:127.0.0.1"],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for(lambda: listening(port), 10, what="ovs-testcontroller to listen")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def listening(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


@pytest.fixture
def controller(tmp_path):
    started = []

    def start(*args, **kw):
        c = Controller(tmp_path, *args, **kw)
        started.append(c)
        return c

    yield start
    for c in started:
        c.stop()
