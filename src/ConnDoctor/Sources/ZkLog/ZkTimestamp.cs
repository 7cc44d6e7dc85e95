using System.Runtime.CompilerServices;

namespace ConnDoctor.Sources.ZkLog;

/// <summary>How a line's timestamp is written.</summary>
public enum ZkTimeForm : byte
{
    None,
    Date,        // 2024-01-31 12:00:00,123 (log4j ISO8601, logback, log4j2), also with '.' or no fraction
    DateT,       // 2024-01-31T12:00:00.123 with an optional zone: Z, +0000, +00:00 (log4j2/logback ISO8601 with T, Docker, kubectl)
    ShortDate,   // 15/02/13 11:59:52 (Hadoop/HBase console: yy/MM/dd HH:mm:ss)
    TimeOnly,    // 12:00:00.123 or 12:00:00,123 (logback/log4j2 console defaults, log4j ABSOLUTE): the date comes from elsewhere
    Epoch,       // milliseconds since 1970 (JSON encoders)
}

/// <summary>
/// Timestamps as log4j, logback and log4j2 layouts and container runtimes write them, found anywhere on a line.
/// Every form has "HH:mm:ss" in it, so a line is searched for its ':' (vectorised) and the digits around it checked.
/// </summary>
public static class ZkTimestamp
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static bool D(byte c) => (uint)(c - '0') <= 9;

    private static int N2(ReadOnlySpan<byte> s, int at) => (s[at] - '0') * 10 + (s[at + 1] - '0');

    /// <summary>
    /// A timestamp that starts at <paramref name="at"/>: its form, where it ends (after any fraction and zone) and
    /// its time as written (the zone is not applied: lines are compared in the log's own clock, as --since is).
    /// A time-only form gives a time on 0001-01-01.
    /// </summary>
    public static bool TryRead(ReadOnlySpan<byte> s, int at, out ZkTimeForm form, out int end, out DateTime time)
    {
        form = ZkTimeForm.None; end = at; time = default;
        if ((uint)at >= (uint)s.Length) return false;
        var l = s[at..];
        int y, mo, d, t;                       // t: where HH:mm:ss starts
        if (l.Length >= 19 && l[4] == '-' && l[7] == '-' && (l[10] == ' ' || l[10] == 'T') && D(l[0]) && D(l[1]) && D(l[2]) && D(l[3]) && D(l[5]) && D(l[6]) && D(l[8]) && D(l[9]))
        {
            y = N2(l, 0) * 100 + N2(l, 2); mo = N2(l, 5); d = N2(l, 8); t = 11;
            form = l[10] == 'T' ? ZkTimeForm.DateT : ZkTimeForm.Date;
        }
        else if (l.Length >= 17 && l[2] == '/' && l[5] == '/' && l[8] == ' ' && D(l[0]) && D(l[1]) && D(l[3]) && D(l[4]) && D(l[6]) && D(l[7]))
        {
            y = 2000 + N2(l, 0); mo = N2(l, 3); d = N2(l, 6); t = 9;
            form = ZkTimeForm.ShortDate;
        }
        else { y = 1; mo = 1; d = 1; t = 0; form = ZkTimeForm.TimeOnly; }
        if (l.Length < t + 8 || l[t + 2] != ':' || l[t + 5] != ':' || !D(l[t]) || !D(l[t + 1]) || !D(l[t + 3]) || !D(l[t + 4]) || !D(l[t + 6]) || !D(l[t + 7]))
        { form = ZkTimeForm.None; return false; }
        int h = N2(l, t), mi = N2(l, t + 3), sec = N2(l, t + 6);
        int p = t + 8, ms = 0;
        if (p + 1 < l.Length && (l[p] == ',' || l[p] == '.') && D(l[p + 1]))
        {
            int digits = 0;
            for (p++; p < l.Length && D(l[p]); p++, digits++) if (digits < 3) ms = ms * 10 + (l[p] - '0');
            for (; digits < 3; digits++) ms *= 10;
        }
        else if (form == ZkTimeForm.TimeOnly) { form = ZkTimeForm.None; return false; }   // "12:00:00" alone: too common in prefixes and messages
        if (form == ZkTimeForm.TimeOnly && at > 0 && (D(s[at - 1]) || s[at - 1] is (byte)':' or (byte)'-' or (byte)'/'))
        { form = ZkTimeForm.None; return false; }          // the middle of something else
        if (form == ZkTimeForm.DateT && p < l.Length)
        {
            if (l[p] == 'Z') p++;
            else if ((l[p] == '+' || l[p] == '-') && p + 3 <= l.Length && D(l[p + 1]) && D(l[p + 2]))
            {
                p += 3;
                if (p + 2 < l.Length + 0 && l[p] == ':' && D(l[p + 1]) && p + 2 < l.Length && D(l[p + 2])) p += 3;
                else if (p + 1 < l.Length && D(l[p]) && D(l[p + 1])) p += 2;
            }
        }
        if (mo is < 1 or > 12 || d < 1 || d > DateTime.DaysInMonth(y, mo) || h > 23 || mi > 59 || sec > 60) { form = ZkTimeForm.None; return false; }
        time = new DateTime(y, mo, d, h, mi, Math.Min(sec, 59)).AddMilliseconds(ms);
        end = at + p;
        return true;
    }

    /// <summary>
    /// The timestamp that belongs to the ZooKeeper line in <paramref name="s"/>: the first one found in its first
    /// <paramref name="limit"/> bytes, or, when another follows it after a prefix without a level (kubectl's or
    /// Docker's RFC 3339 stamp, journald's short-iso, then ZooKeeper's own), the last of those. -1 if none.
    /// </summary>
    public static int Find(ReadOnlySpan<byte> s, int limit, out ZkTimeForm form, out int end, out DateTime time)
    {
        int at = Next(s, 0, limit, out form, out end, out time);
        while (at >= 0)
        {
            // A second stamp soon after, with no level word between them: the first belonged to a prefix.
            int next = Next(s, end, Math.Min(limit, end + 96), out var f2, out int e2, out var t2);
            if (next < 0 || ZkHeader.FindLevel(s[..next], end, out _) >= 0) break;
            (at, form, end, time) = (next, f2, e2, t2);
        }
        return at;
    }

    private static int Next(ReadOnlySpan<byte> s, int from, int limit, out ZkTimeForm form, out int end, out DateTime time)
    {
        form = ZkTimeForm.None; end = 0; time = default;
        limit = Math.Min(limit, s.Length);
        for (int i = from; i < limit;)
        {
            int c = s[i..limit].IndexOf((byte)':');
            if (c < 0) return -1;
            c += i;
            // c is the first ':' of HH:mm:ss: the time starts 2 before; a date 11 (yyyy-MM-dd) or 9 (yy/MM/dd) before that.
            if (c >= 2 && c + 6 <= s.Length && s[c + 3] == ':' && D(s[c - 1]) && D(s[c - 2]))
            {
                int t = c - 2;
                if (t >= 11 && TryRead(s, t - 11, out form, out end, out time) && form is ZkTimeForm.Date or ZkTimeForm.DateT) return t - 11;
                if (t >= 9 && TryRead(s, t - 9, out form, out end, out time) && form == ZkTimeForm.ShortDate) return t - 9;
                if (TryRead(s, t, out form, out end, out time)) return t;
            }
            i = c + 1;
        }
        return -1;
    }
}
