using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;

namespace ConnDoctor.Sources.ZkLog;

/// <summary>What sits between a line's timestamp and its message: the layouts ZooKeeper servers are run with.</summary>
public enum ZkHeaderForm : byte
{
    Auto,
    Stock,          // [myid:N] - LEVEL [thread:Class@line] - message      ZooKeeper's log4j.properties / logback.xml
    LevelMessage,   // LEVEL message (Class) [thread]                        Kafka/Confluent "[%d] %p %m (%c)", Strimzi "%d %p %m (%c) [%t]"
    LevelClass,     // LEVEL org.apache.Class: message                       Cloudera "%d %p %c: %m", Hadoop/HBase "%d{yy/MM/dd HH:mm:ss} %p %c{2}: %m"
    LoggerDash,     // [thread] LEVEL logger - message                       logback "%d [%thread] %-5level %logger{36} - %msg", log4j2 "%d [%t] %-5level %logger{36} - %msg"
    Json,           // {"timestamp":...,"level":...,"logger":...,"message":...}   logback JsonEncoder/JsonLayout, logstash encoder, log4j2 JsonLayout
}

/// <summary>Where the message and the logging class are on one line.</summary>
internal struct ZkHeaderParts
{
    public ZkHeaderForm Form;
    public int Message, MessageEnd;     // the message's bytes: [Message, MessageEnd)
    public int Open, Close;             // the class or location's bytes: (Open, Close), for messages this tool does not interpret
}

/// <summary>Finds the message after a line's timestamp, for each header form. Pure over bytes.</summary>
internal static class ZkHeader
{
    /// <summary>A level word (TRACE, DEBUG, INFO, WARN, WARNING, ERROR, FATAL) as a whole word at or after <paramref name="from"/>; its index, or -1.</summary>
    public static int FindLevel(ReadOnlySpan<byte> s, int from, out int end)
    {
        end = -1;
        int limit = Math.Min(s.Length, from + 200);
        for (int i = from; i < limit; i++)
        {
            if (i > 0 && s[i - 1] is not ((byte)' ' or (byte)'[' or (byte)'\t' or (byte)'|' or (byte)']')) continue;
            int n = LevelLength(s[i..]);
            if (n > 0 && (i + n == s.Length || s[i + n] is (byte)' ' or (byte)']' or (byte)'\t' or (byte)':'))
            {
                end = i + n;
                return i;
            }
        }
        return -1;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int LevelLength(ReadOnlySpan<byte> s)
    {
        if (s.Length < 4) return 0;
        switch (s[0])
        {
            case (byte)'I': return s.StartsWith("INFO"u8) ? 4 : 0;
            case (byte)'W': return s.StartsWith("WARNING"u8) ? 7 : s.StartsWith("WARN"u8) ? 4 : 0;
            case (byte)'E': return s.StartsWith("ERROR"u8) ? 5 : 0;
            case (byte)'D': return s.StartsWith("DEBUG"u8) ? 5 : 0;
            case (byte)'T': return s.StartsWith("TRACE"u8) ? 5 : 0;
            case (byte)'F': return s.StartsWith("FATAL"u8) ? 5 : 0;
        }
        return 0;
    }

    /// <summary>
    /// The parts of the line after its timestamp (which ends at <paramref name="p"/>), in <paramref name="form"/>;
    /// Auto tries each. False if the line does not have that form.
    /// </summary>
    public static bool TryParse(ReadOnlySpan<byte> l, int p, ZkHeaderForm form, out ZkHeaderParts parts)
    {
        parts = default;
        if (p < l.Length && l[p] == ']') p++;            // Kafka's "[%d]"
        while (p < l.Length && l[p] == ' ') p++;
        switch (form)
        {
            case ZkHeaderForm.Stock: return Stock(l, p, ref parts);
            case ZkHeaderForm.LevelMessage: return LevelMessage(l, p, ref parts);
            case ZkHeaderForm.LevelClass: return LevelClass(l, p, ref parts);
            case ZkHeaderForm.LoggerDash: return LoggerDash(l, p, ref parts);
            case ZkHeaderForm.Auto:
                return Stock(l, p, ref parts) || LoggerDash(l, p, ref parts) || LevelClass(l, p, ref parts) || LevelMessage(l, p, ref parts);
        }
        return false;
    }

    // "[myid:1] - WARN  [thread:Class@123] - message", "- WARN  [...] - message", or "WARN  [...] - message"
    private static bool Stock(ReadOnlySpan<byte> l, int p, ref ZkHeaderParts r)
    {
        if (p < l.Length && l[p] == '[')
        {
            if (!l[p..].StartsWith("[myid:"u8)) return false;
            int close = p + 6;                               // "[myid:]" or "[myid:N]": a few bytes, read in place
            while (close < l.Length && l[close] != ']') close++;
            if (close >= l.Length) return false;
            p = close + 1;
            while (p < l.Length && l[p] == ' ') p++;
        }
        if (p + 2 <= l.Length && l[p] == '-' && l[p + 1] == ' ') p += 2;
        int n = p < l.Length ? LevelLength(l[p..]) : 0;
        if (n == 0) return false;
        p += n;
        while (p < l.Length && l[p] == ' ') p++;
        if (p >= l.Length || l[p] != '[') return false;
        int e = CloseDash(l, p);
        if (e < 0) return false;
        (r.Form, r.Open, r.Close, r.Message, r.MessageEnd) = (ZkHeaderForm.Stock, p, p + e, p + e + 4, l.Length);
        return true;
    }

    private const uint BracketDash = ']' | ' ' << 8 | '-' << 16 | (uint)' ' << 24;   // "] - " read as a little-endian uint

    /// <summary>
    /// The first "] - " at or after <paramref name="p"/> (relative to it), as IndexOf finds it: every ']' of the 64
    /// bytes from p is tried in order (on a ZooKeeper line the location's own, the first or second), then the rest.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int CloseDash(ReadOnlySpan<byte> l, int p)
    {
        if (!Vector128.IsHardwareAccelerated || l.Length - p < 64) return l[p..].IndexOf("] - "u8);
        ref byte b = ref Unsafe.Add(ref MemoryMarshal.GetReference(l), p);
        var v = Vector128.Create((byte)']');
        ulong mask = Vector128.Equals(Vector128.LoadUnsafe(ref b), v).ExtractMostSignificantBits()
                   | (ulong)Vector128.Equals(Vector128.LoadUnsafe(ref b, 16), v).ExtractMostSignificantBits() << 16
                   | (ulong)Vector128.Equals(Vector128.LoadUnsafe(ref b, 32), v).ExtractMostSignificantBits() << 32
                   | (ulong)Vector128.Equals(Vector128.LoadUnsafe(ref b, 48), v).ExtractMostSignificantBits() << 48;
        for (; mask != 0; mask &= mask - 1)
        {
            int i = BitOperations.TrailingZeroCount(mask);
            if (p + i + 4 > l.Length) return -1;
            if (Unsafe.ReadUnaligned<uint>(ref Unsafe.Add(ref b, i)) == BracketDash) return i;
        }
        int k = l[(p + 64)..].IndexOf("] - "u8);          // every ']' before byte 64 was tried
        return k < 0 ? -1 : 64 + k;
    }

    // "WARN message (org.apache.zookeeper.server.NIOServerCnxn)" with an optional " [thread]" after it
    private static bool LevelMessage(ReadOnlySpan<byte> l, int p, ref ZkHeaderParts r)
    {
        int n = p < l.Length ? LevelLength(l[p..]) : 0;
        if (n == 0 || (p + n < l.Length && l[p + n] != ' ')) return false;
        p += n;
        while (p < l.Length && l[p] == ' ') p++;
        int end = l.Length;
        (r.Open, r.Close) = (-1, -1);
        if (end > p && l[end - 1] == ']')
        {
            // Strimzi: "(Class) [thread]". The thread's '[' is the line's last, as a rule; else the two-byte search.
            int t = l[p..end].LastIndexOf((byte)'[');
            t = t >= 2 && l[p + t - 2] == ')' && l[p + t - 1] == ' ' ? t - 2 : l[p..end].LastIndexOf(") ["u8);
            if (t >= 0) end = p + t + 1;
        }
        if (end > p && l[end - 1] == ')' && TrailerIn64(l, p, ref end, ref r)) { }
        else if (end > p && l[end - 1] == ')')
        {
            // "(org.apache.zookeeper.server.NIOServerCnxn)": the last '(' of the message, a class name without spaces.
            int o = l[p..end].LastIndexOf((byte)'(') - 1;
            if (o >= 0 && l[p + o] == ' ' && end - 1 - (p + o + 2) is > 0 and <= 200 && l[(p + o + 2)..(end - 1)].IndexOf((byte)' ') < 0)
            {
                int dot = l[(p + o + 2)..(end - 1)].LastIndexOf((byte)'.');
                (r.Open, r.Close) = (dot >= 0 ? p + o + 2 + dot : p + o + 1, end - 1);
                end = p + o;
            }
        }
        (r.Form, r.Message, r.MessageEnd) = (ZkHeaderForm.LevelMessage, p, end);
        return true;
    }

    /// <summary>
    /// LevelMessage's " (Class)" trailer when the last '(' before <paramref name="end"/> (a ')') is among the line's 64
    /// bytes before it: the same answer as the searches below, from three masks of those bytes ('(', ' ', '.').
    /// False when that '(' is further back (or the bytes are not there): the searches then decide.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool TrailerIn64(ReadOnlySpan<byte> l, int p, ref int end, ref ZkHeaderParts r)
    {
        int w = end - 64;
        if (!Vector128.IsHardwareAccelerated || w < p) return false;
        ref byte b = ref Unsafe.Add(ref MemoryMarshal.GetReference(l), w);
        Vector128<byte> v0 = Vector128.LoadUnsafe(ref b), v1 = Vector128.LoadUnsafe(ref b, 16), v2 = Vector128.LoadUnsafe(ref b, 32), v3 = Vector128.LoadUnsafe(ref b, 48);
        ulong paren = Mask(v0, v1, v2, v3, (byte)'(');
        if (paren == 0) return false;
        int bit = 63 - BitOperations.LeadingZeroCount(paren);   // the last '(' (bit 63 is the ')')
        int q = w + bit;
        // As the searches: a ' ' before the '(' (after the message start), a class of 1 to 200 bytes without a space.
        if (q - 1 >= p && l[q - 1] == ' ' && end - 2 - q > 0 && Mask(v0, v1, v2, v3, (byte)' ') >> (bit + 1) == 0)
        {
            ulong dots = Mask(v0, v1, v2, v3, (byte)'.');
            (r.Open, r.Close) = (dots >> (bit + 1) != 0 ? w + 63 - BitOperations.LeadingZeroCount(dots) : q, end - 1);
            end = q - 1;
        }
        return true;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Mask(Vector128<byte> v0, Vector128<byte> v1, Vector128<byte> v2, Vector128<byte> v3, byte c)
    {
        var x = Vector128.Create(c);
        return Vector128.Equals(v0, x).ExtractMostSignificantBits() | (ulong)Vector128.Equals(v1, x).ExtractMostSignificantBits() << 16
             | (ulong)Vector128.Equals(v2, x).ExtractMostSignificantBits() << 32 | (ulong)Vector128.Equals(v3, x).ExtractMostSignificantBits() << 48;
    }

    // "INFO org.apache.zookeeper.server.NIOServerCnxn: message" or "INFO server.NIOServerCnxn: message"
    private static bool LevelClass(ReadOnlySpan<byte> l, int p, ref ZkHeaderParts r)
    {
        int n = p < l.Length ? LevelLength(l[p..]) : 0;
        if (n == 0 || (p + n < l.Length && l[p + n] != ' ')) return false;
        p += n;
        while (p < l.Length && l[p] == ' ') p++;
        // The logger is one word with a '.' in it, ended by ": ".
        int colon = l[p..].IndexOf((byte)':');
        if (colon <= 0 || colon > 200 || p + colon + 1 >= l.Length || l[p + colon + 1] != ' ' || l[p..(p + colon)].IndexOf((byte)' ') >= 0) return false;
        int dot = l[p..(p + colon)].LastIndexOf((byte)'.');
        if (dot < 0) return false;
        (r.Form, r.Open, r.Close, r.Message, r.MessageEnd) = (ZkHeaderForm.LevelClass, p + dot, p + colon, p + colon + 2, l.Length);
        return true;
    }

    // "[thread] LEVEL logger - message" (the thread may be missing or come after the level)
    private static bool LoggerDash(ReadOnlySpan<byte> l, int p, ref ZkHeaderParts r)
    {
        int level = FindLevel(l, p, out int q);
        if (level < 0) return false;
        while (q < l.Length && l[q] == ' ') q++;
        if (q < l.Length && l[q] == '[')                  // "LEVEL [thread] logger - message"
        {
            int close = l[q..].IndexOf("] "u8);
            if (close < 0) return false;
            q += close + 2;
        }
        int sp = l[q..].IndexOf((byte)' ');
        if (sp <= 0 || !IsClass(l[q..(q + sp)]) || !l[(q + sp)..].StartsWith(" - "u8)) return false;
        int dot = l[q..(q + sp)].LastIndexOf((byte)'.');
        (r.Form, r.Open, r.Close, r.Message, r.MessageEnd) = (ZkHeaderForm.LoggerDash, dot >= 0 ? q + dot : q - 1, q + sp, q + sp + 3, l.Length);
        return true;
    }

    /// <summary>A Java class or logger name: letters, digits, '.', '$', '_' (log4j's %C{1}@%L ends with "@123").</summary>
    private static bool IsClass(ReadOnlySpan<byte> s) => s.Length is > 0 and <= 200 && s.IndexOfAnyExcept(ClassBytes) < 0;

    private static readonly System.Buffers.SearchValues<byte> ClassBytes =
        System.Buffers.SearchValues.Create("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.$_@"u8);

    // ---- JSON encoders: one message per line --------------------------------------------------------------

    private static ReadOnlySpan<byte> Q => "\""u8;

    /// <summary>
    /// The value of the first of <paramref name="keys"/> found in the JSON object on the line: a string's bytes
    /// (still escaped) or a number's. False if none.
    /// </summary>
    public static bool JsonValue(ReadOnlySpan<byte> l, ReadOnlySpan<byte> key, out int start, out int end, out bool quoted)
    {
        start = end = -1; quoted = false;
        int from = 0;
        while (true)
        {
            int k = l[from..].IndexOf(key);
            if (k < 0) return false;
            k += from;
            int p = k + key.Length;
            from = p;
            // A key is quoted on both sides and followed by ':' (the bytes before it are the opening quote, checked by the key literal).
            while (p < l.Length && l[p] == ' ') p++;
            if (p >= l.Length || l[p] != ':') continue;
            p++;
            while (p < l.Length && l[p] == ' ') p++;
            if (p < l.Length && l[p] == '"')
            {
                int e = p + 1;
                while (e < l.Length && l[e] != '"') e += l[e] == '\\' ? 2 : 1;
                if (e > l.Length) e = l.Length;
                (start, end, quoted) = (p + 1, e, true);
                return true;
            }
            int n = p;
            while (n < l.Length && ((uint)(l[n] - '0') <= 9 || l[n] == '.')) n++;
            if (n == p) continue;
            (start, end) = (p, n);
            return true;
        }
    }

    /// <summary>A JSON string's bytes without their escapes (\" \\ \/ \n \t, \u00XX), into <paramref name="into"/>; the length.</summary>
    public static int Unescape(ReadOnlySpan<byte> s, Span<byte> into)
    {
        int n = 0;
        for (int i = 0; i < s.Length && n < into.Length; i++)
        {
            byte c = s[i];
            if (c == '\\' && i + 1 < s.Length)
            {
                byte e = s[++i];
                c = e switch { (byte)'n' => (byte)'\n', (byte)'t' => (byte)'\t', (byte)'r' => (byte)'\r', (byte)'b' => 8, (byte)'f' => 12, _ => e };
                if (e == 'u' && i + 4 < s.Length && System.Buffers.Text.Utf8Parser.TryParse(s.Slice(i + 1, 4), out ushort u, out int used, 'x') && used == 4)
                {
                    c = u < 0x80 ? (byte)u : (byte)'?';
                    i += 4;
                }
            }
            into[n++] = c;
        }
        return n;
    }
}
