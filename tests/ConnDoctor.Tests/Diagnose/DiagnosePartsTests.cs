using ConnDoctor.Model;
using ConnDoctor.Rules;
using ConnDoctor.Sources.AppLog;
using ConnDoctor.Sources.Discovery;
using ConnDoctor.Sources.ZkLog;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.Diagnose;

/// <summary>The pieces of diagnose that are pure: app-log patterns and times, main-class recognition, the window's start, the merge.</summary>
public sealed class DiagnosePartsTests
{
    private static List<AppLogPattern> Scan(string file, DateTime since)
    {
        var path = Path.Combine(Fixtures.Dir("applog"), file);
        var s = new AppLogScanner(since, File.GetLastWriteTime(path), path);
        s.Scan(File.ReadAllText(path));
        return s.Patterns().ToList();
    }

    [Fact]
    public void Incident000TheClassLoadingErrorRepeatsWithItsCountTimesAndMeaning()
    {
        var patterns = Scan("catalina-000.out", new DateTime(2014, 1, 1));
        var ncdfe = Assert.Single(patterns, p => p.Signature == "java.lang.NoClassDefFoundError: org/apache/zookeeper/proto/SetWatches");
        Assert.Equal(4, ncdfe.Count);
        Assert.Equal(new DateTime(2014, 11, 24, 19, 42, 44, 399), ncdfe.First);
        Assert.Equal(new DateTime(2014, 11, 24, 19, 42, 48, 655), ncdfe.Last);
        Assert.Contains("threads that outlived their application", ncdfe.Meaning);
        Assert.Equal("java.lang.NoClassDefFoundError: org/apache/zookeeper/proto/SetWatches", ncdfe.Line);   // the line as written, nothing more
        // The WARN before it is one pattern whatever the session id and address; stack frames are never counted.
        var warn = Assert.Single(patterns, p => p.Signature.StartsWith("WARN Session 0x# for server", StringComparison.Ordinal));
        Assert.Equal(4, warn.Count);
        Assert.DoesNotContain(patterns, p => p.Line.TrimStart().StartsWith("at ", StringComparison.Ordinal));
        // The Tomcat record happened once: not a repeat.
        Assert.DoesNotContain(patterns, p => p.Signature.Contains("IllegalStateException"));
    }

    [Fact]
    public void TheWindowLeavesOutWhatCameBefore()
    {
        var patterns = Scan("catalina-000.out", new DateTime(2014, 11, 24, 19, 42, 46));
        Assert.Equal(2, Assert.Single(patterns, p => p.Signature.StartsWith("java.lang.NoClassDefFoundError", StringComparison.Ordinal)).Count);
    }

    [Fact]
    public void Incident003InterruptedExceptionInCloseIsExplained()
    {
        var patterns = Scan("zkclient-close-003.log", new DateTime(2019, 1, 1));
        var zk = Assert.Single(patterns, p => p.Signature == "org.I0Itec.zkclient.exception.ZkInterruptedException: java.lang.InterruptedException");
        Assert.Equal(4, zk.Count);
        Assert.Contains("close()", zk.Meaning);
        Assert.Contains(patterns, p => p.Signature == "java.lang.InterruptedException" && p.Count == 4);   // its "Caused by:"
        Assert.Contains(patterns, p => p.Signature == "ERROR close zkclient failed" && p.Count == 4);
    }

    [Theory]
    [InlineData("2014-11-24 19:42:44,399 [x] WARN a", 2014, 11, 24, 19, 42, 44, 399)]
    [InlineData("[2024-01-31T12:00:01.250] ERROR b", 2024, 1, 31, 12, 0, 1, 250)]
    [InlineData("24-Nov-2014 19:32:43.123 SEVERE [main] x", 2014, 11, 24, 19, 32, 43, 123)]
    [InlineData("Nov 24, 2014 7:32:43 PM org.apache.catalina.loader.WebappClassLoader loadClass", 2014, 11, 24, 19, 32, 43, 0)]
    [InlineData("2024-01-31T12:00:00.123456+00:00 host app[42]: Connection refused", 2024, 1, 31, 12, 0, 0, 123)]
    public void TimestampsOfCommonLayouts(string line, int y, int mo, int d, int h, int mi, int s, int ms)
    {
        Assert.True(AppLogTime.TryParse(line, new DateTime(2030, 1, 1), out var t));
        Assert.Equal(new DateTime(y, mo, d, h, mi, s, ms), t);
    }

    [Fact]
    public void ATimeWithoutADateBelongsToTheFilesDayOrTheDayBefore()
    {
        var written = new DateTime(2026, 12, 7, 0, 0, 30);
        Assert.True(AppLogTime.TryParse("23:59:58.100 [main] WARN x", written, out var t));
        Assert.Equal(new DateTime(2026, 12, 6, 23, 59, 58, 100), t);
        Assert.True(AppLogTime.TryParse("00:00:10.000 [main] WARN x", written, out t));
        Assert.Equal(new DateTime(2026, 12, 7, 0, 0, 10), t);
        Assert.False(AppLogTime.TryParse("\tat org.apache.zookeeper.ClientCnxn", written, out _));
    }

    [Theory]
    [InlineData("java -Dzookeeper.log.dir=/var/log/zookeeper -cp /etc/zookeeper/conf:/usr/share/java/zookeeper.jar org.apache.zookeeper.server.quorum.QuorumPeerMain /etc/zookeeper/conf/zoo.cfg", "QuorumPeerMain")]
    // Kafka's bin/zookeeper-server-start.sh through kafka-run-class.sh
    [InlineData("java -Xmx512M -server -XX:+UseG1GC -Dkafka.logs.dir=/opt/kafka/logs -Dlog4j.configuration=file:/opt/kafka/config/log4j.properties -cp /opt/kafka/libs/* org.apache.zookeeper.server.quorum.QuorumPeerMain config/zookeeper.properties", "QuorumPeerMain")]
    [InlineData("java -cp zookeeper.jar org.apache.zookeeper.server.ZooKeeperServerMain 2181 /tmp/data", "ZooKeeperServerMain")]
    [InlineData("java -cp app.jar com.example.Main org.apache.zookeeper.server.quorum.QuorumPeerMain", null)]
    [InlineData("java -jar kafka.jar QuorumPeerMain", null)]
    public void TheMainClassIsTheFirstArgumentThatIsNoOption(string cmdline, string? expected)
    {
        var m = ZkServerFinder.MainClass(cmdline.Split(' '));
        Assert.Equal(expected, m?.Class);
    }

    [Fact]
    public void ReadingFromTheWindowsStartCountsWhatReadingEverythingCountsInTheWindow()
    {
        // A long log from the 3.4 fixture's lines, shifted minute by minute: the bisection must land before the window.
        var lines = File.ReadAllLines(Path.Combine(Fixtures.Dir("zklog"), "zk34.log"));
        var path = Path.Combine(Path.GetTempPath(), $"cd-window-{Environment.ProcessId}.log");
        try
        {
            var start = new DateTime(2024, 1, 1, 0, 0, 0);
            using (var w = new StreamWriter(path))
                for (int minute = 0; minute < 600; minute++)
                    foreach (var l in lines)
                        w.WriteLine(ZkLogLine.IsTimestamp(System.Text.Encoding.ASCII.GetBytes(l))
                            ? start.AddMinutes(minute).ToString("yyyy-MM-dd HH:mm") + l[16..] : l);
            var window = new ZkLogWindow(start.AddMinutes(543).AddSeconds(30), null);
            var (all, _) = ZkLogReader.Read([path], window);
            var (tail, status) = ZkLogReader.Read([path], window, fromWindowStart: true);
            Assert.Contains("before the window not read", status.Reason);
            Assert.Equal(all.Clients.Select(c => (c.Ip, c.Accepted, c.EndsOfStream, c.Refused)), tail.Clients.Select(c => (c.Ip, c.Accepted, c.EndsOfStream, c.Refused)));
            Assert.Equal(all.Timeline, tail.Timeline);
            Assert.True(tail.Bytes < all.Bytes / 5, $"read {tail.Bytes} of {all.Bytes} bytes");
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void RotatedSiblingsAreTheLogsRotationsWrittenWithinTheWindow()
    {
        var dir = Directory.CreateTempSubdirectory("cd-rot").FullName;
        try
        {
            var since = DateTime.Now.AddHours(-1);
            foreach (var name in (string[])["zookeeper.log", "zookeeper.log.1", "zookeeper.log.2.gz", "zookeeper.log.2024-01-31", "zookeeper.log.3",
                         "zookeeper_audit.log", "zookeeper-gc.log.0", "zookeeper.out", "other.log"])
                File.WriteAllText(Path.Combine(dir, name), "x");
            File.SetLastWriteTime(Path.Combine(dir, "zookeeper.log.3"), since.AddDays(-2));     // rotated before the window: nothing in it
            var got = ZkServerFinder.RotatedSiblings(Path.Combine(dir, "zookeeper.log"), since).Select(Path.GetFileName);
            Assert.Equal(["zookeeper.log.1", "zookeeper.log.2.gz", "zookeeper.log.2024-01-31"], got);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Theory]
    [InlineData("/var/log/app/app.log", true)]
    [InlineData("/opt/tomcat/logs/catalina.out", true)]
    [InlineData("/var/log/app/app.log.1", true)]
    [InlineData("/var/log/app/app.2024-01-31.log", true)]
    [InlineData("/var/log/app/gc.log", false)]
    [InlineData("/var/log/app/app-gc.log.0.current", false)]
    [InlineData("/var/log/app/app.log.2.gz", false)]
    [InlineData("/var/lib/zookeeper/version-2/log.100000001", false)]
    [InlineData("/opt/app/lib/app.jar", false)]
    public void WhichOpenFilesLookLikeLogs(string path, bool log) => Assert.Equal(log, AppLogNames.IsLogName(path));

    private static Finding F(string rule, Severity sev, FindingSubject subject, string source, params string[] evidence) => new()
    {
        RuleId = rule, Severity = sev, Subject = subject, Summary = $"{rule} from {source}", Evidence = evidence, Cause = "c", Remedy = "r", Source = source,
    };

    [Fact]
    public void TwoSourcesSeeingOneProblemMakeOneFindingWithEachSourcesPart()
    {
        var ip = "10.0.0.5";
        var merged = FindingMerger.Merge(
        [
            F("connection-limit", Severity.Warning, new FindingSubject { ClientIp = ip }, "zklog", "refused 40 time(s)"),
            F("connection-limit", Severity.Critical, new FindingSubject { ClientIp = ip, LocalEndpoint = "127.0.0.1:2181" }, "zk", "60 connection(s) from 10.0.0.5"),
            F("reconnect-storm", Severity.Warning, new FindingSubject { ClientIp = ip }, "zklog", "100 connection(s)"),
            F("reconnect-storm", Severity.Warning, new FindingSubject { ClientIp = "10.0.0.9" }, "zklog", "80 connection(s)"),
            F("dead-peer-detection", Severity.Warning, new FindingSubject { Setting = "net.ipv4.tcp_keepalive_*" }, "settings", "7200"),
            F("ephemeral-ports", Severity.Info, new FindingSubject { Setting = "net.ipv4.ip_local_port_range" }, "settings", "fine"),
        ], watched: false);
        var limit = Assert.Single(merged, f => f.Subject.ClientIp == ip);    // the storm of refusals joins the limit
        Assert.Equal(Severity.Critical, limit.Severity);
        Assert.Equal("127.0.0.1:2181", limit.Subject.LocalEndpoint);
        Assert.Equal(["zk", "zklog", "zklog (reconnect-storm)"], limit.Parts.Select(p => p.Source));
        Assert.Contains("[zklog] refused 40 time(s)", limit.Evidence);
        Assert.Contains("[zk] 60 connection(s) from 10.0.0.5", limit.Evidence);
        var other = Assert.Single(merged, f => f.Subject.ClientIp == "10.0.0.9");
        Assert.Contains(other.Evidence, l => l.Contains("--watch"));           // who it is needs a watch on the client host
        var setting = Assert.Single(merged, f => f.Subject.Setting != null);    // a risk, not a problem seen here; fine ones left out
        Assert.Equal(Severity.Info, setting.Severity);
        var overview = FindingMerger.Overview("h", merged, null);
        Assert.StartsWith("h: 2 problems, worst first: critical: connection-limit client 10.0.0.5 on 127.0.0.1:2181; warning: reconnect-storm client 10.0.0.9.", overview);
    }
}
