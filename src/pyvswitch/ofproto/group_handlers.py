"""OpenFlow handlers for groups and meters: GROUP_MOD, METER_MOD and the GROUP,
GROUP_DESC, GROUP_FEATURES, METER, METER_CONFIG and METER_FEATURES multiparts (OVS
ofproto.c handle_group_mod, handle_group_stats_request, handle_group_desc_stats_request,
handle_group_features_stats_request, handle_meter_mod, handle_meter_request,
handle_meter_features_request).

What this module owns
---------------------
The glue between decoded messages and ``ofproto.groups`` (``groups.GroupTable``) /
``ofproto.meters`` (``meters.MeterTable``).  Semantics live there; handlers apply or
query and reply with ``ofconn.send(reply, xid)``.  Errors are raised as ``OFPError``.
A slave's GROUP_MOD / METER_MOD never reaches here: ``Ofproto.handle_openflow`` refuses
it (OFPBRC_IS_SLAVE) from the raw header, as Open vSwitch does.

Statistics: the provider's datapath counters are pushed into groups first (when it can,
``provider.flush_stats``), so a dump right after traffic sees it.  A group statistics or
description request for a group that does not exist gets an empty reply; a meter request
for an unknown meter is OFPMMFC_UNKNOWN_METER (both as OVS).

Must not import: ``vswitchd``.
"""

from __future__ import annotations

from pyvswitch.ofproto.handlers import handles
from pyvswitch.openflow import messages_gm as gm
from pyvswitch.openflow.errors import OFPError


def _single(msg):
    if isinstance(msg, list):
        raise OFPError("OFPBRC_BAD_STAT", "multi-part request of a single-part kind")
    return msg


def _flush_stats(ofproto, now: float) -> None:
    flush = getattr(ofproto.provider, "flush_stats", None)
    if flush is not None:
        flush(now)


@handles(gm.GroupMod)
def _group_mod(ofproto, ofconn, msg: gm.GroupMod, xid, now):
    ofproto.groups.apply(msg, now, ofconn.version)


@handles(gm.GroupStatsRequest)
def _group_stats(ofproto, ofconn, msg, xid, now):
    req = _single(msg)
    _flush_stats(ofproto, now)
    ofconn.send(gm.GroupStatsReply(tuple(ofproto.groups.stats(req.group_id, now))), xid)


@handles(gm.GroupDescRequest)
def _group_desc(ofproto, ofconn, msg, xid, now):
    req = _single(msg)
    ofconn.send(gm.GroupDescReply(tuple(ofproto.groups.descs(req.group_id))), xid)


@handles(gm.GroupFeaturesRequest)
def _group_features(ofproto, ofconn, msg, xid, now):
    _single(msg)
    ofconn.send(ofproto.groups.features(), xid)


@handles(gm.MeterMod)
def _meter_mod(ofproto, ofconn, msg: gm.MeterMod, xid, now):
    ofproto.meters.apply(msg, now)


@handles(gm.MeterStatsRequest)
def _meter_stats(ofproto, ofconn, msg, xid, now):
    req = _single(msg)
    ofconn.send(gm.MeterStatsReply(tuple(ofproto.meters.stats(req.meter_id, now))), xid)


@handles(gm.MeterConfigRequest)
def _meter_config(ofproto, ofconn, msg, xid, now):
    req = _single(msg)
    ofconn.send(gm.MeterConfigReply(tuple(ofproto.meters.configs(req.meter_id))), xid)


@handles(gm.MeterFeaturesRequest)
def _meter_features(ofproto, ofconn, msg, xid, now):
    _single(msg)
    ofconn.send(ofproto.meters.features(), xid)
