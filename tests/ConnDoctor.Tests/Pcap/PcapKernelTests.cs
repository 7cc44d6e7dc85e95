using System.Text.Json;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.Pcap;

/// <summary>
/// Captures made here with tcpdump, between two test-made namespaces joined by a veth pair (client 10.214.0.1,
/// server 10.214.0.2), read back with conndoctor pcap and checked against what happened and against tshark.
/// </summary>
public class PcapKernelTests
{
    private const string Client = "10.214.0.1", Server = "10.214.0.2";

    private static (TestNetns Client, TestNetns Server) Hosts(string tag)
    {
        var c = new TestNetns(tag + "c");
        var s = new TestNetns(tag + "s");
        TestNetns.Link(c, s, Client, Server);
        return (c, s);
    }

    private static string Veth(TestNetns ns) => ns.Exec("ip", "-o", "link", "show", "type", "veth").Split(':')[1].Trim().Split('@')[0];

    private static JsonElement Pair(JsonDocument d, string server) =>
        d.RootElement.GetProperty("pairs").EnumerateArray().Single(p => p.GetProperty("server").GetString() == server);

    [Fact]
    public void UnreadDataRefusedAndStormAreNamedAndNormalTrafficIsQuiet()
    {
        var (client, server) = Hosts("pk");
        using var _c = client;
        using var _s = server;
        using var cap = new Tcpdump(client, Veth(client), "-s", "200");
        server.StartScenario("server", "--listen", $"{Server}:8080:hold", "--listen", $"{Server}:9003:drain");
        server.StartScenario("bulk", "--listen", $"{Server}:9200", "--bytes", (8 << 20).ToString());
        client.StartScenario("chat", "--connect", $"{Server}:8080", "--count", "3", "--cycles", "20");
        client.StartScenario("fetch", "--connect", $"{Server}:9200", "--read", "100"); // reads 100 bytes, stops reading for 1 s, closes
        client.StartScenario("refused", "--connect", $"{Server}:9300");
        client.StartScenario("good", "--connect", $"{Server}:8080", "--count", "1", "--churn", $"{Server}:9003", "--cycles", "300");
        var file = cap.Stop();

        var r = CliRunner.Run("pcap", file, "--json");
        Assert.True(r.Code == 0, r.Stderr);
        using var d = r.Json();
        var findings = d.RootElement.GetProperty("findings").EnumerateArray().ToList();
        JsonElement Finding(string rule, string server) => findings.Single(f => f.GetProperty("ruleId").GetString() == rule &&
            f.GetProperty("subject").GetProperty("remoteEndpoint").GetString() == server);

        // 8 MB offered, 100 bytes read, a second without reading (the server fills the client's window), then close():
        // the client's kernel resets, and the client is named as the sender. (A client that closes at once may reset
        // before the server's next bytes are on the wire: then the capture cannot tell it from a linger-0 close.)
        var unread = Finding("unread-data-reset", $"{Server}:9200");
        Assert.Equal(Client, unread.GetProperty("subject").GetProperty("clientIp").GetString());
        Assert.StartsWith($"client {Client} reset 1 connection(s)", unread.GetProperty("summary").GetString());
        Assert.Equal(1, Pair(d, $"{Server}:9200").GetProperty("resetsByClient").GetProperty("unread-data").GetInt32());

        Assert.Equal(1, Pair(d, $"{Server}:9300").GetProperty("resets").GetProperty("refused").GetInt32());
        Finding("refused-storm", $"{Server}:9300");

        var storm = Finding("reconnect-storm", $"{Server}:9003");
        Assert.True(storm.GetProperty("severity").GetString() == "warning", storm.ToString());
        Assert.True(Pair(d, $"{Server}:9003").GetProperty("closedFirstBy").GetProperty("client").GetInt32() >= 290);

        // The request/response connections beside them: counted, never reset, nothing at warning or above about them.
        var chat = Pair(d, $"{Server}:8080");
        Assert.Equal(4, chat.GetProperty("connections").GetInt32());
        Assert.All(chat.GetProperty("resets").EnumerateObject(), kv => Assert.Equal(0, kv.Value.GetInt32()));
        Assert.DoesNotContain(findings, f => f.GetProperty("severity").GetString() != "info" && f.GetProperty("ruleId").GetString() != "reconnect-storm");

        // tshark as the oracle: the same TCP conversations and RST packets.
        var capture = d.RootElement.GetProperty("capture");
        Assert.Equal(TsharkOracle.Conversations(file), capture.GetProperty("connections").GetInt32());
        Assert.Equal(TsharkOracle.Resets(file), capture.GetProperty("rstPackets").GetInt32());
    }

    /// <summary>
    /// Four ways a client ends a connection with RST, as real sockets do them: it reads a 20 KB reply to the end and
    /// closes with SO_LINGER 0; it reads 100 bytes of the same reply and closes (the rest, all acknowledged, unread);
    /// it reads 100 bytes of 8 MB, stops reading and closes; it closes with SO_LINGER 0 having received nothing.
    /// </summary>
    [Fact]
    public void ResetClassesComeFromAcknowledgementsNotTiming()
    {
        var (client, server) = Hosts("pr");
        using var _c = client;
        using var _s = server;
        using var cap = new Tcpdump(client, Veth(client), "-s", "200");
        server.StartScenario("server", "--listen", $"{Server}:8081:reply", "--listen", $"{Server}:8083:reply", "--listen", $"{Server}:8082:hold", "--bytes", "20000");
        server.StartScenario("bulk", "--listen", $"{Server}:9200", "--bytes", (8 << 20).ToString());
        client.StartScenario("fetch", "--connect", $"{Server}:8081", "--read", "20000", "--linger0");
        client.StartScenario("fetch", "--connect", $"{Server}:8083", "--read", "100");
        client.StartScenario("fetch", "--connect", $"{Server}:9200", "--read", "100"); // reads 100 bytes, stops reading for 1 s, closes
        client.StartScenario("fetch", "--connect", $"{Server}:8082", "--read", "0", "--no-request", "--linger0");
        var file = cap.Stop();

        var r = CliRunner.Run("pcap", file, "--json");
        Assert.True(r.Code == 0, r.Stderr);
        using var d = r.Json();
        int Resets(string port, string cls) => Pair(d, $"{Server}:{port}").GetProperty("resetsByClient").GetProperty(cls).GetInt32();
        // Read everything then SO_LINGER 0, and left 19.9 KB unread in the buffer: every byte acknowledged either way, one class.
        Assert.Equal(1, Resets("8081", "unread-or-linger"));
        Assert.Equal(1, Resets("8083", "unread-or-linger"));
        Assert.Equal(20000, Pair(d, $"{Server}:8081").GetProperty("bytesToClient").GetInt32());
        // The 8 MB server had more to send than the client took: certain.
        Assert.Equal(1, Resets("9200", "unread-data"));
        // Nothing received, nothing unread: an abort.
        Assert.Equal(1, Resets("8082", "abortive"));

        var findings = d.RootElement.GetProperty("findings").EnumerateArray().Where(f => f.GetProperty("ruleId").GetString() == "unread-data-reset").ToList();
        var acked = findings.Single(f => f.GetProperty("subject").GetProperty("remoteEndpoint").GetString() == $"{Server}:8081");
        Assert.Equal("info", acked.GetProperty("severity").GetString());
        Assert.Contains("the capture cannot tell which", acked.GetProperty("summary").GetString());
        Assert.DoesNotContain("still sending", acked.ToString());
        Assert.Single(findings, f => f.GetProperty("subject").GetProperty("remoteEndpoint").GetString() == $"{Server}:9200");

        var capture = d.RootElement.GetProperty("capture");
        Assert.Equal(TsharkOracle.Conversations(file), capture.GetProperty("connections").GetInt32());
        Assert.Equal(TsharkOracle.Resets(file), capture.GetProperty("rstPackets").GetInt32());
    }

    [Fact]
    public void NormalTrafficAloneRaisesNothing()
    {
        using var ns = new TestNetns("pn");
        using var cap = new Tcpdump(ns, "lo");
        ns.StartScenario("server", "--listen", "127.0.0.1:8080:hold", "--listen", "[::1]:8080:hold");
        ns.StartScenario("chat", "--connect", "127.0.0.1:8080", "--count", "20", "--cycles", "10");
        ns.StartScenario("chat", "--connect", "[::1]:8080", "--count", "5", "--cycles", "10");
        var file = cap.Stop();

        var r = CliRunner.Run("pcap", file, "--json", "--fail-on", "warning");
        Assert.True(r.Code == 0, r.Stdout + r.Stderr);
        using var d = r.Json();
        Assert.Empty(d.RootElement.GetProperty("findings").EnumerateArray());
        Assert.Equal(0, d.RootElement.GetProperty("capture").GetProperty("rstPackets").GetInt32());
        Assert.Equal(TsharkOracle.Conversations(file), d.RootElement.GetProperty("capture").GetProperty("connections").GetInt32());
        var text = CliRunner.Run("pcap", file).Stdout;
        Assert.True(text.Contains("No problems found."), text);
        Assert.All(text.Split('\n'), l => Assert.True(l.Length <= 80, $"line over 80 columns: {l}"));
    }
}
