"""pyvswitch: Open vSwitch's switch daemon (ovs-vswitchd) rebuilt in Python."""

__version__ = "0.1.0"

import warnings as _warnings

# os-ken (a test dependency) installs eventlet, whose import from ovs.poller warns that it
# is deprecated; pyvswitch never uses eventlet.
_warnings.filterwarnings("ignore", message="\\s*Eventlet is deprecated")
