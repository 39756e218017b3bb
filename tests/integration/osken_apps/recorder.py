"""os-ken app: record what a switch tells a controller when it connects.

On FEATURES_REPLY it records ``features`` (datapath id, n_tables, version) and asks for
the port descriptions; PORT_DESC replies are recorded as ``port_desc`` (number, name, MAC
of each port).  PORT_STATUS, ERROR and ROLE_STATUS messages are recorded too (see
``common.Observer``).
"""

from osken_apps.common import Observer


class Recorder(Observer):
    """Only observes; never changes the switch."""
