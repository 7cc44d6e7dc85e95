using System.Text.Json;
using System.Text.RegularExpressions;
using ConnDoctor.Model;
using ConnDoctor.Sources;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.Kill;

/// <summary>
/// A server namespace with two client hosts over veth. One client's link is cut and its process killed, so the server
/// keeps half-open connections; the other host keeps connections to the same port. diagnose flags the half-open ones,
/// the kill command its remedy offers lists exactly them, and --yes removes exactly them (ss is the oracle).
/// </summary>
public partial class KillKernelTests
{
    private const string ServerToA = "10.214.1.2", A = "10.214.1.1", ServerToB = "10.214.2.2", B = "10.214.2.1";

    /// <summary>The server's TCP connections as ss lists them: (state, local, peer).</summary>
    private static HashSet<(string State, string Local, string Peer)> SsConnections(TestNetns ns) =>
        ns.Exec("ss", "-tanH").Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Where(f => f[0] != "LISTEN")
            .Select(f => (f[0], f[3], f[4])).ToHashSet();

    private static HashSet<(string, string)> Targets(JsonDocument doc) =>
        doc.RootElement.GetProperty("targets").EnumerateArray()
            .Select(t => (t.GetProperty("local").GetString()!, t.GetProperty("remote").GetString()!)).ToHashSet();

    /// <summary>The quoted `conndoctor kill ...` of a remedy, as the argument list a shell would pass.</summary>
    internal static string[] KillArguments(string remedy)
    {
        var m = KillCommandRegex().Match(remedy);
        Assert.True(m.Success, $"no conndoctor kill command in: {remedy}");
        Assert.DoesNotContain('\'', m.Groups[1].Value); // nothing here needs shell quoting
        return m.Groups[1].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1..];
    }

    [GeneratedRegex("\"(conndoctor kill [^\"]+)\"")]
    private static partial Regex KillCommandRegex();

    [Fact]
    public void HalfOpenConnectionsAreFlaggedListedAndDestroyedAndNothingElseIsTouched()
    {
        using var server = new TestNetns("ks");
        using var hostA = new TestNetns("ka");
        using var hostB = new TestNetns("kb");
        var (linkA, _) = TestNetns.Link(hostA, server, A, ServerToA);
        TestNetns.Link(hostB, server, B, ServerToB);

        var listener = server.StartScenario("server", "--listen", "0.0.0.0:9100:hold");
        var vanishing = hostA.StartScenario("leaky", "--connect", $"{ServerToA}:9100", "--count", "4");
        hostB.StartScenario("leaky", "--connect", $"{ServerToB}:9100", "--count", "2");           // idle, but alive
        hostB.StartScenario("pace", "--connect", $"{ServerToB}:9100", "--rate", "5", "--seconds", "200", "--keep", "--start-after", "0.1");

        // Host A vanishes: its link is cut, then its process killed (its FINs never leave), so the server keeps the connections.
        Shell.Run("ip", "-n", hostA.Name, "link", "set", linkA, "down");
        vanishing.Kill();
        vanishing.WaitForExit(5000);

        HashSet<(string State, string Local, string Peer)> before = [];
        var fromA = new HashSet<(string, string)>();
        JsonElement finding = default;
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (DateTime.UtcNow < deadline)
        {
            Thread.Sleep(500);
            before = SsConnections(server);
            fromA = before.Where(c => c.Peer.StartsWith(A + ":")).Select(c => (c.Local, c.Peer)).ToHashSet();
            var r = CliRunner.Run("diagnose", "--json", "--netns", server.Name, "--idle", "2s", "--rule", "half-open-suspect");
            Assert.True(r.Code == 0, r.Stderr);
            using var doc = r.Json();
            var match = doc.RootElement.GetProperty("findings").EnumerateArray()
                .Where(f => f.GetProperty("subject").GetProperty("remoteEndpoint").GetString() == A).ToList();
            if (match.Count == 1 && match[0].GetProperty("summary").GetString()!.Contains("4 connection(s)")) { finding = match[0].Clone(); break; }
        }
        Assert.NotEqual(JsonValueKind.Undefined, finding.ValueKind);
        Assert.Equal(4, fromA.Count);
        Assert.Equal(listener.Id, finding.GetProperty("subject").GetProperty("pid").GetInt32());
        var fromB = before.Where(c => c.Peer.StartsWith(B + ":")).ToHashSet();
        Assert.Equal(3, fromB.Count);

        // The command the remedy offers, run as given: a dry run that lists exactly the half-open connections.
        var args = KillArguments(finding.GetProperty("remedy").GetString()!);
        Assert.Contains("--netns", args);
        var dry = CliRunner.Run([.. args, "--json"]);
        Assert.True(dry.Code == 0, dry.Stderr);
        using (var doc = dry.Json())
        {
            Assert.True(doc.RootElement.GetProperty("dryRun").GetBoolean());
            Assert.Equal(fromA, Targets(doc));
            Assert.All(doc.RootElement.GetProperty("targets").EnumerateArray(), t => Assert.Equal(listener.Id, t.GetProperty("owners")[0].GetProperty("pid").GetInt32()));
        }
        Assert.Equal(before, SsConnections(server)); // a dry run changes nothing

        var yes = CliRunner.Run([.. args, "--yes", "--json"]);
        Assert.True(yes.Code == 0, yes.Stderr);
        using (var doc = yes.Json())
        {
            Assert.Equal(fromA, Targets(doc));
            Assert.All(doc.RootElement.GetProperty("targets").EnumerateArray(), t =>
            {
                Assert.Equal("destroyed", t.GetProperty("result").GetString());
                Assert.True(t.GetProperty("goneAfter").GetBoolean());
            });
            var check = doc.RootElement.GetProperty("check");
            Assert.Equal(4, check.GetProperty("targetsGone").GetInt32());
            Assert.Equal(check.GetProperty("othersBefore").GetInt32(), check.GetProperty("othersStillThere").GetInt32());
            Assert.Empty(check.GetProperty("othersGone").EnumerateArray());
        }
        var after = SsConnections(server);
        Assert.DoesNotContain(after, c => c.Peer.StartsWith(A + ":"));
        Assert.Equal(fromB, after.Where(c => c.Peer.StartsWith(B + ":")).ToHashSet()); // the other host's connections, untouched
        Assert.Equal(fromB.Count, after.Count);
    }

    [Fact]
    public void TimeWaitSocketsAreDestroyedWhereTheKernelCan()
    {
        using var ns = new TestNetns("ktw");
        ns.StartScenario("server", "--listen", "127.0.0.1:9107:drain");
        ns.StartScenario("good", "--connect", "127.0.0.1:9107", "--count", "1", "--churn", "127.0.0.1:9107", "--cycles", "20");
        int Tw() => ns.Exec("ss", "-tanH", "state", "time-wait").Split('\n', StringSplitOptions.RemoveEmptyEntries).Length;
        var settle = DateTime.UtcNow.AddSeconds(10);
        while (Tw() < 20 && DateTime.UtcNow < settle) Thread.Sleep(100);
        int tw = Tw();
        Assert.InRange(tw, 18, 20); // a port reused against a server-side TIME_WAIT may take its place (RFC 6191)
        var established = SsConnections(ns).Where(c => c.State == "ESTAB").ToHashSet();

        var r = CliRunner.Run("kill", "--netns", ns.Name, "--state", "time-wait", "--yes", "--json");
        using var doc = r.Json();
        var kernel = doc.RootElement.GetProperty("kernel");
        if (Actions.SocketKill.KernelVersion(kernel.GetProperty("release").GetString()!) is (int major, _) && major < 6)
        {
            Assert.Equal(1, r.Code);
            Assert.False(kernel.GetProperty("destroysTimeWait").GetBoolean());
            Assert.All(doc.RootElement.GetProperty("targets").EnumerateArray(), t => Assert.Equal("not-supported", t.GetProperty("result").GetString()));
            return;
        }
        Assert.True(r.Code == 0, r.Stderr);
        Assert.True(kernel.GetProperty("destroysTimeWait").GetBoolean());
        Assert.Equal(tw, doc.RootElement.GetProperty("check").GetProperty("targetsGone").GetInt32());
        Assert.Equal(0, Tw());
        Assert.Equal(established, SsConnections(ns).Where(c => c.State == "ESTAB").ToHashSet());
    }

    [Fact]
    public void AReusedTupleIsNeverHitTheCookieMustMatch()
    {
        using var ns = new TestNetns("kck");
        ns.StartScenario("server", "--listen", "127.0.0.1:9108:hold");
        ns.StartScenario("leaky", "--connect", "127.0.0.1:9108", "--count", "1");
        var evidence = SocketCollector.Collect(new CollectOptions { Netns = ns.Name, Backend = SocketBackend.Netlink, JoinProcesses = false });
        var s = evidence.Sockets.Single(x => x.State == TcpState.Established && x.Remote.Port == 9108);
        Assert.NotEqual(0UL, s.Cookie);
        var other = new SocketRecord { Family = s.Family, State = s.State, Local = s.Local, Remote = s.Remote, Interface = s.Interface, Cookie = s.Cookie + 1 };
        var path = evidence.Namespaces[0].Path!;

        // Same 4-tuple, another cookie: the kernel finds no such socket (ENOENT) and leaves the real one alone.
        var stale = NetnsScope.Run(path, () => SocketDestroyer.Destroy([other]));
        Assert.Equal(Native.Libc.ENOENT, stale[0]);
        var before = SsConnections(ns);
        Assert.Contains(before, c => c.Peer == "127.0.0.1:9108");

        var exact = NetnsScope.Run(path, () => SocketDestroyer.Destroy([s]));
        Assert.Equal(0, exact[0]);
        Assert.DoesNotContain(SsConnections(ns), c => c.Local == s.Local.ToString());
        var again = NetnsScope.Run(path, () => SocketDestroyer.Destroy([s]));
        Assert.Equal(Native.Libc.ENOENT, again[0]);
    }
}
