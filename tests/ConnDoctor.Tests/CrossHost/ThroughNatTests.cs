using ConnDoctor.Model;
using ConnDoctor.Pipeline;
using ConnDoctor.Rules;
using ConnDoctor.Rules.CrossHost;
using ConnDoctor.Sources;
using ConnDoctor.Sources.Conntrack;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.CrossHost;

/// <summary>
/// Incident 004's shape with the kernel's own NAT: a "node" namespace masquerades (nft) a "pod" namespace behind it
/// towards a server namespace; a pod process holds two connections. The server sees the node's address; the node's
/// conntrack table, read by the product's conntrack source, maps
/// each back to the pod's address and port, and the pod's socket table to the process, with the pod's name.
/// </summary>
public sealed class ThroughNatTests
{
    private const string ServerIp = "10.43.1.1", NodeIp = "10.43.1.2", NodePodSide = "10.244.1.1", PodIp = "10.244.1.5";

    /// <summary>The node's conntrack entries towards the port, read by the product's conntrack source (ctnetlink, or /proc/net/nf_conntrack).</summary>
    private static ConntrackEvidence Conntrack(Evidence node, int port)
    {
        var (evidence, status) = ConntrackSource.Read(node.Namespaces, new ConntrackOptions { Ports = [port] });
        Assert.True(evidence != null, status.Reason);
        return evidence!;
    }

    private static DiagnoseReport Report(Evidence e, params Finding[] findings) =>
        new() { Host = e.Host, CollectedAt = e.CollectedAt, Sources = [], Rules = [], Findings = findings, Namespaces = e.Namespaces };

    [Fact]
    public void AServersFindingAboutANodeIsTracedThroughItsConntrackToThePodsProcess()
    {
        using var server = new TestNetns("ns");
        using var node = new TestNetns("nn");
        using var pod = new TestNetns("np");
        var (nodeIf, serverIf) = TestNetns.Link(node, server, NodeIp, ServerIp);
        var (podSide, podIf) = TestNetns.Link(node, pod, NodePodSide, PodIp);
        node.Exec("sysctl", "-qw", "net.ipv4.ip_forward=1");
        pod.Exec("ip", "route", "add", "default", "via", NodePodSide);
        node.Exec("nft", $"add table ip cdnat; add chain ip cdnat post {{ type nat hook postrouting priority 100; }}; add rule ip cdnat post oifname {nodeIf} masquerade");
        server.StartScenario("server", "--listen", $"{ServerIp}:2181:hold");
        int pid = pod.StartScenario("leaky", "--connect", $"{ServerIp}:2181", "--count", "2").Id;
        Thread.Sleep(300);

        var start = DateTimeOffset.UtcNow;
        var s = TwoHosts.WithIdentity(SocketCollector.Collect(new CollectOptions { Netns = server.Name }), server, "zk1", start, (serverIf, ServerIp));
        var n = TwoHosts.WithIdentity(SocketCollector.Collect(new CollectOptions { Netns = node.Name }), node, "node1", start, (nodeIf, NodeIp), (podSide, NodePodSide))
            with { Conntrack = null };
        n = n with { Conntrack = Conntrack(n, 2181) };
        var p = TwoHosts.WithIdentity(SocketCollector.Collect(new CollectOptions { Netns = pod.Name }), pod, "cart-pod", start, (podIf, PodIp));
        // The kubelet's names for the process (22c reads them from the pod directory).
        p = p with { Processes = p.Processes.ToDictionary(x => x.Key, x => x.Key == pid ? x.Value with { PodName = "cart-7d9f", PodNamespace = "shop", ContainerName = "cart" } : x.Value) };
        var entries = n.Conntrack!.Entries;
        Assert.Equal(2, entries.Count);
        Assert.All(entries, e => Assert.True(e.SourceTranslated && e.Reply.Destination.Address.ToString() == NodeIp && e.Original.Source.Address.ToString() == PodIp));

        var storm = new Finding
        {
            RuleId = "reconnect-storm", Severity = Severity.Warning, Subject = new FindingSubject { ClientIp = NodeIp, LocalEndpoint = $"{ServerIp}:2181" },
            Summary = $"client {NodeIp} reconnects over and over", Cause = "loop", Remedy = "fix it", Source = "zklog",
        };
        var hosts = new[] { (s, Report(s, storm)), (n, Report(n)), (p, Report(p)) }.Select((x, i) => new CrossHostHost
        {
            Index = i, Label = x.Item1.Identity!.Hostname, Evidence = x.Item1, Report = x.Item2, Identity = x.Item1.Identity, ZkPorts = new HashSet<int> { 2181 },
        }).ToList();
        var ctx = new CrossHostContext(hosts, new RuleOptions());
        var r = Assert.Single(new ThroughNatRule().Evaluate(ctx));
        Assert.Equal(pid, r.Finding.Subject.Pid);
        Assert.Equal("pod shop/cart-7d9f cart", r.Finding.Subject.Container);
        Assert.Equal("cart-pod", r.Finding.Subject.Host);
        Assert.Contains(r.Finding.Evidence, l => l.Contains($"pod address {PodIp} (pod shop/cart-7d9f cart) on cart-pod: python3[{pid}], 2 connection(s) (2 ESTABLISHED)"));
        Assert.Contains(r.Finding.Evidence, l => l.Contains("2 of them kept the pod's own port"));
        Assert.StartsWith($"NAT on node1: {NodeIp}:", r.Chain!.Via);
        Assert.Equal("shop/cart-7d9f cart", r.Chain.Pod);
        // The storm is the NAT join's, not the direct join's: the node's own processes are not blamed.
        Assert.Empty(new AddressToProcessRule().Evaluate(ctx));
        // Through the same NAT, the server's connections from the node are the pod process's.
        var limit = storm with { RuleId = "connection-limit", Summary = $"client {NodeIp} holds 2 of 2 connections" };
        hosts[0] = new CrossHostHost { Index = 0, Label = "zk1", Evidence = s, Report = Report(s, limit), Identity = s.Identity!, ZkPorts = new HashSet<int> { 2181 } };
        var lr = Assert.Single(new LimitHoldersRule().Evaluate(new CrossHostContext(hosts, new RuleOptions())));
        Assert.Contains(lr.Finding.Evidence, l => l.Contains($"on cart-pod: python3[{pid}] (pod shop/cart-7d9f) holds 2 connection(s) to zk1"));
    }

    /// <summary>
    /// Incident 004 end to end, as an operator runs it: NatNodeLab's node masquerades two pods towards a real ZooKeeper 3.8;
    /// pod 1 runs the Java client of incident 000 broken once (a reconnect loop, its own log in a file), pod 0 a healthy
    /// kazoo session. The published binary collects the server (with ZooKeeper's log), the node (its conntrack) and each
    /// pod (its socket table, with the kubelet tree of --node-root for the pod names), in parallel; `diagnose --from`
    /// over the four documents traces the server's storm from the node's address to the looping pod's process.
    /// </summary>
    [Fact]
    public void ALoopingPodBehindTheNodesNatIsTracedByCollectAndDiagnoseFrom()
    {
        using var lab = new NatNodeLab(2);
        using var zk = new ZooKeeperServer(netns: lab.Server, host: NatNodeLab.ServerIp);
        string log = Path.Combine(Path.GetTempPath(), $"cd-nat-java-{Environment.ProcessId}-{Guid.NewGuid():N}.log");
        var files = new List<string>();
        try
        {
            var (healthyPod, loopPod) = (lab.Pods[0], lab.Pods[1]);
            // The pods reach only the server, no default route: the Java client's resolver lookup at each reconnect fails at
            // once instead of waiting 5 s for a nameserver nobody forwards to (FleetLab does the same), so it loops every 1 to 2 s.
            foreach (var pod in lab.Pods)
            {
                pod.Netns.Exec("ip", "route", "del", "default");
                pod.Netns.Exec("ip", "route", "add", NatNodeLab.ServerIp + "/32", "via", NatNodeLab.Gateway);
            }
            using var healthy = new ZkClients(healthyPod.Netns, zk.Address, "keep", "--count", "1", "--hold", "200");
            healthy.WaitDone(60);
            lab.PutInPod(healthyPod, healthy.Pid);
            using var culprit = new JavaZkClient(loopPod.Netns, zk.Address, withoutSetWatches: true, logFile: log);
            Assert.True(lab.PutInPod(loopPod, culprit.Pid), "no writable cgroup v2 hierarchy for the pod's cgroup");
            loopPod.Netns.Exec("ss", "-K", "dst", NatNodeLab.ServerIp, "dport", "=", zk.Port.ToString());
            Thread.Sleep(TimeSpan.FromSeconds(30));   // the server's log: a reconnect every 1 to 2 s from the node's address, 15 or more in a row

            string Collect(string name, params string[] extra)
            {
                string file = Path.Combine(Path.GetTempPath(), $"cd-nat-{name}-{Environment.ProcessId}-{Guid.NewGuid():N}.json.gz");
                lock (files) files.Add(file);
                var r = Shell.RunFull(FleetLab.Binary, ["collect", "--since", "5m", "-o", file, .. extra], check: false, timeoutMs: 120_000);
                Assert.True(r.Code == 0, $"collect {name}: {r.Stderr}");
                return file;
            }
            var runs = new Func<string>[]
            {
                () => Collect("srv", "--netns", lab.Server.Name, "--zklog", zk.InfoLog),
                // The node runs no ZooKeeper of its own: --zk names the server, whose port (not 2181 here) the conntrack entries are read for.
                () => Collect("node", "--netns", lab.Node.Name, "--node-root", lab.KubeletTree, "--zk", zk.Address),
                () => Collect("pod0", "--netns", healthyPod.Netns.Name, "--node-root", lab.KubeletTree),
                () => Collect("pod1", "--netns", loopPod.Netns.Name, "--node-root", lab.KubeletTree),
            }.Select(f => Task.Factory.StartNew(f, TaskCreationOptions.LongRunning)).ToArray();
            var docs = runs.Select(t => t.Result).ToList();
            var r = Shell.RunFull(FleetLab.Binary, ["diagnose", "--json", "--from", .. docs], check: false, timeoutMs: 120_000);
            Assert.True(r.Code == 0, r.Stderr);
            if (Environment.GetEnvironmentVariable("CD_KEEP_SCENARIO") is { Length: > 0 } keep)
            {
                Directory.CreateDirectory(keep);
                File.WriteAllText(Path.Combine(keep, "nat-cli.json"), r.Stdout);
                File.WriteAllText(Path.Combine(keep, "nat-cli.txt"), Shell.RunFull(FleetLab.Binary, ["diagnose", "--wide", "--from", .. docs], check: false, timeoutMs: 120_000).Stdout);
            }
            using var d = System.Text.Json.JsonDocument.Parse(r.Stdout);
            var findings = d.RootElement.GetProperty("crossHostFindings").EnumerateArray().ToList();
            var nat = Assert.Single(findings, f => f.GetProperty("ruleId").GetString() == "through-nat");
            var subject = nat.GetProperty("subject");
            Assert.Equal(culprit.Pid, subject.GetProperty("pid").GetInt32());
            Assert.Equal(NatNodeLab.NodeIp, subject.GetProperty("clientIp").GetString());
            Assert.Contains($"{loopPod.Namespace}/{loopPod.Name}", subject.GetProperty("container").GetString());
            var chain = Assert.Single(d.RootElement.GetProperty("story").EnumerateArray(), c => c.GetProperty("ruleId").GetString() == "through-nat");
            Assert.StartsWith($"java[{culprit.Pid}]", chain.GetProperty("process").GetString());
            Assert.Contains($"{loopPod.Namespace}/{loopPod.Name}", chain.GetProperty("pod").GetString());
            Assert.Contains(NatNodeLab.NodeIp, chain.GetProperty("clientHost").GetString());
            // The healthy pod's process and pod are not blamed.
            Assert.DoesNotContain(findings, f => f.GetProperty("subject").TryGetProperty("pid", out var p) && p.GetInt32() == healthy.Pid);
            Assert.DoesNotContain(healthyPod.Name, nat.GetProperty("summary").GetString());
            Assert.DoesNotContain(d.RootElement.GetProperty("story").EnumerateArray(), c => c.TryGetProperty("pod", out var p) && p.GetString()!.Contains(healthyPod.Name));
        }
        finally
        {
            try { File.Delete(log); } catch (IOException) { }
            if (Environment.GetEnvironmentVariable("CD_KEEP_SCENARIO") is not { Length: > 0 })
                foreach (var f in files) { try { File.Delete(f); } catch (IOException) { } }
        }
    }
}
