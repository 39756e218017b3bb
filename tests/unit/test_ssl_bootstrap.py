"""CA bootstrap pieces (io.ssl_bootstrap) and SSL file precedence (io.ssl_stream.SslConfig)."""

import errno
import os
import ssl
import stat
import subprocess
from types import SimpleNamespace

import pytest
from hypothesis import given, settings, strategies as st

from pyvswitch.io import ssl_bootstrap as sb
from pyvswitch.io.ssl_stream import SslConfig

NEWKEY = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1")


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    d = tmp_path_factory.mktemp("certs")
    subprocess.run(["openssl", "req", "-x509", *NEWKEY, "-nodes", "-days", "1",
                    "-subj", "/CN=unit CA", "-keyout", d / "ca.key", "-out", d / "ca.crt"],
                   check=True, capture_output=True)
    subprocess.run(["openssl", "req", *NEWKEY, "-nodes", "-subj", "/CN=leaf",
                    "-keyout", d / "leaf.key", "-out", d / "leaf.csr"],
                   check=True, capture_output=True)
    subprocess.run(["openssl", "x509", "-req", "-in", d / "leaf.csr", "-CA", d / "ca.crt",
                    "-CAkey", d / "ca.key", "-CAcreateserial", "-days", "1",
                    "-out", d / "leaf.crt"], check=True, capture_output=True)
    der = {name: ssl.PEM_cert_to_DER_cert((d / f"{name}.crt").read_text())
           for name in ("ca", "leaf")}
    return SimpleNamespace(dir=d, **der)


def u24(n):
    return n.to_bytes(3, "big")


def message(body):
    return bytes([11]) + u24(len(body)) + body


def tls12_certificate(certs):
    entries = b"".join(u24(len(c)) + c for c in certs)
    return message(u24(len(entries)) + entries)


def tls13_certificate(certs, context=b""):
    entries = b"".join(u24(len(c)) + c + b"\x00\x00" for c in certs)
    return message(bytes([len(context)]) + context + u24(len(entries)) + entries)


def test_chain_from_a_tls12_certificate_message(certs):
    msg = tls12_certificate([certs.leaf, certs.ca])
    assert sb.certificates_from_handshake(0x0303, msg) == [certs.leaf, certs.ca]


def test_chain_from_a_tls13_certificate_message_with_extensions(certs):
    entries = (u24(len(certs.leaf)) + certs.leaf + b"\x00\x04\x00\x05\x00\x00"
               + u24(len(certs.ca)) + certs.ca + b"\x00\x00")
    msg = message(b"\x00" + u24(len(entries)) + entries)
    assert sb.certificates_from_handshake(0x0304, msg) == [certs.leaf, certs.ca]
    assert sb.certificates_from_handshake(0x0304, tls13_certificate([certs.leaf], b"ab")) \
        == [certs.leaf]


def test_an_empty_certificate_list_is_no_chain():
    assert sb.certificates_from_handshake(0x0304, tls13_certificate([])) == []


@pytest.mark.parametrize("bad", [b"", b"\x0b", b"\x02\x00\x00\x00",
                                 message(u24(10) + u24(20)),
                                 message(b"\x00" + u24(8) + u24(50) + b"x" * 5)])
def test_malformed_certificate_messages_raise_valueerror(bad):
    with pytest.raises(ValueError):
        sb.certificates_from_handshake(0x0304, bad)


@settings(max_examples=300, deadline=None)
@given(st.integers(0x0301, 0x0304), st.binary(max_size=80))
def test_random_bytes_never_raise_anything_but_valueerror(version, data):
    try:
        certs = sb.certificates_from_handshake(version, b"\x0b" + data)
    except ValueError:
        return
    assert all(isinstance(c, bytes) for c in certs)


def test_the_ca_is_self_issued_the_leaf_is_not(certs):
    assert sb.is_self_issued(certs.ca)
    assert not sb.is_self_issued(certs.leaf)
    issuer, subject = sb.issuer_and_subject(certs.leaf)
    assert issuer == sb.issuer_and_subject(certs.ca)[1] and b"leaf" in subject


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=60))
def test_garbage_is_not_a_self_issued_certificate(data):
    assert not sb.is_self_issued(b"\x30" + data)


def test_save_writes_pem_read_only_and_never_overwrites(certs, tmp_path):
    path = tmp_path / "ca.pem"
    sb.save_ca_cert(str(path), certs.ca)
    assert ssl.PEM_cert_to_DER_cert(path.read_text()) == certs.ca
    assert stat.S_IMODE(os.stat(path).st_mode) & 0o222 == 0
    with pytest.raises(OSError) as e:
        sb.save_ca_cert(str(path), certs.leaf)
    assert e.value.errno == errno.EEXIST
    assert ssl.PEM_cert_to_DER_cert(path.read_text()) == certs.ca


def test_recorder_keeps_the_chain_of_read_certificate_messages_only(certs):
    rec = sb.ChainRecorder()

    class Conn:                     # stands in for an SSLSocket (weak-referenceable)
        pass
    conn = Conn()
    rec(conn, "write", 0x0304, 22, 11, tls13_certificate([certs.leaf]))
    assert rec.chain(conn) == []
    rec(conn, "read", 0x0304, 22, 11, tls13_certificate([certs.leaf, certs.ca]))
    rec(conn, "read", 0x0304, 22, 15, b"\x0f\x00\x00\x00")
    assert rec.chain(conn) == [certs.leaf, certs.ca]
    rec(conn, "read", 0x0304, 22, 11, b"\x0b\x00\x00\x09garbage")
    assert rec.chain(conn) == []


# --- SslConfig: which files are used ------------------------------------------------------
@pytest.fixture
def clean_ssl_config():
    SslConfig.reset()
    yield
    SslConfig.reset()


def test_settings_files_and_bootstrap_flag(clean_ssl_config):
    SslConfig.apply({"private_key": "k", "certificate": "c", "ca_cert": "/nonexistent/ca",
                     "bootstrap_ca_cert": "true"})
    assert (SslConfig.private_key, SslConfig.certificate, SslConfig.ca_cert) == \
        ("k", "c", "/nonexistent/ca")
    assert SslConfig.bootstrap and SslConfig.bootstrapping()


def test_command_line_options_win_one_by_one(clean_ssl_config):
    args = SimpleNamespace(private_key="K", certificate=None, ca_cert=None,
                           bootstrap_ca_cert="/nonexistent/boot")
    SslConfig.apply({"private_key": "k", "certificate": "c", "ca_cert": "ca"}, args)
    assert (SslConfig.private_key, SslConfig.certificate, SslConfig.ca_cert,
            SslConfig.bootstrap) == ("K", "c", "/nonexistent/boot", True)
    args.bootstrap_ca_cert, args.ca_cert = None, "CA"
    SslConfig.apply({"ca_cert": "ca", "bootstrap_ca_cert": "true"}, args)
    assert (SslConfig.ca_cert, SslConfig.bootstrap) == ("CA", False)


def test_a_passive_side_cannot_bootstrap(clean_ssl_config, certs):
    SslConfig.configure(str(certs.dir / "leaf.key"), str(certs.dir / "leaf.crt"),
                        str(certs.dir / "missing-ca.pem"), bootstrap=True)
    ctx, bootstrap = SslConfig.context(server=False)
    assert bootstrap and ctx.verify_mode == ssl.CERT_NONE
    with pytest.raises(OSError) as e:
        SslConfig.context(server=True)
    assert e.value.errno == errno.ENOPROTOOPT


def test_incomplete_configuration_names_what_is_missing(clean_ssl_config):
    SslConfig.configure("k", None, None)
    with pytest.raises(OSError) as e:
        SslConfig.context(server=True)
    assert "a certificate, a CA certificate" in e.value.strerror


def test_verified_contexts_require_a_peer_certificate(clean_ssl_config, certs):
    SslConfig.configure(str(certs.dir / "leaf.key"), str(certs.dir / "leaf.crt"),
                        str(certs.dir / "ca.crt"))
    for server in (False, True):
        ctx, bootstrap = SslConfig.context(server)
        assert not bootstrap and ctx.verify_mode == ssl.CERT_REQUIRED
