using System.Text.Json;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.RealClients;

/// <summary>
/// Issue 18 with a real ZooKeeper Java client (<see cref="JavaReconnectLoopScenario"/>): watch names the JVM, not its
/// send thread; the slow reconnect loop of incident 000 is seen by the server's log, a capture and a watch alike; a TCP
/// health check and a healthy client beside it are not blamed.
/// </summary>
[Collection("watch")]
public class JavaReconnectLoopTests(JavaReconnectLoopScenario s) : IClassFixture<JavaReconnectLoopScenario>
{
    private static JsonElement Root(CliRunner.Result r)
    {
        Assert.True(r.Code == 0, $"exit {r.Code}: {r.Stderr}"); // no --fail-on: findings do not change the exit code
        return JsonDocument.Parse(r.Stdout).RootElement;
    }

    private static IEnumerable<JsonElement> Findings(CliRunner.Result r) => Root(r).GetProperty("findings").EnumerateArray();
    private static string Severity(JsonElement f) => f.GetProperty("severity").GetString()!;
    private static string? Str(JsonElement e, string name) => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
    private static int? Int(JsonElement e, string name) => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetInt32() : null;
    private static string Text(JsonElement f) =>
        Str(f, "summary") + "\n" + string.Join('\n', f.GetProperty("evidence").EnumerateArray().Select(x => x.GetString()));

    private IEnumerable<JsonElement> WatchRows => Root(s.Watch).GetProperty("watch").GetProperty("rows").EnumerateArray();
    private IEnumerable<JsonElement> WatchConnections => Root(s.Watch).GetProperty("watch").GetProperty("connections").EnumerateArray();
    private string ServerEndpoint => $"{JavaReconnectLoopScenario.ServerIp}:{s.Zk.Port}";

    /// <summary>Findings of one source about a client: by its address (zklog, pcap) or its process (watch).</summary>
    private static List<JsonElement> About(CliRunner.Result r, string? ip = null, int? pid = null) =>
        Findings(r).Where(f => f.GetProperty("subject") is var subj && (ip != null && Str(subj, "clientIp") == ip || pid != null && Int(subj, "pid") == pid)).ToList();

    [Fact]
    public void TheLoopIsRealAConnectionEveryOneToTwoSecondsNoneWithASession()
    {
        // The client's own log: every reconnect fails on the missing class, before its ConnectRequest.
        int loops = s.LoopConnectsAtCaptureEnd;
        Assert.True(loops >= 10, $"{loops} reconnects in {JavaReconnectLoopScenario.WatchSeconds} s");
        Assert.True(s.Culprit.Count("java.lang.NoClassDefFoundError: org/apache/zookeeper/proto/SetWatches") >= loops - 1);
        Assert.Equal(1, s.Culprit.Count("state SyncConnected")); // the first session only, before the break
        // The Java client's backoff: 1 s (its host list cycled) plus a random 0..1 s, so gaps of 1 to 2 s plus the connect.
        var t = s.LoopConnectTimes();
        var gaps = t.Zip(t.Skip(1), (a, b) => (b - a).TotalSeconds).ToList();
        Assert.All(gaps, g => Assert.InRange(g, 0.95, 2.6));
        Assert.True(gaps.Max() - gaps.Min() > 0.2, $"gaps {string.Join(' ', gaps.Select(g => g.ToString("0.00")))}: jittered, not a fixed period");

        // The server's log (3.8 at INFO logs no accept and no session setup): each of those connections ends with no session.
        var client = Root(s.ZkLog).GetProperty("clients").EnumerateArray().Single(c => c.GetProperty("ip").GetString() == JavaReconnectLoopScenario.CulpritIp);
        int noSession = client.GetProperty("endOfStreamNoSession").GetInt32() + client.GetProperty("closedNoSession").GetInt32();
        Assert.InRange(noSession, loops - 1, s.LoopConnectsAtZkLogRead + 1);
        Assert.Equal(1.0, client.GetProperty("shareWithoutSession").GetDouble());
    }

    [Fact]
    public void WatchNamesTheJvmAndItsCommandLineNeverItsSendThread()
    {
        Assert.NotEmpty(s.SendThreads);
        var sendTids = s.SendThreads.Select(x => x.Tid).ToHashSet();
        Assert.DoesNotContain(s.Culprit.Pid, sendTids); // the connecting thread is not the process: the test means something

        var rows = WatchRows.Where(r => Str(r, "direction") == "outbound" && Str(r, "endpoint") == ServerEndpoint).ToList();
        var jvm = Assert.Single(rows, r => Int(r, "pid") == s.Culprit.Pid);
        Assert.Equal("java", Str(jvm, "process"));
        Assert.Contains("ZkJavaClient", Str(jvm, "commandLine"));
        Assert.Contains("zookeeper-jute-without-SetWatches.jar", Str(jvm, "commandLine"));
        Assert.Contains(jvm.GetProperty("threads").EnumerateArray(), x => x.GetString()!.StartsWith("main-SendThrea", StringComparison.Ordinal));
        // Every connect the client's log shows during the watch, each one the process's (the last may straddle the end).
        Assert.InRange(jvm.GetProperty("opened").GetInt32(), s.LoopConnectsAtWatchEnd - 1, s.LoopConnectsAtWatchEnd + 1);

        // No row, connection or finding is named by a thread id.
        Assert.DoesNotContain(WatchRows, r => Int(r, "pid") is int p && sendTids.Contains(p));
        Assert.DoesNotContain(Findings(s.Watch), f => Int(f.GetProperty("subject"), "pid") is int p && sendTids.Contains(p));
        // Opened during the watch (the connection of before the break comes from the socket table: no thread to tell). A Java
        // socket is dual-stack: its address shows as [::ffff:10.18.0.2].
        var fromCulprit = WatchConnections.Where(c => Str(c, "local")!.Replace("[::ffff:", "").Replace("]", "").StartsWith(JavaReconnectLoopScenario.CulpritIp + ":", StringComparison.Ordinal) && c.TryGetProperty("openedMs", out _)).ToList();
        Assert.NotEmpty(fromCulprit);
        Assert.All(fromCulprit, c =>
        {
            Assert.Equal(s.Culprit.Pid, Int(c, "pid"));
            Assert.Contains(Int(c, "tid") ?? 0, sendTids); // the thread stays as a detail
        });

        // The other two clients are their processes too (kazoo connects from a thread of its own).
        Assert.Contains(rows, r => Int(r, "pid") == s.Healthy.Pid && Str(r, "process") == "python3");
        Assert.Contains(rows, r => Int(r, "pid") == s.HealthCheck.Id && Str(r, "process") == "python3");
    }

    [Fact]
    public void TheSocketTableNamesProcessesNotTheirThreads()
    {
        Assert.True(s.ClientThreads.Count > 10, "the JVM and kazoo run threads");
        var sockets = Root(s.Sockets).GetProperty("sockets").EnumerateArray().ToList();
        var owners = sockets.Where(x => x.TryGetProperty("owners", out _)).SelectMany(x => x.GetProperty("owners").EnumerateArray()).Select(o => o.GetProperty("pid").GetInt32()).ToList();
        Assert.DoesNotContain(owners, p => s.ClientThreads.Contains(p));
        // The kazoo session's socket, made and used by its connection thread: one owner, the process, once.
        var session = Assert.Single(sockets, x => Str(x, "state") == "ESTAB" && Str(x, "local")!.StartsWith(JavaReconnectLoopScenario.HealthyIp + ":", StringComparison.Ordinal));
        var owner = Assert.Single(session.GetProperty("owners").EnumerateArray());
        Assert.Equal(s.Healthy.Pid, owner.GetProperty("pid").GetInt32());
        Assert.Equal("python3", Str(owner, "process"));
    }

    [Fact]
    public void TheCaptureHoldsEveryAttemptAndNoneCarriesData()
    {
        var pairs = Root(s.Pcap).GetProperty("pairs").EnumerateArray().ToList();
        JsonElement Pair(string ip) => Assert.Single(pairs, p => Str(p, "client")!.StartsWith(ip, StringComparison.Ordinal));
        var culprit = Pair(JavaReconnectLoopScenario.CulpritIp);
        // Every connection in the capture, opened there, with tshark as the oracle.
        Assert.Equal(s.SynsByClient[JavaReconnectLoopScenario.CulpritIp], culprit.GetProperty("opened").GetInt32());
        Assert.Equal(culprit.GetProperty("opened").GetInt32(), culprit.GetProperty("connections").GetInt32());
        Assert.InRange(culprit.GetProperty("opened").GetInt32(), s.LoopConnectsAtWatchEnd - 1, s.LoopConnectsAtCaptureEnd + 1);
        Assert.Equal(0, culprit.GetProperty("bytesToServer").GetInt64()); // the ConnectRequest never went out
        var check = Pair(JavaReconnectLoopScenario.CheckIp);
        Assert.Equal(s.SynsByClient[JavaReconnectLoopScenario.CheckIp], check.GetProperty("opened").GetInt32());
        Assert.Equal(0, check.GetProperty("bytesToServer").GetInt64());
        Assert.True(Pair(JavaReconnectLoopScenario.HealthyIp).GetProperty("bytesToServer").GetInt64() > 0);
    }

    // ---- The verdicts. These wait for the slow-loop and health-check logic of reconnect-storm (issue 18, branch issue-18b):
    // until it is merged, reconnect-storm looks at rate alone and says nothing of a loop at about one connection a second.

    /// <summary>What each source found about one client: the server's log and the capture by its address, watch by its process.</summary>
    private IEnumerable<(string Source, List<JsonElement> Found, CliRunner.Result Output)> BySource(string ip, int pid) =>
    [
        ("zklog", About(s.ZkLog, ip: ip), s.ZkLog),
        ("pcap", About(s.Pcap, ip: ip), s.Pcap),
        ("watch", About(s.Watch, pid: pid), s.Watch),
    ];

    private static string Listed(CliRunner.Result r) => string.Join(" | ", Findings(r).Select(f => $"{Str(f, "ruleId")} {Severity(f)} {Str(f, "summary")}"));

    [Fact]
    public void EverySourceCallsTheLoopAReconnectStormWarningNamingTheClient()
    {
        foreach (var (source, found, output) in BySource(JavaReconnectLoopScenario.CulpritIp, s.Culprit.Pid))
        {
            var storm = found.Where(f => Str(f, "ruleId") == "reconnect-storm").ToList();
            Assert.True(storm.Count == 1, $"{source}: {storm.Count} reconnect-storm finding(s) about the culprit; all findings: {Listed(output)}");
            Assert.True(Severity(storm[0]) == "warning", $"{source}: {Severity(storm[0])}: {Text(storm[0])}");
        }
        var w = About(s.Watch, pid: s.Culprit.Pid).Single(f => Str(f, "ruleId") == "reconnect-storm");
        Assert.Equal("java", Str(w.GetProperty("subject"), "process"));
        Assert.Contains("ZkJavaClient", Str(w.GetProperty("subject"), "commandLine"));
    }

    [Fact]
    public void TheHealthCheckIsInfoAtMostAndCalledAHealthCheck()
    {
        foreach (var (source, found, output) in BySource(JavaReconnectLoopScenario.CheckIp, s.HealthCheck.Id))
        {
            Assert.All(found, f => Assert.True(Severity(f) == "info", $"{source}: {Str(f, "ruleId")} {Severity(f)}: {Text(f)}"));
            Assert.True(found.Any(f => Str(f, "ruleId") == "reconnect-storm" && Text(f).Contains("health check", StringComparison.Ordinal)),
                $"{source}: nothing calls the client a health check; all findings: {Listed(output)}");
        }
    }

    [Fact]
    public void TheHealthyClientIsNeverAtWarningOrAbove()
    {
        foreach (var (source, found, _) in BySource(JavaReconnectLoopScenario.HealthyIp, s.Healthy.Pid))
            Assert.All(found, f => Assert.True(Severity(f) == "info", $"{source}: {Str(f, "ruleId")} {Severity(f)}: {Text(f)}"));
    }
}
