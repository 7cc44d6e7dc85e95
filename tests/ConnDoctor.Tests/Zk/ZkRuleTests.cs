using ConnDoctor.Analysis;
using ConnDoctor.Model;
using ConnDoctor.Rules;
using ConnDoctor.Sources.ZkPoll;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.Zk;

/// <summary>The zk-poll parts of the rules on situations built from a real `cons` reply (fixtures/zk) with chosen ages.</summary>
public class ZkRuleTests
{
    private static ZkServerInfo Server(IReadOnlyList<ZkConnection> connections, int limit = 60) => new()
    {
        Member = "10.0.0.1:2181", State = SourceState.Ok, Mode = ZkServerMode.Leader, MaxClientCnxns = limit,
        MinSessionTimeoutMs = 4000, MaxSessionTimeoutMs = 40000, Connections = connections, Ephemerals = new Dictionary<long, IReadOnlyList<string>>(),
        PolledAt = DateTimeOffset.UtcNow,
    };

    private static DiagnoseReport Run(params ZkServerInfo[] servers) => Diagnosis.Run(new Evidence
    {
        Statuses = [],
        CollectedAt = DateTimeOffset.UtcNow,
        Zk = new ZkEnsembleEvidence { Members = servers.Select(s => s.Member).ToList(), Servers = servers, Clients = ZkViews.ClientsPerServer(servers) },
    }, new RuleOptions());

    private static List<ZkConnection> Real() =>
        FourLetterParser.ParseCons(File.ReadAllBytes(Path.Combine(Fixtures.Dir("zk"), "cons.txt")), out _).Where(c => c.HasSession).ToList();

    [Fact]
    public void SilentSessionsOfOneIpWhileOthersPingAreHalfOpenSuspects()
    {
        var real = Real(); // four sessions from 127.0.0.2 with a 6 s timeout
        var silent = real.Take(2).Select(c => c with { LastResponseAgeMs = 5000 }).ToList();            // 5 s of 6: two pings missed
        var alive = real.Skip(2).Select((c, i) => c with { Client = EvidenceBuilder.Ep($"10.0.0.{7 + i}:4000"), LastResponseAgeMs = 300 }).ToList();
        var r = Run(Server([.. silent, .. alive]));
        var f = Assert.Single(r.Findings, x => x.RuleId == "half-open-suspect");
        Assert.Equal("127.0.0.2", f.Subject.ClientIp);
        Assert.Equal(Severity.Warning, f.Severity);
        Assert.Contains("2 session connection(s)", f.Summary);
        Assert.Contains(f.Evidence, e => e.StartsWith("meanwhile 2 session connection(s) from other addresses are active"));

        // The same ages under a third of the timeout: live clients, nothing to say.
        var fine = Run(Server(real.Select(c => c with { LastResponseAgeMs = 1000 }).ToList()));
        Assert.DoesNotContain(fine.Findings, x => x.RuleId == "half-open-suspect");
    }

    [Fact]
    public void NearTheLimitIsAWarningAtItCritical()
    {
        var real = Real().Select(c => c with { LastResponseAgeMs = 100 }).ToList();
        Assert.Equal(Severity.Critical, Assert.Single(Run(Server(real, limit: 4)).Findings, x => x.RuleId == "connection-limit").Severity);
        Assert.Equal(Severity.Warning, Assert.Single(Run(Server(real, limit: 5)).Findings, x => x.RuleId == "connection-limit").Severity);
        Assert.DoesNotContain(Run(Server(real, limit: 6)).Findings, x => x.RuleId == "connection-limit"); // 4 of 6 is below 80%
        Assert.DoesNotContain(Run(Server(real, limit: 0)).Findings, x => x.RuleId == "connection-limit"); // 0 = no limit
    }

    [Fact]
    public void ChurnBetweenPollsIsAReconnectStormAndSteadyClientsAreNot()
    {
        var tracker = new ZkGrowthTracker();
        var steady = Real()[0] with { LastResponseAgeMs = 100 };
        var stormIp = EvidenceBuilder.Ep("10.0.0.9:1").Address;
        for (int poll = 0; poll < 31; poll++)
        {
            // Each poll the storm client is on two new connections; the steady one keeps its connection.
            var conns = new List<ZkConnection> { steady };
            for (int k = 0; k < 2; k++)
                conns.Add(new ZkConnection { Client = new NetEndpoint(stormIp, (ushort)(40000 + poll * 2 + k)), SessionId = 0x500 + poll * 2 + k, LastResponseAgeMs = 10, SessionTimeoutMs = 6000 });
            tracker.Add(poll * 2.0, [Server(conns)]);
        }
        var growth = tracker.Growth();
        var storm = growth.Single(g => g.Ip == stormIp);
        Assert.Equal((60, 60), (storm.ConnectionsOpened, storm.ConnectionsClosed));
        Assert.Equal(0, growth.Single(g => g.Ip == steady.Client.Address).ConnectionsClosed);
        var servers = new[] { Server([steady]) };
        var r = Diagnosis.Run(new Evidence
        {
            Statuses = [], CollectedAt = DateTimeOffset.UtcNow,
            Zk = new ZkEnsembleEvidence { Members = ["10.0.0.1:2181"], Servers = servers, Clients = ZkViews.ClientsPerServer(servers), Watched = true, Seconds = 60, IntervalSeconds = 2, Polls = 31, Growth = growth },
        }, new RuleOptions());
        var f = Assert.Single(r.Findings, x => x.RuleId == "reconnect-storm");
        Assert.Equal("10.0.0.9", f.Subject.ClientIp);
        Assert.Equal(Severity.Warning, f.Severity); // 60 closed in a minute
        Assert.DoesNotContain(r.Findings, x => x.RuleId == "session-leak"); // sessions come and go: no leak
    }
    [Fact]
    public void ConnectionsThatNeverGetASessionBetweenPollsAreASlowLoop()
    {
        // One sessionless connection seen at about every third poll (a loop of ~1/s, each caught lingering across a poll),
        // and a client whose connections come as slowly but each holds a session.
        var tracker = new ZkGrowthTracker();
        var steady = Real()[0] with { LastResponseAgeMs = 100 };
        var loopIp = EvidenceBuilder.Ep("10.0.0.9:1").Address;
        var sessionIp = EvidenceBuilder.Ep("10.0.0.10:1").Address;
        var r = new Random(5);
        for (int poll = 0; poll < 60; poll++)
        {
            var conns = new List<ZkConnection> { steady };
            if (r.Next(3) == 0) conns.Add(new ZkConnection { Client = new NetEndpoint(loopIp, (ushort)(40000 + poll)), SessionTimeoutMs = 6000 });
            if (poll % 3 == 0) conns.Add(new ZkConnection { Client = new NetEndpoint(sessionIp, (ushort)(40000 + poll)), SessionId = 0x900 + poll, LastResponseAgeMs = 10, SessionTimeoutMs = 6000 });
            tracker.Add(poll * 1.0, [Server(conns)]);
        }
        var growth = tracker.Growth();
        var servers = new[] { Server([steady]) };
        var report = Diagnosis.Run(new Evidence
        {
            Statuses = [], CollectedAt = DateTimeOffset.UtcNow,
            Zk = new ZkEnsembleEvidence { Members = ["10.0.0.1:2181"], Servers = servers, Clients = ZkViews.ClientsPerServer(servers), Watched = true, Seconds = 59, IntervalSeconds = 1, Polls = 60, Growth = growth },
        }, new RuleOptions(), ["reconnect-storm"]);
        var f = Assert.Single(report.Findings, x => x.Subject.ClientIp == "10.0.0.9");
        Assert.Equal(Severity.Warning, f.Severity);
        Assert.Contains("never gets a session", f.Summary);
        Assert.Contains(f.Evidence, l => l.Contains("a fixed period (a health check) cannot be told"));
        Assert.DoesNotContain(report.Findings, x => x.Subject.ClientIp == "10.0.0.10" && x.Severity >= Severity.Warning);
    }
}
