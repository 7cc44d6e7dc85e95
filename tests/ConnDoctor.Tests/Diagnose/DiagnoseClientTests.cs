using System.Text.Json;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.Diagnose;

/// <summary>
/// Incident 000 on the client's host: the real ZooKeeper Java client, with SetWatches missing from its class path,
/// loops reconnecting (one connection every 1 to 2 s, each closed by the client within milliseconds) and logs the
/// NoClassDefFoundError each time to its log file; a healthy kazoo client beside it. `diagnose --watch 20s` on that
/// host must name the JVM by pid (20 s, not 15: a 1 to 2 s backoff gives about 10 connections in 15 s, the slow-loop
/// minimum of docs/severity.md, so 15 s would decide the verdict by chance), quote the exception with its count, line it up with the connections it closed,
/// and say what it means; the healthy client is not blamed.
/// </summary>
public sealed class DiagnoseClientTests
{
    [Fact]
    public void WithAWatchTheLoopingJvmIsNamedByPidWithTheExceptionFromItsOwnLog()
    {
        using var serverNs = new TestNetns("dcs");
        using var clientNs = new TestNetns("dcc");
        var (clientIf, _) = TestNetns.Link(clientNs, serverNs, "10.19.0.2", "10.19.0.1");
        clientNs.Exec("ip", "addr", "add", "10.19.0.3/24", "dev", clientIf);
        using var zk = new ZooKeeperServer(netns: serverNs, host: "10.19.0.1");
        string log = Path.Combine(Path.GetTempPath(), $"cd-javaapp-{Environment.ProcessId}-{Guid.NewGuid():N}.log");
        try
        {
            using var culprit = new JavaZkClient(clientNs, zk.Address, withoutSetWatches: true, logFile: log);
            using var healthy = new ZkClients(clientNs, zk.Address, "keep", "--source", "10.19.0.3", "--count", "1", "--hold", "90");
            healthy.WaitDone(60);
            // The break, as a server restart would make it: from now on every reconnect fails in primeConnection.
            clientNs.Exec("ss", "-K", "src", "10.19.0.2", "dst", "10.19.0.1", "dport", "=", zk.Port.ToString());
            var deadline = DateTime.UtcNow.AddSeconds(20);
            while (DateTime.UtcNow < deadline && !File.ReadLines(log).Any(l => l.StartsWith("java.lang.NoClassDefFoundError"))) Thread.Sleep(100);

            var r = CliRunner.Run("diagnose", "--json", "--netns", clientNs.Name, "--watch", "20s");
            Assert.True(r.Code == 0, r.Stderr);
            using var d = r.Json();
            var findings = d.RootElement.GetProperty("findings").EnumerateArray().ToList();
            var storm = Assert.Single(findings, f => f.GetProperty("ruleId").GetString() == "reconnect-storm"
                                                     && f.GetProperty("subject").TryGetProperty("pid", out var p) && p.GetInt32() == culprit.Pid);
            Assert.Equal("warning", storm.GetProperty("severity").GetString());
            var own = Assert.Single(storm.GetProperty("parts").EnumerateArray(), x => x.GetProperty("source").GetString() == "app-log")
                .GetProperty("evidence").EnumerateArray().Select(x => x.GetString()!).ToList();
            // "N x 'java.lang.NoClassDefFoundError: org/apache/zookeeper/proto/SetWatches' in LOG, first ..., last ..."
            var head = Assert.Single(own, l => l.Contains(" x 'java.lang.NoClassDefFoundError: org/apache/zookeeper/proto/SetWatches' in " + log));
            int quoted = int.Parse(head[..head.IndexOf(' ')]);
            int inFile = File.ReadLines(log).Count(l => l == "java.lang.NoClassDefFoundError: org/apache/zookeeper/proto/SetWatches");
            Assert.InRange(quoted, 10, inFile);                 // one per reconnect since the break: 20 s of a 1-2 s backoff
            Assert.Contains(own, l => l.Contains("connection(s) it closed during the watch ended within") && !l.StartsWith("none"));
            Assert.Contains("line: java.lang.NoClassDefFoundError: org/apache/zookeeper/proto/SetWatches", own);
            Assert.Contains("outlived their application", storm.GetProperty("cause").GetString());
            var files = Assert.Single(d.RootElement.GetProperty("appLogs").GetProperty("processes").EnumerateArray(), x => x.GetProperty("pid").GetInt32() == culprit.Pid)
                .GetProperty("files").EnumerateArray().Select(x => x.GetProperty("path").GetString()).ToList();
            Assert.Contains(log, files);
            Assert.Contains(culprit.Pid.ToString(), d.RootElement.GetProperty("overview").GetString());
            // The healthy client beside it is not blamed.
            Assert.DoesNotContain(findings, f => f.GetProperty("severity").GetString() != "info"
                && (f.GetProperty("subject").TryGetProperty("pid", out var p) && p.GetInt32() == healthy.Pid || f.ToString().Contains("10.19.0.3")));
        }
        finally { File.Delete(log); }
    }
}
