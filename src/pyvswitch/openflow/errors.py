"""OpenFlow errors as values: the exception every layer raises and the codec encodes.

What this module owns
---------------------
``OFPError``: an error Open vSwitch would answer with an OFPT_ERROR, named symbolically the
way OVS names them (``"OFPBRC_BAD_TYPE"``, ``"OFPFMFC_TABLE_FULL"``...).  The symbolic name
is version-independent; ``ERRORS`` maps it to the (vendor, type, code) each OpenFlow
version puts on the wire (the numbering changed between OF1.0 and OF1.1+, and some errors
exist only as Nicira/ONF extensions).  ``error_triplet`` picks the numbers for a version
(falling back to NXBRC_UNENCODABLE_ERROR like OVS) and ``error_name`` reads them back.
The ERROR message itself is encoded in ``wire_core``.

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


# --- the wire numbering of each error -----------------------------------------------------
#
# Each error lists the versions that can carry it, as ``(first, last, vendor, type, code)``
# with OpenFlow version numbers (0x01 = 1.0 ... 0x06 = 1.5).  ``vendor`` 0 is a standard
# OFPT_ERROR (type, code).  A vendor error is sent, as Open vSwitch sends it, as
# NXET_VENDOR/NXVC_VENDOR_ERROR + (vendor, type, code) in OpenFlow 1.0/1.1 and as
# OFPET_EXPERIMENTER with code = ``type`` + the vendor id in OpenFlow 1.2+.  An error a
# version cannot carry at all becomes NXBRC_UNENCODABLE_ERROR, again like OVS.

OF = 0
NX_VENDOR = 0x00002320
ONF_VENDOR = 0x4F4E4600
NXET_VENDOR = 0xB0C2
OFPET12_EXPERIMENTER = 0xFFFF

_V10, _V11, _V12, _V13, _V14, _V15, _VMAX = 1, 2, 3, 4, 5, 6, 0xFF


def _std10_11plus(t10: int | None, c10: int | None, t11: int, c11: int, first11: int = _V11):
    """The common shape: one (type, code) in OF1.0, another from ``first11`` on."""
    rows = []
    if t10 is not None:
        rows.append((_V10, _V10, OF, t10, c10))
    rows.append((first11, _VMAX, OF, t11, c11))
    return tuple(rows)


def _same(t: int, c: int, first: int = _V10):
    return ((first, _VMAX, OF, t, c),)


ERRORS: dict[str, tuple[tuple[int, int, int, int, int], ...]] = {
    # hello failed
    "OFPHFC_INCOMPATIBLE": _same(0, 0),
    "OFPHFC_EPERM": _same(0, 1),
    # bad request
    "OFPBRC_BAD_VERSION": _same(1, 0),
    "OFPBRC_BAD_TYPE": _same(1, 1),
    "OFPBRC_BAD_STAT": _same(1, 2),
    "OFPBRC_BAD_VENDOR": _same(1, 3),
    "OFPBRC_BAD_SUBTYPE": _same(1, 4),
    "OFPBRC_EPERM": _same(1, 5),
    "OFPBRC_BAD_LEN": _same(1, 6),
    "OFPBRC_BUFFER_EMPTY": _same(1, 7),
    "OFPBRC_BUFFER_UNKNOWN": _same(1, 8),
    "OFPBRC_BAD_TABLE_ID": ((_V10, _V10, NX_VENDOR, 1, 512), (_V11, _VMAX, OF, 1, 9)),
    "OFPBRC_IS_SLAVE": ((_V10, _V11, OF, 1, 5), (_V12, _VMAX, OF, 1, 10)),
    "OFPBRC_BAD_PORT": ((_V10, _V11, NX_VENDOR, 1, 514), (_V12, _VMAX, OF, 1, 11)),
    "OFPBRC_BAD_PACKET": _same(1, 12, _V12),
    "OFPBRC_MULTIPART_BUFFER_OVERFLOW": _same(1, 13, _V13),
    "OFPBRC_MULTIPART_REQUEST_TIMEOUT": ((_V13, _V13, ONF_VENDOR, 2640, 0),
                                         (_V14, _VMAX, OF, 1, 14)),
    "OFPBRC_MULTIPART_REPLY_TIMEOUT": ((_V13, _V13, ONF_VENDOR, 2641, 0),
                                       (_V14, _VMAX, OF, 1, 15)),
    "NXBRC_NXM_INVALID": ((_V10, _V11, NX_VENDOR, 1, 256), (_V12, _VMAX, NX_VENDOR, 2, 0)),
    "NXBRC_NXM_BAD_TYPE": ((_V10, _V11, NX_VENDOR, 1, 257), (_V12, _VMAX, NX_VENDOR, 3, 0)),
    "NXBRC_MUST_BE_ZERO": ((_V10, _V11, NX_VENDOR, 1, 515), (_V12, _VMAX, NX_VENDOR, 4, 0)),
    "NXBRC_BAD_REASON": ((_V10, _V11, NX_VENDOR, 1, 516), (_V12, _VMAX, NX_VENDOR, 5, 0)),
    "NXBRC_FM_BAD_EVENT": ((_V10, _V11, NX_VENDOR, 1, 520), (_V12, _VMAX, NX_VENDOR, 9, 0)),
    "NXBRC_UNENCODABLE_ERROR": ((_V10, _V11, NX_VENDOR, 1, 521),
                                (_V12, _VMAX, NX_VENDOR, 10, 0)),
    # bad action
    "OFPBAC_BAD_TYPE": _same(2, 0),
    "OFPBAC_BAD_LEN": _same(2, 1),
    "OFPBAC_BAD_VENDOR": _same(2, 2),
    "OFPBAC_BAD_VENDOR_TYPE": _same(2, 3),
    "OFPBAC_BAD_OUT_PORT": _same(2, 4),
    "OFPBAC_BAD_ARGUMENT": _same(2, 5),
    "OFPBAC_EPERM": _same(2, 6),
    "OFPBAC_TOO_MANY": _same(2, 7),
    "OFPBAC_BAD_QUEUE": _same(2, 8),
    "OFPBAC_BAD_OUT_GROUP": _same(2, 9, _V11),
    "OFPBAC_MATCH_INCONSISTENT": ((_V10, _V10, NX_VENDOR, 1, 522), (_V11, _VMAX, OF, 2, 10)),
    "OFPBAC_UNSUPPORTED_ORDER": _same(2, 11, _V11),
    "OFPBAC_BAD_TAG": _same(2, 12, _V11),
    "OFPBAC_BAD_SET_TYPE": ((_V10, _V11, NX_VENDOR, 1, 523), (_V12, _VMAX, OF, 2, 13)),
    "OFPBAC_BAD_SET_LEN": ((_V10, _V11, NX_VENDOR, 1, 524), (_V12, _VMAX, OF, 2, 14)),
    "OFPBAC_BAD_SET_ARGUMENT": ((_V10, _V11, NX_VENDOR, 1, 525), (_V12, _VMAX, OF, 2, 15)),
    "OFPBAC_BAD_SET_MASK": ((_V13, _V14, ONF_VENDOR, 4250, 0), (_V15, _VMAX, OF, 2, 16)),
    "NXBAC_MUST_BE_ZERO": ((_V10, _V11, NX_VENDOR, 2, 256), (_V12, _VMAX, NX_VENDOR, 11, 0)),
    "NXBAC_BAD_CONJUNCTION": ((_V10, _V11, NX_VENDOR, 2, 526),
                              (_V12, _VMAX, NX_VENDOR, 15, 0)),
    # bad instruction
    "OFPBIC_UNKNOWN_INST": _same(3, 0, _V11),
    "OFPBIC_UNSUP_INST": ((_V10, _V10, NX_VENDOR, 2, 257), (_V11, _VMAX, OF, 3, 1)),
    "OFPBIC_BAD_TABLE_ID": _same(3, 2, _V11),
    "OFPBIC_UNSUP_METADATA": _same(3, 3, _V11),
    "OFPBIC_UNSUP_METADATA_MASK": _same(3, 4, _V11),
    "OFPBIC_BAD_EXPERIMENTER": _same(3, 5, _V11),
    "OFPBIC_BAD_EXP_TYPE": ((_V11, _V11, OF, 3, 5), (_V12, _VMAX, OF, 3, 6)),
    "OFPBIC_BAD_LEN": _same(3, 7, _V12),
    "OFPBIC_EPERM": _same(3, 8, _V12),
    "OFPBIC_DUP_INST": ((_V11, _V11, NX_VENDOR, 3, 256), (_V12, _V13, ONF_VENDOR, 2600, 0),
                        (_V14, _VMAX, OF, 3, 9)),
    # bad match
    "OFPBMC_BAD_TYPE": _same(4, 0, _V11),
    "OFPBMC_BAD_LEN": _same(4, 1, _V11),
    "OFPBMC_BAD_TAG": _same(4, 2, _V11),
    "OFPBMC_BAD_DL_ADDR_MASK": _same(4, 3, _V11),
    "OFPBMC_BAD_NW_ADDR_MASK": _same(4, 4, _V11),
    "OFPBMC_BAD_WILDCARDS": ((_V10, _V10, NX_VENDOR, 1, 262), (_V11, _VMAX, OF, 4, 5)),
    "OFPBMC_BAD_FIELD": ((_V10, _V10, NX_VENDOR, 0, 263), (_V11, _VMAX, OF, 4, 6)),
    "OFPBMC_BAD_VALUE": ((_V10, _V10, NX_VENDOR, 1, 258), (_V11, _VMAX, OF, 4, 7)),
    "OFPBMC_BAD_MASK": ((_V10, _V11, NX_VENDOR, 1, 259), (_V12, _VMAX, OF, 4, 8)),
    "OFPBMC_BAD_PREREQ": ((_V10, _V11, NX_VENDOR, 1, 260), (_V12, _VMAX, OF, 4, 9)),
    "OFPBMC_DUP_FIELD": ((_V10, _V11, NX_VENDOR, 1, 261), (_V12, _VMAX, OF, 4, 10)),
    "OFPBMC_EPERM": _same(4, 11, _V12),
    # flow mod failed
    "OFPFMFC_UNKNOWN": _same(5, 0, _V11),
    "OFPFMFC_TABLE_FULL": _std10_11plus(3, 0, 5, 1),
    "OFPFMFC_BAD_TABLE_ID": _same(5, 2, _V11),
    "OFPFMFC_OVERLAP": _std10_11plus(3, 1, 5, 3),
    "OFPFMFC_EPERM": _std10_11plus(3, 2, 5, 4),
    "OFPFMFC_BAD_TIMEOUT": _same(5, 5, _V11),
    "OFPFMFC_BAD_EMERG_TIMEOUT": ((_V10, _V10, OF, 3, 3),),
    "OFPFMFC_BAD_COMMAND": _std10_11plus(3, 4, 5, 6),
    "OFPFMFC_BAD_FLAGS": ((_V10, _V10, NX_VENDOR, 3, 258), (_V11, _V11, NX_VENDOR, 5, 258),
                          (_V12, _VMAX, OF, 5, 7)),
    "OFPFMFC_UNSUPPORTED": ((_V10, _V10, OF, 3, 5),),
    "NXFMFC_HARDWARE": ((_V10, _V11, NX_VENDOR, 5, 256), (_V12, _VMAX, NX_VENDOR, 12, 0)),
    "NXFMFC_BAD_TABLE_ID": ((_V10, _V11, NX_VENDOR, 5, 257), (_V12, _VMAX, NX_VENDOR, 13, 0)),
    # group mod failed
    **{name: _same(6, code, _V11 if code < 9 else (_V12 if code < 15 else _V15))
       for code, name in enumerate((
           "OFPGMFC_GROUP_EXISTS", "OFPGMFC_INVALID_GROUP", "OFPGMFC_WEIGHT_UNSUPPORTED",
           "OFPGMFC_OUT_OF_GROUPS", "OFPGMFC_OUT_OF_BUCKETS", "OFPGMFC_CHAINING_UNSUPPORTED",
           "OFPGMFC_WATCH_UNSUPPORTED", "OFPGMFC_LOOP", "OFPGMFC_UNKNOWN_GROUP",
           "OFPGMFC_CHAINED_GROUP", "OFPGMFC_BAD_TYPE", "OFPGMFC_BAD_COMMAND",
           "OFPGMFC_BAD_BUCKET", "OFPGMFC_BAD_WATCH", "OFPGMFC_EPERM",
           "OFPGMFC_UNKNOWN_BUCKET", "OFPGMFC_BUCKET_EXISTS"))},
    # port mod failed
    "OFPPMFC_BAD_PORT": _std10_11plus(4, 0, 7, 0),
    "OFPPMFC_BAD_HW_ADDR": _std10_11plus(4, 1, 7, 1),
    "OFPPMFC_BAD_CONFIG": _same(7, 2, _V11),
    "OFPPMFC_BAD_ADVERTISE": _same(7, 3, _V11),
    "OFPPMFC_EPERM": _same(7, 4, _V12),
    # table mod failed
    "OFPTMFC_BAD_TABLE": _same(8, 0, _V11),
    "OFPTMFC_BAD_CONFIG": _same(8, 1, _V11),
    "OFPTMFC_EPERM": _same(8, 2, _V12),
    # queue op failed
    "OFPQOFC_BAD_PORT": _std10_11plus(5, 0, 9, 0),
    "OFPQOFC_BAD_QUEUE": _std10_11plus(5, 1, 9, 1),
    "OFPQOFC_EPERM": _std10_11plus(5, 2, 9, 2),
    # switch config failed
    "OFPSCFC_BAD_FLAGS": _same(10, 0, _V11),
    "OFPSCFC_BAD_LEN": _same(10, 1, _V11),
    "OFPSCFC_EPERM": _same(10, 2, _V12),
    # role request failed
    "OFPRRFC_STALE": _same(11, 0, _V12),
    "OFPRRFC_UNSUP": _same(11, 1, _V12),
    "OFPRRFC_BAD_ROLE": ((_V10, _V11, NX_VENDOR, 1, 513), (_V12, _VMAX, OF, 11, 2)),
    # meter mod failed
    **{name: _same(12, code, _V13) for code, name in enumerate((
        "OFPMMFC_UNKNOWN", "OFPMMFC_METER_EXISTS", "OFPMMFC_INVALID_METER",
        "OFPMMFC_UNKNOWN_METER", "OFPMMFC_BAD_COMMAND", "OFPMMFC_BAD_FLAGS",
        "OFPMMFC_BAD_RATE", "OFPMMFC_BAD_BURST", "OFPMMFC_BAD_BAND",
        "OFPMMFC_BAD_BAND_VALUE", "OFPMMFC_OUT_OF_METERS", "OFPMMFC_OUT_OF_BANDS"))},
    # table features failed
    "OFPTFFC_BAD_TABLE": _same(13, 0, _V13),
    "OFPTFFC_BAD_METADATA": _same(13, 1, _V13),
    "OFPTFFC_EPERM": _same(13, 5, _V13),
    **{name: _same(13, code, _V15) for code, name in enumerate((
        "OFPTFFC_BAD_CAPA", "OFPTFFC_BAD_MAX_ENT", "OFPTFFC_BAD_FEATURES",
        "OFPTFFC_BAD_COMMAND", "OFPTFFC_TOO_MANY"), start=6)},
    "NXTFFC_DUP_TABLE": ((_V13, _VMAX, NX_VENDOR, 44, 0),),
    # bad property (OF1.3 calls the first three OFPTFFC_BAD_TYPE/BAD_LEN/BAD_ARGUMENT)
    "OFPBPC_BAD_TYPE": ((_V10, _V11, NX_VENDOR, 13, 2), (_V12, _V12, NX_VENDOR, 25, 0),
                        (_V13, _V13, OF, 13, 2), (_V14, _VMAX, OF, 14, 0)),
    "OFPBPC_BAD_LEN": ((_V10, _V11, NX_VENDOR, 13, 3), (_V12, _V12, NX_VENDOR, 26, 0),
                       (_V13, _V13, OF, 13, 3), (_V14, _VMAX, OF, 14, 1)),
    "OFPBPC_BAD_VALUE": ((_V10, _V11, NX_VENDOR, 13, 4), (_V12, _V12, NX_VENDOR, 27, 0),
                         (_V13, _V13, OF, 13, 4), (_V14, _VMAX, OF, 14, 2)),
    **{name: ((_V10, _V11, NX_VENDOR, 14, 3 + i), (_V12, _V12, NX_VENDOR, 28 + i, 0),
              (_V13, _V13, ONF_VENDOR, 4443 + i, 0), (_V14, _VMAX, OF, 14, 3 + i))
       for i, name in enumerate((
           "OFPBPC_TOO_MANY", "OFPBPC_DUP_TYPE", "OFPBPC_BAD_EXPERIMENTER",
           "OFPBPC_BAD_EXP_TYPE", "OFPBPC_BAD_EXP_VALUE", "OFPBPC_EPERM"))},
    # async config failed
    "OFPACFC_INVALID": ((_V13, _V13, ONF_VENDOR, 2370, 0), (_V14, _VMAX, OF, 15, 0)),
    "OFPACFC_UNSUPPORTED": ((_V13, _V13, ONF_VENDOR, 2371, 0), (_V14, _VMAX, OF, 15, 1)),
    "OFPACFC_EPERM": ((_V13, _V13, ONF_VENDOR, 2372, 0), (_V14, _VMAX, OF, 15, 2)),
    # bundle failed
    **{name: ((_V13, _V13, ONF_VENDOR, 2300 + code, 0), (_V14, _VMAX, OF, 17, code))
       for code, name in enumerate((
           "OFPBFC_UNKNOWN", "OFPBFC_EPERM", "OFPBFC_BAD_ID", "OFPBFC_BUNDLE_EXIST",
           "OFPBFC_BUNDLE_CLOSED", "OFPBFC_OUT_OF_BUNDLES", "OFPBFC_BAD_TYPE",
           "OFPBFC_BAD_FLAGS", "OFPBFC_MSG_BAD_LEN", "OFPBFC_MSG_BAD_XID",
           "OFPBFC_MSG_UNSUP", "OFPBFC_MSG_CONFLICT", "OFPBFC_MSG_TOO_MANY",
           "OFPBFC_MSG_FAILED", "OFPBFC_TIMEOUT", "OFPBFC_BUNDLE_IN_PROGRESS"))},
    "OFPBFC_BAD_VERSION": ((_V14, _V15, NX_VENDOR, 22, 0),),
    # flow monitor failed
    "OFPMOFC_UNKNOWN": _same(16, 0, _V14),
    "OFPMOFC_MONITOR_EXISTS": ((_V10, _V11, NX_VENDOR, 1, 517), (_V12, _V13, NX_VENDOR, 6, 0),
                               (_V14, _VMAX, OF, 16, 1)),
    "OFPMOFC_INVALID_MONITOR": _same(16, 2, _V14),
    "OFPMOFC_UNKNOWN_MONITOR": ((_V10, _V11, NX_VENDOR, 1, 519), (_V12, _V13, NX_VENDOR, 8, 0),
                                (_V14, _VMAX, OF, 16, 3)),
    "OFPMOFC_BAD_COMMAND": _same(16, 4, _V14),
    "OFPMOFC_BAD_FLAGS": ((_V10, _V11, NX_VENDOR, 1, 518), (_V12, _V13, NX_VENDOR, 7, 0),
                          (_V14, _VMAX, OF, 16, 5)),
    "OFPMOFC_BAD_TABLE_ID": _same(16, 6, _V14),
    "OFPMOFC_BAD_OUT": _same(16, 7, _V14),
    # Nicira continuations
    "NXR_NOT_SUPPORTED": ((_V10, _V11, NX_VENDOR, 1, 533), (_V12, _VMAX, NX_VENDOR, 34, 0)),
    "NXR_STALE": ((_V10, _V11, NX_VENDOR, 1, 534), (_V12, _VMAX, NX_VENDOR, 35, 0)),
}

#: Names the OpenFlow 1.1+ specifications use for errors OVS names after OF1.0.
ALIASES = {
    "OFPBRC_BAD_EXPERIMENTER": "OFPBRC_BAD_VENDOR",
    "OFPBRC_BAD_EXP_TYPE": "OFPBRC_BAD_SUBTYPE",
    "OFPBRC_BAD_MULTIPART": "OFPBRC_BAD_STAT",
    "OFPBRC_IS_SECONDARY": "OFPBRC_IS_SLAVE",    # OVS 2.15+ spelling
    "OFPBAC_BAD_EXPERIMENTER": "OFPBAC_BAD_VENDOR",
    "OFPBAC_BAD_EXP_TYPE": "OFPBAC_BAD_VENDOR_TYPE",
    "OFPTFFC_BAD_TYPE": "OFPBPC_BAD_TYPE",
    "OFPTFFC_BAD_LEN": "OFPBPC_BAD_LEN",
    "OFPTFFC_BAD_ARGUMENT": "OFPBPC_BAD_VALUE",
}
for _alias, _name in ALIASES.items():
    ERRORS[_alias] = ERRORS[_name]


def canonical_name(name: str) -> str:
    return ALIASES.get(name, name)


def error_triplet(name: str, version: int) -> tuple[int, int, int]:
    """``(vendor, type, code)`` that carries error ``name`` in OpenFlow ``version``.

    Falls back to NXBRC_UNENCODABLE_ERROR when ``version`` has no number for it (and for
    names this table does not know), as Open vSwitch does.
    """
    for first, last, vendor, etype, code in ERRORS.get(name, ()):
        if first <= version <= last:
            return vendor, etype, code
    if name == "NXBRC_UNENCODABLE_ERROR":
        raise AssertionError("NXBRC_UNENCODABLE_ERROR is encodable in every version")
    return error_triplet("NXBRC_UNENCODABLE_ERROR", version)


def error_name(version: int, vendor: int, etype: int, code: int) -> str | None:
    """The symbolic name for a received (vendor, type, code), or None if unknown."""
    key = (version, vendor, etype, code)
    return _REVERSE.get(key)


_REVERSE: dict[tuple[int, int, int, int], str] = {}
for _name, _rows in ERRORS.items():
    if _name in ALIASES:
        continue
    for _first, _last, _vendor, _type, _code in _rows:
        for _v in range(_first, min(_last, 6) + 1):
            _REVERSE.setdefault((_v, _vendor, _type, _code), _name)
