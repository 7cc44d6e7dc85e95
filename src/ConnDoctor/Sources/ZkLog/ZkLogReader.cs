using System.IO.Compression;
using ConnDoctor.Model;
using Microsoft.Win32.SafeHandles;

namespace ConnDoctor.Sources.ZkLog;

/// <summary>
/// Reads ZooKeeper server logs: plain files split into regions read in parallel with pread into small buffers
/// (resident memory stays a few tens of MB whatever the file size), gzip and stdin streamed. A rotated set is read
/// in the order of each file's first timestamp.
/// </summary>
public static class ZkLogReader
{
    private const int BufferSize = 4 << 20;

    /// <param name="parts">Regions per plain file; null: regions that shrink towards the file's end (see ReadPlain). Tests force it to check that any split gives the same answer.</param>
    /// <param name="sized">Called once a plain file's size is taken, before it is read: tests truncate the file there.</param>
    /// <param name="layout">--layout: the header form every file is read with; Auto learns each file's from its first lines.</param>
    /// <param name="fromWindowStart">Start each plain file of ZooKeeper's own layout at the first message of the window (found by
    /// bisection), not at its beginning: the recent part of a large live log at the cost of that part alone (diagnose). Lines
    /// before it are not counted.</param>
    public static (ZkLogEvidence Evidence, SourceStatus Status) Read(IReadOnlyList<string> inputs, ZkLogWindow window, Func<Stream>? stdin = null, int? parts = null, Action<string>? sized = null,
                                                                     ZkHeaderForm layout = ZkHeaderForm.Auto, bool fromWindowStart = false)
    {
        var sw = System.Diagnostics.Stopwatch.StartNew();
        var ordered = Order(inputs, layout);
        // The first read counts per-minute peaks assuming lines come about in order; a log found out of order is read
        // again with exact per-minute buckets (stdin cannot be read twice: exact from the start).
        var (evidence, problems) = ReadAll(ordered, window, stdin, parts, sized, layout, exact: ordered.Contains("-"), fromWindowStart, out bool deep, out long skipped);
        if (deep) (evidence, problems) = ReadAll(ordered, window, stdin, parts, null, layout, exact: true, fromWindowStart, out _, out skipped);
        if (evidence.Lines > 0 && evidence.RecognisedLines == 0)
            throw new UserException($"{string.Join(", ", ordered)} does not look like a ZooKeeper server log: none of its {evidence.Lines} line(s) " +
                                    "has a timestamp followed by a known layout (ZooKeeper's own, Kafka, Strimzi, Cloudera, Hadoop, logback/log4j2, JSON; see --layout)");
        if (evidence.UnrecognisedLines > 0) problems.Add($"{evidence.UnrecognisedLines} line(s) not recognised");
        var status = new SourceStatus("zklog", problems.Count > 0 ? SourceState.Partial : SourceState.Ok,
            (problems.Count > 0 ? string.Join("; ", problems) + "; " : "") + $"{ordered.Count} file(s), {evidence.Lines} line(s), {evidence.Bytes} byte(s)" +
            (skipped > 0 ? $", {skipped} byte(s) before the window not read" : ""),
            (int)Math.Min(int.MaxValue, evidence.Lines), sw.Elapsed);
        return (evidence, status);
    }

    private static (ZkLogEvidence, List<string>) ReadAll(List<string> ordered, ZkLogWindow window, Func<Stream>? stdin, int? parts, Action<string>? sized,
                                                         ZkHeaderForm layout, bool exact, bool fromWindowStart, out bool deep, out long skipped)
    {
        var problems = new List<string>();
        var layouts = new List<ZkFileLayout>();
        var regions = new List<ZkLogAccumulator>();
        skipped = 0;                                        // bytes before the window, not read (fromWindowStart)
        Span<byte> trailer = stackalloc byte[4];           // a gzip file's last 4 bytes
        ZkLogEvidence evidence;
        try
        {
            foreach (var input in ordered)
            {
                if (input == "-")
                {
                    var acc = ReadStream(stdin?.Invoke() ?? Console.OpenStandardInput(), "stdin", window, problems, out _, layout, null, null, exact);
                    regions.Add(acc);
                    layouts.Add(new ZkFileLayout("stdin", acc.Layout.Describe()));
                    continue;
                }
                using var handle = OpenOrExplain(input);
                long length = RandomAccess.GetLength(handle);
                DateTime modified = File.GetLastWriteTime(input);
                if (IsGzip(handle, length))
                {
                    // .NET's GZipStream ends quietly on a cut file: compare with the size the gzip trailer records (ISIZE, mod 2^32).
                    uint isize = RandomAccess.Read(handle, trailer, length - 4) == 4 ? BitConverter.ToUInt32(trailer) : 0;
                    using var fs = new FileStream(handle, FileAccess.Read, 1, false);
                    var acc = ReadStream(new GZipStream(fs, CompressionMode.Decompress), input, window, problems, out long produced, layout, input, modified, exact);
                    if ((uint)produced != isize && !problems.Any(p => p.StartsWith(input + ":")) && !GzipMembers.LastMemberChecks(input, length, produced))
                        problems.Add($"{input}: compressed data is corrupt or truncated: {produced} byte(s) of text came out, not the size its gzip trailer records, and its last member's checksum does not match; analysed what came out");
                    regions.Add(acc);
                    layouts.Add(new ZkFileLayout(input, acc.Layout.Describe()));
                }
                else
                {
                    sized?.Invoke(input);
                    var head = new byte[DetectBytes];
                    int got = RandomAccess.Read(handle, head, 0);
                    var fileLayout = ZkLayout.Detect(head.AsSpan(0, got), input, layout, modified) ?? ZkLayout.Stock;
                    layouts.Add(new ZkFileLayout(input, fileLayout.Describe()));
                    // diagnose: from the window's start (ZooKeeper's own layout; another is read whole, the window still applies).
                    long start = fromWindowStart && fileLayout.IsStock && window.Since is DateTime since ? WindowStart(handle, length, since) : 0;
                    skipped += start;
                    // A time-only layout counts its days as it goes: one region, read in order.
                    regions.AddRange(ReadPlain(handle, start, length, input, window, fileLayout.TimeOnly ? 1 : parts, fileLayout, exact));
                    long now = RandomAccess.GetLength(handle);
                    if (now < length)
                        problems.Add($"{input}: the file shrank from {length} to {now} bytes while it was read (truncated by log rotation?); analysed what was read");
                }
            }
            evidence = Merge(regions, ordered, window, out deep) with { Layouts = layouts, TimeOnly = regions.Any(r => r.Layout.TimeOnly) };
        }
        finally { regions.ForEach(r => r.Dispose()); }   // the session maps' memory, also when a later file fails
        return (evidence, problems);
    }

    private static SafeFileHandle OpenOrExplain(string path)
    {
        try
        {
            if (Directory.Exists(path)) throw new UserException($"{path} is a directory: give the log files (e.g. {path}/zookeeper.log*)");
            return File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        }
        catch (FileNotFoundException) { throw new UserException($"cannot read {path}: no such file"); }
        catch (DirectoryNotFoundException) { throw new UserException($"cannot read {path}: no such file"); }
        catch (UnauthorizedAccessException) { throw new UserException($"cannot read {path}: permission denied"); }
        catch (IOException ex) { throw new UserException($"cannot read {path}: {ex.Message}"); }
    }

    private static bool IsGzip(SafeFileHandle h, long length)
    {
        if (length < 2) return false;
        Span<byte> magic = stackalloc byte[2];
        return RandomAccess.Read(h, magic, 0) == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
    }

    /// <summary>A rotated set (zookeeper.log, .1, .2.gz ...) in the order of each file's first timestamp; stdin stays first.</summary>
    private static List<string> Order(IReadOnlyList<string> inputs, ZkHeaderForm layout)
    {
        if (inputs.Count <= 1) return inputs.ToList();
        var keyed = new List<(string Path, string Key, int Index)>();
        for (int i = 0; i < inputs.Count; i++)
        {
            string key = inputs[i] == "-" ? "" : FirstTimestamp(inputs[i], layout) ?? "\uffff";
            keyed.Add((inputs[i], key, i));
        }
        return keyed.OrderBy(k => k.Key, StringComparer.Ordinal).ThenBy(k => k.Index).Select(k => k.Path).ToList();
    }

    private static string? FirstTimestamp(string path, ZkHeaderForm form)
    {
        try
        {
            using var handle = OpenOrExplain(path);
            long length = RandomAccess.GetLength(handle);
            using var fs = new FileStream(handle, FileAccess.Read, 1, false);
            Stream s = IsGzip(handle, length) ? new GZipStream(fs, CompressionMode.Decompress) : fs;
            var buf = new byte[DetectBytes];
            int n = s.ReadAtLeast(buf, buf.Length, throwOnEndOfStream: false);
            var layout = ZkLayout.Detect(buf.AsSpan(0, n), path, form, File.GetLastWriteTime(path));
            if (layout == null) return null;
            var lines = new ZkLayoutLine(layout);
            foreach (var range in new ReadOnlySpan<byte>(buf, 0, n).Split((byte)'\n'))
            {
                var line = new ReadOnlySpan<byte>(buf, 0, n)[range];
                if (layout.IsStock ? ZkLogLine.IsTimestamp(line) : lines.TryStart(line, out _) && lines.TryHeader(line, out _))
                    return (layout.IsStock ? ZkLogLine.Time(line) : lines.LastTime).ToString("yyyy-MM-dd HH:mm:ss.fffffff");
            }
        }
        catch (Exception ex) when (ex is IOException or InvalidDataException) { }
        return null;
    }

    private const int RegionBuffer = 256 << 10;      // per core: stays in its cache (1 MB L2 on the machines measured)
    private const int MaxLine = 32 << 20;         // a 20 MiB line (a payload logged whole) stays one line
    private const int DetectBytes = 64 << 10;     // a file's layout is learned from its first 64 KiB
    private const long LargeRegion = 256L << 20, SmallRegion = 32L << 20;

    /// <summary>
    /// Splits a large file into regions at message boundaries, handed to the cores in file order as they come free.
    /// Parts of a log differ in cost (a storm's lines are slower to read than quiet traffic), so the regions shrink
    /// towards the end of the file: each is a share of what is left (at most 256 MB, at least 32 MB), and a core
    /// that finishes early waits at most for one small region. The boundaries depend only on the file's size and
    /// the number of cores, never on timing, so a run over a file that does not change gives the same answer every
    /// time. Each region has its own counters, joined in file order.
    /// </summary>
    private static List<ZkLogAccumulator> ReadPlain(SafeFileHandle h, long start, long length, string name, ZkLogWindow window, int? forcedParts, ZkLayout layout, bool exact)
    {
        int cores = Math.Max(1, Environment.ProcessorCount);
        long size = length - start;
        var cuts = (forcedParts is int forced ? Enumerable.Range(1, Math.Max(0, forced - 1)).Select(i => size * i / forced).ToList() : Cuts(size, cores))
            .Select(c => start + c).ToList();
        int parts = cuts.Count + 1;
        // A region's boundaries are found by the thread that reads it (not all before the threads start): the first
        // thread to need one stores it, so the two regions that share it agree. Each is at least the one before it,
        // so regions never overlap, even when the file is rewritten while it is read.
        var bounds = new long[parts + 1];
        Array.Fill(bounds, -1);
        (bounds[0], bounds[parts]) = (start, length);
        long Bound(int k)
        {
            long b = Volatile.Read(ref bounds[k]);
            if (b >= 0) return b;
            b = Math.Max(NextMessageStart(h, length, cuts[k - 1], layout), k > 1 ? Bound(k - 1) : start);
            long first = Interlocked.CompareExchange(ref bounds[k], b, -1);
            return first >= 0 ? first : b;
        }
        var accs = new ZkLogAccumulator[parts];
        int next = -1;
        Exception? failed = null;
        void Work()
        {
            try
            {
                var buffer = new byte[RegionBuffer];           // one per thread, reused region after region
                var addresses = new ZkAddressMemo();            // the same
                for (int i; Volatile.Read(ref failed) == null && (i = Interlocked.Increment(ref next)) < parts;)
                {
                    var acc = accs[i] = new ZkLogAccumulator(window, addresses, layout, exact);
                    long start = Bound(i);
                    buffer = ReadRegion(h, start, Bound(i + 1), acc, name, buffer);
                    if (buffer.Length > RegionBuffer) buffer = new byte[RegionBuffer];   // grown for a long line: back to a size the cache holds
                    acc.Complete();
                }
            }
            catch (Exception ex)
            {
                Interlocked.CompareExchange(ref failed, ex, null);
            }
        }
        var threads = Enumerable.Range(1, Math.Min(cores, parts) - 1).Select(_ => new Thread(Work) { IsBackground = true, Name = "zklog" }).ToList();
        threads.ForEach(t => t.Start());
        Work();
        threads.ForEach(t => t.Join());
        if (failed != null)
        {
            foreach (var acc in accs) acc?.Dispose();
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Capture(failed).Throw();
        }
        return accs.ToList();
    }

    /// <summary>
    /// Where a file of <paramref name="length"/> bytes is cut into regions for <paramref name="cores"/> cores (before
    /// each cut moves on to a message's start): each region a share of what is left, between 32 and 256 MB, so they
    /// shrink towards the end; a file under two small regions, or one core, stays whole.
    /// </summary>
    internal static List<long> Cuts(long length, int cores)
    {
        var cuts = new List<long>();
        if (cores > 1)
            for (long at = Math.Clamp(length / (2 * cores), SmallRegion, LargeRegion); at < length - SmallRegion; at += Math.Clamp((length - at) / (2 * cores), SmallRegion, LargeRegion))
                cuts.Add(at);
        return cuts;
    }

    /// <summary>
    /// Reads [start, end) with pread into the thread's small buffer, which it returns (grown if a line needed more).
    /// Measured against mapping the page cache in place (16 MB windows): as fast or faster, because the parser then
    /// reads bytes the copy has just left in the core's cache, with half the resident memory; and a file that another
    /// process truncates meanwhile (logrotate's copytruncate) just ends the read, where a mapping would kill the
    /// process with SIGBUS. A line longer than the buffer grows it, up to <see cref="MaxLine"/>.
    /// </summary>
    private static byte[] ReadRegion(SafeFileHandle h, long start, long end, ZkLogAccumulator acc, string name, byte[] buffer)
    {
        var feeder = new LineFeeder(acc, name, start, buffer, MaxLine);
        for (long pos = start; ;)
        {
            var free = feeder.Free;
            int n = pos < end ? RandomAccess.Read(h, free[..(int)Math.Min(free.Length, end - pos)], pos) : 0;
            pos += n;
            bool last = n == 0 || pos >= end;                    // the region's end, or the file shrank
            feeder.Feed(n, last);
            if (last) return feeder.Buffer;
        }
    }

    /// <summary>
    /// Where the messages at or after <paramref name="since"/> start, or a little before: a bisection over message starts,
    /// assuming time order (a log is written in order, give or take a thread's milliseconds; the window filter still
    /// decides line by line). 0 when the file's layout has no timestamp this reader knows, or the window covers it all.
    /// </summary>
    internal static long WindowStart(SafeFileHandle h, long length, DateTime since)
    {
        var head = new byte[32];
        DateTime? TimeAt(long pos, out long at)
        {
            at = pos == 0 ? 0 : NextMessageStart(h, length, pos, ZkLayout.Stock);
            if (at >= length) return null;
            int n = RandomAccess.Read(h, head, at);
            return n >= 23 && ZkLogLine.IsTimestamp(head.AsSpan(0, n)) ? ZkLogLine.Time(head.AsSpan(0, n)) : null;
        }
        if (TimeAt(0, out _) is not DateTime first || first >= since) return 0;
        long lo = 0, hi = length;                            // lo: a message before the window; hi: at or after its start
        while (hi - lo > 64 * 1024)
        {
            long mid = lo + (hi - lo) / 2;
            var t = TimeAt(mid, out long at);
            if (t is DateTime time && time < since && at < hi) lo = at;
            else hi = mid;
        }
        return lo;
    }

    /// <summary>
    /// The first line at or after pos that starts a message (has a timestamp, where the file's layout puts it), so a
    /// region never begins inside a stack trace that belongs to the message before it.
    /// </summary>
    private static long NextMessageStart(SafeFileHandle h, long length, long pos, ZkLayout layout)
    {
        if (!layout.IsStock) return NextLayoutMessageStart(h, length, pos, layout);
        Span<byte> buf = stackalloc byte[4096];                 // a message starts within a few hundred bytes, as a rule
        long at = Math.Max(0, pos - 1);
        while (at < length)
        {
            int n = RandomAccess.Read(h, buf, at);
            if (n <= 0) break;
            var span = buf[..n];
            int i = 0;
            while (true)
            {
                int nl = span[i..].IndexOf((byte)'\n');
                if (nl < 0) { i = n; break; }                     // no newline left: all of it is read
                int start = i + nl + 1;
                if (start + 23 > n) { i += nl; break; }           // need the whole timestamp: read on from this newline
                if (ZkLogLine.IsTimestamp(span[start..])) return Math.Min(length, at + start);   // a growing log: not past what is read
                i = start;
            }
            if (n < buf.Length) break;
            at += Math.Max(1, i);
        }
        return length;
    }

    // The same for another layout: whole lines (up to 64 KiB) are checked, since the timestamp may follow a prefix.
    private static long NextLayoutMessageStart(SafeFileHandle h, long length, long pos, ZkLayout layout)
    {
        var buf = new byte[64 << 10];
        var lines = new ZkLayoutLine(layout);
        long at = Math.Max(0, pos - 1);
        while (at < length)
        {
            int n = RandomAccess.Read(h, buf, at);
            if (n <= 0) break;
            var span = buf.AsSpan(0, n);
            int i = 0;
            while (true)
            {
                int nl = span[i..].IndexOf((byte)'\n');
                if (nl < 0) break;
                int start = i + nl + 1;
                int next = span[start..].IndexOf((byte)'\n');
                if (next < 0) break;                               // the line is not all in the buffer: read on from it
                var line = span.Slice(start, next);
                if (line.Length > 0 && line[^1] == '\r') line = line[..^1];
                if (lines.TryStart(line, out _) && lines.TryHeader(line, out _)) return Math.Min(length, at + start);
                i = start;
            }
            if (n < buf.Length) break;
            at += Math.Max(1, i);
        }
        return length;
    }

    private static ZkLogAccumulator ReadStream(Stream s, string name, ZkLogWindow window, List<string> problems, out long produced,
                                               ZkHeaderForm form, string? path, DateTime? modified, bool exact)
    {
        var acc = new ZkLogAccumulator(window, exact: exact);
        long read = 0;
        var feeder = new LineFeeder(acc, name, 0, new byte[BufferSize], MaxLine);
        bool first = true;
        try
        {
            while (true)
            {
                int n;
                try
                {
                    if (first)
                    {
                        // The layout is learned from the stream's first bytes, before any is counted.
                        n = s.ReadAtLeast(feeder.Free, DetectBytes, throwOnEndOfStream: false);
                        acc.UseLayout(ZkLayout.Detect(feeder.Free[..n], path, form, modified) ?? ZkLayout.Stock);
                        first = false;
                    }
                    else n = s.Read(feeder.Free);
                }
                catch (Exception ex) when (ex is InvalidDataException or IOException)
                {
                    problems.Add($"{name}: compressed data is corrupt or truncated after {read} byte(s) of text ({ex.Message.TrimEnd('.')}); analysed what came before");
                    feeder.Feed(0, last: true);
                    break;
                }
                read += n;
                feeder.Feed(n, last: n == 0);
                if (n == 0) break;
            }
            acc.Complete();
        }
        finally { s.Dispose(); }
        produced = read;
        return acc;
    }

    /// <summary>
    /// Cuts what is read into lines and keeps the incomplete last line for the next read. A line longer than the buffer
    /// doubles it, up to <paramref name="maxLine"/>; a longer one (binary data) is taken as it is.
    /// </summary>
    private sealed class LineFeeder(ZkLogAccumulator acc, string name, long offset, byte[] buffer, int maxLine)
    {
        private byte[] _buf = buffer;
        private int _carry;
        private long _offset = offset;

        /// <summary>The buffer, grown if a line needed it: handed on to the next region.</summary>
        public byte[] Buffer => _buf;

        /// <summary>Where the next read goes, after the carried bytes.</summary>
        public Span<byte> Free => _buf.AsSpan(_carry);

        /// <summary>Folds the <paramref name="n"/> bytes just read into <see cref="Free"/>; <paramref name="last"/>: end of input.</summary>
        public void Feed(int n, bool last)
        {
            var data = acc.Feed(_buf.AsSpan(0, _carry + n), name, ref _offset);
            _carry = 0;
            if (last || data.Length == _buf.Length && _buf.Length >= maxLine)
            {
                // End of input, or a "line" longer than any buffer (binary data): take it as it is.
                if (data.Length > 0) { acc.Line(data, name, _offset); _offset += data.Length; }
                return;
            }
            if (data.Length == _buf.Length) Array.Resize(ref _buf, _buf.Length * 2);
            else data.CopyTo(_buf);
            _carry = data.Length;
        }
    }

    /// <summary>Joins the regions in order: a pending end at one region's end meets the first close of a later region.</summary>
    /// <param name="deep">A client's per-minute series stepped back further than the fast read counts exactly: read again exactly.</param>
    private static ZkLogEvidence Merge(List<ZkLogAccumulator> regions, List<string> files, ZkLogWindow window, out bool deep)
    {
        using var total = new ZkLogAccumulator(window);
        long unattributedEnds = 0, unattributedExpiries = 0;
        for (int i = 0; i < regions.Count; i++)
        {
            var r = regions[i];
            if (r.PendingEnd.Set)
            {
                // An end of stream waiting for the close that names its client: as one pass would, the first close or
                // end of stream after it decides; a region with neither passes it on.
                var next = regions.Skip(i + 1).FirstOrDefault(n => n.SawEndOrClose);
                if (next?.FirstCloseWithoutPending is NetAddress ip) r.JoinPendingEnd(ip);
                else unattributedEnds++;
            }
            unattributedEnds += r.UnattributedEnds;
            total.Lines += r.Lines; total.Bytes += r.Bytes; total.Recognised += r.Recognised;
            total.Unrecognised += r.Unrecognised; total.Outside += r.Outside;
            total.LeadingTraceLines += r.LeadingTraceLines; total.LeadingTraceBytes += r.LeadingTraceBytes; total.StepsBack += r.StepsBack;
            foreach (var (name, server) in r.Servers)
            {
                if (!total.Servers.TryGetValue(name, out var t)) total.Servers[name] = t = new ServerAcc { Name = name };
                t.Lines += server.Lines;
                if (server.Lines > 0) { t.Count(0, server.First); t.Count(0, server.Last); }
            }
            foreach (var s in r.Samples) if (total.Samples.Count < 5) total.Samples.Add(s);
            total.AcceptsLogged |= r.AcceptsLogged;
            if (r.First < total.First) total.First = r.First;
            if (r.Last > total.Last) total.Last = r.Last;
            foreach (var (ip, c) in r.Clients)
            {
                if (total.Clients.TryGetValue(ip, out var t)) t.MergeFrom(c);
                else total.Clients[ip] = c;
            }
            foreach (var (minute, m) in r.Minutes)
            {
                if (total.Minutes.TryGetValue(minute, out var t)) t.Add(m);
                else total.Minutes[minute] = m;
            }
            for (int k = 0; k < r.KindLines.Length; k++) { total.KindLines[k] += r.KindLines[k]; total.KindBytes[k] += r.KindBytes[k]; }
            foreach (var (loc, v) in r.OtherByLocation)
            {
                var t = total.OtherByLocation.GetValueOrDefault(loc);
                total.OtherByLocation[loc] = (t.Lines + v.Lines, t.Bytes + v.Bytes);
            }
            // Expiries this region could not join may belong to sessions an earlier region saw: asked of the regions
            // before it, newest first; the first that knows the session answers (its map keeps the last event).
            unattributedExpiries += r.UnattributedExpiries;
            foreach (var session in r.UnresolvedExpiries)
            {
                var state = SessionState.Unknown;
                int owner = 0, j = i - 1;
                for (; j >= 0 && state == SessionState.Unknown; j--) state = regions[j].SessionIps.Find(session, out owner);
                if (state == SessionState.Open) total.Clients[regions[j + 1].ClientList[owner].Ip].Expired++;
                else unattributedExpiries++;
            }
        }

        bool accepts = total.AcceptsLogged;
        deep = total.Clients.Values.Any(c => c.ByAccepts.Deep || c.ByEnds.Deep);
        var kinds = new List<ZkKindStats>();
        for (int k = 0; k < total.KindLines.Length; k++)
            if (total.KindLines[k] > 0 && k != (int)ZkMessageKind.Other)
                kinds.Add(new ZkKindStats(ZkMessageKinds.Name((ZkMessageKind)k), total.KindLines[k], total.KindBytes[k]));
        foreach (var (loc, v) in total.OtherByLocation) kinds.Add(new ZkKindStats("other: " + loc, v.Lines, v.Bytes));
        if (total.LeadingTraceLines > 0) kinds.Add(new ZkKindStats("other: (stack trace of a message before the file)", total.LeadingTraceLines, total.LeadingTraceBytes));
        if (total.Unrecognised > 0) kinds.Add(new ZkKindStats("unrecognised", total.Unrecognised, 0));

        return new ZkLogEvidence
        {
            Files = files,
            Lines = total.Lines,
            Bytes = total.Bytes,
            RecognisedLines = total.Recognised + total.LeadingTraceLines,
            LeadingTraceLines = total.LeadingTraceLines,
            TimeStepsBack = total.StepsBack,
            Servers = total.Servers.Count < 2 ? [] : total.Servers.Values.OrderBy(v => v.Name, StringComparer.Ordinal)
                .Select(v => new ZkServerLines(v.Name, v.Lines, v.Lines > 0 ? v.First : null, v.Lines > 0 ? v.Last : null)).ToList(),
            UnrecognisedLines = total.Unrecognised,
            UnrecognisedSamples = total.Samples,
            OutsideWindowLines = total.Outside,
            AcceptsLogged = accepts,
            First = total.First == DateTime.MaxValue ? null : total.First,
            Last = total.Last == DateTime.MinValue ? null : total.Last,
            EndsOfStreamUnattributed = unattributedEnds,
            SessionsExpiredUnattributed = unattributedExpiries,
            Clients = total.Clients.Values.Select(c => new ZkClientStats
            {
                Ip = c.Ip, Accepted = c.Accepted, EndOfStreamNoSession = c.EosNo, EndOfStreamWithSession = c.EosWith,
                ClosedNoSession = c.ClosedNo, ClosedWithSession = c.ClosedWith, Refused = c.Refused, RefusedLimit = c.Limit > 0 ? c.Limit : null,
                SessionAttempts = c.Attempts, SessionsEstablished = c.Established, SessionsExpired = c.Expired, FourLetterWords = c.Flw,
                PeakPerMinute = (accepts ? c.ByAccepts : c.ByEnds).PeakPerMinute,
                Loop = c.Loop.Stats(),
                Minutes = c.PerMinute.Counts.OrderBy(kv => kv.Key).Select(kv => new ZkClientMinute(new DateTime(kv.Key * TimeSpan.TicksPerMinute), kv.Value.Ends, kv.Value.Refused)).ToList(),
                MinutesDropped = c.PerMinute.Dropped,
                Ports = c.Ports.ToList(),
                FirstSeen = c.First, LastSeen = c.Last,
                FirstRefused = c.Refused > 0 ? c.FirstRefused : null, LastRefused = c.Refused > 0 ? c.LastRefused : null,
            }).OrderByDescending(c => c.Connections(accepts)).ThenByDescending(c => c.FourLetterWords).ThenBy(c => c.Ip.ToString(), StringComparer.Ordinal).ToList(),
            Kinds = kinds.OrderByDescending(k => k.Bytes).ThenBy(k => k.Kind, StringComparer.Ordinal).ToList(),
            Timeline = total.Minutes.OrderBy(kv => kv.Key).Select(kv => new ZkMinute
            {
                Minute = new DateTime(kv.Key * TimeSpan.TicksPerMinute), Lines = kv.Value.Lines, Bytes = kv.Value.Bytes,
                Connections = (accepts ? kv.Value.Accepted : kv.Value.Ends) + kv.Value.Refused,
                EndsOfStream = kv.Value.Ends, Refused = kv.Value.Refused,
                SessionsEstablished = kv.Value.Established, SessionsExpired = kv.Value.Expired,
            }).ToList(),
        };
    }
}
