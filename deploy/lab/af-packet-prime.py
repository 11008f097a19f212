#!/usr/bin/env python3
"""Junk frames that keep rvsd's net_af_packet ports working in the lab (stdlib only).

Why: rvsd opens net_af_packet with qpairs = workers + 1 (it needs one more tx queue than it has
workers, for the control thread), and DPDK's af_packet driver opens that many AF_PACKET sockets
in one PACKET_FANOUT group (HASH | ROLLOVER). rvsd polls only `workers` rx queues, so:

1. The kernel hashes some flows (every ARP frame, whose hash is constant; about half of the TCP
   connections) to a socket nobody reads. They vanish until that socket's ring (framecnt
   frames: 512 by default, 4096 in the lab) is full; then the kernel rolls them over to the
   polled socket.
2. Rollover only goes to a socket whose `pressure` flag is clear. The flag is set when the
   polled ring is more than 3/4 full (any burst the worker lags behind) and is cleared only
   when a frame hashed to that very socket arrives (or by poll()/recvmsg(), which DPDK never
   calls). So after a burst, flows hashed to the unread socket -- the real servers' ARP
   replies, a download -- are dropped until some other flow happens to clear the flag: rvsd
   loses its neighbours (no_neighbour drops) and connections stall for good.

Run in the router namespace on the other end of each veth (lb-wan, lb-lan), this sends small
UDP/IPv4 frames straight into rvs-wan / rvs-lan, each with a different UDP source port so that
the fanout hash spreads them over every socket: unicast to a MAC that is not rvs's (rvs drops
them as not_our_mac), from and to TEST-NET-1 addresses. Sent once, many of them (lab.sh sends
2 x framecnt + 2048) fill the unread ring (1.); a few fixed flows repeated (--every 0.2), some
of which hash to the polled socket, clear its pressure flag (2.).

    af-packet-prime.py --iface lb-wan --iface lb-lan [--count 10240] [--first-port 1024]
    af-packet-prime.py --iface lb-wan --iface lb-lan --count 16 --every 0.2 --duration 14400

Bounded: at most --count frames per interface per round, rounds --every seconds for at most
--duration seconds; SIGTERM ends it.
"""

import argparse
import signal
import socket
import struct
import sys
import time

DST_MAC = bytes.fromhex("027276730000")  # locally administered, nobody's
SRC_IP = socket.inet_aton("192.0.2.1")
DST_IP = socket.inet_aton("192.0.2.2")


def checksum(data):
    s = sum(struct.unpack(f"!{len(data) // 2}H", data))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


def frame(src_mac, sport):
    payload = b"rvs-lab junk\0\0\0\0"
    udp = struct.pack("!HHHH", sport, 9, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), sport, 0, 64, 17, 0, SRC_IP, DST_IP)
    ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
    return DST_MAC + src_mac + b"\x08\x00" + ip + udp


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--iface", action="append", required=True)
    p.add_argument("--count", type=int, default=2048, help="frames per interface per round")
    p.add_argument("--first-port", type=int, default=1024)
    p.add_argument("--every", type=float, default=0, help="repeat every SECONDS (0: once)")
    p.add_argument("--duration", type=float, default=3600, help="stop repeating after SECONDS")
    a = p.parse_args()
    if not 0 < a.count <= 60000 or not 0 < a.first_port or a.first_port + a.count > 65536:
        p.error("count and first-port must keep the ports within 1..65535 (count <= 60000)")
    if a.every and a.every < 0.01:
        p.error("--every must be at least 0.01")

    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    signal.signal(signal.SIGINT, lambda *_: stop.append(True))

    out = []
    for name in a.iface:
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
        s.bind((name, 0))
        src_mac = s.getsockname()[4][:6]
        out.append((s, [frame(src_mac, a.first_port + i) for i in range(a.count)]))

    end = time.monotonic() + a.duration
    while not stop:
        for s, frames in out:
            for i, f in enumerate(frames):
                try:
                    s.send(f)
                except OSError:
                    pass  # link down: the lab is going away
                if i % 64 == 63:
                    time.sleep(0.001)  # the polled queue keeps up; the unread one fills anyway
        if not a.every or time.monotonic() + a.every > end:
            break
        time.sleep(a.every)
    for s, _ in out:
        s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
