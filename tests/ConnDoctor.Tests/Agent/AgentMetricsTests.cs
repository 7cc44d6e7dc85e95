using ConnDoctor.Agent;
using ConnDoctor.Model;
using ConnDoctor.Sources.Watch;
using ConnDoctor.Render;
using ConnDoctor.Rules;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.Agent;

/// <summary>The agent's metrics for a fixed evidence: the golden /metrics, promtool's lint, escaping, top K, expiry, the window.</summary>
public class AgentMetricsTests
{
    private static readonly DateTimeOffset T0 = new(2026, 11, 23, 12, 0, 0, TimeSpan.Zero);

    private static WatchConnection Conn(string local, string remote, int pid, string comm, double opened, double? closed, ClosedBy by,
        bool passive = false, TcpState state = TcpState.Close, int resetsSent = 0, ResetCause cause = ResetCause.None, int resetsReceived = 0) =>
        new()
        {
            Local = EvidenceBuilder.Ep(local), Remote = EvidenceBuilder.Ep(remote), Pid = pid, Comm = comm, Passive = passive, NetnsInode = 4026531840,
            Netns = "host", OpenedMs = opened, FirstSeenMs = opened, ClosedMs = closed, ClosedBy = by, State = state,
            ResetsSent = resetsSent, ResetCause = cause, ResetsReceived = resetsReceived,
        };

    /// <summary>A host: a client in a reconnect loop to ZooKeeper, a CLOSE_WAIT leak, a healthy client, the server, a process with a hostile name.</summary>
    internal static (Evidence Evidence, ConnectionCounters Counters, DiagnoseReport Report) Fixed()
    {
        var b = new EvidenceBuilder()
            .Process(100, "java").Process(200, "looper").Process(300, "leaky").Process(400, "healthy").Process(500, "we\"ird\\na\nme")
            .Listen("10.0.0.1:2181", 100)
            .Socket(TcpState.Established, "10.0.0.1:2181", "10.0.0.2:40000", 100, count: 3)
            .Socket(TcpState.Established, "10.0.0.2:40000", "10.0.0.1:2181", 400)
            .Socket(TcpState.CloseWait, "10.0.0.2:41000", "10.0.0.9:8080", 300, count: 7)
            .Socket(TcpState.TimeWait, "10.0.0.2:42000", "10.0.0.1:2181")   // the looper's, known from the watch
            .Socket(TcpState.TimeWait, "10.0.0.2:42001", "10.0.0.1:2181")
            .Socket(TcpState.Established, "10.0.0.2:43000", "10.0.0.7:443", 500);
        var e = b.Build();
        e = e with { Namespaces = [e.Namespaces[0] with { Inode = 4026531840 }] };
        var conns = new List<WatchConnection>
        {
            Conn("10.0.0.2:42000", "10.0.0.1:2181", 200, "looper", 10, 20, ClosedBy.Local),
            Conn("10.0.0.2:42001", "10.0.0.1:2181", 200, "looper", 30, 40, ClosedBy.Local),
            Conn("10.0.0.2:42002", "10.0.0.1:2181", 200, "looper", 50, 60, ClosedBy.Peer),
            Conn("10.0.0.2:42003", "10.0.0.1:2181", 200, "looper", 70, 75, ClosedBy.PeerReset, state: TcpState.SynSent, resetsReceived: 1),
            Conn("10.0.0.2:42004", "10.0.0.1:2181", 200, "looper", 80, 90, ClosedBy.LocalReset, resetsSent: 1, cause: ResetCause.UnreadData),
            Conn("10.0.0.1:2181", "10.0.0.2:42000", 100, "java", 10, 21, ClosedBy.Peer, passive: true),
        };
        var watch = new WatchEvidence { Mode = WatchMode.Trace, StartedAt = T0, Seconds = 15, IntervalSeconds = 5, Connections = conns, EventsRead = 30, EventsLost = 0 };
        var zk = new ZkEnsembleEvidence
        {
            Members = ["10.0.0.1:2181"],
            Servers = [new ZkServerInfo { Member = "10.0.0.1:2181", State = SourceState.Ok, MaxClientCnxns = 60, PolledAt = T0, Duration = TimeSpan.FromMilliseconds(12) }],
            Clients =
            [
                new ZkClientOnServer { Member = "10.0.0.1:2181", Ip = NetAddress.TryParse("10.0.0.2", out var a) ? a : default, Connections = 58, Limit = 60, WithSession = 57, Ephemerals = 3 },
                new ZkClientOnServer { Member = "10.0.0.1:2181", Ip = NetAddress.TryParse("10.0.0.3", out var a2) ? a2 : default, Connections = 1, Limit = 60, WithSession = 1 },
            ],
        };
        e = e with
        {
            Watch = watch, Zk = zk,
            Statuses = [.. e.Statuses, new SourceStatus("watch:tracepoints", SourceState.Ok, "30 events", 6, TimeSpan.FromSeconds(15)), new SourceStatus("zk", SourceState.Failed, "10.0.0.5:2181 refused")],
        };
        var counters = new ConnectionCounters(200, TimeSpan.FromSeconds(60), _ => true);
        counters.Add(conns, c => "", T0);
        var report = new DiagnoseReport
        {
            Host = "testhost", CollectedAt = T0, Sources = e.Statuses, Rules = [], Namespaces = e.Namespaces,
            Findings =
            [
                new Finding { RuleId = "reconnect-storm", Severity = Severity.Critical, Subject = new FindingSubject { Pid = 200, Process = "looper", RemoteEndpoint = "10.0.0.1:2181" }, Summary = "s", Cause = "c", Remedy = "r" },
                new Finding { RuleId = "close-wait-leak", Severity = Severity.Warning, Subject = new FindingSubject { Pid = 300, Process = "leaky" }, Summary = "s", Cause = "c", Remedy = "r" },
            ],
        };
        return (e, counters, report);
    }

    internal static string FixedMetrics(bool openMetrics = false)
    {
        var (e, counters, report) = Fixed();
        var families = AgentMetrics.Build(e, report, counters, 50, new AgentSelfStats { TraceEventsLost = 4, TrackedConnections = 6, CollectedAt = T0 });
        return PrometheusRenderer.Render(families, openMetrics);
    }

    [Fact]
    public void MetricsOfAFixedEvidenceMatchTheGoldenFile() => Fixtures.AssertGolden("agent-metrics.txt", FixedMetrics());

    [Fact]
    public void OpenMetricsMatchesTheGoldenFileAndEndsWithEof()
    {
        var text = FixedMetrics(openMetrics: true);
        Assert.EndsWith("# EOF\n", text);
        Assert.Contains("# TYPE conndoctor_tcp_connections_opened counter\n", text);
        Assert.Contains("conndoctor_tcp_connections_opened_total{", text);
        Fixtures.AssertGolden("agent-metrics.openmetrics.txt", text);
    }

    [Fact]
    public void PromtoolChecksTheMetricsClean()
    {
        Assert.True(File.Exists("/usr/bin/promtool"), "promtool missing: scripts/setup.sh installs Debian's prometheus");
        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllText(file, FixedMetrics());
            var (code, stdout, stderr) = Shell.RunFull("sh", ["-c", $"promtool check metrics < {file}"], check: false);
            Assert.True(code == 0, $"promtool check metrics failed ({code}): {stdout}{stderr}");
            Assert.Equal("", (stdout + stderr).Trim());
        }
        finally { File.Delete(file); }
    }

    [Fact]
    public void LabelValuesAreEscapedAndTheCulpritIsNamed()
    {
        var text = FixedMetrics();
        Assert.Contains("process=\"we\\\"ird\\\\na\\nme\"", text);
        // TIME_WAIT has no owner in the table: the watch names the process that closed first.
        Assert.Contains("conndoctor_tcp_sockets{state=\"time_wait\",process=\"looper\",pod=\"\",netns=\"host\",remote_service=\"10.0.0.1:2181\",local_service=\"\"} 2\n", text);
        Assert.Contains("conndoctor_tcp_sockets{state=\"close_wait\",process=\"leaky\",pod=\"\",netns=\"host\",remote_service=\"10.0.0.9:8080\",local_service=\"\"} 7\n", text);
        // The server's accepted connections are under its listening endpoint, not the clients' ports.
        Assert.Contains("conndoctor_tcp_sockets{state=\"established\",process=\"java\",pod=\"\",netns=\"host\",remote_service=\"\",local_service=\"10.0.0.1:2181\"} 3\n", text);
        Assert.Contains("conndoctor_tcp_connections_opened_total{process=\"looper\",pod=\"\",remote_service=\"10.0.0.1:2181\"} 5\n", text);
        Assert.Contains("conndoctor_tcp_connect_failures_total{process=\"looper\",pod=\"\",remote_service=\"10.0.0.1:2181\",reason=\"refused\"} 1\n", text);
        Assert.Contains("conndoctor_tcp_time_wait_created_total{process=\"looper\",pod=\"\",remote_service=\"10.0.0.1:2181\"} 2\n", text);
        Assert.Contains("conndoctor_tcp_resets_total{process=\"looper\",pod=\"\",remote_service=\"10.0.0.1:2181\",direction=\"sent\",reason=\"unread_data\"} 1\n", text);
        Assert.Contains("conndoctor_zookeeper_client_connections{server=\"10.0.0.1:2181\",client_ip=\"10.0.0.2\"} 58\n", text);
        Assert.Contains("conndoctor_source_up{source=\"zk\"} 0\n", text);
        Assert.Contains("conndoctor_finding{rule=\"reconnect-storm\",severity=\"critical\",subject=\"looper[200] -> 10.0.0.1:2181\"} 1\n", text);
        Assert.DoesNotContain("42000", text.Replace("10.0.0.2:42000", "")); // no ephemeral port is a label value
    }

    [Fact]
    public void TimeWaitPastTheRecordCapIsNamedFromTheWindowsRowsWhenOneProcessClosedToThatEndpoint()
    {
        // No connection record for these TIME_WAIT sockets (dropped past the cap); the rows still say who closed first.
        var b = new EvidenceBuilder().Process(200, "looper").Process(300, "other1").Process(301, "other2")
            .Socket(TcpState.TimeWait, "10.0.0.2:42000", "10.0.0.1:2181", count: 4)
            .Socket(TcpState.TimeWait, "10.0.0.2:43000", "10.0.0.8:80", count: 3)
            .Socket(TcpState.TimeWait, "10.0.0.2:44000", "10.0.0.9:80", count: 2);
        var e = b.Build();
        WatchRow Row(int pid, string comm, string endpoint, int closedByLocal, bool passive = false) =>
            new() { Pid = pid, Process = comm, Endpoint = endpoint, Passive = passive, Opens = 10, Closes = 10, ClosedByLocal = closedByLocal, Netns = e.Namespaces[0].Label };
        var rows = new List<WatchRow>
        {
            Row(200, "looper", "10.0.0.1:2181", 900),
            Row(300, "other1", "10.0.0.1:2181", 0),            // closed by the peer only: produced no TIME_WAIT here
            Row(300, "other1", "10.0.0.8:80", 5), Row(301, "other2", "10.0.0.8:80", 5), // two producers: nobody is named
            Row(300, "other1", "10.0.0.9:80", 5, passive: true), // an inbound row names no client
        };
        e = e with { Watch = new WatchEvidence { Mode = WatchMode.Trace, StartedAt = T0, Seconds = 300, IntervalSeconds = 15, Connections = [], Rows = rows } };
        var fam = AgentMetrics.Build(e, null, new ConnectionCounters(10, TimeSpan.FromSeconds(60)), 50, new AgentSelfStats()).Single(f => f.Name == "conndoctor_tcp_sockets");
        double Count(string process, string remote) => fam.Samples.Where(x => x.Values[0] == "time_wait" && x.Values[1] == process && x.Values[4] == remote).Sum(x => x.Value);
        Assert.Equal(4, Count("looper", "10.0.0.1:2181"));
        Assert.Equal(3, Count("", "10.0.0.8:80"));
        Assert.Equal(2, Count("", "10.0.0.9:80"));
        Assert.Equal(9, fam.Samples.Sum(x => x.Value));
    }

    [Fact]
    public void PairsBeyondTopKAreSummedIntoOther()
    {
        var b = new EvidenceBuilder();
        for (int i = 0; i < 10; i++) b.Process(1000 + i, "p" + i).Socket(TcpState.Established, $"10.0.0.2:{40000 + i}", $"10.0.1.{i}:80", 1000 + i, count: i + 1);
        var e = b.Build();
        var fam = AgentMetrics.Build(e, null, new ConnectionCounters(10, TimeSpan.FromSeconds(60)), 3, new AgentSelfStats()).Single(f => f.Name == "conndoctor_tcp_sockets");
        Assert.Equal(4, fam.Samples.Count);
        Assert.Equal(["p9", "p8", "p7", "other"], fam.Samples.Select(s => s.Values[1]).ToArray());
        Assert.Equal(Enumerable.Range(1, 7).Sum(), fam.Samples.Single(s => s.Values[1] == "other").Value);
        Assert.Equal(Enumerable.Range(1, 10).Sum(), fam.Samples.Sum(s => s.Value)); // nothing lost
    }

    [Fact]
    public void CounterSeriesOfAGoneProcessExpireAndLiveOnesStay()
    {
        var alive = new HashSet<int> { 200 };
        var c = new ConnectionCounters(100, TimeSpan.FromSeconds(60), pid => alive.Contains(pid));
        c.Add([Conn("10.0.0.2:1", "10.0.0.1:2181", 200, "looper", 1, 2, ClosedBy.Local), Conn("10.0.0.2:2", "10.0.0.1:80", 300, "gone", 1, 2, ClosedBy.Local)], _ => "", T0);
        c.Expire(T0.AddSeconds(59));
        Assert.Equal(2, c.Count);
        c.Expire(T0.AddSeconds(61));
        Assert.Equal(1, c.Count);
        var opened = c.Families().First().Samples.Single();
        Assert.Equal("looper", opened.Values[0]);
    }

    [Fact]
    public void CountersPastTheCapGoToOther()
    {
        var c = new ConnectionCounters(3, TimeSpan.FromSeconds(60), _ => true);
        c.Add(Enumerable.Range(0, 10).Select(i => Conn($"10.0.0.2:{i + 1}", $"10.0.1.{i}:80", 100 + i, "p" + i, 1, null, ClosedBy.Unknown, state: TcpState.Established)), _ => "", T0);
        var opened = c.Families().First().Samples;
        Assert.Equal(3, opened.Count);
        Assert.Equal(8, opened.Single(s => s.Values[0] == "other").Value);
    }

    [Fact]
    public void WindowCountsAConnectionSpanningTwoSegmentsOnce()
    {
        // Two books as the trace's cut makes them: the open connection carried into the second as already open (its open time on the second's clock).
        var book1 = new WatchBook();
        var open = Conn("10.0.0.2:1", "10.0.0.1:2181", 200, "looper", 100, null, ClosedBy.Unknown, state: TcpState.Established);
        book1.Open(open);
        var first = new WatchEvidence { Mode = WatchMode.Trace, StartedAt = T0, Seconds = 15, IntervalSeconds = 5, Connections = book1.RecentConnections, Rows = book1.Rows(15_000, 15) };
        var book2 = new WatchBook();
        var carried = Conn("10.0.0.2:1", "10.0.0.1:2181", 200, "looper", 0, null, ClosedBy.Unknown, state: TcpState.Established);
        carried.OpenedMs = null;
        carried.OpenedBeforeMs = 100 - 15_000;
        book2.Open(carried);
        carried.ClosedBy = ClosedBy.Local;
        book2.Close(carried, 500);
        var other = Conn("10.0.0.2:2", "10.0.0.1:2181", 200, "looper", 600, null, ClosedBy.Local);
        book2.Open(other);
        book2.Close(other, 700);
        var second = first with { StartedAt = T0.AddSeconds(15), Connections = book2.RecentConnections, Rows = book2.Rows(15_000, 15) };
        var merged = WindowMerger.Merge([first, second], 1000)!;
        Assert.Equal(2, merged.Connections.Count);
        var row = Assert.Single(merged.Rows);
        Assert.Equal(2, row.Opens);
        Assert.Equal(2, row.Closes);
        Assert.Equal(30, merged.Seconds);
        Assert.Equal(15_500, merged.Connections[0].ClosedMs);
        Assert.Equal(100, merged.Connections[0].OpenedMs);
        // Lifetimes: 15.4 s for the one that spanned the cut, 100 ms for the other.
        Assert.Equal(100, row.MedianLifetimeMs);
        Assert.Equal(15_400, row.P99LifetimeMs);
    }
}
