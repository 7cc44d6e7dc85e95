using System.Text.Json;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.Kernel;

/// <summary>The live socket table of a namespace the test made, checked against ss on the same namespace.</summary>
public class SocketTableTests(ScenarioFixture f) : IClassFixture<ScenarioFixture>
{
    private static Dictionary<string, int> Counts(JsonDocument doc) =>
        doc.RootElement.GetProperty("counts").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetInt32());

    /// <summary>ss before and after ours must agree (the table is at rest), and ours must equal it.</summary>
    private void AssertCountsAgreeWithSs(params string[] args)
    {
        for (int attempt = 0; ; attempt++)
        {
            var before = SsOracle.StateCounts(f.Ns);
            var r = CliRunner.Run(["sockets", "--json", .. args]);
            Assert.True(r.Code == 0, r.Stderr);
            var after = SsOracle.StateCounts(f.Ns);
            if (!before.OrderBy(k => k.Key).SequenceEqual(after.OrderBy(k => k.Key)) && attempt < 3) continue;
            using var doc = r.Json();
            Assert.Equal(before.OrderBy(k => k.Key), Counts(doc).OrderBy(k => k.Key));
            Assert.Equal(ScenarioFixture.LeakyCount, before["CLOSE-WAIT"]);
            return;
        }
    }

    [Fact] public void NetlinkCountsPerStateAgreeWithSs() => AssertCountsAgreeWithSs("--netns", f.Ns.Name, "--source", "netlink");
    [Fact] public void ProcFallbackCountsPerStateAgreeWithSs() => AssertCountsAgreeWithSs("--netns", f.Ns.Name, "--source", "proc");
    [Fact] public void NamespaceGivenAsProcPidPathReadsTheSameTable() => AssertCountsAgreeWithSs("--netns", $"/proc/{f.Leaky.Id}/ns/net");

    [Fact]
    public void ProcessJoinAgreesWithSsP()
    {
        var expected = SsOracle.Owners(f.Ns);
        var r = CliRunner.Run("sockets", "--json", "--group-by", "none", "--netns", f.Ns.Name);
        using var doc = r.Json();
        var ours = new HashSet<(string, string, int)>();
        foreach (var s in doc.RootElement.GetProperty("sockets").EnumerateArray())
        {
            if (!s.TryGetProperty("owners", out var owners)) continue;
            // ss prints a wildcard IPv6 listener as "*:port" and its peer as "[::]:*"/"0.0.0.0:*"; compare connected sockets only.
            if (s.GetProperty("state").GetString() == "LISTEN") continue;
            foreach (var o in owners.EnumerateArray())
                ours.Add((s.GetProperty("local").GetString()!, s.GetProperty("remote").GetString()!, o.GetProperty("pid").GetInt32()));
        }
        var ssConnected = expected.Where(e => !e.Peer.EndsWith(":*")).ToHashSet();
        Assert.Equal(ssConnected.OrderBy(x => x), ours.OrderBy(x => x));
        Assert.Contains(ours, o => o.Item3 == f.Leaky.Id);
        Assert.Contains(ours, o => o.Item3 == f.Good.Id && o.Item1.StartsWith("[::1]"));
    }

    [Fact]
    public void NetlinkAndProcBackendsDecodeTheSameSockets()
    {
        static HashSet<string> Keys(CliRunner.Result r)
        {
            using var doc = r.Json();
            return doc.RootElement.GetProperty("sockets").EnumerateArray()
                .Where(s => s.GetProperty("state").GetString() != "TIME-WAIT") // timers tick between the two reads
                .Select(s => string.Join('|', s.GetProperty("state"), s.GetProperty("local"), s.GetProperty("remote"),
                    s.GetProperty("inode"), s.GetProperty("uid"), s.GetProperty("recvQ"),
                    // A listener's Send-Q is its backlog limit in sock_diag; /proc/net/tcp does not carry it.
                    s.GetProperty("state").GetString() == "LISTEN" ? "-" : s.GetProperty("sendQ").ToString(),
                    s.TryGetProperty("owners", out var o) ? o[0].GetProperty("pid").GetInt32() : 0))
                .ToHashSet();
        }
        var netlink = Keys(CliRunner.Run("sockets", "--json", "--group-by", "none", "--netns", f.Ns.Name, "--source", "netlink"));
        var proc = Keys(CliRunner.Run("sockets", "--json", "--group-by", "none", "--netns", f.Ns.Name, "--source", "proc"));
        Assert.Equal(netlink.Order(), proc.Order());
    }

    [Fact]
    public void AllNetnsFindsTheTestNamespaceAndLabelsItsSockets()
    {
        var ss = SsOracle.StateCounts(f.Ns);
        var r = CliRunner.Run("sockets", "--json", "--group-by", "none", "--all-netns");
        Assert.True(r.Code == 0, r.Stderr);
        using var doc = r.Json();
        Assert.Contains(doc.RootElement.GetProperty("namespaces").EnumerateArray(), n => n.GetProperty("label").GetString() == f.Ns.Name);
        var ours = doc.RootElement.GetProperty("sockets").EnumerateArray()
            .Where(s => s.TryGetProperty("netns", out var n) && n.GetString() == f.Ns.Name)
            .GroupBy(s => s.GetProperty("state").GetString()!).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(ss.OrderBy(k => k.Key), ours.OrderBy(k => k.Key));
        // The leaky client's CLOSE_WAIT carry its pid and the namespace label.
        var leaky = doc.RootElement.GetProperty("sockets").EnumerateArray()
            .Where(s => s.GetProperty("state").GetString() == "CLOSE-WAIT" && s.TryGetProperty("owners", out var o) && o[0].GetProperty("pid").GetInt32() == f.Leaky.Id).ToList();
        Assert.Equal(ScenarioFixture.LeakyCount, leaky.Count);
        Assert.All(leaky, s => Assert.Equal(f.Ns.Name, s.GetProperty("netns").GetString()));
    }

    [Fact]
    public void DefaultViewGroupsByProcessAndRemoteWithPortNames()
    {
        var r = CliRunner.Run("sockets", "--netns", f.Ns.Name);
        Assert.Equal(0, r.Code);
        var leakyRow = r.Stdout.Split('\n').Single(l => l.Contains($"[{f.Leaky.Id}]"));
        Assert.Contains("-> 127.0.0.1:9001", leakyRow);
        Assert.Matches($@"\s-\s+{ScenarioFixture.LeakyCount}\s+-\s+-", leakyRow);   // ESTAB -, CLOSE-W 12
        Assert.Contains(r.Stdout.Split('\n'), l => l.Contains($"[{f.Good.Id}]") && l.Contains("127.0.0.1:8080 http-alt"));
        Assert.Contains(r.Stdout.Split('\n'), l => l.TrimStart().StartsWith("(no owner)") && l.Contains("-> 127.0.0.1:9003"));
        Assert.All(r.Stdout.Split('\n'), l => Assert.True(l.Length <= 80, l));
    }

    [Fact]
    public void PidAndStateFiltersSelectExactlyTheLeakersSockets()
    {
        var r = CliRunner.Run("sockets", "--json", "--group-by", "none", "--netns", f.Ns.Name, "--pid", f.Leaky.Id.ToString());
        using var doc = r.Json();
        var states = doc.RootElement.GetProperty("sockets").EnumerateArray().Select(s => s.GetProperty("state").GetString()).ToList();
        Assert.Equal(Enumerable.Repeat("CLOSE-WAIT", ScenarioFixture.LeakyCount), states);
    }

    [Fact]
    public void DiagnoseNamesTheCloseWaitHolderAndLeavesTheGoodProcessAlone()
    {
        var r = CliRunner.Run("diagnose", "--json", "--netns", f.Ns.Name);
        Assert.True(r.Code == 0, r.Stderr);
        using var doc = r.Json();
        var findings = doc.RootElement.GetProperty("findings").EnumerateArray().ToList();
        var leak = Assert.Single(findings, x => x.GetProperty("ruleId").GetString() == "close-wait-leak");
        Assert.Equal(f.Leaky.Id, leak.GetProperty("subject").GetProperty("pid").GetInt32());
        Assert.Equal("warning", leak.GetProperty("severity").GetString());
        Assert.Equal(f.Ns.Name, leak.GetProperty("subject").GetProperty("netns").GetString());
        foreach (var x in findings.Where(x => x.GetProperty("severity").GetString() != "info"))
        {
            var pid = x.GetProperty("subject").TryGetProperty("pid", out var p) ? p.GetInt32() : 0;
            Assert.NotEqual(f.Good.Id, pid);
            Assert.NotEqual(f.Server.Id, pid);
        }
        Assert.Equal(1, findings.Count(x => x.GetProperty("severity").GetString() != "info"));
    }

    [Fact]
    public void FailOnWarningExitsThree()
    {
        Assert.Equal(3, CliRunner.Run("diagnose", "--netns", f.Ns.Name, "--fail-on", "warning").Code);
        Assert.Equal(0, CliRunner.Run("diagnose", "--netns", f.Ns.Name, "--fail-on", "critical").Code);
    }
}
