using System.Buffers.Text;
using System.Numerics;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using System.Net;
using ConnDoctor.Model;

namespace ConnDoctor.Sources.ZkLog;

/// <summary>What one line of a ZooKeeper server log says, decoded from its bytes without allocating.</summary>
public struct ZkLine
{
    public bool Timestamped;           // starts a message ("2016-09-19 22:48:54,347 ..."); else a continuation
    public bool Malformed;             // timestamped but not in log4j/logback's ZooKeeper layout
    public ZkMessageKind Kind;
    public bool AwaitsEndOfStream;     // "caught end of stream exception" / "Unexpected exception": the next line says what
    public bool HasIp;
    public NetAddress Ip;
    public bool HasSession;
    public ulong Session;
    public int Count;                  // "[N times] Message: ..." from the 3.5+ rate limiter
    public int Limit;                  // "max is N"
    public int LocationStart, LocationLength;   // "Class@line" for messages of kind Other
}

/// <summary>
/// Classifies ZooKeeper server log lines (3.4 to 3.8, log4j or logback layout, with or without [myid:N]).
/// Pure over bytes: the per-line cost is a few compares, so a 2 GiB log reads at disk speed.
/// </summary>
public static class ZkLogLine
{
    private const int TimestampLength = 23; // 2016-09-19 22:48:54,347

    public static bool IsTimestamp(ReadOnlySpan<byte> l) =>
        l.Length >= TimestampLength && l[4] == '-' && l[7] == '-' && l[10] == ' ' && l[13] == ':' && l[16] == ':'
        && (uint)(l[0] - '0') <= 9 && (uint)(l[3] - '0') <= 9 && (uint)(l[18] - '0') <= 9;

    public static ZkLine Parse(ReadOnlySpan<byte> line)
    {
        var r = new ZkLine { Count = 1 };
        int hint = 0;
        if (IsTimestamp(line)) ParseTimestamped(line, ref r, ref hint);
        return r;
    }

    /// <summary>
    /// Decodes a line already known to start with a timestamp into <paramref name="r"/> (reset first).
    /// <paramref name="bracketHint"/> carries, from one line of a file to the next, where the "[thread:Class@line]"
    /// part starts: the layout before it is fixed within a file, so it is checked in place instead of searched for.
    /// <paramref name="addresses"/> remembers the client addresses parsed so far.
    /// </summary>
    internal static void ParseTimestamped(ReadOnlySpan<byte> line, ref ZkLine r, ref int bracketHint, ZkAddressMemo? addresses = null)
    {
        r = new ZkLine { Count = 1, Timestamped = true };
        int p = bracketHint;
        if (!(p > TimestampLength + 3 && p < line.Length && line[p] == '[' && line[p - 1] == ' ' && IsLevelDash(line, p)))
        {
            p = ThreadBracket(line);
            if (p < 0) { r.Malformed = true; return; }
            bracketHint = p;
        }
        int end = LocationEnd(line[p..]);
        if (end < 0) { r.Malformed = true; return; }
        Classify(line[(p + end + 4)..], ref r, addresses);
        if (r.Kind == ZkMessageKind.Other)
        {
            var bracket = line.Slice(p + 1, end - 1);                  // thread:Class@line
            int colon = bracket.LastIndexOf((byte)':');
            r.LocationStart = p + 1 + colon + 1;
            r.LocationLength = bracket.Length - colon - 1;
        }
    }

    // "- LEVEL [" right before the hinted bracket: the level is padded to 5 (%-5p), so "- " sits 8 bytes before it.
    private static bool IsLevelDash(ReadOnlySpan<byte> l, int p) => l[p - 8] == '-' && l[p - 7] == ' ' && l[p - 6] != ' ';

    // "<ts> [myid:1] - WARN  [thread:Class@123] - message" or "<ts> - WARN  [thread:Class@123] - message":
    // the index of the '[' that opens the thread and location.
    private static int ThreadBracket(ReadOnlySpan<byte> l)
    {
        int p = TimestampLength;
        while (p < l.Length && l[p] == ' ') p++;
        if (p < l.Length && l[p] == '[')                      // [myid:N]
        {
            int close = l[p..].IndexOf((byte)']');
            if (close < 0) return -1;
            p += close + 1;
            while (p < l.Length && l[p] == ' ') p++;
        }
        if (p + 2 > l.Length || l[p] != '-' || l[p + 1] != ' ') return -1;
        p += 2;
        while (p < l.Length && l[p] != '[') p++;               // level, padded
        return p < l.Length ? p : -1;
    }

    /// <summary>
    /// Index of "] - " closing "[thread:Class@line]". The location always has "@digits]", so a one-byte search
    /// for '@' is tried first (thread names seldom hold an '@'); otherwise the plain substring search.
    /// </summary>
    private static int LocationEnd(ReadOnlySpan<byte> b)
    {
        int at = IndexOfAt(b);
        if (at > 0)
        {
            int i = at + 1;
            while (i < b.Length && (uint)(b[i] - '0') <= 9) i++;
            if (i > at + 1 && i + 4 <= b.Length && b[i] == ']' && b[i + 1] == ' ' && b[i + 2] == '-' && b[i + 3] == ' ') return i;
        }
        return b.IndexOf("] - "u8);
    }

    /// <summary>
    /// The first '@', 16 bytes at a time inline: the thread name before it is short, and for a few dozen bytes the
    /// setup of a general IndexOf call costs more than the search.
    /// </summary>
    private static int IndexOfAt(ReadOnlySpan<byte> b)
    {
        int i = 0;
        if (Vector128.IsHardwareAccelerated)
        {
            ref byte first = ref MemoryMarshal.GetReference(b);
            var at = Vector128.Create((byte)'@');
            for (; i + 16 <= b.Length; i += 16)
            {
                uint mask = Vector128.Equals(Vector128.LoadUnsafe(ref first, (nuint)i), at).ExtractMostSignificantBits();
                if (mask != 0) return i + BitOperations.TrailingZeroCount(mask);
            }
        }
        for (; i < b.Length; i++)
            if (b[i] == '@') return i;
        return -1;
    }

    private static void Classify(ReadOnlySpan<byte> m, ref ZkLine r, ZkAddressMemo? addresses)
    {
        if (m.Length == 0) return;
        switch (m[0])
        {
            case (byte)'A':
                if (m.StartsWith("Accepted socket connection from "u8)) { r.Kind = ZkMessageKind.Accepted; r.HasIp = Address(m[32..], out r.Ip, addresses); }
                break;
            case (byte)'c':
                if (m.StartsWith("caught end of stream exception"u8)) r.AwaitsEndOfStream = true; // 3.4: the next line has the session
                break;
            case (byte)'C':
                if (m.StartsWith("Closed socket connection for client "u8))
                {
                    r.HasIp = Address(m[36..], out r.Ip, addresses);
                    int sp = m[36..].IndexOf((byte)' ');
                    var tail = sp < 0 ? default : m[(36 + sp + 1)..];          // "(no session established ..." or "which had sessionid 0x..."
                    if (tail.StartsWith("which had sessionid 0x"u8)) { r.Kind = ZkMessageKind.ClosedWithSession; r.HasSession = TryHex(tail[22..], out r.Session); }
                    else r.Kind = ZkMessageKind.ClosedNoSession;
                }
                else if (m.StartsWith("Client attempting to establish new session"u8))
                {
                    r.Kind = ZkMessageKind.SessionAttempt;
                    int slash = m.LastIndexOf((byte)'/');           // 3.4 "at /IP:PORT"; 3.8 "..., address = /IP:PORT"
                    r.HasIp = slash >= 0 && Address(m[slash..], out r.Ip, addresses);
                }
                break;
            case (byte)'T':
                if (m.StartsWith("Too many connections from "u8)) Refused(m, ref r);
                break;
            case (byte)'E':
                if (m.StartsWith("Established session 0x"u8))
                {
                    r.Kind = ZkMessageKind.SessionEstablished;
                    r.HasSession = TryHex(m[22..], out r.Session);
                    int f = m.IndexOf(" for client "u8);
                    r.HasIp = f >= 0 && Address(m[(f + 12)..], out r.Ip, addresses);
                }
                else if (m.StartsWith("Expiring session 0x"u8)) { r.Kind = ZkMessageKind.SessionExpired; r.HasSession = TryHex(m[19..], out r.Session); }
                else if (m.StartsWith("Error accepting new connection: Too many connections from "u8)) Refused(m, ref r);
                break;
            case (byte)'U':
                if (m.StartsWith("Unexpected exception"u8)) r.AwaitsEndOfStream = true;           // 3.5+: the next line has the address
                else if (m.StartsWith(Unable)) EndOfStream(m, ref r);                                // 3.5/3.6 message form
                break;
            case (byte)'M':
                if (m.StartsWith("Message:"u8) && m.IndexOf("Too many connections from "u8) >= 0) Refused(m, ref r);
                break;
            case (byte)'[':
                // "[N times] Message: Error accepting new connection: Too many connections from /IP - max is N"
                int times = m.IndexOf(" times] Message:"u8);
                if (times > 1 && m.IndexOf("Too many connections from "u8) >= 0 && Utf8Parser.TryParse(m[1..times], out int n, out int used) && used == times - 1)
                {
                    Refused(m, ref r);
                    r.Count = n;
                }
                break;
            case (byte)'P':
                // "Processing srvr command from /127.0.0.1:58142"
                if (m.StartsWith("Processing "u8) && m.Length >= 29 && m[15..].StartsWith(" command from "u8))
                {
                    r.Kind = ZkMessageKind.FourLetterWord;
                    r.HasIp = Address(m[29..], out r.Ip, addresses);
                }
                break;
        }
    }

    private static bool Address(ReadOnlySpan<byte> s, out NetAddress ip, ZkAddressMemo? addresses) =>
        addresses != null ? addresses.TryAddress(s, out ip) : TryAddress(s, out ip);

    private static void Refused(ReadOnlySpan<byte> m, ref ZkLine r)
    {
        int f = m.IndexOf("Too many connections from "u8);
        r.Kind = ZkMessageKind.Refused;
        r.HasIp = TryAddress(m[(f + 26)..], out r.Ip);
        int max = m.IndexOf(" - max is "u8);
        if (max >= 0) Utf8Parser.TryParse(m[(max + 10)..], out r.Limit, out _);
    }

    private static ReadOnlySpan<byte> Unable => "Unable to read additional data from client"u8;

    /// <summary>
    /// "EndOfStreamException: Unable to read additional data from client sessionid 0x0, likely client has closed socket" (3.4)
    /// or "... from client, it probably closed the socket: address = /IP:PORT, session = 0x0" (3.5+).
    /// </summary>
    public static bool TryEndOfStream(ReadOnlySpan<byte> line, ref ZkLine r)
    {
        // Almost always the exception's own line; a prefixed form (a wrapped logger) is searched for.
        int u = line.StartsWith("EndOfStreamException: "u8) && line[23..].StartsWith(Unable) ? 23 : line[..Math.Min(line.Length, 64 + Unable.Length)].IndexOf(Unable);
        if (u < 0) return false;
        EndOfStream(line[u..], ref r);
        return true;
    }

    private static void EndOfStream(ReadOnlySpan<byte> m, ref ZkLine r)
    {
        r.Kind = ZkMessageKind.EndOfStream;
        var rest = m[Unable.Length..];
        if (rest.StartsWith(" sessionid 0x"u8)) { r.HasSession = TryHex(rest[13..], out r.Session); return; }   // 3.4
        int a = rest.IndexOf("address = "u8);                                                               // 3.5+
        if (a < 0) return;
        r.HasIp = TryAddress(rest[(a + 10)..], out r.Ip);
        int s = rest[a..].IndexOf("session = 0x"u8);
        if (s >= 0) r.HasSession = TryHex(rest[(a + s + 12)..], out r.Session);
    }

    /// <summary>
    /// Parses a Java InetSocketAddress or InetAddress as logged: "/10.0.0.5:4242", "host/10.0.0.5:4242", "/10.0.0.5",
    /// "/0:0:0:0:0:0:0:1:4242" or "/0:0:0:0:0:0:0:1%1:4242". Only the address is kept.
    /// </summary>
    public static bool TryAddress(ReadOnlySpan<byte> s, out NetAddress ip)
    {
        ip = default;
        int slash = s.Length > 0 && s[0] == '/' ? 0 : s.IndexOf((byte)'/');   // usually the first byte
        if (slash < 0 || slash > 255) return false;
        s = s[(slash + 1)..];
        // Hot path, one pass: four decimal octets, then the end or ":port".
        uint v = 0, octet = 0;
        int i = 0, dots = 0, digits = 0;
        for (; i < s.Length; i++)
        {
            uint d = (uint)(s[i] - '0');
            if (d <= 9)
            {
                octet = octet * 10 + d;
                if (++digits > 3 || octet > 255) break;
            }
            else if (s[i] == '.' && digits > 0 && dots < 3) { v = (v << 8) | octet; octet = 0; digits = 0; dots++; }
            else break;
        }
        if (dots == 3 && digits > 0 && (i == s.Length || s[i] != '.' && !IsHex(s[i])))
        {
            ip = NetAddress.FromIPv4((v << 8) | octet);
            return true;
        }
        return TryIPv6(s, out ip);
    }

    // IPv6 as Java prints it: eight groups, then ":port" unless it is a bare InetAddress; an optional %scope.
    private static bool TryIPv6(ReadOnlySpan<byte> s, out NetAddress ip)
    {
        ip = default;
        int end = 0;
        while (end < s.Length && (IsHex(s[end]) || s[end] is (byte)'.' or (byte)':' or (byte)'%')) end++;
        s = s[..end];
        int groups = 1;
        foreach (var c in s) if (c == ':') groups++;
        if (groups < 3) return false;
        if (groups > 8) s = s[..s.LastIndexOf((byte)':')];
        int pct = s.IndexOf((byte)'%');
        if (pct >= 0) s = s[..pct];
        Span<char> chars = stackalloc char[s.Length];
        for (int i = 0; i < s.Length; i++) chars[i] = (char)s[i];
        if (!IPAddress.TryParse(chars, out var addr)) return false;
        ip = NetAddress.FromIPAddress(addr).Unmapped;
        return true;
    }

    private static bool TryHex(ReadOnlySpan<byte> s, out ulong v)
    {
        v = 0;
        int n = 0;
        for (; n < s.Length && n < 16; n++)
        {
            uint c = s[n], d = c - '0';
            if (d > 9) { d = (c | 0x20) - 'a'; if (d > 5) break; d += 10; }
            v = (v << 4) | d;
        }
        return n > 0;
    }

    private static bool IsHex(byte c) => (uint)(c - '0') <= 9 || (uint)((c | 0x20) - 'a') <= 5;

    /// <summary>Minutes since 0001-01-01 and the full time of a timestamped line.</summary>
    public static DateTime Time(ReadOnlySpan<byte> l)
    {
        static int D(ReadOnlySpan<byte> s, int at, int n)
        {
            int v = 0;
            for (int i = 0; i < n; i++) v = v * 10 + (s[at + i] - '0');
            return v;
        }
        int y = D(l, 0, 4), mo = D(l, 5, 2), d = D(l, 8, 2), h = D(l, 11, 2), mi = D(l, 14, 2), s = D(l, 17, 2);
        if (mo is < 1 or > 12 || d < 1 || d > DateTime.DaysInMonth(Math.Max(1, y), mo) || h > 23 || mi > 59 || s > 60) return default;
        return new DateTime(y, mo, d, h, mi, Math.Min(s, 59), DateTimeKind.Unspecified);
    }
}
