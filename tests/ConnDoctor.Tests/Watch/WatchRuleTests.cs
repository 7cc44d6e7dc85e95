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
}
