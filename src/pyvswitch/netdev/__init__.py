"""Network devices: the ``Netdev`` protocol and its types (dummy, system, tap, internal, patch).

Must not import: datapath/, ofproto/, openflow/.
"""

from pyvswitch.netdev.base import (Netdev, NetdevError, NetdevStats, netdev_types,
                                   open_netdev, register_type)

__all__ = ["Netdev", "NetdevError", "NetdevStats", "netdev_types", "open_netdev",
           "register_type"]
