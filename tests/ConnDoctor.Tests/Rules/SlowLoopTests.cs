using ConnDoctor.Analysis;
using ConnDoctor.Model;
using ConnDoctor.Rules;
using ConnDoctor.Sources.Pcap;
using ConnDoctor.Sources.Watch;
using ConnDoctor.Sources.ZkLog;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.Rules;

/// <summary>
/// Slow reconnect loops against monitors, fed to every source that feeds reconnect-storm in the shapes real ones have:
/// the ZooKeeper Java client's backoff (3.4: a uniform 0-1 s sleep; 3.5+ with one server: a 1 s spin delay plus that),
/// a client whose attempts come 0.2-1.2 s apart, Kubernetes / load-balancer TCP checks at a fixed period (± a few ms),
/// HAProxy's spread-checks (± a few percent), two probes of one port, and a client that holds one long session.
/// </summary>
public sealed class SlowLoopTests : IDisposable
{
    // ---- gap shapes (ms) ----
    private static double[] Gaps(int n, Func<Random, double> gap, int seed = 7)
    {
        var r = new Random(seed);
        return Enumerable.Range(0, n).Select(_ => gap(r)).ToArray();
    }

    private static readonly Func<Random, double> Jittered = r => 200 + r.NextDouble() * 1000;          // 0.2-1.2 s
    private static readonly Func<Random, double> Java34 = r => 3 + r.Next(1000);                          // Thread.sleep(r.nextInt(1000)) + connect
    private static readonly Func<Random, double> Java35OneServer = r => 1003 + r.Next(1000);              // spinDelay 1000 + r.nextInt(1000)
    private static readonly Func<Random, double> Check2s = r => 2000 + (r.NextDouble() * 10 - 5);         // 2.000 s ± 5 ms
    private static readonly Func<Random, double> HaproxySpread5 = r => 2000 * (0.95 + r.NextDouble() * 0.1); // inter 2s, spread-checks 5

    /// <summary>Times of n+1 connections from the gaps, starting at <paramref name="t0"/>.</summary>
    private static double[] Times(double[] gaps, double t0 = 0)
    {
        var t = new double[gaps.Length + 1];
        t[0] = t0;
        for (int i = 0; i < gaps.Length; i++) t[i + 1] = t[i] + gaps[i];
        return t;
    }

    private static LoopStats Track(IEnumerable<double> times, Func<int, bool>? failed = null)
    {
        var tr = new LoopTracker();
        int i = 0;
        foreach (var t in times) tr.Add(t, failed?.Invoke(i++) ?? true);
        return tr.Stats()!;
    }

    // ---- the statistic ----

    [Fact]
    public void BackoffWithJitterIsIrregularAndAFixedPeriodIsRegular()
    {
        foreach (var shape in new[] { Jittered, Java34, Java35OneServer })
        {
            var s = Track(Times(Gaps(40, shape)));
            Assert.Null(s.PeriodMs);
            Assert.Equal(41, s.Count);
            Assert.True(s.P90GapMs - s.P10GapMs > 0.4 * s.MedianGapMs);
        }
        var check = Track(Times(Gaps(40, Check2s)));
        Assert.InRange(check.PeriodMs!.Value, 1995, 2005);
        Assert.Equal(1, check.Probes);
        Assert.InRange(Track(Times(Gaps(40, HaproxySpread5))).PeriodMs!.Value, 1900, 2100);
    }

    [Fact]
    public void AShortRunOfBackoffIsNeverTakenForAPeriodWhateverTheDraw()
    {
        // A real loop seen for half a minute gives 10 to 20 gaps. Sums of 2 or 3 random sleeps are narrower than one
        // (their spread shrinks by about the square root of the count): a real Java client's 16 connections once read as
        // "a health check every 4.8 s (3 probes)". Over 300 draws of each backoff shape, no period is claimed.
        foreach (var shape in new[] { Jittered, Java34, Java35OneServer })
            foreach (int n in new[] { 9, 12, 15, 20, 30, 40 })
                for (int seed = 1; seed <= 300; seed++)
                    Assert.Null(Track(Times(Gaps(n, shape, seed))).PeriodMs);
        // While a monitor's fixed period shows within as few gaps.
        for (int seed = 1; seed <= 300; seed++)
            Assert.InRange(Track(Times(Gaps(9, Check2s, seed))).PeriodMs!.Value, 1995, 2005);
    }

    [Fact]
    public void OverThousandsOfShortRunsBackoffIsAlmostNeverAPeriodAndMonitorsAlmostAlwaysAre()
    {
        // Runs of 9 to 30 gaps, as a watch of half a minute to a few minutes sees them: a backoff's draws land within
        // 20% of their median by chance about once in 500 runs of 10-12 (a real Java client's loop once did), which
        // is why short runs must be within 10%.
        var r = new Random(11);
        foreach (int n in new[] { 9, 10, 12, 15, 20, 30 })
        {
            int backoff = 0, monitors = 0;
            for (int t = 0; t < 2000; t++)
            {
                foreach (var shape in new[] { Java34, Java35OneServer, Jittered })
                    if (Track(Times(Gaps(n, shape, r.Next()))).PeriodMs != null) backoff++;
                foreach (var shape in new[] { Check2s, HaproxySpread5 })
                    if (Track(Times(Gaps(n, shape, r.Next()))).PeriodMs != null) monitors++;
            }
            Assert.True(backoff <= 1, $"{backoff} of 6000 backoff runs of {n} gaps taken for a period");
            Assert.True(monitors >= 3960, $"only {monitors} of 4000 monitor runs of {n} gaps found periodic");
        }
    }

    [Fact]
    public void TimesToTheSecondMakeNoInterleavedRhythm()
    {
        // A loop every 400 ms logged to the second (Hadoop's console layout): gaps 0, 0, 1 s, 0, 1 s... repeat every five
        // connections, a pattern of the clock's, not five monitors.
        var times = Enumerable.Range(0, 60).Select(i => Math.Floor(i * 400 / 1000.0) * 1000).ToArray();
        Assert.Null(Track(times).PeriodMs);
        // While a liveness and a readiness probe that fire together every 10 s (same initial delay) are one rhythm.
        var r = new Random(5);
        var probes = Enumerable.Range(0, 12).SelectMany(i => new[] { i * 10_000 + r.NextDouble() * 3, i * 10_000 + 2 + r.NextDouble() * 3 }).Order().ToArray();
        Assert.InRange(Track(probes).PeriodMs!.Value, 9990, 10010);
    }

    [Fact]
    public void TwoProbesOfOnePortWithTheSamePeriodAreOneRhythm()
    {
        // A liveness and a readiness probe every 10 s, 3.1 s apart: gaps alternate 3.1 and 6.9 s.
        var r = new Random(3);
        var times = Enumerable.Range(0, 20).SelectMany(i => new[] { i * 10_000 + r.NextDouble() * 4, i * 10_000 + 3_100 + r.NextDouble() * 4 }).ToArray();
        var s = Track(times);
        Assert.Equal(2, s.Probes);
        Assert.InRange(s.PeriodMs!.Value, 9990, 10010);
    }

    [Fact]
    public void TwoMonitorsWithDifferentPeriodsFromOneAddressAreOneRhythm()
    {
        // A kubelet's readiness probe every 2 s beside a liveness probe every 10 s (or a load balancer every 5 s) from one
        // node address: the gaps repeat every 10 s, 6 or 7 connections a cycle. A minute of them was called a client's loop.
        foreach (var (other, perCycle) in new[] { (10_000, 6), (5_000, 7) })
        {
            var r = new Random(5);
            var times = Enumerable.Range(0, 30).Select(i => i * 2_000 + r.NextDouble() * 6 - 3)
                .Concat(Enumerable.Range(0, 60_000 / other).Select(i => 370 + i * other + r.NextDouble() * 6 - 3)).Order().ToArray();
            var s = Track(times);
            Assert.InRange(s.PeriodMs!.Value, 9_980, 10_020);
            Assert.Equal(perCycle, s.Probes);
            Assert.Equal(LoopKind.HealthCheck, SeverityPolicy.Loop(s).Kind);
        }
    }

    [Fact]
    public void ASuccessEndsTheRunAndTheLongerRunIsKept()
    {
        var times = Times(Gaps(59, Jittered));
        // 30 failed, one that got a session, 29 failed: the first run is the longer and is no longer going on.
        var s = Track(times, i => i != 30);
        Assert.Equal(30, s.Count);
        Assert.False(s.Ongoing);
        Assert.Equal(60, s.Total);
        Assert.Equal(59, s.Failed);
        var after = Track(times, i => i != 10);
        Assert.Equal(49, after.Count);
        Assert.True(after.Ongoing);
    }

    [Fact]
    public void PartsAppendedInOrderGiveTheWholeAndMemoryStaysBounded()
    {
        var times = Times(Gaps(3000, Jittered));
        Func<int, bool> failed = i => i % 1000 != 500;
        var whole = Track(times, failed);
        foreach (int parts in new[] { 2, 3, 7, 64 })
        {
            var total = new LoopTracker();
            int per = times.Length / parts + 1;
            for (int p = 0; p < parts; p++)
            {
                var part = new LoopTracker();
                for (int i = p * per; i < Math.Min(times.Length, (p + 1) * per); i++) part.Add(times[i], failed(i));
                total.Append(part);
            }
            Assert.Equal(whole, total.Stats());
        }
        Assert.Equal(LoopTracker.KeptGaps, whole.GapsMeasured);
    }

    // ---- each source, same verdict ----

    private const string Client = "10.0.0.7", Monitor = "10.0.0.8", Healthy = "10.0.0.9";

    public static TheoryData<string> Sources => new() { "zklog", "zklog34", "pcap", "watch" };

    /// <summary>Runs reconnect-storm over one source fed with the three clients: a loop, a 2 s TCP check, one long session.</summary>
    private List<Finding> Run(string source, Func<Random, double> loopShape, int loopConnections = 40, Func<Random, double>? checkShape = null)
    {
        var loop = Times(Gaps(loopConnections - 1, loopShape), 1_000);
        var check = Times(Gaps(30, checkShape ?? Check2s, seed: 11), 1_500);
        var e = source switch
        {
            "zklog" => ZkLogEvidence(loop, check, v34: false),
            "zklog34" => ZkLogEvidence(loop, check, v34: true),
            "pcap" => CaptureEvidence(loop, check),
            "watch" => WatchEvidence(loop, check),
            _ => throw new ArgumentException(source),
        };
        return Diagnosis.Run(e, new RuleOptions(), ["reconnect-storm"]).Findings.ToList();
    }

    private static bool About(Finding f, string ip) =>
        f.Subject.ClientIp == ip || f.Subject.Pid == Pid(ip);

    private static int Pid(string ip) => 1000 + int.Parse(ip.Split('.')[^1]);

    [Theory, MemberData(nameof(Sources))]
    public void ASlowJitteredLoopIsAWarningAndAFixedTwoSecondCheckIsAHealthCheckAtInfo(string source)
    {
        var findings = Run(source, Jittered);
        var loop = Assert.Single(findings, f => About(f, Client));
        Assert.Equal(Severity.Warning, loop.Severity);
        Assert.Contains("in a row", string.Join('\n', loop.Evidence));
        Assert.Contains("irregular", string.Join('\n', loop.Evidence));
        Assert.Contains("100%", string.Join('\n', loop.Evidence));
        // The loop's 40 connections end half a minute before the check's: it stopped; the check goes on to the end.
        Assert.Contains("it stopped", string.Join('\n', loop.Evidence));
        var check = Assert.Single(findings, f => About(f, Monitor));
        Assert.Equal(Severity.Info, check.Severity);
        Assert.Contains("looks like a health check every 2 s", check.Summary);
        Assert.Contains("still going on", string.Join('\n', check.Evidence));
        Assert.DoesNotContain(findings, f => About(f, Healthy));
    }

    [Theory, MemberData(nameof(Sources))]
    public void TheJavaClientsOwnBackoffIsAWarningInEverySource(string source)
    {
        foreach (var shape in new[] { Java34, Java35OneServer })
            Assert.Equal(Severity.Warning, Assert.Single(Run(source, shape), f => About(f, Client)).Severity);
    }

    [Theory, MemberData(nameof(Sources))]
    public void FewerThanThePolicysConnectionsOrShorterThanItsSpanIsNoLoop(string source)
    {
        // Nine connections, and then ten within nine seconds: not yet a pattern (and far below any pace tier).
        Assert.DoesNotContain(Run(source, Jittered, loopConnections: SeverityPolicy.LoopMinConnections - 1), f => About(f, Client));
        Assert.DoesNotContain(Run(source, r => 900 + r.NextDouble() * 50, loopConnections: SeverityPolicy.LoopMinConnections), f => About(f, Client));
        Assert.Equal(Severity.Warning, Assert.Single(Run(source, Java35OneServer, loopConnections: SeverityPolicy.LoopMinConnections), f => About(f, Client)).Severity);
    }

    [Theory, MemberData(nameof(Sources))]
    public void ALoadBalancersSpreadChecksStayAHealthCheck(string source)
    {
        var check = Assert.Single(Run(source, Jittered, checkShape: HaproxySpread5), f => About(f, Monitor));
        Assert.Equal(Severity.Info, check.Severity);
        Assert.Contains("health check", check.Summary);
    }

    [Fact]
    public void AFastLoopStillEscalatesByPace()
    {
        // 20/s for a minute, all failed: critical where failure is seen (log, capture); watch escalates at the churn tier.
        foreach (var source in new[] { "zklog", "pcap" })
            Assert.Equal(Severity.Critical, Assert.Single(Run(source, r => 40 + r.NextDouble() * 20, loopConnections: 1200), f => About(f, Client)).Severity);
        Assert.Equal(Severity.Warning, Assert.Single(Run("watch", r => 40 + r.NextDouble() * 20, loopConnections: 1200), f => About(f, Client)).Severity);
    }

    [Fact]
    public void FourLetterWordMonitoringIsNeverBlamed()
    {
        // A monitor that sends 'ruok' at random times and hangs up without reading: its ends of stream have no session.
        var lines = new List<string>();
        var t = Times(Gaps(40, Jittered), 1_000);
        foreach (var ms in t)
        {
            lines.Add(Line38(ms, $"INFO  [NIOWorkerThread-1:NIOServerCnxn@517] - Processing ruok command from /{Monitor}:{40000 + (int)(ms % 20000)}"));
            lines.AddRange(End38(ms + 1, Monitor, 40000 + (int)(ms % 20000), 0));
        }
        var log = ReadLog(lines);
        Assert.DoesNotContain(Diagnosis.Run(new Evidence { Statuses = [], CollectedAt = default, ZkLog = log }, new RuleOptions()).Findings,
            f => f.Subject.ClientIp == Monitor);
    }

    [Fact]
    public void ALogSplitIntoRegionsGivesTheSameRuns()
    {
        var loop = Times(Gaps(2000, Jittered), 1_000);
        var path = WriteLog(LogLines(loop, Times(Gaps(30, Check2s), 1_500), v34: true));
        var one = ZkLogReader.Read([path], new ZkLogWindow(null, null), parts: 1).Evidence;
        foreach (int parts in new[] { 2, 7, 64 })
        {
            var split = ZkLogReader.Read([path], new ZkLogWindow(null, null), parts: parts).Evidence;
            Assert.Equal(one.Clients.Select(c => c.Loop), split.Clients.Select(c => c.Loop));
        }
        Assert.Equal(2000, one.Clients.Single(c => c.Ip.ToString() == Client).Loop!.Count - 1);
    }

    // ---- zklog: 3.8 at INFO (the fixture's real lines) and 3.4 (the incident's lines) ----

    private static readonly DateTime LogStart = new(2026, 11, 23, 19, 30, 0);

    private static string Line38(double ms, string rest) => $"{LogStart.AddMilliseconds(ms):yyyy-MM-dd HH:mm:ss,fff} - {rest}";

    // As in fixtures/zklog/zk38-info.log (a real 3.8.0 run): the warning, its exception line and the stack under it.
    private static IEnumerable<string> End38(double ms, string ip, int port, ulong session)
    {
        yield return Line38(ms, "WARN  [NIOWorkerThread-3:NIOServerCnxn@374] - Unexpected exception");
        yield return $"EndOfStreamException: Unable to read additional data from client, it probably closed the socket: address = /{ip}:{port}, session = 0x{session:x}";
        yield return "\tat org.apache.zookeeper.server.NIOServerCnxn.handleFailedRead(NIOServerCnxn.java:173)";
        yield return "\tat org.apache.zookeeper.server.NIOServerCnxn.doIO(NIOServerCnxn.java:336)";
    }

    private static string Line34(double ms, string rest) => $"{LogStart.AddMilliseconds(ms):yyyy-MM-dd HH:mm:ss,fff} [myid:] - {rest}";

    // As in shared/incidents/000 (a real 3.4 log): accept, end of stream without an address, the close that names the client.
    private static IEnumerable<string> Conn34(double ms, string ip, int port, ulong session)
    {
        yield return Line34(ms, $"INFO  [NIOServerCxn.Factory:0.0.0.0/0.0.0.0:2181:NIOServerCnxnFactory@197] - Accepted socket connection from /{ip}:{port}");
        yield return Line34(ms + 2, "WARN  [NIOServerCxn.Factory:0.0.0.0/0.0.0.0:2181:NIOServerCnxn@357] - caught end of stream exception");
        yield return $"EndOfStreamException: Unable to read additional data from client sessionid 0x{session:x}, likely client has closed socket";
        yield return "    at org.apache.zookeeper.server.NIOServerCnxn.doIO(NIOServerCnxn.java:228)";
        yield return Line34(ms + 3, $"INFO  [NIOServerCxn.Factory:0.0.0.0/0.0.0.0:2181:NIOServerCnxn@1007] - Closed socket connection for client /{ip}:{port} " +
                                    (session == 0 ? "(no session established for client)" : $"which had sessionid 0x{session:x}"));
    }

    private static List<string> LogLines(double[] loop, double[] check, bool v34)
    {
        var events = new List<(double Ms, string Ip, ulong Session)>();
        events.AddRange(loop.Select(t => (t, Client, 0UL)));
        events.AddRange(check.Select(t => (t, Monitor, 0UL)));
        // The healthy client: one session for the whole log, closed by the client at its end.
        events.Add((loop[^1] + 5_000, Healthy, 0x1000023425b0001UL));
        var lines = new List<string>();
        int port = 40000;
        foreach (var (ms, ip, session) in events.OrderBy(e => e.Ms))
            lines.AddRange(v34 ? Conn34(ms, ip, port++ % 60000, session) : End38(ms, ip, port++ % 60000, session));
        return lines;
    }

    private readonly List<string> _temp = new();

    private string WriteLog(IEnumerable<string> lines)
    {
        var path = Path.Combine(Path.GetTempPath(), $"cd-{Environment.ProcessId}-{Guid.NewGuid():N}-loop.log");
        _temp.Add(path);
        File.WriteAllLines(path, lines);
        return path;
    }

    public void Dispose()
    {
        foreach (var p in _temp) File.Delete(p);
    }

    private ZkLogEvidence ReadLog(IEnumerable<string> lines) => ZkLogReader.Read([WriteLog(lines)], new ZkLogWindow(null, null)).Evidence;

    private Evidence ZkLogEvidence(double[] loop, double[] check, bool v34) =>
        new() { Statuses = [], CollectedAt = default, ZkLog = ReadLog(LogLines(loop, check, v34)) };

    // ---- capture: the failed connections carry no reply; the healthy client's one connection carries its session ----

    private static readonly long T0 = new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.Zero).ToUnixTimeMilliseconds() * 1_000_000;

    private static TcpConnection Conn(string ip, int port, double ms, double lifeMs, long toClient) => new()
    {
        Client = EvidenceBuilder.Ep($"{ip}:{port}"), Server = EvidenceBuilder.Ep("10.0.0.5:2181"), OpenSeen = true, Accepted = true,
        StartNs = T0 + (long)(ms * 1e6), EndNs = T0 + (long)((ms + lifeMs) * 1e6), Packets = 6, Closed = true, FirstClose = CloseKind.Fin,
        ClientClosedFirst = true, BytesToServer = toClient > 0 ? 48 : 0, BytesToClient = toClient, HandshakeRttNs = 100_000,
    };

    private static Evidence CaptureEvidence(double[] loop, double[] check)
    {
        int port = 40000;
        var conns = loop.Select(t => Conn(Client, port++, t, 3, 0))
            .Concat(check.Select(t => Conn(Monitor, port++, t, 1, 0)))
            .Append(Conn(Healthy, port++, 0, loop[^1] + 5_000, 4_000) with { SegmentsToClient = 40 })
            .OrderBy(c => c.StartNs).ToArray();
        return EvidenceBuilder.FromCapture(conns);
    }

    // ---- watch: the book the tracepoints feed, one process per client ----

    private static Evidence WatchEvidence(double[] loop, double[] check)
    {
        var book = new WatchBook();
        var events = new List<(double At, Action Do)>();
        int port = 40000;
        void Connection(string ip, double at, double life)
        {
            var c = new WatchConnection
            {
                Local = EvidenceBuilder.Ep($"{ip}:{port++}"), Remote = EvidenceBuilder.Ep("10.0.0.5:2181"), Pid = Pid(ip), Comm = "java",
                OpenedMs = at, FirstSeenMs = at, State = TcpState.Established,
            };
            events.Add((at, () => book.Open(c)));
            if (life >= 0) events.Add((at + life, () => { c.ClosedBy = ClosedBy.Local; book.Close(c, at + life); }));
        }
        foreach (var t in loop) Connection(Client, t, 2);
        foreach (var t in check) Connection(Monitor, t, 1);
        Connection(Healthy, 0, -1); // open the whole watch
        foreach (var (_, act) in events.OrderBy(e => e.At)) act();
        double end = Math.Max(loop[^1], check[^1]) + 1_000;
        return new Evidence
        {
            Statuses = [],
            CollectedAt = default,
            Watch = new WatchEvidence
            {
                Mode = WatchMode.Trace, StartedAt = default, Seconds = end / 1000, IntervalSeconds = 1, EventsLost = 0,
                Rows = book.Rows(end, end / 1000),
            },
        };
    }
}
