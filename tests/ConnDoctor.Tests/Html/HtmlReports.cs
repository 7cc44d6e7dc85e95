using ConnDoctor.Model;
using ConnDoctor.Pipeline;
using ConnDoctor.Render;
using ConnDoctor.Rules;
using ConnDoctor.Sources.Pcap;
using ConnDoctor.Sources.Watch;
using ConnDoctor.Tests.Infra;
using ConnDoctor.Tests.Render;

namespace ConnDoctor.Tests.Html;

/// <summary>Fixed reports for the HTML golden and escaping tests: the same ones the terminal and JSON goldens use where they exist.</summary>
public static class HtmlReports
{
    public static readonly DateTimeOffset At = new(2026, 11, 23, 12, 0, 0, TimeSpan.Zero);

    public static PcapReport Pcap()
    {
        var e = CaptureSource.Collect(Path.Combine(Fixtures.Dir("pcap"), "eth.pcap"), new CaptureFilter());
        var fixedEvidence = new Evidence
        {
            Capture = e.Capture! with { File = "eth.pcap" },
            Statuses = [e.Statuses[0] with { Duration = TimeSpan.Zero }],
            CollectedAt = At,
            Host = "testhost",
        };
        return PcapReport.Build(fixedEvidence, new RuleOptions());
    }

    /// <summary>
    /// A 30 s watch put together through the real <see cref="WatchBook"/>: java[4242] opens a connection to
    /// 10.0.0.5:2181 every 0.25 s and closes it 50 ms later (this side first: TIME_WAIT), python3[77] holds three that
    /// its peer closed (CLOSE_WAIT), and a named process (<paramref name="name"/>, <paramref name="command"/>) churns too.
    /// </summary>
    public static WatchReport Watch(string name = "curl", string command = "curl http://10.0.0.6/health")
    {
        var book = new WatchBook();
        var samples = new List<WatchSample>();
        var conns = new List<WatchConnection>();
        WatchConnection Conn(int pid, string comm, string cmd, string local, string remote, double openedMs) => new()
        {
            Local = EvidenceBuilder.Ep(local), Remote = EvidenceBuilder.Ep(remote), Pid = pid, Comm = comm, CommandLine = cmd,
            OpenedMs = openedMs, FirstSeenMs = openedMs, State = TcpState.Established, Netns = "host",
        };
        for (int i = 0; i < 3; i++)
        {
            var c = Conn(77, "python3", "python3 worker.py", $"10.0.0.1:{41000 + i}", "10.0.0.7:8080", 100 + i * 1000);
            c.State = TcpState.CloseWait;
            book.Open(c);
            conns.Add(c);
        }
        int port = 50000;
        for (int tick = 1; tick <= 30; tick++)
        {
            for (double ms = (tick - 1) * 1000; ms < tick * 1000; ms += 250)
            {
                if (tick is > 10 and <= 20 || ms < 5000) continue;    // the storm: from 5 s, with a pause from 10 s to 20 s
                var c = Conn(4242, "java", "java -cp app.jar com.example.Main", $"10.0.0.1:{port++}", "10.0.0.5:2181", ms);
                book.Open(c);
                c.ClosedBy = ClosedBy.Local;
                book.Close(c, ms + 50);
                conns.Add(c);
            }
            if (tick % 10 == 0)
            {
                var c = Conn(5150, name, command, $"10.0.0.1:{port++}", "10.0.0.6:80", tick * 1000 - 500);
                book.Open(c);
                c.ClosedBy = ClosedBy.Peer;
                book.Close(c, tick * 1000 - 400);
                conns.Add(c);
            }
            book.Tick();
            samples.Add(book.Sample(tick * 1000));
        }
        var watch = new WatchEvidence
        {
            Mode = WatchMode.Trace, StartedAt = At, Seconds = 30, IntervalSeconds = 1, Connections = conns,
            Rows = book.Rows(30_000, 30), Samples = samples, EventsRead = 1234, EventsLost = 0, AttributedShare = book.AttributedShare,
            CloseWait = [new CloseWaitTrend(77, "python3", "host", 0, 3, 30)],
        };
        var evidence = new Evidence
        {
            Watch = watch, CollectedAt = At, Host = "testhost",
            Statuses = [new SourceStatus("watch:tracepoints", SourceState.Ok, "1234 events in 30 s, none lost", book.Total)],
        };
        return WatchReport.Build(evidence, new RuleOptions());
    }

    /// <summary>Two hosts' reports and the story between them, by hand (the cross-host rules are another part's).</summary>
    public static FleetReport Fleet(string process = "java[8123] (WatchingApp)", string cause = "NoClassDefFoundError: org/apache/zookeeper/proto/SetWatches")
    {
        var server = DiagnoseHostGoldenTests.Report() with { Host = "zk1" };
        var client = Diagnosis.Run(RendererGoldenTests.Scene(), new RuleOptions()) with { Host = "c1" };
        HostReport Host(DiagnoseReport r, string name, string address) => new(new Evidence
        {
            Statuses = r.Sources, CollectedAt = r.CollectedAt, Host = name,
            Identity = new HostIdentity
            {
                Hostname = name, BootId = "b00t-" + name, CollectionStart = At, CollectionEnd = At.AddSeconds(5),
                Namespaces = [new NamespaceAddresses { Netns = "host", Addresses = [new InterfaceAddress("eth0", EvidenceBuilder.Ep(address + ":0").Address, 24)] }],
            },
        }, r);
        var crossFinding = new Finding
        {
            RuleId = "connection-limit", Severity = Severity.Critical,
            Subject = new FindingSubject { Pid = 8123, Process = "java", ClientIp = "10.0.0.5", Host = "c1 (10.0.0.5)" },
            Summary = $"{process} on c1 holds 60 of the 60 connections zk1 allows 10.0.0.5",
            Evidence = ["zk: 60 connection(s) from 10.0.0.5 on 10.0.0.1:2181", "sockets: 60 ESTABLISHED to 10.0.0.1:2181 owned by java[8123]"],
            Cause = "The process reconnects without closing the old connection.", Remedy = "Restart java[8123] on c1 and fix its client.",
            Parts =
            [
                new FindingPart("zk", "60 connections from 10.0.0.5", ["60 connection(s) from 10.0.0.5 on 10.0.0.1:2181"], "zk1"),
                new FindingPart("sockets", "java[8123] holds 60", ["60 ESTABLISHED to 10.0.0.1:2181"], "c1"),
            ],
        };
        return new FleetReport
        {
            Hosts = [Host(server, "zk1", "10.0.0.1"), Host(client, "c1", "10.0.0.5")],
            CrossHostFindings = [crossFinding],
            Story =
            [
                new CrossHostChain
                {
                    RuleId = "connection-limit", Severity = Severity.Critical, Server = "zk1 10.0.0.1:2181", Seen = "60 of 60 connections from 10.0.0.5",
                    ClientHost = "c1 (10.0.0.5)", Via = "NAT on node n1: 10.0.0.5:40112 was pod 10.244.1.5:40112", Process = process, Pod = "prod/watcher-7d9f container app", Cause = cause,
                },
                new CrossHostChain
                {
                    RuleId = "reconnect-storm", Severity = Severity.Warning, Server = "zk1 10.0.0.1:2181", Seen = "1,204 connections from 10.0.0.9 in 5 min, 98% without a session",
                },
            ],
            Notes = ["no document for 10.0.0.9: collect on that host to name the process"],
        };
    }
}
