using System.Buffers.Binary;

namespace ConnDoctor.Sources.Pcap;

/// <summary>The TCP header fields the tracker needs, decoded from one frame. Addresses are kept as raw 64-bit halves (network order) so that flow keys compare and hash as plain integers.</summary>
public struct TcpSegment
{
    public long TimeNs;
    public ulong SrcHi, SrcLo, DstHi, DstLo;
    public bool V6;
    public ushort SrcPort, DstPort;
    public uint Seq, Ack;
    public byte Flags;
    public ushort Window;
    /// <summary>TCP payload length from the IP header, so a frame cut by the snap length still counts its bytes.</summary>
    public int PayloadLength;
    /// <summary>
    /// A digest of the packet's identity: the IP header's lengths and identification (not the TTL or hop limit and the
    /// checksum, which forwarding changes), the whole TCP header with its options, and the first and last captured
    /// payload bytes. Two captures of one packet have the same; two packets that merely share sequence numbers do not.
    /// </summary>
    public ulong Digest;
    /// <summary>The window scale option of a SYN or SYN-ACK (0-14), or -1 when it carries none (or is no SYN).</summary>
    public sbyte WindowScale;

    public const byte Fin = 0x01, Syn = 0x02, Rst = 0x04, Psh = 0x08, AckFlag = 0x10;
    public readonly bool Has(byte flag) => (Flags & flag) != 0;
}

public enum DecodeResult { Tcp, NotIp, NotTcp, Fragment, Truncated, UnknownLink, Encrypted, UnknownEncapsulation }

/// <summary>The overlay a packet came out of.</summary>
public enum TunnelKind : byte { None, Vxlan, VxlanGpe, Geneve, Gre, Erspan, IpInIp, Ipv6InIp }

/// <summary>The outermost tunnel a frame was taken out of, with its outer addresses (network order, like <see cref="TcpSegment"/>).</summary>
public struct TunnelInfo
{
    public TunnelKind Kind;
    public bool V6;
    public ulong SrcHi, SrcLo, DstHi, DstLo;
}

/// <summary>
/// Link layer (Ethernet with VLAN tags, Linux cooked SLL and SLL2, raw IP, BSD loopback, PPP, NFLOG, Linux
/// IPoIB) -> MPLS and PPPoE -> IPv4/IPv6 (extension headers skipped) -> the overlays (VXLAN on UDP 4789 and
/// 8472, VXLAN-GPE on 4790, Geneve on 6081, GRE with ERSPAN, IPv4/IPv6 in IP), as deep as they nest -> TCP
/// header. Pure over the frame bytes; nothing is allocated.
/// </summary>
public static class PacketDecoder
{
    public const int LinkNull = 0, LinkEthernet = 1, LinkPpp = 9, LinkPppHdlc = 50, LinkRaw = 101, LinkLoop = 108, LinkSll = 113,
        LinkPppWithDir = 204, LinkIPv4 = 228, LinkIPv6 = 229, LinkNflog = 239, LinkIpoib = 242, LinkSll2 = 276;
    private const int DltRaw = 12, DltRawOpenBsd = 14; // DLT values some writers put in the file instead of LINKTYPE_RAW
    private const int MaxNesting = 4;
    public const ushort VxlanPort = 4789, VxlanLinuxPort = 8472, VxlanGpePort = 4790, GenevePort = 6081;

    public static bool IsKnownLink(int link) => link is LinkNull or LinkEthernet or LinkPpp or LinkPppHdlc or LinkRaw or LinkLoop or LinkSll
        or LinkPppWithDir or LinkIPv4 or LinkIPv6 or LinkNflog or LinkIpoib or LinkSll2 or DltRaw or DltRawOpenBsd;

    public static string LinkName(int link) => link switch
    {
        LinkNull => "BSD loopback",
        LinkEthernet => "Ethernet",
        LinkPpp => "PPP",
        LinkPppHdlc => "PPP in HDLC framing",
        LinkPppWithDir => "PPP with direction",
        LinkRaw or DltRaw or DltRawOpenBsd => "raw IP",
        LinkLoop => "OpenBSD loopback",
        LinkSll => "Linux cooked (SLL)",
        LinkSll2 => "Linux cooked v2 (SLL2)",
        LinkIPv4 => "raw IPv4",
        LinkIPv6 => "raw IPv6",
        LinkNflog => "Linux NFLOG",
        LinkIpoib => "Linux IP over InfiniBand",
        _ => $"link type {link}",
    };

    /// <summary>Names of link types this reader does not decode, for the one-line error (from the tcpdump.org LINKTYPE list).</summary>
    public static string UnsupportedName(int link) => link switch
    {
        6 => "IEEE 802.5 Token Ring",
        10 => "FDDI",
        100 => "ATM RFC 1483",
        104 => "Cisco HDLC",
        105 => "IEEE 802.11",
        107 => "Frame Relay",
        113 or 276 => "Linux cooked",
        127 => "IEEE 802.11 radiotap",
        129 => "ARCnet (Linux)",
        138 => "Apple IP over IEEE 1394",
        143 => "DOCSIS",
        >= 147 and <= 162 => $"USER{link - 147}",
        187 => "Bluetooth HCI H4",
        189 or 220 => "Linux USB",
        192 => "PPI",
        195 or 215 or 230 or 283 => "IEEE 802.15.4",
        197 => "Endace ERF",
        201 => "Bluetooth HCI H4 with pseudo-header",
        224 => "Fibre Channel",
        226 => "Solaris ipnet",
        227 => "SocketCAN",
        231 => "D-Bus",
        249 => "Linux vsock",
        253 => "Linux netlink",
        254 => "Bluetooth Linux monitor",
        258 => "Apple PKTAP",
        274 => "Apple PKTAP",
        _ => "not a link type this reader knows",
    };

    public static string TunnelName(TunnelKind k) => k switch
    {
        TunnelKind.Vxlan => "VXLAN",
        TunnelKind.VxlanGpe => "VXLAN-GPE",
        TunnelKind.Geneve => "Geneve",
        TunnelKind.Gre => "GRE",
        TunnelKind.Erspan => "ERSPAN",
        TunnelKind.IpInIp => "IPv4-in-IP",
        TunnelKind.Ipv6InIp => "IPv6-in-IP",
        _ => "none",
    };

    public static DecodeResult Decode(int link, ReadOnlySpan<byte> f, ref TcpSegment s)
    {
        var t = new TunnelInfo();
        return Decode(link, f, ref s, ref t);
    }

    public static DecodeResult Decode(int link, ReadOnlySpan<byte> f, ref TcpSegment s, ref TunnelInfo t)
    {
        int etherType;
        switch (link)
        {
            case LinkEthernet:
                return Ethernet(f, ref s, ref t, 0);
            case LinkSll:
                if (f.Length < 16) return DecodeResult.Truncated;
                etherType = BinaryPrimitives.ReadUInt16BigEndian(f[14..]);
                f = f[16..];
                break;
            case LinkSll2:
                if (f.Length < 20) return DecodeResult.Truncated;
                etherType = BinaryPrimitives.ReadUInt16BigEndian(f);
                f = f[20..];
                break;
            case LinkNull or LinkLoop:
            {
                if (f.Length < 4) return DecodeResult.Truncated;
                // The address family in the capturing host's byte order (NULL) or network order (LOOP); try both.
                uint fam = BinaryPrimitives.ReadUInt32LittleEndian(f);
                if (fam > 0xFFFF) fam = BinaryPrimitives.ReadUInt32BigEndian(f);
                etherType = fam == 2 ? 0x0800 : fam is 10 or 24 or 28 or 30 ? 0x86DD : 0;
                f = f[4..];
                break;
            }
            case LinkRaw or DltRaw or DltRawOpenBsd or LinkIPv4 or LinkIPv6:
                if (f.Length < 1) return DecodeResult.Truncated;
                etherType = IpVersion(f);
                break;
            case LinkPpp or LinkPppHdlc or LinkPppWithDir:
                if (link == LinkPppWithDir) { if (f.Length < 1) return DecodeResult.Truncated; f = f[1..]; }
                return Ppp(f, ref s, ref t, 0);
            case LinkNflog:
                return Nflog(f, ref s, ref t);
            case LinkIpoib:
                // Linux's IPoIB capture header: 20-byte destination and source hardware addresses, then the
                // EtherType and two reserved bytes (44 bytes; tcpdump's print-ipoib.c reads it the same way).
                if (f.Length < 44) return DecodeResult.Truncated;
                etherType = BinaryPrimitives.ReadUInt16BigEndian(f[40..]);
                f = f[44..];
                break;
            default:
                return DecodeResult.UnknownLink;
        }
        return Network(etherType, f, ref s, ref t, 0);
    }

    private static int IpVersion(ReadOnlySpan<byte> f) => (f[0] >> 4) == 4 ? 0x0800 : (f[0] >> 4) == 6 ? 0x86DD : 0;

    private static DecodeResult Ethernet(ReadOnlySpan<byte> f, ref TcpSegment s, ref TunnelInfo t, int depth)
    {
        if (f.Length < 14) return DecodeResult.Truncated;
        return Network(BinaryPrimitives.ReadUInt16BigEndian(f[12..]), f[14..], ref s, ref t, depth);
    }

    /// <summary>What follows an EtherType: VLAN tags, MPLS labels and PPPoE are stepped over on the way to IP.</summary>
    private static DecodeResult Network(int etherType, ReadOnlySpan<byte> f, ref TcpSegment s, ref TunnelInfo t, int depth)
    {
        // 802.1Q, 802.1ad and the old QinQ tag: 4 bytes each, possibly stacked.
        while (etherType is 0x8100 or 0x88A8 or 0x9100)
        {
            if (f.Length < 4) return DecodeResult.Truncated;
            etherType = BinaryPrimitives.ReadUInt16BigEndian(f[2..]);
            f = f[4..];
        }
        switch (etherType)
        {
            case 0x0800: return IPv4(f, ref s, ref t, depth);
            case 0x86DD: return IPv6(f, ref s, ref t, depth);
            case 0x8847 or 0x8848: return Mpls(f, ref s, ref t, depth);
            case 0x8864: // PPPoE session: version/type, code, session id, length, then a PPP protocol number
                if (f.Length < 8) return DecodeResult.Truncated;
                return PppProtocol(BinaryPrimitives.ReadUInt16BigEndian(f[6..]), f[8..], ref s, ref t, depth);
            default: return DecodeResult.NotIp;
        }
    }

    /// <summary>MPLS label stack (4 bytes a label, the last with the bottom-of-stack bit), then IP told by its version nibble.</summary>
    private static DecodeResult Mpls(ReadOnlySpan<byte> f, ref TcpSegment s, ref TunnelInfo t, int depth)
    {
        for (int i = 0; i < 16; i++)
        {
            if (f.Length < 4) return DecodeResult.Truncated;
            bool bottom = (f[2] & 1) != 0;
            f = f[4..];
            if (!bottom) continue;
            if (f.Length < 1) return DecodeResult.Truncated;
            int et = IpVersion(f);
            return et == 0 ? DecodeResult.NotIp : Network(et, f, ref s, ref t, depth);
        }
        return DecodeResult.NotIp;
    }

    /// <summary>PPP as captured: an optional HDLC address and control (0xFF 0x03), then a 1- or 2-byte protocol number.</summary>
    private static DecodeResult Ppp(ReadOnlySpan<byte> f, ref TcpSegment s, ref TunnelInfo t, int depth)
    {
        if (f.Length >= 2 && f[0] == 0xFF && f[1] == 0x03) f = f[2..];
        if (f.Length < 1) return DecodeResult.Truncated;
        if ((f[0] & 1) != 0) return PppProtocol(f[0], f[1..], ref s, ref t, depth); // compressed protocol field
        if (f.Length < 2) return DecodeResult.Truncated;
        return PppProtocol(BinaryPrimitives.ReadUInt16BigEndian(f), f[2..], ref s, ref t, depth);
    }

    private static DecodeResult PppProtocol(int protocol, ReadOnlySpan<byte> f, ref TcpSegment s, ref TunnelInfo t, int depth) => protocol switch
    {
        0x0021 => IPv4(f, ref s, ref t, depth),
        0x0057 => IPv6(f, ref s, ref t, depth),
        0x0281 or 0x0283 => Mpls(f, ref s, ref t, depth),
        _ => DecodeResult.NotIp,
    };

    /// <summary>
    /// NFLOG: address family, version and resource id, then type-length-value attributes (lengths in the capturing
    /// host's byte order, each padded to 4 bytes); attribute 9 holds the packet from its IP header on.
    /// </summary>
    private static DecodeResult Nflog(ReadOnlySpan<byte> f, ref TcpSegment s, ref TunnelInfo t)
    {
        if (f.Length < 4) return DecodeResult.Truncated;
        int family = f[0];
        var tlvs = f[4..];
        // The first attribute tells the byte order: its length is at least 4 and fits the frame one way only.
        bool little = tlvs.Length < 4 || BinaryPrimitives.ReadUInt16LittleEndian(tlvs) is var l && l >= 4 && l <= tlvs.Length;
        while (tlvs.Length >= 4)
        {
            int len = little ? BinaryPrimitives.ReadUInt16LittleEndian(tlvs) : BinaryPrimitives.ReadUInt16BigEndian(tlvs);
            int type = little ? BinaryPrimitives.ReadUInt16LittleEndian(tlvs[2..]) : BinaryPrimitives.ReadUInt16BigEndian(tlvs[2..]);
            if (len < 4) return DecodeResult.Truncated;
            if ((type & 0x7FFF) == 9)
            {
                var payload = tlvs[4..Math.Min(len, tlvs.Length)];
                if (payload.Length < 1) return DecodeResult.Truncated;
                int et = family == 2 ? 0x0800 : family == 10 ? 0x86DD : IpVersion(payload);
                return et == 0 ? DecodeResult.NotIp : Network(et, payload, ref s, ref t, 0);
            }
            int step = (len + 3) & ~3;
            if (step > tlvs.Length) return DecodeResult.Truncated;
            tlvs = tlvs[step..];
        }
        return DecodeResult.Truncated; // no packet attribute: cut by the snap length (or a log entry without the packet)
    }

    private static DecodeResult IPv4(ReadOnlySpan<byte> f, ref TcpSegment s, ref TunnelInfo t, int depth)
    {
        if (f.Length < 20) return DecodeResult.Truncated;
        int ihl = (f[0] & 0x0F) * 4;
        if ((f[0] >> 4) != 4 || ihl < 20) return DecodeResult.NotIp;
        int proto = f[9];
        if (proto is not (6 or 17 or 47 or 4 or 41 or 50)) return DecodeResult.NotTcp;
        if ((BinaryPrimitives.ReadUInt16BigEndian(f[6..]) & 0x1FFF) != 0) return DecodeResult.Fragment; // no TCP (or tunnel) header in later fragments
        int total = BinaryPrimitives.ReadUInt16BigEndian(f[2..]);
        if (total == 0) total = f.Length; // TSO: the NIC fills the length in later, so a capture of an outgoing super-segment may say 0
        if (f.Length < ihl) return DecodeResult.Truncated;
        s.V6 = false;
        s.SrcHi = (ulong)BinaryPrimitives.ReadUInt32BigEndian(f[12..]) << 32;
        s.DstHi = (ulong)BinaryPrimitives.ReadUInt32BigEndian(f[16..]) << 32;
        s.SrcLo = s.DstLo = 0;
        var packet = f[..Math.Min(total, f.Length)];
        if (proto == 6)
        {
            // Bytes 0-7 (version, lengths, identification, fragment field); not the TTL and checksum.
            var r = DecodeTcp(f[ihl..], total - ihl, ref s);
            if (r == DecodeResult.Tcp) s.Digest = Digest(BinaryPrimitives.ReadUInt64BigEndian(f), Within(f[ihl..], total - ihl));
            return r;
        }
        return Carried(proto, packet[Math.Min(ihl, packet.Length)..], total - ihl, ref s, ref t, depth);
    }

    private static DecodeResult IPv6(ReadOnlySpan<byte> f, ref TcpSegment s, ref TunnelInfo t, int depth)
    {
        if (f.Length < 40) return DecodeResult.Truncated;
        if ((f[0] >> 4) != 6) return DecodeResult.NotIp;
        int payload = BinaryPrimitives.ReadUInt16BigEndian(f[4..]);
        int next = f[6];
        s.V6 = true;
        s.SrcHi = BinaryPrimitives.ReadUInt64BigEndian(f[8..]);
        s.SrcLo = BinaryPrimitives.ReadUInt64BigEndian(f[16..]);
        s.DstHi = BinaryPrimitives.ReadUInt64BigEndian(f[24..]);
        s.DstLo = BinaryPrimitives.ReadUInt64BigEndian(f[32..]);
        var rest = f[40..];
        if (payload == 0) payload = rest.Length; // jumbogram or TSO
        var packet = f[..Math.Min(40 + payload, f.Length)];
        // Hop-by-hop, routing, destination options, fragment and AH headers before the transport.
        for (int guard = 0; next is 0 or 43 or 60 or 44 or 51 && guard < 8; guard++)
        {
            if (rest.Length < 8) return DecodeResult.Truncated;
            if (next == 44 && (BinaryPrimitives.ReadUInt16BigEndian(rest[2..]) & 0xFFF8) != 0) return DecodeResult.Fragment;
            int len = next == 44 ? 8 : next == 51 ? (rest[1] + 2) * 4 : (rest[1] + 1) * 8;
            if (rest.Length < len) return DecodeResult.Truncated;
            next = rest[0];
            rest = rest[len..];
            payload -= len;
        }
        if (next == 6)
        {
            // Bytes 0-6 (version, class, flow label, payload length, next header); not the hop limit.
            var r = DecodeTcp(rest, payload, ref s);
            if (r == DecodeResult.Tcp) s.Digest = Digest(BinaryPrimitives.ReadUInt64BigEndian(f) & ~0xFFUL, Within(rest, payload));
            return r;
        }
        return Carried(next, rest[..Math.Min(Math.Max(payload, 0), rest.Length)], payload, ref s, ref t, depth);
    }

    /// <summary>An IP payload that is not TCP: a tunnel to open (its outer addresses are still in s), encrypted, or something else.</summary>
    private static DecodeResult Carried(int proto, ReadOnlySpan<byte> p, int length, ref TcpSegment s, ref TunnelInfo t, int depth)
    {
        if (proto == 50) return DecodeResult.Encrypted; // IPsec ESP
        if (depth >= MaxNesting) return DecodeResult.UnknownEncapsulation;
        switch (proto)
        {
            case 4:
                Enter(TunnelKind.IpInIp, ref s, ref t);
                return IPv4(p, ref s, ref t, depth + 1);
            case 41:
                Enter(TunnelKind.Ipv6InIp, ref s, ref t);
                return IPv6(p, ref s, ref t, depth + 1);
            case 47:
                return Gre(p, ref s, ref t, depth);
            case 17:
                return Udp(p, ref s, ref t, depth);
            default:
                return DecodeResult.NotTcp;
        }
    }

    private static void Enter(TunnelKind kind, ref TcpSegment s, ref TunnelInfo t)
    {
        if (t.Kind != TunnelKind.None) return; // the outermost tunnel names the path
        t.Kind = kind;
        t.V6 = s.V6;
        (t.SrcHi, t.SrcLo, t.DstHi, t.DstLo) = (s.SrcHi, s.SrcLo, s.DstHi, s.DstLo);
    }

    private static DecodeResult Udp(ReadOnlySpan<byte> u, ref TcpSegment s, ref TunnelInfo t, int depth)
    {
        if (u.Length < 8) return DecodeResult.Truncated;
        int dport = BinaryPrimitives.ReadUInt16BigEndian(u[2..]), sport = BinaryPrimitives.ReadUInt16BigEndian(u);
        var h = u[8..];
        switch (dport)
        {
            case VxlanPort or VxlanLinuxPort:
                // 8 bytes: flags (the I bit says a VNI follows), reserved, 24-bit VNI, reserved; then an Ethernet frame.
                if (h.Length < 8) return DecodeResult.Truncated;
                if ((h[0] & 0x08) == 0) return DecodeResult.UnknownEncapsulation;
                Enter(TunnelKind.Vxlan, ref s, ref t);
                return Ethernet(h[8..], ref s, ref t, depth + 1);
            case VxlanGpePort:
            {
                // VXLAN-GPE: the last byte of the first word names what follows: 1 IPv4, 2 IPv6, 3 Ethernet.
                if (h.Length < 8) return DecodeResult.Truncated;
                Enter(TunnelKind.VxlanGpe, ref s, ref t);
                return h[3] switch
                {
                    1 => IPv4(h[8..], ref s, ref t, depth + 1),
                    2 => IPv6(h[8..], ref s, ref t, depth + 1),
                    3 => Ethernet(h[8..], ref s, ref t, depth + 1),
                    _ => DecodeResult.UnknownEncapsulation,
                };
            }
            case GenevePort:
            {
                // Version and option length (in 4-byte words), flags, protocol type; VNI; then the options.
                if (h.Length < 8) return DecodeResult.Truncated;
                if ((h[0] >> 6) != 0) return DecodeResult.UnknownEncapsulation;
                int len = 8 + (h[0] & 0x3F) * 4;
                if (h.Length < len) return DecodeResult.Truncated;
                Enter(TunnelKind.Geneve, ref s, ref t);
                return Inner(BinaryPrimitives.ReadUInt16BigEndian(h[2..]), h[len..], ref s, ref t, depth + 1);
            }
        }
        // IPsec NAT traversal (ESP in UDP 4500, unless the first word is the zero non-ESP marker) and WireGuard.
        if ((dport == 4500 || sport == 4500) && h.Length >= 4 && BinaryPrimitives.ReadUInt32BigEndian(h) != 0) return DecodeResult.Encrypted;
        if ((dport == 51820 || sport == 51820) && h.Length >= 4 && h[0] is >= 1 and <= 4 && h[1] == 0 && h[2] == 0 && h[3] == 0) return DecodeResult.Encrypted;
        return DecodeResult.NotTcp;
    }

    /// <summary>A tunnel's payload by its EtherType-style protocol number (Geneve, GRE).</summary>
    private static DecodeResult Inner(int protocol, ReadOnlySpan<byte> f, ref TcpSegment s, ref TunnelInfo t, int depth) => protocol switch
    {
        0x6558 => Ethernet(f, ref s, ref t, depth),                 // transparent Ethernet bridging
        0x0800 or 0x86DD or 0x8847 or 0x8848 => Network(protocol, f, ref s, ref t, depth),
        _ => DecodeResult.UnknownEncapsulation,
    };

    private static DecodeResult Gre(ReadOnlySpan<byte> g, ref TcpSegment s, ref TunnelInfo t, int depth)
    {
        if (g.Length < 4) return DecodeResult.Truncated;
        int flags = BinaryPrimitives.ReadUInt16BigEndian(g), protocol = BinaryPrimitives.ReadUInt16BigEndian(g[2..]);
        // Version 0 only (version 1 is PPTP's enhanced GRE); no source routing (obsolete).
        if ((flags & 0x7) != 0 || (flags & 0x4000) != 0) return DecodeResult.UnknownEncapsulation;
        bool seq = (flags & 0x1000) != 0;
        int len = 4 + ((flags & 0x8000) != 0 ? 4 : 0) + ((flags & 0x2000) != 0 ? 4 : 0) + (seq ? 4 : 0);
        if (g.Length < len) return DecodeResult.Truncated;
        g = g[len..];
        if (protocol is 0x88BE or 0x22EB)
        {
            // ERSPAN type I (no sequence number, no header), type II (8-byte header) and type III (12 bytes, 8 more
            // with the O flag): a mirrored Ethernet frame follows.
            int erspan = protocol == 0x22EB ? 12 : seq ? 8 : 0;
            if (g.Length < erspan) return DecodeResult.Truncated;
            if (protocol == 0x22EB && (g[11] & 1) != 0) erspan += 8;
            if (g.Length < erspan) return DecodeResult.Truncated;
            Enter(TunnelKind.Erspan, ref s, ref t);
            return Ethernet(g[erspan..], ref s, ref t, depth + 1);
        }
        if (protocol is not (0x6558 or 0x0800 or 0x86DD or 0x8847 or 0x8848)) return DecodeResult.UnknownEncapsulation;
        Enter(TunnelKind.Gre, ref s, ref t);
        return Inner(protocol, g, ref s, ref t, depth + 1);
    }

    private static DecodeResult DecodeTcp(ReadOnlySpan<byte> t, int ipPayload, ref TcpSegment s)
    {
        if (t.Length < 16) return DecodeResult.Truncated; // ports, seq, ack, offset, flags, window: enough for us
        s.SrcPort = BinaryPrimitives.ReadUInt16BigEndian(t);
        s.DstPort = BinaryPrimitives.ReadUInt16BigEndian(t[2..]);
        s.Seq = BinaryPrimitives.ReadUInt32BigEndian(t[4..]);
        s.Ack = BinaryPrimitives.ReadUInt32BigEndian(t[8..]);
        int off = (t[12] >> 4) * 4;
        s.Flags = t[13];
        s.Window = BinaryPrimitives.ReadUInt16BigEndian(t[14..]);
        s.PayloadLength = Math.Max(0, ipPayload - Math.Max(off, 20));
        s.WindowScale = -1;
        if ((s.Flags & TcpSegment.Syn) != 0 && off > 20 && t.Length >= 20) s.WindowScale = ScaleOption(t[20..Math.Min(off, t.Length)]);
        return DecodeResult.Tcp;
    }

    /// <summary>The window scale (option kind 3) among a SYN's options, or -1.</summary>
    private static sbyte ScaleOption(ReadOnlySpan<byte> o)
    {
        while (o.Length > 0)
        {
            if (o[0] == 0) break;
            if (o[0] == 1) { o = o[1..]; continue; }
            if (o.Length < 2 || o[1] < 2 || o[1] > o.Length) break;
            if (o[0] == 3 && o[1] == 3) return (sbyte)Math.Min((int)o[2], 14);
            o = o[o[1]..];
        }
        return -1;
    }

    /// <summary>The TCP segment without the link layer's padding, when the IP length is believable (at least the 16 bytes DecodeTcp read).</summary>
    private static ReadOnlySpan<byte> Within(ReadOnlySpan<byte> seg, int length) => length >= 16 && length < seg.Length ? seg[..length] : seg;

    /// <summary>See <see cref="TcpSegment.Digest"/>: a few multiply-xor steps over fixed places, no loop over the payload.</summary>
    private static ulong Digest(ulong ipWord, ReadOnlySpan<byte> tcp)
    {
        const ulong K1 = 0x9E3779B97F4A7C15UL, K2 = 0xC2B2AE3D27D4EB4FUL;
        ulong h = ipWord * K1;
        int hdr = Math.Min((tcp[12] >> 4) * 4, tcp.Length);
        var head = tcp[4..Math.Max(4, hdr)]; // sequence number to the end of the options: a multiple of 4 bytes
        while (head.Length >= 8) { h = (h ^ BinaryPrimitives.ReadUInt64LittleEndian(head)) * K2; h ^= h >> 31; head = head[8..]; }
        if (head.Length >= 4) h = (h ^ BinaryPrimitives.ReadUInt32LittleEndian(head)) * K1;
        var pay = tcp[hdr..];
        if (pay.Length >= 8)
        {
            h = (h ^ BinaryPrimitives.ReadUInt64LittleEndian(pay)) * K2;
            h = (h ^ BinaryPrimitives.ReadUInt64LittleEndian(pay[^8..])) * K1;
        }
        else if (pay.Length > 0) h = (h ^ pay[0] ^ ((ulong)pay[^1] << 8) ^ ((ulong)pay.Length << 16)) * K2;
        return h ^ (h >> 29);
    }
}
