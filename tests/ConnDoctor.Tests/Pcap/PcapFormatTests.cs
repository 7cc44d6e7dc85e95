using System.Buffers.Binary;
using ConnDoctor.Model;
using ConnDoctor.Sources.Pcap;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.Pcap;

/// <summary>
/// The same conversation (fixtures/pcap/make-fixtures.sh: IPv4 and IPv6 request/response, an unread-data reset,
/// a refused connect) in every file layout the reader supports, and files that are cut, corrupt or no capture.
/// </summary>
public class PcapFormatTests
{
    private static string F(string name) => Path.Combine(Fixtures.Dir("pcap"), name);

    public static TheoryData<string, string> Layouts => new()
    {
        { "eth.pcap", "pcap (us, little-endian)" },
        { "eth-nsec.pcap", "pcap (ns, little-endian)" },
        { "eth-be.pcap", "pcap (us, big-endian)" },
        { "vlan.pcap", "pcap (us, little-endian)" },
        { "sll.pcap", "pcap (us, little-endian)" },
        { "sll2.pcap", "pcap (us, little-endian)" },
        { "raw-ip.pcap", "pcap (us, little-endian)" },
        { "null.pcap", "pcap (us, little-endian)" },
        { "loop.pcap", "pcap (us, little-endian)" },
        { "multi-if.pcapng", "pcapng (little-endian)" },
        { "snaplen80.pcap", "pcap (us, little-endian)" },
        { "two-sections.pcapng", "pcapng (little-endian)" },
        { "vxlan.pcap", "pcap (us, little-endian)" },
        { "vxlan-8472.pcap", "pcap (us, little-endian)" },
        { "geneve.pcap", "pcap (us, little-endian)" },
        { "gre.pcap", "pcap (us, little-endian)" },
        { "erspan.pcap", "pcap (us, little-endian)" },
        { "ipip.pcap", "pcap (us, little-endian)" },
        { "mpls.pcap", "pcap (us, little-endian)" },
        { "pppoe.pcap", "pcap (us, little-endian)" },
        { "ppp.pcap", "pcap (us, little-endian)" },
        { "nflog.pcap", "pcap (us, little-endian)" },
    };

    [Theory]
    [MemberData(nameof(Layouts))]
    public void EveryLayoutGivesTheSameConnections(string file, string format)
    {
        var cap = CaptureSource.Collect(F(file), new CaptureFilter()).Capture!;
        Assert.Equal(format, cap.Format);
        Assert.Null(cap.StoppedAt);
        // Every packet is accounted for once: used, or skipped for a reason.
        Assert.Equal(cap.Packets, cap.TcpPackets + cap.Skipped.Values.Sum());
        Assert.DoesNotContain("unknown link type", cap.Skipped.Keys);
        Assert.Equal(5, cap.Connections.Count);
        Assert.Equal(2, cap.RstPackets);
        Assert.Single(cap.Connections, c => c.Client.Address.IsV6);
        var unread = Assert.Single(cap.Connections, c => c.Reset == ResetClass.UnreadData);
        Assert.True(unread.ResetByClient);
        Assert.Equal(9200, unread.Server.Port);
        var refused = Assert.Single(cap.Connections, c => c.Reset == ResetClass.Refused);
        Assert.False(refused.ResetByClient);
        // Bytes come from the IP lengths, so a snap length of 80 still counts every byte.
        Assert.Equal(Reference.Connections.Sum(c => c.BytesToClient), cap.Connections.Sum(c => c.BytesToClient));
        // The same starts, within the microseconds by which tcpdumps running side by side stamp one packet.
        Assert.All(Reference.Connections.Select(c => c.StartNs).Order().Zip(cap.Connections.Select(c => c.StartNs).Order()),
            t => Assert.InRange(t.Second - t.First, -1_000_000, 1_000_000));
    }

    private static readonly CaptureEvidence Reference = CaptureSource.Collect(F("eth.pcap"), new CaptureFilter()).Capture!;

    [Theory]
    [InlineData("eth.pcap")]
    [InlineData("sll2.pcap")]
    [InlineData("multi-if.pcapng")]
    [InlineData("eth-be.pcap")]
    [InlineData("two-sections.pcapng")]
    [InlineData("geneve.pcap")]
    [InlineData("gre.pcap")]
    [InlineData("erspan.pcap")]
    [InlineData("ipip.pcap")]
    [InlineData("nflog.pcap")]
    [InlineData("ppp.pcap")]
    // Captures from tcpdump's test corpus (fixtures/pcap/README.md): TCP in Geneve and VXLAN over IPv4 and IPv6,
    // Linux IPoIB, PPP with and without MPLS, NFLOG (DNS only: no TCP).
    [InlineData("tcpdump-geneve.pcap")]
    [InlineData("tcpdump-gso-ipv6-geneve-ipv4.pcap")]
    [InlineData("tcpdump-gso-ipv4-vxlan-ipv6.pcap")]
    [InlineData("tcpdump-ipoib.pcap")]
    [InlineData("tcpdump-lspping-fec-ldp.pcap")]
    [InlineData("tcpdump-bgp_vpn_attrset.pcap")]
    [InlineData("tcpdump-nflog.pcap")]
    public void TsharkAgrees(string file)
    {
        var cap = CaptureSource.Collect(F(file), new CaptureFilter()).Capture!;
        Assert.Equal(TsharkOracle.Conversations(F(file)), cap.Connections.Count);
        Assert.Equal(TsharkOracle.Resets(F(file)), cap.RstPackets);
        Assert.Equal(cap.Packets, cap.TcpPackets + cap.Skipped.Values.Sum());
        Assert.DoesNotContain("unknown link type", cap.Skipped.Keys);
    }

    [Fact]
    public void TsharkAgreesOnFlannelsVxlanPortWhenToldIt() =>
        Assert.Equal(TsharkOracle.Conversations(F("vxlan-8472.pcap"), "-d", "udp.port==8472,vxlan"),
            CaptureSource.Collect(F("vxlan-8472.pcap"), new CaptureFilter()).Capture!.Connections.Count);

    [Theory]
    [InlineData("vxlan.pcap", "VXLAN", "192.0.2.1 <-> 192.0.2.2")]
    [InlineData("vxlan-8472.pcap", "VXLAN", "192.0.2.1 <-> 192.0.2.2")]
    [InlineData("geneve.pcap", "Geneve", "2001:db8::1 <-> 2001:db8::2")]
    [InlineData("gre.pcap", "GRE", "192.0.2.1 <-> 192.0.2.2")]
    [InlineData("erspan.pcap", "ERSPAN", "192.0.2.1 <-> 192.0.2.2")]
    [InlineData("tcpdump-geneve.pcap", "Geneve", "20.0.0.1 <-> 20.0.0.2")]
    [InlineData("tcpdump-gso-ipv4-vxlan-ipv6.pcap", "VXLAN", "10.25.132.11 <-> 10.25.132.13")]
    public void TunnelsAreCountedByKindAndOuterPath(string file, string kind, string path)
    {
        var cap = CaptureSource.Collect(F(file), new CaptureFilter()).Capture!;
        var t = Assert.Single(cap.Tunnels);
        Assert.Equal((kind, path), (t.Kind, t.Path));
        // Every packet of these captures came out of the tunnel.
        Assert.Equal(cap.Packets, t.Packets);
        Assert.All(cap.Connections, c => Assert.DoesNotContain(c.Client.Address.ToString(), path));
    }

    [Fact]
    public void IpInIpCountsIPv4AndIPv6InnerPacketsApart()
    {
        var cap = CaptureSource.Collect(F("ipip.pcap"), new CaptureFilter()).Capture!;
        Assert.Equal(["IPv4-in-IP", "IPv6-in-IP"], cap.Tunnels.Select(t => t.Kind).Order());
        Assert.Single(cap.Connections, c => c.Client.Address.IsV6);
    }

    [Fact]
    public void SectionsAndInterfacesOfAPcapngAreCountedOverTheWholeFile()
    {
        var cap = CaptureSource.Collect(F("two-sections.pcapng"), new CaptureFilter()).Capture!;
        Assert.Equal((2, 3), (cap.Sections, cap.Interfaces));
        var one = CaptureSource.Collect(F("multi-if.pcapng"), new CaptureFilter()).Capture!;
        Assert.Equal((1, 2), (one.Sections, one.Interfaces));
        Assert.Contains("2 sections, 3 interfaces", CliRunner.Run("pcap", F("two-sections.pcapng")).Stdout);
    }

    [Fact]
    public void FiltersKeepOnlyMatchingPackets()
    {
        var byPort = CaptureSource.Collect(F("eth.pcap"), new CaptureFilter { Port = 9200 }).Capture!;
        Assert.Single(byPort.Connections);
        Assert.Equal("port 9200", byPort.Filter);
        Assert.True(byPort.Skipped["filtered out"] > 0);
        NetAddress.TryParse("fd00:77::2", out var v6);
        var byHost = CaptureSource.Collect(F("eth.pcap"), new CaptureFilter { Host = v6 }).Capture!;
        Assert.Single(byHost.Connections);
    }

    private static string Temp(byte[] content)
    {
        var path = Path.Combine(Path.GetTempPath(), $"cd-pcap-{Guid.NewGuid():N}.pcap");
        File.WriteAllBytes(path, content);
        return path;
    }

    private static void AssertOneLineError(CliRunner.Result r, string contains)
    {
        Assert.Equal(1, r.Code);
        var line = Assert.Single(r.Stderr.TrimEnd('\n').Split('\n'));
        Assert.StartsWith("conndoctor: ", line);
        Assert.Contains(contains, line);
        Assert.DoesNotContain("   at ", r.Stderr);
    }

    [Fact]
    public void ATruncatedFileGivesAPartialResultThatSaysWhereItStopped()
    {
        var bytes = File.ReadAllBytes(F("eth.pcap"));
        var path = Temp(bytes[..(bytes.Length * 2 / 3)]);
        try
        {
            var r = CliRunner.Run("pcap", path, "--json");
            Assert.Equal(0, r.Code);
            using var d = r.Json();
            var capture = d.RootElement.GetProperty("capture");
            Assert.Contains("truncated file", capture.GetProperty("stoppedAt").GetString());
            Assert.True(capture.GetProperty("connections").GetInt32() > 0);
            Assert.Equal("partial", d.RootElement.GetProperty("sources")[0].GetProperty("state").GetString());
            Assert.Contains("note: capture partial: stopped at byte ", CliRunner.Run("pcap", path).Stdout);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void ACorruptRecordLengthStopsThere()
    {
        var bytes = File.ReadAllBytes(F("eth.pcap"));
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(24 + 8), 0x7FFFFFFF); // first record's captured length
        var path = Temp(bytes);
        try
        {
            var cap = CaptureSource.Collect(path, new CaptureFilter()).Capture!;
            Assert.Equal("byte 24 after 0 packet(s): record claims 2147483647 bytes (corrupt)", cap.StoppedAt);
            Assert.Empty(cap.Connections);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void ACorruptPcapngBlockStopsThere()
    {
        var bytes = File.ReadAllBytes(F("multi-if.pcapng"));
        bytes[^1] ^= 0xFF; // the last block's trailing length no longer matches
        var path = Temp(bytes);
        try
        {
            var cap = CaptureSource.Collect(path, new CaptureFilter()).Capture!;
            Assert.Contains("differs from", cap.StoppedAt);
            Assert.Equal(5, cap.Connections.Count);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void AnImpossibleTimestampIsNotedNotACrash()
    {
        // The third Enhanced Packet Block's timestamp gets its high word set: microseconds past what a long holds in ns.
        var bytes = File.ReadAllBytes(F("multi-if.pcapng"));
        int at = 0, epbs = 0, hit = -1;
        while (at + 8 <= bytes.Length)
        {
            uint type = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(at)), len = BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(at + 4));
            if (type == 6 && ++epbs == 3) { hit = at; break; }
            at += (int)len;
        }
        Assert.True(hit > 0);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(hit + 12), 0x8000_0000);
        var path = Temp(bytes);
        try
        {
            using var doc = CliAssert.PartialFirstSource(CliRunner.Run("pcap", "--json", path), "1 packet(s) with an impossible timestamp");
            var good = CaptureSource.Collect(F("multi-if.pcapng"), new CaptureFilter()).Capture!;
            Assert.Equal(good.Connections.Count, CaptureSource.Collect(path, new CaptureFilter()).Capture!.Connections.Count);
        }
        finally { File.Delete(path); }
    }

    [Theory]
    [InlineData(new byte[0], "empty file")]
    [InlineData(new byte[] { 0x1F, 0x8B, 0x08, 0x00, 0, 0, 0, 0, 0, 0x03 }, "gzip-compressed, not a capture itself: gunzip it first")]
    [InlineData(new byte[] { 0x47, 0x45, 0x54, 0x20, 0x2F, 0x20, 0x48, 0x54, 0x54, 0x50 }, "not a pcap or pcapng capture")]
    [InlineData(new byte[] { 0xD4, 0xC3, 0xB2, 0xA1, 2, 0, 4, 0 }, "pcap file header cut short")]
    [InlineData(new byte[] { 0x0A, 0x0D, 0x0D, 0x0A, 28, 0, 0, 0, 1, 2, 3, 4, 0, 0, 0, 0 }, "not a valid pcapng file (bad byte-order magic")]
    public void NotACaptureIsOneLine(byte[] content, string message)
    {
        var path = Temp(content);
        try { AssertOneLineError(CliRunner.Run("pcap", path), message); }
        finally { File.Delete(path); }
    }

    [Fact]
    public void AnUnknownLinkTypeIsOneLine()
    {
        var bytes = File.ReadAllBytes(F("eth.pcap"));
        BinaryPrimitives.WriteUInt32LittleEndian(bytes.AsSpan(20), 147); // LINKTYPE_USER0
        var path = Temp(bytes);
        try { AssertOneLineError(CliRunner.Run("pcap", path), "unsupported link type 147 (USER0)"); }
        finally { File.Delete(path); }
    }

    [Fact]
    public void APcapngWhoseInterfacesAreAllUnknownIsOneLine()
    {
        var bytes = File.ReadAllBytes(F("multi-if.pcapng"));
        // Both interface blocks follow the 28-byte section header; their link type is the first field of the body.
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(28 + 8), 147);
        int second = 28 + (int)BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(28 + 4));
        BinaryPrimitives.WriteUInt16LittleEndian(bytes.AsSpan(second + 8), 148);
        var path = Temp(bytes);
        try { AssertOneLineError(CliRunner.Run("pcap", path), "unsupported link type 147 (USER0), 148 (USER1) on every interface"); }
        finally { File.Delete(path); }
    }

    [Fact] public void AMissingFileIsOneLine() => AssertOneLineError(CliRunner.Run("pcap", "/nonexistent/x.pcap"), "cannot read /nonexistent/x.pcap: no such file");
    [Fact] public void ADirectoryIsOneLine() => AssertOneLineError(CliRunner.Run("pcap", Path.GetTempPath()), "is a directory");

    [Fact]
    public void BadFiltersAreUsageErrors()
    {
        Assert.Equal(2, CliRunner.Run("pcap", F("eth.pcap"), "--host", "10.0.0.300").Code);
        Assert.Equal(2, CliRunner.Run("pcap", F("eth.pcap"), "--port", "0").Code);
        Assert.Equal(2, CliRunner.Run("pcap", F("eth.pcap"), "--host", "10.2").Code);      // shorthand: 10.0.0.2
        Assert.Equal(2, CliRunner.Run("pcap", F("eth.pcap"), "--host", "010.0.0.1").Code); // octal: 8.0.0.1
        Assert.Equal(0, CliRunner.Run("pcap", F("eth.pcap"), "--host", "::1").Code);
    }

    [Fact]
    public void FailOnWarningIsExitCode3()
    {
        // eth.pcap holds infos only (one refused connect, one unread-data reset).
        Assert.Equal(0, CliRunner.Run("pcap", F("eth.pcap"), "--fail-on", "warning").Code);
    }

    [Fact]
    public void RandomGarbageAfterAValidHeaderNeverCrashes()
    {
        var rng = new Random(7);
        foreach (var bytes in new[] { File.ReadAllBytes(F("multi-if.pcapng")), File.ReadAllBytes(F("eth.pcap")) })
        for (int round = 0; round < 150; round++)
        {
            var copy = (byte[])bytes.Clone();
            for (int i = 0; i < 8; i++) copy[rng.Next(28, copy.Length)] = (byte)rng.Next(256);
            var path = Temp(copy);
            try
            {
                var r = CliRunner.Run("pcap", path, "--json", "--verbose");
                Assert.True(r.Code == 0 || (r.Code == 1 && !r.Stderr.Contains("internal error")), r.Stderr);
            }
            finally { File.Delete(path); }
        }
    }
}
