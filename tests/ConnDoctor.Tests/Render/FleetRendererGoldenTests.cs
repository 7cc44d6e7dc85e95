using System.Text;
using ConnDoctor.Model;
using ConnDoctor.Pipeline;
using ConnDoctor.Render;
using ConnDoctor.Tests.Html;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.Render;

/// <summary>
/// `diagnose --from`'s fleet report (the cross-host story first, then each cross-host finding with the host behind each
/// line, the notes, then each host's own report) at 80 columns and as JSON, for a fixed FleetReport of three hosts and
/// three joins, compared with reviewed golden files; rendering it twice gives the same bytes.
/// </summary>
public sealed class FleetRendererGoldenTests
{
    internal static FleetReport Report()
    {
        var r = HtmlReports.Fleet();
        var halfOpen = new Finding
        {
            RuleId = "half-open-proven", Severity = Severity.Warning,
            Subject = new FindingSubject { RemoteEndpoint = "10.0.0.7", LocalEndpoint = "10.0.0.1:2181", Host = "zk1" },
            Summary = "3 connection(s) from 10.0.0.7 on zk1 are half-open: c2 (10.0.0.7) has none of them",
            Cause = "The client's process died while its link was down: the server was never told.",
            Remedy = "conndoctor kill --netns host --remote 10.0.0.7 --local 10.0.0.1:2181",
            Parts =
            [
                new FindingPart("sockets", "zk1 holds 3 ESTABLISHED from 10.0.0.7", ["10.0.0.1:2181 <- 10.0.0.7:40001 ESTABLISHED", "10.0.0.1:2181 <- 10.0.0.7:40002 ESTABLISHED", "10.0.0.1:2181 <- 10.0.0.7:40003 ESTABLISHED"], "zk1"),
                new FindingPart("sockets", "c2 has none of them", ["no socket 10.0.0.7:4000x -> 10.0.0.1:2181 on c2"], "c2"),
            ],
        };
        var nat = new Finding
        {
            RuleId = "through-nat", Severity = Severity.Warning,
            Subject = new FindingSubject { Pid = 4242, Process = "python3", ClientIp = "10.0.0.9", RemoteEndpoint = "10.0.0.1:2181", Container = "pod shop/cart-7d9f cart", Host = "cart-pod" },
            Summary = "client 10.0.0.9 reconnects over and over (zk1): behind n1's NAT it is python3[4242] in pod shop/cart-7d9f cart (12 of 12 connection(s))",
            Cause = "The client connects and closes before a session exists.", Remedy = "On cart-pod, pod shop/cart-7d9f cart: restart it.",
            Parts =
            [
                new FindingPart("zklog", "1,204 connections from 10.0.0.9 in 5 min", ["1,204 connection(s) from 10.0.0.9, 98% without a session"], "zk1"),
                new FindingPart("conntrack", "behind n1's NAT: python3[4242]", ["10.0.0.9 is n1, which translates its pods' sources: 12 conntrack entr(ies) towards zk1 from it",
                    "pod address 10.244.1.5 (pod shop/cart-7d9f cart) on cart-pod: python3[4242], 12 connection(s) (12 TIME_WAIT), e.g. 10.244.1.5:40112"], "n1"),
            ],
        };
        // As the cross-host rules give them: each part's lines flattened with the host and source they came from.
        nat = nat with { Evidence = ConnDoctor.Rules.CrossHost.CrossHostFacts.Flatten(nat.Parts) };
        halfOpen = halfOpen with { Evidence = ConnDoctor.Rules.CrossHost.CrossHostFacts.Flatten(halfOpen.Parts) };
        return r with
        {
            CrossHostFindings = [.. r.CrossHostFindings, nat, halfOpen],
            Story = [.. r.Story, new CrossHostChain
            {
                RuleId = "half-open-proven", Severity = Severity.Warning, Server = "zk1 10.0.0.1:2181", Seen = "3 ESTABLISHED from 10.0.0.7", ClientHost = "c2 (10.0.0.7)",
            }],
            Notes = [.. r.Notes, "clock of c1 against zk1: +0.004 s (median of 3 connection(s))"],
        };
    }

    private static string Text(FleetReport r)
    {
        var sw = new StringWriter { NewLine = "\n" };
        FleetTerminalRenderer.Render(r, sw, new OutputOptions { Width = 80 });
        return sw.ToString();
    }

    private static string Json(FleetReport r)
    {
        var ms = new MemoryStream();
        FleetJsonRenderer.Render(r, ms);
        return Encoding.UTF8.GetString(ms.ToArray());
    }

    [Fact]
    public void TheFleetTerminalReportMatchesItsGoldenFile()
    {
        var r = Report();
        string text = Text(r);
        Assert.Equal(text, Text(r));
        Fixtures.AssertGolden("fleet.txt", text);
    }

    [Fact]
    public void TheFleetJsonReportMatchesItsGoldenFile()
    {
        var r = Report();
        string json = Json(r);
        Assert.Equal(json, Json(r));
        using var d = System.Text.Json.JsonDocument.Parse(json);
        Assert.Equal(2, d.RootElement.GetProperty("hosts").GetArrayLength());
        Fixtures.AssertGolden("fleet.json", json);
    }
}
