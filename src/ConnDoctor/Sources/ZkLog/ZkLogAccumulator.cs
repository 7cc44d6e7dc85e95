using System.Numerics;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using ConnDoctor.Model;

namespace ConnDoctor.Sources.ZkLog;

/// <summary>The time window of --since/--until, compared as the log's own "yyyy-MM-dd HH:mm:ss" bytes.</summary>
public sealed record ZkLogWindow(DateTime? Since, DateTime? Until)
{
    internal readonly byte[]? SinceKey = Since is DateTime s ? System.Text.Encoding.ASCII.GetBytes(s.ToString("yyyy-MM-dd HH:mm:ss")) : null;
    internal readonly byte[]? UntilKey = Until is DateTime u ? System.Text.Encoding.ASCII.GetBytes(u.ToString("yyyy-MM-dd HH:mm:ss")) : null;

    internal bool Excludes(ReadOnlySpan<byte> line) =>
        (SinceKey != null && line[..19].SequenceCompareTo(SinceKey) < 0) || (UntilKey != null && line[..19].SequenceCompareTo(UntilKey) > 0);

    /// <summary>The same test for a time read from another layout: compared to the second, as the bytes are.</summary>
    internal bool Excludes(DateTime t)
    {
        var second = new DateTime(t.Ticks - t.Ticks % TimeSpan.TicksPerSecond);
        return (Since is DateTime s && second < s) || (Until is DateTime u && second > u);
    }
}

/// <summary>
/// Connection attempts per minute of one client, in buckets of the lines' own minutes, so that a log read out of
/// order (rotated files in the wrong order, two servers' logs concatenated, a collector's interleaving) gives the
/// same peak as the same lines in order, and a step back never adds to the minute being counted. The run of lines in
/// one minute is counted in place (one compare per line). Two modes:
/// fast (the first read): the finished runs are not kept; a line of the run before the current one (threads a few
/// milliseconds out of order at a minute's turn) is still added where it belongs, and a step back further than that
/// marks the series <see cref="Deep"/>: the reader then reads the log again in the exact mode.
/// exact: every finished run is kept, packed as minute &lt;&lt; 34 | count; the peak sorts them (the packing sorts by
/// minute) and sums equal minutes.
/// </summary>
internal struct MinuteSeries
{
    public bool Any, Deep, Disordered;
    public long FirstMin, FirstCount, PrevMin, PrevCount, CurMin, CurCount, Peak;
    public long[]? Runs;                  // exact mode: the finished runs
    public int RunCount;

    private const int CountBits = 34;
    private const long CountMask = (1L << CountBits) - 1;

    public static MinuteSeries Create(bool exact) => new() { Runs = exact ? new long[4] : null, PrevMin = long.MinValue };

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Add(long minute, long n)
    {
        if (minute == CurMin && Any) { CurCount += n; return; }
        NewRun(minute, n);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void NewRun(long minute, long n)
    {
        if (!Any) { (Any, FirstMin, FirstCount, CurMin, CurCount) = (true, minute, n, minute, n); return; }
        if (Runs != null)
        {
            Append(CurMin, CurCount);
            if (minute < CurMin) Disordered = true;
            (CurMin, CurCount) = (minute, n);
            return;
        }
        if (minute > CurMin)
        {
            if (CurCount > Peak) Peak = CurCount;
            if (CurMin == FirstMin) FirstCount = CurCount;
            (PrevMin, PrevCount, CurMin, CurCount) = (CurMin, CurCount, minute, n);
        }
        else if (minute == PrevMin)
        {
            PrevCount += n;
            if (PrevCount > Peak) Peak = PrevCount;
            if (PrevMin == FirstMin) FirstCount = PrevCount;
        }
        else
        {
            Deep = true;                      // further back: counted exactly only by the second read
            if (n > Peak) Peak = n;
        }
    }

    private void Append(long minute, long count)
    {
        if (count > Peak) Peak = count;
        if (RunCount == Runs!.Length) Array.Resize(ref Runs, RunCount * 2);
        Runs[RunCount++] = minute << CountBits | Math.Min(count, CountMask);
    }

    /// <summary>The most attempts in one minute.</summary>
    public readonly long PeakPerMinute
    {
        get
        {
            if (!Any) return 0;
            if (!Disordered) return Math.Max(Peak, CurCount);
            var all = new long[RunCount + 1];
            Array.Copy(Runs!, all, RunCount);
            all[RunCount] = CurMin << CountBits | Math.Min(CurCount, CountMask);
            Array.Sort(all);
            long peak = 0, minute = long.MinValue, sum = 0;
            foreach (long r in all)
            {
                long m = r >> CountBits;
                sum = m == minute ? sum + (r & CountMask) : r & CountMask;
                minute = m;
                peak = Math.Max(peak, sum);
            }
            return peak;
        }
    }

    /// <summary>
    /// <paramref name="a"/> then <paramref name="b"/>, read after it (the next region of the file, or the next file).
    /// A minute cut in two by the regions' boundary is joined: in order, only the last run of one and the first of
    /// the other can share one. In the fast mode a later region that starts before the earlier one ends is Deep.
    /// </summary>
    public static MinuteSeries Merge(MinuteSeries a, MinuteSeries b)
    {
        if (!a.Any) return b;
        if (!b.Any) return a;
        var m = a;
        if (a.Runs != null && b.Runs != null)
        {
            m.Append(a.CurMin, a.CurCount);
            for (int i = 0; i < b.RunCount; i++) m.Append(b.Runs[i] >> CountBits, b.Runs[i] & CountMask);
            m.Disordered = a.Disordered || b.Disordered || b.FirstMin <= a.CurMin;
            (m.CurMin, m.CurCount) = (b.CurMin, b.CurCount);
            return m;
        }
        m.Deep = a.Deep || b.Deep || b.FirstMin < a.CurMin;
        m.Peak = Math.Max(a.Peak, b.Peak);
        if (b.FirstMin == a.CurMin)
        {
            long joined = a.CurCount + (b.CurMin == b.FirstMin ? b.CurCount : b.FirstCount);
            m.Peak = Math.Max(m.Peak, joined);
            if (a.FirstMin == a.CurMin) m.FirstCount = joined;
            if (b.CurMin == b.FirstMin) { m.CurCount = joined; return m; }
            (m.PrevMin, m.PrevCount) = b.PrevMin == b.FirstMin ? (b.PrevMin, joined) : (b.PrevMin, b.PrevCount);
        }
        else
        {
            m.Peak = Math.Max(m.Peak, a.CurCount);
            (m.PrevMin, m.PrevCount) = b.PrevMin == long.MinValue ? (a.CurMin, a.CurCount) : (b.PrevMin, b.PrevCount);
        }
        (m.CurMin, m.CurCount) = (b.CurMin, b.CurCount);
        return m;
    }
}

internal sealed class ClientAcc
{
    public NetAddress Ip;
    public int Index;                        // in its reader's ClientList: what the session map stores
    public long Accepted, EosNo, EosWith, ClosedNo, ClosedWith, Refused, Attempts, Established, Expired, Flw;
    public int Limit;
    public DateTime First = DateTime.MaxValue, Last = DateTime.MinValue, FirstRefused = DateTime.MaxValue, LastRefused = DateTime.MinValue;
    public MinuteSeries ByAccepts, ByEnds;   // attempts counted from accept lines, or from ends when accepts are not logged
    public readonly LoopTracker Loop = new(); // ends in time order: runs of connections that never had a session
    public readonly ClientMinutes PerMinute = new(); // ends and refusals per minute, for the report's per-IP timelines
    public PortSample Ports;                 // the client ports of its latest connection ends, for the cross-host join

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Seen(DateTime t)
    {
        if (t < First) First = t;
        if (t > Last) Last = t;
    }

    public void MergeFrom(ClientAcc b)
    {
        Accepted += b.Accepted; EosNo += b.EosNo; EosWith += b.EosWith; ClosedNo += b.ClosedNo; ClosedWith += b.ClosedWith;
        Refused += b.Refused; Attempts += b.Attempts; Established += b.Established; Expired += b.Expired; Flw += b.Flw;
        Limit = Math.Max(Limit, b.Limit);
        if (b.First < First) First = b.First;
        if (b.Last > Last) Last = b.Last;
        if (b.FirstRefused < FirstRefused) FirstRefused = b.FirstRefused;
        if (b.LastRefused > LastRefused) LastRefused = b.LastRefused;
        ByAccepts = MinuteSeries.Merge(ByAccepts, b.ByAccepts);
        ByEnds = MinuteSeries.Merge(ByEnds, b.ByEnds);
        Loop.Append(b.Loop);
        PerMinute.MergeFrom(b.PerMinute);
        Ports.MergeFrom(b.Ports);
    }
}

/// <summary>
/// The client ports named on one IP's latest connection ends: a ring of the last <see cref="ZkClientPort.MaxSample"/>
/// the log named, each packed as milliseconds &lt;&lt; 16 | port. An end costs one store into its IP's ring, no
/// allocation past the ring's first; regions read in parallel are merged in file order (a later region's entries
/// appended after an earlier one's), which gives the sample one pass gives.
/// </summary>
internal struct PortSample
{
    private long[]? _ring;
    private ulong _added;     // ends ever added; the next goes to slot _added % MaxSample

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Add(long millis, int port) => AddPacked(millis << 16 | (uint)(ushort)port);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void AddPacked(long packed) =>
        (_ring ??= new long[ZkClientPort.MaxSample])[(int)(_added++ % ZkClientPort.MaxSample)] = packed;

    /// <summary>The entries in the order they were added, oldest first.</summary>
    private readonly long[] InOrder()
    {
        if (_ring == null) return [];
        int n = (int)Math.Min(_added, ZkClientPort.MaxSample), first = (int)(_added % ZkClientPort.MaxSample);
        var a = new long[n];
        for (int i = 0; i < n; i++) a[i] = _ring[_added <= ZkClientPort.MaxSample ? i : (first + i) % ZkClientPort.MaxSample];
        return a;
    }

    /// <summary>Appends a later region's sample after this one's.</summary>
    public void MergeFrom(PortSample b)
    {
        foreach (long packed in b.InOrder()) AddPacked(packed);
    }

    /// <summary>The sample in time order; a port named twice (3.5's end of stream, then its close) once, at its latest time.</summary>
    public readonly List<ZkClientPort> ToList()
    {
        var last = InOrder();
        if (last.Length == 0) return [];
        Array.Sort(last);
        // Newest first, each port once (at its latest time), then back to oldest first.
        Span<ushort> seen = stackalloc ushort[last.Length];
        int kept = 0;
        var list = new List<ZkClientPort>(last.Length);
        for (int i = last.Length - 1; i >= 0; i--)
        {
            ushort port = (ushort)(last[i] & 0xFFFF);
            if (seen[..kept].Contains(port)) continue;
            seen[kept++] = port;
            list.Add(new ZkClientPort(port, new DateTime((last[i] >> 16) * TimeSpan.TicksPerMillisecond)));
        }
        list.Reverse();
        return list;
    }
}

/// <summary>One client's ends of stream and refusals per minute (the HTML report draws them per IP); at most <see cref="MaxMinutes"/> minutes, later ones counted as dropped.</summary>
internal sealed class ClientMinutes
{
    public const int MaxMinutes = 50_000;   // about 35 days of minutes for one client
    public readonly Dictionary<long, (long Ends, long Refused)> Counts = new();
    public long Dropped;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Add(long minute, long ends, long refused)
    {
        if (Counts.Count >= MaxMinutes && !Counts.ContainsKey(minute)) { Dropped += ends + refused; return; }
        ref var v = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(Counts, minute, out _);
        v.Ends += ends;
        v.Refused += refused;
    }

    public void MergeFrom(ClientMinutes b)
    {
        foreach (var (m, v) in b.Counts) Add(m, v.Ends, v.Refused);
        Dropped += b.Dropped;
    }
}

/// <summary>The lines of one server in a log that mixes several.</summary>
internal sealed class ServerAcc
{
    public required string Name;
    public long Lines;
    public DateTime First = DateTime.MaxValue, Last = DateTime.MinValue;

    public void Count(long lines, DateTime t)
    {
        Lines += lines;
        if (t < First) First = t;
        if (t > Last) Last = t;
    }
}

internal sealed class MinuteAcc
{
    public long Lines, Bytes, Accepted, Ends, Refused, Established, Expired;

    public void Add(MinuteAcc b)
    {
        Lines += b.Lines; Bytes += b.Bytes; Accepted += b.Accepted; Ends += b.Ends; Refused += b.Refused;
        Established += b.Established; Expired += b.Expired;
    }
}

/// <summary>
/// Folds the lines of one region of a log into per-client counters. A message is its timestamped line plus the
/// continuation lines under it (stack traces); it is counted when the next message starts. Nothing here
/// allocates per line: clients, minutes and message locations are few.
/// </summary>
/// <param name="window">--since/--until.</param>
/// <param name="addresses">An address memo to reuse (a thread's, region after region); null: a new one.</param>
/// <param name="layout">The file's layout (<see cref="ZkLayout.Detect"/>); null: ZooKeeper's own.</param>
[SkipLocalsInit]
/// <param name="exact">Per-minute counts kept exactly for any order (a second read when the first found the log out of order).</param>
internal sealed class ZkLogAccumulator(ZkLogWindow window, ZkAddressMemo? addresses = null, ZkLayout? layout = null, bool exact = false) : IDisposable
{
    public long Lines, Bytes, Recognised, Unrecognised, Outside;
    public readonly List<string> Samples = new();
    public bool AcceptsLogged;
    public DateTime First = DateTime.MaxValue, Last = DateTime.MinValue;
    public readonly Dictionary<NetAddress, ClientAcc> Clients = new();
    public readonly List<ClientAcc> ClientList = new();
    public readonly Dictionary<long, MinuteAcc> Minutes = new();
    public readonly long[] KindLines = new long[(int)ZkMessageKind.Count], KindBytes = new long[(int)ZkMessageKind.Count];
    public readonly Dictionary<string, (long Lines, long Bytes)> OtherByLocation = new();
    public readonly SessionMap SessionIps = new();
    public readonly List<ulong> UnresolvedExpiries = new();
    public long UnattributedEnds, UnattributedExpiries;
    public long LeadingTraceLines, LeadingTraceBytes;   // a stack trace whose message is before the file's first line
    public long StepsBack;                              // messages more than a minute older than the newest before them
    public readonly Dictionary<string, ServerAcc> Servers = new();   // by "myid:N" or a container prefix's name, when lines carry one

    private ZkLayoutLine? _generic = layout is { IsStock: false } ? new ZkLayoutLine(layout) : null;
    public ZkLayout Layout { get; private set; } = layout ?? ZkLayout.Stock;

    /// <summary>Sets the layout learned from the first bytes of a stream, before they are fed.</summary>
    public void UseLayout(ZkLayout l)
    {
        Layout = l;
        _generic = l.IsStock ? null : new ZkLayoutLine(l);
    }

    // 3.4 logs "caught end of stream" without an address; the "Closed socket connection" after it names the client.
    public (bool Set, bool WithSession, ulong Session, long Minute, DateTime Time, int Milli) PendingEnd;
    public NetAddress? FirstCloseWithoutPending;   // joins a pending end left by an earlier region
    public bool SawEndOrClose;                     // else a pending end left by an earlier region passes through

    private bool _inMessage, _skip;
    private ZkLine _cur;
    private long _curBytes, _curLines, _curMinute;
    private DateTime _curTime;
    private int _curMilli;               // the timestamp's milliseconds (',SSS'), 0 when the layout has none
    private int _curLocation;            // in _locations, for a message of kind Other; -1: held, looked up in Finish
    private readonly ZkLocationCounts _locations = new();
    private ulong _lastPrefixA, _lastPrefixB, _lastPrefixC;
    private bool _lastPrefixSet;         // the words above are a timestamped line's
    private bool _lastInWindow;          // --since/--until, decided once per second of log time
    private int _bracketHint;
    private readonly ZkAddressMemo _addresses = addresses?.ForNewReader() ?? new();
    private DateTime _lastTime;
    private long _lastMinute;
    private MinuteAcc? _minuteAcc;
    private long _minuteKey = long.MinValue;

    /// <summary>
    /// Folds every complete line of <paramref name="data"/>; returns what is left after the last newline. Newlines
    /// are found 64 bytes at a time as a bit mask: for lines of ~130 bytes a call to IndexOf per line costs more in
    /// setup than in scanning. Four 16-byte vectors, not 32-byte ones: NativeAOT compiles for the x64 baseline
    /// (SSE2), where Vector256 is not accelerated and its branch is compiled out; Vector128 is accelerated on every
    /// x64 and ARM64 CPU. A stack-trace line (no timestamp) is only added to its message here, without a call.
    /// </summary>
    public ReadOnlySpan<byte> Feed(ReadOnlySpan<byte> data, string file, ref long offset)
    {
        if (offset == 0 && data.StartsWith("\uFEFF"u8))       // a UTF-8 byte order mark (Windows editors, some shippers)
        {
            Bytes += 3;
            offset += 3;
            data = data[3..];
        }
        int start = 0, i = 0;
        ref byte first = ref MemoryMarshal.GetReference(data);
        if (Vector128.IsHardwareAccelerated)
        {
            for (; i + 64 <= data.Length; i += 64)
            {
                // The newline vector is a constant of each compare, not a variable: kept in a register across the
                // inlined line code, the compiler spilled it and reloaded it from the stack every block.
                ref byte block = ref Unsafe.Add(ref first, (nuint)(uint)i);
                var e0 = Vector128.Equals(Vector128.LoadUnsafe(ref block), Vector128.Create((byte)'\n'));
                var e1 = Vector128.Equals(Vector128.LoadUnsafe(ref block, 16), Vector128.Create((byte)'\n'));
                var e2 = Vector128.Equals(Vector128.LoadUnsafe(ref block, 32), Vector128.Create((byte)'\n'));
                var e3 = Vector128.Equals(Vector128.LoadUnsafe(ref block, 48), Vector128.Create((byte)'\n'));
                if ((e0 | e1 | e2 | e3) == Vector128<byte>.Zero) continue;     // half the blocks: lines are ~150 bytes
                ulong mask = e0.ExtractMostSignificantBits() | (ulong)e1.ExtractMostSignificantBits() << 16
                           | (ulong)e2.ExtractMostSignificantBits() << 32 | (ulong)e3.ExtractMostSignificantBits() << 48;
                while (mask != 0)
                {
                    int nl = i + BitOperations.TrailingZeroCount(mask);
                    int length = nl - start;
                    // A line that cannot start a message continues the one in progress: counted inline.
                    if (_plainContinuation && (length == 0 || (uint)(Unsafe.Add(ref first, start) - '0') > 9))
                    {
                        Lines++;
                        _curLines++;
                        _curBytes += length + 1 - (length > 0 && Unsafe.Add(ref first, nl - 1) == '\r' ? 1 : 0);
                    }
                    else Line(data[start..], length, file, offset + start);
                    start = nl + 1;
                    mask &= mask - 1;
                }
            }
        }
        while (true)
        {
            int nl = data[Math.Max(start, i)..].IndexOf((byte)'\n');
            if (nl < 0) break;
            nl += Math.Max(start, i);
            LineApart(data[start..], nl - start, file, offset + start);
            start = nl + 1;
        }
        Bytes += start;
        offset += start;
        return data[start..];
    }

    /// <summary>One line without its newline: a region's last line, or a "line" longer than any buffer.</summary>
    public void Line(ReadOnlySpan<byte> line, string file, long offset)
    {
        Bytes += line.Length + 1;
        LineApart(line, line.Length, file, offset);
    }

    // The few lines outside the scan's loop: one copy of Line's code is inlined there, not three.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void LineApart(ReadOnlySpan<byte> text, int length, string file, long offset) => Line(text, length, file, offset);

    // Inside a message that is counted and awaits nothing from its next line: the state in which a continuation
    // line only adds to the message's lines and bytes.
    private bool _plainContinuation;

    /// <summary>
    /// The line that starts <paramref name="text"/> and is <paramref name="length"/> bytes long. The bytes after it
    /// (the next lines, in the same buffer) may be read ahead by the parser; they are never interpreted.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Line(ReadOnlySpan<byte> text, int length, string file, long offset)
    {
        Lines++;
        var line = text[..length];
        if (line.Length > 0 && line[^1] == '\r') line = line[..^1];
        _plainContinuation = false;
        if (_generic != null)
        {
            // A continuation line under the layout's fixed prefix, in a message that awaits nothing from it: counted
            // here, as Continue would, without the call.
            if (_inMessage && !_cur.AwaitsEndOfStream && _generic.Continues(line))
            {
                if (_skip) { Outside++; return; }
                _curBytes += line.Length + 1;
                _curLines++;
                _plainContinuation = _generic.PlainContinuation;
                return;
            }
            LayoutLine(text, line, file, offset);
            return;
        }
        if (StartsMessage(line))
        {
            Finish();
            _inMessage = true;
            if (!_lastInWindow) { _skip = true; Outside++; return; }
            _skip = false;
            ZkLogLine.ParseTimestamped(text, line.Length, ref _cur, ref _bracketHint, _addresses);
            if (_cur.Malformed || _lastTime == default)
            {
                _inMessage = false;
                Unrecognise(line, file, offset);
                return;
            }
            _curBytes = line.Length + 1;
            _curLines = 1;
            _curTime = _lastTime;
            _curMilli = Milli(line);
            _curMinute = _lastMinute;
            if (Unsafe.Add(ref MemoryMarshal.GetReference(line), 24) == '[') Myid(line);   // "[myid:N]" (bytes 24 on: the layout has been checked)
            else _msgServer = null;
            if (_cur.Kind == ZkMessageKind.Other)
            {
                if (_cur.AwaitsEndOfStream) HoldLocation(line);      // its next line almost always makes it an end of stream
                else _curLocation = _locations.Find(line, _cur.LocationOpen, _cur.LocationClose);
            }
            _plainContinuation = !_cur.AwaitsEndOfStream;
            return;
        }
        if (!_inMessage) { NotInMessage(line, file, offset); return; }
        if (_skip) { Outside++; return; }
        _curBytes += line.Length + 1;
        _curLines++;
        if (_cur.AwaitsEndOfStream && _curLines == 2 && ZkLogLine.TryEndOfStream(line, ref _cur, _addresses))
            _cur.AwaitsEndOfStream = false;
        _plainContinuation = true;
    }

    // The location of a message that awaits its next line, kept until the message turns out to be of kind Other:
    // the 80 bytes that end with its ']' (or the line's first 80), copied as five vectors. Find reads the 8 bytes
    // before the ']', which every timestamped line has.
    private const int Held = 80;
    private readonly byte[] _heldLocation = new byte[Held];
    private int _heldOpen, _heldClose;

    private void HoldLocation(ReadOnlySpan<byte> line)
    {
        int from = Math.Max(0, _cur.LocationClose + 1 - Held);
        if (from > _cur.LocationOpen || line.Length < from + Held || !Vector128.IsHardwareAccelerated)
        {
            _curLocation = _locations.Find(line, _cur.LocationOpen, _cur.LocationClose);   // a long bracket: looked up now
            return;
        }
        ref byte src = ref Unsafe.Add(ref MemoryMarshal.GetReference(line), from);
        ref byte dst = ref MemoryMarshal.GetArrayDataReference(_heldLocation);
        Vector128.LoadUnsafe(ref src).StoreUnsafe(ref dst);
        Vector128.LoadUnsafe(ref src, 16).StoreUnsafe(ref dst, 16);
        Vector128.LoadUnsafe(ref src, 32).StoreUnsafe(ref dst, 32);
        Vector128.LoadUnsafe(ref src, 48).StoreUnsafe(ref dst, 48);
        Vector128.LoadUnsafe(ref src, 64).StoreUnsafe(ref dst, 64);
        (_heldOpen, _heldClose, _curLocation) = (_cur.LocationOpen - from, _cur.LocationClose - from, -1);
    }

    /// <summary>
    /// Whether the line starts a message (has a timestamp); if so, its second is decoded unless the line before had
    /// the same one. "yyyy-MM-dd HH:mm:ss" is read as two overlapping 8-byte words and a third: most lines share the
    /// second before, and a line whose first 19 bytes equal those of the last timestamped line passes the same checks,
    /// so it is not checked again.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool StartsMessage(ReadOnlySpan<byte> line)
    {
        if (line.Length < 23) return false;
        ref byte head = ref MemoryMarshal.GetReference(line);
        ulong a = Unsafe.ReadUnaligned<ulong>(ref head), b = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref head, 8)), c = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref head, 11));
        if (a == _lastPrefixA && b == _lastPrefixB && c == _lastPrefixC && _lastPrefixSet) return true;
        if (!ZkLogLine.IsTimestamp(line)) return false;
        (_lastPrefixA, _lastPrefixB, _lastPrefixC, _lastPrefixSet) = (a, b, c, true);
        var t = ZkLogLine.Time(line);
        if (t != default && _lastTime != default && t.Ticks < _lastTime.Ticks - TimeSpan.TicksPerMinute) StepsBack++;
        _lastTime = t;
        _lastMinute = _lastTime.Ticks / TimeSpan.TicksPerMinute;
        _lastInWindow = !window.Excludes(line);
        if (_lastInWindow && _lastTime != default)
        {
            if (_lastTime < First) First = _lastTime;
            if (_lastTime > Last) Last = _lastTime;
        }
        return true;
    }

    /// <summary>
    /// A line of another layout (<see cref="ZkLayoutLine"/>): a message if a timestamp and a header are found, else a
    /// continuation line of the message before (or, with a timestamp but no header known, unrecognised). A line that
    /// <see cref="ZkLayoutLine.Continues"/> in a message that awaits nothing from it was counted by Line already.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void LayoutLine(ReadOnlySpan<byte> text, ReadOnlySpan<byte> line, string file, long offset)
    {
        var g = _generic!;
        if (g.TryStart(line, out var t))
        {
            if (!g.TryHeader(line, out var parts))
            {
                // A stack line under a prefix with its own timestamp (kubectl --timestamps, docker compose -t): part of the message.
                if (_inMessage) { Continue(line); return; }
                Finish();
                _lastPrefixSet = true;        // a timestamp was seen: the stack lines after it are not the top of the file
                Unrecognise(line, file, offset);
                return;
            }
            Finish();
            _inMessage = true;
            if (t != _lastTime || _lastTime == default)
            {
                if (_lastTime != default && t.Ticks < _lastTime.Ticks - TimeSpan.TicksPerMinute) StepsBack++;
                _lastTime = t;
                _lastMinute = t.Ticks / TimeSpan.TicksPerMinute;
                _lastInWindow = !window.Excludes(t);
                if (_lastInWindow)
                {
                    if (t < First) First = t;
                    if (t > Last) Last = t;
                }
            }
            if (!_lastInWindow) { _skip = true; Outside++; return; }
            _skip = false;
            g.Classify(text, line.Length, parts, ref _cur, _addresses);
            _curBytes = line.Length + 1;
            _curLines = 1;
            _curTime = _lastTime;
            _curMilli = g.Milli(line);
            _curMinute = _lastMinute;
            _msgServer = null;
            if (g.LastAt > 0) PrefixServer(line, g.LastAt);
            else if (parts.Form == ZkHeaderForm.Stock && g.LastEnd >= 23 && line[g.LastEnd..].StartsWith(" [myid:"u8)) Myid(line[(g.LastEnd - 23)..]);
            if (_cur.Kind == ZkMessageKind.Other)
                _curLocation = _cur.LocationOpen >= 0 ? _locations.Find(line, _cur.LocationOpen, _cur.LocationClose) : _locations.Find(NoClass, 7, NoClass.Length - 1);
            _plainContinuation = g.PlainContinuation && !_cur.AwaitsEndOfStream;
            return;
        }
        if (!_inMessage) { NotInMessage(line, file, offset); return; }
        Continue(line);
    }

    private void Continue(ReadOnlySpan<byte> line)
    {
        if (_skip) { Outside++; return; }
        _curBytes += line.Length + 1;
        _curLines++;
        if (_cur.AwaitsEndOfStream && _curLines == 2 && ZkLogLine.TryEndOfStream(line, ref _cur, _addresses))
            _cur.AwaitsEndOfStream = false;
        _plainContinuation = _generic!.PlainContinuation && !_cur.AwaitsEndOfStream;
    }

    private static ReadOnlySpan<byte> NoClass => "       (no class)]"u8;   // the location of a message whose layout names no class

    // Servers told apart by the lines themselves: "[myid:N]" or a container prefix ("zoo1  | ", stern's "pod container").
    private ServerAcc? _msgServer;
    private ulong _lastMyid;
    private ServerAcc? _lastMyidServer;
    private readonly byte[] _lastPrefix = new byte[64];
    private int _lastPrefixLength = -1;
    private ServerAcc? _lastPrefixServer;

    /// <summary>The server of a line whose bytes 24 on are "[myid:N]" (the line's timestamp is 23 bytes and a space).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Myid(ReadOnlySpan<byte> line)
    {
        if (line.Length < 33) { _msgServer = null; return; }
        ulong w = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref MemoryMarshal.GetReference(line), 25));   // "myid:N]" and a byte
        if (w == _lastMyid) { _msgServer = _lastMyidServer; return; }
        MyidChanged(line, w);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void MyidChanged(ReadOnlySpan<byte> line, ulong w)
    {
        var rest = line[24..];
        _msgServer = null;
        if (!rest.StartsWith("[myid:"u8)) return;
        int close = rest.IndexOf((byte)']');
        if (close > 40) return;
        // "[myid:]" (standalone): no server named; remembered all the same, so the next line costs one compare.
        _msgServer = _lastMyidServer = close <= 6 ? null : Server("myid:" + System.Text.Encoding.ASCII.GetString(rest[6..close]));
        _lastMyid = w;
    }

    // The whole prefix of the last line PrefixServer read (up to 16 bytes, as two words) and the server it gave: a line
    // with the same prefix gives the same server, without the search for its name.
    private ulong _pfxA, _pfxB;
    private int _pfxLength = -1;
    private ServerAcc? _pfxServer;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void PrefixServer(ReadOnlySpan<byte> line, int length)
    {
        if (length > 16 || line.Length < 16) { PrefixServer(line[..length]); return; }
        ref byte b = ref MemoryMarshal.GetReference(line);
        ulong a = Unsafe.ReadUnaligned<ulong>(ref b), c = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref b, 8));
        // The bytes past the prefix masked out: 'length' bytes of the 16 are compared.
        ulong ma = length >= 8 ? ulong.MaxValue : (1UL << (8 * length)) - 1, mc = length <= 8 ? 0 : length == 16 ? ulong.MaxValue : (1UL << (8 * (length - 8))) - 1;
        a &= ma; c &= mc;
        if (length == _pfxLength && a == _pfxA && c == _pfxB) { _msgServer = _pfxServer; return; }
        PrefixServer(line[..length]);
        (_pfxA, _pfxB, _pfxLength, _pfxServer) = (a, c, length, _msgServer);
    }

    private void PrefixServer(ReadOnlySpan<byte> prefix)
    {
        // A docker compose/swarm prefix ends with '|'; stern's is "pod container "; a collector's tab-separated columns
        // and RFC 3339 stamps are no server's name. Only the name part is kept, compared with the last line's first.
        int bar = prefix.IndexOf((byte)'|');
        if (bar <= 0) return;
        var name = prefix[..bar].TrimEnd((byte)' ');
        if (name.Length == 0 || name.Length > _lastPrefix.Length) return;
        if (name.Length == _lastPrefixLength && name.SequenceEqual(_lastPrefix.AsSpan(0, name.Length))) { _msgServer = _lastPrefixServer; return; }
        name.CopyTo(_lastPrefix);
        _lastPrefixLength = name.Length;
        _msgServer = _lastPrefixServer = Server(System.Text.Encoding.UTF8.GetString(name));
    }

    private ServerAcc Server(string name)
    {
        if (!Servers.TryGetValue(name, out var s)) Servers[name] = s = new ServerAcc { Name = name };
        return s;
    }

    /// <summary>
    /// A line before the first message of the region: the rest of a stack trace whose message is before the file (a
    /// rotated file or a cut log starts there) is counted as such; anything else is unrecognised.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void NotInMessage(ReadOnlySpan<byte> line, string file, long offset)
    {
        // No timestamp read yet: the top of the file.
        if (_lastTime == default && !_lastPrefixSet && LooksLikeTrace(line)) { LeadingTraceLines++; LeadingTraceBytes += line.Length + 1; return; }
        Unrecognise(line, file, offset);
    }

    private static bool LooksLikeTrace(ReadOnlySpan<byte> l)
    {
        var t = l.TrimStart(" \t"u8);
        if (t.StartsWith("at "u8) || t.StartsWith("Caused by: "u8) || t.StartsWith("... "u8) || t.StartsWith("Suppressed: "u8)) return true;
        // "java.io.IOException: ..." / "EndOfStreamException: ...": a class name ending in Exception or Error, then ':'
        int colon = t.IndexOf((byte)':');
        var name = colon > 0 ? t[..colon] : t;
        return name.IndexOf((byte)' ') < 0 && (name.EndsWith("Exception"u8) || name.EndsWith("Error"u8));
    }

    private void Unrecognise(ReadOnlySpan<byte> line, string file, long offset)
    {
        Unrecognised++;
        if (Samples.Count < 5)
        {
            var text = System.Text.Encoding.UTF8.GetString(line[..Math.Min(line.Length, 160)]);
            Samples.Add($"{file} @byte {offset}: {new string(text.Select(c => char.IsControl(c) ? '?' : c).ToArray())}");
        }
    }

    /// <summary>The region is read: counts the message in progress and lists the locations of Other messages.</summary>
    public void Complete()
    {
        Finish();
        // A location looked up for a message that its next line then showed to be an end of stream has no lines: not listed.
        for (int i = 0; i < _locations.Count; i++)
            if (_locations.Lines[i] > 0) OtherByLocation[_locations.Name(i)] = (_locations.Lines[i], _locations.Bytes[i]);
    }

    /// <summary>Gives back the session map's memory once the regions are joined.</summary>
    public void Dispose() => SessionIps.Dispose();

    /// <summary>Out of line: the per-line path (<see cref="Finish"/>, inlined) keeps only the test that leads here.</summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private void SamplePort(ClientAcc c) => c.Ports.Add(_curTime.Ticks / TimeSpan.TicksPerMillisecond + _curMilli, _cur.Port);

    /// <summary>Counts the message in progress. Called at each new message and at the end of the region.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private void Finish()
    {
        if (!_inMessage || _skip) { _inMessage = false; return; }
        _inMessage = false;
        Recognised += _curLines;
        if (_cur.EndOfStreamWarning && _cur.AwaitsEndOfStream) _cur.Kind = ZkMessageKind.EndOfStream;   // its stack trace was dropped: still an end of stream
        var kind = _cur.Kind;
        KindLines[(int)kind] += _curLines;
        KindBytes[(int)kind] += _curBytes;
        if (kind == ZkMessageKind.Other)
        {
            if (_curLocation < 0) _curLocation = _locations.Find(_heldLocation, _heldOpen, _heldClose);
            _locations.Lines[_curLocation] += _curLines;
            _locations.Bytes[_curLocation] += _curBytes;
        }
        var m = Minute(_curMinute);
        m.Lines += _curLines;
        m.Bytes += _curBytes;
        if (_msgServer != null) _msgServer.Count(_curLines, _curTime);
        ClientAcc? c = _cur.HasIp ? Client(_cur.Ip, _cur.AddressSlot) : null;
        c?.Seen(_curTime);
        if (_cur.Port != 0 && c != null) SamplePort(c);  // Port is set by the connection ends that name one only
        switch (kind)
        {
            case ZkMessageKind.Accepted:
                AcceptsLogged = true;
                if (c != null) { c.Accepted++; c.ByAccepts.Add(_curMinute, 1); }
                m.Accepted++;
                break;
            case ZkMessageKind.EndOfStream:
                bool with = _cur.HasSession && _cur.Session != 0;
                if (c != null) End(c, with, _cur.Session, _curMinute, m, _curTime, _curMilli);
                else
                {
                    if (PendingEnd.Set) UnattributedEnds++;
                    PendingEnd = (true, with, _cur.Session, _curMinute, _curTime, _curMilli);
                    SawEndOrClose = true;
                }
                break;
            case ZkMessageKind.ClosedNoSession:
            case ZkMessageKind.ClosedWithSession:
                if (c == null) break;
                if (kind == ZkMessageKind.ClosedNoSession) c.ClosedNo++; else c.ClosedWith++;
                if (_cur.HasSession) SessionIps.Set(_cur.Session, c.Index);
                if (PendingEnd.Set)
                {
                    End(c, PendingEnd.WithSession, PendingEnd.Session, PendingEnd.Minute, Minute(PendingEnd.Minute), PendingEnd.Time, PendingEnd.Milli);
                    PendingEnd = default;
                }
                else if (!SawEndOrClose) FirstCloseWithoutPending = c.Ip;
                SawEndOrClose = true;
                break;
            case ZkMessageKind.Refused:
                m.Refused += _cur.Count;
                if (c == null) break;
                c.Refused += _cur.Count;
                c.Limit = Math.Max(c.Limit, _cur.Limit);
                if (_curTime < c.FirstRefused) c.FirstRefused = _curTime;
                if (_curTime > c.LastRefused) c.LastRefused = _curTime;
                c.ByAccepts.Add(_curMinute, _cur.Count);
                c.ByEnds.Add(_curMinute, _cur.Count);
                c.PerMinute.Add(_curMinute, 0, _cur.Count);
                break;
            case ZkMessageKind.SessionAttempt:
                if (c != null) c.Attempts++;
                break;
            case ZkMessageKind.SessionEstablished:
                m.Established++;
                if (c != null) { c.Established++; if (_cur.HasSession) SessionIps.Set(_cur.Session, c.Index); }
                break;
            case ZkMessageKind.SessionExpired:
                m.Expired++;
                if (!_cur.HasSession) break;
                switch (SessionIps.Expire(_cur.Session, out int owner))
                {
                    case SessionState.Open: ClientList[owner].Expired++; break;
                    case SessionState.Expired: UnattributedExpiries++; break;      // expired before: nothing left to join
                    default: UnresolvedExpiries.Add(_cur.Session); break;         // maybe opened in an earlier region
                }
                break;
            case ZkMessageKind.FourLetterWord:
                if (c != null) c.Flw++;
                break;
        }
    }

    /// <summary>Counts the end of stream this region left pending for the client of a close that a later region read.</summary>
    public void JoinPendingEnd(NetAddress ip)
    {
        var c = Client(ip);
        End(c, PendingEnd.WithSession, PendingEnd.Session, PendingEnd.Minute, Minute(PendingEnd.Minute), PendingEnd.Time, PendingEnd.Milli);
        c.Seen(PendingEnd.Time);
        PendingEnd = default;
    }

    private void End(ClientAcc c, bool withSession, ulong session, long minute, MinuteAcc m, DateTime time, int milli)
    {
        if (withSession) { c.EosWith++; SessionIps.Set(session, c.Index); } else c.EosNo++;
        c.ByEnds.Add(minute, 1);
        c.PerMinute.Add(minute, 1, 0);
        c.Loop.Add(time.Ticks / TimeSpan.TicksPerMillisecond + milli, failed: !withSession);
        m.Ends++;
    }

    /// <summary>The milliseconds of "yyyy-MM-dd HH:mm:ss,SSS" (or ".SSS"); 0 for a layout without them.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int Milli(ReadOnlySpan<byte> line)
    {
        if (line.Length < 23) return 0;
        uint a = (uint)(line[20] - '0'), b = (uint)(line[21] - '0'), c = (uint)(line[22] - '0');
        return (line[19] == ',' || line[19] == '.') && a <= 9 && b <= 9 && c <= 9 ? (int)(a * 100 + b * 10 + c) : 0;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private MinuteAcc Minute(long minute)
    {
        if (minute == _minuteKey) return _minuteAcc!;
        ref var slot = ref CollectionsMarshal.GetValueRefOrAddDefault(Minutes, minute, out bool exists);
        if (!exists) slot = new MinuteAcc();
        _minuteKey = minute;
        return _minuteAcc = slot!;
    }

    // A direct-mapped cache in front of Clients: a hit is one array read and one compare, where the dictionary
    // walks buckets and entries for each of the millions of messages that name a client.
    private readonly ClientAcc?[] _clientCache = new ClientAcc?[1024];

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public ClientAcc Client(NetAddress ip)
    {
        var cached = _clientCache[ip.GetHashCode() & (1024 - 1)];
        return cached != null && cached.Ip == ip ? cached : NewOrUncachedClient(ip);
    }

    /// <summary>The client of an address the memo holds in <paramref name="slot"/>: after its first line, one array read.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ClientAcc Client(NetAddress ip, int slot)
    {
        if (slot < 0) return Client(ip);
        var known = _addresses.ClientOf(slot);
        if (known != null) return known;
        var c = Client(ip);
        _addresses.Remember(slot, c);
        return c;
    }

    private ClientAcc NewOrUncachedClient(NetAddress ip)
    {
        ref var cached = ref _clientCache[ip.GetHashCode() & (1024 - 1)];
        ref var slot = ref CollectionsMarshal.GetValueRefOrAddDefault(Clients, ip, out bool exists);
        if (!exists)
        {
            slot = new ClientAcc { Ip = ip, Index = ClientList.Count, ByAccepts = MinuteSeries.Create(exact), ByEnds = MinuteSeries.Create(exact) };
            ClientList.Add(slot);
        }
        return cached = slot!;
    }
}
