using System.Text;
using System.Text.Json;
using ConnDoctor.Analysis;
using ConnDoctor.Model;
using ConnDoctor.Sources.ZkPoll;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.Zk;

/// <summary>The four-letter-word and AdminServer parsers on real replies of ZooKeeper 3.8 (fixtures/zk, captured from a running server).</summary>
public class ZkParserTests
{
    private static byte[] F(string name) => File.ReadAllBytes(Path.Combine(Fixtures.Dir("zk"), name));

    [Fact]
    public void SrvrGivesModeAndVersion()
    {
        var s = FourLetterParser.ParseSrvr(F("srvr.txt"));
        Assert.Equal(ZkServerMode.Standalone, s.Mode);
        Assert.StartsWith("3.8.0", s.Version);
        Assert.Equal(long.Parse(File.ReadLines(Path.Combine(Fixtures.Dir("zk"), "srvr.txt")).Single(l => l.StartsWith("Connections:"))[12..]), s.Connections);
    }

    [Fact]
    public void ConfGivesTheLimitAndTimeouts()
    {
        var c = FourLetterParser.ParseConf(F("conf.txt"));
        Assert.Equal((60, 4000, 6000, 2000, 0L), (c.MaxClientCnxns, c.MinSessionTimeoutMs, c.MaxSessionTimeoutMs, c.TickTimeMs, c.ServerId));
    }

    [Fact]
    public void ConsListsEveryConnectionWithOrWithoutASession()
    {
        var list = FourLetterParser.ParseCons(F("cons.txt"), out int bad);
        Assert.Equal(0, bad);
        // Oracle: the reply's own lines, one per connection.
        Assert.Equal(File.ReadAllLines(Path.Combine(Fixtures.Dir("zk"), "cons.txt")).Count(l => l.StartsWith(" /")), list.Count);
        var s = list.Single(c => c.Client.Port == 39243);
        Assert.Equal("127.0.0.2", s.Client.Address.ToString());
        Assert.Equal(0x1000003eb0d0002, s.SessionId);
        Assert.Equal((18L, 18L, "PING", 6000, 1795919040106L, 302993L), (s.Received, s.Sent, s.LastOperation, s.SessionTimeoutMs!.Value, s.EstablishedUnixMs!.Value, s.LastResponseMs!.Value));
        var asking = list.Single(c => c.Client.Port == 47514); // the connection that sent "cons"
        Assert.False(asking.HasSession);
        Assert.Null(asking.LastResponseMs);

        var withNoSession = FourLetterParser.ParseCons(F("cons-nosession.txt"), out bad);
        Assert.Equal(0, bad);
        var raw = withNoSession.Single(c => c.Client.Address.ToString() == "127.0.0.3");
        Assert.True(raw.NeverSpoke);
        Assert.Equal(4, withNoSession.Count(c => c.HasSession));
    }

    [Fact]
    public void DumpJoinsSessionsToTheirEphemeralNodes()
    {
        var e = FourLetterParser.ParseDumpEphemerals(F("dump.txt"), out int bad);
        Assert.Equal(0, bad);
        Assert.Equal(3, e.Count);
        Assert.Equal(["/clients/task-1"], e[0x1000003eb0d0002]);
        Assert.False(e.ContainsKey(0x1000003eb0d0000)); // a session without ephemerals
    }

    [Fact]
    public void WchcCountsWatchesPerSession()
    {
        var w = FourLetterParser.ParseWchc(F("wchc.txt"), out int bad);
        Assert.Equal(0, bad);
        Assert.Equal(3, w.Count);
        Assert.All(w.Values, n => Assert.Equal(1, n));
    }

    [Fact]
    public void MntrKeepsTheConnectionCounters()
    {
        var (counters, version, mode) = FourLetterParser.ParseMntr(F("mntr.txt"));
        Assert.Equal(ZkServerMode.Standalone, mode);
        Assert.StartsWith("3.8.0", version);
        var line = File.ReadLines(Path.Combine(Fixtures.Dir("zk"), "mntr.txt")).Single(l => l.StartsWith("zk_num_alive_connections\t"));
        Assert.Equal(long.Parse(line.Split('\t')[1]), counters["num_alive_connections"]);
        Assert.True(counters.ContainsKey("connection_rejected"));
        Assert.False(counters.ContainsKey("p99_readlatency"));
    }

    [Fact]
    public void TheWhitelistRefusalIsRecognised()
    {
        Assert.True(FourLetterParser.IsNotWhitelisted(F("not-whitelisted.txt")));
        Assert.False(FourLetterParser.IsNotWhitelisted(F("cons.txt")));
        Assert.Empty(FourLetterParser.ParseCons(F("not-whitelisted.txt"), out int bad));
        Assert.Equal(1, bad);
    }

    [Fact]
    public void AdminServerJsonSaysWhatTheFourLetterWordsSay()
    {
        using var conns = AdminServerParser.Parse(F("admin-connections.json"));
        Assert.Null(AdminServerParser.Error(conns));
        var admin = AdminServerParser.ParseConnections(conns, out int bad);
        Assert.Equal(0, bad);
        // Captured in the same second as cons.txt: the same sessions on the same client ports.
        var cons = FourLetterParser.ParseCons(F("cons.txt"), out _).Where(c => c.HasSession).Select(c => (c.Client, c.SessionId)).ToHashSet();
        Assert.Equal(cons, admin.Select(c => (c.Client, c.SessionId)).ToHashSet());

        using var dump = AdminServerParser.Parse(F("admin-dump.json"));
        Assert.Equal(FourLetterParser.ParseDumpEphemerals(F("dump.txt"), out _).OrderBy(kv => kv.Key).Select(kv => (kv.Key, string.Join(',', kv.Value))),
                     AdminServerParser.ParseDumpEphemerals(dump, out _).OrderBy(kv => kv.Key).Select(kv => (kv.Key, string.Join(',', kv.Value))));

        using var conf = AdminServerParser.Parse(F("admin-configuration.json"));
        Assert.Equal(FourLetterParser.ParseConf(F("conf.txt")), AdminServerParser.ParseConfiguration(conf));

        using var monitor = AdminServerParser.Parse(F("admin-monitor.json"));
        var (counters, _, mode) = AdminServerParser.ParseMonitor(monitor);
        Assert.Equal(ZkServerMode.Standalone, mode);
        Assert.True(counters.ContainsKey("connection_request_count"));

        using var watches = AdminServerParser.Parse(F("admin-watches.json"));
        Assert.Equal(FourLetterParser.ParseWchc(F("wchc.txt"), out _), AdminServerParser.ParseWatches(watches, out _));

        // Without a session the AdminServer prints placeholders; they are not taken for a session's values.
        using var raw = AdminServerParser.Parse(F("admin-connections-nosession.json"));
        var noSession = AdminServerParser.ParseConnections(raw, out _).Single(c => !c.HasSession);
        Assert.Null(noSession.SessionTimeoutMs);
        Assert.True(noSession.NeverSpoke);
    }

    [Theory]
    [InlineData("garbage\n\x01\x02\n /1.2.3.4:5[1](queued=x)\n")]
    [InlineData(" /999.1.1.1:5[1](queued=0,recved=1,sent=0)")]
    [InlineData(" /1.2.3.4:5[1](queued=0,recved=1,sent=0")]
    [InlineData("")]
    public void GarbageIsCountedNeverThrown(string text)
    {
        var bytes = Encoding.UTF8.GetBytes(text);
        var list = FourLetterParser.ParseCons(bytes, out int bad);
        Assert.Empty(list);
        Assert.Equal(text.Split('\n').Count(l => l.Trim().Length > 0), bad);
        FourLetterParser.ParseDumpEphemerals(bytes, out _);
        FourLetterParser.ParseWchc(bytes, out _);
        FourLetterParser.ParseMntr(bytes);
        FourLetterParser.ParseSrvr(bytes);
        FourLetterParser.ParseConf(bytes);
        Assert.Throws<ConnDoctor.Sources.SourceException>(() => AdminServerParser.Parse(bytes));
    }

    [Theory]
    [InlineData("/127.0.0.1:53702", "127.0.0.1:53702")]
    [InlineData("zk-client.example/10.0.0.5:4000", "10.0.0.5:4000")]
    [InlineData("/[0:0:0:0:0:0:0:1]:40000", "[::1]:40000")]
    [InlineData("/0:0:0:0:0:0:0:1:40000", "[::1]:40000")]
    [InlineData("/[fe80:0:0:0:0:0:0:1%eth0]:40000", "[fe80::1]:40000")]
    [InlineData("/[0:0:0:0:0:ffff:a00:5]:40000", "10.0.0.5:40000")]
    public void SocketAddressesInEveryFormJavaPrints(string text, string expected)
    {
        Assert.True(FourLetterParser.TryParseSocketAddress(Encoding.ASCII.GetBytes(text), out var ep));
        Assert.Equal(expected, ep.ToString());
    }

    [Theory]
    [InlineData("/clients/task-17", "/clients/task-*")]
    [InlineData("/locks/lock-0000000012", "/locks/lock-*")]
    [InlineData("/workers/host-10.0.0.5-3", "/workers/host-*")]
    [InlineData("/brokers/ids/3", "/brokers/ids/*")]
    [InlineData("/leader", "/leader")]
    [InlineData("/cache", "/cache")]
    [InlineData("/workers/job-0", "/workers/job-*")]            // hex-looking letters before the number stay
    [InlineData("/nodes/node-12", "/nodes/node-*")]
    [InlineData("/services/cache-7", "/services/cache-*")]
    [InlineData("/q/worker17", "/q/worker*")]
    [InlineData("/locks/_c_3d8f1a2b-6a1e-4c3b-9e51-0b6f2a7c9d10-lock-0000000001", "/locks/_c_*-lock-*")] // Curator's protected mode
    [InlineData("/sessions/0x1000003eb0d0100", "/sessions/*")]
    [InlineData("/feeds/deadbeef", "/feeds/deadbeef")]
    [InlineData("/a/b-1.2/c", "/a/b-1.2/c")]                   // only the last segment varies
    public void EphemeralPathPatterns(string path, string pattern) => Assert.Equal(pattern, ZkViews.PathPattern(path));
}

/// <summary>The command line of `zk`: bad input is one line and exit 2; members nobody answers are one line and exit 1.</summary>
public class ZkCliTests
{
    [Theory]
    [InlineData("zk1:notaport")]
    [InlineData("zk1:70000")]
    [InlineData("[fd00::1")]
    public void ABadMemberIsAUsageError(string member)
    {
        var r = CliRunner.Run("zk", member);
        Assert.Equal(2, r.Code);
        Assert.StartsWith($"conndoctor: bad member '{member}'", r.Stderr);
        Assert.Single(r.Stderr.TrimEnd('\n').Split('\n'));
    }

    [Theory]
    [InlineData("--interval only applies with --watch", "--interval", "2s")]
    [InlineData("--admin-url is empty", "--admin-url", "")]
    [InlineData("no '/' at the end", "--path", "/big/")]
    public void OptionsThatWouldDoNothingAreUsageErrors(string message, string option, string value) =>
        CliAssert.OneLineError(CliRunner.Run("zk", "127.0.0.1:1", option, value), 2, message);

    [Fact]
    public void OneServerUnderTwoNamesIsAUsageError() =>
        CliAssert.OneLineError(CliRunner.Run("zk", "127.0.0.1:1,localhost:1", "--timeout", "1s"), 2, "members 127.0.0.1:1 and localhost:1 are the same server");

    [Fact]
    public void AnApplicationsConnectStringWithAChrootIsTaken()
    {
        var members = ConnDoctor.Cli.Commands.ZkCommand.ParseMembers(["zk1:2181,zk2:2182/kafka/prod"], null);
        Assert.Equal(["zk1:2181", "zk2:2182"], members.Select(m => m.Text));
        Assert.Equal(["[fd00::5]:2181"], ConnDoctor.Cli.Commands.ZkCommand.ParseMembers(["[fd00::5]:2181/app"], null).Select(m => m.Text));
    }

    [Fact]
    public void SeveralMembersNeedOneAdminUrlEachOrATemplate()
    {
        var r = CliRunner.Run("zk", "127.0.0.1:1,127.0.0.2:1", "--admin-url", "http://127.0.0.1:8080/commands");
        Assert.Equal(2, r.Code);
        Assert.Contains("{host}", r.Stderr);
    }

    [Fact]
    public void NoMemberAnsweringIsOneLineAndExitOne()
    {
        int port = Ports.Closed();
        var r = CliRunner.Run("zk", $"127.0.0.1:{port}", "--timeout", "1s");
        Assert.Equal(1, r.Code);
        Assert.Equal($"conndoctor: no member of the ensemble answered: 127.0.0.1:{port}: cannot connect to 127.0.0.1:{port}: connection refused (nothing listens there)\n", r.Stderr);
        Assert.Contains("failed", r.Stdout); // the report still says which member and why
        Assert.Contains("Nothing to diagnose: no member answered.", r.Stdout);
        Assert.DoesNotContain("No problems found", r.Stdout);
    }

    /// <summary>
    /// A loopback server that answers every connection with <paramref name="reply"/> (after reading what the client
    /// sent), then closes. It runs on a thread of its own: on the thread pool, a busy test run could starve it past the
    /// client's timeout.
    /// </summary>
    private static (int Port, Action Stop) Answering(byte[] reply)
    {
        var l = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        l.Start();
        int port = ((System.Net.IPEndPoint)l.LocalEndpoint).Port;
        var serve = new Thread(() =>
        {
            try
            {
                while (true)
                {
                    using var c = l.AcceptTcpClient();
                    c.ReceiveTimeout = 5000;
                    var s = c.GetStream();
                    s.ReadAtLeast(new byte[4], 1, throwOnEndOfStream: false);
                    s.Write(reply);
                }
            }
            catch (System.Net.Sockets.SocketException) { }       // stopped
            catch (IOException) { }
            catch (ObjectDisposedException) { }
        }) { IsBackground = true };
        serve.Start();
        return (port, () => { l.Stop(); serve.Join(5000); });
    }

    [Theory]
    [InlineData("\x01garbage\n /not-an-address[1](x)\n\xff\xfe", "\".garbage. /not-an-addres...\" (34 bytes)")]
    [InlineData("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n", "\"HTTP/1.1 400 Bad Request...\" (47 bytes)")]
    public void AServerSpeakingSomethingElseIsNotZooKeeperNotZeroConnections(string reply, string shown)
    {
        var (port, stop) = Answering(Encoding.Latin1.GetBytes(reply));
        try
        {
            var r = CliRunner.Run("zk", $"127.0.0.1:{port}", "--timeout", "5s", "--json");
            Assert.Equal(1, r.Code);
            Assert.Equal($"conndoctor: no member of the ensemble answered: 127.0.0.1:{port}: not a ZooKeeper server? it answered 'srvr' with {shown}\n", r.Stderr);
            using var d = r.Json();
            var s = d.RootElement.GetProperty("servers")[0];
            Assert.Equal("failed", s.GetProperty("state").GetString());
            Assert.Equal(JsonValueKind.Null, s.GetProperty("connections").ValueKind); // unknown, not an empty list
        }
        finally { stop(); }
    }
}

/// <summary>Replies of a real 3-member 3.8 ensemble on loopback (a follower with a kazoo session that owns one ephemeral node, and the leader).</summary>
public class ZkEnsembleParserTests
{
    private static byte[] F(string name) => File.ReadAllBytes(Path.Combine(Fixtures.Dir("zk"), name));

    [Fact]
    public void FollowerAndLeaderRepliesParse()
    {
        Assert.Equal(ZkServerMode.Follower, FourLetterParser.ParseSrvr(F("ensemble-follower-srvr.txt")).Mode);
        Assert.Equal(ZkServerMode.Leader, FourLetterParser.ParseSrvr(F("ensemble-leader-srvr.txt")).Mode);
        Assert.Equal(1L, FourLetterParser.ParseConf(F("ensemble-follower-conf.txt")).ServerId);
        var session = Assert.Single(FourLetterParser.ParseCons(F("ensemble-follower-cons.txt"), out int bad), c => c.HasSession);
        Assert.Equal(0, bad);
        // The follower's dump ("Global Sessions" form) and the leader's ("Session Sets" form) list the same node.
        foreach (var dump in new[] { "ensemble-follower-dump.txt", "ensemble-leader-dump.txt" })
        {
            var e = FourLetterParser.ParseDumpEphemerals(F(dump), out bad);
            Assert.Equal(0, bad);
            Assert.Equal(["/followers/task-0"], e[session.SessionId]);
        }
    }
}
