using System.Diagnostics;
using ConnDoctor.Analysis;
using ConnDoctor.Model;

namespace ConnDoctor.Sources.Watch;

public enum WatchModeChoice { Auto, Trace, Snapshot }

public sealed record WatchOptions
{
    public TimeSpan Interval { get; init; } = TimeSpan.FromSeconds(1);
    /// <summary>Null: until cancelled.</summary>
    public TimeSpan? Duration { get; init; }
    public WatchModeChoice Mode { get; init; } = WatchModeChoice.Auto;
    public CollectOptions Collect { get; init; } = new();
    public SocketFilter Filter { get; init; } = new();
}

/// <summary>What the live view gets at the end of each interval.</summary>
public sealed record WatchTick(WatchMode Mode, double ElapsedSeconds, IReadOnlyList<WatchRow> Rows, long EventsLost);

/// <summary>
/// `conndoctor watch`: follows connections as they open and close for a while and returns the watch evidence
/// plus the socket table at the end. Tracepoints through tracefs when possible, else socket-table snapshots.
/// </summary>
public static class WatchSource
{
    public static Evidence Run(WatchOptions o, Action<WatchTick>? onTick, CancellationToken cancel)
    {
        var statuses = new List<SourceStatus>();
        var startedAt = DateTimeOffset.UtcNow;
        var book = new WatchBook();
        var filter = o.Filter with { States = [] };
        WatchMode mode;
        string? reason = null;
        long lost = 0;
        int malformed = 0;
        ConnectionTracker? tracker = null;
        bool recordsTgid = false;
        string? textReason = null;
        var sw = Stopwatch.StartNew();
        var samples = new List<WatchSample>();

        TracefsSession? session = null;
        if (o.Mode != WatchModeChoice.Snapshot)
        {
            try { session = TracefsSession.Open(); }
            catch (SourceException ex) when (o.Mode == WatchModeChoice.Auto) { reason = $"tracepoints unavailable ({ex.Message}): socket-table snapshots every {Format.Duration(o.Interval)}"; }
            catch (SourceException ex) { throw new UserException($"--mode trace: {ex.Message}"); }
        }
        else reason = "snapshot mode asked for (--mode snapshot)";
        mode = session != null ? WatchMode.Trace : WatchMode.Snapshot;
        var world = new LiveWorld(o.Collect) { SavedTgid = session == null ? null : session.SavedTgid, SavedComm = session == null ? null : session.SavedComm };
        // After tracing is on: a connection is either in this table or its events are traced.
        Evidence start;
        try { start = world.Refresh(full: true); } // listeners, existing connections, CLOSE_WAIT at start
        catch { session?.Dispose(); throw; }

        try
        {
            if (session != null)
            {
                (tracker, lost, malformed) = RunTrace(session, world, book, filter, o, onTick, cancel, sw, samples);
                recordsTgid = session.RecordsTgid;
                textReason = session.TextReason;
            }
            else
                RunSnapshots(world, book, filter, o, onTick, cancel, sw, samples);
        }
        finally
        {
            session?.Dispose();
        }
        double seconds = sw.Elapsed.TotalSeconds;
        var end = world.Refresh(full: true);
        statuses.Add(new SourceStatus(mode == WatchMode.Trace ? "watch:tracepoints" : "watch:snapshots",
            mode == WatchMode.Trace && lost > 0 ? SourceState.Partial : SourceState.Ok,
            tracker != null ? TraceStatus(tracker, lost, seconds, recordsTgid) + (malformed > 0 ? $"; {malformed} trace record(s) that did not read skipped" : "") +
                (textReason != null ? $"; read as text ({textReason})" : "") + (session?.NotRemoved is { } left ? $"; {left}" : "") : reason, book.Total, sw.Elapsed));
        statuses.AddRange(end.Statuses);
        var trends = CloseWaitTrends(start, end, seconds, o.Filter);
        var watch = new WatchEvidence
        {
            Mode = mode,
            ModeReason = reason,
            StartedAt = startedAt,
            Seconds = seconds,
            IntervalSeconds = o.Interval.TotalSeconds,
            Connections = book.RecentConnections,
            Rows = book.Rows(seconds * 1000, seconds),
            CloseWait = trends,
            EventsRead = tracker?.Events ?? 0,
            EventsLost = mode == WatchMode.Trace ? lost : null,
            MalformedLines = malformed,
            GuessedOwners = tracker == null ? 0 : tracker.Guessed - tracker.Corrected,
            AttributedShare = book.AttributedShare,
            AllNetns = o.Collect.AllNetns,
            Samples = samples,
        };
        return new Evidence
        {
            Sockets = Followed(end.Sockets, o.Filter),
            Processes = end.Processes,
            Namespaces = end.Namespaces,
            Statuses = statuses,
            CollectedAt = DateTimeOffset.UtcNow,
            OwnersIncomplete = end.OwnersIncomplete,
            Watch = watch,
        };
    }

    /// <summary>What the trace read, and the connections whose owner is a guess or comes from the trace alone.</summary>
    private static string TraceStatus(ConnectionTracker t, long lost, double seconds, bool recordsTgid) =>
        $"{t.Events} events in {seconds:0.#} s" + (lost > 0 ? $", {lost} lost (the kernel's buffer overran: counts are lower bounds)" : ", none lost") +
        (t.FromThreads > 0 ? $"; {t.FromThreads} connect(s) made by a thread, named by its process" + (recordsTgid ? "" : " (the trace records no tgid here: read from /proc)") : "") +
        (t.TaskIdOnly > 0 ? $"; {t.TaskIdOnly} connect(s) of tasks gone before their process could be known, named by the task id (possibly a thread's)" : "") +
        (t.Guessed > 0 ? $"; {t.Guessed} connection(s) joined to their connect() by a guess (concurrent connects to one destination), {t.Corrected} corrected from the socket table" : "") +
        (t.ExitedOwners > 0 ? $"; {t.ExitedOwners} connection(s) of processes that had exited before /proc could be read, named by the trace's pid and command only" : "") +
        (t.ExitedLeftOut > 0 ? $"; {t.ExitedLeftOut} connect(s) of processes that had exited before /proc could be read were left out: their namespace is unknown (watch without --netns to keep them)" : "");

    private static (ConnectionTracker Tracker, long Lost, int Malformed) RunTrace(TracefsSession session, LiveWorld world, WatchBook book, SocketFilter filter,
        WatchOptions o, Action<WatchTick>? onTick, CancellationToken cancel, Stopwatch sw, List<WatchSample> samples)
    {
        var tracker = new ConnectionTracker(world, book) { Filter = filter.IsEmpty ? null : filter.Matches, StartOffsetMs = 0 };
        double nextTick = o.Interval.TotalSeconds, nextRefresh = Math.Max(5, o.Interval.TotalSeconds);
        bool first = true;
        long lostAtStart = session.LostEvents();
        var reader = session.Reader;
        TraceEventHandler handle = (in TraceEvent ev) =>
        {
            if (first) { first = false; tracker.StartOffsetMs = sw.Elapsed.TotalMilliseconds; }
            tracker.Handle(ev);
        };
        while (!cancel.IsCancellationRequested && (o.Duration is not TimeSpan d || sw.Elapsed < d))
        {
            if (reader.ReadSome(handle) < TraceReader.BacklogBytes) cancel.WaitHandle.WaitOne(Math.Min(TraceReader.PollMs, (int)Math.Max(1, o.Interval.TotalMilliseconds / 4)));
            double now = sw.Elapsed.TotalSeconds;
            if (now >= nextRefresh) { world.Refresh(full: false); nextRefresh = now + Math.Max(5, o.Interval.TotalSeconds); }
            if (now >= nextTick)
            {
                if (tracker.HasUnverified) { world.Refresh(full: true); tracker.Verify(world.Existing); }
                book.Tick();
                samples.Add(book.Sample(now * 1000));
                tracker.Prune(now * 1000);
                onTick?.Invoke(new WatchTick(WatchMode.Trace, now, book.Rows(now * 1000, now, true, o.Interval.TotalSeconds), session.LostEvents() - lostAtStart));
                nextTick += o.Interval.TotalSeconds;
            }
        }
        // Drain what is already in the buffer so the last events count (bounded: a storm would never let it end).
        var drainUntil = sw.Elapsed + TimeSpan.FromMilliseconds(500);
        while (sw.Elapsed < drainUntil && reader.ReadSome(handle) > 0) { }
        if (tracker.HasUnverified) { world.Refresh(full: true); tracker.Verify(world.Existing); }
        return (tracker, session.LostEvents() - lostAtStart, reader.Malformed);
    }

    /// <summary>
    /// Snapshot diffing: a socket seen for the first time is an open, one that disappeared is a close. A TIME_WAIT
    /// socket (no inode, no owner) is given the owner seen for its 4-tuple while it was ESTABLISHED, else its uid.
    /// </summary>
    private static void RunSnapshots(LiveWorld world, WatchBook book, SocketFilter filter, WatchOptions o, Action<WatchTick>? onTick,
        CancellationToken cancel, Stopwatch sw, List<WatchSample> samples)
    {
        var live = new Dictionary<(ulong, NetEndpoint, NetEndpoint), WatchConnection>();
        bool first = true;
        while (true)
        {
            var snap = world.Refresh(full: true);
            double ms = sw.Elapsed.TotalMilliseconds;
            var seen = new HashSet<(ulong, NetEndpoint, NetEndpoint)>();
            foreach (var s in snap.Sockets)
            {
                if (s.State is TcpState.Listen or TcpState.Close) continue;
                var ns = snap.Namespaces[s.NetnsIndex];
                var key = (ns.Inode, s.Local, s.Remote);
                seen.Add(key);
                var owner = s.OwnerPid;
                if (!live.TryGetValue(key, out var c))
                {
                    var p = owner is int pid && snap.Processes.TryGetValue(pid, out var pr) ? pr : null;
                    bool passive = world.IsListening(ns.Inode, s.Local.Port);
                    c = new WatchConnection
                    {
                        Local = s.Local, Remote = s.Remote, Passive = passive,
                        Owner = ConnectionOwner.OfTableSocket(s, owner, p, ns),
                        OpenedMs = first ? null : ms, FirstSeenMs = ms, State = s.State,
                    };
                    if (!filter.IsEmpty && !filter.Matches(c)) continue;
                    book.Open(c);
                    live[key] = c;
                }
                else if (c.Pid == null && owner is int pid2)
                    book.Reattribute(c, pid2, snap.Processes.TryGetValue(pid2, out var pr2) ? pr2.Name : null, pr2?.CommandLine);
                if (c.ClosedBy == ClosedBy.Unknown)
                    c.ClosedBy = s.State switch
                    {
                        TcpState.FinWait1 or TcpState.FinWait2 or TcpState.TimeWait or TcpState.Closing => ClosedBy.Local,
                        TcpState.CloseWait or TcpState.LastAck => ClosedBy.Peer,
                        _ => ClosedBy.Unknown,
                    };
                c.State = s.State;
                c.LastRecvQueue = s.RecvQueue;
            }
            foreach (var (key, c) in live.Where(kv => !seen.Contains(kv.Key)).ToList())
            {
                live.Remove(key);
                book.Close(c, ms);
            }
            first = false;
            double now = sw.Elapsed.TotalSeconds;
            book.Tick();
            samples.Add(book.Sample(now * 1000));
            onTick?.Invoke(new WatchTick(WatchMode.Snapshot, now, book.Rows(now * 1000, now, true, o.Interval.TotalSeconds), 0));
            if (o.Duration is TimeSpan d && sw.Elapsed >= d) break;
            var wait = o.Interval;
            if (o.Duration is TimeSpan d2 && sw.Elapsed + wait > d2) wait = d2 - sw.Elapsed;
            if (cancel.WaitHandle.WaitOne(wait < TimeSpan.Zero ? TimeSpan.Zero : wait)) break;
        }
    }

    /// <summary>
    /// The sockets of the table that the filter follows (--pid, --port, --remote, ...): the findings, and --fail-on, are
    /// about those only. Listeners stay whatever the filter: they tell a server's accepted sockets from a client's.
    /// </summary>
    private static IReadOnlyList<SocketRecord> Followed(IReadOnlyList<SocketRecord> all, SocketFilter filter) =>
        filter.IsEmpty ? all : all.Where(s => s.State == TcpState.Listen || filter.Matches(s)).ToList();

    internal static List<CloseWaitTrend> CloseWaitTrends(Evidence start, Evidence end, double seconds, SocketFilter filter)
    {
        Dictionary<(string, int?), (int Count, string? Name)> Count(Evidence e) =>
            e.SocketsIn(TcpState.CloseWait).Where(s => filter.IsEmpty || filter.Matches(s))
                .GroupBy(s => (e.NetnsOf(s).Label, Pid: s.OwnerPid))
                .ToDictionary(g => g.Key, g => (g.Count(), g.Key.Pid is int p && e.Processes.TryGetValue(p, out var pr) ? pr.Name : null));
        var a = Count(start);
        var b = Count(end);
        return a.Keys.Union(b.Keys)
            .Select(k => new CloseWaitTrend(k.Item2, b.GetValueOrDefault(k).Name ?? a.GetValueOrDefault(k).Name, k.Item1,
                a.GetValueOrDefault(k).Count, b.GetValueOrDefault(k).Count, seconds))
            .ToList();
    }
}
