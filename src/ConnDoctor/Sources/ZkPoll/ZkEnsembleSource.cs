using System.Diagnostics;
using ConnDoctor.Analysis;
using ConnDoctor.Model;

namespace ConnDoctor.Sources.ZkPoll;

public sealed record ZkOptions
{
    public required IReadOnlyList<ZkMember> Members { get; init; }
    /// <summary>Per command: one four-letter word, one AdminServer request, one step of our own client.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(3);
    /// <summary>Null: one poll. Otherwise poll every Interval for this long (or until cancelled).</summary>
    public TimeSpan? Watch { get; init; }
    public TimeSpan Interval { get; init; } = TimeSpan.FromSeconds(5);
    /// <summary>--path: list the ephemeral nodes under this path with our own client.</summary>
    public string? Path { get; init; }
    public int PathDepth { get; init; } = 1;
}

/// <summary>What the live view gets after each poll of a --watch.</summary>
/// <param name="Previous">The members at the poll before (empty at the first), so that a view can say what changed.</param>
public sealed record ZkTick(double ElapsedSeconds, int Polls, IReadOnlyList<ZkServerInfo> Servers, IReadOnlyList<ZkClientGrowth> Growth,
    IReadOnlyList<ZkServerInfo> Previous);

/// <summary>
/// `conndoctor zk`: polls every member of the ensemble (in parallel, each command bounded by the timeout),
/// once or for a --watch, and returns the ensemble evidence with one source status per member.
/// </summary>
public static class ZkEnsembleSource
{
    public static Evidence Run(ZkOptions o, Action<ZkTick>? onTick, CancellationToken cancel)
    {
        var sw = Stopwatch.StartNew();
        var tracker = new ZkGrowthTracker();
        RefuseSameServerTwice(o);          // once: the names resolve the same way at every poll of a watch
        IReadOnlyList<ZkServerInfo> servers = PollAll(o);
        tracker.Add(0, servers);
        double lastPollAt = 0;
        if (o.Watch is TimeSpan watch)
        {
            onTick?.Invoke(new ZkTick(sw.Elapsed.TotalSeconds, tracker.Polls, servers, tracker.Growth(), []));
            // Bounded: at most watch/interval polls (+1), each bounded by the per-command timeouts.
            long maxPolls = (long)Math.Ceiling(watch / o.Interval) + 1;
            for (long n = 1; n < maxPolls && !cancel.IsCancellationRequested; n++)
            {
                var next = o.Interval * n;
                var wait = next - sw.Elapsed;
                if (next > watch) wait = watch - sw.Elapsed;
                if (wait > TimeSpan.Zero && cancel.WaitHandle.WaitOne(wait)) break;
                if (sw.Elapsed > watch + o.Interval) break;
                lastPollAt = sw.Elapsed.TotalSeconds; // when the poll started, as for the first one at 0
                var previous = servers;
                servers = PollAll(o);
                tracker.Add(lastPollAt, servers);
                onTick?.Invoke(new ZkTick(sw.Elapsed.TotalSeconds, tracker.Polls, servers, tracker.Growth(), previous));
                if (sw.Elapsed >= watch) break;
            }
        }

        // What the growth rates cover: up to the last poll (not the --path listing after it).
        double seconds = Math.Round(o.Watch != null ? lastPollAt : sw.Elapsed.TotalSeconds, 1);
        var statuses = servers.Select(s => new SourceStatus($"zk:{s.Member}", s.State, s.Reason, s.Connections?.Count ?? 0, s.Duration)).ToList();
        List<ZkPathNode> nodes = [];
        if (o.Path != null)
        {
            var (found, status) = ZkPathLister.List(o, servers);
            nodes = found;
            statuses.Add(status);
        }
        if (tracker.SkippedSteps > 0)
            statuses.Add(new SourceStatus("zk:watch", SourceState.Partial,
                $"{tracker.SkippedSteps} step(s) between polls not compared for opened/closed sessions: the set of members that answered changed", tracker.Polls));
        var ensemble = new ZkEnsembleEvidence
        {
            Members = o.Members.Select(m => m.Text).ToList(),
            Servers = servers,
            Clients = ZkViews.ClientsPerServer(servers),
            Watched = o.Watch != null,
            Seconds = seconds,
            IntervalSeconds = o.Interval.TotalSeconds,
            Polls = tracker.Polls,
            Growth = o.Watch != null ? tracker.Growth() : [],
            CounterDeltas = o.Watch != null ? tracker.CounterDeltas() : [],
            MemberChurn = o.Watch != null ? tracker.MemberChurn() : [],
            Path = o.Path,
            PathNodes = nodes,
            EphemeralsKnown = servers.Any(s => s.Ephemerals != null),
        };
        return new Evidence { Statuses = statuses, CollectedAt = DateTimeOffset.UtcNow, Zk = ensemble };
    }

    /// <summary>Every member at once: an unreachable one costs one timeout, not one per member.</summary>
    public static IReadOnlyList<ZkServerInfo> PollAll(ZkOptions o)
    {
        var tasks = o.Members.Select(m => Task.Factory.StartNew(() => ZkServerPoller.Poll(m, o.Timeout), TaskCreationOptions.LongRunning)).ToArray();
        Task.WaitAll(tasks);
        return tasks.Select(t => t.Result).ToList();
    }

    /// <summary>
    /// Two names of one server (127.0.0.1:2181 and localhost:2181) would count each of its clients twice. A member whose
    /// name does not resolve is left to its poll, which reports it.
    /// </summary>
    private static void RefuseSameServerTwice(ZkOptions o)
    {
        if (o.Members.Count < 2) return;
        var seen = new Dictionary<(System.Net.IPAddress, int), string>();
        foreach (var m in o.Members)
        {
            System.Net.IPAddress ip;
            try { ip = ZkTransport.Resolve(m.Host, o.Timeout); }
            catch (SourceException) { continue; }
            if (seen.TryGetValue((ip, m.Port), out var first))
                throw new UserException($"members {first} and {m.Text} are the same server ({new System.Net.IPEndPoint(ip, m.Port)}): give it once", 2);
            seen[(ip, m.Port)] = m.Text;
        }
    }
}
