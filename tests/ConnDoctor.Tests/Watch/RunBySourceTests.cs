using ConnDoctor.Model;
using ConnDoctor.Rules;

namespace ConnDoctor.Tests.Watch;

/// <summary>
/// The rules one source at a time: the watch's view holds the same table as the table's view, so a rule that does not read
/// the watch is run once and its findings given again for the watch. The report must be what running every rule over
/// both views gives.
/// </summary>
public class RunBySourceTests
{
    [Fact]
    public void TheWatchViewGivesWhatRunningEveryRuleOverItWouldGive()
    {
        // A table that table-only rules report on (half-open suspects, TIME_WAIT for the port range), and that rules reading
        // the watch report on differently with it (a CLOSE_WAIT leak with its growth, TIME_WAIT named after the watch's closer).
        var b = new Infra.EvidenceBuilder().Process(55, "leaky").Process(3, "pool");
        for (int i = 0; i < 12; i++) b.Socket(TcpState.CloseWait, $"10.0.0.1:{40000 + i}", "10.0.0.2:9001", 55);
        for (int i = 0; i < 20; i++)
            b.Socket(TcpState.Established, "10.0.0.1:7002", $"10.0.0.9:{30000 + i}", 3,
                new TcpInfo { LastDataRecvMs = 2 * 3_600_000, LastAckRecvMs = 2 * 3_600_000 });
        b.Socket(TcpState.TimeWait, "10.0.0.3:40000", "10.0.0.5:2181", expiresMs: 50_000, count: 1500, expirySpreadMs: 40_000);
        var table = b.Build();
        var e = table with
        {
            Watch = new WatchEvidence
            {
                Mode = WatchMode.Trace, StartedAt = table.CollectedAt, Seconds = 60, IntervalSeconds = 1,
                CloseWait = [new CloseWaitTrend(55, "leaky", "host", 0, 12, 60)],
                Rows = [new WatchRow
                {
                    Pid = 8123, Process = "java", Endpoint = "10.0.0.5:2181", RemotePort = 2181, Opens = 1500, Closes = 1500, OpensPerSec = 25,
                    ClosesPerSec = 25, MedianLifetimeMs = 0.4, P99LifetimeMs = 1.2, ClosedByLocal = 1500,
                }],
            },
        };
        var options = new RuleOptions();
        var report = Diagnosis.RunBySource(e, options);

        // Every non-audit rule over each of the two views, as before the watch's view reused the table's findings.
        var nonAudit = RuleRegistry.All.Select(r => r.Id).Where(id => !AuditRules.Ids.Contains(id)).ToList();
        var ofTable = Diagnosis.Run(e with { Watch = null }, options, nonAudit);
        var ofWatch = Diagnosis.Run(e, options, nonAudit);
        static string Text(Finding f) => $"{f.Source}|{f.RuleId}|{f.Severity}|{f.Summary}|{string.Join('\n', f.Evidence)}|{f.Cause}|{f.Remedy}";
        var expected = ofTable.Findings.Select(f => f with { Source = "sockets" }).Concat(ofWatch.Findings.Select(f => f with { Source = "watch" }))
            .Select(Text).Order(StringComparer.Ordinal).ToList();
        var got = report.Findings.Where(f => f.Source is "sockets" or "watch").Select(Text).Order(StringComparer.Ordinal).ToList();
        Assert.Equal(expected, got);
        // The case is the one it should be: table-only findings twice, and a watch-read finding that differs between the views.
        Assert.Equal(2, report.Findings.Count(f => f.RuleId == "half-open-suspect"));
        Assert.Contains(report.Findings, f => f.RuleId == "close-wait-leak" && f.Source == "watch" && f.Evidence.Any(l => l.Contains("growing by about")));
        Assert.DoesNotContain(report.Findings, f => f.RuleId == "close-wait-leak" && f.Source == "sockets" && f.Evidence.Any(l => l.Contains("growing by about")));
        foreach (var o in ofWatch.Rules)
        {
            var joined = Assert.Single(report.Rules, x => x.RuleId == o.RuleId);
            Assert.Equal(o.Findings + (ofTable.Rules.FirstOrDefault(x => x.RuleId == o.RuleId)?.Findings ?? 0), joined.Findings);
        }
    }

    [Fact]
    public void RulesAskedForThatAllDoNotReadTheWatchAreGivenAgainAndNothingElseRuns()
    {
        // `diagnose --watch --rule half-open-suspect`: nothing is left to run over the watch's view, which must not mean
        // "every rule".
        var b = new Infra.EvidenceBuilder().Process(3, "pool");
        for (int i = 0; i < 3; i++)
            b.Socket(TcpState.Established, "10.0.0.1:7002", $"10.0.0.9:{30000 + i}", 3,
                new TcpInfo { LastDataRecvMs = 2 * 3_600_000, LastAckRecvMs = 2 * 3_600_000 });
        for (int i = 0; i < 12; i++) b.Socket(TcpState.CloseWait, $"10.0.0.1:{40000 + i}", "10.0.0.2:9001", 3);
        var table = b.Build();
        var e = table with { Watch = new WatchEvidence { Mode = WatchMode.Trace, StartedAt = table.CollectedAt, Seconds = 60, IntervalSeconds = 1 } };
        var report = Diagnosis.RunBySource(e, new RuleOptions(), ["half-open-suspect"]);
        Assert.Equal(["half-open-suspect"], report.Rules.Select(o => o.RuleId));
        Assert.All(report.Findings, f => Assert.Equal("half-open-suspect", f.RuleId));
        Assert.Equal(["sockets", "watch"], report.Findings.Select(f => f.Source!).Order(StringComparer.Ordinal));
    }
}
