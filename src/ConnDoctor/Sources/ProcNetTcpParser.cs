using System.Buffers.Binary;
using System.Buffers.Text;
using ConnDoctor.Model;

namespace ConnDoctor.Sources;

/// <summary>Counts of what a text parser skipped, with the first few line numbers, so nothing is dropped silently.</summary>
public sealed class ParseStats
{
    public int Lines;
    public int Malformed;
    public readonly List<int> MalformedLines = new();

    public void Bad(int line)
    {
        Malformed++;
        if (MalformedLines.Count < 5) MalformedLines.Add(line);
    }
}

/// <summary>
/// Parses /proc/net/tcp and /proc/net/tcp6 as bytes: no string per line or field. Keeps the queue, timer,
/// uid, probe and inode columns. A malformed line is counted and skipped, never fatal.
/// </summary>
public static class ProcNetTcpParser
{
    /// <param name="family">4 for /proc/net/tcp, 6 for /proc/net/tcp6.</param>
    public static void Parse(ReadOnlySpan<byte> content, int family, uint stateMask, int netnsIndex,
        List<SocketRecord> into, ParseStats stats)
    {
        int lineNo = 0;
        while (content.Length > 0)
        {
            int nl = content.IndexOf((byte)'\n');
            var line = nl >= 0 ? content[..nl] : content;
            content = nl >= 0 ? content[(nl + 1)..] : default;
            lineNo++;
            if (lineNo == 1) continue; // header
            if (line.Trim((byte)' ').Length == 0) continue;
            stats.Lines++;
            if (!TryParseLine(line, family, netnsIndex, out var rec)) { stats.Bad(lineNo); continue; }
            if ((stateMask & (1u << (int)rec!.State)) == 0) continue;
            into.Add(rec);
        }
    }

    // "  0: 0100007F:0CEA 00000000:0000 0A 00000000:00000000 00:00000000 00000000   116        0 21545 1 ..."
    internal static bool TryParseLine(ReadOnlySpan<byte> line, int family, int netnsIndex, out SocketRecord? rec)
    {
        rec = null;
        var f = new FieldCursor(line);
        if (!f.Next(out var sl) || sl.Length == 0 || sl[^1] != ':') return false;
        if (!f.Next(out var localF) || !ParseEndpoint(localF, family, out var local)) return false;
        if (!f.Next(out var remoteF) || !ParseEndpoint(remoteF, family, out var remote)) return false;
        if (!f.Next(out var st) || !Hex(st, out ulong state) || state == 0 || state > 12) return false;
        if (!f.Next(out var q) || !HexPair(q, out ulong txq, out ulong rxq)) return false;
        if (!f.Next(out var tr) || !HexPair(tr, out ulong timer, out ulong when)) return false;
        if (!f.Next(out var rt) || !Hex(rt, out ulong retr)) return false;
        if (!f.Next(out var uidF) || !Utf8Parser.TryParse(uidF, out uint uid, out int c1) || c1 != uidF.Length) return false;
        if (!f.Next(out var probesF) || !Utf8Parser.TryParse(probesF, out int probes, out int c2) || c2 != probesF.Length) return false;
        if (!f.Next(out var inodeF) || !Utf8Parser.TryParse(inodeF, out ulong inode, out int c3) || c3 != inodeF.Length) return false;
        if (timer > 4) return false;
        rec = new SocketRecord
        {
            Family = family,
            State = (TcpState)state,
            Local = local,
            Remote = remote,
            SendQueue = (uint)txq,
            RecvQueue = (uint)rxq,
            Timer = (TimerKind)timer,
            TimerExpiresMs = (uint)Math.Min(when * 10, uint.MaxValue), // clock_t at USER_HZ=100
            TimerRetransmits = (byte)Math.Min(timer == (ulong)TimerKind.Keepalive ? (ulong)probes : retr, 255),
            Uid = uid,
            Inode = inode,
            NetnsIndex = netnsIndex,
        };
        return true;
    }

    // The kernel prints each 32-bit word of the address as the host-order integer in hex (%08X): on a
    // little-endian machine every group of four bytes reads reversed. The port is a plain hex number.
    private static bool ParseEndpoint(ReadOnlySpan<byte> field, int family, out NetEndpoint ep)
    {
        ep = default;
        int colon = field.IndexOf((byte)':');
        int hexLen = family == 6 ? 32 : 8;
        if (colon != hexLen || field.Length != hexLen + 5) return false;
        Span<byte> addr = stackalloc byte[hexLen / 2];
        for (int w = 0; w < hexLen / 8; w++)
        {
            if (!Hex(field.Slice(w * 8, 8), out ulong word)) return false;
            var dst = addr.Slice(w * 4, 4);
            if (BitConverter.IsLittleEndian) BinaryPrimitives.WriteUInt32LittleEndian(dst, (uint)word);
            else BinaryPrimitives.WriteUInt32BigEndian(dst, (uint)word);
        }
        if (!Hex(field[(colon + 1)..], out ulong port) || port > 0xFFFF) return false;
        ep = new NetEndpoint(new NetAddress(addr), (ushort)port);
        return true;
    }

    private static bool HexPair(ReadOnlySpan<byte> s, out ulong a, out ulong b)
    {
        a = b = 0;
        int colon = s.IndexOf((byte)':');
        return colon > 0 && Hex(s[..colon], out a) && Hex(s[(colon + 1)..], out b);
    }

    private static bool Hex(ReadOnlySpan<byte> s, out ulong v) =>
        Utf8Parser.TryParse(s, out v, out int consumed, 'X') && consumed == s.Length && s.Length > 0;

    /// <summary>Splits a line on runs of spaces without allocating.</summary>
    internal ref struct FieldCursor(ReadOnlySpan<byte> line)
    {
        private ReadOnlySpan<byte> _rest = line;

        public bool Next(out ReadOnlySpan<byte> field)
        {
            _rest = _rest.TrimStart((byte)' ');
            if (_rest.Length == 0) { field = default; return false; }
            int sp = _rest.IndexOf((byte)' ');
            field = sp < 0 ? _rest : _rest[..sp];
            _rest = sp < 0 ? default : _rest[sp..];
            return true;
        }
    }
}
