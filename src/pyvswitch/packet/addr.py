"""Address helpers: MAC, IPv4 and IPv6 addresses as the ints the flow vector stores.

What this module owns: conversion between the textual forms users type and read
(``aa:bb:cc:dd:ee:ff``, ``10.0.0.1``, ``fe80::1``) and the plain ints kept in flow slots
(a MAC is a 48-bit int, an IPv4 address a 32-bit int, an IPv6 address a 128-bit int, all
in network byte order, i.e. the first byte on the wire is the most significant).

Invariants: every ``*_to_int`` accepts exactly what the matching ``int_to_*`` produces;
malformed text raises ValueError.

Must not import: anything from pyvswitch.
"""

from __future__ import annotations

import ipaddress

__all__ = ["mac_to_int", "int_to_mac", "ipv4_to_int", "int_to_ipv4", "ipv6_to_int",
           "int_to_ipv6"]


def mac_to_int(text: str) -> int:
    """``"aa:bb:cc:dd:ee:ff"`` (``-`` also accepted as separator) -> 48-bit int."""
    parts = text.replace("-", ":").split(":")
    if len(parts) != 6 or not all(1 <= len(p) <= 2 for p in parts):
        raise ValueError(f"not a MAC address: {text!r}")
    value = 0
    for part in parts:
        value = (value << 8) | int(part, 16)
    return value


def int_to_mac(value: int) -> str:
    """48-bit int -> ``"aa:bb:cc:dd:ee:ff"`` (lower case, as Open vSwitch prints it)."""
    raw = (value & 0xFFFFFFFFFFFF).to_bytes(6, "big")
    return ":".join(f"{b:02x}" for b in raw)


def ipv4_to_int(text: str) -> int:
    """``"10.0.0.1"`` -> 32-bit int."""
    return int(ipaddress.IPv4Address(text))


def int_to_ipv4(value: int) -> str:
    """32-bit int -> dotted quad."""
    return str(ipaddress.IPv4Address(value & 0xFFFFFFFF))


def ipv6_to_int(text: str) -> int:
    """``"fe80::1"`` -> 128-bit int."""
    return int(ipaddress.IPv6Address(text))


def int_to_ipv6(value: int) -> str:
    """128-bit int -> compressed IPv6 text (RFC 5952)."""
    return str(ipaddress.IPv6Address(value & ((1 << 128) - 1)))
