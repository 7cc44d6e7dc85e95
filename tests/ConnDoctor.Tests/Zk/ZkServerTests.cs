using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.Zk;

internal static class ZkJson
{
    public static JsonElement Server(JsonDocument d, string member) =>
        d.RootElement.GetProperty("servers").EnumerateArray().Single(s => s.GetProperty("member").GetString() == member);

    public static JsonElement? Client(JsonDocument d, string ip) =>
        d.RootElement.GetProperty("clients").EnumerateArray().Where(c => c.GetProperty("ip").GetString() == ip).Select(c => (JsonElement?)c).SingleOrDefault();

    public static List<JsonElement> Findings(JsonDocument d, string rule) =>
        d.RootElement.GetProperty("findings").EnumerateArray().Where(f => f.GetProperty("ruleId").GetString() == rule).ToList();

    public static string? ClientIp(JsonElement finding) =>
        finding.GetProperty("subject").TryGetProperty("clientIp", out var ip) ? ip.GetString() : null;

    /// <summary>Oracle: established connections from a client address to a local port, as ss counts them.</summary>
    public static int SsConnections(int port, string fromIp) =>
        Shell.Run("ss", "-tnH", "state", "established", $"( sport = :{port} )").Split('\n', StringSplitOptions.RemoveEmptyEntries)
             .Count(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries) is { Length: >= 4 } f && f[^1].Replace("[::ffff:", "").Replace("]", "").StartsWith(fromIp + ":"));
}

/// <summary>A standalone server with maxClientCnxns=5 and the AdminServer on, shared by the tests of one class.</summary>
public sealed class LimitServerFixture : IDisposable
{
    public ZooKeeperServer Zk { get; } = new(maxClientCnxns: 5, adminServer: true);
    public void Dispose() => Zk.Dispose();
}

/// <summary>`conndoctor zk` against a real ZooKeeper 3.8 whose per-IP limit one host fills (kazoo sessions from 127.0.0.2).</summary>
public class ZkLimitTests(LimitServerFixture f) : IClassFixture<LimitServerFixture>
{
    [Fact]
    public void WhenThisHostIsItselfAtTheLimitTheErrorNamesTheLimitNotTheNetwork()
    {
        // conndoctor asks from 127.0.0.1 too: ZooKeeper accepts and at once closes its connection (a reset or a broken pipe).
        var zk = f.Zk;
        using (var full = new ZkClients(zk, "keep", "--source", "127.0.0.1", "--count", "5", "--hold", "120"))
        {
            full.WaitDone();
            // Both the in-process run and the native binary (which sends before the server's close arrives: a broken pipe).
            CliAssert.OneLineError(CliRunner.Run("zk", zk.Address), 1, "maxClientCnxns");
            for (int i = 0; i < 3; i++)
                CliAssert.OneLineError(Shell.RunFull(ConnDoctor.Tests.Cli.BinarySmokeTests.Binary(), ["zk", zk.Address], check: false), 1, "maxClientCnxns");
        }
    }

    [Fact]
    public void AHostThatFillsMaxClientCnxnsIsReportedWithWhatHoldsTheConnections()
    {
        var zk = f.Zk;
        using var full = new ZkClients(zk, "keep", "--source", "127.0.0.2", "--count", "5", "--hold", "120");
        using var other = new ZkClients(zk, "keep", "--source", "127.0.0.3", "--count", "1", "--hold", "120");
        full.WaitDone();
        other.WaitDone();

        var r = CliRunner.Run("zk", zk.Address, "--json", "--fail-on", "critical");
        Assert.True(r.Code == 3, r.Stderr + r.Stdout); // a critical finding
        using var d = r.Json();
        var server = ZkJson.Server(d, zk.Address);
        Assert.Equal("ok", server.GetProperty("state").GetString());
        Assert.Equal(5, server.GetProperty("maxClientCnxns").GetInt32());
        var host = ZkJson.Client(d, "127.0.0.2")!.Value;
        Assert.Equal(ZkJson.SsConnections(zk.Port, "127.0.0.2"), host.GetProperty("connections").GetInt32());
        Assert.Equal(5, host.GetProperty("connections").GetInt32());
        Assert.Equal(0, host.GetProperty("headroom").GetInt32());
        Assert.Equal(5, host.GetProperty("withSession").GetInt32());
        Assert.Equal(1, ZkJson.Client(d, "127.0.0.3")!.Value.GetProperty("connections").GetInt32());

        var limit = Assert.Single(ZkJson.Findings(d, "connection-limit"));
        Assert.Equal("127.0.0.2", ZkJson.ClientIp(limit));
        Assert.Equal("critical", limit.GetProperty("severity").GetString());
        Assert.Contains("5 of 5", limit.GetProperty("summary").GetString());
        Assert.Contains(limit.GetProperty("evidence").EnumerateArray(), e => e.GetString()!.StartsWith("5 with a session (5 active"));

        // The limit is real: a sixth connection from that host is closed at once by the server.
        var sixth = zk.FourLetterFrom("127.0.0.2", "srvr");
        Assert.True(string.IsNullOrEmpty(sixth), sixth);
    }

    [Fact]
    public void TheAdminServerListsWhatTheFourLetterWordsList()
    {
        var zk = f.Zk;
        using var clients = new ZkClients(zk, "keep", "--source", "127.0.0.4", "--count", "2", "--hold", "120");
        clients.WaitDone();
        var viaWords = CliRunner.Run("zk", zk.Address, "--json");
        var viaAdmin = CliRunner.Run("zk", zk.Address, "--admin-url", zk.AdminUrl, "--json");
        Assert.True(viaAdmin.Code == 0, viaAdmin.Stderr);
        using var w = viaWords.Json();
        using var a = viaAdmin.Json();
        Assert.Equal("4lw", ZkJson.Server(w, zk.Address).GetProperty("via").GetString());
        var admin = ZkJson.Server(a, zk.Address);
        Assert.Equal("admin", admin.GetProperty("via").GetString());
        Assert.Equal("ok", admin.GetProperty("state").GetString());
        Assert.Equal("standalone", admin.GetProperty("mode").GetString());
        Assert.Equal(5, admin.GetProperty("maxClientCnxns").GetInt32());
        static HashSet<(string?, string?)> Sessions(JsonElement server) =>
            server.GetProperty("connections").EnumerateArray().Select(c => (c.GetProperty("client").GetString(), c.GetProperty("sessionId").GetString())).ToHashSet();
        Assert.Equal(Sessions(ZkJson.Server(w, zk.Address)), Sessions(admin));
        Assert.Equal(2, ZkJson.Client(a, "127.0.0.4")!.Value.GetProperty("withSession").GetInt32());

        // The NativeAOT binary asks the same way (HTTP and JSON without reflection) and fails the same way.
        var (code, stdout, stderr) = Shell.RunFull(ConnDoctor.Tests.Cli.BinarySmokeTests.Binary(), ["zk", zk.Address, "--admin-url", zk.AdminUrl, "--json"], check: false);
        Assert.True(code == 0, stderr);
        using var b = JsonDocument.Parse(stdout);
        Assert.Equal("admin", ZkJson.Server(b, zk.Address).GetProperty("via").GetString());
        Assert.Equal(2, ZkJson.Client(b, "127.0.0.4")!.Value.GetProperty("withSession").GetInt32());
        var bad = Shell.RunFull(ConnDoctor.Tests.Cli.BinarySmokeTests.Binary(), ["zk", "127.0.0.1:1", "--timeout", "1s"], check: false);
        Assert.Equal(1, bad.Code);
        Assert.Equal("conndoctor: no member of the ensemble answered: 127.0.0.1:1: cannot connect to 127.0.0.1:1: connection refused (nothing listens there)\n", bad.Stderr);
    }
}

/// <summary>A server that lists its connections (cons) but refuses dump and wchc, without an AdminServer to stand in.</summary>
public sealed class ConsOnlyServerFixture : IDisposable
{
    public ZooKeeperServer Zk { get; } = new(fourLetterWords: "srvr,cons,conf,mntr");
    public void Dispose() => Zk.Dispose();
}

public class ZkUnknownCountsTests(ConsOnlyServerFixture f) : IClassFixture<ConsOnlyServerFixture>
{
    [Fact]
    public void EphemeralsAndWatchesThatNoWordGaveAreUnknownNotZero()
    {
        var zk = f.Zk;
        using var clients = new ZkClients(zk, "keep", "--source", "127.0.0.9", "--count", "2", "--hold", "120");
        clients.WaitDone();
        using var d = CliRunner.Run("zk", zk.Address, "--json").Json();
        var c = ZkJson.Client(d, "127.0.0.9")!.Value;
        Assert.Equal(2, c.GetProperty("connections").GetInt32());
        Assert.Equal(JsonValueKind.Null, c.GetProperty("ephemerals").ValueKind);
        Assert.Equal(JsonValueKind.Null, c.GetProperty("watches").ValueKind);
        var text = CliRunner.Run("zk", zk.Address, "--wide").Stdout;
        var row = text.Split('\n').Single(l => l.StartsWith("127.0.0.9 "));
        Assert.Contains("    ?     ?", row);                     // EPHEM and WATCH: unknown
    }
}

/// <summary>A server that allows only srvr (3.5+'s default) and runs the AdminServer on a free port.</summary>
public sealed class RestrictedServerFixture : IDisposable
{
    public ZooKeeperServer Zk { get; } = new(fourLetterWords: "srvr", adminServer: true);
    public void Dispose() => Zk.Dispose();
}

public class ZkWhitelistTests(RestrictedServerFixture f) : IClassFixture<RestrictedServerFixture>
{
    [Fact]
    public void RefusedWordsNameTheWhitelistLineThatAllowsThem()
    {
        var zk = f.Zk;
        Assert.Contains("is not in the whitelist", zk.FourLetter("cons")); // the server really refuses
        var r = CliRunner.Run("zk", zk.Address);
        Assert.True(r.Code == 0, r.Stderr);
        Assert.Contains("4lw.commands.whitelist=ruok,srvr,conf,cons,dump,mntr,wchc", r.Stdout);
        Assert.Contains("conf, cons, dump, mntr, wchc refused", r.Stdout.Replace("\n", " ").Replace("  ", " "));
        Assert.Contains("client connections unknown", r.Stdout);                 // not "no client connections": cons was refused
        Assert.Contains("Nothing to diagnose: no member listed its client connections.", r.Stdout);

        using var d = CliRunner.Run("zk", zk.Address, "--json").Json();
        var s = ZkJson.Server(d, zk.Address);
        Assert.Equal("partial", s.GetProperty("state").GetString());
        Assert.Equal("standalone", s.GetProperty("mode").GetString()); // srvr is allowed
        Assert.Equal(["conf", "cons", "dump", "mntr", "wchc"], s.GetProperty("refusedWords").EnumerateArray().Select(x => x.GetString()));
        Assert.Equal("4lw.commands.whitelist=ruok,srvr,conf,cons,dump,mntr,wchc", s.GetProperty("whitelistHint").GetString());
        Assert.Equal(JsonValueKind.Null, s.GetProperty("connections").ValueKind);
        Assert.Contains(d.RootElement.GetProperty("rules").EnumerateArray(), x => x.GetProperty("id").GetString() == "connection-limit" && x.GetProperty("state").GetString() == "not-enough-evidence");
    }

    [Fact]
    public async Task AnotherJsonServiceIsNotTakenForTheAdminServer()
    {
        // Port 8080 often hosts an application: JSON that does not name the command is not ZooKeeper's, and no "0 connections".
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        int port = ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
        using var stop = new CancellationTokenSource();
        var server = Task.Run(async () =>
        {
            var body = "{\"command\":\"x\",\"error\":null,\"connections\":\"notalist\"}"u8.ToArray();
            var head = System.Text.Encoding.ASCII.GetBytes($"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {body.Length}\r\nConnection: close\r\n\r\n");
            try
            {
                while (true)
                {
                    using var c = await listener.AcceptSocketAsync(stop.Token);
                    var buf = new byte[4096];
                    await c.ReceiveAsync(buf, System.Net.Sockets.SocketFlags.None, stop.Token);
                    await c.SendAsync(head.Concat(body).ToArray(), System.Net.Sockets.SocketFlags.None, stop.Token);
                    c.Shutdown(System.Net.Sockets.SocketShutdown.Both);
                }
            }
            catch (OperationCanceledException) { }
        });
        try
        {
            var r = CliRunner.Run("zk", f.Zk.Address, "--admin-url", $"http://127.0.0.1:{port}");
            Assert.Contains("not from ZooKeeper's AdminServer", r.Stdout.Replace("\n", " ").Replace("  ", " "));
            Assert.DoesNotContain("No problems found", r.Stdout);
            Assert.Contains("client connections unknown", r.Stdout);
        }
        finally
        {
            stop.Cancel();
            await server;
            listener.Stop();
        }
    }

    [Fact]
    public void TheAdminServerStandsInForRefusedWords()
    {
        var zk = f.Zk;
        using var clients = new ZkClients(zk, "keep", "--source", "127.0.0.6", "--count", "2", "--hold", "120");
        clients.WaitDone();
        var r = CliRunner.Run("zk", zk.Address, "--admin-url", $"http://{zk.Host}:{zk.AdminPort}", "--json");
        Assert.True(r.Code == 0, r.Stderr);
        using var d = r.Json();
        var s = ZkJson.Server(d, zk.Address);
        Assert.Equal("ok", s.GetProperty("state").GetString());
        Assert.Equal("admin", s.GetProperty("via").GetString());
        Assert.Equal(JsonValueKind.Null, s.GetProperty("whitelistHint").ValueKind);
        var c = ZkJson.Client(d, "127.0.0.6")!.Value;
        Assert.Equal(ZkJson.SsConnections(zk.Port, "127.0.0.6"), c.GetProperty("connections").GetInt32());
        Assert.Equal(2, c.GetProperty("withSession").GetInt32());
    }
}

/// <summary>A standalone server with the defaults, for the session-per-task leak and a hung client.</summary>
public sealed class LeakServerFixture : IDisposable
{
    public ZooKeeperServer Zk { get; } = new();
    public void Dispose() => Zk.Dispose();
}

public class ZkLeakTests(LeakServerFixture f) : IClassFixture<LeakServerFixture>
{
    [Fact]
    public void ASessionPerTaskLeakIsReportedWithTheRateTheLeakerHad()
    {
        var zk = f.Zk;
        const int tasks = 16;
        using var leaker = new ZkClients(zk, "leak", "--source", "127.0.0.5", "--count", tasks.ToString(), "--rate", "2", "--path", "/clients", "--hold", "120");
        leaker.WaitFor(l => l.Count(x => x.StartsWith('{')) >= 2);
        double t0 = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0;
        var r = CliRunner.Run("zk", zk.Address, "--watch", "5s", "--interval", "1s", "--json");
        double t1 = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0;
        Assert.True(r.Code == 0, r.Stderr);
        using var d = r.Json();

        // What the leaker did while we watched, from its own timestamps.
        int during = leaker.Tasks.Count(t => t.Time >= t0 && t.Time <= t1);
        double expectedPerMinute = during / (t1 - t0) * 60;
        Assert.InRange(during, 4, tasks);
        var growth = d.RootElement.GetProperty("growth").EnumerateArray().Single(g => g.GetProperty("ip").GetString() == "127.0.0.5");
        double measured = growth.GetProperty("sessionsPerMinute").GetDouble();
        Assert.InRange(measured, expectedPerMinute * 0.7, expectedPerMinute * 1.3);
        Assert.Equal(0, growth.GetProperty("sessionsClosed").GetInt32());
        Assert.True(growth.GetProperty("sessionsAtEnd").GetInt32() > growth.GetProperty("sessionsAtStart").GetInt32());
        Assert.Equal("/clients/task-*", growth.GetProperty("ephemeralPatterns")[0].GetProperty("pattern").GetString());

        var leak = Assert.Single(ZkJson.Findings(d, "session-leak"));
        Assert.Equal("127.0.0.5", ZkJson.ClientIp(leak));
        var said = System.Text.RegularExpressions.Regex.Match(leak.GetProperty("summary").GetString()!, @"about ([0-9.]+)/min");
        Assert.InRange(double.Parse(said.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture), measured - 0.1, measured + 0.1);
        Assert.Contains("/clients/task-*", leak.GetProperty("summary").GetString());
        Assert.Contains("one ZooKeeper client", leak.GetProperty("remedy").GetString());
        Assert.Contains("event thread", leak.GetProperty("remedy").GetString());

        // --path: our own client lists the nodes, each joined to its owning session and the leaker's address.
        leaker.WaitDone();
        using var p = CliRunner.Run("zk", zk.Address, "--path", "/clients", "--json").Json();
        var nodes = p.RootElement.GetProperty("pathNodes").EnumerateArray().ToList();
        Assert.Equal(tasks, nodes.Count);
        Assert.Equal(leaker.Tasks.Select(t => $"0x{t.Session:x}").ToHashSet(), nodes.Select(n => n.GetProperty("ownerSession").GetString()!).ToHashSet());
        Assert.All(nodes, n => Assert.StartsWith("127.0.0.5:", n.GetProperty("client").GetString()));
        var status = p.RootElement.GetProperty("sources").EnumerateArray().Single(s => s.GetProperty("source").GetString() == "zk:path");
        Assert.Equal("ok", status.GetProperty("state").GetString());
    }

    [Fact]
    public void AClientThatStoppedPingingIsAHalfOpenSuspectWhileAnotherIpPings()
    {
        var zk = f.Zk;
        using var hung = new ZkClients(zk, "keep", "--source", "127.0.0.7", "--count", "2", "--hold", "120");
        using var live = new ZkClients(zk, "keep", "--source", "127.0.0.8", "--count", "1", "--hold", "120");
        hung.WaitDone();
        live.WaitDone();
        hung.Freeze();
        try
        {
            // kazoo asks for 4 s sessions and pings every third: silent for 2/3 of it (2.7 s) is suspect, the server expires
            // the sessions at 4-6 s. Poll (bounded) until the window opens; the sessions must still be listed then. The
            // two stopped sessions last pinged up to a ping interval apart, so for a moment only one of them may be
            // suspect: polling goes on for a while in the hope of seeing both, and settles for one.
            JsonElement? finding = null;
            JsonDocument? seen = null;
            var deadline = DateTime.UtcNow.AddSeconds(15);
            DateTime? firstSeen = null;
            while (DateTime.UtcNow < deadline && (finding == null || !Summary(finding.Value).Contains("2 session") && DateTime.UtcNow - firstSeen < TimeSpan.FromSeconds(1)))
            {
                Thread.Sleep(250);
                var r = CliRunner.Run("zk", zk.Address, "--json");
                Assert.True(r.Code == 0, r.Stderr);
                var doc = r.Json();
                var f = ZkJson.Findings(doc, "half-open-suspect").Where(x => ZkJson.ClientIp(x) == "127.0.0.7").Select(x => (JsonElement?)x).FirstOrDefault();
                if (f == null && finding != null) { doc.Dispose(); break; }            // expired meanwhile: keep the last sight
                seen?.Dispose();
                seen = doc;
                finding = f;
                if (finding != null) firstSeen ??= DateTime.UtcNow;
            }
            using var d = seen!;
            Assert.True(finding != null, "no half-open-suspect for the stopped client within 15 s");
            Assert.Equal("warning", finding.Value.GetProperty("severity").GetString());
            int suspects = Summary(finding.Value).Contains("2 session connection(s)") ? 2 : 1;
            Assert.Contains($"{suspects} session connection(s)", Summary(finding.Value));
            Assert.Contains(finding.Value.GetProperty("evidence").EnumerateArray(), e => e.GetString()!.StartsWith("meanwhile 1 session connection(s) from other addresses are active"));
            Assert.DoesNotContain(ZkJson.Findings(d, "half-open-suspect"), x => ZkJson.ClientIp(x) == "127.0.0.8");
            var row = ZkJson.Client(d, "127.0.0.7")!.Value;
            Assert.Equal(suspects, row.GetProperty("idle").GetInt32());
            Assert.Equal(2, row.GetProperty("withSession").GetInt32());
        }
        finally { hung.Kill(); }
    }

    private static string Summary(JsonElement finding) => finding.GetProperty("summary").GetString()!;
}

[Collection(EnsembleFixture.Collection)]
public class ZkEnsembleTests(EnsembleFixture f)
{
    [Fact]
    public void LeaderAndFollowersAreShownAndUnreachableMembersReported()
    {
        var e = f.Ensemble;
        // Oracle: each member's own srvr.
        var modes = e.Members.ToDictionary(m => m.Address, m => m.Mode());
        Assert.Equal(1, modes.Values.Count(m => m == "leader"));
        var follower = e.Members.First(m => modes[m.Address] == "follower");
        using var client = new ZkClients(follower, "leak", "--source", "127.0.0.4", "--count", "1", "--rate", "10", "--path", "/followers", "--hold", "120");
        client.WaitDone();

        int deadPort = Ports.Closed();
        using var silent = new TcpListener(IPAddress.Loopback, 0); // accepts (backlog) and never answers
        silent.Start();
        int silentPort = ((IPEndPoint)silent.LocalEndpoint).Port;

        string dead = $"127.0.0.1:{deadPort}", mute = $"127.0.0.1:{silentPort}";
        // The silent member costs one --timeout; the real ones answer in milliseconds, but the suite shares two cores with JVMs.
        var r = CliRunner.Run("zk", $"{e.Connect},{dead},{mute}", "--timeout", "2s", "--json");
        Assert.True(r.Code == 0, r.Stderr);
        using var d = r.Json();
        foreach (var m in e.Members)
        {
            var s = ZkJson.Server(d, m.Address);
            Assert.Equal("ok", s.GetProperty("state").GetString());
            Assert.Equal(modes[m.Address], s.GetProperty("mode").GetString());
        }
        var deadStatus = ZkJson.Server(d, dead);
        Assert.Equal("failed", deadStatus.GetProperty("state").GetString());
        Assert.Contains("connection refused", deadStatus.GetProperty("reason").GetString());
        var muteStatus = ZkJson.Server(d, mute);
        Assert.Equal("failed", muteStatus.GetProperty("state").GetString());
        Assert.Contains("within 2s", muteStatus.GetProperty("reason").GetString());

        // The kazoo client on a follower: its ephemeral node (in the leader's dump) joined to its connection there.
        var row = d.RootElement.GetProperty("clients").EnumerateArray().Single(c => c.GetProperty("ip").GetString() == "127.0.0.4");
        Assert.Equal(follower.Address, row.GetProperty("server").GetString());
        Assert.Equal(1, row.GetProperty("ephemerals").GetInt32());
        Assert.True(d.RootElement.GetProperty("ephemeralsKnown").GetBoolean());

        var text = CliRunner.Run("zk", $"{e.Connect},{dead}");
        Assert.Equal(1, text.Stdout.Split('\n').Count(l => l.StartsWith(e.Members.First(m => modes[m.Address] == "leader").Address) && l.Contains(" leader ")));
        Assert.True(text.Stdout.Split('\n').Count(l => l.Contains(" follower ")) == 2, text.Stdout);
        Assert.Contains($"note: zk:{dead} failed: cannot connect", text.Stdout);
    }
}
