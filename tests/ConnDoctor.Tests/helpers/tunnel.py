#!/usr/bin/env python3
"""A small userspace overlay tunnel for ConnDoctor's capture tests, for the encapsulations this test kernel has
no module for (Geneve, GRE, IP-in-IP). It creates a TUN or TAP device in the namespace it runs in and carries
what the kernel routes into it to the peer namespace's copy of this program over the underlay, wrapped as:

  geneve   TAP device; Ethernet frames in Geneve (RFC 8926, no options, VNI 77) over UDP port 6081
  gre      TUN device; IPv4 and IPv6 packets in GRE (RFC 2784/2890, with key 77) as IP protocol 47
  ipip     TUN device; IPv4 packets in IPv4 (protocol 4), IPv6 packets in IPv4 (protocol 41, "6in4")

and unwraps what arrives from the peer into the device. The kernel's own TCP runs over the device, so tcpdump on
the underlay sees real TCP inside a real encapsulation. Prints "ready <pid>" once the device exists (the test
then gives it addresses), and exits after --lifetime seconds or when stdin closes: bounded, never left running.

  tunnel.py MODE --dev NAME --local UNDERLAY_ADDR --remote UNDERLAY_ADDR [--lifetime S]
"""
import argparse, fcntl, os, select, socket, struct, sys, time

TUNSETIFF, IFF_TUN, IFF_TAP, IFF_NO_PI = 0x400454CA, 0x0001, 0x0002, 0x1000
VNI = KEY = 77


def open_device(name, tap):
    fd = os.open("/dev/net/tun", os.O_RDWR)
    fcntl.ioctl(fd, TUNSETIFF, struct.pack("16sH", name.encode(), (IFF_TAP if tap else IFF_TUN) | IFF_NO_PI))
    return fd


def main():
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["geneve", "gre", "ipip"])
    p.add_argument("--dev", required=True)
    p.add_argument("--local", required=True)
    p.add_argument("--remote", required=True)
    p.add_argument("--lifetime", type=float, default=120)
    a = p.parse_args()
    dev = open_device(a.dev, a.mode == "geneve")
    if a.mode == "geneve":
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind((a.local, 6081))
        socks = [udp]
    elif a.mode == "gre":
        socks = [socket.socket(socket.AF_INET, socket.SOCK_RAW, 47)]
    else:
        socks = [socket.socket(socket.AF_INET, socket.SOCK_RAW, 4), socket.socket(socket.AF_INET, socket.SOCK_RAW, 41)]
    print(f"ready {os.getpid()}", flush=True)
    deadline = time.time() + a.lifetime
    while time.time() < deadline:
        r, _, _ = select.select([dev, sys.stdin] + socks, [], [], 1.0)
        for s in r:
            if s is sys.stdin:
                if not sys.stdin.readline():
                    return
            elif s == dev:
                try:
                    pkt = os.read(dev, 65535)
                except OSError:  # the device is not up yet
                    time.sleep(0.05)
                    continue
                if a.mode == "geneve":
                    # version 0, no options; flags 0; protocol 0x6558 (Ethernet); VNI; reserved
                    udp.sendto(struct.pack(">BBHI", 0, 0, 0x6558, VNI << 8) + pkt, (a.remote, 6081))
                    continue
                version = pkt[0] >> 4 if pkt else 0
                if version not in (4, 6):
                    continue
                if a.mode == "gre":
                    # key present (K bit); protocol type by the inner version
                    socks[0].sendto(struct.pack(">HHI", 0x2000, 0x0800 if version == 4 else 0x86DD, KEY) + pkt, (a.remote, 0))
                else:
                    socks[0 if version == 4 else 1].sendto(pkt, (a.remote, 0))
            else:
                data, src = s.recvfrom(65535)
                if src[0] != a.remote:
                    continue
                if a.mode == "geneve":
                    inner = data[8 + (data[0] & 0x3F) * 4:]
                else:
                    inner = data[(data[0] & 0x0F) * 4:]  # raw IPv4 sockets hand over the outer IP header too
                if a.mode == "gre":
                    flags, = struct.unpack(">H", inner[:2])
                    inner = inner[4 + (4 if flags & 0x8000 else 0) + (4 if flags & 0x2000 else 0) + (4 if flags & 0x1000 else 0):]
                try:
                    os.write(dev, inner)
                except OSError:  # this side's device is not up yet: the packet is lost, as on a real link
                    pass


if __name__ == "__main__":
    main()
