"""OpenFlow errors as values: the exception every layer raises and the codec encodes.

What this module owns
---------------------
``OFPError``: an error Open vSwitch would answer with an OFPT_ERROR, named symbolically the
way OVS names them (``"OFPBRC_BAD_TYPE"``, ``"OFPFMFC_TABLE_FULL"``...).  The symbolic name
is version-independent; ``ERRORS`` maps it to the (type, code) pair each OpenFlow version
puts on the wire (the numbering changed between OF1.0 and OF1.1+).

Must not import: anything in pyvswitch.
"""

from __future__ import annotations


class OFPError(Exception):
    """An OpenFlow error to report to the peer.

    ``name`` is the OVS-style symbolic name; ``data`` is what the ERROR message carries
    (by default the start of the offending request, filled in by the connection layer).
    """

    def __init__(self, name: str, detail: str = "", data: bytes | None = None) -> None:
        super().__init__(f"{name}{': ' + detail if detail else ''}")
        self.name = name
        self.detail = detail
        self.data = data
