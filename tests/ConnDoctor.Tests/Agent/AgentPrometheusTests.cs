using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.Agent;

/// <summary>
/// End to end through a real Prometheus: a hub namespace runs Prometheus with the shipped alert rules (`for:` set to 0 so
/// the test stays short; the durations are held by the promtool unit tests) and scrapes three agents, each in its own
/// namespace linked to the hub (10.214.{i}.2:9149). ns0 holds the incident-000 Java client in its reconnect loop and a
/// healthy kazoo client, towards a real ZooKeeper 3.8 in ns1 (a ZooKeeper host, linked to ns0); ns2 a CLOSE_WAIT leak.
/// Read back through Prometheus's HTTP API: every target up, the culprit's opened counter under its process and the
/// ZooKeeper endpoint on ns0's instance, the leak's gauge under the leaking process on ns2's, ConnDoctorReconnectStorm
/// firing for the culprit, and nothing firing for the healthy client.
/// </summary>
public class AgentPrometheusTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static string Target(int i) => $"10.214.{i}.2:9149";

    [Fact]
    public void PrometheusScrapesThreeAgentsAndAlertsOnTheReconnectLoopOnly()
    {
        var owned = new List<IDisposable>();
        T Own<T>(T d) where T : IDisposable { owned.Add(d); return d; }
        try
        {
            var hub = Own(new TestNetns("phub"));
            var ns = Enumerable.Range(0, 3).Select(i => Own(new TestNetns($"pn{i}"))).ToArray();
            for (int i = 0; i < 3; i++) TestNetns.Link(hub, ns[i], $"10.214.{i}.1", $"10.214.{i}.2");
            var (clientIf, _) = TestNetns.Link(ns[0], ns[1], "10.215.0.2", "10.215.0.1");
            ns[0].Exec("ip", "addr", "add", "10.215.0.3/24", "dev", clientIf);

            // ns1: the ZooKeeper host. ns0: the culprit and the healthy client (from its own address). ns2: the leak.
            var zk = Own(new ZooKeeperServer(netns: ns[1], host: "10.215.0.1"));
            var culprit = Own(new JavaZkClient(ns[0], zk.Address, withoutSetWatches: true, holdSeconds: 240));
            var healthy = Own(new ZkClients(ns[0], zk.Address, "keep", "--source", "10.215.0.3", "--count", "1", "--hold", "240"));
            healthy.WaitDone(60);
            int leakPort = Ports.Free();
            ns[2].StartScenario("server", "--listen", $"127.0.0.1:{leakPort}:close");
            var leaky = ns[2].StartScenario("leaky", "--connect", $"127.0.0.1:{leakPort}", "--count", "12");

            // The agents, each in its namespace (nsenter: the network namespace only, so tracefs stays mounted).
            for (int i = 0; i < 3; i++)
                Own(new AgentProcess(["--netns", ns[i].Name, "--interval", "2s", "--window", "30s"],
                    wrapper: ["nsenter", $"--net=/run/netns/{ns[i].Name}"], listen: Target(i)));
            // The break, as a server restart would make it: from now on every reconnect of the culprit fails.
            ns[0].Exec("ss", "-K", "src", "10.215.0.2", "dst", "10.215.0.1", "dport", "=", zk.Port.ToString());

            var prom = Own(new PrometheusServer(Enumerable.Range(0, 3).Select(Target), [RepoPaths.Of("deploy", "prometheus", "conndoctor-rules.yml")], immediateAlerts: true, netns: hub));
            var targets = prom.Await(p => p.Targets(), t => t.Count == 3 && t.All(x => x.Health == "up"), 60);
            Assert.True(targets.Count == 3 && targets.All(x => x.Health == "up"), string.Join("; ", targets) + "\n" + prom.Log);

            // The culprit's reconnects: counted under java and the ZooKeeper endpoint, on ns0's instance only.
            string opened = $"conndoctor_tcp_connections_opened_total{{process=\"java\", remote_service=\"{zk.Address}\"}}";
            var loop = prom.Await(p => p.Query(opened), r => r.Sum(x => x.Value) >= 5, 90);
            Assert.True(loop.Sum(x => x.Value) >= 5, $"{opened}: {string.Join("; ", loop.Select(x => x.Value))}");
            Assert.All(loop, x => Assert.Equal(Target(0), x.Labels["instance"]));

            // The leak: 12 CLOSE_WAIT under the leaking process, on ns2's instance.
            string cw = $"conndoctor_tcp_sockets{{state=\"close_wait\", remote_service=\"127.0.0.1:{leakPort}\"}}";
            var leak = prom.Await(p => p.Query(cw), r => r.Sum(x => x.Value) == 12, 60);
            var leakSeries = Assert.Single(leak);
            Assert.Equal(12, leakSeries.Value);
            Assert.Equal("python3", leakSeries.Labels["process"]);
            Assert.Equal(Target(2), leakSeries.Labels["instance"]);
            // The shipped recording rule reads the agent's state spelling (close_wait): the leaking process's sum.
            var recorded = prom.Await(p => p.Query($"conndoctor:tcp_close_wait:sum{{instance=\"{Target(2)}\", process=\"python3\"}}"), r => r.Sum(x => x.Value) == 12, 30);
            Assert.Equal(12, recorded.Sum(x => x.Value));

            // The reconnect-storm finding, as a series and then as a firing alert naming the culprit on ns0's instance.
            string culpritTag = $"[{culprit.Pid}]";
            var alerts = prom.Await(p => p.Alerts(), a => a.Any(x => x.Labels["alertname"] == "ConnDoctorReconnectStorm" && x.State == "firing"
                && x.Labels.GetValueOrDefault("subject", "").Contains(culpritTag)), 150);
            var storm = alerts.FirstOrDefault(x => x.Labels["alertname"] == "ConnDoctorReconnectStorm" && x.State == "firing" && x.Labels.GetValueOrDefault("subject", "").Contains(culpritTag));
            Assert.True(storm.Labels != null, $"no firing ConnDoctorReconnectStorm for {culpritTag}; alerts: {string.Join("; ", alerts.Select(a => $"{a.Labels["alertname"]} {a.State} {string.Join(",", a.Labels)}"))}\n" +
                $"findings: {string.Join("; ", prom.Query("conndoctor_finding").Select(f => string.Join(",", f.Labels)))}");
            Assert.Equal(Target(0), storm.Labels["instance"]);
            Assert.Contains(culpritTag, storm.Annotations["summary"]);

            // The healthy kazoo client: its series exist (one established connection to ZooKeeper), and no alert names it.
            Assert.Equal(1, prom.Query($"sum(conndoctor_tcp_sockets{{instance=\"{Target(0)}\", state=\"established\", process=\"python3\", remote_service=\"{zk.Address}\"}})").Sum(x => x.Value));
            Assert.DoesNotContain(prom.Alerts(), a => a.Labels.GetValueOrDefault("subject", "").Contains($"[{healthy.Pid}]")
                || (a.Labels.GetValueOrDefault("instance") == Target(0) && a.Labels.GetValueOrDefault("process") == "python3"));

            // The series each node costs with the defaults (top K 50), as Prometheus stores them (docs/fleet.md quotes it).
            var perNode = prom.Query("count by (instance) ({job=\"conndoctor\"})");
            foreach (var n in perNode.OrderBy(x => x.Labels["instance"])) output.WriteLine($"series {n.Labels["instance"]} {n.Value}");
            Assert.Equal(3, perNode.Count);
            Assert.All(perNode, n => Assert.InRange(n.Value, 10, 2000));
            _ = leaky;
        }
        finally
        {
            // Agents and Prometheus first, then the clients and servers, the namespaces last.
            foreach (var d in Enumerable.Reverse(owned)) d.Dispose();
        }
    }
}
