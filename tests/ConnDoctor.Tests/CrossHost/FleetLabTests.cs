using ConnDoctor.Model;
using ConnDoctor.Pipeline;

namespace ConnDoctor.Tests.CrossHost;

/// <summary>
/// The cross-host joins on the lab of <see cref="FleetLab"/> (three namespaces as hosts, a real ZooKeeper, the real
/// Java client of incident 000, kazoo): the server's reconnect storm is the culprit's pid on c1 with its own log's
/// exception; the healthy client and c2 are not blamed; the dead process's connections are proven half-open, and only
/// they; 10.41.3.1 at maxClientCnxns is broken down by process with the half-open ones.
/// </summary>
[Collection(InProcessTraceCollection.Name)]
public sealed class FleetLabTests(FleetLab lab) : IClassFixture<FleetLab>
{
    private FleetReport R => lab.Report;
    private string Label(LabHost h) => R.Hosts.Single(x => x.Identity!.Owns(NetAddress.TryParse(h.Addresses[0].Address, out var a) ? a : default)).Name;

    [Fact]
    public void TheServersLoopIsTheCulpritsPidOnC1WithItsOwnLogsException()
    {
        var f = Assert.Single(R.CrossHostFindings, x => x.RuleId == "address-to-process" && x.Subject.ClientIp == FleetLab.CulpritIp);
        Assert.Equal(lab.Culprit.Pid, f.Subject.Pid);
        Assert.Equal(Label(lab.C1), f.Subject.Host);
        Assert.True(f.Severity >= Severity.Warning, f.Summary);
        // Both hosts' evidence, each line saying whose: the server's log and c1's watch, then the culprit's own log.
        Assert.Contains(f.Parts, p => p.Host == Label(lab.Server) && p.Source.Contains("zklog"));
        Assert.Contains(f.Parts, p => p.Host == Label(lab.C1) && p.Source == "watch");
        var own = Assert.Single(f.Parts, p => p.Source == "app-log");
        Assert.Equal(Label(lab.C1), own.Host);
        Assert.Contains(own.Evidence, l => l.Contains("java.lang.NoClassDefFoundError: org/apache/zookeeper/proto/SetWatches") && l.Contains(lab.CulpritLog));
        var chain = Assert.Single(R.Story, c => c.RuleId == "address-to-process");
        Assert.StartsWith($"java[{lab.Culprit.Pid}]", chain.Process);
        Assert.Contains("SetWatches", chain.Cause);
        Assert.Contains(FleetLab.CulpritIp, chain.ClientHost);
        // One finding, not two: the server's storm and c1's own storm of that pid have left the host reports.
        Assert.DoesNotContain(R.Hosts.SelectMany(h => h.Report.Findings), x => x.RuleId == "reconnect-storm"
            && (x.Subject.ClientIp == FleetLab.CulpritIp || x.Subject.Pid == lab.Culprit.Pid));
    }

    [Fact]
    public void ThePortsTheServersOwnLogNamedAreTheCulpritsOnC1()
    {
        // The server's 3.8 log at INFO names each end of the loop's connections ("address = /10.41.2.1:PORT"); zklog keeps
        // the latest ones per IP and the join looks each up on c1. Every port it names is in the server's log (read here
        // with a regex, not the parser) and was a connection of the culprit's pid to the server in c1's watch.
        var f = Assert.Single(R.CrossHostFindings, x => x.RuleId == "address-to-process" && x.Subject.ClientIp == FleetLab.CulpritIp);
        var join = Assert.Single(f.Parts, p => p.Source == "join").Evidence;
        var named = join.Select(l => System.Text.RegularExpressions.Regex.Match(l, @"^port (\d+) named in the server log at \S+ \S+ was pid (\d+)'s \((socket table|TIME_WAIT|watch)\)$"))
            .Where(m => m.Success).ToList();
        Assert.NotEmpty(named);
        Assert.Contains(join, l => l.StartsWith($"java[{lab.Culprit.Pid}]") && l.Contains("of the client port(s)") && l.Contains("log named"));
        var logged = System.Text.RegularExpressions.Regex.Matches(File.ReadAllText(lab.Zk.InfoLog), @"address = /10\.41\.2\.1:(\d+)")
            .Select(m => int.Parse(m.Groups[1].Value)).ToHashSet();
        var watched = (lab.Documents[1].Watch?.Connections ?? []).Where(c => !c.Passive && c.Pid == lab.Culprit.Pid && c.Remote.Port == lab.Zk.Port)
            .Select(c => (int)c.Local.Port).ToHashSet();
        foreach (var m in named)
        {
            int port = int.Parse(m.Groups[1].Value);
            Assert.Contains(port, logged);
            Assert.Equal(lab.Culprit.Pid, int.Parse(m.Groups[2].Value));
            Assert.Contains(port, watched);
        }
    }

    [Fact]
    public void TheHealthyClientAndTheOtherHostAreNotBlamed()
    {
        var blamed = R.CrossHostFindings.Where(f => f.RuleId is "address-to-process" or "through-nat").ToList();
        Assert.DoesNotContain(blamed, f => f.Subject.Pid == lab.Healthy.Pid || f.Subject.ClientIp == FleetLab.HealthyIp);
        Assert.DoesNotContain(blamed, f => f.Subject.Host == Label(lab.C2));
        Assert.DoesNotContain(R.Story, c => c.Process != null && c.Process.Contains($"[{lab.Healthy.Pid}]"));
    }

    [Fact]
    public void OnlyTheDeadProcesssConnectionsAreProvenHalfOpenWithTheServersKillCommand()
    {
        var f = Assert.Single(R.CrossHostFindings, x => x.RuleId == "half-open-proven");
        Assert.Equal(FleetLab.C2Ip, f.Subject.RemoteEndpoint);
        Assert.Equal(Label(lab.Server), f.Subject.Host);
        Assert.Contains("3 connection(s)", f.Summary);
        var serverLines = Assert.Single(f.Parts, p => p.Host == Label(lab.Server)).Evidence;
        foreach (int port in lab.DeadPorts) Assert.Contains(serverLines, l => l.Contains($"<- {FleetLab.C2Ip}:{port} ESTABLISHED"));
        // The live holders' connections on the same address are not half-open.
        Assert.Equal(3, serverLines.Count(l => l.Contains("ESTABLISHED")));
        Assert.Contains($"conndoctor kill", f.Remedy);
        Assert.Contains($"--netns {lab.Server.Ns.Name}", f.Remedy);
        Assert.Contains(f.Parts, p => p.Host == Label(lab.C2) && p.Summary.Contains("has none of them"));
        Assert.Contains(R.Story, c => c.RuleId == "half-open-proven" && c.ClientHost!.Contains(FleetLab.C2Ip));
    }

    [Fact]
    public void TheAddressAtTheLimitIsBrokenDownByProcessWithTheHalfOpenOnes()
    {
        var f = Assert.Single(R.CrossHostFindings, x => x.RuleId == "limit-holders");
        Assert.Equal(FleetLab.C2Ip, f.Subject.ClientIp);
        var join = Assert.Single(f.Parts, p => p.Source == "join").Evidence;
        Assert.Contains(join, l => l.Contains($"[{lab.HolderA.Pid}] holds 3 connection(s)") && l.Contains($"[{lab.HolderB.Pid}] holds 2 connection(s)"));
        Assert.Contains(join, l => l.StartsWith("3 connection(s)") && l.Contains("half-open"));
        Assert.DoesNotContain(R.Hosts.SelectMany(h => h.Report.Findings), x => x.RuleId == "connection-limit" && x.Subject.ClientIp == FleetLab.C2Ip);
    }

    [Fact]
    public void TheClockSkewOfHostsThatSawOneConnectionIsReportedAndEveryHostIsInAJoin()
    {
        // One kernel, one clock: the skew measured from the healthy client's connection is near zero. The server's side
        // is ZooKeeper's `cons` est=, stamped by the JVM when its selector gets round to the connection: a few ms on a
        // quiet machine, measured at +1.07 s once at load 17 on 2 cores. Bounded at 1.5 s: a real skew estimate of hosts
        // in different time zones or without NTP is minutes or hours off.
        var skew = Assert.Single(R.Notes, n => n.StartsWith($"clock of {Label(lab.C1)} against {Label(lab.Server)}"));
        var m = System.Text.RegularExpressions.Regex.Match(skew, @": ([+-]\d+\.\d{3}) s \(median of \d+ connection");
        Assert.True(m.Success, skew);
        Assert.InRange(Math.Abs(double.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture)), 0, 1.5);
        Assert.DoesNotContain(R.Notes, n => n.Contains("in no join"));
        Assert.DoesNotContain(R.Notes, n => n.Contains("same host"));
        Assert.Equal(3, R.Hosts.Count);
        // Three documents of one hostname and boot id are three hosts, named by their addresses.
        Assert.Equal(3, R.Hosts.Select(h => h.Name).Distinct().Count());
        foreach (var h in new[] { lab.Server, lab.C1, lab.C2 }) Assert.Equal($"{Environment.MachineName}@{h.Addresses[0].Address}", Label(h));
    }

    [Fact]
    public void EachDocumentCarriesItsHostsIdentityAndTheCulpritsOwnLog()
    {
        // The identity is the product's (the namespace's interfaces as the kernel lists them), not the test's.
        foreach (var (doc, host) in lab.Documents.Zip(new[] { lab.Server, lab.C1, lab.C2 }))
        {
            Assert.NotNull(doc.Identity);
            Assert.All(host.Addresses, a => Assert.True(doc.Identity!.Owns(NetAddress.TryParse(a.Address, out var x) ? x : default), $"{host.Name} owns {a.Address}"));
            Assert.Equal(host.Ns.Name, Assert.Single(doc.Identity!.Namespaces).Netns);
            Assert.True(doc.Identity.CollectionEnd >= doc.Identity.CollectionStart);
        }
        Assert.False(lab.Documents[0].Identity!.Owns(NetAddress.TryParse(FleetLab.CulpritIp, out var c) ? c : default));
        // c1's document carries the churning culprit's log: the join that blames it is only made later, elsewhere.
        var own = Assert.Single(lab.Documents[1].AppLogs!.Processes, p => p.Pid == lab.Culprit.Pid);
        Assert.Contains(own.Patterns, p => p.Line.Contains("SetWatches") || p.Signature.Contains("SetWatches"));
        Assert.NotNull(lab.Documents[1].Watch);
        Assert.All(lab.CollectTimes, t => Assert.True(t < TimeSpan.FromSeconds(90), t.ToString()));
    }

    [Fact]
    public void TheBinarysDiagnoseFromTellsTheSameStoryInJsonAndOnTheTerminal()
    {
        using var d = System.Text.Json.JsonDocument.Parse(lab.Json);
        var root = d.RootElement;
        Assert.Equal(3, root.GetProperty("documents").GetInt32());
        Assert.Equal(3, root.GetProperty("hosts").GetArrayLength());
        var findings = root.GetProperty("crossHostFindings").EnumerateArray().ToList();
        var loop = Assert.Single(findings, f => f.GetProperty("ruleId").GetString() == "address-to-process");
        Assert.Equal(lab.Culprit.Pid, loop.GetProperty("subject").GetProperty("pid").GetInt32());
        Assert.Contains(findings, f => f.GetProperty("ruleId").GetString() == "half-open-proven");
        Assert.Contains(findings, f => f.GetProperty("ruleId").GetString() == "limit-holders");
        Assert.DoesNotContain(findings, f => f.GetProperty("subject").TryGetProperty("pid", out var pid) && pid.GetInt32() == lab.Healthy.Pid);
        var chain = Assert.Single(root.GetProperty("story").EnumerateArray(), c => c.GetProperty("ruleId").GetString() == "address-to-process");
        Assert.StartsWith($"java[{lab.Culprit.Pid}]", chain.GetProperty("process").GetString());
        Assert.Contains("SetWatches", chain.GetProperty("cause").GetString());
        // The same JSON as the typed report of the same files: the CLI and the in-process fleet diagnosis agree.
        Assert.Equal(lab.Report.CrossHostFindings.Select(f => f.RuleId).Order(), findings.Select(f => f.GetProperty("ruleId").GetString()!).Order());
        // The terminal report starts with the story: the culprit's pid and its log's cause.
        Assert.Contains($"java[{lab.Culprit.Pid}]", lab.Text);
        Assert.Contains("SetWatches", lab.Text);
        Assert.StartsWith("conndoctor diagnose --from: 3 host(s), 3 cross-host finding(s)", lab.Text);
        int story = lab.Text.IndexOf("story:", StringComparison.Ordinal), across = lab.Text.IndexOf("across hosts:", StringComparison.Ordinal);
        Assert.InRange(lab.Text.IndexOf($"java[{lab.Culprit.Pid}]", StringComparison.Ordinal), story, across);
    }
}
