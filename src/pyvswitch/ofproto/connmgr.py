"""connmgr: every OpenFlow connection of one bridge (OVS ofproto/connmgr.c).

What this module owns
---------------------
* **Services**: one per configured controller target.  An active target (tcp:, ssl:,
  unix:) owns a reliable ``Rconn`` and at most one ``OfConn`` at a time; a passive target
  (ptcp:, punix:, pssl:) owns a ``Listener`` and gives each accepted connection its own
  unreliable rconn and ofconn.  The management socket ``<rundir>/<bridge>.mgmt`` is a
  passive service the bridge layer always configures.
* **Snoops**: listeners whose accepted connections are attached as monitors to the rconn
  of the active service with the best role (master > equal > slave), getting a copy of
  every message it sends and receives.
* **Roles**: the bridge-wide master generation id; a new master demotes the others and
  tells OF1.3+ sessions with ROLE_STATUS.
* **Async fan-out**: ``send_async`` offers one message to every session whose role and
  masks accept it; packet-ins go through ``send_packet_in`` (``ofproto/packet_in.py``:
  per-session encoding, rate limiting by ``conn/pinsched.py``).
* **Flow monitors**: ``monitors`` (``ofproto/monitors.MonitorHub``) reports flow changes
  to the sessions' monitors and resumes paused sessions in ``run``.  Bundles belong to
  the sessions; ``set_bundle_idle_timeout`` sets their idle timeout.
* **Fail-open** (``ofproto/fail_open.py``) while fail_mode is standalone and there is a
  primary controller, and **in-band** rules (``ofproto/in_band.py``) while some
  controller is in-band; both are reconciled with the configuration on every ``run``.

Limits and fault isolation: a passive service keeps at most ``max_connections`` accepted
sessions (Controller ``other_config:max-connections``, default ``MAX_CONNECTIONS``) and
the snoop listeners at most ``MAX_PENDING_SNOOPS`` connections still in HELLO; a
connection beyond that is accepted and closed at once, logged (rate-limited) and counted
(``n_refused``, coverage ``connmgr_refused``).  An unexpected exception while running one
session (outside the per-message handler, which answers with an error itself) is logged
rate-limited and ends that session only (coverage ``ofconn_crash``); a failing ``accept``
(e.g. EMFILE) is logged and retried on the next pass.

Order of work in ``run`` follows OVS connmgr_run: in-band, ofconns (scheduled packet-ins,
receive and handle - each received message may end fail-open), monitor resumes, fail-open, then services
(accept, connect), then snoops.  ``now`` is a parameter (milliseconds).

Must not import: ``vswitchd``.  I/O happens through ``io.vconn``/``io.listener`` objects.
"""

from __future__ import annotations

import errno

from dataclasses import dataclass, field
from typing import Callable

from pyvswitch.config.model import ControllerConfig, with_default_port
from pyvswitch.conn.rconn import Rconn
from pyvswitch.io.listener import Listener
from pyvswitch.io.vconn import StreamVconn
from pyvswitch.openflow import codec
from pyvswitch.openflow.messages import (
    ROLE_EQUAL, ROLE_MASTER, ROLE_SLAVE, EchoRequest, Message, RoleStatus,
)
from pyvswitch.openflow.framing import SUPPORTED_VERSIONS
from pyvswitch.ofproto import packet_in
from pyvswitch.ofproto.bundles import IDLE_TIMEOUT_MS
from pyvswitch.ofproto.monitors import MonitorHub
from pyvswitch.ofproto.fail_open import FailOpen
from pyvswitch.ofproto.in_band import InBand, parse_remote
from pyvswitch.ofproto.ofconn import ConnType, OfConn
from pyvswitch.util import coverage
from pyvswitch.util.vlog import Logger

log = Logger("connmgr")

#: Default cap on the sessions one listener (ptcp:, punix:, pssl:) holds at once.
MAX_CONNECTIONS = 256
#: Refusals and accept failures are logged at most this often per service.
REFUSE_LOG_INTERVAL_MS = 5000
REFUSED = coverage.Counter("connmgr_refused")
ACCEPT_FAILED = coverage.Counter("connmgr_accept_failed")
OFCONN_CRASH = coverage.Counter("ofconn_crash")
#: Snoop connections still exchanging HELLO; more are closed at once (a snoop listener
#: takes at most MAX_MONITORS monitors anyway).
MAX_PENDING_SNOOPS = 8

DEFAULT_PROBE_MS = 5000
DEFAULT_MAX_BACKOFF_MS = 8000
ROLE_STATUS_MASTER_REQUEST = 0

Handler = Callable[[OfConn, bytes, float], None]


def _echo_request(version: int) -> bytes:
    return codec.encode(EchoRequest(), version if version > 0 else 0x01, 0)


@dataclass
class Service:
    """One configured controller target."""

    config: ControllerConfig
    conn_type: ConnType
    versions: frozenset[int]
    rconn: Rconn | None = None
    listener: Listener | None = None
    ofconn: OfConn | None = None          # active services only
    accepted: list[OfConn] = field(default_factory=list)  # passive services only
    n_refused: int = 0                    # connections closed at once (max_connections)
    next_refuse_log: float = float("-inf")

    @property
    def target(self) -> str:
        return self.config.target

    @property
    def probe_interval_ms(self) -> int:
        probe = self.config.inactivity_probe
        return DEFAULT_PROBE_MS if probe is None else probe

    @property
    def max_backoff_ms(self) -> int:
        return self.config.max_backoff or DEFAULT_MAX_BACKOFF_MS

    @property
    def queue_limit(self) -> int:
        return self.config.controller_queue_size or 100

    @property
    def max_connections(self) -> int:
        """other_config:max-connections (a positive integer), else MAX_CONNECTIONS."""
        raw = self.config.other_config.get("max-connections")
        try:
            value = int(raw) if raw is not None else MAX_CONNECTIONS
        except ValueError:
            value = MAX_CONNECTIONS
        return value if value > 0 else MAX_CONNECTIONS

    @property
    def in_band(self) -> bool:
        return self.config.connection_mode in (None, "in-band")

    def ofconns(self) -> list[OfConn]:
        return ([self.ofconn] if self.ofconn else []) + self.accepted


class ConnMgr:
    """The connections of one bridge."""

    def __init__(self, bridge: str, handle: Handler) -> None:
        self.bridge = bridge
        self._handle = handle
        self.services: dict[str, Service] = {}
        self.snoop_listeners: dict[str, Listener] = {}
        self._pending_snoops: list[StreamVconn] = []
        self.master_generation_id: int | None = None
        self.ofproto = None                 # the owning Ofproto (set by it): flows, flush
        self.fail_open: FailOpen | None = None
        self.in_band: InBand | None = None
        self.in_band_disabled = False       # Bridge other_config:disable-in-band
        self.in_band_queue: int | None = None   # Bridge other_config:in-band-queue
        self.in_band_lookup = None          # next-hop MAC lookup override (tests)
        # (IPv4, port) of the OVSDB managers, in-band remotes too (OVS
        # ofproto_set_extra_in_band_remotes); ignored while in-band is disabled.
        self.extra_in_band_remotes: list[tuple[str, int]] = []
        self.n_async_unsent = 0             # packet-ins no session took
        self.monitors = MonitorHub(self.all_ofconns, self._flows)
        self.bundle_idle_timeout_ms = IDLE_TIMEOUT_MS

    def _flows(self):
        return getattr(self.ofproto, "flows", None)

    def set_bundle_idle_timeout(self, seconds: int | None) -> None:
        """other_config:bundle-idle-timeout (seconds; unset or 0: the 10 s default),
        applied to every session's bundles (OVS connmgr_set_bundle_idle_timeout)."""
        self.bundle_idle_timeout_ms = seconds * 1000 if seconds else IDLE_TIMEOUT_MS
        for ofconn in self.all_ofconns():
            ofconn.bundles.idle_timeout_ms = self.bundle_idle_timeout_ms

    # --- configuration ----------------------------------------------------------------
    def has_primary_controllers(self) -> bool:
        return any(s.conn_type is ConnType.PRIMARY for s in self.services.values())

    def set_controllers(self, configs: list[ControllerConfig], versions: frozenset[int],
                        now: float) -> bool:
        """Reconcile services with ``configs``.  Returns True when "has a primary
        controller" flipped (the caller then flushes flows, groups and meters)."""
        had_primary = self.has_primary_controllers()
        wanted = {c.target: c for c in configs}
        for target in list(self.services):
            svc = self.services[target]
            if target not in wanted or svc.versions != versions:
                self._destroy_service(svc, now)
        for target, cfg in wanted.items():
            svc = self.services.get(target)
            if svc is None:
                self._create_service(cfg, versions, now)
            else:
                self._reconfigure_service(svc, cfg, now)
        self.update_fail_open(now)
        return had_primary != self.has_primary_controllers()

    def set_snoops(self, targets: list[str]) -> None:
        for target in list(self.snoop_listeners):
            if target not in targets:
                self.snoop_listeners.pop(target).close()
        for target in targets:
            if target not in self.snoop_listeners:
                try:
                    self.snoop_listeners[target] = Listener.open(target)
                except OSError as e:
                    log.error("%s: %s: cannot listen for snoop connections (%s)",
                              self.bridge, target, e.strerror or e)

    def _create_service(self, cfg: ControllerConfig, versions: frozenset[int],
                        now: float) -> None:
        conn_type = ConnType.PRIMARY if cfg.is_primary else ConnType.SERVICE
        svc = Service(cfg, conn_type, versions)
        if cfg.is_passive:
            target = with_default_port(cfg.target)
            try:
                svc.listener = Listener.open(target)
            except OSError as e:
                log.error("%s: %s: listen failed (%s)", self.bridge, cfg.target,
                          e.strerror or e)
                return
        else:
            svc.rconn = Rconn(f"{self.bridge}<->{cfg.target}", now,
                              opener=lambda t, v=versions: StreamVconn.open(
                                  with_default_port(t), v),
                              echo_request=_echo_request,
                              max_backoff_ms=svc.max_backoff_ms,
                              probe_interval_ms=svc.probe_interval_ms)
            svc.rconn.set_probe_interval(svc.probe_interval_ms)
            svc.rconn.connect(cfg.target, now)
        self.services[cfg.target] = svc
        if not cfg.target.startswith("punix:") or not cfg.target.endswith(".mgmt"):
            log.info('%s: added %s controller "%s"', self.bridge, conn_type.value,
                     cfg.target)

    def _reconfigure_service(self, svc: Service, cfg: ControllerConfig, now: float) -> None:
        svc.config = cfg
        svc.conn_type = ConnType.PRIMARY if cfg.is_primary else ConnType.SERVICE
        if svc.rconn is not None:
            svc.rconn.set_max_backoff(svc.max_backoff_ms)
            svc.rconn.set_probe_interval(svc.probe_interval_ms)
        for ofconn in svc.ofconns():
            ofconn.queue_limit = svc.queue_limit
            ofconn.set_rate_limit(cfg.controller_rate_limit, cfg.controller_burst_limit)

    def _destroy_service(self, svc: Service, now: float) -> None:
        for ofconn in svc.ofconns():
            ofconn.rconn.close(now)
        if svc.rconn is not None:
            svc.rconn.close(now)
        if svc.listener is not None:
            svc.listener.close()
        del self.services[svc.target]
        log.info('%s: removed %s controller "%s"', self.bridge, svc.conn_type.value,
                 svc.target)

    # --- the loop ---------------------------------------------------------------------
    def all_ofconns(self) -> list[OfConn]:
        out: list[OfConn] = []
        for svc in self.services.values():
            out.extend(svc.ofconns())
        return out

    def run(self, now: float) -> None:
        self.update_fail_open(now)
        self.update_in_band(now)
        if self.in_band is not None and not self.in_band.run(now):
            self.in_band = None
        handle = self._handle if self.fail_open is None else self._handle_and_recover
        for svc in list(self.services.values()):
            for ofconn in svc.ofconns():
                try:
                    ofconn.run(now, handle)
                except Exception:  # fault isolation: one session's bug ends that session only
                    self._session_crashed(ofconn, now)
            self._reap(svc, now)
        self.monitors.run(now)
        if self.fail_open is not None:
            self.fail_open.run(now)
        for svc in list(self.services.values()):
            self._run_service(svc, now)
        self._run_snoops(now)

    def _reap(self, svc: Service, now: float) -> None:
        if svc.ofconn is not None and not svc.ofconn.is_alive():
            self._ofconn_gone(svc.ofconn)
            svc.ofconn = None
        alive = []
        for ofconn in svc.accepted:
            if ofconn.rconn.is_alive() and ofconn.is_alive():
                alive.append(ofconn)
            else:
                ofconn.rconn.close(now)
                self._ofconn_gone(ofconn)
        svc.accepted = alive

    def _session_crashed(self, ofconn: OfConn, now: float) -> None:
        OFCONN_CRASH.inc()
        log.exception("%s: unexpected error running session %s, disconnecting it",
                      self.bridge, ofconn.name)
        try:
            ofconn.rconn.reconnect(now)   # an accepted session ends; an active one retries
        except Exception:  # the rconn itself is broken: close it for good
            log.exception("%s: cannot disconnect session %s", self.bridge, ofconn.name)
            ofconn.rconn.vconn = None
            ofconn.connection_seqno = -1

    def _handle_and_recover(self, ofconn: OfConn, msg: bytes, now: float) -> None:
        if self.fail_open is not None:
            self.fail_open.maybe_recover(now)
        self._handle(ofconn, msg, now)

    def _ofconn_gone(self, ofconn: OfConn) -> None:
        ofconn.close()
        log.debug("%s: session %s ended", self.bridge, ofconn.name)

    def _run_service(self, svc: Service, now: float) -> None:
        if svc.listener is not None:
            accepted = self._accept(svc, now)
            if accepted is not None:
                name, stream = accepted
                rconn = Rconn(f"{self.bridge}<->{name}", now, echo_request=_echo_request,
                              probe_interval_ms=svc.probe_interval_ms)
                rconn.set_probe_interval(svc.probe_interval_ms if not
                                         svc.target.startswith("punix:") else 0)
                rconn.connect_unreliably(StreamVconn(name, stream, svc.versions), now)
                rconn.run(now)
                svc.accepted.append(self._new_ofconn(svc, rconn))
        elif svc.rconn is not None:
            svc.rconn.run(now)
            if svc.ofconn is None and svc.rconn.is_connected():
                svc.ofconn = self._new_ofconn(svc, svc.rconn)

    def _accept(self, svc: Service, now: float):
        """One new connection for passive ``svc`` as (name, stream), or None when none
        waits, accepting failed, or the service is full (the connection is then closed)."""
        try:
            accepted = svc.listener.accept()
        except OSError as e:
            ACCEPT_FAILED.inc()
            if now >= svc.next_refuse_log:
                svc.next_refuse_log = now + REFUSE_LOG_INTERVAL_MS
                log.warning("%s: %s: accept failed (%s)", self.bridge, svc.target,
                            e.strerror or e)
            return None
        if accepted is None:
            return None
        limit = svc.max_connections
        if len(svc.accepted) < limit:
            return accepted
        name, stream = accepted
        stream.close()
        svc.n_refused += 1
        REFUSED.inc()
        if now >= svc.next_refuse_log:
            svc.next_refuse_log = now + REFUSE_LOG_INTERVAL_MS
            log.warning("%s: %s: refusing connection from %s: %d connections already "
                        "(limit %d, %d refused so far)", self.bridge, svc.target, name,
                        len(svc.accepted), limit, svc.n_refused)
        return None

    def _new_ofconn(self, svc: Service, rconn: Rconn) -> OfConn:
        enable_async = svc.config.enable_async_messages
        ofconn = OfConn(rconn, svc.conn_type,
                        enable_async=True if enable_async is None else enable_async,
                        queue_limit=svc.queue_limit,
                        rate_limit=svc.config.controller_rate_limit,
                        burst_limit=svc.config.controller_burst_limit)
        ofconn.bundles.idle_timeout_ms = self.bundle_idle_timeout_ms
        return ofconn

    def _run_snoops(self, now: float) -> None:
        for listener in self.snoop_listeners.values():
            try:
                accepted = listener.accept()
            except OSError:
                ACCEPT_FAILED.inc()
                continue
            if accepted is not None:
                name, stream = accepted
                if len(self._pending_snoops) >= MAX_PENDING_SNOOPS:
                    stream.close()
                    REFUSED.inc()
                    continue
                self._pending_snoops.append(StreamVconn(name, stream, SUPPORTED_VERSIONS))
        still_pending = []
        for vconn in self._pending_snoops:
            status = vconn.connect()
            if status == 0:
                self._attach_snoop(vconn)
            elif status == errno.EAGAIN:  # the HELLO exchange is still in progress
                still_pending.append(vconn)
            else:
                vconn.close()
        self._pending_snoops = still_pending

    def _attach_snoop(self, vconn: StreamVconn) -> None:
        rank = {ROLE_MASTER: 3, ROLE_EQUAL: 2, ROLE_SLAVE: 1}
        best, best_rank = None, -1
        for svc in self.services.values():
            if svc.rconn is None:
                continue
            r = rank.get(svc.ofconn.role, 0) if svc.ofconn else 0
            if r > best_rank:
                best, best_rank = svc.rconn, r
        if best is None or not best.add_monitor(vconn):
            vconn.close()

    def wait(self, poller, now: float) -> None:
        if self.in_band is not None:
            self.in_band.wait(poller, now)
        if self.fail_open is not None:
            self.fail_open.wait(poller, now)
        self.monitors.wait(poller)
        for svc in self.services.values():
            for ofconn in svc.ofconns():
                ofconn.wait(poller, now)
            if svc.listener is not None:
                svc.listener.wait(poller)
            if svc.rconn is not None and svc.ofconn is None:
                svc.rconn.wait(poller, now)
        for listener in self.snoop_listeners.values():
            listener.wait(poller)
        for vconn in self._pending_snoops:
            vconn.wait(poller, want_recv=True, want_send=True)

    def close(self, now: float) -> None:
        for svc in list(self.services.values()):
            self._destroy_service(svc, now)
        for listener in self.snoop_listeners.values():
            listener.close()
        self.snoop_listeners.clear()
        for vconn in self._pending_snoops:
            vconn.close()
        self._pending_snoops = []

    # --- roles ------------------------------------------------------------------------
    def check_generation_id(self, generation_id: int) -> bool:
        """Accept ``generation_id`` unless it is older than the current one (signed
        64-bit distance, as OpenFlow defines); remember it when accepted."""
        if self.master_generation_id is not None:
            diff = (generation_id - self.master_generation_id) & 0xFFFFFFFFFFFFFFFF
            if diff >= 1 << 63:
                return False
        self.master_generation_id = generation_id
        return True

    def set_role(self, ofconn: OfConn, role: int) -> None:
        """Give ``ofconn`` its new role; a new master demotes every other master."""
        if role == ROLE_MASTER:
            for other in self.all_ofconns():
                if other is not ofconn and other.role == ROLE_MASTER:
                    other.role = ROLE_SLAVE
                    if other.version >= 0x04:
                        gen = (self.master_generation_id
                               if self.master_generation_id is not None
                               else 0xFFFFFFFFFFFFFFFF)
                        other.send(RoleStatus(ROLE_SLAVE, ROLE_STATUS_MASTER_REQUEST, gen))
        ofconn.role = role

    # --- fail-open and in-band ---------------------------------------------------------
    def update_fail_open(self, now: float) -> None:
        """Fail-open exists while fail_mode is standalone and a primary controller is
        configured (OVS update_fail_open); destroying it ends fail-open mode."""
        ofproto = self.ofproto
        want = (ofproto is not None and ofproto.fail_mode != "secure"
                and self.has_primary_controllers())
        if want and self.fail_open is None:
            self.fail_open = FailOpen(ofproto, self, self.send_packet_in)
        elif not want and self.fail_open is not None:
            self.fail_open.destroy(now)
            self.fail_open = None

    def update_in_band(self, now: float) -> None:
        """In-band exists while some active controller is in-band (OVS
        update_in_band_remotes); without remotes it lingers until its rules are gone."""
        if self.ofproto is None:
            return
        remotes = []
        if not self.in_band_disabled:
            for svc in self.services.values():
                if svc.rconn is not None and svc.in_band:
                    addr = parse_remote(svc.target)
                    if addr is not None:
                        remotes.append(addr)
            remotes.extend(self.extra_in_band_remotes)
        if remotes and self.in_band is None:
            self.in_band = InBand(self.ofproto, self.in_band_lookup, self.in_band_queue)
        if self.in_band is not None:
            self.in_band.set_remotes(remotes)
            self.in_band.set_queue(self.in_band_queue)

    def flushed(self, now: float) -> None:
        """The tables were flushed: fail-open and in-band put their hidden flows back."""
        if self.fail_open is not None:
            self.fail_open.flushed(now)
        if self.in_band is not None:
            self.in_band.flushed()

    def failure_duration(self, now: float) -> float:
        """Seconds since some primary controller was last admitted (0 while one is)."""
        durations = [s.rconn.failure_duration(now) for s in self.services.values()
                     if s.conn_type is ConnType.PRIMARY and s.rconn is not None]
        return min(durations) if durations else 0

    def max_probe_interval_s(self) -> int:
        """The largest configured probe interval of the primary controllers, seconds."""
        out = 0
        for svc in self.services.values():
            if svc.conn_type is ConnType.PRIMARY and svc.rconn is not None:
                ms = svc.probe_interval_ms
                out = max(out, max(1, ms // 1000) if ms else 0)
        return out

    def is_any_primary_connected(self) -> bool:
        return any(s.ofconn is not None and s.rconn.is_connected()
                   for s in self.services.values()
                   if s.conn_type is ConnType.PRIMARY and s.rconn is not None)

    def is_any_primary_admitted(self) -> bool:
        return any(s.rconn.is_admitted() for s in self.services.values()
                   if s.conn_type is ConnType.PRIMARY and s.rconn is not None)

    # --- asynchronous messages --------------------------------------------------------
    def send_packet_in(self, pin, frame: bytes, now: float) -> int:
        """Offer one packet-in to the sessions (``packet_in.dispatch``)."""
        return packet_in.dispatch(self, pin, frame, now)

    def send_async(self, kind: str, reason: int, msg: Message | Callable[[OfConn], Message],
                   *, skip: OfConn | None = None, controller_id: int | None = None) -> int:
        """Offer an async message to every session that takes (kind, reason).

        ``msg`` may be a function building the message per session (e.g. a packet-in
        truncated to that session's miss_send_len).  Returns how many sessions got it.
        """
        n = 0
        for ofconn in self.all_ofconns():
            if ofconn is skip or not ofconn.receives_async(kind, reason):
                continue
            if controller_id is not None and ofconn.controller_id != controller_id:
                continue
            if ofconn.send_async_msg(msg(ofconn) if callable(msg) else msg):
                n += 1
        return n

    # --- status -----------------------------------------------------------------------
    def primary_rconns(self) -> list[Rconn]:
        return [s.rconn for s in self.services.values()
                if s.conn_type is ConnType.PRIMARY and s.rconn is not None]
