using ConnDoctor.Model;

namespace ConnDoctor.Analysis;

/// <summary>Turns a capture's connections into the per-client summaries and the timeline that rules and renderers read.</summary>
public static class CaptureSummary
{
    public const long ShortNs = 1_000_000_000L;
    private static readonly long[] Steps = [1, 10, 100, 1_000, 5_000, 10_000, 30_000, 60_000, 300_000, 600_000, 1_800_000, 3_600_000, 21_600_000, 86_400_000];
    public const int MaxSteps = 12;

    public static IReadOnlyList<PairSummary> Pairs(IReadOnlyList<TcpConnection> conns)
    {
        var groups = new Dictionary<(NetAddress, NetEndpoint), List<int>>();
        for (int i = 0; i < conns.Count; i++)
        {
            var key = (conns[i].Client.Address, conns[i].Server);
            if (!groups.TryGetValue(key, out var list)) groups[key] = list = new List<int>();
            list.Add(i);
        }
        return groups.Select(g => Summarize(g.Key.Item1, g.Key.Item2, g.Value.Select(i => conns[i]).ToList()))
            .OrderByDescending(p => p.Connections).ThenByDescending(p => p.TotalResets)
            .ThenBy(p => p.Server.ToString(), StringComparer.Ordinal).ThenBy(p => p.Client.ToString(), StringComparer.Ordinal)
            .ToList();
    }

    private static PairSummary Summarize(NetAddress client, NetEndpoint server, List<TcpConnection> cs)
    {
        int[] resets = new int[ResetClasses.All.Length + 1], byClient = new int[resets.Length];
        foreach (var c in cs)
        {
            resets[(int)c.Reset]++;
            if (c.ResetByClient) byClient[(int)c.Reset]++;
        }
        resets[0] = byClient[0] = 0;
        var lifetimes = cs.Where(c => c.Closed).Select(c => c.LifetimeNs).Order().ToArray();
        var rtts = cs.Where(c => c.HandshakeRttNs > 0).Select(c => c.HandshakeRttNs).Order().ToArray();
        return new PairSummary
        {
            Client = client,
            Server = server,
            Connections = cs.Count,
            Opened = cs.Count(c => c.OpenSeen),
            StillOpen = cs.Count(c => !c.Closed),
            ClosedFirstByClient = cs.Count(c => c.FirstClose != CloseKind.None && c.ClientClosedFirst),
            ClosedFirstByServer = cs.Count(c => c.FirstClose != CloseKind.None && !c.ClientClosedFirst),
            ClosedByRst = cs.Count(c => c.FirstClose == CloseKind.Rst),
            RejectedAtOnce = cs.Count(c => c.RejectedAtOnce),
            Short = lifetimes.Count(l => l < ShortNs),
            Resets = resets,
            ResetsByClient = byClient,
            LifetimeP50Ns = Percentile(lifetimes, 0.50),
            LifetimeP90Ns = Percentile(lifetimes, 0.90),
            LifetimeMaxNs = lifetimes.Length > 0 ? lifetimes[^1] : 0,
            HandshakeRttP50Ns = Percentile(rtts, 0.50),
            BytesToServer = cs.Sum(c => c.BytesToServer),
            BytesToClient = cs.Sum(c => c.BytesToClient),
            Segments = cs.Sum(c => (long)c.SegmentsToServer + c.SegmentsToClient),
            Retransmissions = cs.Sum(c => (long)c.RetransToServer + c.RetransToClient),
            SynRetransmissions = cs.Sum(c => c.SynRetrans),
            ZeroWindows = cs.Sum(c => (long)c.ZeroWindowFromClient + c.ZeroWindowFromServer),
            UnansweredAtEnd = cs.Count(c => c.UnansweredAtEnd > 0),
            FirstNs = cs.Min(c => c.StartNs),
            LastNs = cs.Max(c => c.EndNs),
        };
    }

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
    public static CaptureTimeline Timeline(IReadOnlyList<TcpConnection> conns, long firstNs, long lastNs)
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
        foreach (var c in conns)
        {
            if (c.OpenSeen) opened[At(c.StartNs)]++;
            if (c.Closed) closed[At(c.EndNs)]++;
            if (c.Reset != ResetClass.None) resets[At(c.ResetNs)][(int)c.Reset]++;
        }
        return new CaptureTimeline(start, step, Enumerable.Range(0, n).Select(i => new TimelineStep { Opened = opened[i], Closed = closed[i], Resets = resets[i] }).ToList());
    }
}
