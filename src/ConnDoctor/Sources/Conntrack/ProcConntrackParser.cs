using System.Buffers.Text;
using ConnDoctor.Model;

namespace ConnDoctor.Sources.Conntrack;

/// <summary>
/// Parses /proc/net/nf_conntrack as bytes, the fallback when ctnetlink cannot be used. The line, as ct_seq_show in
/// net/netfilter/nf_conntrack_standalone.c writes it:
/// <c>ipv4     2 tcp      6 431999 ESTABLISHED src=A dst=B sport=P dport=Q [zone-orig=Z] [packets=N bytes=N]
/// [UNREPLIED] src=B dst=A' sport=Q dport=P' [zone-reply=Z] [packets=N bytes=N] [ASSURED|OFFLOAD|HW_OFFLOAD] [mark=M]
/// [secctx=S] [zone=Z] [delta-time=T] use=U</c>. The timeout is missing for an offloaded flow and the state too;
/// IPv6 addresses come in the full %pI6 form (2001:0db8:0000:...). The old /proc/net/ip_conntrack and conntrack(8)
/// lines lack the leading "ipv4 2": both are read. A line that does not fit is counted with its number and skipped.
/// Addresses are parsed only for the lines the filter keeps.
/// </summary>
public static class ProcConntrackParser
{
    public static void Parse(ReadOnlySpan<byte> content, ConntrackSink sink)
    {
        int lineNo = 0;
        while (content.Length > 0)
        {
            int nl = content.IndexOf((byte)'\n');
            var line = nl >= 0 ? content[..nl] : content;
            content = nl >= 0 ? content[(nl + 1)..] : default;
            lineNo++;
            if (line.TrimEnd("\r "u8).Length == 0) continue;
            if (TryParseLine(line, out var e, out bool skipped)) sink.Offer(in e);
            else if (skipped) sink.Total++;       // a protocol or a form we do not read (not TCP): counted, not malformed
            else sink.Bad(lineNo);
        }
    }

    /// <summary>One line into a raw entry. <paramref name="skipped"/> is true for a well-formed line of another protocol.</summary>
    internal static bool TryParseLine(ReadOnlySpan<byte> line, out RawConntrackEntry e, out bool skipped)
    {
        e = default;
        e.TcpState = -1;
        skipped = false;
        var t = new ProcNetTcpParser.FieldCursor(line.TrimEnd("\r"u8));
        if (!t.Next(out var tok)) return false;
        byte family = 0;
        if (tok.SequenceEqual("ipv4"u8) || tok.SequenceEqual("ipv6"u8))
        {
            family = tok[3] == (byte)'4' ? (byte)4 : (byte)6;
            if (!t.Next(out var l3num) || !Utf8Parser.TryParse(l3num, out int _, out int c0) || c0 != l3num.Length) return false;
            if (!t.Next(out tok)) return false;
        }
        // tok: the layer-4 name ("tcp", "udp", "unknown"); then its number
        if (tok.Length == 0 || tok[0] is < (byte)'a' or > (byte)'z') return false;
        if (!t.Next(out var l4) || !Utf8Parser.TryParse(l4, out byte proto, out int c1) || c1 != l4.Length) return false;
        e.Protocol = proto;

        // A timeout (absent for an offloaded flow), then the protocol's state (TCP, SCTP, DCCP), then key=value pairs.
        ReadOnlySpan<byte> src0 = default, dst0 = default, src1 = default, dst1 = default;
        int sport0 = -1, dport0 = -1, sport1 = -1, dport1 = -1;
        int srcCount = 0;
        bool seenReply = true;
        while (t.Next(out tok))
        {
            int eq = tok.IndexOf((byte)'=');
            if (eq < 0)
            {
                if (tok[0] == (byte)'[')
                {
                    if (tok.SequenceEqual("[UNREPLIED]"u8)) seenReply = false;
                    else if (tok.SequenceEqual("[ASSURED]"u8)) e.Status |= ConntrackStates.IPS_ASSURED;
                    else if (tok.SequenceEqual("[OFFLOAD]"u8)) e.Status |= ConntrackStates.IPS_OFFLOAD;
                    else if (tok.SequenceEqual("[HW_OFFLOAD]"u8)) e.Status |= ConntrackStates.IPS_OFFLOAD | ConntrackStates.IPS_HW_OFFLOAD;
                    continue;
                }
                if (srcCount > 0) return false;   // a bare word among the tuples: not this format
                if (tok[0] is >= (byte)'0' and <= (byte)'9')
                {
                    if (e.HasTimeout || e.TcpState >= 0 || !Utf8Parser.TryParse(tok, out uint timeout, out int c2) || c2 != tok.Length) return false;
                    e.TimeoutSeconds = timeout;
                    e.HasTimeout = true;
                }
                else if (proto == 6)
                {
                    if (e.TcpState >= 0) return false;
                    e.TcpState = ConntrackStates.Parse(tok);
                    if (e.TcpState < 0) return false;
                }
                continue;
            }
            var key = tok[..eq];
            var val = tok[(eq + 1)..];
            if (key.SequenceEqual("src"u8))
            {
                if (++srcCount > 2) return false;
                if (srcCount == 1) src0 = val; else src1 = val;
            }
            else if (key.SequenceEqual("dst"u8)) { if (srcCount == 1) dst0 = val; else if (srcCount == 2) dst1 = val; else return false; }
            else if (key.SequenceEqual("sport"u8)) { if (!Port(val, out int p)) return false; if (srcCount == 1) sport0 = p; else sport1 = p; }
            else if (key.SequenceEqual("dport"u8)) { if (!Port(val, out int p)) return false; if (srcCount == 1) dport0 = p; else dport1 = p; }
            else if (key.SequenceEqual("mark"u8)) { if (!Utf8Parser.TryParse(val, out e.Mark, out int c3) || c3 != val.Length) return false; }
            else if (key.SequenceEqual("zone"u8)) { if (!Utf8Parser.TryParse(val, out e.Zone, out int c4) || c4 != val.Length) return false; }
            // packets=, bytes=, zone-orig=, zone-reply=, secctx=, delta-time=, use=, and icmp's type=/code=/id=: not needed
        }
        if (srcCount != 2 || dst0.IsEmpty || dst1.IsEmpty) return false;
        if (proto != 6 && proto != 17 && proto != 132 && proto != 33 && proto != 136) { skipped = true; return false; }
        if (sport0 < 0 || dport0 < 0 || sport1 < 0 || dport1 < 0) return false;
        if (seenReply) e.Status |= ConntrackStates.IPS_SEEN_REPLY;
        if (proto != 6) { skipped = true; return false; }

        if (!Address(src0, family, out var a0) || !Address(dst0, family, out var b0) || !Address(src1, family, out var a1) || !Address(dst1, family, out var b1))
            return false;
        e.Original = new ConntrackTuple(new NetEndpoint(a0, (ushort)sport0), new NetEndpoint(b0, (ushort)dport0));
        e.Reply = new ConntrackTuple(new NetEndpoint(a1, (ushort)sport1), new NetEndpoint(b1, (ushort)dport1));
        return true;
    }

    private static bool Port(ReadOnlySpan<byte> s, out int port)
    {
        if (Utf8Parser.TryParse(s, out port, out int c) && c == s.Length && port is >= 0 and <= 65535) return true;
        port = -1;
        return false;
    }

    /// <summary>Dotted IPv4 without allocating; IPv6 (full or compressed form) through IPAddress.</summary>
    internal static bool Address(ReadOnlySpan<byte> s, byte family, out NetAddress address)
    {
        address = default;
        if (family != 6 && s.IndexOf((byte)':') < 0)
        {
            uint v = 0;
            for (int part = 0; part < 4; part++)
            {
                if (!Utf8Parser.TryParse(s, out byte b, out int n) || n == 0) return false;
                v = (v << 8) | b;
                s = s[n..];
                if (part < 3) { if (s.Length == 0 || s[0] != (byte)'.') return false; s = s[1..]; }
            }
            if (s.Length != 0) return false;
            address = NetAddress.FromIPv4(v);
            return true;
        }
        if (family == 4 || s.Length > 45) return false;
        Span<char> chars = stackalloc char[s.Length];
        for (int i = 0; i < s.Length; i++) chars[i] = (char)s[i];
        if (!System.Net.IPAddress.TryParse(chars, out var ip) || ip.AddressFamily != System.Net.Sockets.AddressFamily.InterNetworkV6) return false;
        address = NetAddress.FromIPAddress(ip);
        return true;
    }
}
