"""Version-independent OpenFlow messages (Open vSwitch's ``ofputil_*`` structs).

What this module owns
---------------------
One frozen dataclass per handshake, control, port, packet and flow message the switch
decodes or encodes (statistics live in ``messages_stats``, groups and meters in
``messages_gm``; bundles, table features, flow monitors and queues beside their wire code).
Messages carry neither a connection nor an xid nor a version: ``codec.decode`` reads them
from bytes of any supported version and ``codec.encode(msg, version, xid)`` writes them.

Conventions
-----------
* Port numbers are 32-bit OpenFlow 1.1+ numbers (``ofpacts.OFPP_*``); the OF1.0 codec maps
  the 16-bit ones.  Port feature bits use the OF1.1+ layout (``OFPPF_*`` below).
* Role numbers are OpenFlow 1.2+ ones (``ROLE_*``); the Nicira codec maps NX roles.
* Packet-in reasons use the OF1.4 numbering; the encoder folds ACTION_SET, GROUP and
  PACKET_OUT into ACTION for versions that lack them, as OVS does.

Must not import: anything in pyvswitch except ``packet.fields`` and ``openflow.ofpacts``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

from pyvswitch.openflow.ofpacts import OFPP_ANY, OFPG_ANY, Action, Instructions
from pyvswitch.packet.fields import Match

NO_BUFFER = 0xFFFFFFFF
ALL_ONES_64 = 0xFFFFFFFFFFFFFFFF

# Roles (OF1.2+ numbering).
ROLE_NOCHANGE, ROLE_EQUAL, ROLE_MASTER, ROLE_SLAVE = 0, 1, 2, 3
# Packet-in reasons (OF1.4 numbering).
OFPR_NO_MATCH, OFPR_ACTION, OFPR_INVALID_TTL, OFPR_ACTION_SET, OFPR_GROUP, OFPR_PACKET_OUT = \
    range(6)
# Flow-removed reasons.
OFPRR_IDLE_TIMEOUT, OFPRR_HARD_TIMEOUT, OFPRR_DELETE, OFPRR_GROUP_DELETE, \
    OFPRR_METER_DELETE, OFPRR_EVICTION = range(6)
# Port-status reasons.
OFPPR_ADD, OFPPR_DELETE, OFPPR_MODIFY = range(3)
# Flow-mod commands and flags.
OFPFC_ADD, OFPFC_MODIFY, OFPFC_MODIFY_STRICT, OFPFC_DELETE, OFPFC_DELETE_STRICT = range(5)
OFPFF_SEND_FLOW_REM = 1 << 0
OFPFF_CHECK_OVERLAP = 1 << 1
OFPFF_RESET_COUNTS = 1 << 2
OFPFF_NO_PKT_COUNTS = 1 << 3
OFPFF_NO_BYT_COUNTS = 1 << 4
# Port config / state bits (OF1.1+; OF1.0 shares these positions).
OFPPC_PORT_DOWN, OFPPC_NO_RECV, OFPPC_NO_FWD, OFPPC_NO_PACKET_IN = 1, 4, 32, 64
OFPPS_LINK_DOWN, OFPPS_BLOCKED, OFPPS_LIVE = 1, 2, 4
# Multipart flags.
OFPMPF_MORE = 1
# Multipart types.
OFPMP_DESC, OFPMP_FLOW, OFPMP_AGGREGATE, OFPMP_TABLE, OFPMP_PORT_STATS = 0, 1, 2, 3, 4
OFPMP_PORT_DESC = 13
# Nicira flow formats and packet-in formats.
NXFF_OPENFLOW10, NXFF_NXM = 0, 2
NXPIF_STANDARD, NXPIF_NXT_PACKET_IN, NXPIF_NXT_PACKET_IN2 = 0, 1, 2


class Message:
    """Base of every message class (for isinstance checks and the registry)."""

    __slots__ = ()


# --- symmetric and handshake ---------------------------------------------------------------

@dataclass(frozen=True)
class Hello(Message):
    """HELLO.  ``versions`` is what the sender offers; ``header_version`` the version in the
    header.  A HELLO without a version bitmap offers every version up to its header's."""

    versions: frozenset[int]
    header_version: int = 0
    has_bitmap: bool = True

    def negotiate(self, ours: frozenset[int] | set[int]) -> int | None:
        """The highest version both sides offer, or None (then OFPHFC_INCOMPATIBLE)."""
        common = set(ours) & set(self.versions)
        return max(common) if common else None


@dataclass(frozen=True)
class ErrorMsg(Message):
    """OFPT_ERROR.  ``name`` is the OVS symbolic name (None when the received numbers are
    unknown); ``vendor`` is non-zero for Nicira/ONF extended errors."""

    name: Optional[str]
    data: bytes = b""
    type: int = -1
    code: int = -1
    vendor: int = 0

    @staticmethod
    def for_request(name: str, request: bytes) -> "ErrorMsg":
        """The error OVS sends about ``request``: its first 64 bytes as data."""
        return ErrorMsg(name, bytes(request[:64]))


@dataclass(frozen=True)
class EchoRequest(Message):
    data: bytes = b""


@dataclass(frozen=True)
class EchoReply(Message):
    data: bytes = b""


@dataclass(frozen=True)
class Experimenter(Message):
    """An experimenter (OF1.0 vendor) message this codec does not interpret (encode only)."""

    experimenter: int
    exp_type: int
    data: bytes = b""


# --- switch features and configuration -----------------------------------------------------

@dataclass(frozen=True)
class PortDesc:
    """One port's description (ofp_phy_port / ofp_port).  ``hw_addr`` is 6 bytes."""

    port_no: int
    hw_addr: bytes
    name: str
    config: int = 0
    state: int = 0
    curr: int = 0
    advertised: int = 0
    supported: int = 0
    peer: int = 0
    curr_speed: int = 0   # kbps
    max_speed: int = 0    # kbps


@dataclass(frozen=True)
class FeaturesRequest(Message):
    pass


@dataclass(frozen=True)
class FeaturesReply(Message):
    datapath_id: int
    n_buffers: int = 0
    n_tables: int = 254
    auxiliary_id: int = 0
    capabilities: int = 0
    actions: int = 0                       # OF1.0 only: bitmap of supported actions
    ports: tuple[PortDesc, ...] = ()       # OF1.0 only


@dataclass(frozen=True)
class GetConfigRequest(Message):
    pass


@dataclass(frozen=True)
class GetConfigReply(Message):
    flags: int = 0
    miss_send_len: int = 128


@dataclass(frozen=True)
class SetConfig(Message):
    flags: int = 0
    miss_send_len: int = 128


@dataclass(frozen=True)
class BarrierRequest(Message):
    pass


@dataclass(frozen=True)
class BarrierReply(Message):
    pass


@dataclass(frozen=True)
class RoleRequest(Message):
    """ROLE_REQUEST (OF1.2+) or NXT_ROLE_REQUEST (``generation_id`` None: Nicira has none)."""

    role: int
    generation_id: Optional[int] = None


@dataclass(frozen=True)
class RoleReply(Message):
    role: int
    generation_id: Optional[int] = None


@dataclass(frozen=True)
class RoleStatus(Message):
    """ROLE_STATUS (OF1.4 type 30, OF1.3 ONF 1911).  reason 0: another controller became
    master; 1: configuration changed; 2: experimenter."""

    role: int
    reason: int
    generation_id: int = ALL_ONES_64


#: The async-config message kinds, in the OF1.4 property order.
ASYNC_KINDS = ("packet_in", "port_status", "flow_removed", "role_status", "table_status",
               "requestforward")


@dataclass(frozen=True)
class AsyncConfig:
    """Per-role reason masks for each asynchronous message kind.

    Each field is ``(primary_mask, secondary_mask)`` - "primary" applies to MASTER and EQUAL
    connections, "secondary" to SLAVE ones - or None when the message did not say
    (OF1.4+ SET_ASYNC may carry only some properties; OF1.3 has only the first three).
    A single None inside the pair means that role's mask was not given.
    """

    packet_in: Optional[tuple[Optional[int], Optional[int]]] = None
    port_status: Optional[tuple[Optional[int], Optional[int]]] = None
    flow_removed: Optional[tuple[Optional[int], Optional[int]]] = None
    role_status: Optional[tuple[Optional[int], Optional[int]]] = None
    table_status: Optional[tuple[Optional[int], Optional[int]]] = None
    requestforward: Optional[tuple[Optional[int], Optional[int]]] = None

    def merged_onto(self, base: "AsyncConfig") -> "AsyncConfig":
        """``base`` with every mask this config gives replaced (SET_ASYNC semantics)."""
        out = {}
        for kind in ASYNC_KINDS:
            mine, theirs = getattr(self, kind), getattr(base, kind)
            if mine is None:
                out[kind] = theirs
                continue
            theirs = theirs or (None, None)
            out[kind] = (mine[0] if mine[0] is not None else theirs[0],
                         mine[1] if mine[1] is not None else theirs[1])
        return AsyncConfig(**out)

    def mask(self, kind: str, secondary: bool) -> int:
        pair = getattr(self, kind)
        if pair is None:
            return 0
        return (pair[1] if secondary else pair[0]) or 0


@dataclass(frozen=True)
class GetAsyncRequest(Message):
    pass


@dataclass(frozen=True)
class GetAsyncReply(Message):
    config: AsyncConfig


@dataclass(frozen=True)
class SetAsync(Message):
    config: AsyncConfig


# --- ports and tables ----------------------------------------------------------------------

@dataclass(frozen=True)
class PortStatus(Message):
    reason: int
    desc: PortDesc


@dataclass(frozen=True)
class PortMod(Message):
    port_no: int
    hw_addr: bytes
    config: int
    mask: int
    advertise: int = 0


@dataclass(frozen=True)
class TableMod(Message):
    """TABLE_MOD.  ``properties`` holds the raw OF1.4+ property list (eviction, vacancy)."""

    table_id: int
    config: int
    properties: bytes = b""


# --- packets and flows ---------------------------------------------------------------------

@dataclass(frozen=True)
class PacketIn(Message):
    """PACKET_IN.  ``data`` is what is sent (already truncated); ``total_len`` the frame's
    full length (defaults to ``len(data)``).  ``metadata`` holds pipeline fields besides
    in_port that OF1.2+ carries in the match (metadata, registers, tunnel id...)."""

    data: bytes
    in_port: int
    reason: int = OFPR_NO_MATCH
    table_id: int = 0
    cookie: int = ALL_ONES_64
    buffer_id: int = NO_BUFFER
    total_len: Optional[int] = None
    metadata: Optional[Match] = None
    userdata: bytes = b""        # controller(userdata=...) - carried by NXT_PACKET_IN2 only
    continuation: bytes = b""    # opaque NXT_PACKET_IN2 continuation (pause), raw


@dataclass(frozen=True)
class PacketOut(Message):
    """PACKET_OUT.  ``match`` is the OF1.5 pipeline metadata (None before OF1.5)."""

    buffer_id: int
    in_port: int
    actions: tuple[Action, ...]
    data: bytes = b""
    match: Optional[Match] = None


@dataclass
class FlowMod(Message):
    """FLOW_MOD in any version (OVS ofputil_flow_mod).  OF1.0 action lists become
    ``Instructions(apply=...)``; ``table_id`` 0xff means "unspecified/all tables".
    Not frozen (unlike the other messages): one is decoded per flow_mod, and a frozen
    dataclass costs several microseconds more to build; treat it as immutable all the same."""

    match: Match
    instructions: Instructions
    command: int = OFPFC_ADD
    cookie: int = 0
    cookie_mask: int = 0
    table_id: int = 0xFF
    idle_timeout: int = 0
    hard_timeout: int = 0
    priority: int = 0x8000
    buffer_id: int = NO_BUFFER
    out_port: int = OFPP_ANY
    out_group: int = OFPG_ANY
    flags: int = 0
    importance: int = 0
    #: NXT_FLOW_MOD only: when its NXM match carries a cookie (NXM_NX_COOKIE), that is
    #: ``cookie``/``cookie_mask`` (a filter) and the header's cookie is this, the cookie
    #: to set; None otherwise (then ``cookie`` is the cookie to set, as OF1.0 reads it).
    new_cookie: Optional[int] = None


@dataclass(frozen=True)
class FlowRemoved(Message):
    match: Match
    cookie: int
    priority: int
    reason: int
    table_id: int = 0
    duration_sec: int = 0
    duration_nsec: int = 0
    idle_timeout: int = 0
    hard_timeout: int = 0
    packet_count: int = 0
    byte_count: int = 0


# --- Nicira session controls ---------------------------------------------------------------

@dataclass(frozen=True)
class SetFlowFormat(Message):
    """NXT_SET_FLOW_FORMAT: NXFF_OPENFLOW10 (0) or NXFF_NXM (2)."""

    format: int


@dataclass(frozen=True)
class FlowModTableId(Message):
    """NXT_FLOW_MOD_TABLE_ID: OF1.0 flow_mod ``command`` high byte is a table id."""

    enable: bool


@dataclass(frozen=True)
class SetPacketInFormat(Message):
    format: int


@dataclass(frozen=True)
class SetControllerId(Message):
    controller_id: int


# --- multipart -----------------------------------------------------------------------------

@dataclass(frozen=True)
class DescRequest(Message):
    pass


@dataclass(frozen=True)
class DescReply(Message):
    mfr_desc: str = ""
    hw_desc: str = ""
    sw_desc: str = ""
    serial_num: str = ""
    dp_desc: str = ""


@dataclass(frozen=True)
class PortDescRequest(Message):
    port_no: int = OFPP_ANY


@dataclass(frozen=True)
class PortDescReply(Message):
    ports: tuple[PortDesc, ...] = ()
    more: bool = False

