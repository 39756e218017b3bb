"""poller: the main loop's poll(2) call, and what the last one found ready.

What this module owns
---------------------
``Poller`` has the interface of ``ovs.poller.Poller`` (``fd_wait``, ``timer_wait``,
``timer_wait_until``, ``immediate_wake``, ``block``), so the ``ovs`` library's streams,
unixctl server and OVSDB IDL wait on it unchanged.  It differs in two ways that matter
on a loop that runs once per OpenFlow request:

* it calls poll(2) (``ovs.poller`` emulates poll with select(2), rebuilding three fd
  lists every pass, formatting a debug line per ready fd, and is limited to fds below
  1024);
* it remembers which fds the last ``block()`` found ready.  ``may_be_ready(fd)`` is
  False only for an fd that the last poll watched for input and did not report: a
  listener or an idle device then skips an ``accept``/``recv`` that could only say
  EAGAIN.  An fd the last poll did not watch is always "maybe ready", so code that
  never waited (unit tests, the first pass) behaves as before.

``drained(fd)`` / ``mark_drained(fd)`` let a reader that got a short read skip a second
read of the same fd before the next poll (poll is level-triggered: data that arrives
meanwhile is reported by the next one).

Invariants: readiness is a hint to skip work, never to do it - every caller still
handles EAGAIN.  Only the main thread calls ``block`` (module state is per process).
Time model: ``timer_wait_until`` reads ``ovs.timeval.msec()`` like ovs.poller.
Must not import anything in pyvswitch.
"""

from __future__ import annotations

import errno
import select

import ovs.timeval

POLLIN = select.POLLIN
POLLOUT = select.POLLOUT
_INPUT_EVENTS = select.POLLIN | select.POLLERR | select.POLLHUP | select.POLLNVAL

# What the last block() watched for input and what it found ready (fd -> revents).
_watched_in: set[int] = set()
_ready: dict[int, int] = {}
_generation = 0          # increments at every block()
_drained: dict[int, int] = {}


def may_be_ready(fd: int) -> bool:
    """False only if the last poll watched ``fd`` for input and it was not ready."""
    return fd not in _watched_in or bool(_ready.get(fd, 0) & _INPUT_EVENTS)


def mark_drained(fd: int) -> None:
    """``fd`` was read until it had nothing more, since the last poll."""
    _drained[fd] = _generation


def forget_drained(fd: int) -> None:
    """``fd`` has input again (a reader's own wait said so)."""
    _drained.pop(fd, None)


def drained(fd: int) -> bool:
    """True if ``mark_drained(fd)`` was called since the last poll (never before the
    first poll: code that does not run this loop keeps reading)."""
    return _generation > 0 and _drained.get(fd) == _generation


def _fileno(fd) -> int:
    return fd if isinstance(fd, int) else fd.fileno()


class Poller:
    """One pass's wait: register, then ``block()`` (which also resets the registrations,
    so one Poller can serve every pass)."""

    __slots__ = ("_fds", "timeout")

    def __init__(self) -> None:
        self._fds: dict[int, int] = {}
        self.timeout = -1            # ms; -1 waits for ever, 0 not at all

    def fd_wait(self, fd, events: int) -> None:
        fd = _fileno(fd)
        self._fds[fd] = self._fds.get(fd, 0) | events

    def timer_wait(self, msec: float) -> None:
        if msec <= 0:
            self.timeout = 0
        elif self.timeout < 0 or msec < self.timeout:
            self.timeout = msec

    def timer_wait_until(self, msec: float) -> None:
        self.timer_wait(msec - ovs.timeval.msec())

    def immediate_wake(self) -> None:
        self.timeout = 0

    def block(self) -> None:
        global _generation, _watched_in, _ready
        fds = self._fds
        p = select.poll()
        for fd, events in fds.items():
            p.register(fd, events)
        timeout = self.timeout
        try:
            events = p.poll(None if timeout < 0 else int(-(-timeout // 1)))
        except InterruptedError:      # a signal: its wakeup fd is watched, look again
            events = []
        except OSError as e:          # pragma: no cover - poll(2) itself failing
            if e.errno != errno.EINTR:
                raise
            events = []
        _watched_in = {fd for fd, ev in fds.items() if ev & POLLIN}
        _ready = dict(events)
        _generation += 1
        if len(_drained) > 4096:
            _drained.clear()
        self._fds = {}
        self.timeout = -1
