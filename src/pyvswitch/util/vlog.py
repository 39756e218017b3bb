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

Must not import: anything else in pyvswitch.
"""

from __future__ import annotations

import ovs.vlog

_FALLBACK = ovs.vlog.Vlog("pyvswitch")


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
        """Log at error level with the current exception's traceback."""
        self._vlog.exception(self._fmt(msg, args))
