"""OpenFlow handlers for bundles: BUNDLE_CONTROL and BUNDLE_ADD_MESSAGE (OF1.4+; ONF 2300 /
2301 for OpenFlow 1.3) (OVS ofproto.c handle_bundle_control, handle_bundle_add,
do_bundle_commit).

What this module owns
---------------------
The glue between the bundle messages, the session's ``bundles.SessionBundles`` and the
switch:

* BUNDLE_CONTROL OPEN / CLOSE / DISCARD change the session's bundles and are answered
  with the matching *_REPLY; a reply type as request is OFPBFC_BAD_TYPE.
* BUNDLE_ADD_MESSAGE: the inner message must have the outer xid (OFPBFC_MSG_BAD_XID),
  decode, and be a FLOW_MOD, GROUP_MOD, PORT_MOD or PACKET_OUT (anything else, or an
  undecodable type: OFPBFC_MSG_UNSUP).  A decoding error of one of those is the error
  itself.  A failing ADD leaves the bundle as it was (ovs-ofctl then discards it).
* COMMIT applies the messages in order: every FLOW_MOD in one ``FlowModTxn`` (all of
  them become visible at one table version), GROUP_MODs on the group table as they come
  (a group deleted there takes its flows out in the same transaction, reason
  GROUP_DELETE), so that flows can use groups the bundle adds.  If any message fails,
  nothing changes: the transaction is aborted and the group table restored.  The failing
  entry gets its own error (referencing its BUNDLE_ADD_MESSAGE, whose xid ovs-ofctl uses
  to name the flow) and the commit fails with OFPBFC_MSG_FAILED.  PORT_MODs are checked
  with the rest and applied after the flows are published (not atomically, as in OVS;
  refused in an ATOMIC bundle with OFPBFC_MSG_FAILED); PACKET_OUTs run after the flows
  are published, against the new tables.  The bundle is gone after a commit whatever its
  outcome.

A slave is refused before decoding (``ofproto.is_state_changing``: OFPBRC_IS_SLAVE).

Must not import: ``vswitchd``.
"""

from __future__ import annotations

import gc
import struct

from pyvswitch.ofproto.handlers import HANDLERS, handles, handles_raw
from pyvswitch.openflow import codec
from pyvswitch.openflow import messages as m
from pyvswitch.openflow.messages_gm import GroupMod
from pyvswitch.openflow.errors import OFPError
from pyvswitch.openflow import registry as R
from pyvswitch.openflow.registry import OFPT_FLOW_MOD
from pyvswitch.openflow.wire_flow import decode_flow_mod
from pyvswitch.openflow.wire_bundle import (
    OFPBCT_CLOSE_REPLY, OFPBCT_CLOSE_REQUEST, OFPBCT_COMMIT_REPLY, OFPBCT_COMMIT_REQUEST,
    OFPBCT_DISCARD_REPLY, OFPBCT_DISCARD_REQUEST, OFPBCT_OPEN_REPLY, OFPBCT_OPEN_REQUEST,
    OFPBF_ATOMIC, OFPT_BUNDLE_ADD_MESSAGE, ONFT_BUNDLE_ADD_MESSAGE, BundleAdd, BundleControl,
    parse_add,
)

_ONF_BUNDLE_ADD = struct.pack("!II", R.ONF_VENDOR_ID, ONFT_BUNDLE_ADD_MESSAGE)

#: Decoding errors that mean "this is not a message type the switch knows".
_UNKNOWN_TYPE = {"OFPBRC_BAD_TYPE", "OFPBRC_BAD_SUBTYPE", "OFPBRC_BAD_EXPERIMENTER",
                 "OFPBRC_BAD_STAT", "OFPBRC_BAD_VERSION"}
_BUNDLABLE = (m.FlowMod, GroupMod, m.PortMod, m.PacketOut)


@handles(BundleControl)
def _bundle_control(ofproto, ofconn, msg: BundleControl, xid, now):
    bundles = ofconn.bundles
    ctype = msg.type
    if ctype == OFPBCT_OPEN_REQUEST:
        bundles.open(msg.bundle_id, msg.flags, ofconn.request_raw, now)
        reply = OFPBCT_OPEN_REPLY
    elif ctype == OFPBCT_CLOSE_REQUEST:
        bundles.close(msg.bundle_id, msg.flags, now)
        reply = OFPBCT_CLOSE_REPLY
    elif ctype == OFPBCT_COMMIT_REQUEST:
        commit(ofproto, ofconn, bundles.take(msg.bundle_id, msg.flags), now)
        reply = OFPBCT_COMMIT_REPLY
    elif ctype == OFPBCT_DISCARD_REQUEST:
        bundles.discard(msg.bundle_id)
        reply = OFPBCT_DISCARD_REPLY
    else:
        raise OFPError("OFPBFC_BAD_TYPE", f"bundle control type {ctype}")
    ofconn.send(BundleControl(msg.bundle_id, reply, 0), xid)


@handles(BundleAdd)
def _bundle_add(ofproto, ofconn, msg: BundleAdd, xid, now):
    _add_inner(ofconn, msg.bundle_id, msg.flags, msg.message, xid, now)


@handles_raw((R.V13, R.OFPT_EXPERIMENTER), (R.V14, OFPT_BUNDLE_ADD_MESSAGE),
             (R.V15, OFPT_BUNDLE_ADD_MESSAGE))
def _bundle_add_raw(ofproto, ofconn, raw: bytes, xid, now) -> bool:
    """The BUNDLE_ADD_MESSAGEs of ``ovs-ofctl --bundle``, straight from their bytes."""
    version = raw[0]
    if version == R.V13 and raw[8:16] != _ONF_BUNDLE_ADD:
        return False                # another experimenter message: the generic path
    bundle_id, flags, inner, _ = parse_add(version, raw)
    _add_inner(ofconn, bundle_id, flags, inner, xid, now)
    return True


def _add_inner(ofconn, bundle_id: int, flags: int, inner: bytes, xid: int, now) -> None:
    if int.from_bytes(inner[4:8], "big") != xid:
        raise OFPError("OFPBFC_MSG_BAD_XID", "inner xid differs from the bundle message's")
    try:
        if inner[1] == OFPT_FLOW_MOD:   # the commonest by far: straight to its decoder
            # (bundles exist from OpenFlow 1.3 on: no decode option applies to them)
            decoded = decode_flow_mod(inner[0], inner, None)
        else:
            decoded = codec.decode(inner, ofconn.decode_options())
    except OFPError as err:
        if err.name in _UNKNOWN_TYPE:
            raise OFPError("OFPBFC_MSG_UNSUP", f"inner message: {err.name}") from None
        raise
    kind = type(decoded)
    if kind is not m.FlowMod and not isinstance(decoded, _BUNDLABLE):
        raise OFPError("OFPBFC_MSG_UNSUP", f"{kind.__name__} in a bundle")
    bundle = ofconn.bundles.add(bundle_id, flags, decoded, ofconn.request_raw, now)
    if kind is m.FlowMod:
        # One mask list per distinct mask in the bundle (the commit gives each table's
        # rules the table's own): the other 43-slot lists are freed at once.
        match = decoded.match
        match.masks = bundle.masks.setdefault(tuple(match.masks), match.masks)


def _check_port_mod(ofproto, pm: m.PortMod) -> None:
    """What OVS port_mod_start checks (the change itself is made after the flows)."""
    port = ofproto.ports.get(pm.port_no)
    if port is None:
        raise OFPError("OFPPMFC_BAD_PORT", f"no port {pm.port_no}")
    if bytes(pm.hw_addr) != port.desc().hw_addr:
        raise OFPError("OFPPMFC_BAD_HW_ADDR")


def commit(ofproto, ofconn, bundle, now: float) -> None:
    """Apply ``bundle`` (already removed from the session) all-or-nothing."""
    # A large bundle allocates many long-lived objects at once; the cyclic collector
    # would scan the whole heap again and again meanwhile (about half of the commit time
    # for 100k flows), so it is paused for the commit.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        _commit(ofproto, ofconn, bundle, now)
    finally:
        if gc_was_enabled:
            gc.enable()


def _commit(ofproto, ofconn, bundle, now: float) -> None:
    msgs, raws = bundle.msgs, bundle.raws
    version = ofconn.version
    groups = ofproto.groups
    txn = ofproto.flows.begin(now, ofconn)
    groups_before = None
    later = []                      # port mods and packet-outs (indexes): after the flows
    i = 0
    try:
        add = txn.add
        FlowMod = m.FlowMod
        for i, inner in enumerate(msgs):
            kind = type(inner)
            if kind is FlowMod:
                add(inner, version, True)     # decoded for the bundle: its match is ours
            elif kind is GroupMod:
                if groups_before is None:
                    groups_before = groups.snapshot()
                txn.forget_refs()
                deleted = groups.apply(inner, now, version, delete_flows=False)
                for rule in groups.rules_using(deleted):
                    txn.remove(rule, m.OFPRR_GROUP_DELETE)
            elif kind is m.PortMod:
                if bundle.flags & OFPBF_ATOMIC:
                    raise OFPError("OFPBFC_MSG_FAILED", "port mods are not atomic")
                _check_port_mod(ofproto, inner)
                later.append(i)
            else:
                if inner.buffer_id != m.NO_BUFFER:
                    raise OFPError("OFPBRC_BUFFER_UNKNOWN", "this switch buffers no packets")
                later.append(i)
    except BaseException as exc:
        txn.abort()
        if groups_before is not None:
            groups.restore(groups_before)
        if not isinstance(exc, OFPError):
            raise
        ofconn.rconn.send(codec.error_reply(exc, raws[i]), ofconn.reply_counter)
        raise OFPError("OFPBFC_MSG_FAILED", f"bundle {bundle.bundle_id:#x}") from None
    if msgs:
        # Monitors abbreviate the session's own changes with this xid.
        ofconn.request_xid = int.from_bytes(raws[0][4:8], "big")
    txn.commit()
    for i in later:
        inner, raw = msgs[i], raws[i]
        try:
            HANDLERS[type(inner)](ofproto, ofconn, inner, int.from_bytes(raw[4:8], "big"),
                                  now)
        except OFPError as err:     # the bundle stays committed, as in OVS
            ofconn.rconn.send(codec.error_reply(err, raw), ofconn.reply_counter)
