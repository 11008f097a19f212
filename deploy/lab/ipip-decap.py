#!/usr/bin/env python3
"""Userspace IP-in-IP decapsulator for the rvs lab's TUN mode (python3 standard library only).

Machines without the ipip kernel module cannot terminate rvs's tunnels. This receives IP-in-IP
(IPv4 protocol 4) on a raw socket, strips the outer IPv4 header and writes the inner IPv4 packet
into a TUN device (IFF_TUN | IFF_NO_PI), so the kernel receives it as if it had arrived on that
device. The real server holds the VIP on the device (or on lo) and replies directly.

    ipip-decap.py --tun tun0 [--from 10.20.0.1[,10.20.0.3...]]

The device may already exist (`ip tuntap add dev tun0 mode tun`, persistent): it is attached to,
not created, and keeps its addresses. Each packet costs a bounded amount of work (a few header
checks and one write); anything malformed is counted and dropped. SIGTERM or SIGINT ends it
(within half a second), printing its counters.
"""

import argparse
import fcntl
import os
import signal
import socket
import struct
import sys

TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
IPPROTO_IPIP = 4
MAX_PACKET = 65535


def open_tun(name):
    fd = os.open("/dev/net/tun", os.O_RDWR)
    ifr = struct.pack("16sH", name.encode(), IFF_TUN | IFF_NO_PI)
    fcntl.ioctl(fd, TUNSETIFF, ifr)
    return fd


def inner_packet(data, allowed_src):
    """The inner IPv4 packet of an IP-in-IP datagram, or None with the reason."""
    if len(data) < 20 or data[0] >> 4 != 4:
        return None, "outer_not_ipv4"
    ihl = (data[0] & 0x0F) * 4
    total = struct.unpack_from("!H", data, 2)[0]
    if ihl < 20 or total < ihl or total > len(data):
        return None, "outer_malformed"
    if data[9] != IPPROTO_IPIP:
        return None, "not_ipip"
    if allowed_src is not None and data[12:16] not in allowed_src:
        return None, "source_refused"
    if struct.unpack_from("!H", data, 6)[0] & 0x3FFF:
        return None, "outer_fragment"
    inner = data[ihl:total]
    if len(inner) < 20 or inner[0] >> 4 != 4:
        return None, "inner_not_ipv4"
    inner_total = struct.unpack_from("!H", inner, 2)[0]
    if inner_total < (inner[0] & 0x0F) * 4 or inner_total > len(inner):
        return None, "inner_malformed"
    return inner[:inner_total], None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tun", default="tun0", help="TUN device to write inner packets to")
    parser.add_argument("--from", dest="src", default=None,
                        help="decapsulate only tunnels from these outer source addresses "
                             "(comma-separated)")
    args = parser.parse_args()
    allowed = [socket.inet_aton(a) for a in args.src.split(",")] if args.src else None

    stop = []
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.append(True))

    tun = open_tun(args.tun)
    sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, IPPROTO_IPIP)
    sock.settimeout(0.5)
    counters = {"decapsulated": 0}
    print(f"ipip-decap: {args.tun}: listening for IP-in-IP"
          + (f" from {args.src}" if args.src else ""), flush=True)
    while not stop:
        try:
            data = sock.recv(MAX_PACKET)
        except socket.timeout:
            continue
        except InterruptedError:
            continue
        inner, why = inner_packet(data, allowed)
        if inner is None:
            counters[why] = counters.get(why, 0) + 1
            continue
        try:
            os.write(tun, inner)
            counters["decapsulated"] += 1
        except OSError as e:
            key = f"write_{e.errno}"
            counters[key] = counters.get(key, 0) + 1
    sock.close()
    os.close(tun)
    print("ipip-decap: stopping: " + " ".join(f"{k}={v}" for k, v in sorted(counters.items())),
          flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
