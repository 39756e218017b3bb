"""Passive OpenFlow listeners: ptcp:, pssl:, punix:.

What this module owns
---------------------
Opening a listening socket for a passive target in Open vSwitch's spelling
(``ptcp:[PORT][:IP]`` and ``pssl:[PORT][:IP]``, default port 6653 on all addresses;
``punix:PATH``), accepting connections without blocking, and handing each one out as an
``ovs.stream.Stream`` (or, for pssl:, an ``io.ssl_stream.SslStream`` that completes the
TLS handshake as the session starts) ready for a ``StreamVconn``.  Unix sockets are created owner-only (0600) and removed on close.
The ``ovs`` package's PassiveStream is not used because it reads ``ptcp:`` as IP:PORT
(the reverse of ovs-vswitchd) and leaves the listening socket blocking.

Must not import: ``ofproto``, ``vswitchd``.
"""

from __future__ import annotations

import errno
import os
import socket

import ovs.poller
import ovs.stream

from pyvswitch.config.model import DEFAULT_OFP_PORT
from pyvswitch.util.poller import may_be_ready


class Listener:
    """A listening socket for one passive target."""

    def __init__(self, target: str, sock: socket.socket, path: str | None) -> None:
        self.target = target
        self.sock = sock
        self.path = path

    @classmethod
    def open(cls, target: str, backlog: int = 64) -> "Listener":
        """Listen on ``target``; raises OSError (with errno) when that is impossible."""
        method, _, rest = target.partition(":")
        path = None
        if method in ("ptcp", "pssl"):
            port_text, _, host = rest.partition(":")
            port = int(port_text) if port_text else DEFAULT_OFP_PORT
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                sock.bind((host.strip("[]") or "0.0.0.0", port))
            except OSError:
                sock.close()
                raise
        elif method == "punix":
            path = rest
            if os.path.exists(path):
                os.unlink(path)  # a stale socket from a previous run
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            old = os.umask(0o177)
            try:
                sock.bind(path)
            except OSError:
                sock.close()
                raise
            finally:
                os.umask(old)
        else:
            raise OSError(errno.EAFNOSUPPORT, f'"{target}": unsupported passive target')
        sock.listen(backlog)
        sock.setblocking(False)
        return cls(target, sock, path)

    @property
    def port(self) -> int | None:
        """The TCP port actually bound (useful with ptcp:0)."""
        if self.sock.family in (socket.AF_INET, socket.AF_INET6):
            return self.sock.getsockname()[1]
        return None

    def accept(self) -> tuple[str, ovs.stream.Stream] | None:
        """One accepted connection as (name, stream), or None if none is waiting."""
        if not may_be_ready(self.sock.fileno()):    # the last poll saw nobody waiting
            return None
        try:
            sock, addr = self.sock.accept()
        except (BlockingIOError, InterruptedError):
            return None
        except OSError as e:
            if e.errno in (errno.EAGAIN, errno.ECONNABORTED):
                return None
            raise
        sock.setblocking(False)
        if self.target.startswith("pssl:"):
            from pyvswitch.io.ssl_stream import SslStream
            name = f"ssl:{addr[0]}:{addr[1]}"
            return name, SslStream(sock, name, server=True)
        if sock.family == socket.AF_UNIX:
            name = f"unix#{sock.fileno()}"
        else:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            name = f"tcp:{addr[0]}:{addr[1]}"
        return name, ovs.stream.Stream(sock, name, 0)

    def wait(self, poller: ovs.poller.Poller) -> None:
        poller.fd_wait(self.sock, ovs.poller.POLLIN)

    def close(self) -> None:
        self.sock.close()
        if self.path:
            try:
                os.unlink(self.path)
            except FileNotFoundError:
                pass
            self.path = None
