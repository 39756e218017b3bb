"""Shared helpers for testing the OpenFlow codec against independent implementations.

* os-ken (``os_ken.ofproto``): ``osken_bytes(version, build)`` serializes a message built
  by os-ken's parser classes; ``osken_parse(raw)`` parses our bytes with os-ken.
* Open vSwitch's ``ovs-ofctl ofp-print``: ``ofp_print(raw)`` returns its text and fails
  the test if it reports a decode problem.
"""

from __future__ import annotations

import shutil
import subprocess

from os_ken.ofproto import (ofproto_parser, ofproto_v1_0, ofproto_v1_0_parser, ofproto_v1_3,
                            ofproto_v1_3_parser, ofproto_v1_4, ofproto_v1_4_parser,
                            ofproto_v1_5, ofproto_v1_5_parser)

OSKEN = {
    0x01: (ofproto_v1_0, ofproto_v1_0_parser),
    0x04: (ofproto_v1_3, ofproto_v1_3_parser),
    0x05: (ofproto_v1_4, ofproto_v1_4_parser),
    0x06: (ofproto_v1_5, ofproto_v1_5_parser),
}
VERSIONS = (0x01, 0x04, 0x05, 0x06)
OVS_OFCTL = shutil.which("ovs-ofctl")


class DatapathStub:
    """The little of os-ken's Datapath its message classes touch."""

    def __init__(self, version: int) -> None:
        self.ofproto, self.ofproto_parser = OSKEN[version]
        self.id = 1


def osken(version: int):
    """``(datapath stub, ofproto constants, parser module)`` for ``version``."""
    dp = DatapathStub(version)
    return dp, dp.ofproto, dp.ofproto_parser


def osken_bytes(msg, xid: int = 0x1234) -> bytes:
    """Serialize an os-ken message object."""
    msg.set_xid(xid)
    msg.serialize()
    return bytes(msg.buf)


def osken_parse(raw: bytes):
    """Parse ``raw`` with os-ken (raises if os-ken cannot)."""
    version, msg_type, msg_len, xid = ofproto_parser.header(raw)
    parsed = ofproto_parser.msg(DatapathStub(version), version, msg_type, msg_len, xid, raw)
    assert parsed is not None, f"os-ken could not parse {raw.hex()}"
    return parsed


def ofp_print(raw: bytes, verbosity: int | None = None, embedded_truncated: bool = False) -> str:
    """``ovs-ofctl ofp-print`` of ``raw``; asserts it decoded without complaint.

    ``embedded_truncated``: ``raw`` is an ERROR whose data is a request cut to 64 bytes, so
    ovs-ofctl's "truncated" note about that inner request is expected.
    """
    assert OVS_OFCTL, "ovs-ofctl is required for the codec oracle tests"
    cmd = [OVS_OFCTL, "ofp-print", raw.hex()]
    if verbosity is not None:
        cmd.append(str(verbosity))
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=20)
    text = res.stdout
    assert res.returncode == 0, res.stderr
    checked = text
    if embedded_truncated:
        checked = "\n".join(line for line in text.splitlines()
                             if not line.startswith("(***truncated to 64 bytes"))
    assert "***" not in checked and "decode error" not in checked.lower(), text
    assert "warning" not in (res.stderr + text).lower(), res.stderr + text
    return text
