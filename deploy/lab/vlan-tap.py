#!/usr/bin/env python3
"""Userspace 802.1Q VLAN sub-interface for the rvs lab (python3 standard library only).

Machines without the 8021q kernel module cannot `ip link add ... type vlan`. This joins a TAP
device (IFF_TAP | IFF_NO_PI) to VLAN `--vid` of a parent interface: every frame the kernel sends
out of the TAP leaves the parent with the 802.1Q tag inserted after the MAC addresses (PCP 0),
and every frame arriving on the parent with that VLAN id goes into the TAP untagged, so the
kernel receives it as if it had arrived on the TAP. Give the TAP the parent's MAC so that frames
for it are the parent's own.

    vlan-tap.py --parent eth0 --tap vlan100 --vid 100

The TAP may already exist (`ip tuntap add dev vlan100 mode tap`, persistent): it is attached
to, not created, and keeps its addresses. The kernel hands packet sockets received frames with
the tag taken out (its VLAN id in the PACKET_AUXDATA control message); a frame that still holds
its tag is recognised too. SIGTERM or SIGINT ends it (within half a second), printing counters.
"""

import argparse
import fcntl
import os
import select
import signal
import socket
import struct

TUNSETIFF = 0x400454CA
IFF_TAP = 0x0002
IFF_NO_PI = 0x1000
ETH_P_ALL = 0x0003
SOL_PACKET = 263
PACKET_AUXDATA = 8
PACKET_OUTGOING = 4
TP_STATUS_VLAN_VALID = 1 << 4
MAX_FRAME = 65535 + 18
# struct tpacket_auxdata: status, len, snaplen (u32), mac, net, vlan_tci, vlan_tpid (u16).
AUXDATA = struct.Struct("IIIHHHH")


def open_tap(name):
    fd = os.open("/dev/net/tun", os.O_RDWR)
    ifr = struct.pack("16sH", name.encode(), IFF_TAP | IFF_NO_PI)
    fcntl.ioctl(fd, TUNSETIFF, ifr)
    return fd


def vlan_of(frame, ancdata):
    """(VLAN id, untagged frame) of a frame read from the parent; (None, frame) if untagged."""
    for level, kind, data in ancdata:
        if level == SOL_PACKET and kind == PACKET_AUXDATA and len(data) >= AUXDATA.size:
            status, _, _, _, _, tci, _ = AUXDATA.unpack_from(data)
            if status & TP_STATUS_VLAN_VALID:
                return tci & 0x0FFF, frame
    if len(frame) >= 18 and frame[12:14] == b"\x81\x00":
        return struct.unpack_from("!H", frame, 14)[0] & 0x0FFF, frame[:12] + frame[16:]
    return None, frame


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parent", required=True, help="interface the tagged frames use")
    parser.add_argument("--tap", required=True, help="TAP device of the VLAN")
    parser.add_argument("--vid", type=int, required=True, help="VLAN id, 1..4094")
    args = parser.parse_args()
    if not 1 <= args.vid <= 4094:
        parser.error("--vid must be in 1..4094")
    tag = struct.pack("!HH", 0x8100, args.vid)

    stop = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.append(True))

    tap = open_tap(args.tap)
    sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
    sock.setsockopt(SOL_PACKET, PACKET_AUXDATA, 1)
    sock.bind((args.parent, 0))
    counters = {"tagged_out": 0, "untagged_in": 0, "other_vlan": 0, "untagged_ignored": 0}
    print(f"vlan-tap: {args.tap} is VLAN {args.vid} of {args.parent}", flush=True)
    while not stop:
        try:
            ready, _, _ = select.select([tap, sock], [], [], 0.5)
        except InterruptedError:
            continue
        if tap in ready:
            frame = os.read(tap, MAX_FRAME)
            if len(frame) >= 14:
                sock.send(frame[:12] + tag + frame[12:])
                counters["tagged_out"] += 1
        if sock in ready:
            frame, ancdata, _, addr = sock.recvmsg(MAX_FRAME, socket.CMSG_SPACE(AUXDATA.size))
            if addr[2] == PACKET_OUTGOING:
                continue
            vid, untagged = vlan_of(frame, ancdata)
            if vid == args.vid:
                os.write(tap, untagged)
                counters["untagged_in"] += 1
            elif vid is None:
                counters["untagged_ignored"] += 1
            else:
                counters["other_vlan"] += 1
    print("vlan-tap: " + " ".join(f"{k}={v}" for k, v in counters.items()), flush=True)


if __name__ == "__main__":
    main()
