"""TLS streams for ``ssl:`` and ``pssl:`` targets (OVS lib/stream-ssl.c, much reduced).

What this module owns
---------------------
* ``SslConfig``: the process-wide private key, certificate and CA certificate, as
  ovs-vswitchd takes them from the SSL table (or ``--private-key``, ``--certificate``,
  ``--ca-cert``).  Both ends must present a certificate signed by the CA: a peer with a
  certificate from another CA, or none, fails the handshake and the reason is logged.
  Host names are not checked (Open vSwitch does not either).  Files are re-read when
  their modification time changes.
* ``SslStream``: a non-blocking TLS connection with the interface of
  ``ovs.stream.Stream`` (``connect``/``recv``/``send`` and the ``*_wait`` methods), so a
  ``StreamVconn`` runs over it unchanged.

Must not import: ``ofproto``, ``vswitchd``.
"""

from __future__ import annotations

import errno
import os
import socket
import ssl

import ovs.poller

from pyvswitch.config.model import DEFAULT_OFP_PORT, split_host_port
from pyvswitch.util.vlog import Logger

log = Logger("stream_ssl")


class SslConfig:
    """Key, certificate and CA files; contexts rebuilt when a file changes."""

    private_key: str | None = None
    certificate: str | None = None
    ca_cert: str | None = None
    _stamp: tuple | None = None
    _client: ssl.SSLContext | None = None
    _server: ssl.SSLContext | None = None

    @classmethod
    def configure(cls, private_key: str | None, certificate: str | None,
                  ca_cert: str | None) -> None:
        cls.private_key, cls.certificate, cls.ca_cert = private_key, certificate, ca_cert

    @classmethod
    def _mtimes(cls) -> tuple:
        out = []
        for path in (cls.private_key, cls.certificate, cls.ca_cert):
            try:
                out.append((path, os.stat(path).st_mtime_ns) if path else None)
            except OSError:
                out.append((path, None))
        return tuple(out)

    @classmethod
    def context(cls, server: bool) -> ssl.SSLContext:
        """A context for our side; OSError when the configuration is incomplete."""
        if not (cls.private_key and cls.certificate and cls.ca_cert):
            raise OSError(errno.ENOPROTOOPT, "SSL requires a private key, a certificate "
                          "and a CA certificate (the ssl table of the configuration)")
        stamp = cls._mtimes()
        if stamp != cls._stamp:
            cls._client = cls._server = None
            cls._stamp = stamp
        cached = cls._server if server else cls._client
        if cached is not None:
            return cached
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server else ssl.PROTOCOL_TLS_CLIENT)
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_REQUIRED
        try:
            ctx.load_cert_chain(cls.certificate, cls.private_key)
            ctx.load_verify_locations(cls.ca_cert)
        except (OSError, ssl.SSLError) as e:
            raise OSError(errno.EPROTO, f"cannot load SSL key/certificates: {e}") from e
        if server:
            cls._server = ctx
        else:
            cls._client = ctx
        return ctx


class SslStream:
    """A TLS stream over a non-blocking TCP socket (client or accepted server side)."""

    def __init__(self, sock: socket.socket, name: str, server: bool) -> None:
        self.socket = sock
        self.name = name
        self._server = server
        self._tls: ssl.SSLSocket | None = None
        self._handshaken = False
        self._error = 0
        self._want_write = False

    @classmethod
    def open(cls, target: str) -> "SslStream":
        """Start connecting to ``ssl:HOST[:PORT]``; OSError on immediate failure."""
        host, port = split_host_port(target.partition(":")[2])
        sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET,
                             socket.SOCK_STREAM)
        sock.setblocking(False)
        try:
            sock.connect((host, int(port or DEFAULT_OFP_PORT)))
        except BlockingIOError:
            pass
        except OSError:
            sock.close()
            raise
        return cls(sock, target, server=False)

    # --- ovs.stream.Stream interface ----------------------------------------------------
    def connect(self) -> int:
        if self._error:
            return self._error
        if self._handshaken:
            return 0
        if self._tls is None:
            err = self.socket.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
            if err:
                self._error = err
                return err
            try:
                self.socket.getpeername()
            except OSError:
                return errno.EAGAIN             # TCP connect still in progress
            try:
                ctx = SslConfig.context(self._server)
            except OSError as e:
                log.error("%s: %s", self.name, e.strerror)
                self._error = e.errno or errno.EPROTO
                return self._error
            self._tls = ctx.wrap_socket(self.socket, server_side=self._server,
                                        do_handshake_on_connect=False)
            self.socket = self._tls   # wrapping detached the plain socket object
        try:
            self._tls.do_handshake()
        except ssl.SSLWantReadError:
            self._want_write = False
            return errno.EAGAIN
        except ssl.SSLWantWriteError:
            self._want_write = True
            return errno.EAGAIN
        except (ssl.SSLError, OSError) as e:
            log.warning("%s: SSL handshake failed (%s)", self.name,
                        getattr(e, "reason", None) or e)
            self._error = errno.EPROTO
            return self._error
        self._handshaken = True
        return 0

    def recv(self, n: int) -> tuple[int, bytes]:
        status = self.connect()
        if status:
            return status, b""
        try:
            return 0, self._tls.recv(n)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
            return errno.EAGAIN, b""
        except ssl.SSLZeroReturnError:
            return 0, b""
        except (ssl.SSLError, OSError) as e:
            return getattr(e, "errno", None) or errno.EPROTO, b""

    def send(self, buf: bytes) -> int:
        status = self.connect()
        if status:
            return -status
        try:
            return self._tls.send(buf)
        except (ssl.SSLWantReadError, ssl.SSLWantWriteError, BlockingIOError):
            return -errno.EAGAIN
        except (ssl.SSLError, OSError) as e:
            return -(getattr(e, "errno", None) or errno.EPROTO)

    def run(self) -> None:
        pass

    def run_wait(self, poller) -> None:
        pass

    def connect_wait(self, poller) -> None:
        if self._error:
            poller.immediate_wake()
        elif self._tls is None:
            poller.fd_wait(self.socket, ovs.poller.POLLOUT)
        else:
            poller.fd_wait(self.socket,
                           ovs.poller.POLLOUT if self._want_write else ovs.poller.POLLIN)

    def recv_wait(self, poller) -> None:
        if self._tls is not None and self._tls.pending():
            poller.immediate_wake()
        else:
            poller.fd_wait(self.socket, ovs.poller.POLLIN)

    def send_wait(self, poller) -> None:
        poller.fd_wait(self.socket, ovs.poller.POLLOUT)

    def close(self) -> None:
        (self._tls or self.socket).close()
