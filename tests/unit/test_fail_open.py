"""Fail-open on a real Ofproto + ConnMgr whose controller connection is a scripted fake,
driven by a stepped clock: trigger time, the hidden NORMAL flow, bogus packet-ins,
recovery that removes only its own flow, secure mode, runtime fail_mode changes."""

import errno

from pyvswitch.config.model import ControllerConfig
from pyvswitch.netdev.base import open_netdev
from pyvswitch.ofproto.fail_open import FAIL_OPEN_PRIORITY
from pyvswitch.ofproto.ofproto import Ofproto
from pyvswitch.openflow.messages import OFPFC_ADD, FlowMod
from pyvswitch.openflow.ofpacts import OFPP_NORMAL, Instructions, Output
from pyvswitch.packet.fields import Match

VERSIONS = frozenset({0x04})


class FakeVconn:
    def __init__(self, name="fake", version=4):
        self.name, self.version = name, version
        self.inbox, self.sent, self.closed = [], [], False

    def connect(self):
        return 0

    def recv(self):
        return self.inbox.pop(0) if self.inbox else None

    def send(self, msg):
        self.sent.append(msg)
        return True

    def run(self):
        pass

    def wait(self, poller, want_recv, want_send):
        pass

    def close(self):
        self.closed = True


class Controller:
    """The opener of the switch's controller connection: down until ``come_back``."""

    def __init__(self):
        self.up = False
        self.vconn = None

    def __call__(self, target):
        if not self.up:
            raise OSError(errno.ECONNREFUSED, "Connection refused")
        self.vconn = FakeVconn(target)
        return self.vconn


def make(fail_mode="standalone", probe=5000):
    ofproto = Ofproto("br0", 1)
    ofproto.add_port("br0", open_netdev("br0", "dummy"), local=True)
    ofproto.fail_mode = fail_mode
    ctl = Controller()
    ofproto.connmgr.set_controllers(
        [ControllerConfig("tcp:192.0.2.1:6653", inactivity_probe=probe)], VERSIONS, 0)
    ofproto.flush(0)                         # the first primary controller arrived
    ofproto.connmgr.services["tcp:192.0.2.1:6653"].rconn._opener = ctl
    return ofproto, ctl


def run_until(ofproto, start, end, step=250):
    t = start
    while t <= end:
        ofproto.run(t)
        t += step
    return end


def hidden_flow(ofproto):
    return ofproto.flows.collect(0, Match(), strict=True, priority=FAIL_OPEN_PRIORITY)


def visible_flows(ofproto):
    return ofproto.flows.collect(0xFF, Match())


def add_flow(ofproto, priority, now):
    ofproto.flows.apply_flow_mod(FlowMod(
        match=Match().set("in_port", 1), priority=priority, table_id=0, command=OFPFC_ADD,
        instructions=Instructions(apply=(Output(OFPP_NORMAL),))), now)


def test_fails_open_after_three_probe_intervals_and_recovers():
    ofproto, ctl = make()
    fo = ofproto.connmgr.fail_open
    assert fo is not None and fo.trigger_duration() == 15
    add_flow(ofproto, 100, 0)                 # what the controller installed earlier
    run_until(ofproto, 0, 14_750)
    assert not fo.active and not hidden_flow(ofproto)
    assert len(visible_flows(ofproto)) == 1
    run_until(ofproto, 15_000, 15_500)
    assert fo.active
    assert len(hidden_flow(ofproto)) == 1     # the flush removed the old flow ...
    assert visible_flows(ofproto) == []       # ... and the new one is hidden
    assert ofproto.flows.table_stats()[0].active_count == 0

    # The controller comes back but stays silent: traffic keeps flowing, bogus
    # packet-ins every 2 s, the first 2 s after the connection is seen.
    ctl.up = True
    t = run_until(ofproto, 15_750, 30_000)     # reconnects after its 8 s backoff
    assert ofproto.connmgr.is_any_primary_connected()
    pins = [m for m in ctl.vconn.sent if m[1] == 10]
    assert 3 <= len(pins) <= 5
    assert b"\x80\x35" in pins[0]             # a RARP frame
    assert fo.active and hidden_flow(ofproto)

    add_flow(ofproto, 200, t)                 # the controller's flow arrives ...
    ctl.vconn.inbox.append(bytes([4, 20, 0, 8, 0, 0, 0, 9]))   # ... and a barrier: admitted
    ofproto.run(t + 10)
    ofproto.run(t + 20)
    assert not fo.active
    assert hidden_flow(ofproto) == []         # only the fail-open flow went away
    assert [r.priority for r in visible_flows(ofproto)] == [200]
    n = len(ctl.vconn.sent)
    run_until(ofproto, t + 100, t + 6000)
    assert not [m for m in ctl.vconn.sent[n:] if m[1] == 10]    # no more bogus packet-ins


def test_secure_never_adds_flows():
    ofproto, ctl = make("secure")
    add_flow(ofproto, 100, 0)
    assert ofproto.connmgr.fail_open is None
    run_until(ofproto, 0, 40_000, step=1000)
    assert hidden_flow(ofproto) == []
    assert [r.priority for r in visible_flows(ofproto)] == [100]   # nothing flushed


def test_fail_mode_changes_at_runtime():
    ofproto, ctl = make()
    run_until(ofproto, 0, 16_000, step=1000)
    assert hidden_flow(ofproto)
    ofproto.set_fail_mode("secure", 16_100)   # with a primary controller: no flush ...
    ofproto.run(16_200)
    assert ofproto.connmgr.fail_open is None  # ... but fail-open ends and its flow goes
    assert hidden_flow(ofproto) == []
    ofproto.set_fail_mode("standalone", 16_300)
    ofproto.run(16_400)
    assert ofproto.connmgr.fail_open is not None
    assert hidden_flow(ofproto)               # still far past the trigger: open again


def test_removing_the_last_controller_leaves_the_visible_normal_flow():
    ofproto, ctl = make()
    run_until(ofproto, 0, 16_000, step=1000)
    assert hidden_flow(ofproto)
    flipped = ofproto.connmgr.set_controllers([], VERSIONS, 16_100)
    assert flipped and ofproto.connmgr.fail_open is None
    ofproto.flush(16_100)                     # what the bridge does on the flip
    assert hidden_flow(ofproto) == []
    assert [r.priority for r in visible_flows(ofproto)] == [0]


def test_probes_disabled_fail_open_after_a_second():
    ofproto, ctl = make(probe=0)
    fo = ofproto.connmgr.fail_open
    assert fo.trigger_duration() == 0
    run_until(ofproto, 0, 500)
    assert not fo.active
    run_until(ofproto, 750, 1250)
    assert fo.active
