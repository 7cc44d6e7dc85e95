using ConnDoctor.Model;
using ConnDoctor.Pipeline;
using ConnDoctor.Rules;
using ConnDoctor.Rules.CrossHost;
using ConnDoctor.Sources;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.CrossHost;

/// <summary>
/// Incident 004's shape with the kernel's own NAT: a "node" namespace masquerades (nft) a "pod" namespace behind it
/// towards a server namespace; a pod process holds two connections. The server sees the node's address; the node's
/// conntrack table, read with conntrack(8) (22c's conntrack source replaces this test's small reader at merge), maps
/// each back to the pod's address and port, and the pod's socket table to the process, with the pod's name.
/// </summary>
public sealed class ThroughNatTests
{
    private const string ServerIp = "10.43.1.1", NodeIp = "10.43.1.2", NodePodSide = "10.244.1.1", PodIp = "10.244.1.5";

    /// <summary>`conntrack -L -p tcp --dport PORT` in the namespace, as ConntrackEntry records: "tcp 6 431999 ESTABLISHED src=.. dst=.. sport=.. dport=.. src=.. ..." (conntrack(8)'s default output).</summary>
    private static List<ConntrackEntry> Conntrack(TestNetns ns, int port)
    {
        var list = new List<ConntrackEntry>();
        foreach (var line in ns.Exec("conntrack", "-L", "-p", "tcp", "--dport", port.ToString()).Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var t = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            var kv = t.Where(x => x.Contains('=')).Select(x => (K: x[..x.IndexOf('=')], V: x[(x.IndexOf('=') + 1)..])).ToList();
            string V(string k, int nth) => kv.Where(x => x.K == k).Skip(nth).First().V;
            NetEndpoint E(int nth, string a, string p) => EvidenceBuilder.Ep($"{V(a, nth)}:{V(p, nth)}");
            list.Add(new ConntrackEntry
            {
                Original = new ConntrackTuple(E(0, "src", "sport"), E(0, "dst", "dport")),
                Reply = new ConntrackTuple(E(1, "src", "sport"), E(1, "dst", "dport")),
                TcpState = t[3], TimeoutSeconds = int.Parse(t[2]), Assured = line.Contains("[ASSURED]"),
            });
        }
        return list;
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
            with { Conntrack = new ConntrackEvidence { Entries = Conntrack(node, 2181), Via = "conntrack(8)" } };
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
}
