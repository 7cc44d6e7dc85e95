using System.Diagnostics;
using ConnDoctor.Model;
using ConnDoctor.Pipeline;
using ConnDoctor.Rules;
using ConnDoctor.Sources;
using ConnDoctor.Sources.AppLog;
using ConnDoctor.Sources.Discovery;
using ConnDoctor.Sources.Watch;

namespace ConnDoctor.Agent;

public sealed record AgentOptions
{
    /// <summary>Every network namespace by default.</summary>
    public CollectOptions Collect { get; init; } = new() { AllNetns = true };
    public DiscoveryOptions Discovery { get; init; } = new();
    /// <summary>One collection: a watch segment of this length, then the polls.</summary>
    public TimeSpan Interval { get; init; } = TimeSpan.FromSeconds(15);
    /// <summary>The rules look at the segments of this sliding window.</summary>
    public TimeSpan Window { get; init; } = TimeSpan.FromMinutes(5);
    public int TopK { get; init; } = 50;
    /// <summary>A counter series of a process gone this long is removed.</summary>
    public TimeSpan SeriesExpiry { get; init; } = TimeSpan.FromSeconds(60);
    /// <summary>
    /// Connection records kept in the window (the most recent; the oldest are dropped and counted). The window's counts do
    /// not depend on it (they come from per-row tallies): the records are for the TIME_WAIT owners, the cross-host port
    /// lookup and the evidence document. 10,000 records are 2.4 MB (240 B each), held about twice (the segments' and the
    /// published window's copies on its clock); docs/agent.md says why this size.
    /// </summary>
    public int MaxTrackedConnections { get; init; } = DefaultMaxTrackedConnections;
    public const int DefaultMaxTrackedConnections = 10_000;
    public RuleOptions Rules { get; init; } = new();
    /// <summary>
    /// The published state keeps the whole socket table and the window's connection records (for /evidence: --serve-evidence).
    /// False (the default): it keeps what /metrics, /findings and the next CLOSE_WAIT trend need, so the next collection's
    /// table and window are never built beside them.
    /// </summary>
    public bool KeepSocketTable { get; init; }
}

/// <summary>
/// What a scrape reads: the state built by the last collection, immutable, swapped in whole. Its evidence holds the socket
/// table and the window's connection records only when <see cref="AgentOptions.KeepSocketTable"/> (the metrics and report
/// were built from all of them).
/// </summary>
public sealed record AgentState(Evidence Evidence, DiagnoseReport? Report, IReadOnlyList<MetricFamily> Families, DateTimeOffset At);

/// <summary>
/// The agent's collection loop on its own thread. One tracepoint session runs for the agent's life
/// (<see cref="ContinuousWatch"/>, its own thread); every interval its bookkeeping is cut into a segment without stopping
/// the trace, then the socket table of every namespace, discovery, the ZooKeeper servers' logs and polls
/// (<see cref="HostCollector"/>) are read beside it, then the rules run over the sliding window and the metrics are
/// built. Without tracefs each interval is a socket-table snapshot watch of its own. A scrape never
/// waits on a collection: it reads the last <see cref="AgentState"/>. Whatever a source throws is a status; the loop
/// keeps going with the next interval. Read-only: it never touches a connection.
/// </summary>
public sealed class AgentLoop : IDisposable
{
    private readonly AgentOptions _o;
    private readonly ConnectionCounters _counters;
    private readonly SegmentWindow _segments;
    private readonly CancellationTokenSource _stop = new();
    private Thread? _thread;
    private AgentState? _state;
    private long _lost, _dropped;
    public int Collections { get; private set; }
    private ContinuousWatch? _watch;
    private string? _watchReason;
    private readonly Stopwatch _sinceCut = new();
    private Evidence? _lastTable;
    // The socket table's owners between collections: /proc/*/fd is walked again only for processes whose files changed.
    private readonly SocketOwnerCache _owners = new();
    // The blamed processes' logs: looked for and read again once a minute, not every interval (a finding about 100k idle
    // connections blames the same holders every time, each with 16k descriptors to read the links of).
    private readonly AppLogCache _appLogs = new(TimeSpan.FromMinutes(1));
    private CollectOptions CollectWithCaches => _o.Collect with { OwnerCache = _owners, AppLogCache = _appLogs };

    public AgentLoop(AgentOptions o)
    {
        _o = o;
        _counters = new ConnectionCounters(Math.Max(4 * o.TopK, 16), o.SeriesExpiry);
        _segments = new SegmentWindow(o.Window, o.MaxTrackedConnections);
        _state = new AgentState(new Evidence { Statuses = [new SourceStatus("collect", SourceState.Partial, "first collection under way")], CollectedAt = DateTimeOffset.UtcNow },
            null, AgentMetrics.Build(new Evidence { Statuses = [], CollectedAt = DateTimeOffset.UtcNow }, null, _counters, o.TopK,
                new AgentSelfStats { CollectedAt = DateTimeOffset.UtcNow }), DateTimeOffset.UtcNow);
    }

    public AgentState State => Volatile.Read(ref _state)!;

    public void Start()
    {
        _thread = new Thread(Run) { IsBackground = true, Name = "agent-collect" };
        _thread.Start();
    }

    private static readonly string? AfterCollectionGc = Environment.GetEnvironmentVariable("CONNDOCTOR_AGENT_GC");

    private void Run()
    {
        var cancel = _stop.Token;
        // Tracepoints when they can be had (one session for the agent's life); else each interval is a snapshot watch.
        if (_o.Collect.IsLiveProc)
        {
            _watch = ContinuousWatch.TryStart(_o.Collect, _o.MaxTrackedConnections, out _watchReason);
            _sinceCut.Start();
        }
        while (!cancel.IsCancellationRequested)
        {
            var sw = Stopwatch.StartNew();
            try
            {
                Collect(cancel);
                // The collection's table and everything built from it are garbage now (the published state keeps none of it): one
                // blocking full GC here, on the thread that made it, frees it at once instead of letting a dead table be promoted
                // to gen2 and kept resident until the GC's budget runs out. Measured at 1k conn/s beside 125k sockets (docs/agent.md,
                // Overhead): sweep (default) 3.1% of a core, 114 MB; aggressive (compacting, memory returned) 4.7%, 103 MB; none
                // 3.0%, 124 MB. CONNDOCTOR_AGENT_GC=aggressive|compact|sweep|none chooses.
                switch (AfterCollectionGc)
                {
                    case "none": break;
                    case "compact": GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true); break;
                    case "aggressive": GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true); break;
                    default: GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: false); break;
                }
            }
            catch (OperationCanceledException) when (cancel.IsCancellationRequested) { return; }
            catch (Exception ex)
            {
                // Whatever a source did, the metrics say so and the next interval tries again.
                var failed = new SourceStatus("collect", SourceState.Failed, ex is UserException or SourceException ? ex.Message : $"{ex.GetType().Name}: {ex.Message}", 0, sw.Elapsed);
                var old = State;
                Publish(old.Evidence with { Statuses = [.. old.Evidence.Statuses.Where(s => s.Source != "collect"), failed] }, old.Report, []);
                cancel.WaitHandle.WaitOne(_o.Interval);
            }
        }
    }

    /// <summary>One collection: a watch segment of one interval and every other source, then the window's rules.</summary>
    internal void Collect(CancellationToken cancel)
    {
        var sw = Stopwatch.StartNew();
        var host = new HostOptions
        {
            Collect = CollectWithCaches,
            Discovery = _o.Discovery,
            Since = DateTime.Now - _o.Window,
            Watch = _o.Interval,
            WatchInterval = _o.Interval < TimeSpan.FromSeconds(5) ? _o.Interval : TimeSpan.FromSeconds(5),
        };
        Evidence ev;
        if (_watch != null)
        {
            // One trace for the agent's life: wait out the interval, cut the segment (the trace keeps running), then
            // read the tables and poll beside it.
            var wait = _o.Interval - _sinceCut.Elapsed;
            if (wait > TimeSpan.Zero && cancel.WaitHandle.WaitOne(wait)) return;
            WatchEvidence? seg = null;
            SourceStatus watchStatus;
            var cutAt = Stopwatch.StartNew();
            try
            {
                seg = _watch.Rotate(TimeSpan.FromSeconds(10));
                watchStatus = new SourceStatus("watch:tracepoints", seg.EventsLost > 0 ? SourceState.Partial : SourceState.Ok,
                    $"{seg.EventsRead} events in {seg.Seconds:0.#} s" + (seg.EventsLost > 0 ? $", {seg.EventsLost} lost (the kernel's buffer overran: counts are lower bounds)" : ", none lost") +
                    " (one continuous trace, cut per interval)", seg.Connections.Count, cutAt.Elapsed);
            }
            catch (SourceException ex) { watchStatus = new SourceStatus("watch:tracepoints", SourceState.Failed, ex.Message); }
            _sinceCut.Restart();
            ev = HostCollector.Collect(host with { Watch = null }, null, cancel);
            if (cancel.IsCancellationRequested) return;
            if (seg != null && _lastTable != null)
                seg = seg with { CloseWait = WatchSource.CloseWaitTrends(_lastTable, ev, seg.Seconds, new ConnDoctor.Analysis.SocketFilter()) };
            // The next trend needs only this table's CLOSE_WAIT sockets: the rest (100k sockets on a busy host) is not kept twice.
            _lastTable = ev with { Sockets = ev.SocketsIn(TcpState.CloseWait) };
            ev = ev with { Watch = seg, Statuses = [watchStatus, .. ev.Statuses] };
        }
        else ev = HostCollector.Collect(host, null, cancel);
        if (cancel.IsCancellationRequested) return;
        var now = DateTimeOffset.UtcNow;
        if (ev.Watch is { } w)
        {
            _lost += w.EventsLost ?? 0;
            _counters.PortRanges = ev.Namespaces.GroupBy(n => n.Inode).ToDictionary(g => g.Key, g => g.First().Sysctls);
            // Exact whatever the segment kept: its book counted every event into its rows' tallies.
            _counters.Add(w.Rows, (pid, pod) => pid is int p && ev.Processes.TryGetValue(p, out var pr) ? AgentMetrics.PodOf(pr, null) : pod ?? "", now);
            _segments.Add(w, now);
        }
        _counters.Expire(now);
        // The whole window's segments (counts exact); at most MaxTrackedConnections connection records, the rest counted as dropped.
        _segments.Expire(now);
        _dropped = _segments.Dropped;
        var window = _segments.Build();
        var windowEvidence = ev with { Watch = window };
        // The document collect writes: who and where (the window's start and end as the collection's), the blamed processes' logs.
        windowEvidence = windowEvidence with { Identity = HostIdentitySource.Read(_o.Collect.ProcRoot, ev.Namespaces, window?.StartedAt ?? now - _o.Interval, now).Identity };
        DiagnoseReport? report = null;
        var extra = new List<SourceStatus>();
        try
        {
            (windowEvidence, report) = HostDiagnosis.Diagnose(windowEvidence, _o.Rules, [], _o.Discovery.ZkServers.Select(e => (int)e.Port), ReadAppLogs);
            extra.Add(new SourceStatus("rules", SourceState.Ok, $"{report.Findings.Count} finding(s) over {_segments.Count} segment(s)", report.Findings.Count));
        }
        catch (Exception ex) when (ex is not OperationCanceledException)
        {
            extra.Add(new SourceStatus("rules", SourceState.Failed, $"{ex.GetType().Name}: {ex.Message}"));
        }
        extra.Add(new SourceStatus("collect", SourceState.Ok, null, 0, sw.Elapsed));
        Publish(windowEvidence with { Statuses = [.. windowEvidence.Statuses, .. extra] }, report, []);
        Collections++;
    }

    /// <summary>
    /// As collect: the own logs of the processes a finding blames, and those of the window's busiest churners (for a
    /// finding on another host that points here); the report quotes the blamed ones only.
    /// </summary>
    private (AppLogEvidence?, SourceStatus) ReadAppLogs(IReadOnlyList<int> blamed, Evidence ev)
    {
        var since = DateTime.Now - _o.Window;
        var (logs, status) = HostDiagnosis.ReadBlamedLogs(CollectWithCaches, blamed, ev, since);
        return (HostCollection.WithChurnerLogs(ev with { AppLogs = logs }, CollectWithCaches, since), status);
    }

    private void Publish(Evidence e, DiagnoseReport? report, IReadOnlyList<SourceStatus> extra)
    {
        var self = new AgentSelfStats
        {
            TraceEventsLost = _lost,
            TrackedConnections = e.Watch?.Connections.Count ?? 0,
            TrackedConnectionsDropped = _dropped,
            Extra = extra,
            CollectedAt = DateTimeOffset.UtcNow,
        };
        var families = AgentMetrics.Build(e, report, _counters, _o.TopK, self);
        // 125k sockets are ~30 MB of objects, the window's 10,000 connection records (copies on its clock) 2.4 MB: held only for
        // /evidence, else they go before the next collection builds its own (the segments keep the records the next window needs).
        if (!_o.KeepSocketTable && (e.Sockets.Count > 0 || e.Watch?.Connections.Count > 0))
            e = e with { Sockets = [], Watch = e.Watch == null ? null : e.Watch with { Connections = [] } };
        Volatile.Write(ref _state, new AgentState(e, report, families, self.CollectedAt));
    }

    public void Dispose()
    {
        _stop.Cancel();
        // The watch ends within its poll step and removes its trace instance; a ZooKeeper poll within its timeout.
        _thread?.Join(TimeSpan.FromSeconds(15));
        _watch?.Dispose();
        _stop.Dispose();
    }
}
