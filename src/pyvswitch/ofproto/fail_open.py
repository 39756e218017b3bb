"""fail_open: standalone mode's fallback when the controllers stay away
(OVS ofproto/fail-open.c).

What this module owns
---------------------
``FailOpen`` exists only while the bridge's fail_mode is standalone and it has at least one
primary controller (``ConnMgr.update_fail_open`` creates and destroys it).

* **Trigger**: once no primary controller has been *admitted* (``Rconn.is_admitted``: it
  sent something beyond handshake traffic) for ``trigger_duration()`` seconds - three
  times the largest configured probe interval of the primary controllers, 15 s by
  default - ``run`` logs "... failing open" and flushes the flow tables; ``flushed`` (the
  flush's callback) installs the hidden catch-all flow: table 0, priority 0xF0F0F0
  (above anything OpenFlow can set), ``actions=NORMAL``.  The switch is then a learning
  switch.  Every further 60 s of failure is logged once ("Still in fail-open mode...").
* **Bogus packet-ins**: while fail-open and some primary controller is connected (but not
  admitted), every 2 s a RARP frame from a random Nicira-OUI address goes to the
  controllers as a table-miss packet-in from LOCAL, to draw an admitting reply from an
  idle controller.  The first one leaves 2 s after a connection is first seen.
* **Recovery**: ``maybe_recover`` (called for every message received from any controller)
  leaves fail-open as soon as a primary controller is admitted: it logs "No longer in
  fail-open mode" and deletes *only* the fail-open flow - everything else stays.
* ``destroy`` (standalone -> secure, last primary controller removed) recovers first.

The owner gives it ``ofproto`` (duck-typed: ``flows.apply_flow_mod``, ``flush(now)``,
``name``) and the ``ConnMgr`` (``failure_duration``, ``max_probe_interval_s``,
``is_any_primary_connected``, ``is_any_primary_admitted``) and a ``send_packet_in(pin,
frame, now)`` callable (the normal packet-in path).

Time model: ``now`` (ms) is a parameter.  Must not import ``vswitchd``, ``ofproto_dpif``.
"""

from __future__ import annotations

import math
import random
from typing import Callable, NamedTuple

from pyvswitch.openflow.messages import OFPFC_ADD, OFPFC_DELETE_STRICT, FlowMod
from pyvswitch.openflow.ofpacts import OFPCML_NO_BUFFER, OFPP_LOCAL, OFPP_NORMAL, Instructions, Output
from pyvswitch.packet.compose import rarp_frame
from pyvswitch.packet.fields import Match
from pyvswitch.util.vlog import Logger

log = Logger("fail_open")

FAIL_OPEN_PRIORITY = 0xF0F0F0
BOGUS_PACKET_IN_INTERVAL_MS = 2000
STILL_FAILING_LOG_S = 60
NICIRA_OUI = 0x002320


class BogusPacketIn(NamedTuple):
    """The packet-in parameters of a bogus packet-in (same fields as xlate's cookie)."""

    reason: int = 0                       # NO_MATCH, so the "miss" scheduler
    table_id: int = 0
    cookie: int = 0xFFFFFFFFFFFFFFFF
    max_len: int = OFPCML_NO_BUFFER
    controller_id: int = 0
    pipeline: tuple = ()
    in_port: int = OFPP_LOCAL


def fail_open_flow_mod(command: int = OFPFC_ADD) -> FlowMod:
    return FlowMod(match=Match(), instructions=Instructions(apply=(Output(OFPP_NORMAL),)),
                   command=command, table_id=0, priority=FAIL_OPEN_PRIORITY)


class FailOpen:
    """Fail-open state of one bridge (see the module docstring)."""

    def __init__(self, ofproto, connmgr,
                 send_packet_in: Callable[[object, bytes, float], object],
                 rng: random.Random | None = None) -> None:
        self.ofproto = ofproto
        self.connmgr = connmgr
        self._send_packet_in = send_packet_in
        self._rng = rng or random.Random()
        self.last_disconn_secs = 0          # non-zero: fail-open is active
        self.next_bogus = math.inf          # when the next bogus packet-in leaves
        self.flow_installed = False         # the hidden flow is in table 0
        self.n_bogus_sent = 0

    @property
    def active(self) -> bool:
        return self.last_disconn_secs != 0

    def trigger_duration(self) -> int:
        """Seconds without an admitted controller before failing open."""
        return 3 * self.connmgr.max_probe_interval_s()

    def _past_trigger(self, now: float) -> tuple[bool, int]:
        secs = int(self.connmgr.failure_duration(now))
        trigger = self.trigger_duration()
        return secs > 0 and secs >= max(trigger, 1), secs

    # --- the loop ---------------------------------------------------------------------
    def run(self, now: float) -> None:
        past, secs = self._past_trigger(now)
        if past:
            if not self.active:
                log.warning("%s: Could not connect to controller (or switch failed "
                            "controller's post-connection admission control policy) "
                            "for %d seconds, failing open", self.ofproto.name, secs)
                self.last_disconn_secs = secs
                self.ofproto.flush(now)     # calls back self.flushed()
            elif secs > self.last_disconn_secs + STILL_FAILING_LOG_S:
                log.info("%s: Still in fail-open mode after %d seconds disconnected "
                         "from controller", self.ofproto.name, secs)
                self.last_disconn_secs = secs
        if self.active:
            if self.connmgr.is_any_primary_connected():
                due = now >= self.next_bogus
                if due:
                    self._send_bogus(now)
                if due or self.next_bogus == math.inf:
                    self.next_bogus = now + BOGUS_PACKET_IN_INTERVAL_MS
            else:
                self.next_bogus = math.inf

    def wait(self, poller, now: float) -> None:
        if self.next_bogus != math.inf:
            poller.timer_wait_until(self.next_bogus)
        elif not self.active:
            # Wake when the trigger could be reached (failure duration is whole seconds).
            secs = self.connmgr.failure_duration(now)
            trigger = max(self.trigger_duration(), 1)
            if secs < trigger:
                poller.timer_wait_until(now + (trigger - secs) * 1000 + 1)

    def _send_bogus(self, now: float) -> None:
        mac = (NICIRA_OUI << 24) | self._rng.getrandbits(24)
        self._send_packet_in(BogusPacketIn(), rarp_frame(mac), now)
        self.n_bogus_sent += 1

    # --- callbacks from the owner -----------------------------------------------------
    def flushed(self, now: float) -> None:
        """After any flush of the tables: (re)install the fail-open flow if due."""
        past, _ = self._past_trigger(now)
        if past:
            self.ofproto.flows.apply_flow_mod(fail_open_flow_mod(), now)
        self.flow_installed = past

    def maybe_recover(self, now: float) -> None:
        if self.active and self.connmgr.is_any_primary_admitted():
            self.recover(now)

    def recover(self, now: float) -> None:
        log.warning("%s: No longer in fail-open mode", self.ofproto.name)
        self.last_disconn_secs = 0
        self.next_bogus = math.inf
        self.ofproto.flows.apply_flow_mod(fail_open_flow_mod(OFPFC_DELETE_STRICT), now)

    def destroy(self, now: float) -> None:
        if self.active:
            self.recover(now)
