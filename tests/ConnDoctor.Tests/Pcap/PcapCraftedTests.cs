using System.Buffers.Binary;
using ConnDoctor.Model;
using ConnDoctor.Sources.Pcap;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.Pcap;

/// <summary>
/// Minimal captures written here packet by packet (Ethernet, IPv4, TCP between 10.0.0.1:40000 and 10.0.0.2:80),
/// for what a kernel does not produce on demand: two different RSTs 0.2 ms apart, one packet seen twice, data on
/// a SYN, TCP inside ESP. tshark reads each file too.
/// </summary>
public class PcapCraftedTests
{
    private sealed class Writer
    {
        private readonly MemoryStream _ms = new();
        public Writer()
        {
            Span<byte> h = stackalloc byte[24];
            BinaryPrimitives.WriteUInt32LittleEndian(h, 0xA1B2C3D4);
            BinaryPrimitives.WriteUInt16LittleEndian(h[4..], 2);
            BinaryPrimitives.WriteUInt16LittleEndian(h[6..], 4);
            BinaryPrimitives.WriteUInt32LittleEndian(h[16..], 65535);
            BinaryPrimitives.WriteUInt32LittleEndian(h[20..], 1);
            _ms.Write(h);
        }

        /// <summary>One TCP segment at microsecond us; options are raw TCP option bytes (a multiple of 4).</summary>
        public void Tcp(long us, bool toServer, byte flags, uint seq, uint ack, int payload = 0, byte[]? options = null, byte ttl = 64, ushort ipId = 1, byte fill = 0x61, byte proto = 6)
        {
            options ??= [];
            int tcpLen = 20 + options.Length + payload;
            var f = new byte[14 + 20 + tcpLen];
            BinaryPrimitives.WriteUInt16BigEndian(f.AsSpan(12), 0x0800);
            var ip = f.AsSpan(14);
            ip[0] = 0x45; BinaryPrimitives.WriteUInt16BigEndian(ip[2..], (ushort)(20 + tcpLen)); BinaryPrimitives.WriteUInt16BigEndian(ip[4..], ipId);
            ip[8] = ttl; ip[9] = proto;
            byte[] c = [10, 0, 0, 1], s = [10, 0, 0, 2];
            (toServer ? c : s).CopyTo(ip[12..]); (toServer ? s : c).CopyTo(ip[16..]);
            var t = ip[20..];
            BinaryPrimitives.WriteUInt16BigEndian(t, toServer ? (ushort)40000 : (ushort)80);
            BinaryPrimitives.WriteUInt16BigEndian(t[2..], toServer ? (ushort)80 : (ushort)40000);
            BinaryPrimitives.WriteUInt32BigEndian(t[4..], seq); BinaryPrimitives.WriteUInt32BigEndian(t[8..], ack);
            t[12] = (byte)((20 + options.Length) / 4 << 4); t[13] = flags; BinaryPrimitives.WriteUInt16BigEndian(t[14..], 1024);
            options.CopyTo(t[20..]);
            t[(20 + options.Length)..].Fill(fill);
            Span<byte> rec = stackalloc byte[16];
            BinaryPrimitives.WriteUInt32LittleEndian(rec, (uint)(1_800_000_000 + us / 1_000_000));
            BinaryPrimitives.WriteUInt32LittleEndian(rec[4..], (uint)(us % 1_000_000));
            BinaryPrimitives.WriteUInt32LittleEndian(rec[8..], (uint)f.Length);
            BinaryPrimitives.WriteUInt32LittleEndian(rec[12..], (uint)f.Length);
            _ms.Write(rec); _ms.Write(f);
        }

        public void Handshake()
        {
            Tcp(0, true, S, 1000, 0);
            Tcp(100, false, S | A, 5000, 1001);
            Tcp(200, true, A, 1001, 5001);
        }

        public string Save()
        {
            var path = Path.Combine(Path.GetTempPath(), $"cd-crafted-{Guid.NewGuid():N}.pcap");
            File.WriteAllBytes(path, _ms.ToArray());
            return path;
        }
    }

    private const byte S = TcpSegment.Syn, A = TcpSegment.AckFlag, R = TcpSegment.Rst, F = TcpSegment.Fin;
    private static readonly byte[] Timestamps1 = [1, 1, 8, 10, 0, 0, 0, 1, 0, 0, 0, 2], Timestamps2 = [1, 1, 8, 10, 0, 0, 0, 9, 0, 0, 0, 2];

    private static CaptureEvidence Read(string path) => CaptureSource.Collect(path, new CaptureFilter()).Capture!;

    [Fact]
    public void TwoDifferentResetsAFractionOfAMillisecondApartAreTwoPackets()
    {
        var w = new Writer();
        w.Handshake();
        w.Tcp(1000, false, A, 5001, 1001, payload: 100);
        // The same sequence numbers, 0.2 ms apart: one RST with a timestamp option, one with another value, one with payload.
        w.Tcp(2000, true, R | A, 1001, 5101, options: Timestamps1);
        w.Tcp(2200, true, R | A, 1001, 5101, options: Timestamps2);
        w.Tcp(2400, true, R | A, 1001, 5101, payload: 8, fill: 0x21);
        var path = w.Save();
        try
        {
            var cap = Read(path);
            Assert.Equal(3, cap.RstPackets);
            Assert.DoesNotContain(cap.Skipped.Keys, k => k.StartsWith("second copies"));
            Assert.Equal(cap.Packets, cap.TcpPackets);
            Assert.Equal(Assert.Single(cap.Connections).Packets, cap.TcpPackets);
            Assert.Equal(TsharkOracle.Resets(path), cap.RstPackets);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void TheSamePacketSeenTwiceIsOneAndTheCountersAddUp()
    {
        var w = new Writer();
        w.Handshake();
        // A forwarded RST seen on the way in and, 30 us later, on the way out: the TTL one lower, every other byte the same.
        w.Tcp(2000, true, R | A, 1001, 5001, options: Timestamps1, ttl: 64, ipId: 7);
        w.Tcp(2030, true, R | A, 1001, 5001, options: Timestamps1, ttl: 63, ipId: 7);
        var path = w.Save();
        try
        {
            var cap = Read(path);
            Assert.Equal((1L, 4L), (cap.RstPackets, cap.TcpPackets));
            Assert.Equal(1, cap.Skipped.Single(kv => kv.Key.StartsWith("second copies")).Value);
            Assert.Equal(cap.Packets, cap.TcpPackets + cap.Skipped.Values.Sum());
            Assert.Equal(TsharkOracle.Conversations(path), cap.Connections.Count);
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void DataOnTheSynAndSynAckIsCountedLikeTsharkCountsIt()
    {
        var w = new Writer();
        w.Tcp(0, true, S, 1000, 0, payload: 120, options: [34, 10, 1, 2, 3, 4, 5, 6, 7, 8, 1, 1]); // a TFO cookie, then data
        w.Tcp(100, false, S | A, 5000, 1121, payload: 30);
        w.Tcp(200, true, A, 1121, 5031);
        w.Tcp(300, true, F | A, 1121, 5031);
        w.Tcp(400, false, F | A, 5031, 1122);
        w.Tcp(500, true, A, 1122, 5032);
        var path = w.Save();
        try
        {
            var c = Assert.Single(Read(path).Connections);
            Assert.Equal((120, 30), (c.BytesToServer, c.BytesToClient));
            // tshark's payload lengths per direction
            var lens = Shell.Run("tshark", "-n", "-r", path, "-T", "fields", "-e", "tcp.srcport", "-e", "tcp.len").Split('\n', StringSplitOptions.RemoveEmptyEntries)
                .Select(l => l.Split('\t')).GroupBy(x => x[0]).ToDictionary(g => g.Key, g => g.Sum(x => int.Parse(x[1])));
            Assert.Equal((lens["40000"], lens["80"]), ((int)c.BytesToServer, (int)c.BytesToClient));
        }
        finally { File.Delete(path); }
    }

    [Fact]
    public void ACaptureWhoseTcpIsAllEncryptedSaysSoInOneLine()
    {
        var w = new Writer();
        for (int i = 0; i < 5; i++) w.Tcp(i * 100, i % 2 == 0, A, 1, 1, payload: 60, proto: 50); // IPsec ESP
        var path = w.Save();
        try
        {
            var r = CliRunner.Run("pcap", path);
            Assert.Equal(0, r.Code);
            // One note (wrapped at the terminal width).
            var words = string.Join(' ', r.Stdout.Split([' ', '\n'], StringSplitOptions.RemoveEmptyEntries));
            Assert.Contains("note: capture partial: 5 packet(s), 0 connection(s); no TCP readable: 5 packet(s) are inside encrypted tunnels (IPsec ESP, WireGuard)", words);
            Assert.Single(r.Stdout.Split('\n'), l => l.StartsWith("note:"));
        }
        finally { File.Delete(path); }
    }
}
