"""CA certificate bootstrap for ``ssl:`` connections (OVS ``--bootstrap-ca-cert``).

What this module owns
---------------------
The pieces of "trust the peer's CA on first use" that do not depend on a live TLS
session:

* ``certificates_from_handshake``: the DER certificates of a TLS ``Certificate``
  handshake message (TLS 1.2 and 1.3 layouts), as the ``ssl`` module's message callback
  hands it over after decryption.  Python before 3.13 has no other way to see the chain
  a peer sent when verification is off.
* ``ChainRecorder``: a message callback for an ``ssl.SSLContext`` that remembers, per
  TLS socket, the last certificate chain received from the peer.
* ``is_self_issued``: whether a certificate names itself as its issuer (the test Open
  vSwitch applies before accepting the top of the chain as a CA).
* ``save_ca_cert``: write the accepted CA to its file, refusing to overwrite one that
  appeared meanwhile (another process bootstrapped first), read-only for everyone.

Malformed input never raises anything but ``ValueError``.

Must not import: anything in pyvswitch.
"""

from __future__ import annotations

import errno
import hashlib
import os
import ssl
import weakref

_HANDSHAKE = 22
_CERTIFICATE = 11
_TLS13 = 0x0304


def _u24(data: bytes, pos: int) -> int:
    if pos + 3 > len(data):
        raise ValueError("truncated length field")
    return int.from_bytes(data[pos:pos + 3], "big")


def certificates_from_handshake(version: int, data: bytes) -> list[bytes]:
    """The DER certificates in a Certificate handshake message, the peer's own first."""
    if len(data) < 4 or data[0] != _CERTIFICATE:
        raise ValueError("not a Certificate handshake message")
    body = data[4:4 + _u24(data, 1)]
    pos = 0
    if version >= _TLS13:
        if not body:
            raise ValueError("truncated certificate_request_context")
        pos = 1 + body[0]                      # certificate_request_context
    end = pos + 3 + _u24(body, pos)
    pos += 3
    if end > len(body):
        raise ValueError("certificate list longer than the message")
    certs = []
    while pos < end:
        n = _u24(body, pos)
        pos += 3
        if pos + n > end:
            raise ValueError("certificate longer than the list")
        certs.append(bytes(body[pos:pos + n]))
        pos += n
        if version >= _TLS13:                  # per-certificate extensions
            if pos + 2 > end:
                raise ValueError("truncated certificate extensions")
            pos += 2 + int.from_bytes(body[pos:pos + 2], "big")
    return certs


class ChainRecorder:
    """``SSLContext._msg_callback`` that keeps the peer's chain for each TLS socket."""

    def __init__(self) -> None:
        self._chains: "weakref.WeakKeyDictionary[object, list[bytes]]" = \
            weakref.WeakKeyDictionary()

    def __call__(self, conn, direction, version, content_type, msg_type, data) -> None:
        if direction != "read" or content_type != _HANDSHAKE or msg_type != _CERTIFICATE:
            return
        try:
            self._chains[conn] = certificates_from_handshake(int(version), data)
        except (ValueError, TypeError):
            self._chains[conn] = []

    def chain(self, conn) -> list[bytes]:
        """The chain ``conn``'s peer sent (``get_unverified_chain`` where Python has it)."""
        getter = getattr(conn, "get_unverified_chain", None)
        if getter is not None:
            try:
                chain = getter() or []
                return [c if isinstance(c, bytes) else c.public_bytes(ssl._ssl.ENCODING_DER)
                        for c in chain]
            except (ValueError, AttributeError, ssl.SSLError):
                pass
        return list(self._chains.get(conn, []))


def _tlv(data: bytes, pos: int) -> tuple[int, int, int]:
    """(tag, start of contents, end of contents) of the DER element at ``pos``."""
    if pos + 2 > len(data):
        raise ValueError("truncated DER element")
    tag, first = data[pos], data[pos + 1]
    pos += 2
    if first < 0x80:
        length = first
    else:
        n = first & 0x7F
        if not 1 <= n <= 4 or pos + n > len(data):
            raise ValueError("bad DER length")
        length = int.from_bytes(data[pos:pos + n], "big")
        pos += n
    if pos + length > len(data):
        raise ValueError("DER element longer than its container")
    return tag, pos, pos + length


def issuer_and_subject(der: bytes) -> tuple[bytes, bytes]:
    """The encoded issuer and subject names of an X.509 certificate."""
    tag, pos, _ = _tlv(der, 0)                 # Certificate
    if tag != 0x30:
        raise ValueError("not a certificate")
    tag, pos, end = _tlv(der, pos)             # TBSCertificate
    if tag != 0x30:
        raise ValueError("not a certificate")
    fields = []
    while pos < end and len(fields) < 6:
        tag, start, stop = _tlv(der, pos)
        fields.append((tag, der[pos:stop]))
        pos = stop
    if fields and fields[0][0] == 0xA0:        # explicit version
        fields.pop(0)
    if len(fields) < 5:
        raise ValueError("truncated certificate")
    # serialNumber, signature, issuer, validity, subject
    return fields[2][1], fields[4][1]


def is_self_issued(der: bytes) -> bool:
    try:
        issuer, subject = issuer_and_subject(der)
    except ValueError:
        return False
    return issuer == subject


def fingerprint(der: bytes) -> str:
    digest = hashlib.sha256(der).hexdigest()
    return ":".join(digest[i:i + 2] for i in range(0, len(digest), 2))


def save_ca_cert(path: str, der: bytes) -> None:
    """Create ``path`` (mode 0444) holding ``der`` as PEM.  OSError with EEXIST when the
    file already exists; a partly written file is removed."""
    fd = os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o444)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(ssl.DER_cert_to_PEM_cert(der))
    except OSError:
        try:
            os.unlink(path)
        except OSError:
            pass
        raise
    if not os.path.getsize(path):
        os.unlink(path)
        raise OSError(errno.EIO, f"{path}: nothing written")
