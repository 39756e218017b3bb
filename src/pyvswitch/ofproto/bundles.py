"""bundles: the OpenFlow bundles of one session (OVS ofproto/bundles.c and the bundle
half of connmgr.c).

What this module owns
---------------------
``SessionBundles``: the open and closed bundles of one ofconn, keyed by bundle id, with
Open vSwitch's state rules and errors:

* OPEN of an existing id discards that bundle and fails with OFPBFC_BAD_ID.
* CLOSE of an unknown id: OFPBFC_BAD_ID; of a closed bundle: the bundle is discarded and
  OFPBFC_BUNDLE_CLOSED; with flags other than the bundle's: discarded, OFPBFC_BAD_FLAGS.
* ADD_MESSAGE to an unknown id opens the bundle implicitly; to a closed bundle:
  discarded, OFPBFC_BUNDLE_CLOSED; with other flags: discarded, OFPBFC_BAD_FLAGS.
* COMMIT (``take``) of an unknown id: OFPBFC_BAD_ID; the bundle leaves the session
  whatever the outcome (other flags: OFPBFC_BAD_FLAGS).  Committing an open bundle is
  allowed, as in Open vSwitch.
* DISCARD of an unknown id: OFPBFC_BAD_ID.
* A bundle unused for the idle timeout (Bridge other_config:bundle-idle-timeout, default
  10 s) expires; ``expire`` is meant to run every ``EXPIRY_INTERVAL_MS`` (1 s) and
  returns the expired bundles so that the session sends OFPBFC_TIMEOUT referencing the
  message that created each one.

What a committed bundle does to the switch is ``bundle_handlers.py``'s business; this
module only keeps state.  Everything here dies with the session (``clear``).

Time model: ``now`` (milliseconds) is a parameter.  Must not import ``vswitchd``,
``ofconn``, ``connmgr``.
"""

from __future__ import annotations

import enum
from typing import Any, Iterator

from pyvswitch.openflow.errors import OFPError

#: How often idle bundles are looked for (OVS BUNDLE_EXPIRY_INTERVAL).
EXPIRY_INTERVAL_MS = 1000
#: Idle time after which a bundle expires, unless configured (OVS
#: BUNDLE_IDLE_TIMEOUT_DEFAULT; other_config:bundle-idle-timeout, seconds).
IDLE_TIMEOUT_MS = 10_000


class BundleState(enum.Enum):
    OPEN = "open"
    CLOSED = "closed"


class Bundle:
    """One bundle of one session.

    Its messages are two parallel lists: ``msgs``, each one decoded, and ``raws``, the
    BUNDLE_ADD_MESSAGE that carried it (errors about a message reference that, as in
    OVS).  No object per message: a bundle of 100k flows would make the cyclic
    collector walk 100k more of them while it fills.  ``masks`` interns the mask lists
    of the flow_mods' matches (one list per distinct mask, as the flow tables keep
    them), for the same reason."""

    __slots__ = ("bundle_id", "flags", "state", "used_ms", "msg", "msgs", "raws", "masks")

    def __init__(self, bundle_id: int, flags: int, raw: bytes, now: float) -> None:
        self.bundle_id = bundle_id
        self.flags = flags
        self.state = BundleState.OPEN
        self.used_ms = now
        self.msg = bytes(raw[:64])      # the message that created it (for TIMEOUT)
        self.msgs: list[Any] = []
        self.raws: list[bytes] = []
        self.masks: dict[tuple[int, ...], list[int]] = {}

    def __len__(self) -> int:
        return len(self.msgs)

    def __repr__(self) -> str:
        return (f"Bundle(id={self.bundle_id:#x}, flags={self.flags:#x}, "
                f"{self.state.value}, {len(self.msgs)} messages)")


class SessionBundles:
    """The bundles of one session (OVS ofconn->bundles)."""

    def __init__(self, now: float = 0, idle_timeout_ms: int = IDLE_TIMEOUT_MS) -> None:
        self.bundles: dict[int, Bundle] = {}
        self.idle_timeout_ms = idle_timeout_ms
        self.next_check = now + EXPIRY_INTERVAL_MS

    def __len__(self) -> int:
        return len(self.bundles)

    def __iter__(self) -> Iterator[Bundle]:
        return iter(self.bundles.values())

    def get(self, bundle_id: int) -> Bundle | None:
        return self.bundles.get(bundle_id)

    # --- BUNDLE_CONTROL ---------------------------------------------------------------
    def open(self, bundle_id: int, flags: int, raw: bytes, now: float) -> Bundle:
        if self.bundles.pop(bundle_id, None) is not None:
            raise OFPError("OFPBFC_BAD_ID", f"bundle {bundle_id:#x} already exists")
        bundle = self.bundles[bundle_id] = Bundle(bundle_id, flags, raw, now)
        return bundle

    def close(self, bundle_id: int, flags: int, now: float) -> None:
        bundle = self._find(bundle_id)
        if bundle.state is BundleState.CLOSED:
            del self.bundles[bundle_id]
            raise OFPError("OFPBFC_BUNDLE_CLOSED", f"bundle {bundle_id:#x}")
        if bundle.flags != flags:
            del self.bundles[bundle_id]
            raise OFPError("OFPBFC_BAD_FLAGS", f"flags {flags:#x} != {bundle.flags:#x}")
        bundle.used_ms = now
        bundle.state = BundleState.CLOSED

    def discard(self, bundle_id: int) -> None:
        self._find(bundle_id)
        del self.bundles[bundle_id]

    def take(self, bundle_id: int, flags: int) -> Bundle:
        """Remove the bundle for committing; OFPError if it cannot be committed (it is
        discarded all the same, as Open vSwitch does)."""
        bundle = self._find(bundle_id)
        del self.bundles[bundle_id]
        if bundle.flags != flags:
            raise OFPError("OFPBFC_BAD_FLAGS", f"flags {flags:#x} != {bundle.flags:#x}")
        return bundle

    # --- BUNDLE_ADD_MESSAGE -----------------------------------------------------------
    def add(self, bundle_id: int, flags: int, msg: Any, raw: bytes, now: float) -> Bundle:
        """Add ``msg`` (decoded from the BUNDLE_ADD_MESSAGE ``raw``); returns the bundle."""
        bundle = self.bundles.get(bundle_id)
        if bundle is None:
            bundle = self.bundles[bundle_id] = Bundle(bundle_id, flags, raw, now)
        elif bundle.state is BundleState.CLOSED:
            del self.bundles[bundle_id]
            raise OFPError("OFPBFC_BUNDLE_CLOSED", f"bundle {bundle_id:#x}")
        elif bundle.flags != flags:
            del self.bundles[bundle_id]
            raise OFPError("OFPBFC_BAD_FLAGS", f"flags {flags:#x} != {bundle.flags:#x}")
        bundle.used_ms = now
        bundle.msgs.append(msg)
        bundle.raws.append(raw)
        return bundle

    # --- time -------------------------------------------------------------------------
    def run(self, now: float) -> list[Bundle]:
        """Every ``EXPIRY_INTERVAL_MS``: remove and return the bundles idle for longer than
        the idle timeout (the caller reports OFPBFC_TIMEOUT for each)."""
        if now < self.next_check:
            return []
        self.next_check = now + EXPIRY_INTERVAL_MS
        return self.expire(now)

    def expire(self, now: float) -> list[Bundle]:
        limit = now - self.idle_timeout_ms
        expired = [b for b in self.bundles.values() if b.used_ms <= limit]
        for bundle in expired:
            del self.bundles[bundle.bundle_id]
        return expired

    def next_wakeup(self) -> float:
        """When ``run`` has work next (inf while there are no bundles)."""
        return self.next_check if self.bundles else float("inf")

    def clear(self) -> None:
        self.bundles.clear()

    def _find(self, bundle_id: int) -> Bundle:
        bundle = self.bundles.get(bundle_id)
        if bundle is None:
            raise OFPError("OFPBFC_BAD_ID", f"no bundle {bundle_id:#x}")
        return bundle
