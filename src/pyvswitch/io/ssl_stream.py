"""TLS streams for ``ssl:`` and ``pssl:`` targets (OVS lib/stream-ssl.c, much reduced).

What this module owns
---------------------
* ``SslConfig``: the process-wide private key, certificate and CA certificate, as
  ovs-vswitchd takes them from the SSL table (or ``--private-key``, ``--certificate``,
  ``--ca-cert``, ``--bootstrap-ca-cert``), and the TLS contexts built from them.

  - Both ends must present a certificate that chains to the CA: a peer with a
    certificate from another CA, or none, fails the handshake and the reason is logged
    (rate-limited).  Host names are not checked (Open vSwitch does not either).  The
    literal CA file name ``none`` turns verification off (a warning says so).
  - Reload: every new connection checks the three files' name, modification time, size
    and inode; on a change the contexts are rebuilt, so new connections use the new
    files while established sessions keep theirs.  If the new files cannot be loaded (a
    key that does not match the certificate while an operator replaces both, say) the
    error is logged once and the previous contexts stay in use.
  - Bootstrap (``bootstrap_ca_cert``): while the CA file does not exist, an ``ssl:``
    connection handshakes without verifying the peer, takes the self-issued top of the
    chain the peer sent as the CA, saves it to the CA file (``io.ssl_bootstrap``), and
    drops the connection so that the reconnection is verified against it.  A ``pssl:``
    listener cannot bootstrap and refuses connections until the CA file exists.
* ``SslStream``: a non-blocking TLS connection with the interface of
  ``ovs.stream.Stream`` (``connect``/``recv``/``send`` and the ``*_wait`` methods), so a
  ``StreamVconn`` runs over it unchanged.

Time model: reads the monotonic clock only to rate-limit its log messages.
Must not import: ``ofproto``, ``vswitchd``.
"""

from __future__ import annotations

import errno
import os
import socket
import ssl
import time
from typing import Any, Mapping

import ovs.poller

from pyvswitch.config.model import DEFAULT_OFP_PORT, split_host_port
from pyvswitch.io import ssl_bootstrap
from pyvswitch.util.token_bucket import TokenBucket
from pyvswitch.util.vlog import Logger

log = Logger("stream_ssl")

# Handshake failures are caused by peers: at most 10 messages per second, bursts of 25
# (the rate Open vSwitch uses for SSL errors).
_failure_log = TokenBucket(rate=10 / 1000, burst=25)
_failures_suppressed = 0


def _log_failure(msg: str, *args) -> None:
    global _failures_suppressed
    if _failure_log.withdraw(1, time.monotonic() * 1000):
        if _failures_suppressed:
            msg += f" ({_failures_suppressed} similar messages suppressed)"
            _failures_suppressed = 0
        log.warning(msg, *args)
    else:
        _failures_suppressed += 1


def _file_stamp(path: str | None) -> tuple | None:
    if not path or path == "none":
        return (path,)
    try:
        st = os.stat(path)
    except OSError:
        return (path, None)
    return (path, st.st_mtime_ns, st.st_size, st.st_ino)


class SslConfig:
    """Key, certificate and CA files; contexts rebuilt when a file changes."""

    private_key: str | None = None
    certificate: str | None = None
    ca_cert: str | None = None
    bootstrap: bool = False
    _stamp: tuple | None = None
    _client: ssl.SSLContext | None = None
    _server: ssl.SSLContext | None = None
    _failed_stamp: tuple | None = None
    _warned_no_verify = False
    _recorder: ssl_bootstrap.ChainRecorder | None = None
    _bootstrap_ctx: ssl.SSLContext | None = None
    _bootstrap_stamp: tuple | None = None

    @classmethod
    def configure(cls, private_key: str | None, certificate: str | None,
                  ca_cert: str | None, bootstrap: bool = False) -> None:
        if (private_key, certificate, ca_cert, bootstrap) != \
                (cls.private_key, cls.certificate, cls.ca_cert, cls.bootstrap):
            cls._warned_no_verify = False
        cls.private_key, cls.certificate, cls.ca_cert = private_key, certificate, ca_cert
        cls.bootstrap = bool(bootstrap and ca_cert and ca_cert != "none")
        cls.refresh()

    @classmethod
    def refresh(cls) -> None:
        """Load the files now if they changed (errors are logged), so that a key pair
        that works at configuration time is the one kept if a later change breaks it."""
        if not (cls.private_key and cls.certificate and cls.ca_cert) or cls.bootstrapping():
            return
        stamp = cls._current_stamp()
        if stamp != cls._stamp:
            cls._rebuild(stamp)

    @classmethod
    def _current_stamp(cls) -> tuple:
        return tuple(_file_stamp(p) for p in (cls.private_key, cls.certificate, cls.ca_cert))

    @classmethod
    def apply(cls, settings: Mapping[str, str] | None, args: Any = None) -> None:
        """Files from a configuration's SSL settings (TOML ``[ssl]`` or the OVSDB SSL
        row); command-line options, when given, take precedence one by one."""
        settings = settings or {}

        def opt(name):
            return getattr(args, name, None) if args is not None else None

        key = opt("private_key") or settings.get("private_key")
        cert = opt("certificate") or settings.get("certificate")
        if opt("bootstrap_ca_cert"):
            ca, bootstrap = opt("bootstrap_ca_cert"), True
        elif opt("ca_cert"):
            ca, bootstrap = opt("ca_cert"), False
        else:
            ca = settings.get("ca_cert")
            bootstrap = str(settings.get("bootstrap_ca_cert", "false")).lower() == "true"
        cls.configure(key, cert, ca, bootstrap)

    @classmethod
    def reset(cls) -> None:
        """Forget files and contexts (tests)."""
        cls.configure(None, None, None)
        cls._stamp = cls._client = cls._server = cls._failed_stamp = None
        cls._bootstrap_ctx = cls._bootstrap_stamp = None

    @classmethod
    def bootstrapping(cls) -> bool:
        """Bootstrap requested and the CA file not there yet."""
        return cls.bootstrap and not os.path.exists(cls.ca_cert)

    @classmethod
    def invalidate(cls) -> None:
        """Rebuild the contexts on the next connection (the CA file was just written)."""
        cls._stamp = None

    @classmethod
    def _check_complete(cls) -> None:
        missing = [what for what, value in (("a private key", cls.private_key),
                                            ("a certificate", cls.certificate),
                                            ("a CA certificate", cls.ca_cert))
                   if not value]
        if missing:
            raise OSError(errno.ENOPROTOOPT, f"SSL requires {', '.join(missing)} "
                          "(the ssl table of the configuration)")

    @classmethod
    def context(cls, server: bool) -> tuple[ssl.SSLContext, bool]:
        """A context for our side and whether it is a bootstrap (unverified) one;
        OSError when the configuration is incomplete or cannot be loaded."""
        cls._check_complete()
        if cls.bootstrapping():
            if server:
                raise OSError(errno.ENOPROTOOPT, f"CA certificate {cls.ca_cert} does not "
                              "exist yet: only an ssl: connection can bootstrap it, "
                              "pssl: refuses connections until then")
            return cls._bootstrap_context(), True
        stamp = cls._current_stamp()
        if stamp != cls._stamp:
            cls._rebuild(stamp)
        cached = cls._server if server else cls._client
        if cached is None:   # never loaded successfully
            raise OSError(errno.EPROTO, "SSL key/certificates could not be loaded (see "
                          "the error logged earlier)")
        return cached, False

    @classmethod
    def _new_context(cls, server: bool, verify: bool) -> ssl.SSLContext:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER if server else ssl.PROTOCOL_TLS_CLIENT)
        ctx.minimum_version = ssl.TLSVersion.TLSv1_2
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_REQUIRED if verify else ssl.CERT_NONE
        ctx.load_cert_chain(cls.certificate, cls.private_key)
        return ctx

    @classmethod
    def _rebuild(cls, stamp: tuple) -> None:
        first = cls._client is None and cls._server is None
        verify = cls.ca_cert != "none"
        try:
            contexts = []
            for server in (False, True):
                ctx = cls._new_context(server, verify)
                if verify:
                    ctx.load_verify_locations(cls.ca_cert)
                contexts.append(ctx)
        except (OSError, ssl.SSLError) as e:
            if stamp != cls._failed_stamp:
                cls._failed_stamp = stamp
                log.error("cannot load SSL key/certificates (key %s, certificate %s, CA "
                          "%s): %s%s", cls.private_key, cls.certificate, cls.ca_cert,
                          getattr(e, "strerror", None) or e,
                          "" if first else "; keeping the previous ones")
            return        # _stamp unchanged: retried on the next connection
        if not verify and not cls._warned_no_verify:
            cls._warned_no_verify = True
            log.warning("CA certificate is \"none\": peer certificates are NOT verified, "
                        "anyone can connect")
        if not first:
            log.info("SSL key/certificates reloaded (key %s, certificate %s, CA %s)",
                     cls.private_key, cls.certificate, cls.ca_cert)
        cls._client, cls._server = contexts
        cls._stamp = stamp
        cls._failed_stamp = None

    @classmethod
    def _bootstrap_context(cls) -> ssl.SSLContext:
        stamp = (_file_stamp(cls.private_key), _file_stamp(cls.certificate))
        if cls._bootstrap_ctx is None or stamp != cls._bootstrap_stamp:
            try:
                ctx = cls._new_context(server=False, verify=False)
            except (OSError, ssl.SSLError) as e:
                raise OSError(errno.EPROTO, f"cannot load SSL key/certificate: "
                              f"{getattr(e, 'strerror', None) or e}") from e
            cls._recorder = ssl_bootstrap.ChainRecorder()
            ctx._msg_callback = cls._recorder
            cls._bootstrap_ctx, cls._bootstrap_stamp = ctx, stamp
        return cls._bootstrap_ctx

    @classmethod
    def finish_bootstrap(cls, name: str, tls: ssl.SSLSocket) -> int:
        """After an unverified handshake: save the peer's CA; always an errno (the
        connection is dropped and retried, now verified)."""
        recorder = cls._recorder
        chain = recorder.chain(tls) if recorder is not None else []
        if not chain:
            log.error("%s: could not bootstrap CA cert: no certificate presented by peer",
                      name)
            return errno.EPROTO
        top = chain[-1]
        if not ssl_bootstrap.is_self_issued(top):
            log.error("%s: could not bootstrap CA cert: the top certificate of the peer's "
                      "chain is not self-signed%s", name,
                      "; only one certificate was received, so probably the peer is not "
                      "configured to send its CA certificate" if len(chain) < 2 else "")
            return errno.EPROTO
        try:
            ssl_bootstrap.save_ca_cert(cls.ca_cert, top)
        except OSError as e:
            if e.errno == errno.EEXIST:
                log.info("%s: reading CA cert %s created by another process", name,
                         cls.ca_cert)
                cls.invalidate()
                return errno.EPROTO
            log.error("%s: could not bootstrap CA cert: creating %s failed: %s", name,
                      cls.ca_cert, e.strerror or e)
            return e.errno or errno.EIO
        log.info("%s: successfully bootstrapped CA cert to %s (SHA-256 fingerprint %s)",
                 name, cls.ca_cert, ssl_bootstrap.fingerprint(top))
        log.info("%s: dropping the bootstrap connection to retry using the CA cert", name)
        cls.invalidate()
        return errno.EPROTO


def _describe(e: Exception) -> str:
    """Why a handshake failed, in words an operator can act on."""
    verify = getattr(e, "verify_message", None)
    if verify:
        return f"peer certificate not accepted: {verify}"
    reason = getattr(e, "reason", None)
    if reason == "PEER_DID_NOT_RETURN_A_CERTIFICATE":
        return "peer presented no certificate"
    if reason in ("TLSV1_ALERT_UNKNOWN_CA", "SSLV3_ALERT_BAD_CERTIFICATE",
                  "TLSV13_ALERT_CERTIFICATE_REQUIRED"):
        return f"peer did not accept our certificate ({reason})"
    if isinstance(e, ssl.SSLEOFError) or isinstance(e, ConnectionError):
        return "connection closed by peer during the handshake"
    return str(reason or e)


class SslStream:
    """A TLS stream over a non-blocking TCP socket (client or accepted server side)."""

    def __init__(self, sock: socket.socket, name: str, server: bool) -> None:
        self.socket = sock
        self.name = name
        self._server = server
        self._tls: ssl.SSLSocket | None = None
        self._bootstrap = False
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
                ctx, self._bootstrap = SslConfig.context(self._server)
            except OSError as e:
                _log_failure("%s: %s", self.name, e.strerror)
                self._error = e.errno or errno.EPROTO
                return self._error
            self.socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
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
            _log_failure("%s: SSL handshake failed: %s", self.name, _describe(e))
            self._error = errno.EPROTO
            return self._error
        if self._bootstrap:
            self._error = SslConfig.finish_bootstrap(self.name, self._tls)
            return self._error
        self._handshaken = True
        log.info("%s: TLS session established (%s, peer %s)", self.name,
                 self._tls.version(), self.peer_subject() or "unverified")
        return 0

    def peer_subject(self) -> str | None:
        """The verified peer certificate's common name, if any."""
        try:
            cert = self._tls.getpeercert() if self._tls is not None else None
        except (ValueError, ssl.SSLError):
            return None
        for rdn in (cert or {}).get("subject", ()):
            for key, value in rdn:
                if key == "commonName":
                    return f"CN={value}"
        return None

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
        except ssl.SSLError as e:
            # With TLS 1.3 a peer that refuses our certificate says so only now.
            _log_failure("%s: SSL receive failed: %s", self.name, _describe(e))
            return errno.EPROTO, b""
        except OSError as e:
            return e.errno or errno.EPROTO, b""

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
        if self._error or self._handshaken:
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
