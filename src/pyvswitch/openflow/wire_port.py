"""Wire layouts of port descriptions, PORT_STATUS, PORT_MOD and TABLE_MOD.

What this module owns
---------------------
* The three port description layouts: OF1.0 ``ofp_phy_port`` (48 bytes, 16-bit port
  numbers, OF1.0 feature bits), OF1.1-1.3 ``ofp_port`` (64 bytes) and OF1.4+ ``ofp_port``
  with properties (40 bytes + an ethernet property of 32 bytes).  ``encode_port`` /
  ``decode_ports`` are also used by FEATURES_REPLY (OF1.0) and the PORT_DESC multipart.
* PORT_STATUS, PORT_MOD and TABLE_MOD in every supported version.

Invariants: ``PortDesc`` holds OF1.1+ numbers (32-bit ports, OF1.1 feature bits); the OF1.0
conversion happens only here.

Must not import: ofproto, conn, or anything above openflow.
"""

from __future__ import annotations

import struct

from pyvswitch.openflow import registry as R
from pyvswitch.openflow.errors import OFPError
from pyvswitch.openflow.messages import PortDesc, PortMod, PortStatus, TableMod
from pyvswitch.openflow.ofpacts import of10_port_to_of11, of11_port_to_of10

PHY_PORT10 = struct.Struct("!H6s16sIIIIII")
assert PHY_PORT10.size == 48
PORT11 = struct.Struct("!I4x6s2x16sIIIIIIII")
assert PORT11.size == 64
PORT14 = struct.Struct("!IH2x6s2x16sII")
assert PORT14.size == 40
PORT14_ETH = struct.Struct("!HH4xIIIIII")
assert PORT14_ETH.size == 32
PROP_HDR = struct.Struct("!HH")
assert PROP_HDR.size == 4

PORT_STATUS_HDR = struct.Struct("!B7x")
assert PORT_STATUS_HDR.size == 8
PORT_MOD10 = struct.Struct("!H6sIII4x")
assert PORT_MOD10.size == 24
PORT_MOD11 = struct.Struct("!I4x6s2xIII4x")
assert PORT_MOD11.size == 32
PORT_MOD14 = struct.Struct("!I4x6s2xII")
assert PORT_MOD14.size == 24
PORT_MOD14_ETH = struct.Struct("!HHI")
assert PORT_MOD14_ETH.size == 8
TABLE_MOD = struct.Struct("!B3xI")
assert TABLE_MOD.size == 8

OFPPDPT_ETHERNET = 0
OFPPMPT_ETHERNET = 0


def features_to_of10(features: int) -> int:
    """OF1.1+ port feature bits -> OF1.0 (COPPER..PAUSE_ASYM move from bits 11-15 to 7-11)."""
    return (features & 0x7F) | ((features >> 4) & 0xF80)


def features_from_of10(features: int) -> int:
    return (features & 0x7F) | ((features & 0xF80) << 4)


def port_size(version: int) -> int:
    return {R.V10: 48, R.V13: 64}.get(version, 72)


def encode_port(port: PortDesc, version: int) -> bytes:
    hw = bytes(port.hw_addr)
    name = R.pad_str(port.name, 16)
    if version == R.V10:
        return PHY_PORT10.pack(
            of11_port_to_of10(port.port_no), hw, name, port.config & 0x7F,
            port.state & 1, features_to_of10(port.curr), features_to_of10(port.advertised),
            features_to_of10(port.supported), features_to_of10(port.peer))
    if version == R.V13:
        return PORT11.pack(port.port_no, hw, name, port.config, port.state, port.curr,
                           port.advertised, port.supported, port.peer, port.curr_speed,
                           port.max_speed)
    return (PORT14.pack(port.port_no, 72, hw, name, port.config, port.state)
            + PORT14_ETH.pack(OFPPDPT_ETHERNET, 32, port.curr, port.advertised,
                              port.supported, port.peer, port.curr_speed, port.max_speed))


def decode_port(version: int, buf: bytes, offset: int) -> tuple[PortDesc, int]:
    """One port description at ``offset``; returns it and its length on the wire."""
    if version == R.V10:
        R.need(buf, offset + 48, "ofp_phy_port")
        no, hw, name, config, state, curr, adv, sup, peer = PHY_PORT10.unpack_from(buf, offset)
        return PortDesc(of10_port_to_of11(no), hw, R.cstr(name), config, state & 1,
                        features_from_of10(curr), features_from_of10(adv),
                        features_from_of10(sup), features_from_of10(peer)), 48
    if version == R.V13:
        R.need(buf, offset + 64, "ofp_port")
        return PortDesc(*_fix_name(PORT11.unpack_from(buf, offset))), 64
    R.need(buf, offset + 40, "ofp_port")
    no, length, hw, name, config, state = PORT14.unpack_from(buf, offset)
    if length < 40 or offset + length > len(buf) or length % 8:
        raise OFPError("OFPBRC_BAD_LEN", f"ofp_port length {length}")
    eth = (0, 0, 0, 0, 0, 0)
    pos, end = offset + 40, offset + length
    while pos < end:
        R.need(buf, pos + 4, "port property")
        ptype, plen = PROP_HDR.unpack_from(buf, pos)
        if plen < 4 or pos + plen > end:
            raise OFPError("OFPBPC_BAD_LEN", f"port property length {plen}")
        if ptype == OFPPDPT_ETHERNET:
            if plen != 32:
                raise OFPError("OFPBPC_BAD_LEN", "ethernet property must be 32 bytes")
            eth = PORT14_ETH.unpack_from(buf, pos)[2:]
        pos += (plen + 7) & ~7
    return PortDesc(no, hw, R.cstr(name), config, state, *eth), length


def _fix_name(fields: tuple) -> tuple:
    no, hw, name, *rest = fields
    return (no, hw, R.cstr(name), *rest)


def decode_ports(version: int, buf: bytes, offset: int, end: int) -> tuple[PortDesc, ...]:
    ports = []
    while offset < end:
        port, n = decode_port(version, buf[:end], offset)
        ports.append(port)
        offset += n
    return tuple(ports)


# --- PORT_STATUS ---------------------------------------------------------------------------

@R.decodes_type(R.ALL_VERSIONS, R.OFPT_PORT_STATUS)
def _decode_port_status(version: int, buf: bytes, opts) -> PortStatus:
    R.exact(buf, 16 + port_size(version), "port_status")
    (reason,) = PORT_STATUS_HDR.unpack_from(buf, 8)
    port, _ = decode_port(version, buf, 16)
    return PortStatus(reason, port)


@R.encodes(PortStatus, R.ALL_VERSIONS)
def _encode_port_status(msg: PortStatus, version: int, xid: int) -> bytes:
    return R.finish(version, R.OFPT_PORT_STATUS, xid,
                    PORT_STATUS_HDR.pack(msg.reason) + encode_port(msg.desc, version))


# --- PORT_MOD ------------------------------------------------------------------------------

@R.decodes_type(R.ALL_VERSIONS, "PORT_MOD")
def _decode_port_mod(version: int, buf: bytes, opts) -> PortMod:
    if version == R.V10:
        R.exact(buf, 32, "port_mod")
        no, hw, config, mask, adv = PORT_MOD10.unpack_from(buf, 8)
        return PortMod(of10_port_to_of11(no), hw, config, mask, features_from_of10(adv))
    if version == R.V13:
        R.exact(buf, 40, "port_mod")
        return PortMod(*PORT_MOD11.unpack_from(buf, 8))
    R.need(buf, 32, "port_mod")
    no, hw, config, mask = PORT_MOD14.unpack_from(buf, 8)
    advertise = 0
    pos = 32
    while pos < len(buf):
        R.need(buf, pos + 4, "port_mod property")
        ptype, plen = PROP_HDR.unpack_from(buf, pos)
        if plen < 4 or pos + plen > len(buf):
            raise OFPError("OFPBPC_BAD_LEN", f"port_mod property length {plen}")
        if ptype == OFPPMPT_ETHERNET:
            if plen != 8:
                raise OFPError("OFPBPC_BAD_LEN", "port_mod ethernet property must be 8 bytes")
            advertise = PORT_MOD14_ETH.unpack_from(buf, pos)[2]
        pos += (plen + 7) & ~7
    return PortMod(no, hw, config, mask, advertise)


@R.encodes(PortMod, R.ALL_VERSIONS)
def _encode_port_mod(msg: PortMod, version: int, xid: int) -> bytes:
    t = R.msg_type("PORT_MOD", version)
    hw = bytes(msg.hw_addr)
    if version == R.V10:
        body = PORT_MOD10.pack(of11_port_to_of10(msg.port_no), hw, msg.config, msg.mask,
                               features_to_of10(msg.advertise))
    elif version == R.V13:
        body = PORT_MOD11.pack(msg.port_no, hw, msg.config, msg.mask, msg.advertise)
    else:
        body = (PORT_MOD14.pack(msg.port_no, hw, msg.config, msg.mask)
                + PORT_MOD14_ETH.pack(OFPPMPT_ETHERNET, 8, msg.advertise))
    return R.finish(version, t, xid, body)


# --- TABLE_MOD -----------------------------------------------------------------------------

@R.decodes_type(R.V13_UP, "TABLE_MOD")
def _decode_table_mod(version: int, buf: bytes, opts) -> TableMod:
    if version == R.V13:
        R.exact(buf, 16, "table_mod")
    else:
        R.need(buf, 16, "table_mod")
    table_id, config = TABLE_MOD.unpack_from(buf, 8)
    return TableMod(table_id, config, bytes(buf[16:]))


@R.encodes(TableMod, R.V13_UP)
def _encode_table_mod(msg: TableMod, version: int, xid: int) -> bytes:
    props = msg.properties if version >= R.V14 else b""
    return R.finish(version, R.msg_type("TABLE_MOD", version), xid,
                    TABLE_MOD.pack(msg.table_id, msg.config) + props)
