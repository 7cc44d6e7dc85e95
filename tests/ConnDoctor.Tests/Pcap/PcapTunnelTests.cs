using System.Text.Json;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.Pcap;

/// <summary>
/// TCP inside overlay tunnels, captured with tcpdump on the underlay veth between two test namespaces (underlay
/// 10.218.0.1/.2, overlay 10.219.0.1/.2 and fd00:219::1/2). VXLAN is the kernel's own; Geneve, GRE and IP-in-IP
/// come from helpers/tunnel.py (a TUN/TAP device and a userspace relay: this kernel has no module for them), so
/// the kernel's TCP runs inside a real encapsulation either way. tshark is the oracle.
/// </summary>
public class PcapTunnelTests
{
    private const string UnderA = "10.218.0.1", UnderB = "10.218.0.2", Client = "10.219.0.1", Server = "10.219.0.2",
        Client6 = "fd00:219::1", Server6 = "fd00:219::2";

    private sealed class Overlay : IDisposable
    {
        public readonly TestNetns C, S;
        public readonly string CVeth;
        public Overlay(string tag)
        {
            C = new TestNetns(tag + "c");
            S = new TestNetns(tag + "s");
            (CVeth, _) = TestNetns.Link(C, S, UnderA, UnderB);
        }

        /// <summary>Addresses on the tunnel device DEV of each side, MTU 1400 so that the underlay never fragments.</summary>
        public void Address(string dev, bool v6)
        {
            foreach (var (ns, a, a6) in new[] { (C, Client, Client6), (S, Server, Server6) })
            {
                ns.Exec("ip", "link", "set", dev, "mtu", "1400", "up");
                ns.Exec("ip", "addr", "add", a + "/24", "dev", dev);
                if (v6) ns.Exec("ip", "addr", "add", a6 + "/64", "dev", dev, "nodad");
            }
        }

        public void Userspace(string mode)
        {
            C.StartHelper("tunnel.py", mode, "--dev", "tn0", "--local", UnderA, "--remote", UnderB);
            S.StartHelper("tunnel.py", mode, "--dev", "tn0", "--local", UnderB, "--remote", UnderA);
            Address("tn0", v6: true);
        }

        public void Dispose() { C.Dispose(); S.Dispose(); }
    }

    private static JsonElement Pair(JsonDocument d, string server) =>
        d.RootElement.GetProperty("pairs").EnumerateArray().Single(p => p.GetProperty("server").GetString() == server);

    private static JsonElement Tunnel(JsonDocument d) =>
        Assert.Single(d.RootElement.GetProperty("capture").GetProperty("tunnels").EnumerateArray());

    [Fact]
    public void TcpInsideAKernelVxlanTunnelIsReadByItsInnerAddresses()
    {
        using var o = new Overlay("vx");
        // Flannel's port (8472, also the kernel's default), which tshark must be told about.
        foreach (var (ns, local, remote, dev) in new[] { (o.C, UnderA, UnderB, o.CVeth), (o.S, UnderB, UnderA, o.S.Exec("ip", "-o", "link", "show", "type", "veth").Split(':')[1].Trim().Split('@')[0]) })
            ns.Exec("ip", "link", "add", "vx0", "type", "vxlan", "id", "42", "local", local, "remote", remote, "dev", dev, "dstport", "8472");
        o.Address("vx0", v6: false);
        using var cap = new Tcpdump(o.C, o.CVeth, "-s", "200");
        o.S.StartScenario("server", "--listen", $"{Server}:8080:hold");
        o.S.StartScenario("bulk", "--listen", $"{Server}:9200", "--bytes", (4 << 20).ToString());
        o.C.StartScenario("chat", "--connect", $"{Server}:8080", "--count", "3", "--cycles", "5");
        o.C.StartScenario("fetch", "--connect", $"{Server}:9200", "--read", "100"); // reads 100 bytes, stops reading for 1 s, closes
        o.C.StartScenario("refused", "--connect", $"{Server}:9300");
        var file = cap.Stop();

        var r = CliRunner.Run("pcap", file, "--json");
        Assert.True(r.Code == 0, r.Stderr);
        using var d = r.Json();
        var t = Tunnel(d);
        Assert.Equal(("VXLAN", $"{UnderA} <-> {UnderB}"), (t.GetProperty("kind").GetString(), t.GetProperty("path").GetString()));
        Assert.Equal(3, Pair(d, $"{Server}:8080").GetProperty("connections").GetInt32());
        Assert.Equal(Client, Pair(d, $"{Server}:8080").GetProperty("client").GetString());
        Assert.Equal(1, Pair(d, $"{Server}:9200").GetProperty("resetsByClient").GetProperty("unread-data").GetInt32());
        Assert.Equal(1, Pair(d, $"{Server}:9300").GetProperty("resets").GetProperty("refused").GetInt32());
        var capture = d.RootElement.GetProperty("capture");
        Assert.Equal(TsharkOracle.Conversations(file, "-d", "udp.port==8472,vxlan"), capture.GetProperty("connections").GetInt32());
        Assert.Equal(TsharkOracle.Resets(file, "-d", "udp.port==8472,vxlan"), capture.GetProperty("rstPackets").GetInt32());
        var text = CliRunner.Run("pcap", file).Stdout;
        Assert.Contains($"packet(s) from VXLAN {UnderA} <-> {UnderB}", text);
    }

    [Fact]
    public void AStormInsideAGeneveTunnelIsFound()
    {
        using var o = new Overlay("gn");
        o.Userspace("geneve");
        using var cap = new Tcpdump(o.C, o.CVeth, "-s", "200");
        o.S.StartScenario("server", "--listen", $"{Server}:8080:hold", "--listen", $"{Server}:9003:drain");
        o.C.StartScenario("good", "--connect", $"{Server}:8080", "--count", "1", "--churn", $"{Server}:9003", "--cycles", "300");
        var file = cap.Stop();

        var r = CliRunner.Run("pcap", file, "--json");
        Assert.True(r.Code == 0, r.Stderr);
        using var d = r.Json();
        Assert.Equal("Geneve", Tunnel(d).GetProperty("kind").GetString());
        var storm = d.RootElement.GetProperty("findings").EnumerateArray().Single(f => f.GetProperty("ruleId").GetString() == "reconnect-storm");
        Assert.Equal($"{Server}:9003", storm.GetProperty("subject").GetProperty("remoteEndpoint").GetString());
        Assert.Equal(Client, storm.GetProperty("subject").GetProperty("clientIp").GetString());
        Assert.True(Pair(d, $"{Server}:9003").GetProperty("closedFirstBy").GetProperty("client").GetInt32() >= 290);
        var capture = d.RootElement.GetProperty("capture");
        Assert.Equal(TsharkOracle.Conversations(file), capture.GetProperty("connections").GetInt32());
        Assert.Equal(TsharkOracle.Resets(file), capture.GetProperty("rstPackets").GetInt32());
    }

    [Theory]
    [InlineData("gre", new[] { "GRE" })]
    [InlineData("ipip", new[] { "IPv4-in-IP", "IPv6-in-IP" })]
    public void TcpInsideGreAndIpInIpMatchesTshark(string mode, string[] kinds)
    {
        using var o = new Overlay(mode[..2]);
        o.Userspace(mode);
        using var cap = new Tcpdump(o.C, o.CVeth, "-s", "200");
        o.S.StartScenario("server", "--listen", $"{Server}:8080:hold", "--listen", $"[{Server6}]:8080:hold");
        o.C.StartScenario("chat", "--connect", $"{Server}:8080", "--count", "2", "--cycles", "3");
        o.C.StartScenario("chat", "--connect", $"[{Server6}]:8080", "--count", "2", "--cycles", "3");
        o.C.StartScenario("refused", "--connect", $"{Server}:9300");
        var file = cap.Stop();

        var r = CliRunner.Run("pcap", file, "--json");
        Assert.True(r.Code == 0, r.Stderr);
        using var d = r.Json();
        var tunnels = d.RootElement.GetProperty("capture").GetProperty("tunnels").EnumerateArray().ToList();
        Assert.Equal(kinds, tunnels.Select(t => t.GetProperty("kind").GetString()).Order());
        Assert.All(tunnels, t => Assert.Equal($"{UnderA} <-> {UnderB}", t.GetProperty("path").GetString()));
        Assert.Equal(2, Pair(d, $"{Server}:8080").GetProperty("connections").GetInt32());
        Assert.Equal(2, Pair(d, $"[{Server6}]:8080").GetProperty("connections").GetInt32());
        var capture = d.RootElement.GetProperty("capture");
        Assert.Equal(TsharkOracle.Conversations(file), capture.GetProperty("connections").GetInt32());
        Assert.Equal(TsharkOracle.Resets(file), capture.GetProperty("rstPackets").GetInt32());
    }
}
