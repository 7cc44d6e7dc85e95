using System.Diagnostics;
using ConnDoctor.Model;
using ConnDoctor.Pipeline;
using ConnDoctor.Rules;
using ConnDoctor.Sources;
using ConnDoctor.Sources.Discovery;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.CrossHost;

/// <summary>One "host" of the lab: its namespace, the addresses the test gave it, and what to read there.</summary>
public sealed record LabHost(string Name, TestNetns Ns, IReadOnlyList<(string Interface, string Address)> Addresses)
{
    /// <summary>A tracepoint watch of this length first (the client host whose loop must be attributed per connection); null: none.</summary>
    public TimeSpan? Watch { get; init; }
    /// <summary>ZooKeeper logs to read (the server host).</summary>
    public IReadOnlyList<string> ZkLogs { get; init; } = [];
}

/// <summary>
/// Hosts as network namespaces, joined by veth pairs through a router namespace (10.41.N.254), run once for every test
/// of <see cref="FleetLabTests"/>:
/// <list type="bullet">
/// <item>srv (10.41.1.1): a real ZooKeeper 3.8 with maxClientCnxns=8 and sessions up to 180 s;</item>
/// <item>c1 (10.41.2.1, and 10.41.2.3): the culprit, the Java client of incident 000 (SetWatches missing from its
/// class path, its own log in a file), broken once so that it reconnects in a loop from 10.41.2.1; a healthy kazoo
/// client from 10.41.2.3;</item>
/// <item>c2 (10.41.3.1): three kazoo sessions (a 120 s timeout) whose process is killed while c2's link is down, and
/// whose FIN_WAIT sockets are then destroyed: the server keeps three ESTABLISHED connections c2 no longer has; then two
/// live kazoo processes (3 and 2 sessions): with the dead three, 10.41.3.1 is at maxClientCnxns=8, and a fourth
/// process is refused three times.</item>
/// </list>
/// Each host's evidence is a document the published binary writes (`conndoctor collect --netns NS -o FILE.gz`, in
/// parallel, c1's with its watch running first), then `conndoctor diagnose --from` over all three (JSON and terminal),
/// and <see cref="FleetDiagnosis.Run"/> over the same files read back (the typed report the assertions read).
/// </summary>
public sealed class FleetLab : IDisposable
{
    public const string ServerIp = "10.41.1.1", CulpritIp = "10.41.2.1", HealthyIp = "10.41.2.3", C2Ip = "10.41.3.1";
    public const int Limit = 8, WatchSeconds = 24;

    /// <summary>The published binary every host's collection and the fleet's diagnosis run with, as an operator runs it.</summary>
    public static string Binary => RepoPaths.Of("artifacts", "conndoctor");

    private readonly List<IDisposable> _owned = new();
    public TestNetns Router { get; }
    public LabHost Server { get; }
    public LabHost C1 { get; }
    public LabHost C2 { get; }
    public ZooKeeperServer Zk { get; }
    public JavaZkClient Culprit { get; }
    public ZkClients Healthy { get; }
    public ZkClients Dead { get; }
    public ZkClients HolderA { get; }
    public ZkClients HolderB { get; }
    public int DeadPid { get; }
    /// <summary>The client ports of the dead process's connections, read on c2 before it died.</summary>
    public List<int> DeadPorts { get; } = new();
    public string CulpritLog { get; }
    public IReadOnlyList<Evidence> Documents { get; }
    /// <summary>The document files `collect` wrote (srv, c1, c2), deleted on dispose.</summary>
    public IReadOnlyList<string> Files { get; }
    /// <summary>The fleet report of those documents, as `diagnose --from` makes it (FleetDiagnosis over the files read back).</summary>
    public FleetReport Report { get; }
    /// <summary>`conndoctor diagnose --from srv c1 c2 --json` and its terminal report, from the binary.</summary>
    public string Json { get; }
    public string Text { get; }
    /// <summary>Wall time of each host's `collect` run (srv, c1, c2).</summary>
    public IReadOnlyList<TimeSpan> CollectTimes { get; }

    public FleetLab()
    {
        CulpritLog = Path.Combine(Path.GetTempPath(), $"cd-fleet-java-{Environment.ProcessId}-{Guid.NewGuid():N}.log");
        try
        {
            Router = Own(new TestNetns("fr"));
            var srv = Own(new TestNetns("fs"));
            var c1 = Own(new TestNetns("f1"));
            var c2 = Own(new TestNetns("f2"));
            Router.Exec("sysctl", "-qw", "net.ipv4.ip_forward=1");
            var (_, srvIf) = TestNetns.Link(Router, srv, "10.41.1.254", ServerIp);
            var (_, c1If) = TestNetns.Link(Router, c1, "10.41.2.254", CulpritIp);
            var (_, c2If) = TestNetns.Link(Router, c2, "10.41.3.254", C2Ip);
            c1.Exec("ip", "addr", "add", HealthyIp + "/24", "dev", c1If);
            // The lab's /16 through the router, and no default route: a resolver lookup (the Java client's reverse lookup of the
            // server at each reconnect) then fails at once instead of waiting 5 s for a nameserver nobody forwards to.
            foreach (var (ns, gw) in new[] { (srv, "10.41.1.254"), (c1, "10.41.2.254"), (c2, "10.41.3.254") }) ns.Exec("ip", "route", "add", "10.41.0.0/16", "via", gw);

            Zk = Own(new ZooKeeperServer(maxClientCnxns: Limit, netns: srv, host: ServerIp, maxSessionTimeoutMs: 180_000));
            Server = new LabHost("srv", srv, [(srvIf, ServerIp)]) { ZkLogs = [Zk.InfoLog] };
            C1 = new LabHost("c1", c1, [(c1If, CulpritIp), (c1If, HealthyIp)]) { Watch = TimeSpan.FromSeconds(WatchSeconds) };
            C2 = new LabHost("c2", c2, [(c2If, C2Ip)]);

            // c2: three sessions whose process dies while the link is down; the FIN it could not send is destroyed with
            // its socket, so nothing ever tells the server.
            Dead = Own(new ZkClients(c2, Zk.Address, "keep", "--source", C2Ip, "--count", "3", "--timeout", "120", "--hold", "200"));
            Dead.WaitDone(60);
            DeadPid = Dead.Pid;
            foreach (var line in c2.Exec("ss", "-tnH", "state", "established", "dst", ServerIp).Split('\n', StringSplitOptions.RemoveEmptyEntries))
                DeadPorts.Add(int.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[2].Split(':')[^1]));
            Assert.Equal(3, DeadPorts.Count);
            c2.Exec("ip", "link", "set", "dev", c2If, "down");
            Dead.Kill();
            c2.Exec("ss", "-K", "dst", ServerIp);      // only the dead process's (FIN_WAIT1 now): the live holders come later
            Assert.Equal("", c2.Exec("ss", "-tnH", "dst", ServerIp).Trim());
            c2.Exec("ip", "link", "set", "dev", c2If, "up");
            c2.Exec("ip", "route", "replace", "10.41.0.0/16", "via", "10.41.3.254");
            // Two live holders fill the rest of the limit; a fourth is refused.
            HolderA = Own(new ZkClients(c2, Zk.Address, "keep", "--source", C2Ip, "--count", "3", "--hold", "200"));
            HolderA.WaitDone(60);
            HolderB = Own(new ZkClients(c2, Zk.Address, "keep", "--source", C2Ip, "--count", "2", "--hold", "200"));
            HolderB.WaitDone(60);
            using (var refused = new ZkClients(c2, Zk.Address, "hold", "--source", C2Ip, "--count", "0", "--extra", "3", "--gap", "0.2"))
                refused.WaitDone(30);

            // c1: the culprit, broken once; the healthy client opens its session while c1's watch runs (both ends see it: the clock skew).
            Culprit = Own(new JavaZkClient(c1, Zk.Address, withoutSetWatches: true, logFile: CulpritLog));
            var c1Run = Task.Factory.StartNew(() => CollectWithBinary(C1), TaskCreationOptions.LongRunning);
            Thread.Sleep(1500);
            c1.Exec("ss", "-K", "src", CulpritIp, "dst", ServerIp, "dport", "=", Zk.Port.ToString());
            Healthy = Own(new ZkClients(c1, Zk.Address, "keep", "--source", HealthyIp, "--count", "1", "--hold", "200"));
            Healthy.WaitDone(60);
            // The server and c2 are collected near the end of c1's watch, in parallel, as an operator would over ssh: by then
            // the server's log holds 20 s of the loop (a reconnect every 1 to 2 s: over the 10 connections in 10 s of a loop).
            Thread.Sleep(TimeSpan.FromSeconds(WatchSeconds - 3.5));
            var others = new[] { Server, C2 }.Select(h => Task.Factory.StartNew(() => CollectWithBinary(h), TaskCreationOptions.LongRunning)).ToArray();
            var runs = new[] { others[0].Result, c1Run.Result, others[1].Result };
            Files = runs.Select(r => r.File).ToList();
            CollectTimes = runs.Select(r => r.Took).ToList();
            Documents = Files.Select(ConnDoctor.Documents.EvidenceDocumentReader.ReadFile).ToList();
            Report = FleetDiagnosis.Run(Documents, new RuleOptions(), []);
            var json = Shell.RunFull(Binary, ["diagnose", "--json", "--from", .. Files], check: false, timeoutMs: 120_000);
            if (json.Code != 0) throw new InvalidOperationException($"diagnose --from --json exited {json.Code}: {json.Stderr}");
            Json = json.Stdout;
            var text = Shell.RunFull(Binary, ["diagnose", "--wide", "--from", .. Files], check: false, timeoutMs: 120_000);
            if (text.Code != 0) throw new InvalidOperationException($"diagnose --from exited {text.Code}: {text.Stderr}");
            Text = text.Stdout;
            if (Environment.GetEnvironmentVariable("CD_KEEP_SCENARIO") is { Length: > 0 } keep)
            {
                Directory.CreateDirectory(keep);
                using (var f = File.Create(Path.Combine(keep, "fleet.json"))) ConnDoctor.Render.FleetJsonRenderer.Render(Report, f);
                using (var t = new StreamWriter(Path.Combine(keep, "fleet.txt"))) ConnDoctor.Render.FleetTerminalRenderer.Render(Report, t, new ConnDoctor.Render.OutputOptions { Width = 100 });
                File.Copy(CulpritLog, Path.Combine(keep, "culprit.log"), true);
                File.Copy(Zk.InfoLog, Path.Combine(keep, "server.log"), true);
                File.WriteAllText(Path.Combine(keep, "fleet-cli.txt"), Text);
                File.WriteAllText(Path.Combine(keep, "fleet-cli.json"), Json);
                foreach (var (f, h) in Files.Zip(new[] { "srv", "c1", "c2" })) File.Copy(f, Path.Combine(keep, h + ".json.gz"), true);
                File.WriteAllLines(Path.Combine(keep, "c1-watch.txt"), (Documents[1].Watch?.Connections ?? []).Select(c =>
                    $"{c.Local} -> {c.Remote} pid {c.Pid} {c.Comm} opened {c.OpenedMs} closed {c.ClosedMs} {c.State}"));
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>
    /// `conndoctor collect --netns NS -o FILE.gz` in a process of its own, as an operator runs it on each host over ssh:
    /// the watch first where the host asks (c1), the server's ZooKeeper log where it has one (srv).
    /// </summary>
    private (string File, TimeSpan Took) CollectWithBinary(LabHost h)
    {
        string file = Path.Combine(Path.GetTempPath(), $"cd-fleet-{h.Name}-{Environment.ProcessId}-{Guid.NewGuid():N}.json.gz");
        lock (_files) _files.Add(file);
        var args = new List<string> { "collect", "--netns", h.Ns.Name, "--since", "5m", "-o", file };
        if (h.Watch is TimeSpan w) args.AddRange(["--watch", $"{(int)w.TotalSeconds}s"]);
        foreach (var log in h.ZkLogs) args.AddRange(["--zklog", log]);
        var sw = Stopwatch.StartNew();
        var r = Shell.RunFull(Binary, [.. args], check: false, timeoutMs: 120_000);
        if (r.Code != 0) throw new InvalidOperationException($"collect on {h.Name} exited {r.Code}: {r.Stderr}");
        return (file, sw.Elapsed);
    }

    private readonly List<string> _files = new();

    private T Own<T>(T d) where T : IDisposable
    {
        _owned.Add(d);
        return d;
    }

    public void Dispose()
    {
        for (int i = _owned.Count - 1; i >= 0; i--)
        {
            try { _owned[i].Dispose(); } catch (Exception) { /* the rest must still go */ }
        }
        try { File.Delete(CulpritLog); } catch (IOException) { }
        if (Environment.GetEnvironmentVariable("CD_KEEP_SCENARIO") is not { Length: > 0 })
            foreach (var f in _files) { try { File.Delete(f); } catch (IOException) { } }
    }
}

/// <summary>Tests that trace in this process (one tracefs instance per process) run one at a time.</summary>
[CollectionDefinition(Name)]
public sealed class InProcessTraceCollection
{
    public const string Name = "in-process-trace";
}
