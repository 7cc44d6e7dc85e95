using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.Kernel;

/// <summary>
/// Two test hosts joined by a veth pair. The server's link goes down under established connections: the
/// client's data and keepalive probes go unanswered, as when a peer host vanishes.
/// </summary>
public class HalfOpenKernelTests
{
    [Fact]
    public void UnansweredRetransmitsAndProbesAreFlaggedWithTheOwner()
    {
        using var client = new TestNetns("hoc");
        using var server = new TestNetns("hos");
        var (_, vb) = TestNetns.Link(client, server, "10.213.0.1", "10.213.0.2");

        server.StartScenario("server", "--listen", "10.213.0.2:9100:hold");
        var stuck = client.StartScenario("stuck", "--connect", "10.213.0.2:9100");

        // Healthy first: nothing to say about fresh, answered connections.
        var before = CliRunner.Run("diagnose", "--json", "--netns", client.Name, "--rule", "half-open-suspect");
        using (var d = before.Json()) Assert.Empty(d.RootElement.GetProperty("findings").EnumerateArray());

        Shell.Run("ip", "-n", server.Name, "link", "set", vb, "down");
        stuck.StandardInput.WriteLine("go");
        stuck.StandardInput.Flush();

        // Retransmits back off 0.2, 0.4, 0.8 s...; keepalive probes go every second. Poll, bounded.
        System.Text.Json.JsonElement finding = default;
        var deadline = DateTime.UtcNow.AddSeconds(20);
        while (DateTime.UtcNow < deadline)
        {
            Thread.Sleep(500);
            var r = CliRunner.Run("diagnose", "--json", "--netns", client.Name, "--rule", "half-open-suspect");
            var doc = r.Json();
            var list = doc.RootElement.GetProperty("findings").EnumerateArray().ToList();
            if (list.Count == 1 && list[0].GetProperty("evidence").EnumerateArray().Count(e => e.GetString()!.Contains("unanswered") || e.GetString()!.Contains("retransmitted")) == 2)
            {
                finding = list[0].Clone();
                break;
            }
        }
        Assert.NotEqual(System.Text.Json.JsonValueKind.Undefined, finding.ValueKind);
        Assert.Equal("warning", finding.GetProperty("severity").GetString());
        Assert.Equal(stuck.Id, finding.GetProperty("subject").GetProperty("pid").GetInt32());
        Assert.Equal("10.213.0.2", finding.GetProperty("subject").GetProperty("remoteEndpoint").GetString());
        var evidence = finding.GetProperty("evidence").EnumerateArray().Select(e => e.GetString()!).ToList();
        Assert.Contains(evidence, e => e.Contains("keepalive probe(s) unanswered"));
        Assert.Contains(evidence, e => e.Contains("segment(s) unacked, retransmitted"));
        Assert.Contains($"\"conndoctor kill --state established --remote 10.213.0.2:9100 --pid {stuck.Id}", finding.GetProperty("remedy").GetString());
    }
}
