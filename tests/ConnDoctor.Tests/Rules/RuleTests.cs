using ConnDoctor.Model;
using ConnDoctor.Rules;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.Rules;

/// <summary>Each rule on the situations it exists for, and on the normal ones it must leave alone.</summary>
public class RuleTests
{
    private static List<Finding> Run(IRule rule, Evidence e, RuleOptions? o = null) =>
        rule.Evaluate(new RuleContext(e, o ?? new RuleOptions())).ToList();

    private static TcpInfo Silent(uint ms, uint unacked = 0, byte retransmits = 0, byte probes = 0) =>
        new() { LastDataRecvMs = ms, LastAckRecvMs = ms, LastDataSentMs = ms, Unacked = unacked, Retransmits = retransmits, Probes = probes };

    [Fact]
    public void CloseWaitLeakNamesTheHolderAndGrowsWithCountAndAge()
    {
        var e = new EvidenceBuilder().Process(42, "java", "java -jar app.jar").Process(43, "nginx")
            .Socket(TcpState.CloseWait, "10.0.0.1:40000", "10.0.0.9:8080", 42, Silent(5_000), recvQ: 1, count: 12)
            .Socket(TcpState.CloseWait, "10.0.0.1:50000", "10.0.0.9:80", 43, Silent(200), recvQ: 1)
            .Build();
        var f = Run(new CloseWaitLeakRule(), e);
        var leak = Assert.Single(f, x => x.Subject.Pid == 42);
        Assert.Equal(Severity.Warning, leak.Severity);
        Assert.Equal("java", leak.Subject.Process);
        Assert.Equal("10.0.0.9:8080", leak.Subject.RemoteEndpoint);
        Assert.Contains(leak.Evidence, l => l.StartsWith("fds: 10 11 12"));
        Assert.DoesNotContain(leak.Evidence, l => l.Contains("never read")); // Recv-Q 1 is the FIN, not data
        // One young CLOSE_WAIT is a close in progress: info, never a warning.
        Assert.Equal(Severity.Info, Assert.Single(f, x => x.Subject.Pid == 43).Severity);
    }

    [Theory]
    [InlineData(3, 120_000u, Severity.Warning)]    // old: the FIN came two minutes ago and nobody closed
    [InlineData(150, 1_000u, Severity.Critical)]   // many
    [InlineData(20, 900_000u, Severity.Critical)]  // several and very old
    [InlineData(2, 3_000u, Severity.Info)]
    public void CloseWaitSeverity(int count, uint silentMs, Severity expected)
    {
        var e = new EvidenceBuilder().Process(7, "app").Socket(TcpState.CloseWait, "10.0.0.1:40000", "10.0.0.9:8080", 7, Silent(silentMs), count: count).Build();
        Assert.Equal(expected, Assert.Single(Run(new CloseWaitLeakRule(), e)).Severity);
    }

    [Fact]
    public void ClientSideTimeWaitIsMeasuredAgainstThePortRangeAndNamesLiveSuspects()
    {
        var e = new EvidenceBuilder().Process(9, "tomcat")
            .Socket(TcpState.Established, "10.0.0.1:33000", "10.0.0.2:2181", 9, Silent(10))
            .Socket(TcpState.TimeWait, "10.0.0.1:34000", "10.0.0.2:2181", expiresMs: 59_500, count: 4000, expirySpreadMs: 40_000)
            .Build();
        var f = Assert.Single(Run(new TimeWaitPressureRule(), e));
        Assert.Equal(Severity.Warning, f.Severity); // 4000 of 28232 ports = 14%
        Assert.Equal(9, f.Subject.Pid);
        Assert.Equal("10.0.0.2:2181", f.Subject.RemoteEndpoint);
        Assert.Contains(f.Evidence, l => l.Contains("14%") && l.Contains("28232"));
        // Timers spread over 40 s (0.5 s to 40.5 s ago, last one 39.99 s): 4000 / 39.99 s.
        Assert.Contains(f.Evidence, l => l.Contains("between 40.5 s and 0.5 s ago: about 100 closes/s"));
        Assert.Contains("at about 100/s", f.Summary);
        Assert.Contains("reconnect loop", f.Cause);
        Assert.Contains("tcp_tw_recycle was removed in Linux 4.12", f.Remedy);
        Assert.Contains("tcp_fin_timeout does not shorten TIME_WAIT", f.Remedy);
    }

    [Fact]
    public void ClientSideTimeWaitCountsIPv4MappedAndPlainIPv4AsOneEndpoint()
    {
        // A dual-stack Java client's sockets show the server as ::ffff:10.0.0.2; they use the same ports as plain IPv4 ones.
        var e = new EvidenceBuilder()
            .Socket(TcpState.TimeWait, "10.0.0.1:34000", "10.0.0.2:2181", expiresMs: 30_000, count: 600)
            .Socket(TcpState.TimeWait, "[::ffff:10.0.0.1]:44000", "[::ffff:10.0.0.2]:2181", expiresMs: 30_000, count: 600)
            .Build();
        Assert.Contains(e.Sockets, s => s.Remote.Address.IsV6);
        var f = Assert.Single(Run(new TimeWaitPressureRule(), e));
        Assert.Equal(Severity.Warning, f.Severity);        // 1200: past the 1,000 of a client
        Assert.Equal("10.0.0.2:2181", f.Subject.RemoteEndpoint);
        Assert.Contains("1200", f.Summary);
    }

    [Fact]
    public void ServerSideTimeWaitPerClientIpSaysTheServerClosesFirst()
    {
        var e = new EvidenceBuilder().Process(1, "java").Listen("0.0.0.0:2181", 1)
            .Socket(TcpState.TimeWait, "10.0.0.2:2181", "10.0.0.7:40000", expiresMs: 30_000, count: 1500)
            .Socket(TcpState.TimeWait, "10.0.0.2:2181", "10.0.0.8:40000", expiresMs: 30_000, count: 20)
            .Build();
        var f = Assert.Single(Run(new TimeWaitPressureRule(), e));
        Assert.Equal(Severity.Warning, f.Severity);
        Assert.Equal("10.0.0.7", f.Subject.ClientIp);
        Assert.Equal(1, f.Subject.Pid);
        Assert.Contains("server keeps closing", f.Summary);
        Assert.Contains("maxClientCnxns", f.Cause);
    }

    [Fact]
    public void FewTimeWaitAreNormal()
    {
        var e = new EvidenceBuilder().Socket(TcpState.TimeWait, "10.0.0.1:34000", "10.0.0.2:80", expiresMs: 10_000, count: 150).Build();
        Assert.Empty(Run(new TimeWaitPressureRule(), e));
    }

    [Fact]
    public void BucketTableNearFullIsCritical()
    {
        var b = new EvidenceBuilder().Socket(TcpState.TimeWait, "10.0.0.1:34000", "10.0.0.2:80", expiresMs: 10_000, count: 95);
        b.Sysctls = b.Sysctls with { TcpMaxTwBuckets = 100 };
        Assert.Contains(Run(new TimeWaitPressureRule(), b.Build()), f => f.Severity == Severity.Critical && f.Summary.Contains("tcp_max_tw_buckets=100"));
    }

    [Fact]
    public void HalfOpenRetransmittingIsAWarningAndSilenceAloneIsInfo()
    {
        var e = new EvidenceBuilder().Process(5, "client").Process(6, "pool")
            .Socket(TcpState.Established, "10.0.0.1:40000", "10.0.0.3:2181", 5, Silent(20_000, unacked: 2, retransmits: 5), TimerKind.Retransmit)
            .Socket(TcpState.Established, "10.0.0.1:41000", "10.0.0.4:5432", 6, Silent(30 * 60_000))
            .Build();
        var f = Run(new HalfOpenSuspectRule(), e);
        var strong = Assert.Single(f, x => x.Subject.Pid == 5);
        Assert.Equal(Severity.Warning, strong.Severity);
        Assert.Contains("retransmitted 5 time(s)", strong.Evidence[0]);
        Assert.Equal(Severity.Info, Assert.Single(f, x => x.Subject.Pid == 6).Severity);
    }

    [Fact]
    public void HalfOpenProofCommandCoversEveryLocalAddressOfTheGroup()
    {
        // One process, one peer, two of our addresses: the peer must look for both, each with its own ports.
        var e = new EvidenceBuilder().Process(3, "server")
            .Socket(TcpState.Established, "10.0.0.2:7002", "10.0.0.9:33745", 3, Silent(40 * 60_000))
            .Socket(TcpState.Established, "10.0.0.3:7003", "10.0.0.9:44659", 3, Silent(40 * 60_000))
            .Socket(TcpState.Established, "10.0.0.3:7003", "10.0.0.9:59475", 3, Silent(40 * 60_000))
            .Build();
        var f = Assert.Single(Run(new HalfOpenSuspectRule(), e));
        Assert.Contains("ss -tn '( dst 10.0.0.2 and sport = :33745 ) or ( dst 10.0.0.3 and ( sport = :44659 or sport = :59475 ) )'", f.Remedy);
        Assert.Contains("conndoctor sockets --remote 10.0.0.2,10.0.0.3", f.Remedy);
    }

    [Fact]
    public void HalfOpenOfAPoolOfThousandsGivesCommandsOfAFewWordsNotAListOfEveryPort()
    {
        // A server holding 2,000 idle connections from one client's pool (as 100k idle held sockets give, per holder): the
        // proof names our host, not the client's 2,000 ports; the kill command is the natural filter, not 2,000 --remote options.
        var b = new EvidenceBuilder().Process(3, "server");
        for (int i = 0; i < 2000; i++) b.Socket(TcpState.Established, "10.0.0.2:7002", $"10.0.0.9:{20000 + i}", 3, Silent(40 * 60_000));
        var f = Assert.Single(Run(new HalfOpenSuspectRule(), b.Build()));
        Assert.Contains("ss -tn 'dst 10.0.0.2'", f.Remedy);
        Assert.DoesNotContain("sport", f.Remedy);
        Assert.Contains("conndoctor kill --state established --local :7002 --remote 10.0.0.9 --pid 3", f.Remedy);
        Assert.True(f.Remedy.Length < 1500, $"{f.Remedy.Length} characters");
        Assert.Contains("2000 connection(s)", f.Summary);
    }

    [Fact]
    public void HalfOpenQuotesTheWorstOfAGroupFirstAndCountsTheRest()
    {
        // Twelve connections of one holder to one peer, the worst in the middle of the table: the retransmitting one first,
        // then the longest silent (ties in table order), eight quoted, the rest counted; two local ends: no one local endpoint.
        var b = new EvidenceBuilder().Process(3, "pool");
        for (int i = 0; i < 12; i++)
        {
            string local = i == 11 ? "10.0.0.2:7003" : "10.0.0.2:7002";
            if (i == 6) b.Socket(TcpState.Established, local, $"10.0.0.9:{40000 + i}", 3, Silent(5_000, unacked: 1, retransmits: 4), TimerKind.Retransmit);
            else b.Socket(TcpState.Established, local, $"10.0.0.9:{40000 + i}", 3, Silent((uint)(60 + (i % 5)) * 60_000));
        }
        var f = Assert.Single(Run(new HalfOpenSuspectRule(), b.Build()));
        Assert.Equal(9, f.Evidence.Count);
        Assert.Contains("10.0.0.9:40006: 1 segment(s) unacked", f.Evidence[0]);
        // Silences 64, 64, 63, 63, 62, 62, 61 minutes: ports 40004 and 40009, 40003 and 40008, 40002, 40007 (40006 is the strong one), 40001.
        int[] expected = [40004, 40009, 40003, 40008, 40002, 40007, 40001];
        for (int i = 0; i < expected.Length; i++) Assert.Contains($"10.0.0.9:{expected[i]}: nothing received", f.Evidence[i + 1]);
        Assert.Equal("... and 4 more", f.Evidence[8]);
        Assert.Null(f.Subject.LocalEndpoint);
        Assert.Contains("1 connection(s) to 10.0.0.9 get no answer", f.Summary);
    }

    [Fact]
    public void HalfOpenProofListsEachPortWhileThereAreFew()
    {
        var b = new EvidenceBuilder().Process(3, "server");
        for (int i = 0; i < HalfOpenSuspectRule.MaxPortsListed; i++) b.Socket(TcpState.Established, "10.0.0.2:7002", $"10.0.0.9:{40000 + i}", 3, Silent(40 * 60_000));
        var f = Assert.Single(Run(new HalfOpenSuspectRule(), b.Build()));
        Assert.Contains("sport = :40000 or", f.Remedy);
        Assert.Contains($"sport = :{40000 + HalfOpenSuspectRule.MaxPortsListed - 1} )'", f.Remedy);
    }

    [Fact]
    public void HalfOpenSilentPeerWhileOthersAreActiveIsAWarning()
    {
        var e = new EvidenceBuilder().Process(1, "zookeeper").Listen("0.0.0.0:2181", 1)
            .Socket(TcpState.Established, "10.0.0.2:2181", "10.0.0.7:40000", 1, Silent(20 * 60_000), count: 5)
            .Socket(TcpState.Established, "10.0.0.2:2181", "10.0.0.8:40000", 1, Silent(500), count: 3)
            .Build();
        var f = Assert.Single(Run(new HalfOpenSuspectRule(), e));
        Assert.Equal(Severity.Warning, f.Severity);
        Assert.Equal("10.0.0.7", f.Subject.RemoteEndpoint);
        Assert.Contains(f.Evidence, l => l.Contains("3 active connection(s) with other peers"));
    }

    [Fact]
    public void HalfOpenIgnoresKeepaliveSocketsThatAreAnsweredAndShortSilences()
    {
        var e = new EvidenceBuilder().Process(1, "app")
            .Socket(TcpState.Established, "10.0.0.1:40000", "10.0.0.3:80", 1, Silent(30 * 60_000), TimerKind.Keepalive)       // keepalive on, answered
            .Socket(TcpState.Established, "10.0.0.1:40001", "10.0.0.3:80", 1, Silent(60_000))                                   // below --idle
            .Socket(TcpState.Established, "10.0.0.1:40002", "10.0.0.3:80", 1, Silent(60_000, unacked: 1, retransmits: 1), TimerKind.Retransmit) // one loss
            .Build();
        Assert.Empty(Run(new HalfOpenSuspectRule(), e));
    }

    [Fact]
    public void HalfOpenSaysNotEnoughEvidenceWithoutTcpInfo()
    {
        var e = new EvidenceBuilder().Process(1, "app").Socket(TcpState.Established, "10.0.0.1:40000", "10.0.0.3:80", 1).Build();
        var report = Diagnosis.Run(e, new RuleOptions(), ["half-open-suspect"]);
        var outcome = Assert.Single(report.Rules);
        Assert.Equal(RuleState.NotEnoughEvidence, outcome.State);
        Assert.Contains("tcp_info", outcome.Reason);
    }

    [Fact]
    public void RuleIdsAreStableKebabCaseAndUnique()
    {
        var ids = RuleRegistry.All.Select(r => r.Id).ToList();
        Assert.Equal(ids.Distinct().Count(), ids.Count);
        Assert.All(ids, id => Assert.Matches("^[a-z]+(-[a-z]+)*$", id));
        Assert.Contains("close-wait-leak", ids);
        Assert.Contains("time-wait-pressure", ids);
        Assert.Contains("half-open-suspect", ids);
    }
}
