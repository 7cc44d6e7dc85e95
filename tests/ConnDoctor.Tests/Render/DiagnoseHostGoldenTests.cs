using System.Text;
using ConnDoctor.Model;
using ConnDoctor.Render;
using ConnDoctor.Rules;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.Render;

/// <summary>
/// diagnose's host report (overview, discovery, notes, findings with each source's part, the blamed process's own log)
/// at 80 columns and as JSON, for a fixed report, compared with reviewed golden files.
/// </summary>
public sealed class DiagnoseHostGoldenTests
{
    internal static DiagnoseReport Report()
    {
        var at = new DateTime(2026, 12, 7, 10, 0, 0);
        var findings = FindingMerger.Merge(
        [
            new Finding
            {
                RuleId = "connection-limit", Severity = Severity.Critical, Source = "zk",
                Subject = new FindingSubject { ClientIp = "10.0.0.5", LocalEndpoint = "10.0.0.1:2181" },
                Summary = "client 10.0.0.5 holds 60 of 60 connections allowed per IP on 10.0.0.1:2181: every new client from that host is refused",
                Evidence = ["60 connection(s) from 10.0.0.5 on 10.0.0.1:2181, maxClientCnxns=60: no room left, the next one is refused"],
                Cause = "ZooKeeper allows maxClientCnxns=60 connections per client IP on each server.", Remedy = "Find who holds them on 10.0.0.5.",
            },
            new Finding
            {
                RuleId = "connection-limit", Severity = Severity.Warning, Source = "zklog", Subject = new FindingSubject { ClientIp = "10.0.0.5" },
                Summary = "client 10.0.0.5 was refused 40 time(s) at maxClientCnxns=60",
                Evidence = ["refused 40 time(s) with 'Too many connections from /10.0.0.5 - max is 60'"], Cause = "c", Remedy = "r",
            },
            new Finding
            {
                RuleId = "reconnect-storm", Severity = Severity.Warning, Source = "watch", Subject = new FindingSubject { Pid = 8123, Process = "java", RemoteEndpoint = "10.0.0.1:2181" },
                Summary = "java[8123] reconnects to 10.0.0.1:2181 over and over: 18 connection(s) in 15 s, none with a session",
                Evidence = ["18 connection(s) opened and closed by java[8123], median lifetime 3 ms"],
                Cause = "The client connects and closes before a session exists.", Remedy = "Restart it.",
            },
        ], watched: true);
        var pattern = new AppLogPattern
        {
            Signature = "java.lang.NoClassDefFoundError: org/apache/zookeeper/proto/SetWatches", Line = "java.lang.NoClassDefFoundError: org/apache/zookeeper/proto/SetWatches",
            Count = 18, First = at.AddSeconds(-15), Last = at, File = "/srv/app/logs/app.log",
            Meaning = Sources.AppLog.AppLogMeanings.Of("NoClassDefFoundError"),
        };
        var logs = new AppLogEvidence
        {
            Since = at.AddHours(-1),
            Processes =
            [
                new AppLogExcerpt
                {
                    Pid = 8123, Process = "java", Patterns = [pattern],
                    Files = [new AppLogFile { Path = "/srv/app/logs/app.log", FoundBy = "open descriptor", Size = 9_000_000, BytesRead = 4 << 20 },
                             new AppLogFile { Path = "/srv/app/nohup.out", FoundBy = "stdout", Problem = "permission denied (run as root, or as the process's user)" }],
                },
            ],
        };
        findings = AppLogJoin.Attach(findings, new Evidence { Statuses = [], CollectedAt = default, AppLogs = logs });
        var discovery = new DiscoveryEvidence
        {
            Servers =
            [
                new DiscoveredZkServer
                {
                    Pid = 2345, MainClass = "QuorumPeerMain", ConfigPath = "/etc/zookeeper/conf/zoo.cfg", ConfigFoundBy = "command line",
                    ClientEndpoints = [new NetEndpoint(NetAddress.FromIPAddress(System.Net.IPAddress.Any), 2181)],
                    LogFile = "/var/log/zookeeper/zookeeper.log", LogFoundBy = "an open descriptor", RotatedLogs = ["/var/log/zookeeper/zookeeper.log.1"],
                },
            ],
            Clients = [new DiscoveredZkClient { Pid = 8123, Process = "java", Servers = ["10.0.0.1:2181"], Connections = 1, ToLocalServer = true }],
            Listeners = [new DiscoveredListener { Local = "0.0.0.0:8080", Pid = 8123, Process = "java", Connections = 12, BusiestPeers = [("10.0.0.9", 10), ("10.0.0.8", 2)] }],
        };
        return new DiagnoseReport
        {
            Host = "zk1", CollectedAt = new DateTimeOffset(at, TimeSpan.Zero), Namespaces = [new NetnsInfo { Label = "host" }], SocketsExamined = 1234,
            Sources = [new SourceStatus("sockets:netlink", SourceState.Ok), new SourceStatus("discovery", SourceState.Ok), new SourceStatus("zklog", SourceState.Ok),
                       new SourceStatus("zk:127.0.0.1:2181", SourceState.Ok), new SourceStatus("app-logs", SourceState.Partial, "1 process(es), 1 file(s) read")],
            Rules = [new RuleOutcome("connection-limit", RuleState.Ran, 2), new RuleOutcome("reconnect-storm", RuleState.Ran, 1)],
            Findings = findings, Discovery = discovery, AppLogs = logs,
            Overview = FindingMerger.Overview("zk1", findings, discovery),
            Notes = ["127.0.0.1:2181 refuses the four-letter words conf, cons (not whitelisted): add this line to its zoo.cfg and restart it: 4lw.commands.whitelist=ruok,srvr,conf,cons,dump,mntr,wchc"],
        };
    }

    [Fact]
    public void HostReportTerminalAt80ColumnsAndJson()
    {
        var report = Report();
        var sw = new StringWriter();
        DiagnoseTerminalRenderer.Render(report, sw, new OutputOptions { Width = 80 });
        var text = sw.ToString();
        Assert.All(text.Split('\n'), l => Assert.True(l.Length <= 80, $"line over 80 columns: {l}"));
        Fixtures.AssertGolden("diagnose-host.txt", text);
        var ms = new MemoryStream();
        DiagnoseJsonRenderer.Render(report, ms);
        Fixtures.AssertGolden("diagnose-host.json", Encoding.UTF8.GetString(ms.ToArray()));
    }
}
