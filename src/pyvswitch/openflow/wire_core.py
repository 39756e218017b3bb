"""Wire layouts of the handshake and control messages.

What this module owns
---------------------
HELLO (with the version-bitmap element), ERROR (standard, Nicira NXET_VENDOR and OF1.2+
experimenter forms), ECHO_REQUEST/REPLY, generic EXPERIMENTER (encode only),
FEATURES_REQUEST/REPLY, GET_CONFIG_REQUEST/REPLY, SET_CONFIG, BARRIER_REQUEST/REPLY,
ROLE_REQUEST/REPLY (OF1.2+ and NXT_ROLE_*), ROLE_STATUS (OF1.4 and ONF 1911 for OF1.3),
GET_ASYNC_REQUEST/REPLY and SET_ASYNC (OF1.3 fixed layout, OF1.4+ properties,
NXT_SET_ASYNC_CONFIG for OF1.0), and the Nicira session controls (NXT_SET_FLOW_FORMAT,
NXT_FLOW_MOD_TABLE_ID, NXT_SET_PACKET_IN_FORMAT, NXT_SET_CONTROLLER_ID).

Invariants: decoders check lengths before unpacking and raise only ``OFPError``.

Must not import: ofproto, conn, or anything above openflow.
"""

from __future__ import annotations

import struct

from pyvswitch.openflow import registry as R
from pyvswitch.openflow.errors import (NXET_VENDOR, OFPET12_EXPERIMENTER, OFPError,
                                       error_name, error_triplet)
from pyvswitch.openflow.messages import (
    ASYNC_KINDS, AsyncConfig, BarrierReply, BarrierRequest, EchoReply, EchoRequest, ErrorMsg,
    Experimenter, FeaturesReply, FeaturesRequest, FlowModTableId, GetAsyncReply,
    GetAsyncRequest, GetConfigReply, GetConfigRequest, Hello, RoleReply, RoleRequest,
    RoleStatus, SetAsync, SetConfig, SetControllerId, SetFlowFormat, SetPacketInFormat,
    ROLE_EQUAL, ROLE_MASTER, ROLE_NOCHANGE, ROLE_SLAVE)
from pyvswitch.openflow.wire_port import decode_ports, encode_port

HELLO_ELEM = struct.Struct("!HH")
assert HELLO_ELEM.size == 4
OFPHET_VERSIONBITMAP = 1
ERROR_HDR = struct.Struct("!HH")
assert ERROR_HDR.size == 4
NX_VENDOR_ERROR = struct.Struct("!IHH")
assert NX_VENDOR_ERROR.size == 8
U32 = struct.Struct("!I")
FEATURES10 = struct.Struct("!QIB3xII")
assert FEATURES10.size == 24
FEATURES13 = struct.Struct("!QIBB2xII")
assert FEATURES13.size == 24
SWITCH_CONFIG = struct.Struct("!HH")
assert SWITCH_CONFIG.size == 4
ROLE = struct.Struct("!I4xQ")
assert ROLE.size == 16
ROLE_STATUS = struct.Struct("!IB3xQ")
assert ROLE_STATUS.size == 16
ASYNC13 = struct.Struct("!6I")
assert ASYNC13.size == 24
ASYNC_PROP = struct.Struct("!HHI")
assert ASYNC_PROP.size == 8
NX_FLOW_MOD_TABLE_ID = struct.Struct("!B7x")
assert NX_FLOW_MOD_TABLE_ID.size == 8
NX_CONTROLLER_ID = struct.Struct("!6xH")
assert NX_CONTROLLER_ID.size == 8

ALL_ONES_64 = 0xFFFFFFFFFFFFFFFF


def _empty(version: int, buf: bytes, what: str) -> None:
    R.exact(buf, 8, what)


# --- HELLO ---------------------------------------------------------------------------------

@R.decodes(*[("t", v, R.OFPT_HELLO) for v in range(0, 256)])
def _decode_hello(version: int, buf: bytes, opts) -> Hello:
    """Accepts any header version (negotiation needs it).  Malformed elements are ignored,
    as OVS ignores them; a bitmap element replaces the "up to header version" default."""
    versions = None
    pos = 8
    while pos + 4 <= len(buf):
        etype, elen = HELLO_ELEM.unpack_from(buf, pos)
        if elen < 4 or pos + elen > len(buf):
            break
        if etype == OFPHET_VERSIONBITMAP and versions is None:
            found = set()
            for i in range((elen - 4) // 4):
                (word,) = U32.unpack_from(buf, pos + 4 + 4 * i)
                for bit in range(32):
                    if word >> bit & 1:
                        found.add(32 * i + bit)
            versions = frozenset(found)
        pos += (elen + 7) & ~7
    if versions is None:
        return Hello(frozenset(range(1, version + 1)), version, has_bitmap=False)
    return Hello(versions, version, has_bitmap=True)


def encode_hello(versions, xid: int = 0) -> bytes:
    """HELLO offering ``versions``: header version = highest; bitmap when it says more."""
    top = max(versions)
    body = b""
    if top > R.V10 or len(versions) > 1:
        n_words = top // 32 + 1
        words = [0] * n_words
        for v in versions:
            words[v // 32] |= 1 << (v % 32)
        elem = HELLO_ELEM.pack(OFPHET_VERSIONBITMAP, 4 + 4 * n_words) + b"".join(
            U32.pack(w) for w in words)
        body = elem + b"\0" * R.pad8(len(elem))
    return R.finish(top, R.OFPT_HELLO, xid, body)


@R.encodes(Hello, range(1, 256))
def _encode_hello(msg: Hello, version: int, xid: int) -> bytes:
    return encode_hello(msg.versions or {version}, xid)


# --- ERROR ---------------------------------------------------------------------------------

@R.decodes_type(R.ALL_VERSIONS, R.OFPT_ERROR)
def _decode_error(version: int, buf: bytes, opts) -> ErrorMsg:
    R.need(buf, 12, "error")
    etype, code = ERROR_HDR.unpack_from(buf, 8)
    vendor, data = 0, bytes(buf[12:])
    if etype == NXET_VENDOR and code == 0:
        R.need(buf, 20, "nx vendor error")
        vendor, etype, code = NX_VENDOR_ERROR.unpack_from(buf, 12)
        data = bytes(buf[20:])
    elif etype == OFPET12_EXPERIMENTER and version >= 3:
        R.need(buf, 16, "experimenter error")
        (vendor,) = U32.unpack_from(buf, 12)
        etype, code, data = code, 0, bytes(buf[16:])
    return ErrorMsg(error_name(version, vendor, etype, code), data, etype, code, vendor)


def encode_error(name: str, version: int, xid: int, data: bytes) -> bytes:
    """An ERROR carrying OVS's numbering for ``name`` in ``version`` (see errors.ERRORS)."""
    vendor, etype, code = error_triplet(name, version)
    if not vendor:
        body = ERROR_HDR.pack(etype, code)
    elif version <= 2:
        body = ERROR_HDR.pack(NXET_VENDOR, 0) + NX_VENDOR_ERROR.pack(vendor, etype, code)
    else:
        body = ERROR_HDR.pack(OFPET12_EXPERIMENTER, etype) + U32.pack(vendor)
    room = 0xFFFF - 8 - len(body)
    return R.finish(version, R.OFPT_ERROR, xid, body + bytes(data[:room]))


@R.encodes(ErrorMsg, R.ALL_VERSIONS)
def _encode_error(msg: ErrorMsg, version: int, xid: int) -> bytes:
    if msg.name is not None:
        return encode_error(msg.name, version, xid, msg.data)
    return R.finish(version, R.OFPT_ERROR, xid, ERROR_HDR.pack(msg.type, msg.code) + msg.data)


def error_reply(err: OFPError, request: bytes) -> bytes:
    """The ERROR OVS sends for ``err`` caused by ``request`` (version and xid copied from
    the request's header, data = its first 64 bytes unless ``err.data`` says otherwise).
    A ``request`` too short to hold a header is answered in OpenFlow 1.0 with xid 0."""
    if len(request) >= 8:
        version, _, _, xid = struct.unpack_from("!BBHI", request, 0)
    else:
        version, xid = R.V10, 0
    data = err.data if err.data is not None else bytes(request[:64])
    if version not in R.ALL_VERSIONS:
        version = R.V10 if version < R.V13 else max(R.ALL_VERSIONS)
    return encode_error(err.name, version, xid, data)


# --- ECHO, EXPERIMENTER --------------------------------------------------------------------

@R.decodes_type(R.ALL_VERSIONS, R.OFPT_ECHO_REQUEST)
def _decode_echo_request(version: int, buf: bytes, opts) -> EchoRequest:
    return EchoRequest(bytes(buf[8:]))


@R.decodes_type(R.ALL_VERSIONS, R.OFPT_ECHO_REPLY)
def _decode_echo_reply(version: int, buf: bytes, opts) -> EchoReply:
    return EchoReply(bytes(buf[8:]))


@R.encodes(EchoRequest, R.ALL_VERSIONS)
def _encode_echo_request(msg: EchoRequest, version: int, xid: int) -> bytes:
    return R.finish(version, R.OFPT_ECHO_REQUEST, xid, msg.data)


@R.encodes(EchoReply, R.ALL_VERSIONS)
def _encode_echo_reply(msg: EchoReply, version: int, xid: int) -> bytes:
    return R.finish(version, R.OFPT_ECHO_REPLY, xid, msg.data)


@R.encodes(Experimenter, R.ALL_VERSIONS)
def _encode_experimenter(msg: Experimenter, version: int, xid: int) -> bytes:
    return R.finish_exp(version, xid, msg.experimenter, msg.exp_type, msg.data)


# --- FEATURES ------------------------------------------------------------------------------

@R.decodes_type(R.ALL_VERSIONS, R.OFPT_FEATURES_REQUEST)
def _decode_features_request(version: int, buf: bytes, opts) -> FeaturesRequest:
    _empty(version, buf, "features_request")
    return FeaturesRequest()


@R.encodes(FeaturesRequest, R.ALL_VERSIONS)
def _encode_features_request(msg, version: int, xid: int) -> bytes:
    return R.finish(version, R.OFPT_FEATURES_REQUEST, xid, b"")


@R.decodes_type(R.ALL_VERSIONS, R.OFPT_FEATURES_REPLY)
def _decode_features_reply(version: int, buf: bytes, opts) -> FeaturesReply:
    R.need(buf, 32, "features_reply")
    if version == R.V10:
        dpid, n_buffers, n_tables, caps, actions = FEATURES10.unpack_from(buf, 8)
        if (len(buf) - 32) % 48:
            raise OFPError("OFPBRC_BAD_LEN", "features_reply port list")
        ports = decode_ports(version, buf, 32, len(buf))
        return FeaturesReply(dpid, n_buffers, n_tables, 0, caps, actions, ports)
    R.exact(buf, 32, "features_reply")
    dpid, n_buffers, n_tables, aux, caps, _ = FEATURES13.unpack_from(buf, 8)
    return FeaturesReply(dpid, n_buffers, n_tables, aux, caps)


@R.encodes(FeaturesReply, R.ALL_VERSIONS)
def _encode_features_reply(msg: FeaturesReply, version: int, xid: int) -> bytes:
    if version == R.V10:
        body = FEATURES10.pack(msg.datapath_id, msg.n_buffers, msg.n_tables,
                               msg.capabilities, msg.actions)
        ports = b"".join(encode_port(p, version) for p in msg.ports)
        if len(body) + len(ports) + 8 > 0xFFFF:
            ports = b""   # OVS drops the port list rather than overflow the message
        return R.finish(version, R.OFPT_FEATURES_REPLY, xid, body + ports)
    body = FEATURES13.pack(msg.datapath_id, msg.n_buffers, msg.n_tables, msg.auxiliary_id,
                           msg.capabilities, 0)
    return R.finish(version, R.OFPT_FEATURES_REPLY, xid, body)


# --- SWITCH CONFIG, BARRIER ----------------------------------------------------------------

@R.decodes_type(R.ALL_VERSIONS, R.OFPT_GET_CONFIG_REQUEST)
def _decode_get_config_request(version: int, buf: bytes, opts) -> GetConfigRequest:
    _empty(version, buf, "get_config_request")
    return GetConfigRequest()


@R.encodes(GetConfigRequest, R.ALL_VERSIONS)
def _encode_get_config_request(msg, version: int, xid: int) -> bytes:
    return R.finish(version, R.OFPT_GET_CONFIG_REQUEST, xid, b"")


def _decode_switch_config(buf: bytes, what: str) -> tuple[int, int]:
    R.exact(buf, 12, what)
    return SWITCH_CONFIG.unpack_from(buf, 8)


@R.decodes_type(R.ALL_VERSIONS, R.OFPT_GET_CONFIG_REPLY)
def _decode_get_config_reply(version: int, buf: bytes, opts) -> GetConfigReply:
    return GetConfigReply(*_decode_switch_config(buf, "get_config_reply"))


@R.decodes_type(R.ALL_VERSIONS, R.OFPT_SET_CONFIG)
def _decode_set_config(version: int, buf: bytes, opts) -> SetConfig:
    return SetConfig(*_decode_switch_config(buf, "set_config"))


@R.encodes(GetConfigReply, R.ALL_VERSIONS)
def _encode_get_config_reply(msg: GetConfigReply, version: int, xid: int) -> bytes:
    return R.finish(version, R.OFPT_GET_CONFIG_REPLY, xid,
                    SWITCH_CONFIG.pack(msg.flags, msg.miss_send_len))


@R.encodes(SetConfig, R.ALL_VERSIONS)
def _encode_set_config(msg: SetConfig, version: int, xid: int) -> bytes:
    return R.finish(version, R.OFPT_SET_CONFIG, xid,
                    SWITCH_CONFIG.pack(msg.flags, msg.miss_send_len))


@R.decodes_type(R.ALL_VERSIONS, "BARRIER_REQUEST")
def _decode_barrier_request(version: int, buf: bytes, opts) -> BarrierRequest:
    _empty(version, buf, "barrier_request")
    return BarrierRequest()


@R.decodes_type(R.ALL_VERSIONS, "BARRIER_REPLY")
def _decode_barrier_reply(version: int, buf: bytes, opts) -> BarrierReply:
    _empty(version, buf, "barrier_reply")
    return BarrierReply()


@R.encodes(BarrierRequest, R.ALL_VERSIONS)
def _encode_barrier_request(msg, version: int, xid: int) -> bytes:
    return R.finish(version, R.msg_type("BARRIER_REQUEST", version), xid, b"")


@R.encodes(BarrierReply, R.ALL_VERSIONS)
def _encode_barrier_reply(msg, version: int, xid: int) -> bytes:
    return R.finish(version, R.msg_type("BARRIER_REPLY", version), xid, b"")


# --- ROLES ---------------------------------------------------------------------------------

# Nicira roles: 0 other (equal), 1 master, 2 slave.
_NX_TO_ROLE = {0: ROLE_EQUAL, 1: ROLE_MASTER, 2: ROLE_SLAVE}
_ROLE_TO_NX = {v: k for k, v in _NX_TO_ROLE.items()}


def _decode_role(version: int, buf: bytes, what: str) -> tuple[int, int]:
    R.exact(buf, 24, what)
    role, gen = ROLE.unpack_from(buf, 8)
    if role > ROLE_SLAVE:
        raise OFPError("OFPRRFC_BAD_ROLE", f"role {role}")
    return role, gen


@R.decodes_type(R.V13_UP, "ROLE_REQUEST")
def _decode_role_request(version: int, buf: bytes, opts) -> RoleRequest:
    return RoleRequest(*_decode_role(version, buf, "role_request"))


@R.decodes_type(R.V13_UP, "ROLE_REPLY")
def _decode_role_reply(version: int, buf: bytes, opts) -> RoleReply:
    return RoleReply(*_decode_role(version, buf, "role_reply"))


def _decode_nx_role(buf: bytes, what: str) -> int:
    R.exact(buf, 20, what)
    (nx_role,) = U32.unpack_from(buf, 16)
    if nx_role not in _NX_TO_ROLE:
        raise OFPError("OFPRRFC_BAD_ROLE", f"Nicira role {nx_role}")
    return _NX_TO_ROLE[nx_role]


@R.decodes_exp(R.ALL_VERSIONS, R.NX_VENDOR_ID, R.NXT_ROLE_REQUEST)
def _decode_nx_role_request(version: int, buf: bytes, opts) -> RoleRequest:
    return RoleRequest(_decode_nx_role(buf, "nx_role_request"), None)


@R.decodes_exp(R.ALL_VERSIONS, R.NX_VENDOR_ID, R.NXT_ROLE_REPLY)
def _decode_nx_role_reply(version: int, buf: bytes, opts) -> RoleReply:
    return RoleReply(_decode_nx_role(buf, "nx_role_reply"), None)


def _encode_role(msg, version: int, xid: int, name: str, nxt: int) -> bytes:
    if version == R.V10:
        role = ROLE_EQUAL if msg.role == ROLE_NOCHANGE else msg.role
        return R.finish_exp(version, xid, R.NX_VENDOR_ID, nxt, U32.pack(_ROLE_TO_NX[role]))
    gen = ALL_ONES_64 if msg.generation_id is None else msg.generation_id
    return R.finish(version, R.msg_type(name, version), xid, ROLE.pack(msg.role, gen))


@R.encodes(RoleRequest, R.ALL_VERSIONS)
def _encode_role_request(msg: RoleRequest, version: int, xid: int) -> bytes:
    return _encode_role(msg, version, xid, "ROLE_REQUEST", R.NXT_ROLE_REQUEST)


@R.encodes(RoleReply, R.ALL_VERSIONS)
def _encode_role_reply(msg: RoleReply, version: int, xid: int) -> bytes:
    return _encode_role(msg, version, xid, "ROLE_REPLY", R.NXT_ROLE_REPLY)


def _decode_role_status_body(buf: bytes, offset: int) -> RoleStatus:
    R.need(buf, offset + 16, "role_status")
    role, reason, gen = ROLE_STATUS.unpack_from(buf, offset)
    return RoleStatus(role, reason, gen)


@R.decodes_type(R.V14_UP, "ROLE_STATUS")
def _decode_role_status(version: int, buf: bytes, opts) -> RoleStatus:
    return _decode_role_status_body(buf, 8)


@R.decodes_exp([R.V13], R.ONF_VENDOR_ID, R.ONFT_ROLE_STATUS)
def _decode_onf_role_status(version: int, buf: bytes, opts) -> RoleStatus:
    return _decode_role_status_body(buf, 16)


@R.encodes(RoleStatus, R.V13_UP)
def _encode_role_status(msg: RoleStatus, version: int, xid: int) -> bytes:
    body = ROLE_STATUS.pack(msg.role, msg.reason, msg.generation_id)
    if version == R.V13:
        return R.finish_exp(version, xid, R.ONF_VENDOR_ID, R.ONFT_ROLE_STATUS, body)
    return R.finish(version, R.msg_type("ROLE_STATUS", version), xid, body)


# --- ASYNC CONFIG --------------------------------------------------------------------------

def _async_from_six(vals: tuple[int, ...]) -> AsyncConfig:
    return AsyncConfig(packet_in=(vals[0], vals[1]), port_status=(vals[2], vals[3]),
                       flow_removed=(vals[4], vals[5]))


def _async_to_six(cfg: AsyncConfig) -> bytes:
    return ASYNC13.pack(cfg.mask("packet_in", False), cfg.mask("packet_in", True),
                        cfg.mask("port_status", False), cfg.mask("port_status", True),
                        cfg.mask("flow_removed", False), cfg.mask("flow_removed", True))


def _async_from_props(buf: bytes, offset: int, strict: bool) -> AsyncConfig:
    """OF1.4+ properties: type 2k is kind k for secondaries, 2k+1 for primaries."""
    got: dict[str, list] = {}
    pos = offset
    while pos < len(buf):
        R.need(buf, pos + 4, "async property")
        ptype, plen = HELLO_ELEM.unpack_from(buf, pos)
        if plen < 4 or pos + plen > len(buf):
            raise OFPError("OFPBPC_BAD_LEN", f"async property length {plen}")
        if ptype < 2 * len(ASYNC_KINDS):
            if plen != 8:
                raise OFPError("OFPBPC_BAD_LEN", "async mask property must be 8 bytes")
            mask = ASYNC_PROP.unpack_from(buf, pos)[2]
            pair = got.setdefault(ASYNC_KINDS[ptype // 2], [None, None])
            pair[0 if ptype & 1 else 1] = mask
        elif ptype >= 0xFFFE:            # experimenter: none is known
            if plen < 12:
                raise OFPError("OFPBPC_BAD_LEN", "experimenter property shorter than 12")
            if strict:
                raise OFPError("OFPBPC_BAD_EXP_TYPE", "async experimenter property")
        elif strict:                       # OVS answers async's own error, not BAD_TYPE
            raise OFPError("OFPACFC_UNSUPPORTED", f"async property type {ptype}")
        pos += (plen + 7) & ~7
    return AsyncConfig(**{k: tuple(v) for k, v in got.items()})


def _async_to_props(cfg: AsyncConfig) -> bytes:
    out = []
    for k, kind in enumerate(ASYNC_KINDS):
        pair = getattr(cfg, kind)
        if pair is None:
            continue
        if pair[1] is not None:
            out.append(ASYNC_PROP.pack(2 * k, 8, pair[1]))
        if pair[0] is not None:
            out.append(ASYNC_PROP.pack(2 * k + 1, 8, pair[0]))
    return b"".join(out)


def _decode_async(version: int, buf: bytes, what: str, strict: bool) -> AsyncConfig:
    if version == R.V13:
        R.exact(buf, 32, what)
        return _async_from_six(ASYNC13.unpack_from(buf, 8))
    return _async_from_props(buf, 8, strict)


@R.decodes_type(R.V13_UP, "GET_ASYNC_REQUEST")
def _decode_get_async_request(version: int, buf: bytes, opts) -> GetAsyncRequest:
    _empty(version, buf, "get_async_request")
    return GetAsyncRequest()


@R.decodes_type(R.V13_UP, "GET_ASYNC_REPLY")
def _decode_get_async_reply(version: int, buf: bytes, opts) -> GetAsyncReply:
    return GetAsyncReply(_decode_async(version, buf, "get_async_reply", False))


@R.decodes_type(R.V13_UP, "SET_ASYNC")
def _decode_set_async(version: int, buf: bytes, opts) -> SetAsync:
    return SetAsync(_decode_async(version, buf, "set_async", True))


@R.decodes_exp(R.ALL_VERSIONS, R.NX_VENDOR_ID, R.NXT_SET_ASYNC_CONFIG)
def _decode_nx_set_async(version: int, buf: bytes, opts) -> SetAsync:
    R.exact(buf, 40, "nx_async_config")
    return SetAsync(_async_from_six(ASYNC13.unpack_from(buf, 16)))


@R.encodes(GetAsyncRequest, R.V13_UP)
def _encode_get_async_request(msg, version: int, xid: int) -> bytes:
    return R.finish(version, R.msg_type("GET_ASYNC_REQUEST", version), xid, b"")


def _encode_async(cfg: AsyncConfig, version: int, xid: int, name: str) -> bytes:
    if version == R.V13:
        return R.finish(version, R.msg_type(name, version), xid, _async_to_six(cfg))
    return R.finish(version, R.msg_type(name, version), xid, _async_to_props(cfg))


@R.encodes(GetAsyncReply, R.V13_UP)
def _encode_get_async_reply(msg: GetAsyncReply, version: int, xid: int) -> bytes:
    return _encode_async(msg.config, version, xid, "GET_ASYNC_REPLY")


@R.encodes(SetAsync, R.ALL_VERSIONS)
def _encode_set_async(msg: SetAsync, version: int, xid: int) -> bytes:
    if version == R.V10:
        return R.finish_exp(version, xid, R.NX_VENDOR_ID, R.NXT_SET_ASYNC_CONFIG,
                            _async_to_six(msg.config))
    return _encode_async(msg.config, version, xid, "SET_ASYNC")


# --- Nicira session controls ---------------------------------------------------------------

@R.decodes_exp(R.ALL_VERSIONS, R.NX_VENDOR_ID, R.NXT_SET_FLOW_FORMAT)
def _decode_set_flow_format(version: int, buf: bytes, opts) -> SetFlowFormat:
    R.exact(buf, 20, "nx_set_flow_format")
    return SetFlowFormat(U32.unpack_from(buf, 16)[0])


@R.encodes(SetFlowFormat, R.ALL_VERSIONS)
def _encode_set_flow_format(msg: SetFlowFormat, version: int, xid: int) -> bytes:
    return R.finish_exp(version, xid, R.NX_VENDOR_ID, R.NXT_SET_FLOW_FORMAT,
                        U32.pack(msg.format))


@R.decodes_exp(R.ALL_VERSIONS, R.NX_VENDOR_ID, R.NXT_FLOW_MOD_TABLE_ID)
def _decode_flow_mod_table_id(version: int, buf: bytes, opts) -> FlowModTableId:
    R.exact(buf, 24, "nx_flow_mod_table_id")
    return FlowModTableId(bool(NX_FLOW_MOD_TABLE_ID.unpack_from(buf, 16)[0]))


@R.encodes(FlowModTableId, R.ALL_VERSIONS)
def _encode_flow_mod_table_id(msg: FlowModTableId, version: int, xid: int) -> bytes:
    return R.finish_exp(version, xid, R.NX_VENDOR_ID, R.NXT_FLOW_MOD_TABLE_ID,
                        NX_FLOW_MOD_TABLE_ID.pack(int(msg.enable)))


@R.decodes_exp(R.ALL_VERSIONS, R.NX_VENDOR_ID, R.NXT_SET_PACKET_IN_FORMAT)
def _decode_set_packet_in_format(version: int, buf: bytes, opts) -> SetPacketInFormat:
    R.exact(buf, 20, "nx_set_packet_in_format")
    return SetPacketInFormat(U32.unpack_from(buf, 16)[0])


@R.encodes(SetPacketInFormat, R.ALL_VERSIONS)
def _encode_set_packet_in_format(msg: SetPacketInFormat, version: int, xid: int) -> bytes:
    return R.finish_exp(version, xid, R.NX_VENDOR_ID, R.NXT_SET_PACKET_IN_FORMAT,
                        U32.pack(msg.format))


@R.decodes_exp(R.ALL_VERSIONS, R.NX_VENDOR_ID, R.NXT_SET_CONTROLLER_ID)
def _decode_set_controller_id(version: int, buf: bytes, opts) -> SetControllerId:
    R.exact(buf, 24, "nx_controller_id")
    if any(buf[16:22]):
        raise OFPError("NXBRC_MUST_BE_ZERO", "nx_controller_id padding")
    return SetControllerId(NX_CONTROLLER_ID.unpack_from(buf, 16)[0])


@R.encodes(SetControllerId, R.ALL_VERSIONS)
def _encode_set_controller_id(msg: SetControllerId, version: int, xid: int) -> bytes:
    return R.finish_exp(version, xid, R.NX_VENDOR_ID, R.NXT_SET_CONTROLLER_ID,
                        NX_CONTROLLER_ID.pack(msg.controller_id))
