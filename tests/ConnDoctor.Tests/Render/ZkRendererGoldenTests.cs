using System.Text;
using ConnDoctor.Analysis;
using ConnDoctor.Model;
using ConnDoctor.Render;
using ConnDoctor.Rules;
using ConnDoctor.Sources.ZkPoll;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.Render;

/// <summary>
/// `zk` output at 80 columns, wide, as JSON and as the piped --watch lines, for an ensemble built from a real 3.8
/// server's replies (fixtures/zk) over a one-minute watch: a member that answered everything (its real clients, plus
/// a client IP that opens a session and a node per poll until it reaches maxClientCnxns), one that refused most
/// four-letter words, and one that was unreachable. Times are fixed, so the output is stable.
/// </summary>
public class ZkRendererGoldenTests
{
    private static readonly DateTimeOffset T0 = DateTimeOffset.FromUnixTimeMilliseconds(1795919045000); // 5 s after the fixture's sessions began
    private const int Polls = 13, IntervalS = 5, Limit = 15;
    private static readonly NetAddress Leaker = EvidenceBuilder.Ep("10.0.0.9:1").Address;

    private static byte[] F(string name) => File.ReadAllBytes(Path.Combine(Fixtures.Dir("zk"), name));

    /// <summary>The member that answers everything at poll <paramref name="poll"/>: the fixture's clients, and 3 + poll leaked sessions.</summary>
    private static ZkServerInfo Answering(int poll)
    {
        var at = T0.AddSeconds(poll * IntervalS);
        var srvr = FourLetterParser.ParseSrvr(F("srvr.txt"));
        var conf = FourLetterParser.ParseConf(F("conf.txt"));
        var connections = FourLetterParser.ParseCons(F("cons.txt"), out _).Select(c => c with { LastResponseAgeMs = c.HasSession ? 300 : null }).ToList();
        var ephemerals = new Dictionary<long, IReadOnlyList<string>>(FourLetterParser.ParseDumpEphemerals(F("dump.txt"), out _));
        for (int k = 0; k < 3 + poll; k++)
        {
            long sid = 0x1000003eb0d0100 + k;
            connections.Add(new ZkConnection
            {
                Client = new NetEndpoint(Leaker, (ushort)(41000 + k)), SessionId = sid, Received = 3, Sent = 3, LastOperation = "PING",
                EstablishedUnixMs = T0.AddSeconds((k - 3) * IntervalS).ToUnixTimeMilliseconds(), SessionTimeoutMs = 6000, LastResponseAgeMs = 1000,
            });
            ephemerals[sid] = [$"/workers/job-{k}"];
        }
        var (counters, _, _) = FourLetterParser.ParseMntr(F("mntr.txt"));
        counters["connection_request_count"] = 10 + poll;
        return new ZkServerInfo
        {
            Member = "10.0.0.1:2181", State = SourceState.Ok, Reason = $"{connections.Count} connection(s) via 4lw", Channel = "4lw",
            Mode = srvr.Mode, Version = srvr.Version, MaxClientCnxns = Limit, MinSessionTimeoutMs = conf.MinSessionTimeoutMs,
            MaxSessionTimeoutMs = conf.MaxSessionTimeoutMs, TickTimeMs = conf.TickTimeMs, ServerId = conf.ServerId,
            Connections = connections, Ephemerals = ephemerals, WatchesBySession = FourLetterParser.ParseWchc(F("wchc.txt"), out _),
            Counters = counters, PolledAt = at,
        };
    }

    /// <summary>A follower that allows only srvr, down for two polls in the middle.</summary>
    private static ZkServerInfo Refusing(int poll) => poll is 3 or 4
        ? new() { Member = "10.0.0.2:2181", State = SourceState.Failed, Reason = "cannot connect to 10.0.0.2:2181: connection refused (nothing listens there)", PolledAt = T0.AddSeconds(poll * IntervalS) }
        : new()
    {
        Member = "10.0.0.2:2181", State = SourceState.Partial, Channel = "4lw", Mode = ZkServerMode.Follower, Version = "3.8.4",
        Reason = "conf, cons, dump, mntr, wchc refused (not in 4lw.commands.whitelist), and the AdminServer at http://10.0.0.2:8080/commands " +
                 "did not stand in: http://10.0.0.2:8080/commands/configuration: connection refused (nothing listens there)",
        RefusedWords = ["conf", "cons", "dump", "mntr", "wchc"], WhitelistHint = ZkServerPoller.WhitelistLine, PolledAt = T0.AddSeconds(poll * IntervalS),
    };

    private static ZkServerInfo Unreachable(int poll) => new()
    {
        Member = "zk3.example:2181", State = SourceState.Failed,
        Reason = poll < 6 ? "no answer to a connection to 10.0.0.3:2181 within 3s" : "cannot connect to 10.0.0.3:2181: host unreachable",
        PolledAt = T0.AddSeconds(poll * IntervalS),
    };

    internal static (ZkReport Report, List<ZkTick> Ticks) Watched()
    {
        var tracker = new ZkGrowthTracker();
        var ticks = new List<ZkTick>();
        IReadOnlyList<ZkServerInfo> servers = [];
        for (int poll = 0; poll < Polls; poll++)
        {
            var previous = servers;
            servers = [Answering(poll), Refusing(poll), Unreachable(poll)];
            tracker.Add(poll * IntervalS, servers);
            ticks.Add(new ZkTick(poll * IntervalS, tracker.Polls, servers, tracker.Growth(), previous));
        }
        var leaked = servers[0].Ephemerals!.Where(kv => kv.Value[0].StartsWith("/workers/")).ToList();
        var zk = new ZkEnsembleEvidence
        {
            Members = servers.Select(s => s.Member).ToList(),
            Servers = servers,
            Clients = ZkViews.ClientsPerServer(servers),
            Watched = true, Seconds = (Polls - 1) * IntervalS, IntervalSeconds = IntervalS, Polls = tracker.Polls,
            Growth = tracker.Growth(), CounterDeltas = tracker.CounterDeltas(), MemberChurn = tracker.MemberChurn(),
            Path = "/workers",
            PathNodes = leaked.OrderBy(kv => kv.Key).Take(4).Select(kv => new ZkPathNode
            {
                Path = kv.Value[0], Owner = kv.Key, CreatedUnixMs = T0.ToUnixTimeMilliseconds(),
                Client = servers[0].Connections!.FirstOrDefault(c => c.SessionId == kv.Key)?.Client, Member = "10.0.0.1:2181",
            }).ToList(),
            EphemeralsKnown = true,
        };
        var statuses = servers.Select(s => new SourceStatus($"zk:{s.Member}", s.State, s.Reason, s.Connections?.Count ?? 0, TimeSpan.Zero)).ToList();
        statuses.Add(new SourceStatus("zk:path", SourceState.Ok, "4 ephemeral node(s) under /workers read through 10.0.0.1:2181, 4 joined to a client connection", 4, TimeSpan.Zero));
        var evidence = new Evidence { Statuses = statuses, Zk = zk, CollectedAt = T0.AddSeconds((Polls - 1) * IntervalS), Host = "zkhost" };
        return (ZkReport.Build(evidence, new RuleOptions()), ticks);
    }

    [Theory]
    [InlineData(80, "zk.txt")]
    [InlineData(200, "zk-wide.txt")]
    public void Terminal(int width, string golden)
    {
        var sw = new StringWriter();
        ZkTerminalRenderer.Render(Watched().Report, sw, new OutputOptions { Width = width });
        Assert.All(sw.ToString().Split('\n'), l => Assert.True(l.Length <= width, l));
        Fixtures.AssertGolden(golden, sw.ToString());
    }

    [Fact]
    public void PipedWatchLinesFitEightyColumns()
    {
        var sw = new StringWriter();
        foreach (var t in Watched().Ticks) ZkTerminalRenderer.Tick(t, sw, new OutputOptions { Width = 80 }, terminal: false);
        Assert.All(sw.ToString().Split('\n'), l => Assert.True(l.Length <= 80, l));
        Fixtures.AssertGolden("zk-watch-lines.txt", sw.ToString());
    }

    [Fact]
    public void Json()
    {
        var ms = new MemoryStream();
        ZkJsonRenderer.Render(Watched().Report, ms);
        Fixtures.AssertGolden("zk.json", Encoding.UTF8.GetString(ms.ToArray()));
    }
}
