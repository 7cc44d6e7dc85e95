using ConnDoctor.Model;

namespace ConnDoctor.Analysis;

/// <summary>Turns a capture's connections into the per-client summaries and the timeline that rules and renderers read.</summary>
public static class CaptureSummary
{
    public const long ShortNs = 1_000_000_000L;
    /// <summary>A connection that lived this long held, whatever it carried: it ends a run of failed ones.</summary>
    public const long LongLivedNs = 10_000_000_000L;
    private static readonly long[] Steps = [1, 10, 100, 1_000, 5_000, 10_000, 30_000, 60_000, 300_000, 600_000, 1_800_000, 3_600_000, 21_600_000, 86_400_000];
    public const int MaxSteps = 12;

    public static IReadOnlyList<PairSummary> Pairs(TcpConnection[] conns)
    {
        var groups = new Dictionary<(NetAddress, NetEndpoint), List<int>>();
        for (int i = 0; i < conns.Length; i++)
        {
            var key = (conns[i].Client.Address, conns[i].Server);
            if (!groups.TryGetValue(key, out var list)) groups[key] = list = new List<int>();
            list.Add(i);
        }
        return groups.Select(g => Summarize(g.Key.Item1, g.Key.Item2, conns, g.Value.ToArray()))
            .OrderByDescending(p => p.Connections).ThenByDescending(p => p.TotalResets)
            .ThenBy(p => p.Server.ToString(), StringComparer.Ordinal).ThenBy(p => p.Client.ToString(), StringComparer.Ordinal)
            .ToList();
    }

    /// <summary>One pass over the pair's connections (a storm can put 100k in one pair).</summary>
    private static PairSummary Summarize(NetAddress client, NetEndpoint server, TcpConnection[] all, int[] index)
    {
        int[] resets = new int[ResetClasses.All.Length + 1], byClient = new int[resets.Length];
        var lifetimes = new List<long>(index.Length);
        var rtts = new List<long>(index.Length);
        int opened = 0, open = 0, byC = 0, byS = 0, rst = 0, rejected = 0, synRetrans = 0, unanswered = 0;
        long toServer = 0, toClient = 0, segments = 0, retrans = 0, zeroWin = 0, first = long.MaxValue, last = long.MinValue;
        foreach (int i in index)
        {
            ref readonly var c = ref all[i];
            if (c.Reset != ResetClass.None) { resets[(int)c.Reset]++; if (c.ResetByClient) byClient[(int)c.Reset]++; }
            if (c.OpenSeen) opened++;
            // A connection opened before the capture began has no known lifetime: a pool that closes just after the start
            // is not a burst of short connections.
            if (!c.Closed) open++;
            else if (c.OpenSeen) lifetimes.Add(c.LifetimeNs);
            if (c.FirstClose != CloseKind.None) { if (c.ClientClosedFirst) byC++; else byS++; }
            if (c.FirstClose == CloseKind.Rst) rst++;
            if (c.RejectedAtOnce) rejected++;
            if (c.HandshakeRttNs > 0) rtts.Add(c.HandshakeRttNs);
            if (c.UnansweredAtEnd > 0) unanswered++;
            toServer += c.BytesToServer;
            toClient += c.BytesToClient;
            segments += c.SegmentsToServer + c.SegmentsToClient;
            retrans += c.RetransToServer + c.RetransToClient;
            synRetrans += c.SynRetrans;
            zeroWin += c.ZeroWindowFromClient + c.ZeroWindowFromServer;
            first = Math.Min(first, c.StartNs);
            last = Math.Max(last, c.EndNs);
        }
        lifetimes.Sort();
        rtts.Sort();
        var lt = lifetimes.ToArray();
        var loop = Loop(all, index);
        return new PairSummary
        {
            Client = client,
            Server = server,
            ConnectionIndexes = index,
            Connections = index.Length,
            Opened = opened,
            StillOpen = open,
            ClosedFirstByClient = byC,
            ClosedFirstByServer = byS,
            ClosedByRst = rst,
            RejectedAtOnce = rejected,
            Short = lt.Count(l => l < ShortNs),
            Resets = resets,
            ResetsByClient = byClient,
            LifetimeP50Ns = Percentile(lt, 0.50),
            LifetimeP90Ns = Percentile(lt, 0.90),
            LifetimeMaxNs = lt.Length > 0 ? lt[^1] : 0,
            HandshakeRttP50Ns = Percentile(rtts.ToArray(), 0.50),
            BytesToServer = toServer,
            BytesToClient = toClient,
            Segments = segments,
            Retransmissions = retrans,
            SynRetransmissions = synRetrans,
            ZeroWindows = zeroWin,
            UnansweredAtEnd = unanswered,
            FirstNs = first,
            LastNs = last,
            Loop = loop,
        };
    }

    /// <summary>
    /// The pair's connections in start order: one that the server never sent a byte on and that closed within
    /// <see cref="LongLivedNs"/> failed (no session, no reply); one that got the server's data, or lived that long, succeeded;
    /// one still young and open at the end, begun before the capture or never accepted tells nothing.
    /// </summary>
    private static LoopStats? Loop(TcpConnection[] all, int[] index)
    {
        var tracker = new LoopTracker();
        foreach (int i in index.OrderBy(i => all[i].StartNs))
        {
            ref readonly var c = ref all[i];
            if (!c.OpenSeen || !c.Accepted) continue;   // refused or unanswered SYNs are refused-storm's
            bool held = c.BytesToClient > 0 || c.LifetimeNs >= LongLivedNs;
            if (held || c.Closed) tracker.Add(c.StartNs / 1e6, failed: !held);
        }
        return tracker.Stats();
    }

    /// <summary>A packet time as UTC in the given format; a corrupt timestamp outside the calendar prints as its raw value.</summary>
    public static string Time(long ns, string format) =>
        ns >= 0 && ns / 100 <= DateTime.MaxValue.Ticks - DateTime.UnixEpoch.Ticks
            ? DateTime.UnixEpoch.AddTicks(ns / 100).ToString(format, System.Globalization.CultureInfo.InvariantCulture)
            : $"{ns}ns";

    /// <summary>Durations from nanoseconds, down to microseconds: handshakes on a LAN take tens of them.</summary>
    public static string Duration(long ns) => ns switch
    {
        < 1_000_000 => $"{ns / 1000}us",
        < 10_000_000 => $"{ns / 1e6:0.#}ms",
        _ => Format.Duration(TimeSpan.FromTicks(ns / 100)),
    };

    /// <summary>Nearest-rank percentile of sorted values; 0 when there are none.</summary>
    public static long Percentile(long[] sorted, double p) =>
        sorted.Length == 0 ? 0 : sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];

    /// <summary>At most <see cref="MaxSteps"/> steps of a round length (1 ms ... 1 day) covering the capture.</summary>
    public static CaptureTimeline Timeline(TcpConnection[] conns, long firstNs, long lastNs)
    {
        long span = Math.Max(1, lastNs - firstNs);
        long step = Steps.Select(ms => ms * 1_000_000L).FirstOrDefault(s => span / s < MaxSteps - 1, 86_400_000_000_000L * ((span / 86_400_000_000_000L / MaxSteps) + 1));
        // Steps start on a multiple of the step length, as a reader of wall-clock times expects.
        long start = firstNs - firstNs % step;
        int n = (int)((lastNs - start) / step) + 1;
        var opened = new int[n];
        var closed = new int[n];
        var resets = new int[n][];
        for (int i = 0; i < n; i++) resets[i] = new int[ResetClasses.All.Length + 1];
        int At(long ns) => (int)Math.Clamp((ns - start) / step, 0, n - 1);
        foreach (ref readonly var c in conns.AsSpan())
        {
            if (c.OpenSeen) opened[At(c.StartNs)]++;
            if (c.Closed) closed[At(c.EndNs)]++;
            if (c.Reset != ResetClass.None) resets[At(c.ResetNs)][(int)c.Reset]++;
        }
        return new CaptureTimeline(start, step, Enumerable.Range(0, n).Select(i => new TimelineStep { Opened = opened[i], Closed = closed[i], Resets = resets[i] }).ToList());
    }
}
