using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using ConnDoctor.Tests.Infra;
using ConnDoctor.Tests.Watch;

namespace ConnDoctor.Tests.RealClients;

/// <summary>
/// Incident 000 with real parts, run once for every test of <see cref="JavaReconnectLoopTests"/>: a ZooKeeper 3.8 server
/// in its own namespace (10.18.0.1), and on a client host (a second namespace, joined by a veth pair) three clients:
/// <list type="bullet">
/// <item>the culprit, the ZooKeeper Java client with SetWatches missing from its class path (from 10.18.0.2, the
/// host's primary address): it opens its session and sets a watch, then its connection is destroyed (ss -K) and every
/// reconnect dies in primeConnection: a connection every 1 to 2 s, none with a session;</item>
/// <item>a TCP health check (from 10.18.0.4): connect and close, nothing sent, every 2 s on a fixed schedule;</item>
/// <item>a healthy kazoo client (from 10.18.0.3) that opens one session and keeps it.</item>
/// </list>
/// While it runs: `conndoctor watch --netns CLIENT` for <see cref="WatchSeconds"/> s (from before the break), and tcpdump
/// on the server's side of the link (from just after it). Then `conndoctor pcap` reads the capture and `conndoctor zklog` the server's log.
/// </summary>
public sealed class JavaReconnectLoopScenario : IDisposable
{
    public const string ServerIp = "10.18.0.1", CulpritIp = "10.18.0.2", HealthyIp = "10.18.0.3", CheckIp = "10.18.0.4";
    public const int WatchSeconds = 26, CheckPeriodSeconds = 2;

    private readonly List<IDisposable> _owned = new();
    public TestNetns ServerNs { get; }
    public TestNetns ClientNs { get; }
    public ZooKeeperServer Zk { get; }
    public JavaZkClient Culprit { get; }
    /// <summary>The culprit's send thread(s) (tid, name), read from /proc while it loops.</summary>
    public List<(int Tid, string Name)> SendThreads { get; } = new();
    public ZkClients Healthy { get; }
    public Process HealthCheck { get; }
    /// <summary>The culprit's log lines "Socket connection established" after the break, at the end of the watch.</summary>
    public int LoopConnectsAtWatchEnd { get; }
    public int LoopConnectsAtCaptureEnd { get; }
    public int LoopConnectsAtZkLogRead { get; }
    public CliRunner.Result Watch { get; }
    public CliRunner.Result Pcap { get; }
    public CliRunner.Result Sockets { get; }
    /// <summary>Thread ids (other than the main ones) of the Java and kazoo clients when <see cref="Sockets"/> was read.</summary>
    public List<int> ClientThreads { get; } = new();
    public CliRunner.Result ZkLog { get; }
    public string CaptureFile { get; }
    /// <summary>Connections the capture holds per client address, counted by tshark (SYNs without ACK).</summary>
    public Dictionary<string, int> SynsByClient { get; } = new();
    private readonly int _connectsBeforeBreak;

    public JavaReconnectLoopScenario()
    {
        try
        {
            ServerNs = Own(new TestNetns("zks"));
            ClientNs = Own(new TestNetns("zkc"));
            var (clientIf, serverIf) = TestNetns.Link(ClientNs, ServerNs, CulpritIp, ServerIp);
            // Secondary addresses of the client host: the Java client (which cannot choose its source) leaves from the primary one.
            foreach (var ip in new[] { HealthyIp, CheckIp }) ClientNs.Exec("ip", "addr", "add", ip + "/24", "dev", clientIf);
            Zk = Own(new ZooKeeperServer(netns: ServerNs, host: ServerIp));
            Culprit = Own(new JavaZkClient(ClientNs, Zk.Address, withoutSetWatches: true));
            _connectsBeforeBreak = Connects();

            HealthCheck = ClientNs.StartScenario("pace", "--connect", Zk.Address, "--rate", (1.0 / CheckPeriodSeconds).ToString(CultureInfo.InvariantCulture),
                "--seconds", (WatchSeconds - 1).ToString(), "--bind", CheckIp, "--silent");
            var run = Task.Run(() => CliRunner.Run("watch", "--json", "--mode", "trace", "--netns", ClientNs.Name, "--duration", $"{WatchSeconds}s", "--interval", "1s"));
            var sw = Stopwatch.StartNew();
            while (sw.Elapsed < TimeSpan.FromSeconds(20) && !run.IsCompleted && WatchTraceFixture.InstanceDirs().Count == 0) Thread.Sleep(20);
            Thread.Sleep(500); // the socket table read that follows enabling the events

            // The break: the culprit's one connection destroyed, as a server restart or a network blip would end it.
            ClientNs.Exec("ss", "-K", "src", CulpritIp, "dst", ServerIp, "dport", "=", Zk.Port.ToString());
            // The capture starts after the break (the first reconnect comes a second later at the earliest): it holds the loop alone.
            var capture = Own(new Tcpdump(ServerNs, serverIf, "tcp", "port", Zk.Port.ToString()));
            HealthCheck.StandardInput.WriteLine("go");
            HealthCheck.StandardInput.Flush();
            Healthy = Own(new ZkClients(ClientNs, Zk.Address, "keep", "--source", HealthyIp, "--count", "1", "--hold", "90"));
            Healthy.WaitDone(60);
            SendThreads.AddRange(Culprit.Threads("main-SendThread"));

            Watch = run.Result;
            // The socket table of the client host, and the threads (not the main ones) of its multi-threaded clients at that moment.
            Sockets = CliRunner.Run("sockets", "--json", "--group-by", "none", "--netns", ClientNs.Name);
            foreach (int pid in new[] { Culprit.Pid, Healthy.Pid })
                ClientThreads.AddRange(Directory.GetDirectories($"/proc/{pid}/task").Select(d => int.Parse(Path.GetFileName(d))).Where(t => t != pid));
            LoopConnectsAtWatchEnd = Connects() - _connectsBeforeBreak;
            CaptureFile = capture.Stop();
            LoopConnectsAtCaptureEnd = Connects() - _connectsBeforeBreak;
            foreach (var src in Shell.Run("tshark", "-n", "-r", CaptureFile, "-Y", "tcp.flags.syn == 1 && tcp.flags.ack == 0", "-T", "fields", "-e", "ip.src")
                         .Split('\n', StringSplitOptions.RemoveEmptyEntries))
                SynsByClient[src] = SynsByClient.GetValueOrDefault(src) + 1;
            Pcap = CliRunner.Run("pcap", "--json", CaptureFile);
            LoopConnectsAtZkLogRead = Connects() - _connectsBeforeBreak;
            ZkLog = CliRunner.Run("zklog", "--json", Zk.InfoLog);
            // CD_KEEP_SCENARIO=DIR keeps what the tools and the client said, to look at by hand (docs/watch.md's example came from one).
            if (Environment.GetEnvironmentVariable("CD_KEEP_SCENARIO") is { Length: > 0 } keep)
            {
                Directory.CreateDirectory(keep);
                File.WriteAllText(Path.Combine(keep, "watch.json"), Watch.Stdout);
                File.WriteAllText(Path.Combine(keep, "pcap.json"), Pcap.Stdout);
                File.WriteAllText(Path.Combine(keep, "zklog.json"), ZkLog.Stdout);
                File.WriteAllText(Path.Combine(keep, "sockets.json"), Sockets.Stdout);
                File.Copy(Zk.InfoLog, Path.Combine(keep, "info.log"), true);
                File.Copy(CaptureFile, Path.Combine(keep, "capture.pcap"), true);
                File.WriteAllLines(Path.Combine(keep, "client.out"), Culprit.Lines);
                File.WriteAllText(Path.Combine(keep, "threads.txt"), string.Join('\n', Directory.GetDirectories($"/proc/{Culprit.Pid}/task").Select(d => Path.GetFileName(d) + " " + File.ReadAllText(Path.Combine(d, "comm")).Trim())));
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>"Socket connection established" lines of the culprit's log: one per TCP connection its send thread made.</summary>
    public int Connects() => Culprit.Count("Socket connection established");

    private T Own<T>(T d) where T : IDisposable
    {
        _owned.Add(d);
        return d;
    }

    /// <summary>The culprit's connects after the break, as the times its log printed them (HH:mm:ss.SSS).</summary>
    public List<TimeSpan> LoopConnectTimes() =>
        Culprit.Lines.Where(l => l.Contains("Socket connection established", StringComparison.Ordinal)).Skip(_connectsBeforeBreak)
            .Select(l => TimeSpan.ParseExact(l[..12], @"hh\:mm\:ss\.fff", CultureInfo.InvariantCulture)).ToList();

    public void Dispose()
    {
        // Clients first (the culprit is killed: it has no connection to close its session on), then the server, then the namespaces.
        for (int i = _owned.Count - 1; i >= 0; i--)
        {
            try { _owned[i].Dispose(); } catch (Exception) { /* the rest must still go */ }
        }
    }
}
