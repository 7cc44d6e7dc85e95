using System.Text;
using System.Text.Json;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.Agent;

/// <summary>
/// The agent's /evidence is collect's document: two real agents watching two test namespaces, each with a held
/// CLOSE_WAIT leak and held healthy connections (a static scenario), read by `diagnose --from URL URL --token-file`,
/// give per host the findings (rule ids, severities, subjects) that `collect` files taken there at about the same
/// time give; each document carries the host identity of its window; without the token it is one clear refusal.
/// </summary>
public class AgentEvidenceFromTests
{
    private static string Temp(string suffix) => Path.Combine(Path.GetTempPath(), $"cd-agentfrom-{Environment.ProcessId}-{Guid.NewGuid():N}{suffix}");

    /// <summary>Each host's findings from `diagnose --from ... --json` (the fleet document's `hosts`, in --from order), then the cross-host ones.</summary>
    private static List<List<string>> HostFindings(string json)
    {
        using var d = JsonDocument.Parse(json);
        static List<string> Of(JsonElement findings) => findings.EnumerateArray()
            .Select(f => $"{f.GetProperty("ruleId").GetString()} {f.GetProperty("severity").GetString()} {f.GetProperty("subject")}")
            .Order().ToList();
        var hosts = d.RootElement.GetProperty("hosts").EnumerateArray().Select(h => Of(h.GetProperty("findings"))).ToList();
        hosts.Add(Of(d.RootElement.GetProperty("crossHostFindings")));
        return hosts;
    }

    [Fact]
    public void DiagnoseFromTwoAgentsGivesTheFindingsOfCollectFilesAndRefusesWithoutTheToken()
    {
        string token = Temp(".token");
        File.WriteAllText(token, "agent-from-test-token-0123456789\n");
        var namespaces = new List<TestNetns>();
        var agents = new List<AgentProcess>();
        var docs = new List<string>();
        try
        {
            var leakers = new List<int>();
            for (int i = 0; i < 2; i++)
            {
                var ns = new TestNetns($"afrom{i}");
                namespaces.Add(ns);
                var ports = Ports.Free(2);
                ns.StartScenario("server", "--listen", $"127.0.0.1:{ports[0]}:close", "--listen", $"127.0.0.1:{ports[1]}:hold");
                leakers.Add(ns.StartScenario("leaky", "--connect", $"127.0.0.1:{ports[0]}", "--count", $"{8 + 4 * i}").Id);
                ns.StartScenario("good", "--connect", $"127.0.0.1:{ports[1]}", "--count", "2");
                agents.Add(new AgentProcess(["--netns", ns.Name, "--interval", "2s", "--window", "20s", "--serve-evidence", "--token-file", token]));
            }
            // Each agent has collected past the leak (its finding is a series) before the documents are taken.
            for (int i = 0; i < 2; i++)
            {
                int pid = leakers[i];
                agents[i].WaitMetrics(t => AgentProcess.Samples(t, "conndoctor_finding", ("rule", "close-wait-leak")).Any(f => f.Labels["subject"].Contains($"[{pid}]")), seconds: 90);
            }
            for (int i = 0; i < 2; i++)
            {
                string doc = Temp(".json.gz");
                docs.Add(doc);
                var c = CliRunner.Run("collect", "--netns", namespaces[i].Name, "--output", doc);
                Assert.True(c.Code == 0, c.Stderr);
            }
            var urls = agents.Select(a => a.Url("/evidence")).ToArray();
            var fromAgents = CliRunner.Run(["diagnose", "--json", "--from", .. urls, "--token-file", token]);
            var fromFiles = CliRunner.Run(["diagnose", "--json", "--from", .. docs]);
            Assert.True(fromAgents.Code is 0 or 2 or 3, fromAgents.Stderr);
            Assert.True(fromFiles.Code is 0 or 2 or 3, fromFiles.Stderr);
            var a = HostFindings(fromAgents.Stdout);
            var f = HostFindings(fromFiles.Stdout);
            Assert.Equal(3, a.Count); // two hosts, then the cross-host findings
            Assert.Equal(f, a);
            for (int i = 0; i < 2; i++) Assert.Contains(a[i], x => x.StartsWith("close-wait-leak ") && x.Contains($"\"pid\": {leakers[i]},"));

            // The agent's document names its host and the namespace's addresses, with the window as the collection's span.
            var (status, body, _) = agents[0].Get("/evidence", ("Authorization", "Bearer agent-from-test-token-0123456789"));
            Assert.Equal(200, status);
            using var raw = JsonDocument.Parse(body);
            var identity = raw.RootElement.GetProperty("identity");
            Assert.Equal(Environment.MachineName, identity.GetProperty("hostname").GetString());
            Assert.Equal(namespaces[0].Name, Assert.Single(identity.GetProperty("namespaces").EnumerateArray()).GetProperty("netns").GetString());
            Assert.True(identity.GetProperty("collectionStart").GetDateTimeOffset() < identity.GetProperty("collectionEnd").GetDateTimeOffset());
            Assert.Contains(raw.RootElement.GetProperty("statuses").EnumerateArray(), s => s.GetProperty("source").GetString() == "app-logs");

            // Without the token: refused, one line, exit 1.
            var refused = CliRunner.Run(["diagnose", "--from", urls[0]]);
            Assert.Equal(1, refused.Code);
            Assert.Equal("", refused.Stdout);
            Assert.Single(refused.Stderr.Trim().Split('\n'));
            Assert.Contains("401", refused.Stderr);
        }
        finally
        {
            foreach (var a in agents) a.Dispose();
            foreach (var ns in namespaces) ns.Dispose();
            foreach (var d in docs) File.Delete(d);
            File.Delete(token);
        }
    }
}
