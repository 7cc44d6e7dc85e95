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

        // ss is the oracle for both sides. The counts are not exactly the cycles made: a client may reuse a port
        // whose reversed 4-tuple is in TIME_WAIT on the server, which then accepts the SYN in its place (RFC 6191).
        int clientTw = 0, serverTw = 0;
        var settle = DateTime.UtcNow.AddSeconds(10);
        do
        {
            Thread.Sleep(200);
            var lines = ns.Exec("ss", "-tanH", "state", "time-wait").Split('\n', StringSplitOptions.RemoveEmptyEntries);
            clientTw = lines.Count(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[^1] == "127.0.0.1:2181");
            serverTw = lines.Count(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[^2] == "127.0.0.2:9006");
        } while ((clientTw < 1200 || serverTw < 1100) && DateTime.UtcNow < settle);
        Assert.InRange(clientTw, 1150, 1200);
        Assert.InRange(serverTw, 1050, 1100);

        var r = CliRunner.Run("diagnose", "--json", "--netns", ns.Name, "--rule", "time-wait-pressure");
        Assert.True(r.Code == 0, r.Stderr);
        using var doc = r.Json();
        var findings = doc.RootElement.GetProperty("findings").EnumerateArray().ToList();
        Assert.Equal(2, findings.Count);

        var client = Assert.Single(findings, f => f.GetProperty("subject").TryGetProperty("remoteEndpoint", out var re) && re.GetString() == "127.0.0.1:2181");
        Assert.Equal("warning", client.GetProperty("severity").GetString());
        Assert.Equal(churner.Id, client.GetProperty("subject").GetProperty("pid").GetInt32());
        Assert.StartsWith($"{clientTw} TIME_WAIT towards 127.0.0.1:2181", client.GetProperty("summary").GetString());
        Assert.Contains("reconnect loop", client.GetProperty("cause").GetString());

        var server = Assert.Single(findings, f => f.GetProperty("subject").TryGetProperty("clientIp", out _));
        Assert.Equal("127.0.0.1", server.GetProperty("subject").GetProperty("clientIp").GetString()); // the source address lo picks
        Assert.StartsWith($"{serverTw} TIME_WAIT with client", server.GetProperty("summary").GetString());
        Assert.Contains("server keeps closing", server.GetProperty("summary").GetString());
        Assert.Equal("*:9006", server.GetProperty("subject").GetProperty("localEndpoint").GetString());
    }
}
