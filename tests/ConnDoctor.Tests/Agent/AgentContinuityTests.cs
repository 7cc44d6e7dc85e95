using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.Agent;

/// <summary>
/// The agent's trace runs without gaps: one tracepoint session for its life, cut per interval while the socket tables,
/// polls and rules run beside it. A burst of short connections spread over more than two intervals (so it straddles
/// at least two cuts, each with its table read) is counted exactly, each connection opened once and closed once.
/// </summary>
public class AgentContinuityTests
{
    [Fact]
    public async Task ABurstStraddlingTheTableReadsIsCountedExactlyOnce()
    {
        using var ns = new TestNetns("agentgap");
        int port = Ports.Free(1)[0];
        string server = $"127.0.0.1:{port}";
        ns.StartScenario("server", "--listen", server + ":drain");
        using var agent = new AgentProcess(["--netns", ns.Name, "--interval", "2s", "--window", "20s"]);
        agent.WaitMetrics(t => t.Contains("conndoctor_source_up{source=\"collect\"} 1"));
        // 250 connections, 20 ms apart, for 5 s: at a 2 s interval that spans two or three cuts and table reads.
        var burst = ns.StartScenario("pace", "--connect", server, "--rate", "50", "--seconds", "5");
        // Start right after a collection was published: the next cut is then one interval away, inside the burst.
        string Duration(string t) => t.Split('\n').FirstOrDefault(l => l.StartsWith("conndoctor_source_duration_seconds{source=\"collect\"}")) ?? "";
        string before = Duration(agent.Get("/metrics").Body);
        agent.WaitMetrics(t => Duration(t) != before, seconds: 20);
        burst.StandardInput.WriteLine("go");
        burst.StandardInput.Flush();
        string? done;
        try { done = await burst.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30)); }
        catch (TimeoutException) { done = "the burst did not finish in 30 s"; }
        Assert.Equal("done 250", done);

        double Opened(string t) => AgentProcess.Sum(t, "conndoctor_tcp_connections_opened_total", ("process", "python3"), ("remote_service", server));
        double Closed(string t) => AgentProcess.Sum(t, "conndoctor_tcp_connections_closed_total", ("process", "python3"), ("remote_service", server), ("closed_by", "self"));
        // Two more cuts after the burst: every event of it is in a handed-over segment.
        agent.WaitMetrics(t => Opened(t) >= 250 && Closed(t) >= 250, seconds: 30);
        string a = Duration(agent.Get("/metrics").Body);
        agent.WaitMetrics(t => Duration(t) != a, seconds: 20);
        string b = Duration(agent.Get("/metrics").Body);
        var text = agent.WaitMetrics(t => Duration(t) != b, seconds: 20);

        Assert.Equal(250, Opened(text));
        Assert.Equal(250, Closed(text));
        Assert.Equal(250, AgentProcess.Sum(text, "conndoctor_tcp_time_wait_created_total", ("process", "python3"), ("remote_service", server)));
        Assert.Equal(0, AgentProcess.Sum(text, "conndoctor_trace_events_lost_total"));
        Assert.Equal(1, AgentProcess.Sum(text, "conndoctor_source_up", ("source", "tracepoints")));
    }
}
