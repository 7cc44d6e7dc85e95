#!/usr/bin/env python3
"""Rewrites a pcap (Ethernet or raw IP, microseconds, little-endian) into the same packets inside VXLAN, as a
capture on a Kubernetes node's underlay would hold them: outer Ethernet / IPv4 (10.250.0.1 <-> 10.250.0.2 by
direction) / UDP to port 8472 (Flannel's) / VXLAN, then the original frame as inner Ethernet. Same packets, same
connections, 50 bytes more per packet. Streams: memory stays flat whatever the file size.

  encap.py IN.pcap OUT.pcap"""
import struct, sys

def main(src, dst):
    with open(src, "rb") as f, open(dst, "wb") as out:
        head = f.read(24)
        magic, = struct.unpack("<I", head[:4])
        assert magic == 0xA1B2C3D4, "expects a little-endian microsecond pcap"
        link, = struct.unpack("<I", head[20:24])
        assert link in (1, 101), "expects Ethernet or raw IP"
        out.write(head[:16] + struct.pack("<II", 65535, 1))
        outer_eth = bytes.fromhex("020000000002020000000001") + b"\x08\x00"
        vxlan = struct.pack(">II", 0x08000000, 1 << 8)
        ips = (bytes([10, 250, 0, 1]), bytes([10, 250, 0, 2]))
        while True:
            rec = f.read(16)
            if len(rec) < 16:
                break
            sec, usec, incl, orig = struct.unpack("<IIII", rec)
            frame = f.read(incl)
            if link == 101:  # raw IP: give it an Ethernet header of its own
                frame = bytes(12) + (b"\x86\xdd" if frame and frame[0] >> 4 == 6 else b"\x08\x00") + frame
                orig += 14
            # the first port byte picks the direction: both directions of a flow share one outer path
            up = (frame[34] if len(frame) > 34 else 0) & 1
            udp_len = 8 + len(vxlan) + orig
            # A loopback capture holds 64 KB TSO frames that no underlay could carry in one packet: their outer
            # lengths say 0, as a TSO capture's do (the inner IP header still gives the TCP payload length).
            if 20 + udp_len > 65535:
                udp_len = -20
            ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, 0, 0x4000, 64, 17, 0, ips[up], ips[1 - up])
            payload = outer_eth + ip + struct.pack(">HHHH", 40000 + up, 8472, max(udp_len, 0), 0) + vxlan + frame
            out.write(struct.pack("<IIII", sec, usec, len(payload), orig + 50) + payload)

if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
