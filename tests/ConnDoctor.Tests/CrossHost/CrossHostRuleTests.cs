using ConnDoctor.Model;
using ConnDoctor.Pipeline;
using ConnDoctor.Rules;
using ConnDoctor.Rules.CrossHost;
using ConnDoctor.Sources;
using ConnDoctor.Sources.ZkLog;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.CrossHost;

/// <summary>
/// Two namespaces as hosts, their socket tables read by the real collector: srv (10.42.0.1) holds a listener on :2181
/// and the accepted ends; c (10.42.0.2 and 10.42.0.3) runs three client processes: p1 with 2 connections from .2, p2
/// with 3 and p3 with 2 from .3. A third namespace (10.42.7.1) talks to nobody. Read once for every test.
/// </summary>
public sealed class TwoHosts : IDisposable
{
    public const string ServerIp = "10.42.0.1", Ip2 = "10.42.0.2", Ip3 = "10.42.0.3", LoneIp = "10.42.7.1";
    private readonly List<IDisposable> _owned = new();
    public TestNetns S { get; }
    public TestNetns C { get; }
    public TestNetns Lone { get; }
    public int P1 { get; }
    public int P2 { get; }
    public int P3 { get; }
    public Evidence Server { get; }
    public Evidence Client { get; }
    public Evidence Alone { get; }

    public TwoHosts()
    {
        try
        {
            S = Own(new TestNetns("xs"));
            C = Own(new TestNetns("xc"));
            Lone = Own(new TestNetns("xl"));
            var (cIf, sIf) = TestNetns.Link(C, S, Ip2, ServerIp);
            C.Exec("ip", "addr", "add", Ip3 + "/24", "dev", cIf);
            Lone.Exec("ip", "addr", "add", LoneIp + "/24", "dev", "lo");
            S.StartScenario("server", "--listen", $"{ServerIp}:2181:hold");
            P1 = C.StartScenario("leaky", "--connect", $"{ServerIp}:2181", "--count", "2", "--bind", Ip2).Id;
            P2 = C.StartScenario("leaky", "--connect", $"{ServerIp}:2181", "--count", "3", "--bind", Ip3).Id;
            P3 = C.StartScenario("leaky", "--connect", $"{ServerIp}:2181", "--count", "2", "--bind", Ip3).Id;
            Thread.Sleep(2500);   // silent for over a second when read: older than the margin between two collections
            var start = DateTimeOffset.UtcNow;
            Server = WithIdentity(SocketCollector.Collect(new CollectOptions { Netns = S.Name }), S, "srv", start, (sIf, ServerIp));
            Client = WithIdentity(SocketCollector.Collect(new CollectOptions { Netns = C.Name }), C, "c", start, (cIf, Ip2), (cIf, Ip3));
            Alone = WithIdentity(SocketCollector.Collect(new CollectOptions { Netns = Lone.Name }), Lone, "lone", start, ("lo", LoneIp));
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public static Evidence WithIdentity(Evidence e, TestNetns ns, string name, DateTimeOffset start, params (string If, string Ip)[] addresses) => e with
    {
        Identity = new HostIdentity
        {
            Hostname = name, CollectionStart = start, CollectionEnd = DateTimeOffset.UtcNow,
            Namespaces = [new NamespaceAddresses
            {
                Netns = ns.Name, Inode = e.Namespaces[0].Inode,
                Addresses = addresses.Select(a => new InterfaceAddress(a.If, EvidenceBuilder.Ep(a.Ip).Address, 24)).ToList(),
            }],
        },
    };

    private T Own<T>(T d) where T : IDisposable
    {
        _owned.Add(d);
        return d;
    }

    public void Dispose()
    {
        for (int i = _owned.Count - 1; i >= 0; i--) _owned[i].Dispose();
    }
}

/// <summary>Each cross-host rule over real socket tables of <see cref="TwoHosts"/>, with the per-host finding it explains given where a log would give it.</summary>
public sealed class CrossHostRuleTests(TwoHosts h) : IClassFixture<TwoHosts>
{
    private static DiagnoseReport Report(Evidence e, params Finding[] findings) =>
        new() { Host = e.Host, CollectedAt = e.CollectedAt, Sources = [], Rules = [], Findings = findings, Namespaces = e.Namespaces };

    private static CrossHostContext Context(params (Evidence E, DiagnoseReport R)[] hosts) => new(hosts.Select((x, i) => new CrossHostHost
    {
        Index = i, Label = x.E.Identity!.Hostname, Evidence = x.E, Report = x.R, Identity = x.E.Identity, ZkPorts = new HashSet<int> { 2181 },
    }).ToList(), new RuleOptions());

    /// <summary>The client host's table without one process's sockets: that process vanished without a word to the server.</summary>
    private Evidence ClientWithout(int pid, DateTimeOffset? start = null) => h.Client with
    {
        Sockets = h.Client.Sockets.Where(s => !(s.Owners.Length > 0 && s.Owners[0].Pid == pid)).ToList(),
        Identity = h.Client.Identity! with { CollectionStart = start ?? h.Client.Identity.CollectionStart },
    };

    private static List<int> Ports(Evidence e, int pid) => e.Sockets.Where(s => s.Owners.Length > 0 && s.Owners[0].Pid == pid).Select(s => (int)s.Local.Port).ToList();

    [Fact]
    public void ServerConnectionsWhoseClientHostHasNoSocketAreProvenHalfOpenAndOnlyThose()
    {
        var p3Ports = Ports(h.Client, h.P3);
        Assert.Equal(2, p3Ports.Count);
        // The client's collection began as the server's table was read: 2.5 s after the server last heard from them.
        var client = ClientWithout(h.P3, start: h.Server.Identity!.CollectionEnd);
        var ctx = Context((h.Server, Report(h.Server)), (client, Report(client)));
        var r = Assert.Single(new HalfOpenProvenRule().Evaluate(ctx));
        Assert.Equal("half-open-proven", r.Finding.RuleId);
        Assert.Equal(TwoHosts.Ip3, r.Finding.Subject.RemoteEndpoint);
        var lines = r.Finding.Parts[0].Evidence;
        foreach (int port in p3Ports) Assert.Contains(lines, l => l.Contains($"<- {TwoHosts.Ip3}:{port} ESTABLISHED"));
        Assert.Equal(2, lines.Count(l => l.Contains("ESTABLISHED")));               // p2's three on the same address are there
        Assert.Equal(Severity.Warning, r.Finding.Severity);
        Assert.Contains($"--netns {h.S.Name}", r.Finding.Remedy);
        Assert.Contains("--remote 10.42.0.3:", r.Finding.Remedy);                  // one --remote per end: p2's share the address
    }

    [Fact]
    public void AConnectionHeardFromAfterTheClientsTableWasReadIsTooYoungToJudge()
    {
        // The client's collection began an hour before the server's read: every silence is younger than the gap.
        var early = ClientWithout(h.P3, start: h.Server.Identity!.CollectionEnd.AddHours(-1));
        var ctx = Context((h.Server, Report(h.Server)), (early, Report(early)));
        Assert.Empty(new HalfOpenProvenRule().Evaluate(ctx));
        // And a server read before the client's collection began proves nothing (the client may have closed them in between).
        var later = ClientWithout(h.P3, start: h.Server.Identity!.CollectionEnd.AddMinutes(1));
        Assert.Empty(new HalfOpenProvenRule().Evaluate(Context((h.Server, Report(h.Server)), (later, Report(later)))));
    }

    [Fact]
    public void AServersFindingAboutAClientIpIsJoinedToTheProcessThatOwnsItsPorts()
    {
        var storm = new Finding
        {
            RuleId = "reconnect-storm", Severity = Severity.Warning, Subject = new FindingSubject { ClientIp = TwoHosts.Ip2 },
            Summary = "client 10.42.0.2 reconnects over and over", Cause = "loop", Remedy = "fix it", Source = "zklog",
        };
        var ctx = Context((h.Server, Report(h.Server, storm)), (h.Client, Report(h.Client)));
        var r = Assert.Single(new AddressToProcessRule().Evaluate(ctx));
        Assert.Equal(h.P1, r.Finding.Subject.Pid);
        Assert.Equal("c", r.Finding.Subject.Host);
        Assert.Contains(r.Finding.Evidence, l => l.Contains($"[{h.P1}]: 2 of the 2 client port(s) srv named (socket table)"));
        Assert.Equal(storm, Assert.Single(r.Supersedes).Finding);
        Assert.StartsWith($"python3[{h.P1}]", r.Chain!.Process);
        // An address no document owns is not joined.
        var other = storm with { Subject = new FindingSubject { ClientIp = "10.42.0.99" } };
        Assert.Empty(new AddressToProcessRule().Evaluate(Context((h.Server, Report(h.Server, other)), (h.Client, Report(h.Client)))));
    }

    [Fact]
    public void TheClientPortsTheServersLogNamedPickTheProcessAmongTwoOnOneAddress()
    {
        // p2 (3 connections) and p3 (2) both hold connections from 10.42.0.3 to the server; without the log the port
        // count picks p2. The server's log (the 3.8 fixture's end-of-stream lines, rewritten to p3's ports) names only p3's.
        var p3Ports = Ports(h.Client, h.P3);
        Assert.Equal(2, p3Ports.Count);
        var fixture = File.ReadAllLines(Path.Combine(Fixtures.Dir("zklog"), "zk38-info.log"));
        int at = Array.FindIndex(fixture, l => l.Contains("address = /127.0.0.1:58150"));
        var path = Path.Combine(Path.GetTempPath(), $"cd-{Environment.ProcessId}-{Guid.NewGuid():N}-srv.log");
        try
        {
            File.WriteAllLines(path, p3Ports.SelectMany(port => new[] { fixture[at - 1], fixture[at].Replace("/127.0.0.1:58150", $"/{TwoHosts.Ip3}:{port}") }));
            var log = ZkLogReader.Read([path], new ZkLogWindow(null, null)).Evidence;
            var storm = new Finding
            {
                RuleId = "reconnect-storm", Severity = Severity.Warning, Subject = new FindingSubject { ClientIp = TwoHosts.Ip3 },
                Summary = "client 10.42.0.3 reconnects over and over", Cause = "loop", Remedy = "fix it", Source = "zklog",
            };
            var without = Assert.Single(new AddressToProcessRule().Evaluate(Context((h.Server, Report(h.Server, storm)), (h.Client, Report(h.Client)))));
            Assert.Equal(h.P2, without.Finding.Subject.Pid);
            var server = h.Server with { ZkLog = log };
            var r = Assert.Single(new AddressToProcessRule().Evaluate(Context((server, Report(server, storm)), (h.Client, Report(h.Client)))));
            Assert.Equal(h.P3, r.Finding.Subject.Pid);
            foreach (int port in p3Ports)
                Assert.Contains(r.Finding.Evidence, l => l.Contains($"port {port} named in the server log at 2026-11-23 19:30:43.341 was pid {h.P3}'s (socket table)"));
            Assert.DoesNotContain(r.Finding.Evidence, l => l.Contains($"was pid {h.P2}'s"));
        }
        finally
        {
            File.Delete(path);
        }
    }

    [Fact]
    public void AnAddressAtTheLimitIsBrokenDownByProcessWithTheConnectionsNoProcessHolds()
    {
        var limit = new Finding
        {
            RuleId = "connection-limit", Severity = Severity.Critical, Subject = new FindingSubject { ClientIp = TwoHosts.Ip3, LocalEndpoint = "10.42.0.1:2181" },
            Summary = "client 10.42.0.3 holds 5 of 5 connections", Cause = "limit", Remedy = "find them", Source = "zk",
        };
        var client = ClientWithout(h.P3, start: h.Server.Identity!.CollectionEnd);
        var ctx = Context((h.Server, Report(h.Server, limit)), (client, Report(client)));
        var r = Assert.Single(new LimitHoldersRule().Evaluate(ctx));
        var join = Assert.Single(r.Finding.Parts, p => p.Source == "join").Evidence;
        Assert.Contains(join, l => l == $"on c: python3[{h.P2}] holds 3 connection(s) to srv");
        Assert.Contains(join, l => l.StartsWith("2 connection(s) srv holds from 10.42.0.3 have no socket on c: half-open"));
        Assert.Contains($"python3[{h.P2}] x3, half-open x2", r.Finding.Summary);
        Assert.Equal(h.P2, r.Finding.Subject.Pid);                                   // the only process holding some
    }

    [Fact]
    public void TheFleetTellsHostsApartByAddressesDropsTheOlderOfTwoDocumentsOfOneHostAndNamesAHostInNoJoin()
    {
        var older = h.Client with { Identity = h.Client.Identity! with { CollectionEnd = h.Client.Identity.CollectionEnd.AddMinutes(-5) } };
        var noIdentity = h.Alone with { Identity = null, Host = "anonymous" };
        var fleet = FleetDiagnosis.Run([h.Server, older, h.Client, h.Alone, noIdentity], new RuleOptions(), []);
        Assert.Equal(4, fleet.Hosts.Count);
        Assert.Contains(fleet.Hosts, x => ReferenceEquals(x.Evidence.Identity, h.Client.Identity));
        Assert.DoesNotContain(fleet.Hosts, x => ReferenceEquals(x.Evidence.Identity, older.Identity));
        Assert.Contains(fleet.Notes, n => n.StartsWith("two documents are of the same host") && n.Contains("the newer one"));
        Assert.Contains(fleet.Notes, n => n.StartsWith("lone (lone 10.42.7.1) shares no connection") && n.EndsWith("in no join"));
        Assert.Contains(fleet.Notes, n => n.StartsWith("the document of anonymous has no host identity"));
        Assert.DoesNotContain(fleet.Notes, n => n.StartsWith("srv") || n.StartsWith("c ("));
    }

    [Fact]
    public void TheSameDocumentGivenTwiceIsOneHostAndNoFleetIsEmptyOfNotesItCannotBack()
    {
        var twice = FleetDiagnosis.Run([h.Server, h.Server], new RuleOptions(), []);
        var one = Assert.Single(twice.Hosts);
        Assert.Same(h.Server.Identity, one.Identity);
        Assert.Contains(twice.Notes, n => n.StartsWith("two documents are of the same host"));
        var none = FleetDiagnosis.Run([], new RuleOptions(), []);
        Assert.Empty(none.Hosts);
        Assert.Empty(none.Notes);
        Assert.Empty(none.Story);
    }

    [Fact]
    public void AnAddressTwoDocumentsClaimIsNeverJoined()
    {
        // Both claim 10.42.0.2 (a bridge address every host has): connections from it belong to no one.
        var twin = h.Alone with
        {
            Identity = h.Alone.Identity! with
            {
                Namespaces = [h.Alone.Identity.Namespaces[0] with { Addresses = [.. h.Alone.Identity.Namespaces[0].Addresses, new InterfaceAddress("br0", EvidenceBuilder.Ep(TwoHosts.Ip2).Address, 24)] }],
            },
        };
        var ctx = Context((h.Server, Report(h.Server)), (h.Client, Report(h.Client)), (twin, Report(twin)));
        Assert.Null(ctx.OwnerOf(EvidenceBuilder.Ep(TwoHosts.Ip2).Address));
        Assert.Equal("c", ctx.OwnerOf(EvidenceBuilder.Ep(TwoHosts.Ip3).Address)!.Label);
    }

    [Fact]
    public void AServersNoWatchHintSaysTheClientHostsWatchRanWhenItsDocumentHasOne()
    {
        Finding Storm(string ip) => new()
        {
            RuleId = "reconnect-storm", Severity = Severity.Warning, Subject = new FindingSubject { ClientIp = ip },
            Summary = $"client {ip} reconnects over and over", Cause = "loop", Remedy = "fix it", Source = "zklog",
            Evidence = ["1,200 connections in 60 s", FindingMerger.NoWatchHint],
        };
        var watched = h.Client with
        {
            Watch = new WatchEvidence { Mode = WatchMode.Trace, StartedAt = new DateTimeOffset(2026, 12, 7, 10, 0, 0, TimeSpan.Zero), Seconds = 30, IntervalSeconds = 5 },
        };
        var report = Report(h.Server, Storm(TwoHosts.Ip3), Storm("10.42.0.99"));
        var hinted = FleetDiagnosis.WithClientWatchHints(report, Context((h.Server, report), (watched, Report(watched))));
        // The client's host is in the fleet and watched: its watch ran, the join named nobody.
        var onC = hinted.Findings[0].Evidence;
        Assert.Equal("1,200 connections in 60 s", onC[0]);
        Assert.StartsWith("c's own watch ran (30 s from 10:00:00 UTC) and the cross-host join named no process", onC[1]);
        Assert.DoesNotContain(FindingMerger.NoWatchHint, onC);
        // An address no document owns keeps the advice to run a watch there.
        Assert.Contains(FindingMerger.NoWatchHint, hinted.Findings[1].Evidence);
        // The client's document without a watch: the advice stands.
        var unwatched = FleetDiagnosis.WithClientWatchHints(report, Context((h.Server, report), (h.Client, Report(h.Client))));
        Assert.All(unwatched.Findings, f => Assert.Contains(FindingMerger.NoWatchHint, f.Evidence));
    }
}
