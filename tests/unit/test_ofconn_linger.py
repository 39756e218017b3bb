"""A session that answers a barrier waits briefly for the client's next request (what
ovs-ofctl add-flows sends: flow_mod + barrier, then waits for the reply) and handles it
in the same pass; other requests, or a client that says nothing more, end the pass."""

import socket
import struct
import threading
import time

import ovs.stream

from pyvswitch.conn.rconn import Rconn
from pyvswitch.io.vconn import StreamVconn
from pyvswitch.ofproto import ofconn as ofconn_mod
from pyvswitch.ofproto.ofconn import ConnType, OfConn

OFP13 = 0x04
HELLO = struct.pack("!BBHI", OFP13, 0, 8, 1)
BARRIER = struct.pack("!BBHI", OFP13, 20, 8, 2)
ECHO = struct.pack("!BBHI", OFP13, 2, 8, 3)


def session():
    ours, client = socket.socketpair()
    ours.setblocking(False)
    vconn = StreamVconn("unix#t", ovs.stream.Stream(ours, "unix#t", 0), frozenset({OFP13}))
    rconn = Rconn("t", 0, echo_request=lambda version: ECHO)
    rconn.connect_unreliably(vconn, 0)
    client.sendall(HELLO)
    conn = OfConn(rconn, ConnType.SERVICE)
    seen = []
    for _ in range(100):
        conn.run(0, lambda c, msg, now: seen.append(msg))
        if vconn.version:
            break
    assert vconn.version == OFP13
    client.recv(64)                        # our HELLO
    return conn, client, seen


def reply_to_barrier_then(client, follow_up, delay):
    """The client thread: read the barrier reply, wait ``delay``, send ``follow_up``."""
    def run():
        client.recv(64)
        time.sleep(delay)
        client.sendall(follow_up)
    t = threading.Thread(target=run)
    t.start()
    return t


def handled_in_one_run(conn, seen):
    def handle(c, msg, now):
        seen.append(msg)
        if msg[1] == 20:                   # answer the barrier, as ofproto does
            c.rconn.send(struct.pack("!BBHI", OFP13, 21, 8, 2))
    conn.run(0, handle)
    return [m[1] for m in seen]


def test_the_request_after_a_barrier_is_handled_in_the_same_pass(monkeypatch):
    monkeypatch.setattr(ofconn_mod, "BARRIER_LINGER_S", 0.5)   # a loaded CI machine
    monkeypatch.setattr(ofconn_mod, "LINGER_BUDGET_S", 1.0)
    conn, client, seen = session()
    seen.clear()
    t = reply_to_barrier_then(client, ECHO, 0.01)
    client.sendall(BARRIER)
    try:
        assert handled_in_one_run(conn, seen) == [20, 2]
    finally:
        t.join()


def test_a_quiet_client_ends_the_pass_after_the_linger():
    conn, client, seen = session()
    seen.clear()
    client.sendall(BARRIER)
    t0 = time.monotonic()
    assert handled_in_one_run(conn, seen) == [20]
    assert time.monotonic() - t0 < 0.2


def test_no_linger_after_other_requests(monkeypatch):
    monkeypatch.setattr(ofconn_mod, "BARRIER_LINGER_S", 0.5)
    monkeypatch.setattr(ofconn_mod, "LINGER_BUDGET_S", 1.0)
    conn, client, seen = session()
    seen.clear()
    client.sendall(ECHO)
    t0 = time.monotonic()
    conn.run(0, lambda c, msg, now: seen.append(msg))
    assert [m[1] for m in seen] == [2]
    assert time.monotonic() - t0 < 0.3


def test_a_request_and_its_barrier_written_apart_still_chain(monkeypatch):
    """ovs-ofctl writes the flow_mod and the barrier with two sends: the wait that
    brought the first also waits for the second."""
    monkeypatch.setattr(ofconn_mod, "BARRIER_LINGER_S", 0.5)
    monkeypatch.setattr(ofconn_mod, "LINGER_BUDGET_S", 2.0)
    conn, client, seen = session()
    seen.clear()

    def run():
        client.recv(64)                    # first barrier reply
        time.sleep(0.01)
        client.sendall(ECHO)
        time.sleep(0.01)
        client.sendall(BARRIER)
        client.recv(64)                    # second barrier reply
        client.sendall(ECHO)
    t = threading.Thread(target=run)
    t.start()
    client.sendall(BARRIER)
    try:
        assert handled_in_one_run(conn, seen) == [20, 2, 20, 2]
    finally:
        t.join()


def test_requests_left_by_a_full_reply_queue_are_handled_in_order_next_pass():
    """Requests that arrived together are handled until REPLY_MAX replies wait; the rest
    wait (in order, none lost or repeated) until the peer has read the replies."""
    conn, client, seen = session()
    n = ofconn_mod.REPLY_MAX + 20
    client.sendall(b"".join(struct.pack("!BBHI", OFP13, 2, 8, 100 + i) for i in range(n)))
    time.sleep(0.05)

    def handle(c, msg, now):
        seen.append(int.from_bytes(msg[4:8], "big"))
        c.reply_counter.n_packets += 1                   # a reply the peer has not read
    conn.run(0, handle)
    assert seen == list(range(100, 100 + ofconn_mod.MAX_RECV_PER_RUN))
    for _ in range(3):
        conn.run(0, handle)
    assert len(seen) == ofconn_mod.REPLY_MAX        # the queue is full: nothing more
    conn.reply_counter.n_packets = 0                 # the peer read them all
    for _ in range(3):
        conn.run(0, handle)
    assert seen == list(range(100, 100 + n))


def test_requests_left_over_die_with_their_connection():
    conn, client, seen = session()
    client.sendall(b"".join(struct.pack("!BBHI", OFP13, 2, 8, 100 + i) for i in range(5)))
    time.sleep(0.05)

    def handle(c, msg, now):
        seen.append(msg)
        c.reply_counter.n_packets = ofconn_mod.REPLY_MAX     # fills the queue at once
    conn.run(0, handle)
    assert len(seen) == 1
    conn.rconn.disconnect(0)
    conn.reply_counter.n_packets = 0
    conn.run(0, handle)
    assert len(seen) == 1


def test_a_wait_that_starts_with_a_spin_sees_input_and_times_out_like_a_sleeping_one():
    conn, client, seen = session()
    vconn = conn.rconn.vconn
    t0 = time.monotonic()
    assert not vconn.wait_readable(0.03, spin_s=0.01)       # spin 10 ms, then sleep
    assert time.monotonic() - t0 >= 0.03
    timer = threading.Timer(0.005, client.sendall, (ECHO,))
    timer.start()
    try:
        assert vconn.wait_readable(1.0, spin_s=1.0)         # arrives while spinning
    finally:
        timer.join()
    assert [m[1] for m in vconn.recv_many(10)] == [2]
