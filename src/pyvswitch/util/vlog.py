"""Logging through the ``ovs`` package's vlog, with the call style of ``logging``.

What this module owns
---------------------
``Logger(module)``: a thin adapter over ``ovs.vlog.Vlog`` so that every pyvswitch module
logs under its own vlog module name (visible and settable with ``ovs-appctl vlog/list``
and ``vlog/set``, and ``-v module:dest:level`` on the command line), while call sites keep
``log.info("%s: connected", name)``-style lazy formatting.  Formatting happens only when
the level is enabled.  Before ``Vlog.init`` (as in unit tests) nothing is written.

``ovs.vlog`` forbids creating modules after ``Vlog.init``; a module first imported after
that logs under the generic "pyvswitch" module instead of failing.

``exception`` is for bugs caught at a fault-isolation boundary (one message, one packet,
one session).  It is rate-limited per call site and exception type, so a peer that can
trigger the same bug a thousand times a second cannot flood the log: the first occurrence
is logged with its traceback, later ones at most once per ``EXC_SUMMARY_INTERVAL_S`` as a
one-line summary with the number suppressed, and the traceback again after
``EXC_TRACEBACK_INTERVAL_S``.  Every call bumps the ``unexpected_exception`` coverage
counter.  This reads the monotonic clock (logging is I/O, like writing the line).

Must not import: anything else in pyvswitch except ``util.coverage``.
"""

from __future__ import annotations

import sys
import time

import ovs.vlog

from pyvswitch.util import coverage

_FALLBACK = ovs.vlog.Vlog("pyvswitch")
_UNEXPECTED = coverage.Counter("unexpected_exception")

EXC_TRACEBACK_INTERVAL_S = 60.0
EXC_SUMMARY_INTERVAL_S = 1.0


class _ExcState:
    __slots__ = ("next_traceback", "next_summary", "suppressed")

    def __init__(self) -> None:
        self.next_traceback = float("-inf")
        self.next_summary = float("-inf")
        self.suppressed = 0


#: (template, exception type, file, line) -> rate-limit state; bounded by the call sites.
_EXC_STATES: dict[tuple, _ExcState] = {}


def _exc_key(msg: str) -> tuple:
    etype, _, tb = sys.exc_info()
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    where = (tb.tb_frame.f_code.co_filename, tb.tb_lineno) if tb is not None else ("", 0)
    return (msg, etype, *where)


class Logger:
    __slots__ = ("_vlog",)

    def __init__(self, module: str) -> None:
        try:
            self._vlog = ovs.vlog.Vlog(module)
        except AssertionError:
            self._vlog = _FALLBACK

    @staticmethod
    def _fmt(msg: str, args: tuple) -> str:
        return msg % args if args else msg

    def debug(self, msg: str, *args) -> None:
        if self._vlog.dbg_is_enabled():
            self._vlog.dbg(self._fmt(msg, args))

    def info(self, msg: str, *args) -> None:
        if self._vlog.info_is_enabled():
            self._vlog.info(self._fmt(msg, args))

    def warning(self, msg: str, *args) -> None:
        if self._vlog.warn_is_enabled():
            self._vlog.warn(self._fmt(msg, args))

    def error(self, msg: str, *args) -> None:
        if self._vlog.err_is_enabled():
            self._vlog.err(self._fmt(msg, args))

    def exception(self, msg: str, *args) -> None:
        """Log the current exception at error level, rate-limited (see the module
        docstring): the traceback first, then periodic one-line summaries."""
        _UNEXPECTED.inc()
        key = _exc_key(msg)
        state = _EXC_STATES.get(key)
        if state is None:
            if len(_EXC_STATES) >= 1024:     # defensive bound; call sites are few
                _EXC_STATES.clear()
            state = _EXC_STATES[key] = _ExcState()
        now = time.monotonic()
        text = self._fmt(msg, args)
        if state.suppressed:
            text += f" ({state.suppressed} similar errors suppressed)"
        if now >= state.next_traceback:
            state.next_traceback = now + EXC_TRACEBACK_INTERVAL_S
            state.next_summary = now + EXC_SUMMARY_INTERVAL_S
            state.suppressed = 0
            self._vlog.exception(text)
        elif now >= state.next_summary:
            state.next_summary = now + EXC_SUMMARY_INTERVAL_S
            state.suppressed = 0
            etype, value, _ = sys.exc_info()
            name = etype.__name__ if etype is not None else "error"
            self._vlog.err(f"{text}: {name}: {value} (traceback logged earlier)")
        else:
            state.suppressed += 1
