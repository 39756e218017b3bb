"""TLS on the OpenFlow channel: pssl: with a CA the peers must share; ovs-ofctl as client."""

import subprocess

import pytest

from harness import bridge_toml, free_tcp_port


def make_ca(dir_, name):
    key, crt = dir_ / f"{name}-ca.key", dir_ / f"{name}-ca.crt"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                    "-subj", f"/CN={name} test CA", "-keyout", str(key), "-out", str(crt)],
                   check=True, capture_output=True)
    return key, crt


def make_cert(dir_, name, ca_key, ca_crt):
    key, csr, crt = (dir_ / f"{name}.{ext}" for ext in ("key", "csr", "crt"))
    subprocess.run(["openssl", "req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
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
        "ca": ca_crt, "other_ca": other_crt,
        "switch": make_cert(d, "switch", ca_key, ca_crt),
        "controller": make_cert(d, "controller", ca_key, ca_crt),
        "stranger": make_cert(d, "stranger", other_key, other_crt),
    }


def tls_switch(make_switch, pki):
    port = free_tcp_port()
    key, crt = pki["switch"]
    text = (f'[ssl]\nprivate_key = "{key}"\ncertificate = "{crt}"\nca_cert = "{pki["ca"]}"\n'
            + bridge_toml(controllers=[{"target": f"pssl:{port}:127.0.0.1"}]))
    return make_switch(text), port


def test_ovs_ofctl_over_tls_with_a_certificate_from_the_ca(make_switch, pki):
    sw, port = tls_switch(make_switch, pki)
    key, crt = pki["controller"]
    out = sw.ofctl(f"--private-key={key}", f"--certificate={crt}", f"--ca-cert={pki['ca']}",
                   "-O", "OpenFlow13", "show", f"ssl:127.0.0.1:{port}").stdout
    assert "dpid:0000000000000001" in out and " 1(p1)" in out


def test_a_certificate_from_another_ca_is_refused_and_logged(make_switch, pki):
    sw, port = tls_switch(make_switch, pki)
    key, crt = pki["stranger"]
    r = sw.ofctl(f"--private-key={key}", f"--certificate={crt}", f"--ca-cert={pki['ca']}",
                 "-O", "OpenFlow13", "show", f"ssl:127.0.0.1:{port}", check=False, timeout=20)
    assert r.returncode != 0
    assert "SSL handshake failed" in sw.log_text()
    # The switch is unaffected.
    assert "OF1.3" in sw.ofctl("-O", "OpenFlow13", "show", "br0").stdout
