using System.Text.Json;
using ConnDoctor.Analysis;
using ConnDoctor.Model;
using ConnDoctor.Rules;
using ConnDoctor.Sources;
using ConnDoctor.Sources.ZkLog;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.Kill;

/// <summary>
/// The one builder behind every remedy's `conndoctor kill ...`: what it writes is parsed by the real command line
/// and selects exactly the sockets it was built for.
/// </summary>
public class KillCommandBuilderTests
{
    private static Evidence Fixture() => SocketCollector.Collect(new CollectOptions
    { ProcRoot = Fixtures.Dir("proc-scenario"), Backend = SocketBackend.Proc, JoinProcesses = false });

    /// <summary>Runs the built filter through `sockets` (same filter options, and it reads fixtures) and returns what it selects.</summary>
    private static HashSet<(string, string, string)> Selected(string command)
    {
        var args = ShellWords(command)[2..];
        var r = CliRunner.Run(["sockets", "--proc-root", Fixtures.Dir("proc-scenario"), "--group-by", "none", "--json", .. args]);
        Assert.True(r.Code == 0, r.Stderr);
        using var doc = r.Json();
        return doc.RootElement.GetProperty("sockets").EnumerateArray()
            .Where(s => s.GetProperty("state").GetString() != "LISTEN")
            .Select(s => (s.GetProperty("state").GetString()!, s.GetProperty("local").GetString()!, s.GetProperty("remote").GetString()!)).ToHashSet();
    }

    /// <summary>Splits a command line the way a POSIX shell does for what the builder writes: spaces and single quotes.</summary>
    internal static string[] ShellWords(string line)
    {
        var words = new List<string>();
        var word = new System.Text.StringBuilder();
        bool quoted = false, any = false;
        foreach (char c in line)
        {
            if (c == '\'' ) { quoted = !quoted; any = true; continue; }
            if (c == ' ' && !quoted) { if (any) words.Add(word.ToString()); word.Clear(); any = false; continue; }
            word.Append(c);
            any = true;
        }
        if (any) words.Add(word.ToString());
        return words.ToArray();
    }

    private static HashSet<(string, string, string)> Keys(IEnumerable<SocketRecord> sockets) =>
        sockets.Select(s => (TcpStates.Name(s.DisplayState), s.Local.ToString(), s.Remote.ToString())).ToHashSet();

    public static IEnumerable<object[]> Sets() =>
    [
        ["close-wait to :9001", (Func<SocketRecord, bool>)(s => s.State == TcpState.CloseWait && s.Remote.Port == 9001)],
        ["server side of :8080", (Func<SocketRecord, bool>)(s => s.State == TcpState.Established && s.Local.Port == 8080)],
        ["client side to [::1]:9004", (Func<SocketRecord, bool>)(s => s.State == TcpState.Established && s.Remote.Port == 9004)],
        ["every TIME_WAIT", (Func<SocketRecord, bool>)(s => s.State == TcpState.TimeWait)],
    ];

    [Theory]
    [MemberData(nameof(Sets))]
    public void TheCommandSelectsExactlyTheSocketsItWasBuiltFor(string what, Func<SocketRecord, bool> pick)
    {
        var e = Fixture();
        var set = e.Sockets.Where(pick).ToList();
        Assert.True(set.Count >= 1, what);
        var command = KillCommand.ForSockets(e, set);
        Assert.NotNull(command);
        Assert.StartsWith("conndoctor kill --state ", command);
        Assert.Equal(Keys(set), Selected(command!));
        if (set.Any(s => s.Remote.Address.IsV6)) Assert.Contains("'[", command); // brackets would glob in a shell
    }

    [Fact]
    public void SocketsThatNoNaturalFilterSeparatesGetOnePeerEach()
    {
        var e = Fixture();
        // One of the three leaky CLOSE_WAIT sockets: state and peer alone would select all three.
        var one = e.Sockets.Where(s => s.State == TcpState.CloseWait).Take(1).ToList();
        var command = KillCommand.ForSockets(e, one)!;
        Assert.Contains($"--remote {one[0].Remote}", command);
        Assert.Equal(Keys(one), Selected(command));
    }

    [Fact]
    public void SomeOfAClientsConnectionsToOneEndpointAreNamedByTheirLocalEnds()
    {
        var e = Fixture();
        // Two of the three CLOSE_WAIT sockets to 127.0.0.1:9001: same peer endpoint, two local ports, so neither the
        // peer nor one local port separates them from the third.
        var two = e.Sockets.Where(s => s.State == TcpState.CloseWait).OrderBy(s => s.Local.Port).Take(2).ToList();
        Assert.Equal(3, e.Sockets.Count(s => s.State == TcpState.CloseWait && s.Remote == two[0].Remote));
        var command = KillCommand.ForSockets(e, two);
        Assert.NotNull(command);
        Assert.Contains($"--local {two[0].Local}", command);
        Assert.Contains($"--local {two[1].Local}", command);
        Assert.Equal(Keys(two), Selected(command!));
    }

    [Fact]
    public void AnOwnersFilterIsCheckedAgainstEverySocketThatOwnerHoldsEvenAsSecondHolder()
    {
        TcpInfo Idle(uint s) => new() { LastDataRecvMs = s * 1000, LastAckRecvMs = s * 1000 };
        var e = new EvidenceBuilder().Process(100, "app").Process(200, "parent")
            .Socket(TcpState.Established, "10.0.0.1:5001", "10.0.0.9:2181", 100, Idle(700))
            .Socket(TcpState.Established, "10.0.0.1:5002", "10.0.0.9:2181", 100, Idle(800))
            .Socket(TcpState.Established, "10.0.0.1:5003", "10.0.0.9:2181", 200, Idle(900))
            .Socket(TcpState.Established, "10.0.0.1:5004", "10.0.0.8:2181", 100, Idle(900))
            .Build();
        // The third is shared after fork(): process 200 holds it first, 100 second. A filter on --pid 100 selects it too.
        var shared = e.Sockets[2];
        shared.Owners = [new SocketOwner(200, 5), new SocketOwner(100, 6)];

        var two = e.Sockets.Take(2).ToList();
        var command = KillCommand.ForSockets(e, two)!;
        Assert.Contains("--pid 100", command);
        Assert.Contains("--local 10.0.0.1:5001", command);   // state, peer and owner alone would take the shared one
        Assert.Contains("--local 10.0.0.1:5002", command);
        Assert.DoesNotContain("5003", command);

        var three = e.Sockets.Take(3).ToList();
        var all = KillCommand.ForSockets(e, three)!;
        Assert.DoesNotContain("--local", all);                  // the owner's three to that peer, and nothing else of the table
        Assert.Contains("--remote 10.0.0.9:2181", all);
    }

    [Fact]
    public void ListenersAndEmptySetsGetNoCommand()
    {
        var e = Fixture();
        Assert.Null(KillCommand.ForSockets(e, []));
        Assert.Null(KillCommand.ForSockets(e, e.Sockets.Where(s => s.State == TcpState.Listen).ToList()));
    }

    [Fact]
    public void ForAHostNotReadTheCommandNamesClientPortAndIdle()
    {
        Assert.Equal("conndoctor kill --state established --local :2181 --remote 10.0.20.9 --idle 10m",
            KillCommand.ForClient(NetAddress.TryParse("10.0.20.9", out var a) ? a : default, 2181, TimeSpan.FromMinutes(10)));
        Assert.Equal("conndoctor kill --state established --local :2181 --remote 2001:db8::7 --idle 90s",
            KillCommand.ForClient(NetAddress.TryParse("2001:db8::7", out var b) ? b : default, 2181, TimeSpan.FromSeconds(90)));
        // Every option it writes parses (with nothing of the fixture idle: no tcp_info in /proc/net/tcp).
        Assert.Empty(Selected("conndoctor kill --state established --local :2181 --remote 2001:db8::7 --idle 90s"));
    }

    /// <summary>
    /// connection-limit from a real ZooKeeper log (client 127.0.0.1 refused at maxClientCnxns=10): its command, run on a
    /// "ZooKeeper host" namespace, lists exactly the silent connections from that client, not a live one from the same
    /// client and not another client's.
    /// </summary>
    [Fact]
    public void ConnectionLimitCommandListsTheSilentConnectionsOfTheRefusedClient()
    {
        var (log, status) = ZkLogReader.Read([Path.Combine(Fixtures.Dir("zklog"), "zk38-info.log")], new ZkLogWindow(null, null));
        var evidence = new Evidence { Statuses = [status], ZkLog = log, CollectedAt = DateTimeOffset.UtcNow };
        var finding = Assert.Single(Diagnosis.Run(evidence, new RuleOptions { Idle = TimeSpan.FromSeconds(2) }, ["connection-limit"]).Findings);
        Assert.Equal("127.0.0.1", finding.Subject.ClientIp);
        var args = KillKernelTests.KillArguments(finding.Remedy);

        using var ns = new TestNetns("kzk");
        ns.StartScenario("server", "--listen", "0.0.0.0:2181:hold");
        var silent = ns.StartScenario("leaky", "--connect", "127.0.0.1:2181", "--count", "4");
        ns.StartScenario("leaky", "--connect", "127.0.0.1:2181", "--count", "2", "--bind", "127.0.0.2");
        ns.StartScenario("pace", "--connect", "127.0.0.1:2181", "--rate", "5", "--seconds", "200", "--keep", "--start-after", "0.1");
        Thread.Sleep(2500);
        var expected = SsOracle.Owners(ns).Where(o => o.Pid == silent.Id).Select(o => ("127.0.0.1:2181", o.Local)).ToHashSet();
        Assert.Equal(4, expected.Count);

        var r = CliRunner.Run([.. args, "--netns", ns.Name, "--json"]);
        Assert.True(r.Code == 0, r.Stderr);
        using var doc = r.Json();
        var targets = doc.RootElement.GetProperty("targets").EnumerateArray()
            .Select(t => (t.GetProperty("local").GetString()!, t.GetProperty("remote").GetString()!)).ToHashSet();
        Assert.Equal(expected, targets);
    }
}
