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
/// Each host's evidence comes from <see cref="Collect"/>, one replaceable function (in-process <see cref="HostDiagnosis.Run"/>
/// in the namespace today; `conndoctor collect` in each namespace, in parallel, once that command exists), then
/// <see cref="FleetDiagnosis.Run"/> over all three.
/// </summary>
public sealed class FleetLab : IDisposable
{
    public const string ServerIp = "10.41.1.1", CulpritIp = "10.41.2.1", HealthyIp = "10.41.2.3", C2Ip = "10.41.3.1";
    public const int Limit = 8, WatchSeconds = 24;

    /// <summary>How a host's evidence document is made: replace with `conndoctor collect` run in the host's namespace.</summary>
    public static Func<LabHost, DateTime, Evidence> Collect { get; set; } = CollectInProcess;

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
    public FleetReport Report { get; }

    public FleetLab()
    {
        CulpritLog = Path.Combine(Path.GetTempPath(), $"cd-fleet-java-{Environment.ProcessId}-{Guid.NewGuid():N}.log");
        try
        {
            var since = DateTime.Now.AddMinutes(-1);
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
            var c1Run = Task.Factory.StartNew(() => Timed(C1, since), TaskCreationOptions.LongRunning);
            Thread.Sleep(1500);
            c1.Exec("ss", "-K", "src", CulpritIp, "dst", ServerIp, "dport", "=", Zk.Port.ToString());
            Healthy = Own(new ZkClients(c1, Zk.Address, "keep", "--source", HealthyIp, "--count", "1", "--hold", "200"));
            Healthy.WaitDone(60);
            // The server and c2 are collected near the end of c1's watch, in parallel, as an operator would over ssh: by then
            // the server's log holds 20 s of the loop (a reconnect every 1 to 2 s: over the 10 connections in 10 s of a loop).
            Thread.Sleep(TimeSpan.FromSeconds(WatchSeconds - 3.5));
            var others = new[] { Server, C2 }.Select(h => Task.Factory.StartNew(() => Timed(h, since), TaskCreationOptions.LongRunning)).ToArray();
            Documents = [others[0].Result, c1Run.Result, others[1].Result];
            Report = FleetDiagnosis.Run(Documents, new RuleOptions(), []);
            if (Environment.GetEnvironmentVariable("CD_KEEP_SCENARIO") is { Length: > 0 } keep)
            {
                Directory.CreateDirectory(keep);
                using (var f = File.Create(Path.Combine(keep, "fleet.json"))) ConnDoctor.Render.FleetJsonRenderer.Render(Report, f);
                using (var t = new StreamWriter(Path.Combine(keep, "fleet.txt"))) ConnDoctor.Render.FleetTerminalRenderer.Render(Report, t, new ConnDoctor.Render.OutputOptions { Width = 100 });
                File.Copy(CulpritLog, Path.Combine(keep, "culprit.log"), true);
                File.Copy(Zk.InfoLog, Path.Combine(keep, "server.log"), true);
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

    /// <summary>Collects one host and gives it the identity the test knows (its addresses) and the collection's times.</summary>
    private static Evidence Timed(LabHost h, DateTime since)
    {
        var start = DateTimeOffset.UtcNow;
        var e = Collect(h, since);
        if (e.Identity != null) return e;
        return e with
        {
            Identity = new HostIdentity
            {
                // One kernel, one hostname and boot id for every "host", as containers on one machine have: told apart by addresses.
                Hostname = Environment.MachineName, BootId = File.ReadAllText("/proc/sys/kernel/random/boot_id").Trim(), CollectionStart = start, CollectionEnd = DateTimeOffset.UtcNow,
                Namespaces = [new NamespaceAddresses
                {
                    Netns = h.Ns.Name,
                    Inode = e.Namespaces.Count > 0 ? e.Namespaces[0].Inode : 0,
                    Addresses = h.Addresses.Select(a => new InterfaceAddress(a.Interface, Parse(a.Address), 24)).ToList(),
                }],
            },
        };
    }

    private static NetAddress Parse(string ip) => NetAddress.TryParse(ip, out var a) ? a : throw new ArgumentException(ip);

    /// <summary>`diagnose`'s collection in the host's namespace, in this process: every source, the watch when asked, the blamed processes' own logs.</summary>
    public static Evidence CollectInProcess(LabHost h, DateTime since)
    {
        var (evidence, _) = HostDiagnosis.Run(new HostDiagnosisOptions
        {
            Host = new HostOptions
            {
                Collect = new CollectOptions { Netns = h.Ns.Name },
                Discovery = new DiscoveryOptions { ZkLogs = h.ZkLogs },
                Since = since,
                Watch = h.Watch,
            },
        });
        return evidence;
    }

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
    }
}

/// <summary>Tests that trace in this process (one tracefs instance per process) run one at a time.</summary>
[CollectionDefinition(Name)]
public sealed class InProcessTraceCollection
{
    public const string Name = "in-process-trace";
}
