"""Frames <-> headers <-> flow keys.

* ``fields``   the flow vector, the field catalogue and ``Match`` (shared by every layer)
* ``extract``  frame -> flow vector (+ header offsets), as OVS's miniflow_extract
* ``edit``     header rewrites and tag/label pushes and pops with checksum upkeep
* ``compose``  flow vector -> frame (ofproto/trace, tests) and the fail-open RARP frame
* ``checksum`` Internet checksum arithmetic (full and RFC 1624 incremental), CRC32c
* ``addr``     MAC/IPv4/IPv6 text <-> int

Nothing here does I/O or reads a clock, and nothing imports from above ``packet``.
"""
