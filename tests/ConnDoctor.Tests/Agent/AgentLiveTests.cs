using System.Net.Sockets;
using System.Text;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.Agent;

/// <summary>
/// The agent binary against real churn in a test namespace: a client in a reconnect loop, a CLOSE_WAIT leak and a
/// healthy client, each towards its own server port; then the faults a source can meet while the agent keeps serving.
/// </summary>
public class AgentLiveTests
{
    private static string[] Fast(TestNetns ns, params string[] more) =>
        ["--netns", ns.Name, "--interval", "2s", "--window", "20s", .. more];

    [Fact]
    public void TheCulpritsSeriesCarryItsProcessAndRemoteServiceAndTheHealthyClientIsQuiet()
    {
        using var ns = new TestNetns("agent");
        var ports = Ports.Free(3);
        string loop = $"127.0.0.1:{ports[0]}", leak = $"127.0.0.1:{ports[1]}", calm = $"127.0.0.1:{ports[2]}";
        ns.StartScenario("server", "--listen", loop + ":drain", "--listen", leak + ":close", "--listen", calm + ":hold");
        using var agent = new AgentProcess(Fast(ns));
        agent.WaitMetrics(t => t.Contains("conndoctor_source_up{source=\"collect\"} 1"));
        var looper = ns.StartScenario("pace", "--connect", loop, "--rate", "25", "--seconds", "20", "--start-after", "0.2");
        var leaky = ns.StartScenario("leaky", "--connect", leak, "--count", "6");
        var healthy = ns.StartScenario("good", "--connect", calm, "--count", "2");

        var text = agent.WaitMetrics(t =>
            AgentProcess.Sum(t, "conndoctor_tcp_connections_opened_total", ("process", "python3"), ("remote_service", loop)) >= 100 &&
            AgentProcess.Sum(t, "conndoctor_tcp_sockets", ("state", "close_wait"), ("remote_service", leak)) == 6 &&
            t.Contains($"[{looper.Id}]"), seconds: 90);

        // The loop: its connects, its closes (it closes first) and the TIME_WAIT they leave, all named python3 -> loop.
        Assert.True(AgentProcess.Sum(text, "conndoctor_tcp_connections_closed_total", ("process", "python3"), ("remote_service", loop), ("closed_by", "self")) >= 90);
        Assert.True(AgentProcess.Sum(text, "conndoctor_tcp_time_wait_created_total", ("process", "python3"), ("remote_service", loop)) >= 90);
        Assert.True(AgentProcess.Sum(text, "conndoctor_tcp_sockets", ("state", "time_wait"), ("process", "python3"), ("remote_service", loop), ("netns", ns.Name)) >= 20);
        // The leak: CLOSE_WAIT held by the client process, under the server's listening endpoint.
        var cw = Assert.Single(AgentProcess.Samples(text, "conndoctor_tcp_sockets", ("state", "close_wait"), ("remote_service", leak)));
        Assert.Equal("python3", cw.Labels["process"]);
        Assert.Equal("", cw.Labels["local_service"]);
        // The server side of the loop: under its listening endpoint, never a client's ephemeral port.
        Assert.All(AgentProcess.Samples(text, "conndoctor_tcp_sockets", ("netns", ns.Name)), s =>
            Assert.True(s.Labels["remote_service"] is "" || ports.Any(p => s.Labels["remote_service"].EndsWith($":{p}")), $"ephemeral label {s.Labels["remote_service"]}"));
        // The healthy client's series exist, and no finding names it.
        Assert.Equal(2, AgentProcess.Sum(text, "conndoctor_tcp_sockets", ("state", "established"), ("process", "python3"), ("remote_service", calm)));
        var findings = AgentProcess.Samples(text, "conndoctor_finding");
        Assert.Contains(findings, f => f.Labels["subject"].Contains($"[{looper.Id}]"));
        Assert.DoesNotContain(findings, f => f.Labels["subject"].Contains($"[{healthy.Id}]"));
        Assert.Equal(1, AgentProcess.Sum(text, "conndoctor_source_up", ("source", "tracepoints")));
        _ = leaky;

        // SIGTERM: a clean exit that leaves no trace instance behind.
        int pid = agent.Process.Id;
        Assert.Equal(0, agent.Stop());
        Assert.False(Directory.Exists($"/sys/kernel/tracing/instances/conndoctor-{pid}"));
    }

    [Fact]
    public void TheIdleOptionSetsTheHalfOpenThresholdOfTheAgentsRules()
    {
        using var ns = new TestNetns("agentidle");
        string calm = $"127.0.0.1:{Ports.Free()}";
        ns.StartScenario("server", "--listen", calm + ":hold");
        var holder = ns.StartScenario("good", "--connect", calm, "--count", "3");
        // Three connections held silent: past --idle 3s they are half-open suspects (the default, 10 minutes, names none: the test above).
        using var agent = new AgentProcess(Fast(ns, "--idle", "3s"));
        var text = agent.WaitMetrics(t => AgentProcess.Samples(t, "conndoctor_finding", ("rule", "half-open-suspect"))
            .Any(f => f.Labels["subject"].Contains($"[{holder.Id}]")), seconds: 60);
        Assert.Equal(1, AgentProcess.Sum(text, "conndoctor_source_up", ("source", "rules")));
    }

    [Fact]
    public void DeletingTheWatchedNamespaceIsReportedAndTheAgentKeepsServing()
    {
        var ns = new TestNetns("agentdel");
        using var agent = new AgentProcess(Fast(ns));
        try
        {
            agent.WaitMetrics(t => t.Contains("conndoctor_source_up{source=\"collect\"} 1") && t.Contains($"netns=\"{ns.Name}\""));
        }
        finally { ns.Dispose(); }
        var text = agent.WaitMetrics(t => t.Contains("conndoctor_source_up{source=\"collect\"} 0"));
        Assert.Equal(200, agent.Get("/healthz").Status);
        // Still serving a whole exposition, and the reason on stderr-free metrics: the collect source is down.
        Assert.Contains("# TYPE conndoctor_tcp_sockets gauge", text);
        Assert.False(agent.Process.HasExited);
    }

    [Fact]
    public void AZooKeeperServerThatStopsShowsAsASourceDown()
    {
        using var ns = new TestNetns("agentzk");
        var zk = new ZooKeeperServer(maxClientCnxns: 33, netns: ns);
        try
        {
            using var agent = new AgentProcess(Fast(ns, "--zk", zk.Address));
            string member = $"zk:{zk.Address}";
            var text = agent.WaitMetrics(t => t.Contains($"conndoctor_source_up{{source=\"{member}\"}} 1"), seconds: 90);
            Assert.Equal(33, AgentProcess.Sum(text, "conndoctor_zookeeper_max_client_cnxns", ("server", zk.Address)));
            zk.Stop();
            agent.WaitMetrics(t => t.Contains($"conndoctor_source_up{{source=\"{member}\"}} 0"), seconds: 90);
            Assert.Equal(200, agent.Get("/healthz").Status);
        }
        finally { zk.Dispose(); }
    }

    [Fact]
    public void UnusableTracefsFallsBackToSnapshotsAndSaysSo()
    {
        using var ns = new TestNetns("agenttrace");
        var port = Ports.Free();
        ns.StartScenario("server", "--listen", $"127.0.0.1:{port}:hold");
        // In a mount namespace of its own, every tracefs mount is read-only: no trace instance can be made.
        string[] wrapper = ["unshare", "-m", "--propagation", "private", "sh", "-c",
            "for m in $(awk '$3==\"tracefs\"{print $2}' /proc/self/mounts); do mount -o remount,bind,ro \"$m\" || exit 9; done; exec \"$@\"", "sh"];
        using var agent = new AgentProcess(Fast(ns), wrapper);
        var client = ns.StartScenario("good", "--connect", $"127.0.0.1:{port}", "--count", "3");
        var text = agent.WaitMetrics(t => t.Contains("conndoctor_source_up{source=\"tracepoints\"} 0") &&
            AgentProcess.Sum(t, "conndoctor_tcp_sockets", ("state", "established"), ("remote_service", $"127.0.0.1:{port}")) == 3);
        Assert.Contains("conndoctor_source_up{source=\"watch\"} 1", text);
        _ = client;
    }

    [Fact]
    public void CounterSeriesOfAVanishedProcessAreRemovedAfterTheExpiry()
    {
        using var ns = new TestNetns("agentexp");
        var port = Ports.Free();
        string svc = $"127.0.0.1:{port}";
        ns.StartScenario("server", "--listen", svc + ":drain");
        using var agent = new AgentProcess(Fast(ns, "--series-expiry", "4s"));
        agent.WaitMetrics(t => t.Contains("conndoctor_source_up{source=\"collect\"} 1"));
        var client = ns.StartScenario("pace", "--connect", svc, "--rate", "10", "--seconds", "4", "--start-after", "0.1");
        agent.WaitMetrics(t => AgentProcess.Sum(t, "conndoctor_tcp_connections_opened_total", ("remote_service", svc)) >= 10);
        client.Kill(true);
        client.WaitForExit();
        var text = agent.WaitMetrics(t => AgentProcess.Samples(t, "conndoctor_tcp_connections_opened_total", ("remote_service", svc)).Count == 0, seconds: 30);
        // The server process lives on: its own series (accepted connections) stay.
        Assert.NotEmpty(AgentProcess.Samples(text, "conndoctor_tcp_connections_opened_total", ("process", "python3"), ("remote_service", "")));
    }
}
