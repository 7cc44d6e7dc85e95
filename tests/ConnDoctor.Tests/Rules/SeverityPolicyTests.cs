using ConnDoctor.Analysis;
using ConnDoctor.Model;
using ConnDoctor.Rules;
using ConnDoctor.Sources.Pcap;
using ConnDoctor.Sources.Watch;
using ConnDoctor.Sources.ZkLog;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.Rules;

/// <summary>
/// Each rule's thresholds held to <see cref="SeverityPolicy"/> (docs/severity.md): at a threshold and one below it,
/// and the same client seen by two sources getting the same severity.
/// </summary>
public sealed class SeverityPolicyTests : IDisposable
{
    private static readonly long T0 = new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.Zero).ToUnixTimeMilliseconds() * 1_000_000;
    private static readonly NetEndpoint Server = EvidenceBuilder.Ep("10.0.0.5:8080");

    // ---- unread-data resets: pcap's unread-data-reset and watch's rst-storm ----

    /// <summary>A client that reads the first bytes of each 8 MB answer and closes, every 3 s for a minute or so, as a capture sees it.</summary>
    private static Evidence Capture(int n)
    {
        var conns = Enumerable.Range(0, n).Select(i => new TcpConnection
        {
            Client = EvidenceBuilder.Ep($"10.0.0.7:{40000 + i}"), Server = Server, OpenSeen = true, Accepted = true,
            StartNs = T0 + i * 3_000_000_000L, EndNs = T0 + i * 3_000_000_000L + 2_000_000, Packets = 20, Closed = true,
            FirstClose = CloseKind.Rst, ClientClosedFirst = true, Reset = ResetClass.UnreadData, ResetByClient = true,
            ResetNs = T0 + i * 3_000_000_000L + 2_000_000, BytesToServer = 80, BytesToClient = 65_000, UnreadBytes = 400_000, RstPackets = 3,
        }).ToArray();
        return Of(conns);
    }

    private static Evidence Of(TcpConnection[] conns) => EvidenceBuilder.FromCapture(conns);

    /// <summary>The same client as a watch on its host sees it: the kernel resets each close because unread bytes were queued.</summary>
    private static Evidence Watch(int n)
    {
        var book = new WatchBook();
        for (int i = 0; i < n; i++)
        {
            var c = new WatchConnection
            {
                Local = EvidenceBuilder.Ep($"10.0.0.7:{40000 + i}"), Remote = Server, Pid = 4242, Comm = "python3",
                OpenedMs = i * 3000, FirstSeenMs = i * 3000, State = TcpState.Established,
            };
            book.Open(c);
            book.ResetSent(c, ResetCause.UnreadData);
            c.ClosedBy = ClosedBy.LocalReset;
            book.Close(c, i * 3000 + 2);
        }
        double seconds = n * 3 + 5;
        return new Evidence
        {
            Statuses = [],
            CollectedAt = default,
            Watch = new WatchEvidence
            {
                Mode = WatchMode.Trace, StartedAt = default, Seconds = seconds, IntervalSeconds = 1, EventsLost = 0, Rows = book.Rows(seconds * 1000, seconds),
            },
        };
    }

    private static Severity SeverityOf(Evidence e, string rule) =>
        Assert.Single(Diagnosis.Run(e, new RuleOptions(), [rule]).Findings).Severity;

    [Theory]
    [InlineData(18)]
    [InlineData(SeverityPolicy.UnreadResetWarnCount)]
    [InlineData(SeverityPolicy.UnreadResetWarnCount - 1)]
    public void AClientWhoseEveryConnectionEndsInAnUnreadDataResetGetsOneSeverityFromWatchAndPcap(int n)
    {
        var pcap = SeverityOf(Capture(n), "unread-data-reset");
        var watch = SeverityOf(Watch(n), "rst-storm");
        Assert.Equal(pcap, watch);
        Assert.Equal(n >= SeverityPolicy.UnreadResetWarnCount ? Severity.Warning : Severity.Info, watch);
    }

    // ---- short connections that carry data (a connection per request): the churn tiers, capture and watch alike ----

    private static Evidence CaptureChurn(int n, double perSecond)
    {
        long step = (long)(1e9 / perSecond);
        var conns = Enumerable.Range(0, n).Select(i => new TcpConnection
        {
            Client = EvidenceBuilder.Ep($"10.0.0.7:{20000 + i}"), Server = Server, OpenSeen = true, Accepted = true,
            StartNs = T0 + i * step, EndNs = T0 + i * step + 3_000_000, Packets = 8, Closed = true, FirstClose = CloseKind.Fin,
            ClientClosedFirst = true, BytesToServer = 200, BytesToClient = 2000, SegmentsToServer = 1, SegmentsToClient = 2,
        }).ToArray();
        return Of(conns);
    }

    private static Evidence WatchRowOnly(WatchRow row) => new()
    {
        Statuses = [],
        CollectedAt = default,
        Watch = new WatchEvidence { Mode = WatchMode.Trace, StartedAt = default, Seconds = 600, IntervalSeconds = 1, EventsLost = 0, Rows = [row] },
    };

    private static WatchRow Churn(int n, double rate, int resets = 0) => new()
    {
        Pid = 9, Process = "app", Endpoint = "10.0.0.5:8080", RemotePort = 8080, Opens = n, Closes = n, OpensPerSec = rate, ClosesPerSec = rate,
        MedianLifetimeMs = 3, P99LifetimeMs = 9, ClosedByLocal = n, ResetsSent = resets,
    };

    private static Severity? Worst(Evidence e, string rule) =>
        Diagnosis.Run(e, new RuleOptions(), [rule]).Findings.Select(f => (Severity?)f.Severity).Max();

    [Fact]
    public void ChurnTiersAreThePolicysInCaptureAndWatch()
    {
        foreach (var (n, rate, expected) in new (int, double, Severity?)[]
                 {
                     (SeverityPolicy.ChurnCriticalCount, SeverityPolicy.ChurnCriticalRate, Severity.Critical),
                     (SeverityPolicy.ChurnCriticalCount, SeverityPolicy.ChurnCriticalRate * 0.9, Severity.Warning),
                     (SeverityPolicy.ChurnWarnCount, SeverityPolicy.ChurnWarnRate, Severity.Warning),
                     (SeverityPolicy.ChurnWarnCount - 1, SeverityPolicy.ChurnWarnRate, Severity.Info),
                     (SeverityPolicy.ChurnInfoCount, SeverityPolicy.ChurnInfoRate, Severity.Info),
                     (SeverityPolicy.ChurnInfoCount - 1, SeverityPolicy.ChurnInfoRate, null),
                 })
        {
            Assert.Equal(expected, Worst(CaptureChurn(n, rate * 1.001), "reconnect-storm"));
            Assert.Equal(expected, Worst(WatchRowOnly(Churn(n, rate)), "reconnect-storm"));
        }
    }

    [Fact]
    public void ResetTiersAreThePolicys()
    {
        // Resets other than unread data, over a 600 s watch: the rate is count / 600.
        Assert.Equal(Severity.Warning, Worst(WatchRowOnly(Churn(400, 0.1, resets: (int)(SeverityPolicy.ResetWarnRate * 600))), "rst-storm"));
        Assert.Equal(Severity.Info, Worst(WatchRowOnly(Churn(400, 0.1, resets: (int)(SeverityPolicy.ResetWarnRate * 600) - 1)), "rst-storm"));
        Assert.Equal(Severity.Info, Worst(WatchRowOnly(Churn(400, 0.1, resets: SeverityPolicy.ResetInfoCount)), "rst-storm"));
        Assert.Null(Worst(WatchRowOnly(Churn(400, 0.1, resets: SeverityPolicy.ResetInfoCount - 1)), "rst-storm"));
    }

    // ---- ZooKeeper sessions made and ended by one IP: zklog's session churn tier ----

    private readonly List<string> _temp = new();

    public void Dispose()
    {
        foreach (var p in _temp) File.Delete(p);
    }

    private Evidence SessionChurnLog(int perMinute)
    {
        var path = Path.Combine(Path.GetTempPath(), $"cd-{Environment.ProcessId}-{Guid.NewGuid():N}-churn.log");
        _temp.Add(path);
        var t = new DateTime(2026, 11, 23, 19, 31, 0);
        var lines = new List<string>();
        for (int i = 0; i < perMinute; i++)
        {
            // fixtures/zklog/zk38-info.log's end of stream for a client with a session.
            lines.Add($"{t.AddMilliseconds(i * 59_000.0 / perMinute):yyyy-MM-dd HH:mm:ss,fff} - WARN  [NIOWorkerThread-2:NIOServerCnxn@374] - Unexpected exception");
            lines.Add($"EndOfStreamException: Unable to read additional data from client, it probably closed the socket: address = /10.0.0.7:{41000 + i}, session = 0x1000023425b{i:x4}");
        }
        File.WriteAllLines(path, lines);
        return new Evidence { Statuses = [], CollectedAt = default, ZkLog = ZkLogReader.Read([path], new ZkLogWindow(null, null)).Evidence };
    }

    [Fact]
    public void SessionChurnInTheLogIsThePolicys()
    {
        Assert.Equal(Severity.Warning, Worst(SessionChurnLog((int)SeverityPolicy.SessionChurnWarnPerMinute), "reconnect-storm"));
        Assert.Equal(Severity.Info, Worst(SessionChurnLog((int)SeverityPolicy.SessionChurnWarnPerMinute - 1), "reconnect-storm"));
    }
}
