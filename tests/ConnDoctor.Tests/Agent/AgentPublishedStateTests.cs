using System.Text;
using System.Text.Json;
using ConnDoctor.Agent;
using ConnDoctor.Agent.Http;
using ConnDoctor.Documents;
using ConnDoctor.Render;
using ConnDoctor.Sources;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.Agent;

/// <summary>
/// What the agent publishes after a collection, on a real namespace (a held CLOSE_WAIT leak beside held healthy
/// connections, at rest): without --serve-evidence the state drops the socket table, yet its /metrics socket series and
/// its /findings are those of an agent that keeps the table; with it, /evidence is collect's document with every socket
/// ss sees.
/// </summary>
public class AgentPublishedStateTests
{
    private const string Token = "published-state-test-token-0123456789";

    private static string SocketSeries(AgentState s) =>
        PrometheusRenderer.Render(s.Families.Where(f => f.Name == "conndoctor_tcp_sockets").ToList(), false);

    private static List<string> Findings(AgentState s) =>
        s.Report!.Findings.Select(f => $"{f.RuleId} {f.Severity} {f.Subject}").Order(StringComparer.Ordinal).ToList();

    private static HttpResponse Get(AgentEndpoints e, string path) =>
        e.Handle(new HttpRequest("GET", path, "", new Dictionary<string, string> { ["authorization"] = "Bearer " + Token }, false, null, false));

    [Fact]
    public void WithoutTheTableMetricsAndFindingsAreTheSameAndServedEvidenceHasEverySocket()
    {
        using var ns = new TestNetns("agentpub");
        var ports = Ports.Free(2);
        ns.StartScenario("server", "--listen", $"127.0.0.1:{ports[0]}:close", "--listen", $"127.0.0.1:{ports[1]}:hold");
        var leaky = ns.StartScenario("leaky", "--connect", $"127.0.0.1:{ports[0]}", "--count", "8");
        ns.StartScenario("good", "--connect", $"127.0.0.1:{ports[1]}", "--count", "3");
        AgentOptions Options(bool keep) => new()
        {
            Collect = new CollectOptions { Netns = ns.Name }, Interval = TimeSpan.FromSeconds(1), Window = TimeSpan.FromSeconds(30), KeepSocketTable = keep,
        };
        using var slim = new AgentLoop(Options(keep: false));
        using var full = new AgentLoop(Options(keep: true));
        Dictionary<string, int> table;
        for (int attempt = 0; ; attempt++)
        {
            var before = SsOracle.StateCounts(ns);
            // Two collections each: the second has a CLOSE_WAIT trend against the first's table.
            slim.Collect(CancellationToken.None);
            full.Collect(CancellationToken.None);
            slim.Collect(CancellationToken.None);
            full.Collect(CancellationToken.None);
            var after = SsOracle.StateCounts(ns);
            bool atRest = before.OrderBy(k => k.Key).SequenceEqual(after.OrderBy(k => k.Key)) && after.GetValueOrDefault("CLOSE-WAIT") == 8
                && after.GetValueOrDefault("ESTAB") == 6;
            if (!atRest && attempt < 10) { Thread.Sleep(500); continue; }
            Assert.True(atRest, "the scenario's sockets did not settle: " + string.Join(", ", after));
            table = after;
            break;
        }

        Assert.Empty(slim.State.Evidence.Sockets);
        Assert.Equal(table.Values.Sum(), full.State.Evidence.Sockets.Count);
        // The window's connection records too: kept for /evidence only; the rows (what the metrics and rules read) either way.
        Assert.Empty(slim.State.Evidence.Watch!.Connections);
        string series = SocketSeries(slim.State);
        Assert.Equal(SocketSeries(full.State), series);
        Assert.Contains($"state=\"close_wait\"", series);
        Assert.Equal(Findings(full.State), Findings(slim.State));
        Assert.Contains(Findings(slim.State), f => f.StartsWith("close-wait-leak ") && f.Contains($"[{leaky.Id}]"));

        // /findings of the slim state is the report; /evidence of the kept one is collect's document with every socket.
        var options = new AgentEndpointOptions { ServeEvidence = true, Token = Token, EvidenceWriter = (e, s) => EvidenceDocumentWriter.Write(e, s, redact: true) };
        var findings = Get(new AgentEndpoints(() => slim.State, options), "/findings");
        Assert.Equal(200, findings.Status);
        Assert.Contains("close-wait-leak", Encoding.UTF8.GetString(findings.Body));
        var evidence = Get(new AgentEndpoints(() => full.State, options), "/evidence");
        Assert.Equal(200, evidence.Status);
        using var doc = JsonDocument.Parse(evidence.Body);
        var sockets = doc.RootElement.GetProperty("sockets").EnumerateArray().ToList();
        Assert.Equal(table.Values.Sum(), sockets.Count);
        // A row is an array in socketColumns order; its state is the kernel's number.
        int state = doc.RootElement.GetProperty("socketColumns").EnumerateArray().Select(c => c.GetString()).ToList().IndexOf("state");
        Assert.Equal(8, sockets.Count(s => s[state].GetInt32() == (int)ConnDoctor.Model.TcpState.CloseWait));
    }
}
