"""OpenFlow request handlers (OVS ofproto.c handle_openflow and its handle_* functions).

What this module owns
---------------------
``dispatch``: for one decoded request (a list when a multipart request came in pieces),
enforce the role rules (a slave may not change the switch: OFPBRC_IS_SLAVE) and run the
handler for its message class.  Handlers reply through the ofconn and raise ``OFPError``
for anything Open vSwitch would refuse; ``Ofproto.handle_openflow`` turns that into the
OFPT_ERROR.  Messages the switch only ever sends (replies, async messages), HELLO after
negotiation and ERROR are answered with OFPBRC_BAD_TYPE as Open vSwitch does.

``RAW_HANDLERS``: the few requests that come by the ten thousand (the flow_mods of a bulk
add, the BUNDLE_ADD_MESSAGEs of ``ovs-ofctl --bundle``) are handled from their bytes,
keyed by (version, message type), without the generic decode and dispatch.  Such a
handler decodes what it needs itself and returns False to hand a message it does not
take (an experimenter message of another kind) to the generic path; it is only called
for a session that is not a slave, so the role rule holds.

Must not import: ``vswitchd``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

from pyvswitch.openflow import messages as m
from pyvswitch.openflow import messages_stats as ms
from pyvswitch.openflow.errors import OFPError
from pyvswitch.openflow.ofpacts import OFPP_ANY

if TYPE_CHECKING:
    from pyvswitch.ofproto.ofconn import OfConn
    from pyvswitch.ofproto.ofproto import Ofproto

Handler = Callable[["Ofproto", "OfConn", object, int, float], None]
HANDLERS: dict[type, Handler] = {}
RawHandler = Callable[["Ofproto", "OfConn", bytes, int, float], bool]
RAW_HANDLERS: dict[tuple[int, int], RawHandler] = {}

#: Requests that change the switch; refused from a slave (OVS reject_secondary_controller).
STATE_CHANGING = {m.PacketOut, m.PortMod, m.FlowMod, m.TableMod}

# FEATURES_REPLY capabilities.
OFPC_FLOW_STATS, OFPC_TABLE_STATS, OFPC_PORT_STATS, OFPC_GROUP_STATS = 1, 2, 4, 8
OFPC_QUEUE_STATS, OFPC_ARP_MATCH_IP = 0x40, 0x80
# OF1.0 FEATURES_REPLY "actions" bitmap: every OF1.0 action type (0..11).
OF10_ALL_ACTIONS = (1 << 12) - 1


def handles(*classes: type) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        for cls in classes:
            HANDLERS[cls] = fn
        return fn
    return register


def handles_raw(*keys: tuple[int, int]) -> Callable[[RawHandler], RawHandler]:
    """Register a raw handler for (version, message type) pairs."""
    def register(fn: RawHandler) -> RawHandler:
        for key in keys:
            RAW_HANDLERS[key] = fn
        return fn
    return register


def dispatch(ofproto: "Ofproto", ofconn: "OfConn", msgs: list, raw: bytes,
             now: float) -> None:
    msg = msgs[0]
    xid = int.from_bytes(raw[4:8], "big")
    if type(msg) in STATE_CHANGING and ofconn.role == m.ROLE_SLAVE:
        raise OFPError("OFPBRC_IS_SLAVE")
    handler = HANDLERS.get(type(msg))
    if handler is None:
        raise OFPError("OFPBRC_BAD_TYPE", f"{type(msg).__name__} is not a request")
    handler(ofproto, ofconn, msg if len(msgs) == 1 else msgs, xid, now)


# --- symmetric and configuration --------------------------------------------------------

@handles(m.EchoRequest)
def _echo(ofproto, ofconn, msg: m.EchoRequest, xid, now):
    ofconn.send(m.EchoReply(msg.data), xid)


@handles(m.EchoReply)
def _echo_reply(ofproto, ofconn, msg, xid, now):
    """Only proves the peer is alive (the rconn already counted it)."""


@handles(m.FeaturesRequest)
def _features(ofproto, ofconn, msg, xid, now):
    v10 = ofconn.version == 0x01
    caps = OFPC_FLOW_STATS | OFPC_TABLE_STATS | OFPC_PORT_STATS | OFPC_QUEUE_STATS
    caps |= OFPC_ARP_MATCH_IP if v10 else OFPC_GROUP_STATS
    ofconn.send(m.FeaturesReply(
        datapath_id=ofproto.datapath_id, n_buffers=0, n_tables=254,
        capabilities=caps, actions=OF10_ALL_ACTIONS if v10 else 0,
        ports=tuple(ofproto.port_descs()) if v10 else ()), xid)


@handles(m.GetConfigRequest)
def _get_config(ofproto, ofconn, msg, xid, now):
    ofconn.send(m.GetConfigReply(flags=ofconn.config_flags,
                                 miss_send_len=ofconn.miss_send_len), xid)


OFPC_INVALID_TTL_TO_CONTROLLER = 4


@handles(m.SetConfig)
def _set_config(ofproto, ofconn, msg: m.SetConfig, xid, now):
    flags = msg.flags
    if ofconn.role == m.ROLE_SLAVE:
        flags = (flags & ~3) | (ofconn.config_flags & 3)  # a slave may not change frags
    ofconn.config_flags = flags
    ofconn.invalid_ttl_to_controller = bool(flags & OFPC_INVALID_TTL_TO_CONTROLLER)
    ofconn.miss_send_len = msg.miss_send_len


@handles(m.BarrierRequest)
def _barrier(ofproto, ofconn, msg, xid, now):
    ofconn.send(m.BarrierReply(), xid)


# --- roles and asynchronous configuration -----------------------------------------------

@handles(m.RoleRequest)
def _role_request(ofproto, ofconn, msg: m.RoleRequest, xid, now):
    connmgr = ofproto.connmgr
    if msg.role not in (m.ROLE_NOCHANGE, m.ROLE_EQUAL, m.ROLE_MASTER, m.ROLE_SLAVE):
        raise OFPError("OFPRRFC_BAD_ROLE")
    if msg.role != m.ROLE_NOCHANGE:
        if (msg.role in (m.ROLE_MASTER, m.ROLE_SLAVE) and msg.generation_id is not None
                and not connmgr.check_generation_id(msg.generation_id)):
            raise OFPError("OFPRRFC_STALE")
        connmgr.set_role(ofconn, msg.role)
    gen = connmgr.master_generation_id
    if ofconn.version == 0x01:
        gen = None                      # Nicira role replies carry no generation id
    elif gen is None:
        gen = m.ALL_ONES_64             # "undefined"
    ofconn.send(m.RoleReply(ofconn.role, gen), xid)


# Reason bits a controller may see or set per async kind, as (before OF1.4, OF1.4+) (OVS
# async_props).  The switch also keeps internal packet-in reasons above these (explicit
# and implicit table miss, bits 6 and 7, see ofconn.py) that never go on the wire.
_ASYNC_WIRE_BITS = {
    "packet_in": (0x07, 0x3F),      # NO_MATCH ACTION INVALID_TTL (+ ACTION_SET GROUP PACKET_OUT)
    "port_status": (0x07, 0x07),    # ADD DELETE MODIFY
    "flow_removed": (0x3F, 0x3F),   # IDLE HARD DELETE GROUP_DELETE METER_DELETE EVICTION
    "role_status": (0x07, 0x07),
    "table_status": (0x18, 0x18),   # VACANCY_DOWN VACANCY_UP
    "requestforward": (0x03, 0x03),
}
_PIN_NO_MATCH, _PIN_EXPLICIT_MISS, _PIN_IMPLICIT_MISS = 1 << 0, 1 << 6, 1 << 7


def _async_masks(config: m.AsyncConfig, version: int, transform) -> m.AsyncConfig:
    fields = {}
    for kind in m.ASYNC_KINDS:
        pair = getattr(config, kind)
        allowed = _ASYNC_WIRE_BITS[kind][version >= 0x05]
        fields[kind] = None if pair is None else tuple(
            None if mask is None else transform(kind, mask & allowed) for mask in pair)
    return m.AsyncConfig(**fields)


def async_config_for_wire(config: m.AsyncConfig, version: int) -> m.AsyncConfig:
    """What a controller of ``version`` is told (OVS encode_async_mask)."""
    return _async_masks(config, version, lambda kind, mask: mask)


def async_config_from_wire(config: m.AsyncConfig, version: int) -> m.AsyncConfig:
    """A controller's masks as the switch keeps them (OVS decode_async_mask): bits the
    version cannot carry are dropped, and NO_MATCH also selects the internal table-miss
    reasons (explicit always, implicit before OF1.3)."""
    def internal(kind, mask):
        if kind == "packet_in" and mask & _PIN_NO_MATCH:
            mask |= _PIN_EXPLICIT_MISS | (_PIN_IMPLICIT_MISS if version < 0x04 else 0)
        return mask
    return _async_masks(config, version, internal)


@handles(m.GetAsyncRequest)
def _get_async(ofproto, ofconn, msg, xid, now):
    ofconn.send(m.GetAsyncReply(async_config_for_wire(ofconn.get_async_config(),
                                                      ofconn.version)), xid)


@handles(m.SetAsync)
def _set_async(ofproto, ofconn, msg: m.SetAsync, xid, now):
    ofconn.set_async_config(async_config_from_wire(msg.config, ofconn.version))


# --- Nicira session controls ------------------------------------------------------------

@handles(m.SetFlowFormat)
def _set_flow_format(ofproto, ofconn, msg: m.SetFlowFormat, xid, now):
    if msg.format not in (m.NXFF_OPENFLOW10, m.NXFF_NXM):
        raise OFPError("OFPBRC_EPERM", f"flow format {msg.format}")
    ofconn.flow_format = msg.format


@handles(m.FlowModTableId)
def _flow_mod_table_id(ofproto, ofconn, msg: m.FlowModTableId, xid, now):
    ofconn.flow_mod_table_id = msg.enable


@handles(m.SetPacketInFormat)
def _set_packet_in_format(ofproto, ofconn, msg: m.SetPacketInFormat, xid, now):
    supported = getattr(ofproto, "packet_in_formats", (m.NXPIF_STANDARD,))
    if msg.format not in supported:
        raise OFPError("OFPBRC_EPERM", f"packet-in format {msg.format} not supported")
    ofconn.packet_in_format = msg.format


@handles(m.SetControllerId)
def _set_controller_id(ofproto, ofconn, msg: m.SetControllerId, xid, now):
    ofconn.controller_id = msg.controller_id


# --- descriptions and ports -------------------------------------------------------------

@handles(m.DescRequest)
def _desc(ofproto, ofconn, msg, xid, now):
    ofconn.send(m.DescReply(mfr_desc=ofproto.mfr_desc, hw_desc=ofproto.hw_desc,
                            sw_desc=ofproto.sw_desc, serial_num=ofproto.serial_desc,
                            dp_desc=ofproto.dp_desc), xid)


@handles(m.PortDescRequest)
def _port_desc(ofproto, ofconn, msg: m.PortDescRequest, xid, now):
    descs = ofproto.port_descs()
    if msg.port_no != OFPP_ANY:
        descs = [d for d in descs if d.port_no == msg.port_no]
    ofconn.send(m.PortDescReply(tuple(descs)), xid)


@handles(m.PortMod)
def _port_mod(ofproto, ofconn, msg: m.PortMod, xid, now):
    port = ofproto.ports.get(msg.port_no)
    if port is None:
        raise OFPError("OFPPMFC_BAD_PORT", f"no port {msg.port_no}")
    old = port.desc()
    if bytes(msg.hw_addr) != old.hw_addr:
        raise OFPError("OFPPMFC_BAD_HW_ADDR")
    port.config = (port.config & ~msg.mask) | (msg.config & msg.mask)
    set_admin = getattr(port.netdev, "set_admin_up", None)
    if msg.mask & m.OFPPC_PORT_DOWN and set_admin is not None:
        set_admin(not msg.config & m.OFPPC_PORT_DOWN)
    ofproto.port_changed(port, old, source=ofconn)


# --- packets ----------------------------------------------------------------------------

@handles(m.PacketOut)
def _packet_out(ofproto, ofconn, msg: m.PacketOut, xid, now):
    if msg.buffer_id != m.NO_BUFFER:
        raise OFPError("OFPBRC_BUFFER_UNKNOWN", "this switch buffers no packets")
    if ofproto.provider is None:
        raise OFPError("OFPBRC_BAD_TYPE", "no datapath behind this bridge")
    ofproto.provider.packet_out(msg.in_port, msg.actions, msg.data, now)


@handles(ms.PortStatsRequest)
def _port_stats(ofproto, ofconn, msg: ms.PortStatsRequest, xid, now):
    if msg.port_no != OFPP_ANY and msg.port_no not in ofproto.ports:
        raise OFPError("OFPBRC_BAD_PORT", f"no port {msg.port_no}")
    stats = []
    for number, port in sorted(ofproto.ports.items()):
        if msg.port_no not in (OFPP_ANY, number):
            continue
        nd = port.netdev.get_stats()
        age_ms = max(0.0, now - port.created_ms)
        stats.append(ms.PortStats(
            port_no=number, rx_packets=nd.rx_packets, tx_packets=nd.tx_packets,
            rx_bytes=nd.rx_bytes, tx_bytes=nd.tx_bytes, rx_dropped=nd.rx_dropped,
            tx_dropped=nd.tx_dropped, rx_errors=nd.rx_errors, tx_errors=nd.tx_errors,
            rx_frame_err=nd.rx_frame_err, rx_over_err=nd.rx_over_err,
            rx_crc_err=nd.rx_crc_err, collisions=nd.collisions,
            duration_sec=int(age_ms // 1000), duration_nsec=int(age_ms % 1000) * 1_000_000))
    ofconn.send(ms.PortStatsReply(tuple(stats)), xid)
