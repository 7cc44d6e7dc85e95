using System.Diagnostics;
using System.Text.Json;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.Agent;

/// <summary>
/// The agent's window holds a bounded number of connection records (--max-connections) but its counts do not depend on
/// them: a paced churn in a test namespace of well over the cap is counted exactly in the window's rows and in the
/// counters (the churner's own count is the oracle), and the window keeps every segment of its length, sliding by age
/// only (the churn is in it while it is younger than the window, and gone after).
/// </summary>
public class AgentWindowBoundsTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private const string Token = "window-bounds-token-0123456789";

    private sealed record Window(double Seconds, int Connections, long Opens, long Closes, long ClosedByLocal, string Segments);

    /// <summary>The window document's watch: its length, its connection records, and the client rows of python3 towards <paramref name="server"/>.</summary>
    private static Window? Read(AgentProcess agent, string server)
    {
        var (status, body, _) = agent.Get("/evidence", ("Authorization", "Bearer " + Token));
        if (status != 200) return null;
        using var doc = JsonDocument.Parse(body);
        if (!doc.RootElement.TryGetProperty("watch", out var w) || w.ValueKind != JsonValueKind.Object) return null;
        long opens = 0, closes = 0, local = 0;
        foreach (var r in w.GetProperty("rows").EnumerateArray())
            if (r.GetProperty("process").GetString() == "python3" && !r.GetProperty("passive").GetBoolean() && r.GetProperty("endpoint").GetString() == server)
            {
                opens += r.GetProperty("opens").GetInt64();
                closes += r.GetProperty("closes").GetInt64();
                local += r.GetProperty("closedByLocal").GetInt64();
            }
        string segments = doc.RootElement.GetProperty("statuses").EnumerateArray()
            .Where(s => s.GetProperty("source").GetString() == "rules").Select(s => s.TryGetProperty("reason", out var x) ? x.GetString() ?? "" : "").FirstOrDefault() ?? "";
        return new Window(w.GetProperty("seconds").GetDouble(), w.GetProperty("connections").GetArrayLength(), opens, closes, local, segments);
    }

    private static Window AwaitWindow(AgentProcess agent, string server, Func<Window, bool> done, int seconds, string what)
    {
        Window? last = null;
        for (var sw = Stopwatch.StartNew(); sw.Elapsed < TimeSpan.FromSeconds(seconds); Thread.Sleep(250))
        {
            Assert.False(agent.Process.HasExited, agent.Stderr);
            if ((last = Read(agent, server)) is { } w && done(w)) return w;
        }
        Assert.Fail($"{what} within {seconds} s; last window: {last}");
        return null!;
    }

    private static string Churn(TestNetns ns, string server, int rate, int seconds)
    {
        var pace = ns.StartScenario("pace", "--connect", server, "--rate", rate.ToString(), "--seconds", seconds.ToString(), "--start-after", "0.05");
        string? done = null;
        var reader = new Thread(() => done = pace.StandardOutput.ReadLine()) { IsBackground = true };
        reader.Start();
        Assert.True(reader.Join(TimeSpan.FromSeconds(seconds + 30)) && done?.StartsWith("done ") == true, $"the churn did not finish: {done}");
        return done!;
    }

    /// <summary>A namespace with a draining server and an agent on it (tracepoints up, first collection done), serving /evidence.</summary>
    private sealed class Lab : IDisposable
    {
        public readonly TestNetns Ns;
        public readonly AgentProcess Agent;
        public readonly string Server;
        private readonly string _dir;

        public Lab(string name, params string[] agentArgs)
        {
            Ns = new TestNetns(name);
            _dir = Directory.CreateTempSubdirectory("cd-" + name).FullName;
            File.WriteAllText(Path.Combine(_dir, "token"), Token + "\n");
            Server = $"127.0.0.1:{Ports.Free()}";
            try
            {
                Ns.StartScenario("server", "--listen", Server + ":drain");
                Agent = new AgentProcess(["--netns", Ns.Name, .. agentArgs, "--max-connections", "1000", "--serve-evidence", "--token-file", Path.Combine(_dir, "token")]);
            }
            catch
            {
                Ns.Dispose();
                Directory.Delete(_dir, true);
                throw;
            }
            try { Agent.WaitMetrics(t => t.Contains("conndoctor_source_up{source=\"tracepoints\"} 1") && t.Contains("conndoctor_source_up{source=\"collect\"} 1")); }
            catch
            {
                Dispose();
                throw;
            }
        }

        public void Dispose()
        {
            Agent.Dispose();
            Ns.Dispose();
            Directory.Delete(_dir, true);
        }
    }

    [Fact]
    public void AChurnOfThreeTimesTheCapIsCountedExactlyInTheWindowAndTheCounters()
    {
        using var lab = new Lab("agentcap", "--interval", "2s", "--window", "60s");
        var (ns, agent, server) = (lab.Ns, lab.Agent, lab.Server);

        // About 3,000 connections in 6 s, each closed by the client first.
        int n = int.Parse(Churn(ns, server, 500, 6).Split(' ')[1]);
        output.WriteLine($"churner: {n} connections");
        Assert.True(n > 2000, $"the churner made only {n} connections");
        AwaitWindow(agent, server, x => x.Opens >= n && x.Closes >= n, 30, $"the window did not count {n} opens and closes");
        // Two more cuts: nothing further comes.
        Thread.Sleep(4500);
        var after = Read(agent, server)!;
        output.WriteLine($"window: {after}");
        Assert.Equal(n, after.Opens);
        Assert.Equal(n, after.Closes);
        Assert.Equal(n, after.ClosedByLocal);
        Assert.InRange(after.Connections, 1, 1000);
        var metrics = agent.Get("/metrics").Body;
        Assert.Equal(n, AgentProcess.Sum(metrics, "conndoctor_tcp_connections_opened_total", ("process", "python3"), ("remote_service", server)));
        Assert.Equal(n, AgentProcess.Sum(metrics, "conndoctor_tcp_connections_closed_total", ("process", "python3"), ("remote_service", server), ("closed_by", "self")));
        Assert.Equal(n, AgentProcess.Sum(metrics, "conndoctor_tcp_time_wait_created_total", ("process", "python3"), ("remote_service", server)));
        // The records past the cap are said to be dropped (client and server sides: at least n of the 2n records).
        Assert.True(AgentProcess.Sum(metrics, "conndoctor_tracked_connections_dropped_total") >= 2 * n - 1000,
            $"dropped_total {AgentProcess.Sum(metrics, "conndoctor_tracked_connections_dropped_total")} for {2 * n} records and a cap of 1000");
        Assert.InRange(AgentProcess.Sum(metrics, "conndoctor_tracked_connections"), 1, 1000);
        Assert.Equal(0, AgentProcess.Sum(metrics, "conndoctor_trace_events_lost_total"));
    }

    [Fact]
    public void TheWindowKeepsAllItsSegmentsPastTheCapAndSlidesByAge()
    {
        using var lab = new Lab("agentslide", "--interval", "1s", "--window", "12s");
        var (ns, agent, server) = (lab.Ns, lab.Agent, lab.Server);
        // The window fills up to its length first: 12 s of 1 s segments.
        var full = AwaitWindow(agent, server, x => x.Seconds >= 9, 40, "the window did not reach its length");
        output.WriteLine($"full window before the churn: {full}");

        // Twice the cap in 3 s, then quiet: the window holds it, whole, for as long as it is younger than the window.
        var churned = Stopwatch.StartNew();
        int n = int.Parse(Churn(ns, server, 700, 3).Split(' ')[1]);
        Assert.True(n > 1500, $"the churner made only {n} connections");
        var seen = AwaitWindow(agent, server, x => x.Opens >= n, 20, $"the window did not count {n} opens");
        Assert.Equal(n, seen.Opens);
        // Later, still within the window: the window has not shrunk below its length to stay under the cap.
        while (churned.Elapsed < TimeSpan.FromSeconds(8)) Thread.Sleep(200);
        var later = Read(agent, server)!;
        output.WriteLine($"{churned.Elapsed.TotalSeconds:0.0} s after the churn began: {later}");
        Assert.Equal(n, later.Opens);
        Assert.Equal(n, later.Closes);
        // Its segments reach back the window's length (less the segment under way and the collection's own time).
        Assert.True(later.Seconds >= 9, $"the window covers {later.Seconds} s of its 12 ({later.Segments})");
        Assert.InRange(later.Connections, 1, 1000);
        // Once the churn is older than the window, it has left it with its segments.
        var gone = AwaitWindow(agent, server, x => x.Opens == 0, 30, "the churn did not leave the window");
        output.WriteLine($"{churned.Elapsed.TotalSeconds:0.0} s after: {gone}");
        Assert.True(churned.Elapsed > TimeSpan.FromSeconds(12), $"the churn left the window after {churned.Elapsed}");
    }
}
