using System.Text;
using ConnDoctor.Analysis;
using ConnDoctor.Model;
using ConnDoctor.Render;
using ConnDoctor.Rules;
using ConnDoctor.Sources.Pcap;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.Pcap;

/// <summary>The capture rules on connections written here, and the pcap renderers against golden files.</summary>
public class CaptureRuleTests
{
    private static readonly NetEndpoint Zk = EvidenceBuilder.Ep("10.0.0.5:2181");
    private const long T0 = 1_795_000_000_000_000_000, Ms = 1_000_000;

    /// <summary>n connections from 10.0.0.7 to the server, one every stepMs, each as `shape` makes it.</summary>
    private static IEnumerable<TcpConnection> Conns(int n, long stepMs, Func<TcpConnection, TcpConnection> shape, NetEndpoint? server = null, string client = "10.0.0.7") =>
        Enumerable.Range(0, n).Select(i => shape(new TcpConnection
        {
            Client = EvidenceBuilder.Ep($"{client}:{30000 + i}"), Server = server ?? Zk, OpenSeen = true, Accepted = true,
            StartNs = T0 + i * stepMs * Ms, EndNs = T0 + i * stepMs * Ms + 3 * Ms, Packets = 8,
        }));

    private static TcpConnection Normal(TcpConnection c) => c with
    {
        BytesToServer = 200, BytesToClient = 2000, SegmentsToServer = 2, SegmentsToClient = 3, Closed = true,
        FirstClose = CloseKind.Fin, ClientClosedFirst = true, HandshakeRttNs = 150_000,
    };

    private static Evidence Evidence(IEnumerable<TcpConnection> conns) => EvidenceBuilder.FromCapture(conns);

    private static List<Finding> Run(IEnumerable<TcpConnection> conns) => Diagnosis.Run(Evidence(conns), new RuleOptions()).Findings.ToList();

    [Fact]
    public void NormalTrafficRaisesNothing() =>
        Assert.Empty(Run(Conns(40, 1000, Normal).Concat(Conns(3, 10, c => Normal(c) with { RetransToClient = 1 }, EvidenceBuilder.Ep("10.0.0.9:443")))));

    [Fact]
    public void ShortConnectionsInALoopAreAStormAndTheServersRejectionsAreNamed()
    {
        var storm = Assert.Single(Run(Conns(300, 5, Normal)));
        Assert.Equal(("reconnect-storm", Severity.Warning), (storm.RuleId, storm.Severity));
        Assert.Equal("10.0.0.7", storm.Subject.ClientIp);
        Assert.Contains("NoClassDefFoundError", storm.Cause);

        var rejected = Assert.Single(Run(Conns(60, 500, c => c with { Closed = true, FirstClose = CloseKind.Fin, ClientClosedFirst = false })));
        Assert.Equal(Severity.Warning, rejected.Severity);
        Assert.Contains("the server closes them at once", rejected.Summary);
        Assert.Contains("maxClientCnxns", rejected.Cause);

        Assert.Empty(Run(Conns(60, 1000, Normal))); // one a second for a minute: a poller, not a storm

        // Fewer than the 50 short connections of a storm, but 25 the server rejected at once: still a warning.
        var few = Assert.Single(Run(Conns(25, 50, c => c with { Closed = true, FirstClose = CloseKind.Fin, ClientClosedFirst = false })));
        Assert.Equal(Severity.Warning, few.Severity);
        Assert.Contains("maxClientCnxns", few.Cause);

        // A pool opened before the capture began (no SYN seen) closing just after its start: lifetimes unknown, no storm.
        Assert.Empty(Run(Conns(300, 5, c => Normal(c) with { OpenSeen = false })));
    }

    [Fact]
    public void RefusedAttemptsGrowFromInfoToCritical()
    {
        TcpConnection Refused(TcpConnection c) => c with { Accepted = false, Closed = true, Reset = ResetClass.Refused, RstPackets = 1, FirstClose = CloseKind.Rst };
        Assert.Equal(Severity.Info, Assert.Single(Run(Conns(1, 10, Refused))).Severity);
        Assert.Equal(Severity.Warning, Assert.Single(Run(Conns(20, 1000, Refused))).Severity);
        var burst = Run(Conns(300, 5, Refused)).Single(f => f.RuleId == "refused-storm");
        Assert.Equal(Severity.Critical, burst.Severity);
        Assert.Contains("ss -ltn 'sport = :2181'", burst.Remedy);
    }

    [Fact]
    public void UnreadDataResetsNameWhoReset()
    {
        var f = Assert.Single(Run(Conns(3, 2000, c => Normal(c) with { Reset = ResetClass.UnreadData, ResetByClient = true, RstPackets = 2, UnreadBytes = 65536, ResetNs = c.EndNs })));
        Assert.Equal(("unread-data-reset", Severity.Warning), (f.RuleId, f.Severity));
        Assert.StartsWith("client 10.0.0.7 reset 3 connection(s) to the server", f.Summary);
        Assert.Contains("Connection reset by peer", string.Join(' ', f.Evidence));

        // A reply all acknowledged, then RST|ACK: what a client that read it and closed with SO_LINGER 0 sends too. A few: info.
        TcpConnection Acked(TcpConnection c) => Normal(c) with { BytesToClient = 20000, Reset = ResetClass.UnreadOrLinger, ResetByClient = true, RstPackets = 1, ResetNs = c.EndNs };
        var few = Assert.Single(Run(Conns(5, 200, Acked)));
        Assert.Equal(("unread-data-reset", Severity.Info), (few.RuleId, few.Severity));
        Assert.Contains("SO_LINGER with a zero timeout", few.Cause);
        Assert.Contains("the capture cannot tell which", few.Summary);
        Assert.DoesNotContain("still sending", string.Join(' ', few.Evidence) + few.Summary + few.Cause);
        // Every one of 30 connections ending so is the client's pattern: warning, and the evidence says why.
        var pattern = Assert.Single(Run(Conns(30, 200, Acked)));
        Assert.Equal(Severity.Warning, pattern.Severity);
        Assert.Contains("30 of the pair's 30 closed connection(s) end this way", string.Join('\n', pattern.Evidence));
        // 10 among 40 clean closes is no pattern.
        var mixed = Run(Conns(10, 200, Acked).Concat(Conns(30, 200, Normal, client: "10.0.0.7").Select(c => c with { Client = EvidenceBuilder.Ep($"10.0.0.7:{c.Client.Port + 20000}") })));
        Assert.Equal(Severity.Info, Assert.Single(mixed, f => f.RuleId == "unread-data-reset").Severity);
    }

    [Fact]
    public void RetransmissionsAndStaleResetsAreReported()
    {
        var findings = Run(Conns(10, 2000, c => Normal(c) with { SegmentsToClient = 100, RetransToClient = 12 })
            .Append(Normal(Conns(1, 1, c => c, EvidenceBuilder.Ep("10.0.0.9:8080")).Single()) with { OpenSeen = false, Reset = ResetClass.Stale, ResetByClient = false, RstPackets = 1, ResetNs = T0 }));
        var retrans = findings.Single(f => f.RuleId == "retransmission-heavy");
        Assert.Equal(Severity.Warning, retrans.Severity);
        Assert.StartsWith("11% of segments", retrans.Summary); // 120 of 1140
        var stale = findings.Single(f => f.RuleId == "half-open-suspect");
        Assert.Equal(Severity.Warning, stale.Severity);
        Assert.Equal("10.0.0.9 no longer knew 1 connection(s) that 10.0.0.7 still used: they were half-open", stale.Summary);

        // Three stale connections of one client host, each from its own ephemeral port: one finding, not one per port.
        var three = Run(Conns(3, 1000, c => Normal(c) with { OpenSeen = false, Reset = ResetClass.Stale, ResetByClient = false, RstPackets = 1, ResetNs = c.EndNs },
            EvidenceBuilder.Ep("10.0.0.9:8080")));
        var one = Assert.Single(three, f => f.RuleId == "half-open-suspect");
        Assert.StartsWith("10.0.0.9 no longer knew 3 connection(s) that 10.0.0.7 still used", one.Summary);
    }

    [Fact]
    public void PcapRenderersOnTheFixture()
    {
        var e = CaptureSource.Collect(Path.Combine(Fixtures.Dir("pcap"), "eth.pcap"), new CaptureFilter());
        var fixedEvidence = new Evidence
        {
            Capture = e.Capture! with { File = "eth.pcap" },
            Statuses = [e.Statuses[0] with { Duration = TimeSpan.Zero }],
            CollectedAt = new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.Zero),
            Host = "testhost",
        };
        var report = PcapReport.Build(fixedEvidence, new RuleOptions());
        var sw = new StringWriter();
        PcapTerminalRenderer.Render(report, sw, new OutputOptions { Width = 80 });
        var text = sw.ToString();
        Assert.All(text.Split('\n'), l => Assert.True(l.Length <= 80, $"line over 80 columns: {l}"));
        Fixtures.AssertGolden("pcap.txt", text);
        var ms = new MemoryStream();
        PcapJsonRenderer.Render(report, ms);
        Fixtures.AssertGolden("pcap.json", Encoding.UTF8.GetString(ms.ToArray()));
    }
}
