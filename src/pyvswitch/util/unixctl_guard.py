"""unixctl_guard: every ``ovs-appctl`` command runs behind a fault boundary.

What this module owns
---------------------
``ovs.unixctl`` calls a command's callback straight from the daemon's main loop, so an
exception in any command - ours, or the library's own (``set-options`` parses its
arguments with argparse, which raises ``SystemExit`` on a bad one) - would end the
daemon: anyone who can reach the unixctl socket could stop the switch with a typo.
``install()`` wraps every registered callback, and every one registered later (it
replaces ``ovs.unixctl.command_register``), so that such a failure is logged (rate-
limited, with its traceback) and answered with an error reply, and the daemon goes on.

Invariants: a callback is wrapped once; ``KeyboardInterrupt`` still propagates.
Time model: none.  Must not import anything in pyvswitch but ``util``.
"""

from __future__ import annotations

from typing import Any, Callable

import ovs.unixctl

from pyvswitch.util import coverage
from pyvswitch.util.vlog import Logger

log = Logger("unixctl_guard")
COMMAND_FAILED = coverage.Counter("unixctl_command_failed")
_original_register = ovs.unixctl.command_register


def guard(name: str, callback: Callable[..., Any]) -> Callable[..., Any]:
    """``callback`` wrapped so that it cannot raise into the caller."""
    if getattr(callback, "_pyvswitch_guarded", False):
        return callback

    def call(conn, argv, aux):
        try:
            callback(conn, argv, aux)
        except KeyboardInterrupt:
            raise
        except BaseException as e:  # noqa: BLE001 - SystemExit from argparse included
            COMMAND_FAILED.inc()
            log.exception("unixctl command %s failed", name)
            try:
                conn.reply_error(f"{name}: failed ({type(e).__name__}: {e})\n")
            except Exception:  # noqa: BLE001 - it had replied already before failing
                pass
    call._pyvswitch_guarded = True
    return call


def _register(name, usage, min_args, max_args, callback, aux):
    _original_register(name, usage, min_args, max_args, guard(name, callback), aux)


def install() -> None:
    """Guard every command registered so far and every one registered from now on."""
    for name, command in ovs.unixctl.commands.items():
        command.callback = guard(name, command.callback)
    ovs.unixctl.command_register = _register
