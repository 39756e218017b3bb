"""Send or capture raw frames on an interface; run inside a host namespace by tests.

    python wire_probe.py send IFACE HEX [HEX ...]
    python wire_probe.py capture IFACE SECONDS MAX      (prints one hex frame per line)

A plain AF_PACKET socket: what is printed is what arrived on the wire.  The kernel moves a
received VLAN tag out of the frame (VLAN offload); it is put back from PACKET_AUXDATA.
"""

import select
import socket
import struct
import sys
import time

ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_AUXDATA = 8
TP_STATUS_VLAN_VALID = 0x10
TP_STATUS_VLAN_TPID_VALID = 0x40
_AUX = struct.Struct("=IIIHHHH")  # status len snaplen mac net vlan_tci vlan_tpid


def main(argv):
    mode, iface = argv[1], argv[2]
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sock.bind((iface, 0))
    if mode == "send":
        for hx in argv[3:]:
            sock.send(bytes.fromhex(hx))
        return 0
    seconds, limit = float(argv[3]), int(argv[4])
    sock.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
    print("ready", flush=True)
    deadline = time.monotonic() + seconds
    n = 0
    while n < limit and time.monotonic() < deadline:
        r, _, _ = select.select([sock], [], [], max(0.0, deadline - time.monotonic()))
        if not r:
            break
        data, anc, _, addr = sock.recvmsg(65535, socket.CMSG_SPACE(_AUX.size))
        if addr[2] == socket.PACKET_OUTGOING:
            continue
        for level, kind, cdata in anc:
            if level == SOL_PACKET and kind == PACKET_AUXDATA and len(cdata) >= _AUX.size:
                status, _, _, _, _, tci, tpid = _AUX.unpack_from(cdata)
                if status & TP_STATUS_VLAN_VALID:
                    tpid = tpid if status & TP_STATUS_VLAN_TPID_VALID else 0x8100
                    data = data[:12] + struct.pack("!HH", tpid, tci) + data[12:]
        print(data.hex(), flush=True)
        n += 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
