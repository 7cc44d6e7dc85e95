using ConnDoctor.Model;
using ConnDoctor.Rules;

namespace ConnDoctor.Tests.Watch;

/// <summary>The rules over watch evidence alone: thresholds, causes, and ordinary traffic staying quiet.</summary>
public class WatchRuleTests
{
    private static Evidence With(params WatchRow[] rows) => new()
    {
        Statuses = [],
        CollectedAt = DateTimeOffset.UnixEpoch,
        Watch = new WatchEvidence { Mode = WatchMode.Trace, StartedAt = DateTimeOffset.UnixEpoch, Seconds = 60, IntervalSeconds = 1, Rows = rows, EventsLost = 0 },
    };

    private static WatchRow Row(int pid, string ep, int n, double rate, double medianMs, int local = 0, int resetsSent = 0, int unread = 0, int resetsRecv = 0, bool passive = false) => new()
    {
        Pid = pid, Process = "app", Endpoint = ep, RemotePort = int.Parse(ep.Split(':')[^1]), Opens = n, Closes = n, OpensPerSec = rate, ClosesPerSec = rate,
        MedianLifetimeMs = medianMs, P99LifetimeMs = medianMs * 3, ClosedByLocal = local, ResetsSent = resetsSent, UnreadDataResets = unread,
        ResetsReceived = resetsRecv, Passive = passive,
    };

    [Fact]
    public void OrdinaryTrafficRaisesNothingAtWarning()
    {
        var e = With(
            Row(10, "10.0.0.5:2181", 1, 0.02, 3_600_000),         // one long ZooKeeper session
            Row(11, "10.0.0.6:8080", 60, 1, 50, local: 60),       // a health check once a second
            Row(12, "10.0.0.7:5432", 300, 5, 20_000, local: 300), // a pool recycling connections every 20 s
            Row(13, "10.0.0.8:443", 30, 0.5, 200, resetsSent: 3)); // a few aborted requests
        var report = Diagnosis.Run(e, new RuleOptions());
        Assert.DoesNotContain(report.Findings, f => f.Severity >= Severity.Warning);
        Assert.Contains(report.Rules, r => r.RuleId == "rst-storm");
    }

    [Fact]
    public void ReconnectLoopToZooKeeperIsCriticalWithTheHint()
    {
        var f = Assert.Single(Diagnosis.Run(With(Row(42, "10.0.0.5:2181", 6000, 400, 0.3, local: 6000)), new RuleOptions()).Findings);
        Assert.Equal("reconnect-storm", f.RuleId);
        Assert.Equal(Severity.Critical, f.Severity);
        Assert.Equal(42, f.Subject.Pid);
        Assert.Contains("reconnect loop", f.Cause);
    }

    [Fact]
    public void UnreadDataResetsNameTheCause()
    {
        var f = Assert.Single(Diagnosis.Run(With(Row(7, "10.0.0.9:8080", 100, 0.5, 2000, resetsSent: 100, unread: 100)), new RuleOptions()).Findings,
            x => x.RuleId == "rst-storm");
        Assert.Equal(Severity.Warning, f.Severity);
        Assert.Contains("data unread", f.Summary);
        Assert.Contains("RFC 2525", f.Cause);
    }

    [Fact]
    public void ResetsTowardsAServerSayTheClientsResetThem()
    {
        var f = Assert.Single(Diagnosis.Run(With(Row(8, ":8080 <- 10.0.0.3:8080", 100, 2, 5, resetsRecv: 100, passive: true)), new RuleOptions()).Findings,
            x => x.RuleId == "rst-storm");
        Assert.Contains("clients reset", f.Cause);
        Assert.Equal("10.0.0.3:8080", f.Subject.ClientIp);
    }

    [Fact]
    public void SnapshotModeSaysItCannotSeeResets()
    {
        var e = With();
        e = new Evidence { Statuses = [], CollectedAt = e.CollectedAt, Watch = e.Watch! with { Mode = WatchMode.Snapshot } };
        var r = Diagnosis.Run(e, new RuleOptions());
        Assert.Contains(r.Rules, o => o.RuleId == "rst-storm" && o.State == RuleState.NotEnoughEvidence);
    }

    [Fact]
    public void CloseWaitLeakGainsItsGrowthRate()
    {
        var b = new Infra.EvidenceBuilder().Process(55, "leaky");
        for (int i = 0; i < 5; i++) b.Socket(TcpState.CloseWait, $"10.0.0.1:{40000 + i}", "10.0.0.2:9001", 55);
        var e = b.Build();
        e = new Evidence
        {
            Sockets = e.Sockets, Processes = e.Processes, Namespaces = e.Namespaces, Statuses = e.Statuses, CollectedAt = e.CollectedAt,
            Watch = new WatchEvidence
            {
                Mode = WatchMode.Trace, StartedAt = e.CollectedAt, Seconds = 60, IntervalSeconds = 1,
                CloseWait = [new CloseWaitTrend(55, "leaky", "host", 0, 5, 60)],
            },
        };
        var f = Assert.Single(Diagnosis.Run(e, new RuleOptions()).Findings, x => x.RuleId == "close-wait-leak");
        Assert.Contains(f.Evidence, line => line.Contains("0 -> 5 in CLOSE_WAIT, growing by about 5/min"));
    }
    [Fact]
    public void TimeWaitPressureNamesTheProcessTheWatchSawInsteadOfSendingTheUserToWatch()
    {
        var b = new Infra.EvidenceBuilder();
        b.Socket(TcpState.TimeWait, "10.0.0.3:40000", "10.0.0.5:2181", expiresMs: 50_000, count: 1500, expirySpreadMs: 40_000);
        var e = b.Build();
        e = new Evidence
        {
            Sockets = e.Sockets, Processes = e.Processes, Namespaces = e.Namespaces, Statuses = e.Statuses, CollectedAt = e.CollectedAt,
            Watch = new WatchEvidence
            {
                Mode = WatchMode.Trace, StartedAt = e.CollectedAt, Seconds = 60, IntervalSeconds = 1,
                Rows = [Row(8123, "10.0.0.5:2181", 1500, 25, 0.4, local: 1500) with { Process = "java" }],
            },
        };
        var f = Assert.Single(Diagnosis.Run(e, new RuleOptions()).Findings, x => x.RuleId == "time-wait-pressure");
        Assert.Equal(8123, f.Subject.Pid);
        Assert.DoesNotContain(f.Evidence, line => line.Contains("no process holds a live connection"));
        Assert.DoesNotContain("run conndoctor watch", f.Remedy, StringComparison.OrdinalIgnoreCase);
        Assert.DoesNotContain("conndoctor watch --remote", f.Remedy);
        Assert.Contains("java[8123]", f.Remedy);
        Assert.Contains(f.Evidence, line => line.StartsWith("watch saw who closed them: java[8123]"));

        // Without a watch the same pile still says how to name the process.
        var alone = Assert.Single(Diagnosis.Run(b.Build(), new RuleOptions()).Findings, x => x.RuleId == "time-wait-pressure");
        Assert.Contains("conndoctor watch --remote 10.0.0.5:2181", alone.Remedy);
    }

    [Fact]
    public void BothEndsOfALoopbackResetLoopAreToldOnce()
    {
        // docs/watch-demo.sh: a client reads the first 1000 bytes of 8 MB answers and closes; the server on this host sees the resets.
        var client = Row(7573, "127.0.0.1:8080", 45, 10, 0.5, local: 45, resetsSent: 45, unread: 45);
        var server = Row(7567, "127.0.0.1:8080", 45, 10, 0.5, resetsRecv: 45, passive: true) with { Endpoint = ":8080 <- 127.0.0.1", LocalPort = 8080, RemotePort = 40000 };
        var findings = Diagnosis.Run(With(client, server), new RuleOptions(), ["rst-storm"]).Findings;
        var f = Assert.Single(findings);
        Assert.Equal(7573, f.Subject.Pid);
        Assert.Contains(f.Evidence, line => line.Contains("the other end is on this host: app[7567] on :8080 had 45 connection(s) reset"));

        // A server whose clients are elsewhere still gets its own finding.
        var remote = server with { Endpoint = ":8080 <- 10.0.0.3" };
        Assert.Equal(2, Diagnosis.Run(With(client, remote), new RuleOptions(), ["rst-storm"]).Findings.Count);
    }
    [Fact]
    public void PipedPeriodicLinesKeepTo80ColumnsUnlessWide()
    {
        // The rows of docs/watch.md's demo: a server row and client rows in a named namespace, with long owners.
        var rows = new[]
        {
            Row(7566, "127.0.0.1:2181", 40, 40, 0.22) with { Endpoint = ":2181 <- 127.0.0.1", Passive = true, Netns = "wdemo", StatesNow = new Dictionary<TcpState, int> { [TcpState.Established] = 1 } },
            Row(7574, "127.0.0.1:2181", 40, 40, 0.27, local: 40) with { Netns = "wdemo", StatesNow = new Dictionary<TcpState, int> { [TcpState.TimeWait] = 179 } },
            Row(1234567, "[2001:db8::1234:5678]:2181", 3, 3, 1.2, local: 3) with { Process = "java-with-a-long-name" },
        };
        var tick = new ConnDoctor.Sources.Watch.WatchTick(WatchMode.Trace, 5.0, rows, 0);
        var narrow = new StringWriter();
        ConnDoctor.Render.WatchTerminalRenderer.Tick(tick, narrow, new ConnDoctor.Render.OutputOptions { Width = 80 }, terminal: false);
        var lines = narrow.ToString().Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, lines.Length);
        Assert.All(lines, l => Assert.True(l.Length <= 80, $"{l.Length} columns: {l}"));
        Assert.Contains("new 40/s closed 40/s p50 270us TIME-WAIT:179", lines[1]);
        Assert.Contains("TIME-WAIT:179", lines[1]);

        var wide = new StringWriter();
        ConnDoctor.Render.WatchTerminalRenderer.Tick(tick, wide, new ConnDoctor.Render.OutputOptions { Width = 200 }, terminal: false);
        Assert.Contains(wide.ToString().Split('\n'), l => l.Length > 80 && l.Contains("first-close"));
    }
}
