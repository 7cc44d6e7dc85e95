using System.Buffers.Binary;
using System.Buffers.Text;
using System.Runtime.CompilerServices;
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
    public bool EndOfStreamWarning;    // "caught end of stream exception" (3.4): an end of stream even when its stack trace was dropped
    public bool HasIp;
    public NetAddress Ip;
    internal int AddressSlot;          // set with Ip: the address memo's slot for it, or -1; the reader keeps the client there
    public bool HasSession;
    public ushort Port;                // the client port of a connection end's "/IP:PORT"; 0: none named. Here, in
                                       // the padding before Session, the struct stays 64 bytes (one cache line to clear)
    public ulong Session;
    public int Count;                  // "[N times] Message: ..." from the 3.5+ rate limiter
    public int Limit;                  // "max is N"
    public int LocationOpen, LocationClose;     // the '[' and ']' of "[thread:Class@line]", for messages of kind Other
}

/// <summary>
/// Classifies ZooKeeper server log lines (3.4 to 3.8, log4j or logback layout, with or without [myid:N]).
/// Pure over bytes: the per-line cost is a few compares, so a 2 GiB log reads at disk speed.
/// </summary>
[SkipLocalsInit]
public static class ZkLogLine
{
    private const int TimestampLength = 23; // 2016-09-19 22:48:54,347

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool IsTimestamp(ReadOnlySpan<byte> l)
    {
        if (l.Length < TimestampLength) return false;
        ref byte b = ref MemoryMarshal.GetReference(l);
        return Unsafe.Add(ref b, 4) == '-' && Unsafe.Add(ref b, 7) == '-' && Unsafe.Add(ref b, 10) == ' ' && Unsafe.Add(ref b, 13) == ':'
            && Unsafe.Add(ref b, 16) == ':' && (uint)(b - '0') <= 9 && (uint)(Unsafe.Add(ref b, 3) - '0') <= 9 && (uint)(Unsafe.Add(ref b, 18) - '0') <= 9;
    }

    public static ZkLine Parse(ReadOnlySpan<byte> line)
    {
        var r = new ZkLine { Count = 1 };
        int hint = 0;
        if (IsTimestamp(line)) ParseTimestamped(line, line.Length, ref r, ref hint);
        return r;
    }

    /// <summary>
    /// Decodes the line of <paramref name="length"/> bytes that starts <paramref name="text"/>, already known to start
    /// with a timestamp, into <paramref name="r"/> (reset first). The bytes of <paramref name="text"/> past the line
    /// (the next lines of the same buffer) may be loaded by a vector search, never interpreted.
    /// <paramref name="bracketHint"/> carries, from one line of a file to the next, where the "[thread:Class@line]"
    /// part starts: the layout before it is fixed within a file, so it is checked in place instead of searched for.
    /// <paramref name="addresses"/> remembers the client addresses parsed so far.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void ParseTimestamped(ReadOnlySpan<byte> text, int length, ref ZkLine r, ref int bracketHint, ZkAddressMemo? addresses = null)
    {
        r = new ZkLine { Count = 1, Timestamped = true };
        if ((uint)length > (uint)text.Length) throw new ArgumentOutOfRangeException(nameof(length));
        ref byte l = ref MemoryMarshal.GetReference(text);
        int p = bracketHint;
        // "- LEVEL [" right before the hinted bracket: the level is padded to 5 (%-5p), so "- " sits 8 bytes before it.
        // The 8 bytes that end at the bracket are read as one word: ' ' first, not ' ' next, ' ' and '[' last.
        if (!(p > TimestampLength + 3 && p < length && Unsafe.Add(ref l, p - 8) == '-' && HintHolds(Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref l, (nuint)(uint)p - 7)))))
        {
            p = ThreadBracket(text[..length]);
            if (p < 0) { r.Malformed = true; return; }
            bracketHint = p;
        }
        int end = LocationEnd(text, p, length);
        if (end < 0) { r.Malformed = true; return; }
        Classify(text[(end + 4)..], length - end - 4, ref r, addresses);
        r.LocationOpen = p;
        r.LocationClose = end;
    }

    // Bytes p-7 to p as a little-endian word: p-7 is ' ', p-6 is not, p-1 is ' ' and p is '['.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool HintHolds(ulong w) =>
        (w & 0xFFFF_0000_0000_00FFUL) == ((ulong)'[' << 56 | (ulong)' ' << 48 | ' ') && (byte)(w >> 8) != ' ';

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

    private const uint BracketDash = ']' | ' ' << 8 | '-' << 16 | (uint)' ' << 24;   // "] - " read as a little-endian uint

    /// <summary>
    /// Index in <paramref name="text"/> of the "] - " that closes the "[thread:Class@line]" opened at
    /// <paramref name="p"/>, within the line's <paramref name="length"/> bytes; -1 if there is none. The location always
    /// has "@digits]", so the first '@' is looked for (thread names seldom hold one); otherwise the plain substring
    /// search. The 64 bytes after the bracket are compared at once when the buffer holds them, which covers almost
    /// every thread and location; for a few dozen bytes the setup of a general IndexOf call costs more than the search.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int LocationEnd(ReadOnlySpan<byte> text, int p, int length)
    {
        ref byte l = ref MemoryMarshal.GetReference(text);
        int at;
        if (Vector128.IsHardwareAccelerated && text.Length - p >= 64)
        {
            ref byte b = ref Unsafe.Add(ref l, p);
            var v = Vector128.Create((byte)'@');
            ulong mask = Vector128.Equals(Vector128.LoadUnsafe(ref b), v).ExtractMostSignificantBits()
                       | (ulong)Vector128.Equals(Vector128.LoadUnsafe(ref b, 16), v).ExtractMostSignificantBits() << 16
                       | (ulong)Vector128.Equals(Vector128.LoadUnsafe(ref b, 32), v).ExtractMostSignificantBits() << 32
                       | (ulong)Vector128.Equals(Vector128.LoadUnsafe(ref b, 48), v).ExtractMostSignificantBits() << 48;
            if (mask != 0) at = p + BitOperations.TrailingZeroCount(mask);
            else if (length - p > 64) { int k = text[(p + 64)..length].IndexOf((byte)'@'); at = k < 0 ? -1 : p + 64 + k; }
            else at = -1;
            if (at >= length) at = -1;
        }
        else
        {
            int k = text[p..length].IndexOf((byte)'@');
            at = k < 0 ? -1 : p + k;
        }
        if (at > p)
        {
            int i = at + 1;
            while (i < length && (uint)(Unsafe.Add(ref l, i) - '0') <= 9) i++;
            if (i > at + 1 && i + 4 <= length && Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref l, i)) == BracketDash) return i;
        }
        int e = text[p..length].IndexOf("] - "u8);
        return e < 0 ? -1 : p + e;
    }

    /// <summary>
    /// The message: the <paramref name="length"/> bytes that start <paramref name="text"/> (which may go on past the
    /// line, never read as part of it).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static void Classify(ReadOnlySpan<byte> text, int length, ref ZkLine r, ZkAddressMemo? addresses)
    {
        var m = text[..length];
        if (m.Length == 0) return;
        switch (m[0])
        {
            case (byte)'A':
                if (Starts(m, "Accepted socket connection from "u8)) { r.Kind = ZkMessageKind.Accepted; r.HasIp = Address(text, length, 32, out r.Ip, out r.AddressSlot, addresses, out _); }
                break;
            case (byte)'c':
                if (Starts(m, "caught end of stream exception"u8)) r.AwaitsEndOfStream = r.EndOfStreamWarning = true; // 3.4: the next line has the session
                break;
            case (byte)'C':
                if (Starts(m, "Closed socket connection for client "u8))
                {
                    r.HasIp = Address(text, length, 36, out r.Ip, out r.AddressSlot, addresses, out int end);
                    int sp = AfterPort(m[36..], end, out ushort port);              // the port read on the way to its space
                    if (r.HasIp) r.Port = port != 0 ? port : (ushort)PortOf(m[36..], -1);
                    if (sp < 0) sp = m[36..].IndexOf((byte)' ');
                    var tail = sp < 0 ? default : m[(36 + sp + 1)..];          // "(no session established ..." or "which had sessionid 0x..."
                    if (Starts(tail, "which had sessionid 0x"u8))
                    {
                        r.Kind = ZkMessageKind.ClosedWithSession;
                        int at = length - tail.Length + 22;                           // the id ends the line: decoded from the buffer
                        r.HasSession = Hex(text[at..], length - at, out r.Session) > 0;
                    }
                    else r.Kind = ZkMessageKind.ClosedNoSession;
                }
                else if (Starts(m, "Closing connection to "u8))
                {
                    // Netty (3.4 to 3.9): "Closing connection to /IP:PORT" with the IOException that ended it, or
                    // "... because the server is not ready": the connection ended, no session id is logged.
                    r.Kind = ZkMessageKind.EndOfStream;
                    r.HasIp = Address(text, length, 22, out r.Ip, out r.AddressSlot, addresses, out int end);
                    if (r.HasIp) r.Port = (ushort)PortOf(m[22..], end);
                }
                else if (Starts(m, "Client attempting to establish new session"u8))
                {
                    r.Kind = ZkMessageKind.SessionAttempt;
                    int slash = m.LastIndexOf((byte)'/');           // 3.4 "at /IP:PORT"; 3.8 "..., address = /IP:PORT"
                    r.HasIp = slash >= 0 && Address(text, length, slash, out r.Ip, out r.AddressSlot, addresses, out _);
                }
                break;
            case (byte)'T':
                if (Starts(m, "Too many connections from "u8)) Refused(text, length, 0, ref r, addresses);
                break;
            case (byte)'E':
                if (Starts(m, "Established session 0x"u8))
                {
                    r.Kind = ZkMessageKind.SessionEstablished;
                    int digits = Hex(text[22..], m.Length - 22, out r.Session);
                    r.HasSession = digits > 0;
                    var rest = m[(22 + digits)..];
                    int f = NegotiatedTimeoutEnd(rest);                      // " with negotiated timeout 30000", as logged
                    f = f >= 0 && rest[f..].StartsWith(" for client "u8) ? f : rest.IndexOf(" for client "u8);
                    r.HasIp = f >= 0 && Address(text, length, 22 + digits + f + 12, out r.Ip, out r.AddressSlot, addresses, out _);
                }
                else if (Starts(m, "Expiring session 0x"u8)) { r.Kind = ZkMessageKind.SessionExpired; r.HasSession = Hex(text[19..], m.Length - 19, out r.Session) > 0; }
                else if (m.StartsWith("Error accepting new connection: Too many connections from "u8)) Refused(text, length, 32, ref r, addresses);
                break;
            case (byte)'U':
                if (Starts(m, "Unexpected exception"u8)) r.AwaitsEndOfStream = true;           // 3.5+: the next line has the address
                else if (m.StartsWith(Unable)) EndOfStream(m, ref r, addresses);                     // 3.5/3.6 message form
                break;
            case (byte)'M':
                if (m.StartsWith("Message:"u8)) { int f = m.IndexOf(TooMany); if (f >= 0) Refused(text, length, f, ref r, addresses); }
                break;
            case (byte)'[':
                // "[N times] Message: Error accepting new connection: Too many connections from /IP - max is N" (3.6+),
                // "[N times] Error accepting new connection: ..." (3.5's RateLogger, without "Message: ")
                int times = m.IndexOf(" times] "u8);
                if (times > 1 && Utf8Parser.TryParse(m[1..times], out int n, out int used) && used == times - 1)
                {
                    int f = m.IndexOf(TooMany);
                    if (f < 0) break;
                    Refused(text, length, f, ref r, addresses);
                    r.Count = n;
                }
                break;
            case (byte)'P':
                // "Processing srvr command from /127.0.0.1:58142"
                if (m.StartsWith("Processing "u8) && m.Length >= 29 && m[15..].StartsWith(" command from "u8))
                {
                    r.Kind = ZkMessageKind.FourLetterWord;
                    r.HasIp = Address(text, length, 29, out r.Ip, out r.AddressSlot, addresses, out _);
                }
                break;
        }
    }

    private static ReadOnlySpan<byte> TooMany => "Too many connections from "u8;

    /// <summary>
    /// Classifies the message of <paramref name="length"/> bytes that starts <paramref name="text"/> (layouts other than
    /// ZooKeeper's own find it themselves; see <see cref="ZkLayoutLine"/>).
    /// </summary>
    internal static void ClassifyMessage(ReadOnlySpan<byte> text, int length, ref ZkLine r, ZkAddressMemo? addresses)
    {
        if (length <= 0) return;
        Classify(text, length, ref r, addresses);
    }

    /// <summary><see cref="ClassifyMessage"/> inlined into its caller, as the stock path has it: for the per-line path of other layouts.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static void ClassifyMessageInline(ReadOnlySpan<byte> text, int length, ref ZkLine r, ZkAddressMemo? addresses)
    {
        if (length <= 0) return;
        Classify(text, length, ref r, addresses);
    }

    /// <summary>An end of stream's exception text anywhere on the line (a JSON encoder's stack-trace field).</summary>
    internal static bool TryEndOfStreamAnywhere(ReadOnlySpan<byte> line, ref ZkLine r, ZkAddressMemo? addresses)
    {
        int u = line.IndexOf(Unable);
        if (u < 0) return false;
        EndOfStream(line[u..], ref r, addresses);
        return true;
    }

    /// <summary>
    /// <paramref name="m"/> starts with the literal <paramref name="lit"/>: 17 to 48 bytes are compared as two or three
    /// overlapping vectors in place, where StartsWith calls a general compare for literals past 16 bytes.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool Starts(ReadOnlySpan<byte> m, ReadOnlySpan<byte> lit)
    {
        if (!Vector128.IsHardwareAccelerated || lit.Length <= 16 || lit.Length > 48) return m.StartsWith(lit);
        if (m.Length < lit.Length) return false;
        ref byte a = ref MemoryMarshal.GetReference(m);
        ref byte b = ref MemoryMarshal.GetReference(lit);
        nuint last = (nuint)lit.Length - 16;
        var same = Vector128.Equals(Vector128.LoadUnsafe(ref a), Vector128.LoadUnsafe(ref b))
                 & Vector128.Equals(Vector128.LoadUnsafe(ref a, last), Vector128.LoadUnsafe(ref b, last));
        if (lit.Length > 32) same &= Vector128.Equals(Vector128.LoadUnsafe(ref a, 16), Vector128.LoadUnsafe(ref b, 16));
        return same == Vector128<byte>.AllBitsSet;
    }

    // The space after "/IP:PORT" when the address text is known to end at <paramref name="end"/>; else -1. The port's
    // digits are read on the way (0 when the end is not known or they are not a port).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int AfterPort(ReadOnlySpan<byte> s, int end, out ushort port)
    {
        port = 0;
        if (end < 0 || end >= s.Length || s[end] != ':') return -1;
        int i = end + 1, v = 0;
        for (uint d; i < s.Length && (d = (uint)(s[i] - '0')) <= 9; i++) v = v * 10 + (int)d;
        if (i - end - 1 is > 0 and <= 5 && v <= 65535) port = (ushort)v;
        return i < s.Length && s[i] == ' ' ? i : -1;
    }

    /// <summary>
    /// The port of "/IP:PORT" at the start of <paramref name="s"/>, read from the bytes in place; 0 when none. When the
    /// memo knows where the address ends (<paramref name="end"/>, its ':'), the digits after it; else the digits after
    /// the last ':' before a space, ',' or the end (an IPv6 address's own colons come before it). Out of line: only the
    /// connection ends that name a port call it, and the per-line path it would be inlined into stays smaller.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    internal static int PortOf(ReadOnlySpan<byte> s, int end)
    {
        if (end < 0 || end >= s.Length || s[end] != ':')
        {
            int stop = s.IndexOfAny((byte)' ', (byte)',');
            var a = stop < 0 ? s : s[..stop];
            end = a.LastIndexOf((byte)':');
            if (end < 0 || a.IndexOf((byte)'/') < 0) return 0;
        }
        int v = 0, i = end + 1, n = 0;
        for (; i < s.Length && n < 6; i++, n++)
        {
            uint d = (uint)(s[i] - '0');
            if (d > 9) break;
            v = v * 10 + (int)d;
        }
        return n is > 0 and <= 5 && v <= 65535 ? v : 0;
    }

    // The end of " with negotiated timeout N" at the start of <paramref name="s"/>; else -1.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int NegotiatedTimeoutEnd(ReadOnlySpan<byte> s)
    {
        if (!Starts(s, " with negotiated timeout "u8)) return -1;
        int i = 25;
        while (i < s.Length && (uint)(s[i] - '0') <= 9) i++;
        return i;
    }

    /// <summary>
    /// The address at <paramref name="at"/> in a message of <paramref name="length"/> bytes that starts
    /// <paramref name="text"/>; the memo may read the bytes after the message, not as part of it.
    /// </summary>
    /// <param name="slot">The memo's slot for the address, or -1.</param>
    /// <param name="end">Where the address text ends (relative to <paramref name="at"/>) when the memo knows it; else -1.</param>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool Address(ReadOnlySpan<byte> text, int length, int at, out NetAddress ip, out int slot, ZkAddressMemo? addresses, out int end)
    {
        if (addresses != null) return addresses.TryAddress(text[at..], length - at, out ip, out slot, out end);
        (slot, end) = (-1, -1);
        return TryAddress(text[at..length], out ip);
    }

    // "Too many connections from /IP - max is N" at offset f of the message.
    private static void Refused(ReadOnlySpan<byte> text, int length, int f, ref ZkLine r, ZkAddressMemo? addresses)
    {
        r.Kind = ZkMessageKind.Refused;
        var rest = text[(f + 26)..length];
        r.HasIp = Address(text, length, f + 26, out r.Ip, out r.AddressSlot, addresses, out int end);
        // The first " - max is " of the message: right after the address when the message starts with the refusal.
        var m = text[..length];
        int max = f is 0 or 32 && end >= 0 && rest[end..].StartsWith(" - max is "u8) ? f + 26 + end : m.IndexOf(" - max is "u8);
        if (max >= 0) r.Limit = Limit(m[(max + 10)..]);
    }

    // The number after "max is ": a few digits, read in place; anything else (a sign, more digits) as Utf8Parser reads it.
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Limit(ReadOnlySpan<byte> s)
    {
        int v = 0, i = 0;
        for (; i < s.Length && i < 5; i++)
        {
            uint d = (uint)(s[i] - '0');
            if (d > 9) break;
            v = v * 10 + (int)d;
        }
        if (i > 0 && i < 5 && (i == s.Length || (uint)(s[i] - '0') > 9)) return v;
        Utf8Parser.TryParse(s, out v, out _);
        return v;
    }

    private static ReadOnlySpan<byte> Unable => "Unable to read additional data from client"u8;

    /// <summary>
    /// "EndOfStreamException: Unable to read additional data from client sessionid 0x0, likely client has closed socket" (3.4)
    /// or "... from client, it probably closed the socket: address = /IP:PORT, session = 0x0" (3.5+). The address
    /// goes through <paramref name="addresses"/> like every other client address.
    /// </summary>
    internal static bool TryEndOfStream(ReadOnlySpan<byte> line, ref ZkLine r, ZkAddressMemo? addresses = null)
    {
        // Almost always the exception's own line; a prefixed form (a wrapped logger, a container runtime's or
        // journald's prefix, the exception's full class name) is searched for in the line's first 256 bytes.
        int u = Starts(line, "EndOfStreamException: "u8) && Starts(line[22..], Unable) ? 22 : line[..Math.Min(line.Length, 256 + Unable.Length)].IndexOf(Unable);
        if (u < 0) return false;
        EndOfStream(line[u..], ref r, addresses);
        return true;
    }

    private static void EndOfStream(ReadOnlySpan<byte> m, ref ZkLine r, ZkAddressMemo? addresses)
    {
        r.Kind = ZkMessageKind.EndOfStream;
        var rest = m[Unable.Length..];
        if (rest.StartsWith(" sessionid 0x"u8)) { r.HasSession = Hex(rest[13..], out r.Session) > 0; return; }   // 3.4
        int a = rest.IndexOf("address = "u8);                                                               // 3.5+
        if (a < 0) return;
        r.HasIp = Address(rest, rest.Length, a + 10, out r.Ip, out r.AddressSlot, addresses, out int end);
        if (r.HasIp) r.Port = (ushort)PortOf(rest[(a + 10)..], end);
        int s = rest[a..].IndexOf("session = 0x"u8);
        if (s >= 0) r.HasSession = Hex(rest[(a + s + 12)..], out r.Session) > 0;
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
        return TryIPv6(s, out ip) || Masked(s, out ip);
    }

    /// <summary>
    /// An address someone masked before sharing the log ("/10.x.x.x:2181", "/xxx.xxx.xxx.xxx", "/***.***.***.***"):
    /// all such are one client, <see cref="MaskedClient"/> (0.0.0.0, which never connects), shown as "masked".
    /// </summary>
    private static bool Masked(ReadOnlySpan<byte> s, out NetAddress ip)
    {
        ip = MaskedClient;
        int i = 0, dots = 0, masks = 0;
        for (; i < s.Length && i < 40; i++)
        {
            byte c = s[i];
            if (c == '.') dots++;
            else if (c is (byte)'x' or (byte)'X' or (byte)'*') masks++;
            else if ((uint)(c - '0') > 9) break;
        }
        return dots == 3 && masks > 0 && (i == s.Length || s[i] is (byte)':' or (byte)' ' or (byte)',' or (byte)')');
    }

    /// <summary>The one client all masked addresses are counted under.</summary>
    public static readonly NetAddress MaskedClient = NetAddress.FromIPv4(0);

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

    /// <summary>The hex number (up to 16 digits) that starts <paramref name="s"/>; returns how many digits it has.</summary>
    private static int Hex(ReadOnlySpan<byte> s, out ulong v) => Hex(s, s.Length, out v);

    /// <summary>
    /// The hex number that starts the first <paramref name="length"/> bytes of <paramref name="text"/>. When the buffer
    /// holds 16 bytes there, all are decoded at once (SSE2 only): the digits are found as a mask, each byte becomes its
    /// nibble, pairs of nibbles are packed into bytes, and the digits past the number are shifted out.
    /// </summary>
    private static int Hex(ReadOnlySpan<byte> text, int length, out ulong v)
    {
        v = 0;
        if (Vector128.IsHardwareAccelerated && BitConverter.IsLittleEndian && text.Length >= 16)
        {
            var c = Vector128.LoadUnsafe(ref MemoryMarshal.GetReference(text));
            var d = c - Vector128.Create((byte)'0');
            var x = (c | Vector128.Create((byte)0x20)) - Vector128.Create((byte)'a');
            var isDigit = Vector128.LessThan(d, Vector128.Create((byte)10));
            var isLetter = Vector128.LessThan(x, Vector128.Create((byte)6));
            int n = BitOperations.TrailingZeroCount(~(isDigit | isLetter).ExtractMostSignificantBits() | 0x10000u);
            n = Math.Min(n, length);
            if (n == 0) return 0;
            var nibbles = (d & isDigit) | ((x + Vector128.Create((byte)10)) & isLetter);
            var pairs = nibbles.AsUInt16();
            var packed = ((pairs << 4) & Vector128.Create((ushort)0xF0)) | (pairs >> 8);   // (first << 4) | second, per pair
            ulong big = Vector128.Narrow(packed, packed).AsUInt64().ToScalar();              // 16 digits as 8 bytes, first first
            v = BinaryPrimitives.ReverseEndianness(big) >> (4 * (16 - n));   // n = 16 shifts by 0
            return n;
        }
        // Near a buffer's end: the digits (at most 16, so no overflow) as Utf8Parser reads them.
        Utf8Parser.TryParse(text[..Math.Min(length, 16)], out v, out int used, 'x');
        return used;
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
