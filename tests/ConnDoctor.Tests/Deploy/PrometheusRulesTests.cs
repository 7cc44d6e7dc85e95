using System.Text.RegularExpressions;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.Deploy;

/// <summary>
/// deploy/prometheus/conndoctor-rules.yml as shipped: Debian's promtool checks it and runs its unit tests
/// (deploy/prometheus/tests/*.yml); each alert's threshold moved off its tier must break those tests, so they
/// cannot pass whatever the rules say; every alert has a runbook section in docs/alerts.md.
/// </summary>
public class PrometheusRulesTests
{
    private static string RulesDir => RepoPaths.Of("deploy", "prometheus");
    private static string RulesFile => Path.Combine(RulesDir, "conndoctor-rules.yml");

    private static string Promtool
    {
        get
        {
            Assert.True(File.Exists("/usr/bin/promtool"), "promtool is missing (Debian's prometheus package): run scripts/setup.sh");
            return "/usr/bin/promtool";
        }
    }

    private static (int Code, string Out) RunUnitTests(string dir)
    {
        var tests = Directory.GetFiles(Path.Combine(dir, "tests"), "*.yml").Order().ToArray();
        Assert.NotEmpty(tests);
        var r = Shell.RunFull(Promtool, ["test", "rules", .. tests], check: false);
        return (r.Code, r.Stdout + r.Stderr);
    }

    [Fact]
    public void PromtoolChecksTheRulesClean()
    {
        var r = Shell.RunFull(Promtool, ["check", "rules", RulesFile], check: false);
        Assert.True(r.Code == 0, r.Stdout + r.Stderr);
        Assert.Matches(@"SUCCESS: \d+ rules found", r.Stdout);
    }

    [Fact]
    public void PromtoolUnitTestsPass()
    {
        var (code, output) = RunUnitTests(RulesDir);
        Assert.True(code == 0, output);
        Assert.DoesNotContain("FAILED", output);
    }

    /// <summary>One edit per alert that puts its threshold off its tier (or lets a healthy series through).</summary>
    public static TheoryData<string, string, string> Mutations => new()
    {
        { "reconnect storm at 25/s instead of 10/s", "{process!=\"other\"} >= 10\n", "{process!=\"other\"} >= 25\n" },
        { "reconnect storm without the short-lived test (a pool fires)", "unless on (instance, job, process, pod, remote_service)\n", "and on (instance, job, process, pod, remote_service)\n" },
        { "reconnect storm counting the 'other' aggregate", "rate1m{process!=\"other\"} >= 100", "rate1m >= 100" },
        { "CLOSE_WAIT at 20 instead of 10", "conndoctor:tcp_close_wait:sum{process!=\"other\"} >= 10\n", "conndoctor:tcp_close_wait:sum{process!=\"other\"} >= 20\n" },
        { "CLOSE_WAIT critical at 200 instead of 100", "conndoctor:tcp_close_wait:sum{process!=\"other\"} >= 100", "conndoctor:tcp_close_wait:sum{process!=\"other\"} >= 200" },
        { "TIME_WAIT at 20% instead of 10%", "port_share >= 0.10", "port_share >= 0.20" },
        { "TIME_WAIT without the 1000-socket floor", "(conndoctor:tcp_time_wait:sum >= 1000)", "(conndoctor:tcp_time_wait:sum >= 100000)" },
        { "maxClientCnxns at 90% instead of 80%", "limit_share >= 0.8", "limit_share >= 0.9" },
        { "maxClientCnxns=0 taken as a limit", "(conndoctor_zookeeper_max_client_cnxns > 0)", "(conndoctor_zookeeper_max_client_cnxns >= 0)" },
        { "session growth at 3/min instead of 1/min", "deriv(conndoctor_zookeeper_sessions[15m]) * 60 >= 1)", "deriv(conndoctor_zookeeper_sessions[15m]) * 60 >= 3)" },
        { "unread-data resets at 6 instead of 3", "increase(conndoctor_tcp_resets_total{reason=\"unread-data\"}[15m]) >= 3", "increase(conndoctor_tcp_resets_total{reason=\"unread-data\"}[15m]) >= 6" },
        { "unread-data resets counting every reason", "increase(conndoctor_tcp_resets_total{reason=\"unread-data\"}", "increase(conndoctor_tcp_resets_total{reason=~\".+\"}" },
        { "a source down at once instead of after 5 minutes", "expr: conndoctor_source_up == 0\n        for: 5m", "expr: conndoctor_source_up == 0\n        for: 0m" },
        { "the agent's finding ignored", "or conndoctor_finding{rule=\"reconnect-storm\", severity=\"warning\"}", "or conndoctor_finding{rule=\"none\", severity=\"warning\"}" },
    };

    [Theory]
    [MemberData(nameof(Mutations))]
    public void AThresholdOffItsTierFailsTheUnitTests(string what, string find, string replace)
    {
        string rules = File.ReadAllText(RulesFile);
        Assert.True(rules.Contains(find), $"{what}: '{find}' is no longer in the rules file: update the mutation");
        var dir = Directory.CreateTempSubdirectory("cd-rules-mutant").FullName;
        try
        {
            Directory.CreateDirectory(Path.Combine(dir, "tests"));
            File.WriteAllText(Path.Combine(dir, "conndoctor-rules.yml"), rules.Replace(find, replace));
            foreach (var f in Directory.GetFiles(Path.Combine(RulesDir, "tests"), "*.yml"))
                File.Copy(f, Path.Combine(dir, "tests", Path.GetFileName(f)));
            var check = Shell.RunFull(Promtool, ["check", "rules", Path.Combine(dir, "conndoctor-rules.yml")], check: false);
            Assert.True(check.Code == 0, $"{what}: the mutant itself must be valid: {check.Stdout}{check.Stderr}");
            var (code, output) = RunUnitTests(dir);
            Assert.True(code != 0, $"{what}: the unit tests still pass: they do not hold this threshold\n{output}");
            Assert.Contains("FAILED", output);
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void EveryAlertIsTestedAndHasARunbookSectionInTheDocs()
    {
        string rules = File.ReadAllText(RulesFile);
        var alerts = Regex.Matches(rules, @"- alert: (\w+)").Select(m => m.Groups[1].Value).Distinct().ToList();
        Assert.True(alerts.Count >= 7, string.Join(", ", alerts));
        string tests = string.Join("\n", Directory.GetFiles(Path.Combine(RulesDir, "tests"), "*.yml").Select(File.ReadAllText));
        string docs = File.ReadAllText(RepoPaths.Of("docs", "alerts.md"));
        var anchors = Regex.Matches(docs, @"^## (\w+)\s*$", RegexOptions.Multiline).Select(m => m.Groups[1].Value.ToLowerInvariant()).ToHashSet();
        foreach (var a in alerts)
        {
            Assert.True(Regex.IsMatch(tests, $@"alertname: {a}\s+exp_alerts:\s+- exp_labels:"), $"{a}: no test where it fires");
            Assert.True(anchors.Contains(a.ToLowerInvariant()), $"{a}: no '## {a}' section in docs/alerts.md");
        }
        foreach (Match m in Regex.Matches(rules, @"runbook_url: \S+#(\S+)"))
            Assert.True(anchors.Contains(m.Groups[1].Value), $"runbook_url anchor #{m.Groups[1].Value} has no section in docs/alerts.md");
        // Every rule in the file carries a severity the agent's findings also use.
        foreach (Match m in Regex.Matches(rules, @"severity: (\w+)\n"))
            Assert.Contains(m.Groups[1].Value, new[] { "warning", "critical" });
    }
}
