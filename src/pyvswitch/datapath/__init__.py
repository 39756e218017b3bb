"""The datapath: flow caches (EMC, megaflows) and datapath actions; knows no OpenFlow.

Must not import: ofproto/, openflow/, ofproto_dpif/.
"""

from pyvswitch.datapath.actions import (ActionError, Output, PopMpls, PopVlan, PushMpls,
                                        PushVlan, SetField, Truncate, Userspace)
from pyvswitch.datapath.dpif import Dpif, DpFlow, DpifStats, Upcall, UpcallKind
from pyvswitch.datapath.dpif_netdev import DpifNetdev

__all__ = ["ActionError", "Output", "PopMpls", "PopVlan", "PushMpls", "PushVlan",
           "SetField", "Truncate", "Userspace", "Dpif", "DpFlow", "DpifStats", "Upcall",
           "UpcallKind", "DpifNetdev"]
