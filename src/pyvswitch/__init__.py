"""pyvswitch: Open vSwitch's switch daemon (ovs-vswitchd) rebuilt in Python."""

__version__ = "0.1.0"
