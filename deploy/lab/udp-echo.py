#!/usr/bin/env python3
"""UDP echo for the rvs lab (python3 standard library only).

    udp-echo.py serve PORT             echo every datagram back to its sender, from the address
                                       it was sent to (IP_PKTINFO), so DR/TUN servers answer
                                       from the VIP
    udp-echo.py check HOST PORT SIZE   send SIZE random bytes in one datagram, wait for the echo;
                                       exit 0 if it comes back equal (3 tries, 2 s each)

A datagram larger than the path MTU leaves the sender in IPv4 fragments and arrives reassembled:
the lab's check that rvs reassembles, forwards and fragments again.
"""

import os
import socket
import struct
import sys

IP_PKTINFO = 8
MAX_DATAGRAM = 65535


def serve(port):
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_IP, IP_PKTINFO, 1)
    s.bind(("0.0.0.0", port))
    while True:
        data, ancillary, _, peer = s.recvmsg(MAX_DATAGRAM, socket.CMSG_SPACE(12))
        reply = []
        for level, kind, info in ancillary:
            if level == socket.SOL_IP and kind == IP_PKTINFO and len(info) >= 12:
                # struct in_pktinfo {ifindex, spec_dst, addr}: answer from `addr`.
                reply = [(socket.SOL_IP, IP_PKTINFO, struct.pack("=I4s4s", 0, info[8:12], bytes(4)))]
        s.sendmsg([data], reply, 0, peer)


def check(host, port, size):
    payload = os.urandom(size)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.settimeout(2)
    for _ in range(3):
        s.sendto(payload, (host, port))
        try:
            while True:
                data, _ = s.recvfrom(MAX_DATAGRAM)
                if data == payload:
                    print(f"{size} bytes echoed intact")
                    return 0
                print(f"an echo of {len(data)} bytes differs", file=sys.stderr)
        except socket.timeout:
            continue
    print(f"no intact echo of {size} bytes", file=sys.stderr)
    return 1


def main():
    args = sys.argv[1:]
    if len(args) == 2 and args[0] == "serve":
        serve(int(args[1]))
    elif len(args) == 4 and args[0] == "check":
        sys.exit(check(args[1], int(args[2]), int(args[3])))
    else:
        print(__doc__, file=sys.stderr)
        sys.exit(2)


if __name__ == "__main__":
    main()
