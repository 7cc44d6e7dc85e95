using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.Kernel;

/// <summary>
/// Real churn: a client that opens and closes 1,200 connections itself (TIME_WAIT on the client side) and
/// another whose connections the server closes first (TIME_WAIT on the server side, per client IP).
/// </summary>
public class TimeWaitKernelTests
{
    [Fact]
    public void TimeWaitPressureSeesWhoClosedFirstOnBothSides()
    {
        using var ns = new TestNetns("tw");
        ns.StartScenario("server", "--listen", "127.0.0.1:2181:drain", "--listen", "127.0.0.2:9006:close");
        // Holds one live connection to :2181 besides its churn: the only live suspect for that endpoint.
        var churner = ns.StartScenario("good", "--connect", "127.0.0.1:2181", "--count", "1", "--churn", "127.0.0.1:2181", "--cycles", "1200");
        ns.StartScenario("good", "--connect", "127.0.0.2:9006", "--count", "0", "--churn", "127.0.0.2:9006", "--cycles", "1100", "--wait-eof");

        // The last closes finish in softirq (FIN_WAIT2 -> TIME_WAIT), which can lag on a busy machine: let the table settle.
        var settle = DateTime.UtcNow.AddSeconds(10);
        var ss = SsOracle.StateCounts(ns);
        while (ss.GetValueOrDefault("TIME-WAIT") < 2300 && DateTime.UtcNow < settle)
        {
            Thread.Sleep(200);
            ss = SsOracle.StateCounts(ns);
        }
        Assert.Equal(2300, ss["TIME-WAIT"]);

        var r = CliRunner.Run("diagnose", "--json", "--netns", ns.Name, "--rule", "time-wait-pressure");
        Assert.True(r.Code == 0, r.Stderr);
        using var doc = r.Json();
        var findings = doc.RootElement.GetProperty("findings").EnumerateArray().ToList();
        Assert.Equal(2, findings.Count);

        var client = Assert.Single(findings, f => f.GetProperty("subject").TryGetProperty("remoteEndpoint", out var re) && re.GetString() == "127.0.0.1:2181");
        Assert.Equal("warning", client.GetProperty("severity").GetString());
        Assert.Equal(churner.Id, client.GetProperty("subject").GetProperty("pid").GetInt32());
        Assert.StartsWith("1200 TIME_WAIT towards 127.0.0.1:2181", client.GetProperty("summary").GetString());
        Assert.Contains("reconnect loop", client.GetProperty("cause").GetString());

        var server = Assert.Single(findings, f => f.GetProperty("subject").TryGetProperty("clientIp", out _));
        Assert.Equal("127.0.0.1", server.GetProperty("subject").GetProperty("clientIp").GetString()); // the source address lo picks
        Assert.StartsWith("1100 TIME_WAIT with client", server.GetProperty("summary").GetString());
        Assert.Contains("server keeps closing", server.GetProperty("summary").GetString());
        Assert.Equal("*:9006", server.GetProperty("subject").GetProperty("localEndpoint").GetString());
    }
}
