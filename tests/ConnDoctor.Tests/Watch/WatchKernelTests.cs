using System.Diagnostics;
using System.Text.Json;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.Watch;

/// <summary>
/// One namespace, one 5-second `watch --mode trace` over real processes: a client connecting and closing 50 times
/// a second for 3 s (connections of a few hundred microseconds, far shorter than the 1 s interval), a client reading
/// 1000 bytes of an 8 MB response and closing 20 times a second, and a well-behaved client holding one connection.
/// The processes start on a "go" sent once the trace instance exists.
/// </summary>
public sealed class WatchTraceFixture : IDisposable
{
    public const double ChurnRate = 50;
    public TestNetns Ns { get; }
    public Process Churner { get; }
    public Process Peeker { get; }
    public Process Polite { get; }
    public Process Server { get; }
    public CliRunner.Result Result { get; }
    public bool TracefsMountedBefore { get; }
    public bool InstanceSeen { get; }

    public WatchTraceFixture()
    {
        Ns = new TestNetns("watch");
        TracefsMountedBefore = TracefsMounts().Count > 0;
        Server = Ns.StartScenario("server", "--listen", "127.0.0.1:2181:drain");
        Ns.StartScenario("bulk", "--listen", "127.0.0.1:8080", "--bytes", (8 << 20).ToString());
        Churner = Ns.StartScenario("pace", "--connect", "127.0.0.1:2181", "--rate", ChurnRate.ToString(), "--seconds", "3");
        Peeker = Ns.StartScenario("pace", "--connect", "127.0.0.1:8080", "--rate", "20", "--seconds", "3", "--peek", "1000");
        Polite = Ns.StartScenario("pace", "--connect", "127.0.0.1:2181", "--rate", "5", "--seconds", "30", "--keep");

        var run = Task.Run(() => CliRunner.Run("watch", "--json", "--mode", "trace", "--netns", Ns.Name, "--duration", "5s", "--interval", "1s"));
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < TimeSpan.FromSeconds(20) && !run.IsCompleted && !InstanceSeen)
        {
            InstanceSeen = InstanceDirs().Count > 0;
            if (!InstanceSeen) Thread.Sleep(20);
        }
        Thread.Sleep(500); // the socket table read that follows enabling the events
        foreach (var p in new[] { Churner, Peeker, Polite }) { p.StandardInput.WriteLine("go"); p.StandardInput.Flush(); }
        Result = run.Result;
    }

    public static List<string> TracefsMounts() =>
        File.ReadAllLines("/proc/self/mounts").Select(l => l.Split(' ')).Where(f => f.Length > 2 && f[2] == "tracefs").Select(f => f[1]).ToList();

    public static List<string> InstanceDirs() =>
        TracefsMounts().Where(m => Directory.Exists(Path.Combine(m, "instances")))
            .SelectMany(m => Directory.GetDirectories(Path.Combine(m, "instances"), $"conndoctor-{Environment.ProcessId}")).ToList();

    public void Dispose() => Ns.Dispose();
}

/// <summary>
/// The watch tests run alone: their churn (and the tracing) would load the CPU under other kernel tests'
/// timing-sensitive scenarios, and other tests' load would blur the measured rates.
/// </summary>
[CollectionDefinition("watch", DisableParallelization = true)]
public sealed class WatchCollection;

[Collection("watch")]
public class WatchKernelTests(WatchTraceFixture f) : IClassFixture<WatchTraceFixture>
{
    private JsonElement Root => JsonDocument.Parse(f.Result.Stdout).RootElement;
    private IEnumerable<JsonElement> Rows => Root.GetProperty("watch").GetProperty("rows").EnumerateArray();
    private IEnumerable<JsonElement> Findings => Root.GetProperty("findings").EnumerateArray();

    private static int? Pid(JsonElement e) => e.TryGetProperty("pid", out var p) ? p.GetInt32() : null;
    private static int? SubjectPid(JsonElement finding) => Pid(finding.GetProperty("subject"));

    [Fact]
    public void RanInTraceModeAndSawTheInstance()
    {
        Assert.True(f.Result.Code == 0, f.Result.Stderr);
        Assert.True(f.InstanceSeen, "the trace instance directory never appeared");
        Assert.Equal("trace", Root.GetProperty("watch").GetProperty("mode").GetString());
        Assert.Equal(0, Root.GetProperty("watch").GetProperty("eventsLost").GetInt64());
    }

    [Fact]
    public void ChurningProcessIsNamedByPidWithItsRate()
    {
        var row = Assert.Single(Rows, r => Pid(r) == f.Churner.Id && r.GetProperty("endpoint").GetString() == "127.0.0.1:2181");
        double rate = row.GetProperty("opensPerSec").GetDouble();
        Assert.InRange(rate, WatchTraceFixture.ChurnRate * 0.8, WatchTraceFixture.ChurnRate * 1.2);
        Assert.InRange(row.GetProperty("opened").GetInt32(), 120, 151);
        Assert.Equal("python3", row.GetProperty("process").GetString());
        Assert.Equal(row.GetProperty("closed").GetInt32(), row.GetProperty("closedFirstByThisSide").GetInt32());

        var storm = Assert.Single(Findings, x => x.GetProperty("ruleId").GetString() == "reconnect-storm" && SubjectPid(x) == f.Churner.Id);
        Assert.Equal("warning", storm.GetProperty("severity").GetString());
        Assert.Contains("reconnect loop", storm.GetProperty("cause").GetString());
    }

    [Fact]
    public void ConnectionsShorterThanTheIntervalAreAttributed()
    {
        var row = Rows.Single(r => Pid(r) == f.Churner.Id);
        Assert.True(row.GetProperty("p99LifetimeMs").GetDouble() < 1000, "the churn connections live far less than the 1 s interval");
        var conns = Root.GetProperty("watch").GetProperty("connections").EnumerateArray()
            .Where(c => c.GetProperty("remote").GetString() == "127.0.0.1:2181" && c.GetProperty("direction").GetString() == "outbound" && c.TryGetProperty("lifetimeMs", out _)).ToList();
        Assert.True(conns.Count >= 100);
        Assert.All(conns.Where(c => Pid(c) != f.Polite.Id), c => Assert.Equal(f.Churner.Id, Pid(c)));
        Assert.True(Root.GetProperty("watch").GetProperty("attributedShare").GetDouble() >= 0.99);
    }

    [Fact]
    public void ReadingOnlyTheStartOfAResponseIsAnRstStormWithTheUnreadCause()
    {
        var rst = Assert.Single(Findings, x => x.GetProperty("ruleId").GetString() == "rst-storm" && SubjectPid(x) == f.Peeker.Id);
        Assert.Equal("warning", rst.GetProperty("severity").GetString());
        Assert.Contains("data unread", rst.GetProperty("summary").GetString());
        Assert.Contains("RFC 2525", rst.GetProperty("cause").GetString());
        Assert.Contains(rst.GetProperty("evidence").EnumerateArray(), e => e.GetString()!.Contains("TCP_ABORT_ON_CLOSE"));
        var row = Rows.Single(r => Pid(r) == f.Peeker.Id);
        Assert.InRange(row.GetProperty("unreadDataResets").GetInt32(), 40, 61);
    }

    [Fact]
    public void WellBehavedClientRaisesNothing()
    {
        var row = Assert.Single(Rows, r => Pid(r) == f.Polite.Id && r.GetProperty("direction").GetString() == "outbound");
        Assert.Equal(1, row.GetProperty("opened").GetInt32());
        Assert.Equal(0, row.GetProperty("closed").GetInt32());
        Assert.DoesNotContain(Findings, x => SubjectPid(x) == f.Polite.Id);
        // Besides the two culprits (and the servers they hit), nothing at warning or above.
        var culprits = new[] { f.Churner.Id, f.Peeker.Id };
        Assert.All(Findings.Where(x => x.GetProperty("severity").GetString() != "info"),
            x => Assert.True(culprits.Contains(SubjectPid(x) ?? 0) || x.GetProperty("subject").TryGetProperty("clientIp", out _), x.GetProperty("summary").GetString()));
    }

    [Fact]
    public void TraceInstanceIsGoneAfterTheCommand()
    {
        Assert.Empty(WatchTraceFixture.InstanceDirs());
        if (!f.TracefsMountedBefore) Assert.Empty(WatchTraceFixture.TracefsMounts());
    }
}

/// <summary>Snapshot mode, forced: connections that outlive the interval are still named.</summary>
[Collection("watch")]
public class WatchSnapshotTests
{
    [Fact]
    public void ForcedSnapshotModeNamesTheProcessOfLongerConnections()
    {
        using var ns = new TestNetns("wsnap");
        ns.StartScenario("server", "--listen", "127.0.0.1:2181:drain");
        // Sequential connections each held 600 ms (longer than the 250 ms interval): about five in 3 s.
        var client = ns.StartScenario("pace", "--connect", "127.0.0.1:2181", "--rate", "2", "--seconds", "3", "--hold", "600", "--start-after", "0.5");
        var r = CliRunner.Run("watch", "--json", "--mode", "snapshot", "--netns", ns.Name, "--duration", "5s", "--interval", "250ms");
        Assert.True(r.Code == 0, r.Stderr);
        using var doc = r.Json();
        var w = doc.RootElement.GetProperty("watch");
        Assert.Equal("snapshot", w.GetProperty("mode").GetString());
        Assert.Contains("--mode snapshot", w.GetProperty("modeReason").GetString());
        var rows = w.GetProperty("rows").EnumerateArray()
            .Where(x => x.GetProperty("direction").GetString() == "outbound" && x.GetProperty("endpoint").GetString() == "127.0.0.1:2181").ToList();
        var row = Assert.Single(rows, x => x.TryGetProperty("pid", out _));
        Assert.Equal(client.Id, row.GetProperty("pid").GetInt32());
        // A snapshot delayed by a loaded machine can miss one connection's open phase: it then shows up only in
        // TIME_WAIT, without an owner (the documented limit of snapshot mode). At most one such.
        Assert.InRange(rows.Sum(x => x.GetProperty("opened").GetInt32()), 4, 6);
        Assert.InRange(row.GetProperty("opened").GetInt32(), 3, 6);
        Assert.True(w.GetProperty("attributedShare").GetDouble() > 0.9);
    }

    [Fact]
    public void FindingsAndFailOnStayWithinTheFilter()
    {
        // A CLOSE_WAIT leak on :9001 that the watch does not follow (--port 2181): no finding about it, and no exit 3.
        using var ns = new TestNetns("wfilt");
        ns.StartScenario("server", "--listen", "127.0.0.1:9001:close", "--listen", "127.0.0.1:2181:drain");
        var leaky = ns.StartScenario("leaky", "--connect", "127.0.0.1:9001", "--count", "30");
        ns.StartScenario("pace", "--connect", "127.0.0.1:2181", "--rate", "2", "--seconds", "3", "--hold", "600", "--start-after", "0.3");
        Thread.Sleep(1000);
        var all = CliRunner.Run("watch", "--json", "--mode", "snapshot", "--netns", ns.Name, "--duration", "1s", "--interval", "250ms", "--fail-on", "warning");
        Assert.True(all.Code == 3, all.Stderr);                 // unfiltered: the leak is a warning at least
        var followed = CliRunner.Run("watch", "--json", "--mode", "snapshot", "--netns", ns.Name, "--duration", "1s", "--interval", "250ms",
            "--port", "2181", "--fail-on", "warning");
        Assert.True(followed.Code == 0, followed.Stderr + followed.Stdout);
        using var doc = followed.Json();
        Assert.DoesNotContain(doc.RootElement.GetProperty("findings").EnumerateArray(), f => f.GetProperty("ruleId").GetString() == "close-wait-leak");
        GC.KeepAlive(leaky);
    }

    [Fact]
    public void PipedOutputPrintsLinesPerIntervalThenFindings()
    {
        using var ns = new TestNetns("wpipe");
        ns.StartScenario("server", "--listen", "127.0.0.1:2181:drain");
        ns.StartScenario("pace", "--connect", "127.0.0.1:2181", "--rate", "2", "--seconds", "3", "--hold", "700", "--start-after", "0.3");
        var r = CliRunner.Run("watch", "--mode", "snapshot", "--netns", ns.Name, "--duration", "2s", "--interval", "500ms");
        Assert.True(r.Code == 0, r.Stderr);
        Assert.Contains("-> 127.0.0.1:2181", r.Stdout);
        Assert.Contains("mode: socket-table snapshots every 0.5 s", r.Stdout);
        Assert.Contains("PROCESS", r.Stdout);
        Assert.DoesNotContain("\x1b[", r.Stdout);
    }

    [Theory]
    [InlineData("--interval", "10ms", "at least 100ms")]
    [InlineData("--mode", "bogus", "bogus")]
    [InlineData("--proc-root", "/tmp", "live kernel")]
    public void BadOptionsAreOneLine(string option, string value, string expect)
    {
        var r = CliRunner.Run("watch", "--duration", "1s", option, value);
        Assert.NotEqual(0, r.Code);
        Assert.Contains(expect, r.Stderr);
        Assert.Single(r.Stderr.Trim().Split('\n'));
    }

    [Fact] public void AZeroDurationIsAUsageError() => CliAssert.OneLineError(CliRunner.Run("watch", "--duration", "0"), 2, "above zero");
}

/// <summary>
/// The processes a watch is for at their shortest: `bash /dev/tcp` probes that connect, close and exit within a
/// millisecond, before their event is read. On the host's own namespace (no --netns), on loopback, on a free port.
/// </summary>
[Collection("watch")]
public class WatchExitedProcessTests
{
    [Fact]
    public async Task ConnectionsOfProcessesThatExitAtOnceAreCountedAndNamed()
    {
        int port = Ports.Free();
        var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, port);
        listener.Start(200);
        using var stopAccepting = new CancellationTokenSource();
        var acceptor = Task.Run(async () =>
        {
            try { while (true) (await listener.AcceptSocketAsync(stopAccepting.Token)).Dispose(); }
            catch (OperationCanceledException) { }
        });
        try
        {
            var run = Task.Run(() => CliRunner.Run("watch", "--json", "--mode", "trace", "--port", port.ToString(), "--duration", "4s", "--interval", "1s"));
            var sw = Stopwatch.StartNew();
            while (sw.Elapsed < TimeSpan.FromSeconds(20) && !run.IsCompleted && WatchTraceFixture.InstanceDirs().Count == 0) await Task.Delay(20);
            await Task.Delay(500);
            const int probes = 30;
            Shell.Run("bash", "-c", $"for i in $(seq {probes}); do bash -c 'exec 3<>/dev/tcp/127.0.0.1/{port}; exec 3>&-'; done");
            var r = await run;
            Assert.True(r.Code == 0, r.Stderr);
            using var doc = r.Json();
            var w = doc.RootElement.GetProperty("watch");
            var outbound = w.GetProperty("rows").EnumerateArray()
                .Where(x => x.GetProperty("direction").GetString() == "outbound" && x.GetProperty("endpoint").GetString() == $"127.0.0.1:{port}").ToList();
            Assert.Equal(probes, outbound.Sum(x => x.GetProperty("opened").GetInt32()));
            Assert.All(outbound, x => Assert.True(x.TryGetProperty("pid", out _)));
            // The trace prints "<...>" for a command name its cache no longer holds: such rows have a pid but no name.
            Assert.All(outbound.Where(x => x.TryGetProperty("process", out _)), x => Assert.Equal("bash", x.GetProperty("process").GetString()));
            Assert.Contains(outbound, x => x.TryGetProperty("process", out _));
        }
        finally
        {
            stopAccepting.Cancel();
            await acceptor;
            listener.Stop();
        }
    }
}
