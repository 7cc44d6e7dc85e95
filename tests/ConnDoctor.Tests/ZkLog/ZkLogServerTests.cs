using System.Text.Json;
using System.Text.RegularExpressions;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.ZkLog;

/// <summary>A real ZooKeeper 3.8 server, real clients with known behaviour, and the analysis of the server's real log.</summary>
public partial class ZkLogServerTests
{
    private static JsonElement Client(JsonDocument doc, string ip) =>
        doc.RootElement.GetProperty("clients").EnumerateArray().Single(c => c.GetProperty("ip").GetString() == ip);

    private static long L(JsonElement e, string name) => e.GetProperty(name).GetInt64();

    [Fact]
    public void CountsPerClientAreExactlyWhatTheClientsDid()
    {
        using var zk = new ZooKeeperServer();
        zk.Client("nosession", "--source", "127.0.0.2", "--count", "25");
        zk.Client("sessions", "--source", "127.0.0.3", "--count", "4");
        zk.FourLetter("srvr");
        Thread.Sleep(1000); // the server logs a close after the client's FIN arrives

        // The default level (3.5+ INFO): accepts are not logged; each hang-up is an end of stream with session 0x0.
        var info = CliRunner.Run("zklog", "--json", zk.InfoLog);
        Assert.True(info.Code == 0, info.Stderr);
        using (var doc = info.Json())
        {
            Assert.False(doc.RootElement.GetProperty("acceptsLogged").GetBoolean());
            var storm = Client(doc, "127.0.0.2");
            Assert.Equal(25, L(storm, "endOfStreamNoSession"));
            Assert.Equal(0, L(storm, "endOfStreamWithSession"));
            Assert.Equal(25, L(storm, "connections"));
            Assert.Equal(1.0, storm.GetProperty("shareWithoutSession").GetDouble());
            var normal = doc.RootElement.GetProperty("clients").EnumerateArray().SingleOrDefault(c => c.GetProperty("ip").GetString() == "127.0.0.3");
            if (normal.ValueKind != JsonValueKind.Undefined) Assert.Equal(0, L(normal, "endOfStreamNoSession"));
            Assert.True(L(Client(doc, "127.0.0.1"), "fourLetterWords") >= 1); // srvr, plus the fixture's ruok polls
            Assert.DoesNotContain(doc.RootElement.GetProperty("findings").EnumerateArray(), f => f.GetProperty("subject").TryGetProperty("clientIp", out var ip) && ip.GetString() == "127.0.0.1");
            Assert.Equal(0, doc.RootElement.GetProperty("unrecognisedLines").GetInt64());
        }

        // DEBUG shows every accept, session and close.
        var debug = CliRunner.Run("zklog", "--json", zk.DebugLog);
        using (var doc = debug.Json())
        {
            Assert.True(doc.RootElement.GetProperty("acceptsLogged").GetBoolean());
            var storm = Client(doc, "127.0.0.2");
            Assert.Equal((25, 25, 25, 0, 0), (L(storm, "accepted"), L(storm, "closedNoSession"), L(storm, "endOfStreamNoSession"), L(storm, "sessionsEstablished"), L(storm, "closedWithSession")));
            var normal = Client(doc, "127.0.0.3");
            Assert.Equal((4, 4, 4, 4, 0), (L(normal, "accepted"), L(normal, "sessionAttempts"), L(normal, "sessionsEstablished"), L(normal, "closedWithSession"), L(normal, "closedNoSession")));
            Assert.Equal(0, doc.RootElement.GetProperty("unrecognisedLines").GetInt64());
        }
    }

    [Fact]
    public void RefusalsAtASmallMaxClientCnxnsAreCountedAsTheServerWroteThem()
    {
        using var zk = new ZooKeeperServer(maxClientCnxns: 5);
        zk.Client("hold", "--source", "127.0.0.4", "--count", "5", "--extra", "8", "--gap", "0.06");
        zk.Client("hold", "--source", "127.0.0.4", "--count", "5", "--extra", "2", "--gap", "0.3");
        Thread.Sleep(500);

        // Oracle: the refusals the server wrote, read with a plain regex ("Message:..." = 1, "[N times] Message: ..." = N).
        long written = 0;
        foreach (var line in File.ReadLines(zk.InfoLog).Where(l => l.Contains("Too many connections from /127.0.0.4 - max is 5")))
            written += TimesRegex().Match(line) is { Success: true } m ? long.Parse(m.Groups[1].Value) : 1;
        Assert.InRange(written, 2, 10); // 10 were refused; the rate limiter holds back some and never writes the last ones

        var r = CliRunner.Run("zklog", "--json", zk.InfoLog);
        using var doc = r.Json();
        var c = Client(doc, "127.0.0.4");
        Assert.Equal(written, L(c, "refused"));
        Assert.Equal(5, L(c, "maxClientCnxns"));
        var finding = doc.RootElement.GetProperty("findings").EnumerateArray().Single(f => f.GetProperty("ruleId").GetString() == "connection-limit");
        Assert.Equal("127.0.0.4", finding.GetProperty("subject").GetProperty("clientIp").GetString());
        Assert.Contains("maxClientCnxns=5", finding.GetProperty("summary").GetString());
    }

    [GeneratedRegex(@"\[(\d+) times\] Message: ")]
    private static partial Regex TimesRegex();
}
