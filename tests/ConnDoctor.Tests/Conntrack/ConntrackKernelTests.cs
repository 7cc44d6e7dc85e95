using System.Diagnostics;
using ConnDoctor.Model;
using ConnDoctor.Native;
using ConnDoctor.Sources;
using ConnDoctor.Sources.Conntrack;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.Conntrack;

/// <summary>
/// The conntrack readers against the kernel: entries inserted with `conntrack -I` (IPv4 and IPv6, zones, marks, every
/// TCP state) in a test namespace, and real connections through a masquerading "node" (<see cref="NatNodeLab"/>),
/// each checked against `conntrack -L`.
/// </summary>
public class ConntrackKernelTests
{
    private static NetnsInfo Ns(TestNetns ns) => new() { Label = ns.Name, Path = $"/run/netns/{ns.Name}" };

    private static void Load(TestNetns ns, IEnumerable<string> commands)
    {
        var file = Path.GetTempFileName();
        try
        {
            File.WriteAllLines(file, commands);
            ns.Exec("conntrack", "-R", file);
        }
        finally { File.Delete(file); }
    }

    private static void AssertSameAsOracle(List<ConntrackOracle.Line> oracle, IReadOnlyList<ConntrackEntry> ours)
    {
        Assert.Equal(oracle.Count, ours.Count);
        var byKey = ours.ToDictionary(ConntrackOracle.Key);
        foreach (var o in oracle)
        {
            Assert.True(byKey.TryGetValue(o.Key, out var e), $"conntrack -L lists {o.Key}; we did not read it");
            Assert.Equal(o.State, e!.TcpState);
            Assert.InRange(e.TimeoutSeconds, o.Timeout - 3, o.Timeout + 3);   // the two reads are a moment apart
            Assert.Equal(o.Assured, e.Assured);
            Assert.Equal(o.Unreplied, e.Unreplied);
            Assert.Equal(o.Zone, e.Zone);
            Assert.Equal(o.Mark, e.Mark);
        }
    }

    [Fact]
    public void InsertedEntriesOfBothFamiliesAreReadAsConntrackListsThem()
    {
        using var ns = new TestNetns("ct");
        string[] states = ["SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT", "CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSE"];
        var cmds = new List<string>();
        for (int i = 0; i < states.Length; i++)
        {
            cmds.Add($"-I -p tcp -s 10.244.1.{11 + i} -d 192.168.77.2 --sport {40000 + i} --dport 2181 -r 192.168.77.2 -q 192.168.77.1 --reply-port-src 2181 --reply-port-dst {50000 + i} --state {states[i]} --timeout {300 + i}" + (i % 2 == 0 ? " -u ASSURED,SEEN_REPLY" : ""));
            cmds.Add($"-I -p tcp -s fd00:244::{11 + i:x} -d fd00:77::2 --sport {41000 + i} --dport 2181 --state {states[i]} --timeout {600 + i}" + (i == 2 ? " --zone 7 --mark 5" : ""));
        }
        cmds.Add("-I -p udp -s 10.244.1.50 -d 192.168.77.2 --sport 53000 --dport 53 --timeout 30");
        cmds.Add("-I -p tcp -s 10.244.1.51 -d 192.168.77.2 --sport 53001 --dport 9000 --state ESTABLISHED --timeout 500");
        Load(ns, cmds);

        var (all, status) = ConntrackSource.Read([Ns(ns)], new ConntrackOptions { Backend = SocketBackend.Netlink });
        Assert.Equal(SourceState.Ok, status.State);
        Assert.Equal("conntrack:netlink", status.Source);
        Assert.Equal(18, all!.TableSize);                    // UDP included in the count
        AssertSameAsOracle([.. ConntrackOracle.List(ns.Name), .. ConntrackOracle.List(ns.Name, "ipv6")], all.Entries);
        var masq = all.Entries.Single(e => e.Original.Source.Port == 40002);
        Assert.True(masq.SourceTranslated);
        Assert.Equal("192.168.77.1:50002", masq.Reply.Destination.ToString());

        // The file says the same, and the port filter keeps what goes to 2181 only.
        var (proc, procStatus) = ConntrackSource.Read([Ns(ns)], new ConntrackOptions { Backend = SocketBackend.Proc, Ports = [2181] });
        Assert.Equal("conntrack:proc", procStatus.Source);
        Assert.Equal(16, proc!.Entries.Count);
        var netlink2181 = all.Entries.Where(e => e.Original.Destination.Port == 2181).ToDictionary(ConntrackOracle.Key);
        foreach (var e in proc.Entries)
        {
            var n = netlink2181[ConntrackOracle.Key(e)];
            Assert.Equal((n.TcpState, n.Assured, n.Unreplied, n.Zone, n.Mark), (e.TcpState, e.Assured, e.Unreplied, e.Zone, e.Mark));
            Assert.InRange(e.TimeoutSeconds, n.TimeoutSeconds - 3, n.TimeoutSeconds + 3);
        }
    }

    [Fact]
    public void ARecordedNetlinkReplyReplaysToTheSameEntriesAndCorruptionIsCountedNotFatal()
    {
        using var ns = new TestNetns("ctr");
        Load(ns, Enumerable.Range(0, 300).Select(i => $"-I -p tcp -s 10.244.{i / 200}.{i % 200 + 1} -d 192.168.77.2 --sport {30000 + i} --dport 2181 --state ESTABLISHED --timeout 900"));
        var record = new List<byte[]>();
        var live = NetnsScope.Run($"/run/netns/{ns.Name}", () =>
        {
            var sink = new ConntrackSink([]);
            CtNetlinkDump.Dump(2, sink, record);
            return sink;
        });
        Assert.Equal(300, live.Kept.Count);

        var replay = new ConntrackSink([]);
        foreach (var b in record) CtNetlinkParser.Parse(b, replay, out _);
        Assert.Equal(live.Kept.Select(ConntrackOracle.Key), replay.Kept.Select(ConntrackOracle.Key));

        // An attribute that claims more bytes than its entry holds: that entry is counted malformed, the rest still read.
        var first = (byte[])record[0].Clone();
        int attrs = 16 + 4;                                       // nlmsghdr + nfgenmsg: the first attribute (CTA_TUPLE_ORIG)
        BitConverter.TryWriteBytes(first.AsSpan(attrs), (ushort)0xFFF0);
        var corrupt = new ConntrackSink([]);
        var outcome = CtNetlinkParser.Parse(first, corrupt, out _);
        Assert.Equal(NetlinkDump.Outcome.More, outcome);
        Assert.Equal(1, corrupt.Malformed);
        Assert.True(corrupt.Kept.Count > 0);

        // A message length past the buffer (a cut reply) or garbage: malformed with EINVAL, not an exception.
        var cut = record[0].AsSpan(0, 40).ToArray();
        BitConverter.TryWriteBytes(cut.AsSpan(0), 4000u);
        Assert.Equal(NetlinkDump.Outcome.Malformed, CtNetlinkParser.Parse(cut, new ConntrackSink([]), out int errno));
        Assert.Equal(22, errno);
        var garbage = new byte[256];
        new Random(7).NextBytes(garbage);
        Assert.Equal(NetlinkDump.Outcome.Malformed, CtNetlinkParser.Parse(garbage, new ConntrackSink([]), out _));
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task TheNodePortTheServerSawLeadsToThePodsAddressProcessAndName(bool randomFully)
    {
        using var lab = new NatNodeLab(2, randomFully);
        string server = $"{NatNodeLab.ServerIp}:2181";
        lab.Server.StartScenario("server", "--listen", "0.0.0.0:2181:drain", "--listen", "0.0.0.0:9000:drain");
        var holder = lab.StartInPod(lab.Pods[0], "good", "--connect", server, "--count", "3");
        lab.StartInPod(lab.Pods[1], "good", "--connect", $"{NatNodeLab.ServerIp}:9000", "--count", "2");
        // The reconnect loop: 20 connections opened and closed by the pod (it closes first: TIME_WAIT on both sides).
        var loop = lab.StartInPod(lab.Pods[1], "pace", "--connect", server, "--rate", "40", "--seconds", "0.5");
        loop.StandardInput.WriteLine("go");
        loop.StandardInput.Flush();
        var done = await loop.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30));
        Assert.True(done != null && done.StartsWith("done "), "the reconnect loop did not finish");
        int cycles = int.Parse(done![5..]);
        Thread.Sleep(300);                                       // the last FIN/ACK exchange

        var (ct, status) = ConntrackSource.Read([Ns(lab.Node)], new ConntrackOptions { Ports = [2181] });
        Assert.Equal(SourceState.Ok, status.State);
        AssertSameAsOracle(ConntrackOracle.List(lab.Node.Name).Where(o => o.Key.Contains(":2181|")).ToList(), ct!.Entries);
        Assert.Equal(3 + cycles, ct.Entries.Count);
        Assert.All(ct.Entries, e => Assert.True(e.SourceTranslated));
        Assert.All(ct.Entries, e => Assert.Equal(NatNodeLab.NodeIp, e.Reply.Destination.Address.ToString()));
        if (randomFully) Assert.Contains(ct.Entries, e => e.Reply.Destination.Port != e.Original.Source.Port);

        // The server's view: the node's address and a port. conntrack turns each into the pod's address and port.
        var seen = SocketCollector.Collect(new CollectOptions { Netns = lab.Server.Name, JoinProcesses = false });
        var held = seen.Sockets.Where(s => s.State == TcpState.Established && s.Local.Port == 2181).ToList();
        Assert.Equal(3, held.Count);
        var pod0 = SocketCollector.Collect(new CollectOptions { Netns = lab.Pods[0].Netns.Name, PodLogRoot = lab.PodLogRoot, KubeletRoot = lab.KubeletRoot });
        foreach (var s in held)
        {
            Assert.Equal(NatNodeLab.NodeIp, s.Remote.Address.ToString());
            var e = ct.Translating(s.Remote, s.Local);
            Assert.NotNull(e);
            Assert.Equal(lab.Pods[0].Ip, e!.Original.Source.Address.ToString());
            // ... and the pod's own socket table owns that address and port: the process, and its pod by name.
            var mine = pod0.Sockets.Single(x => x.Local.Equals(e.Original.Source) && x.State == TcpState.Established);
            var owner = pod0.OwnerOf(mine);
            Assert.Equal(holder.Id, owner!.Pid);
            Assert.Equal((lab.Pods[0].Name, "zk-apps", "app"), (owner.PodName, owner.PodNamespace, owner.ContainerName));
        }

        // The loop's connections are closed, yet conntrack still holds each in TIME_WAIT, and the pod's table its TIME_WAIT socket.
        var closed = ct.Entries.Where(e => e.Original.Source.Address.ToString() == lab.Pods[1].Ip).ToList();
        Assert.Equal(cycles, closed.Count);
        Assert.All(closed, e => Assert.Equal("TIME_WAIT", e.TcpState));
        Assert.All(closed, e => Assert.InRange(e.TimeoutSeconds, 100, 120));
        var pod1 = SocketCollector.Collect(new CollectOptions { Netns = lab.Pods[1].Netns.Name, JoinProcesses = false });
        foreach (var e in closed)
            Assert.Contains(pod1.Sockets, s => s.State == TcpState.TimeWait && s.Local.Equals(e.Original.Source) && s.Remote.Equals(e.Original.Destination));
    }

    [Fact]
    public void DiagnoseOnTheNodeCarriesItsConntrackEntriesAndAHostWithoutNatNone()
    {
        using var lab = new NatNodeLab(1);
        lab.Server.StartScenario("server", "--listen", "0.0.0.0:2181:drain");
        lab.StartInPod(lab.Pods[0], "good", "--connect", $"{NatNodeLab.ServerIp}:2181", "--count", "4");
        HostOptions On(TestNetns ns) => new() { Collect = new CollectOptions { Netns = ns.Name }, Since = DateTime.Now.AddMinutes(-5), PollTimeout = TimeSpan.FromMilliseconds(300) };

        var node = HostCollector.Collect(On(lab.Node));
        var status = node.Statuses.Single(s => s.Source.StartsWith("conntrack"));
        Assert.Equal(SourceState.Ok, status.State);
        Assert.Equal(4, node.Conntrack!.Entries.Count);
        Assert.Contains(2181, node.Conntrack.Ports);
        Assert.All(node.Conntrack.Entries, e => Assert.Equal(lab.Pods[0].Ip, e.Original.Source.Address.ToString()));

        var srv = HostCollector.Collect(On(lab.Server));
        Assert.Null(srv.Conntrack);
        Assert.Contains("0 of 0 tracked entries", srv.Statuses.Single(s => s.Source.StartsWith("conntrack")).Reason);
    }

    [Fact]
    public void WithoutRootTheConntrackSourceIsDeniedWithTheReasonAndDiagnoseGoesOn()
    {
        using var ns = new TestNetns("ctnr");
        Load(ns, ["-I -p tcp -s 10.244.1.11 -d 192.168.77.2 --sport 40000 --dport 2181 --state ESTABLISHED --timeout 600"]);
        var root = new DirectoryInfo(AppContext.BaseDirectory);
        while (!File.Exists(Path.Combine(root!.FullName, "ConnDoctor.slnx"))) root = root.Parent;
        string binary = Path.Combine(root.FullName, "artifacts", "conndoctor");
        var r = Shell.RunFull("ip", ["netns", "exec", ns.Name, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", binary, "diagnose", "--json", "--no-app-logs"], check: false);
        Assert.True(r.Code == 0, r.Stderr);
        using var doc = System.Text.Json.JsonDocument.Parse(r.Stdout);
        var ct = doc.RootElement.GetProperty("sources").EnumerateArray().Single(s => s.GetProperty("source").GetString()!.StartsWith("conntrack"));
        Assert.Equal("denied", ct.GetProperty("state").GetString());
        Assert.Equal("ctnetlink refused the dump: reading conntrack needs CAP_NET_ADMIN (run as root); cannot read /proc/thread-self/net/nf_conntrack: it is readable by root only",
            ct.GetProperty("reason").GetString());
    }
}
