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

    public const byte Fin = 0x01, Syn = 0x02, Rst = 0x04, Psh = 0x08, AckFlag = 0x10;
    public readonly bool Has(byte flag) => (Flags & flag) != 0;
}

public enum DecodeResult { Tcp, NotIp, NotTcp, Fragment, Truncated, UnknownLink }

/// <summary>
/// Link layer (Ethernet with VLAN tags, Linux cooked SLL and SLL2, raw IP, BSD loopback) -> IPv4/IPv6
/// (extension headers skipped) -> TCP header. Pure over the frame bytes; nothing is allocated.
/// </summary>
public static class PacketDecoder
{
    public const int LinkNull = 0, LinkEthernet = 1, LinkRaw = 101, LinkLoop = 108, LinkSll = 113, LinkIPv4 = 228, LinkIPv6 = 229, LinkSll2 = 276;
    private const int DltRaw = 12, DltRawOpenBsd = 14; // DLT values some writers put in the file instead of LINKTYPE_RAW

    public static bool IsKnownLink(int link) => link is LinkNull or LinkEthernet or LinkRaw or LinkLoop or LinkSll or LinkIPv4 or LinkIPv6 or LinkSll2 or DltRaw or DltRawOpenBsd;

    public static string LinkName(int link) => link switch
    {
        LinkNull => "BSD loopback",
        LinkEthernet => "Ethernet",
        LinkRaw or DltRaw or DltRawOpenBsd => "raw IP",
        LinkLoop => "OpenBSD loopback",
        LinkSll => "Linux cooked (SLL)",
        LinkSll2 => "Linux cooked v2 (SLL2)",
        LinkIPv4 => "raw IPv4",
        LinkIPv6 => "raw IPv6",
        _ => $"link type {link}",
    };

    public static DecodeResult Decode(int link, ReadOnlySpan<byte> f, ref TcpSegment s)
    {
        int etherType;
        switch (link)
        {
            case LinkEthernet:
                if (f.Length < 14) return DecodeResult.Truncated;
                etherType = BinaryPrimitives.ReadUInt16BigEndian(f[12..]);
                f = f[14..];
                break;
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
                etherType = (f[0] >> 4) == 4 ? 0x0800 : (f[0] >> 4) == 6 ? 0x86DD : 0;
                break;
            default:
                return DecodeResult.UnknownLink;
        }
        // 802.1Q, 802.1ad and the old QinQ tag: 4 bytes each, possibly stacked.
        while (etherType is 0x8100 or 0x88A8 or 0x9100)
        {
            if (f.Length < 4) return DecodeResult.Truncated;
            etherType = BinaryPrimitives.ReadUInt16BigEndian(f[2..]);
            f = f[4..];
        }
        return etherType switch
        {
            0x0800 => DecodeIPv4(f, ref s),
            0x86DD => DecodeIPv6(f, ref s),
            _ => DecodeResult.NotIp,
        };
    }

    private static DecodeResult DecodeIPv4(ReadOnlySpan<byte> f, ref TcpSegment s)
    {
        if (f.Length < 20) return DecodeResult.Truncated;
        int ihl = (f[0] & 0x0F) * 4;
        if ((f[0] >> 4) != 4 || ihl < 20) return DecodeResult.NotIp;
        if (f[9] != 6) return DecodeResult.NotTcp;
        if ((BinaryPrimitives.ReadUInt16BigEndian(f[6..]) & 0x1FFF) != 0) return DecodeResult.Fragment; // no TCP header in later fragments
        int total = BinaryPrimitives.ReadUInt16BigEndian(f[2..]);
        if (total == 0) total = f.Length; // TSO: the NIC fills the length in later, so a capture of an outgoing super-segment may say 0
        if (f.Length < ihl) return DecodeResult.Truncated;
        s.V6 = false;
        s.SrcHi = (ulong)BinaryPrimitives.ReadUInt32BigEndian(f[12..]) << 32;
        s.DstHi = (ulong)BinaryPrimitives.ReadUInt32BigEndian(f[16..]) << 32;
        s.SrcLo = s.DstLo = 0;
        return DecodeTcp(f[ihl..], total - ihl, ref s);
    }

    private static DecodeResult DecodeIPv6(ReadOnlySpan<byte> f, ref TcpSegment s)
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
        // Hop-by-hop, routing, destination options, fragment and AH headers before TCP.
        for (int guard = 0; next != 6 && guard < 8; guard++)
        {
            if (next is not (0 or 43 or 60 or 44 or 51)) return DecodeResult.NotTcp;
            if (rest.Length < 8) return DecodeResult.Truncated;
            if (next == 44 && (BinaryPrimitives.ReadUInt16BigEndian(rest[2..]) & 0xFFF8) != 0) return DecodeResult.Fragment;
            int len = next == 44 ? 8 : next == 51 ? (rest[1] + 2) * 4 : (rest[1] + 1) * 8;
            if (rest.Length < len) return DecodeResult.Truncated;
            next = rest[0];
            rest = rest[len..];
            payload -= len;
        }
        return next == 6 ? DecodeTcp(rest, payload, ref s) : DecodeResult.NotTcp;
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
        return DecodeResult.Tcp;
    }
}
