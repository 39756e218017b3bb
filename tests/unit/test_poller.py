"""The main loop's poller: ovs.poller's interface, plus what the last poll found ready."""

import socket
import time

from pyvswitch.util import poller


def test_an_fd_watched_and_not_ready_is_skipped_until_a_poll_reports_it():
    a, b = socket.socketpair()
    try:
        p = poller.Poller()
        p.fd_wait(a, poller.POLLIN)
        p.immediate_wake()
        p.block()
        assert not poller.may_be_ready(a.fileno())
        assert poller.may_be_ready(b.fileno())       # not watched: unknown, so maybe
        b.send(b"x")
        assert not poller.may_be_ready(a.fileno())   # only the next poll can tell
        p.fd_wait(a, poller.POLLIN)
        p.block()                                    # returns at once: a is readable
        assert poller.may_be_ready(a.fileno())
    finally:
        a.close()
        b.close()


def test_a_drained_fd_is_read_again_after_the_next_poll():
    a, b = socket.socketpair()
    try:
        p = poller.Poller()
        p.fd_wait(a, poller.POLLIN)
        b.send(b"x")
        p.block()
        poller.mark_drained(a.fileno())
        assert poller.drained(a.fileno())
        p.fd_wait(a, poller.POLLIN)
        p.block()
        assert not poller.drained(a.fileno())
    finally:
        a.close()
        b.close()


def test_timers_bound_the_wait_and_registrations_are_one_shot():
    p = poller.Poller()
    p.timer_wait(30)
    p.timer_wait(5000)
    t = time.monotonic()
    p.block()
    assert 0.02 <= time.monotonic() - t < 1.0
    assert p.timeout == -1
    a, b = socket.socketpair()
    try:
        p.fd_wait(b, poller.POLLOUT)                 # writable at once
        t = time.monotonic()
        p.block()
        assert time.monotonic() - t < 0.5
    finally:
        a.close()
        b.close()
