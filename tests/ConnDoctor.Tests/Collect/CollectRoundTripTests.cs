using System.Text;
using ConnDoctor.Documents;
using ConnDoctor.Model;
using ConnDoctor.Pipeline;
using ConnDoctor.Render;
using ConnDoctor.Rules;
using ConnDoctor.Sources;
using ConnDoctor.Tests.Diagnose;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.Collect;

/// <summary>
/// The evidence document carries everything: real evidence collected in a namespace (a real ZooKeeper 3.8 with its log
/// and a poll, a storm in that log, sockets held in CLOSE_WAIT and left in TIME_WAIT, a watch, a blamed process's own
/// log and a churner's) is written, read back and written again byte for byte, and diagnose of what was read equals
/// diagnose of what was collected.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class CollectRoundTripTests
{
    private static byte[] Document(Evidence e, bool redact = true)
    {
        var ms = new MemoryStream();
        EvidenceDocumentWriter.Write(e, ms, redact);
        return ms.ToArray();
    }

    private static string DiagnoseJson(Evidence e)
    {
        var (_, report) = HostCollection.DiagnoseDocument(e, new RuleOptions(), []);
        var ms = new MemoryStream();
        DiagnoseJsonRenderer.Render(report, ms);
        return Encoding.UTF8.GetString(ms.ToArray());
    }

    [Fact]
    public void RealEvidenceOfAZooKeeperHostWithAWatchAndAppLogsRoundTripsExactlyAndDiagnosesTheSame()
    {
        using var ns = new TestNetns("crt");
        using var zk = new ZooKeeperServer(netns: ns, host: "127.0.0.1");
        using var healthy = new ZkClients(ns, zk.Address, "keep", "--source", "127.0.0.4", "--count", "1", "--hold", "90");
        healthy.WaitDone(60);
        ns.Exec(Shell.Python, ZooKeeperServer.Script, "nosession", "--source", "127.0.0.2", "--count", "60", "--server", zk.Address);
        ns.StartScenario("server", "--listen", "127.0.0.1:9001:close", "--listen", "127.0.0.1:9002:sink");
        // A churner: 20 connections opened and closed by the client first (TIME_WAIT here; the server only reads), one kept open to the same server.
        var churner = ns.StartScenario("good", "--connect", "127.0.0.1:9002", "--count", "1", "--churn", "127.0.0.1:9002", "--cycles", "20");
        string log = Path.Combine(Path.GetTempPath(), $"cd-collect-{Environment.ProcessId}-{Guid.NewGuid():N}.out");
        DiagnoseAppLogTests.Preface(log);
        var (leaky, leakyPid) = DiagnoseAppLogTests.StartWithLogFile(ns, log, null, "leaky", "--connect", "127.0.0.1:9001", "--count", "12");
        try
        {
            var options = new HostDiagnosisOptions
            {
                Host = new HostOptions { Collect = new CollectOptions { Netns = ns.Name }, Since = DateTime.Now.AddHours(-1), Watch = TimeSpan.FromSeconds(2) },
            };
            var original = HostCollection.Collect(options, redact: true);

            // Every part is there, from the real sources.
            Assert.Contains(original.Sockets, s => s.State == TcpState.CloseWait && s.Owners.Any(o => o.Pid == leakyPid));
            Assert.Contains(original.Sockets, s => s.State == TcpState.TimeWait);
            Assert.Contains(original.Sockets, s => s.Info != null);
            Assert.NotNull(original.Watch);
            Assert.NotNull(original.ZkLog);
            Assert.Contains(original.ZkLog!.Clients, c => c.Ip.ToString() == "127.0.0.2");
            Assert.NotNull(original.Zk);
            Assert.NotNull(original.Discovery);
            Assert.Single(original.Discovery!.Servers);
            Assert.NotNull(original.Settings);
            var logs = original.AppLogs!.Processes.Select(p => p.Pid).ToList();
            Assert.Contains(leakyPid, logs);                                // blamed by close-wait-leak
            Assert.Contains(churner.Id, logs);                              // not blamed, but the busiest churner here
            var id = original.Identity!;
            Assert.Equal(File.ReadAllText("/proc/sys/kernel/random/boot_id").Trim(), id.BootId);
            Assert.Contains(Assert.Single(id.Namespaces).Addresses, a => a.Interface == "lo" && a.Address.ToString() == "127.0.0.1" && a.PrefixLength == 8);
            Assert.True(id.CollectionEnd >= id.CollectionStart);

            // Written, read and written again: the same bytes (every field written is read back as it was).
            var first = Document(original);
            var read = EvidenceDocumentReader.Read(first, "memory");
            Assert.Equal(Encoding.UTF8.GetString(first), Encoding.UTF8.GetString(Document(read)));
            Assert.Equal(original.Sockets.Count, read.Sockets.Count);
            // The same through gzip and a file.
            string gz = Path.Combine(Path.GetTempPath(), $"cd-collect-{Guid.NewGuid():N}.json.gz");
            try
            {
                EvidenceDocumentWriter.WriteFile(original, gz);
                Assert.Equal(0x1f, File.ReadAllBytes(gz)[0]);
                Assert.Equal(Encoding.UTF8.GetString(first), Encoding.UTF8.GetString(Document(EvidenceDocumentReader.ReadFile(gz))));
            }
            finally { File.Delete(gz); }

            // diagnose of what was read equals diagnose of what was collected, and it is the real story.
            var expected = DiagnoseJson(original);
            Assert.Equal(expected, DiagnoseJson(read));
            Assert.Contains("close-wait-leak", expected);
            Assert.Contains("reconnect-storm", expected);
            Assert.Contains("Too many open files", expected);               // the leaky process's own log, joined
        }
        finally
        {
            try { leaky.Kill(true); } catch (InvalidOperationException) { }
            File.Delete(log);
        }
    }

    [Fact]
    public void ASocketRowKeepsIpv6EndpointsManyOwnersAndEveryTcpInfoFieldAtItsLargest()
    {
        NetEndpoint.TryParse("[fd00:1:2:3:4:5:6:7]:65535", out var local, out _);
        NetEndpoint.TryParse("[::ffff:10.1.2.3]:2181", out var remote, out _);
        var socket = new SocketRecord
        {
            Family = 6, State = TcpState.CloseWait, Local = local, Remote = remote, RecvQueue = uint.MaxValue, SendQueue = 7,
            Timer = TimerKind.Keepalive, TimerExpiresMs = uint.MaxValue, TimerRetransmits = 255, Uid = uint.MaxValue, Inode = ulong.MaxValue,
            Cookie = ulong.MaxValue - 1, Interface = 3, NetnsIndex = 0,
            Info = new TcpInfo { CaState = 4, Retransmits = 255, RtoUs = uint.MaxValue, BytesAcked = ulong.MaxValue, BytesReceived = 1, BytesSent = ulong.MaxValue },
            Owners = Enumerable.Range(1, 300).Select(i => new SocketOwner(4_000_000 + i, 1_000_000 + i)).ToArray(),
        };
        var e = new Evidence
        {
            CollectedAt = DateTimeOffset.UtcNow, Statuses = [], Sockets = [socket], Namespaces = [new NetnsInfo { Label = "host" }],
        };
        var read = EvidenceDocumentReader.Read(Document(e), "memory");
        var r = Assert.Single(read.Sockets);
        Assert.Equal((socket.Family, socket.State, socket.Local, socket.Remote, socket.RecvQueue, socket.Timer, socket.TimerExpiresMs, socket.TimerRetransmits,
                      socket.Uid, socket.Inode, socket.Cookie, socket.Interface, socket.Info),
                     (r.Family, r.State, r.Local, r.Remote, r.RecvQueue, r.Timer, r.TimerExpiresMs, r.TimerRetransmits, r.Uid, r.Inode, r.Cookie, r.Interface, r.Info));
        Assert.Equal(socket.Owners, r.Owners);
        Assert.True(r.Remote.Address.IsV4Mapped);
    }

    [Fact]
    public void TheIdentityHoldsEveryAddressOfTheNamespaceAsIpAddrListsThem()
    {
        using var a = new TestNetns("cid");
        using var b = new TestNetns("cid");
        var (ia, _) = TestNetns.Link(a, b, "10.61.0.2", "10.61.0.1");
        a.Exec("ip", "addr", "add", "10.61.0.3/24", "dev", ia);
        a.Exec("ip", "-6", "addr", "add", "fd61::2/64", "dev", ia, "nodad");
        var ns = new NetnsInfo { Label = a.Name, Path = $"/run/netns/{a.Name}" };
        var (identity, status) = HostIdentitySource.Read("/proc", [ns], DateTimeOffset.UtcNow, DateTimeOffset.UtcNow);
        Assert.Equal(SourceState.Ok, status.State);
        var got = Assert.Single(identity.Namespaces).Addresses.Select(x => $"{x.Interface} {x.Address}/{x.PrefixLength}").Order().ToList();
        // The oracle: `ip -o addr` in that namespace ("2: vaX inet 10.61.0.2/24 brd ... scope global vaX ...").
        var oracle = a.Exec("ip", "-o", "addr").Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)).Select(f => $"{f[1].Split('@')[0]} {f[3]}").Order().ToList();
        Assert.Equal(oracle, got);
        Assert.Contains($"{ia} 10.61.0.3/24", got);
        Assert.Contains($"{ia} fd61::2/64", got);
        Assert.True(identity.Owns(NetEndpoint.TryParse("10.61.0.3:1", out var ep, out _) ? ep.Address : default));
        Assert.False(identity.Owns(NetEndpoint.TryParse("10.61.0.1:1", out var other, out _) ? other.Address : default));
    }
}
