"""Random and mutated messages: framing + decode may refuse input, never crash.

A peer can send anything; the switch must answer with an OpenFlow error (``OFPError``) or,
when the framing itself is broken, disconnect (``FramingError``) - no other exception may
escape.  Valid messages of every kind and version are the seeds; hypothesis mutates them.
"""

from __future__ import annotations

import random
import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from pyvswitch.openflow import codec
from pyvswitch.openflow import messages as m
from pyvswitch.openflow.errors import OFPError
from pyvswitch.openflow.framing import FramingError, split_messages
from pyvswitch.openflow import messages_gm as mg
from pyvswitch.openflow import messages_stats as ms
from pyvswitch.openflow import wire_bundle as wb
from pyvswitch.openflow import wire_monitor as wm
from pyvswitch.openflow import wire_queue as wq
from pyvswitch.openflow import wire_table_features as wtf
from pyvswitch.openflow.ofpacts import Output, SetField
from pyvswitch.packet.fields import Match, field

MAC = bytes.fromhex("020000000001")
PORT = m.PortDesc(1, MAC, "p1", curr=0x2820, curr_speed=10)
MATCH = Match().set("in_port", 1).set("eth_type", 0x0800).set("ip_src", 0x0A000001)


def _seeds() -> list[bytes]:
    msgs = [
        m.Hello(frozenset({1, 4, 5, 6})), m.ErrorMsg("OFPBRC_BAD_TYPE", b"x" * 12),
        m.EchoRequest(b"hi"), m.EchoReply(b""), m.FeaturesRequest(),
        m.FeaturesReply(1, 0, 254, 0, 0x4F, 0, (PORT,)), m.GetConfigRequest(),
        m.GetConfigReply(), m.SetConfig(0, 128), m.BarrierRequest(), m.BarrierReply(),
        m.RoleRequest(2, 1), m.RoleReply(3, 2), m.RoleStatus(3, 0, 1),
        m.GetAsyncRequest(), m.GetAsyncReply(m.AsyncConfig((1, 0), (7, 7), (15, 0))),
        m.SetAsync(m.AsyncConfig((1, 0), (7, 7), (15, 0), (1, 1))),
        m.PortStatus(0, PORT), m.PortMod(1, MAC, 1, 1, 0x20), m.TableMod(1, 0),
        m.DescRequest(), m.DescReply("a", "b", "c", "d", "e"), m.PortDescRequest(),
        m.PortDescReply((PORT, PORT)), m.PacketIn(b"\x00" * 60, 1),
        m.PacketIn(b"\x00" * 60, 2, metadata=Match().set("metadata", 5)),
        m.PacketOut(0xFFFFFFFF, 1, (Output(2),), b"\x00" * 60),
        m.FlowMod(MATCH, m.Instructions(apply=(Output(2),)), priority=5),
        m.FlowMod(MATCH, m.Instructions(apply=(SetField(field("ip_dst"), 1), Output(2)),
                                        goto_table=3), table_id=1),
        m.FlowMod(Match().set("reg0", 1), m.Instructions(apply=(Output(1),))),
        m.FlowRemoved(MATCH, 1, 2, 0, packet_count=3), m.SetFlowFormat(2),
        m.FlowModTableId(True), m.SetPacketInFormat(1), m.SetControllerId(3),
        ms.FlowStatsRequest(MATCH), ms.AggregateStatsRequest(Match().set("reg0", 1)),
        ms.FlowStatsRequest(Match().set("reg1", 2), nxm=True),
        ms.FlowStatsReply((ms.FlowStats(MATCH, m.Instructions(apply=(Output(1),))),)),
        ms.FlowStatsReply((ms.FlowStats(MATCH, m.Instructions(apply=(Output(1),))),),
                          nxm=True),
        ms.AggregateStatsReply(1, 2, 3), ms.AggregateStatsReply(1, 2, 3, nxm=True),
        ms.TableStatsRequest(), ms.TableStatsReply((ms.TableStats(0, 1, 2, 3),)),
        ms.PortStatsRequest(), ms.PortStatsReply((ms.PortStats(1, 2, 3),)),
        mg.GroupMod(0, 1, 7, (mg.Bucket((Output(2),), 5), mg.Bucket((Output(3),), 6))),
        mg.GroupStatsReply((mg.GroupStats(1, 2, 3, 4, 5, 6, ((1, 2),)),)),
        mg.GroupDescReply((mg.GroupDesc(0, 1, (mg.Bucket((Output(1),)),)),)),
        mg.MeterMod(0, 1, 1, (mg.MeterBand(1, 10, 1), mg.MeterBand(2, 5, 1, 1))),
        mg.MeterStatsReply((mg.MeterStats(1, 2, 3, 4, 5, 6, ((1, 1),)),)),
        mg.MeterConfigReply((mg.MeterConfig(1, 1, (mg.MeterBand(1, 10),)),)),
        wtf.TableFeaturesRequest(), wtf.TableFeaturesReply((wtf.TableFeatures(
            0, "t0", properties=(wtf.TableFeatureProp(0, (1, 4)), wtf.TableFeatureProp(2, (1,)),
                                 wtf.TableFeatureProp(8, (0x80000004,)),
                                 wtf.TableFeatureProp(0xFFFF, (), b"\0" * 8))),)),
        wm.FlowMonitorRequest(1, 3, MATCH), wm.FlowMonitorCancel(1), wm.FlowMonitorPaused(),
        wm.FlowMonitorReply((wm.FlowUpdate(1, 0, 0, 1, 1, 1, 1, MATCH,
                                           m.Instructions(apply=(Output(1),))),
                             wm.FlowUpdate(4, xid=3))),
        wq.QueueStatsRequest(), wq.QueueStatsReply((wq.QueueStats(1, 2, 3, 4, 5),)),
        wq.QueueGetConfigRequest(1), wq.QueueGetConfigReply(1, (wq.QueueConfig(1, 1, 5, 9),)),
        wq.TableDescRequest(), wq.TableDescReply((wq.TableDesc(1, 0, b"\0" * 8),)),
        mg.MeterFeaturesReply(1, 2, 3, 4, 5), mg.GroupFeaturesReply(1, 2, (1, 2, 3, 4),
                                                                     (1, 2, 3, 4)),
    ]
    out = []
    pin2 = m.PacketIn(b"\0" * 60, 3, total_len=100, metadata=Match().set("reg1", 1),
                      userdata=b"u", continuation=b"c" * 8)
    for version in (1, 4, 5, 6):
        out.append(codec.encode_packet_in(pin2, version, 9, m.NXPIF_NXT_PACKET_IN2))
        out.append(codec.encode_packet_in(pin2, version, 9, m.NXPIF_NXT_PACKET_IN))
    for version in (4, 5, 6):
        inner = codec.encode(m.FlowMod(MATCH, m.Instructions(apply=(Output(2),))), version, 9)
        out.append(codec.encode(wb.BundleAdd(1, inner, 1), version, 9))
        out.append(codec.encode(wb.BundleControl(1, 0, 1), version, 9))
    for version in (1, 4, 5, 6):
        for msg in msgs:
            try:
                out.append(codec.encode(msg, version, 0x10))
            except (ValueError, OFPError):
                continue   # not every message exists in every version
    return out


SEEDS = _seeds()


def _decode_stream(data: bytes) -> int:
    """Frame and decode ``data``; return how many messages decoded."""
    buf = bytearray(data)
    try:
        messages = split_messages(buf)
    except FramingError:
        return 0
    good = 0
    for raw in messages:
        try:
            codec.decode(raw)
            good += 1
        except OFPError:
            pass
        try:
            codec.decode(raw, codec.DecodeOptions(flow_mod_table_id=True))
        except OFPError:
            pass
    return good


@st.composite
def mutated(draw) -> bytes:
    raw = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "byte", "truncate", "extend", "length",
                                     "word"]))
        if kind == "flip" and raw:
            i = draw(st.integers(0, len(raw) - 1))
            raw[i] ^= 1 << draw(st.integers(0, 7))
        elif kind == "byte" and raw:
            raw[draw(st.integers(0, len(raw) - 1))] = draw(st.integers(0, 255))
        elif kind == "truncate":
            del raw[draw(st.integers(0, len(raw))):]
        elif kind == "extend":
            raw += draw(st.binary(max_size=40))
        elif kind == "word" and len(raw) >= 10:
            i = draw(st.integers(8, len(raw) - 2))
            raw[i:i + 2] = struct.pack("!H", draw(st.sampled_from([0, 1, 4, 8, 0xFFFF,
                                                                 len(raw), 0x8000])))
    if len(raw) >= 4 and draw(st.booleans()):
        raw[2:4] = struct.pack("!H", len(raw))     # keep the framing consistent
    return bytes(raw)


def test_every_seed_decodes_cleanly():
    assert len(SEEDS) > 100
    opts = codec.DecodeOptions(flow_mod_table_id=True)   # OF1.0 flow_mods naming a table
    for raw in SEEDS:
        codec.decode(raw, opts)


@settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))
@given(mutated())
def test_mutated_messages_raise_only_ofperror(data):
    _decode_stream(data)


def _mutate(rng: random.Random, raw: bytes) -> bytes:
    out = bytearray(raw)
    for _ in range(rng.randint(1, 4)):
        kind = rng.randrange(5)
        if kind == 0 and out:
            out[rng.randrange(len(out))] ^= 1 << rng.randrange(8)
        elif kind == 1 and out:
            out[rng.randrange(len(out))] = rng.randrange(256)
        elif kind == 2:
            del out[rng.randint(0, len(out)):]
        elif kind == 3:
            out += bytes(rng.randrange(256) for _ in range(rng.randint(0, 24)))
        elif kind == 4 and len(out) >= 10:
            i = rng.randint(8, len(out) - 2)
            out[i:i + 2] = struct.pack("!H", rng.choice([0, 1, 4, 8, 0xFFFF, len(out)]))
    if len(out) >= 4 and rng.random() < 0.7:
        out[2:4] = struct.pack("!H", len(out))
    return bytes(out)


@settings(max_examples=1000, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.integers(0, 2**64))
def test_ten_thousand_mutated_messages_raise_only_ofperror(seed):
    """1000 examples x 10 mutations of every seed kind = 10,000 messages."""
    rng = random.Random(seed)
    stream = b"".join(_mutate(rng, rng.choice(SEEDS)) for _ in range(10))
    _decode_stream(stream)
    for _ in range(10):
        _decode_stream(_mutate(rng, rng.choice(SEEDS)))


@settings(max_examples=1500, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.integers(0, 6), st.integers(0, 40), st.binary(max_size=120))
def test_random_bodies_under_every_header_raise_only_ofperror(version, mtype, body):
    raw = struct.pack("!BBHI", version, mtype, 8 + len(body), 1) + body
    _decode_stream(raw)
