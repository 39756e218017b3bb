"""Patch ports: two bridges joined in memory.  A frame sent on one is received on its peer.

Invariants: a patch device is listed in ``PatchRegistry`` under its name while open; the
peer is looked up by name at send time, so the two ends may be opened in any order; a frame
sent while the peer is missing or down is counted in tx_dropped.
Time model: no clock.
Must not import: datapath/, ofproto/, openflow/.
"""

from __future__ import annotations


from pyvswitch.netdev.base import NetdevError, register_type
from pyvswitch.netdev.dummy import QueuedDevice


class PatchRegistry:
    """Open patch devices by name (one per process by default; tests may make their own)."""

    def __init__(self) -> None:
        self.by_name: dict[str, PatchNetdev] = {}


DEFAULT_REGISTRY = PatchRegistry()


class PatchNetdev(QueuedDevice):
    type = "patch"

    def __init__(self, name: str, options: dict[str, str],
                 registry: PatchRegistry = DEFAULT_REGISTRY, max_queue: int = 4096) -> None:
        peer = options.get("peer")
        if not peer:
            raise NetdevError(f"{name}: patch type requires valid 'peer' argument")
        if peer == name:
            raise NetdevError(f"{name}: patch peer must not be the port itself")
        if name in registry.by_name:
            raise NetdevError(f"{name}: patch device already open")
        super().__init__(name, max_queue)
        self.peer = peer
        self.registry = registry
        registry.by_name[name] = self

    def _peer(self) -> "PatchNetdev | None":
        p = self.registry.by_name.get(self.peer)
        return p if p is not None and p.peer == self.name else None

    @property
    def carrier(self) -> bool:
        p = self._peer()
        return self._admin_up and p is not None and p._admin_up

    def send(self, frame: bytes) -> None:
        p = self._peer()
        st = self._stats
        if p is None or not self._admin_up or not p._admin_up or len(p.rx_queue) >= p.max_queue:
            st.tx_dropped += 1
            return
        p.rx_queue.append(bytes(frame))
        st.tx_packets += 1
        st.tx_bytes += len(frame)

    def close(self) -> None:
        if self.registry.by_name.get(self.name) is self:
            del self.registry.by_name[self.name]
        self.rx_queue.clear()
        super().close()


register_type("patch", PatchNetdev)
