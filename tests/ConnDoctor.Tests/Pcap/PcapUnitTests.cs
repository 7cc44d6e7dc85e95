using System.Buffers.Binary;
using ConnDoctor.Model;
using ConnDoctor.Rules;
using ConnDoctor.Sources.Pcap;

namespace ConnDoctor.Tests.Pcap;

/// <summary>The reader, decoder, tracker and reset classes on inputs written here byte by byte.</summary>
public class PcapUnitTests
{
    private const byte S = TcpSegment.Syn, A = TcpSegment.AckFlag, F = TcpSegment.Fin, R = TcpSegment.Rst;

    /// <summary>A segment between 10.0.0.1:port (client) and 10.0.0.2:80; toServer picks the direction.</summary>
    private static TcpSegment Seg(long ms, bool toServer, byte flags, uint seq, uint ack = 0, int len = 0, ushort win = 512, ushort port = 40000) => new()
    {
        TimeNs = ms * 1_000_000,
        SrcHi = (toServer ? 0x0A000001UL : 0x0A000002UL) << 32,
        DstHi = (toServer ? 0x0A000002UL : 0x0A000001UL) << 32,
        SrcPort = toServer ? port : (ushort)80,
        DstPort = toServer ? (ushort)80 : port,
        Seq = seq, Ack = ack, Flags = flags, PayloadLength = len, Window = win,
        Digest = (ulong)HashCode.Combine(toServer, flags, seq, ack, len, win, port), // the same fields, the same bytes
    };

    private static TcpConnection[] Track(params TcpSegment[] segs)
    {
        var t = new TcpTracker();
        foreach (var s in segs) t.Add(s);
        return t.Finish();
    }

    private static TcpSegment[] Handshake(long ms = 0, ushort port = 40000) =>
    [
        Seg(ms, true, S, 1000, port: port), Seg(ms + 1, false, S | A, 5000, 1001, port: port), Seg(ms + 2, true, A, 1001, 5001, port: port),
    ];

    [Fact]
    public void HandshakeBytesAndAServerThatClosesFirst()
    {
        var c = Assert.Single(Track([.. Handshake(),
            Seg(3, true, A, 1001, 5001, 100), Seg(4, false, A, 5001, 1101, 300),
            Seg(5, false, F | A, 5301, 1101), Seg(6, true, F | A, 1101, 5302), Seg(7, false, A, 5302, 1102)]));
        Assert.True(c.OpenSeen && c.Accepted && c.Closed);
        Assert.Equal("10.0.0.1:40000", c.Client.ToString());
        Assert.Equal(2_000_000, c.HandshakeRttNs);
        Assert.Equal((100, 300), (c.BytesToServer, c.BytesToClient));
        Assert.Equal((CloseKind.Fin, false), (c.FirstClose, c.ClientClosedFirst));
        Assert.Equal(ResetClass.None, c.Reset);
        Assert.Equal(7_000_000, c.LifetimeNs);
    }

    [Fact]
    public void ASecondCopyOfEachPacketFromAForwardingHostIsNoRetransmission()
    {
        // tcpdump -i any on a router: every packet once on the way in and once on the way out, 30 us later.
        TcpSegment[] once = [.. Handshake(), Seg(3, true, A, 1001, 5001, 100), Seg(4, false, A, 5001, 1101, 3000),
            Seg(5, true, F | A, 1101, 8001), Seg(6, false, F | A, 8001, 1102), Seg(7, true, A, 1102, 8002)];
        once = once.Select((x, i) => x with { Digest = (ulong)i + 1 }).ToArray(); // each packet its own bytes
        var twice = once.SelectMany(x => new[] { x, x with { TimeNs = x.TimeNs + 30_000 } }).ToArray();
        var t = new TcpTracker();
        foreach (var x in twice) t.Add(x);
        var c = Assert.Single(t.Finish());
        Assert.Equal(once.Length, t.DuplicatePackets);
        Assert.Equal((0, 0, 0), (c.RetransToServer, c.RetransToClient, c.SynRetrans));
        Assert.Equal((100, 3000), (c.BytesToServer, c.BytesToClient));
        Assert.Equal(once.Length, c.Packets);

        // A real retransmission (300 ms later, the RTO) still counts.
        var resent = Assert.Single(Track([.. Handshake(), Seg(3, false, A, 5001, 1001, 1000), Seg(303, false, A, 5001, 1001, 1000)]));
        Assert.Equal(1, resent.RetransToClient);
    }

    [Fact]
    public void UnansweredRetransmissionsAtTheEndNameTheSideThatSentThem()
    {
        // The server pushes data, then resends it three times with nothing back from the client: the server is the sender.
        var byServer = Assert.Single(Track([.. Handshake(),
            Seg(3, false, A, 5001, 1001, 40), Seg(300, false, A, 5001, 1001, 40), Seg(900, false, A, 5001, 1001, 40), Seg(2000, false, A, 5001, 1001, 40)]));
        Assert.Equal(3, byServer.UnansweredAtEnd);
        Assert.True(byServer.UnansweredByServer);
        // The client resends its request: the client is the sender.
        var byClient = Assert.Single(Track([.. Handshake(),
            Seg(3, true, A, 1001, 5001, 40), Seg(300, true, A, 1001, 5001, 40), Seg(900, true, A, 1001, 5001, 40)]));
        Assert.Equal(2, byClient.UnansweredAtEnd);
        Assert.False(byClient.UnansweredByServer);
    }

    [Fact]
    public void RetransmissionsAndZeroWindowsCountButKeepalivesDoNot()
    {
        var c = Assert.Single(Track([.. Handshake(),
            Seg(3, false, A, 5001, 1001, 1000), Seg(300, false, A, 5001, 1001, 1000), // the same data again
            Seg(301, true, A, 1001, 6001, win: 0),
            Seg(9000, true, A, 1000, 6001, 1), // keepalive probe: the last byte sent again, on purpose
            Seg(9001, true, S, 1000)]));       // a second SYN with the same ISN on an open connection is no new connection
        Assert.Equal(1, c.RetransToClient);
        Assert.Equal(0, c.RetransToServer);
        Assert.Equal(1, c.ZeroWindowFromClient);
        Assert.Equal(1000, c.BytesToClient);
        Assert.Equal(1, c.SynRetrans);
    }

    [Fact]
    public void RefusedIsARstAnsweringASyn()
    {
        var c = Assert.Single(Track(Seg(0, true, S, 1000), Seg(1, false, R | A, 0, 1001)));
        Assert.Equal(ResetClass.Refused, c.Reset);
        Assert.False(c.ResetByClient);
        Assert.False(c.Accepted);
    }

    [Fact]
    public void ClientResetInTheMiddleOfTheServersTransferIsUnreadData()
    {
        var c = Assert.Single(Track([.. Handshake(), Seg(3, true, A, 1001, 5001, 50),
            Seg(4, false, A, 5001, 1051, 60000), Seg(5, true, R | A, 1051, 65001), Seg(6, false, A, 65001, 1051, 30000), Seg(7, true, R, 1051)]));
        Assert.Equal(ResetClass.UnreadData, c.Reset);
        Assert.True(c.ResetByClient);
        Assert.Equal(30000, c.UnreadBytes);
        Assert.Equal(2, c.RstPackets);
    }

    [Fact]
    public void AResetThatAcknowledgesEverythingIsNeitherUnreadDataNorAbortWhateverTheTiming()
    {
        // The case: a 20 KB reply, every byte acknowledged, then RST|ACK 50 ms later, and the same 1.5 s later.
        foreach (long gap in new[] { 50L, 1500L })
        {
            var c = Assert.Single(Track([.. Handshake(), Seg(3, true, A, 1001, 5001, 50),
                Seg(4, false, A, 5001, 1051, 10000), Seg(5, false, A, 15001, 1051, 10000), Seg(6, true, A, 1051, 25001),
                Seg(6 + gap, true, R | A, 1051, 25001)]));
            Assert.Equal(ResetClass.UnreadOrLinger, c.Reset);
            Assert.False(c.ResetByTiming);
            Assert.Equal(0, c.UnreadBytes);
        }
        // The same reply, but the RST acknowledges only the first half: the rest was in flight, certainly unread.
        var cut = Assert.Single(Track([.. Handshake(), Seg(3, true, A, 1001, 5001, 50),
            Seg(4, false, A, 5001, 1051, 10000), Seg(5, false, A, 15001, 1051, 10000), Seg(6, true, R | A, 1051, 15001)]));
        Assert.Equal((ResetClass.UnreadData, 10000L, false), (cut.Reset, cut.UnreadBytes, cut.ResetByTiming));
        // A hole in the server's bytes (the capture lost a segment) and a RST 50 ms after its last data: timing decides, and says so.
        var lost = Assert.Single(Track([.. Handshake(), Seg(3, true, A, 1001, 5001, 50),
            Seg(4, false, A, 5001, 1051, 10000), Seg(5, true, A, 1051, 15001, win: 60000), Seg(6, false, A, 25001, 1051, 10000), Seg(55, true, R | A, 1051, 35001)]));
        Assert.Equal((ResetClass.UnreadData, true), (lost.Reset, lost.ResetByTiming));
        // A zero window from the client before its RST: its buffer was full of unread data.
        var full = Assert.Single(Track([.. Handshake(), Seg(3, false, A, 5001, 1001, 1000), Seg(4, true, A, 1001, 6001, win: 0),
            Seg(2000, true, R | A, 1001, 6001)]));
        Assert.Equal((ResetClass.UnreadData, true), (full.Reset, full.ResetAfterFullWindow));
    }

    [Fact]
    public void DataOnTheSynAndSynAckIsCounted()
    {
        // TCP Fast Open: 100 bytes on the SYN, accepted; the SYN-ACK carries 40 bytes of its own.
        var c = Assert.Single(Track(Seg(0, true, S, 1000, len: 100), Seg(1, false, S | A, 5000, 1101, 40), Seg(2, true, A, 1101, 5041),
            Seg(3, true, S, 1000, len: 100))); // the SYN again: a retransmission, not new bytes
        Assert.Equal((100, 40), (c.BytesToServer, c.BytesToClient));
        Assert.Equal((1, 1), (c.SegmentsToServer, c.SegmentsToClient));
        Assert.Equal(1, c.SynRetrans);
    }

    [Fact]
    public void OnlyTheSameBytesAreACopyNotTwoPacketsThatShareSequenceNumbers()
    {
        // Two RSTs 0.2 ms apart with the same sequence numbers but different bytes (other options or payload): both count.
        var rst = Seg(3, true, R | A, 1001, 5001) with { Digest = 1 };
        var t = new TcpTracker();
        foreach (var x in (TcpSegment[])[.. Handshake(), rst, rst with { TimeNs = rst.TimeNs + 200_000, Digest = 2 }]) t.Add(x);
        var c = Assert.Single(t.Finish());
        Assert.Equal((0L, 2L, 2), (t.DuplicatePackets, t.RstPackets, c.RstPackets));
        // The same bytes again 30 us later (a forwarded packet seen on two interfaces): one packet.
        var t2 = new TcpTracker();
        foreach (var x in (TcpSegment[])[.. Handshake(), rst, rst with { TimeNs = rst.TimeNs + 30_000 }]) t2.Add(x);
        Assert.Equal((1L, 1L), (t2.DuplicatePackets, t2.RstPackets));
    }

    [Fact]
    public void AResetAfterAFinishedExchangeIsAbortiveAndABareResetIsStale()
    {
        // The client sent a request and got nothing back; its RST|ACK aborts a connection with nothing unread.
        var abort = Assert.Single(Track([.. Handshake(), Seg(3, true, A, 1001, 5001, 50), Seg(4, false, A, 5001, 1051),
            Seg(9000, true, R | A, 1051, 5001)]));
        Assert.Equal(ResetClass.Abortive, abort.Reset);
        // Data to a host that rebooted: it has no socket and answers with a bare RST (no ACK flag).
        var stale = Assert.Single(Track(Seg(0, true, A, 1001, 5001, 100), Seg(1, false, R, 5001)));
        Assert.Equal(ResetClass.Stale, stale.Reset);
        Assert.False(stale.OpenSeen);
        Assert.Equal(80, stale.Server.Port); // the capture began mid-connection: the higher port is the client's
    }

    [Fact]
    public void AReusedPortStartsANewConnectionAndAnEmptyServerCloseIsARejection()
    {
        var conns = Track([.. Handshake(0), Seg(3, false, F | A, 5001, 1001), Seg(4, true, F | A, 1001, 5002), Seg(5, false, A, 5002, 1002),
                           Seg(10, true, S, 777), Seg(11, false, S | A, 9, 778), Seg(12, true, A, 778, 10)]);
        Assert.Equal(2, conns.Length);
        Assert.True(conns[0].RejectedAtOnce);
        Assert.False(conns[1].Closed);
    }

    [Theory]
    [InlineData(true, false, false, 0, false, 0, 0, true, false, false, ResetClass.Refused, false)]
    [InlineData(false, true, true, 0, false, 0, 0, true, false, false, ResetClass.Late, false)]
    [InlineData(false, false, false, 0, false, 0, 0, true, false, false, ResetClass.Stale, false)]
    [InlineData(false, true, false, 10, false, 0, 0, true, false, false, ResetClass.UnreadData, false)]
    [InlineData(false, true, false, 0, true, 0, 0, true, false, false, ResetClass.UnreadData, false)]
    [InlineData(false, true, true, 0, false, 500, 0, true, false, false, ResetClass.Late, false)]
    [InlineData(false, true, false, 0, false, 0, 1, true, false, false, ResetClass.UnreadData, false)]
    // Everything acknowledged: unread bytes and SO_LINGER 0 look the same, whatever the timing says.
    [InlineData(false, true, false, 0, false, 0, 0, true, false, true, ResetClass.UnreadOrLinger, false)]
    [InlineData(false, true, false, 0, false, 0, 0, true, false, false, ResetClass.UnreadOrLinger, false)]
    // Data after this side's FIN, all acknowledged by the RST: the application may have read it (half close).
    [InlineData(false, true, false, 0, false, 300, 0, true, false, false, ResetClass.UnreadOrLinger, false)]
    // A bare RST after this side's FIN does not acknowledge the data that came after it: left unread.
    [InlineData(false, false, false, 0, false, 300, 0, true, false, false, ResetClass.UnreadData, false)]
    // Nothing received: nothing can be unread.
    [InlineData(false, true, false, 0, false, 0, 0, false, false, true, ResetClass.Abortive, false)]
    // Sequence numbers missing: timing breaks the tie, and says so.
    [InlineData(false, true, false, 0, false, 0, 0, true, true, true, ResetClass.UnreadData, true)]
    [InlineData(false, true, false, 0, false, 0, 0, true, true, false, ResetClass.UnreadOrLinger, true)]
    public void ResetClasses(bool answersSyn, bool hasAck, bool bothFins, int inFlight, bool zeroWindow, long afterFin, long afterRst,
        bool peerSent, bool gap, bool cut, ResetClass expected, bool byTiming)
    {
        var f = new ResetFacts { AnswersSyn = answersSyn, HasAck = hasAck, AfterOwnFin = bothFins || afterFin > 0, AfterBothFins = bothFins, InFlight = inFlight,
            AfterZeroWindow = zeroWindow, PeerBytesAfterOwnFin = afterFin, PeerBytesAfterRst = afterRst, PeerSentData = peerSent, SequenceGap = gap, CutPeerTransfer = cut };
        Assert.Equal((expected, byTiming), ResetClassifier.Classify(f));
    }

    private static byte[] Ipv4Tcp(byte flags = 0x02, int payload = 0)
    {
        var p = new byte[40 + payload];
        p[0] = 0x45; BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(2), (ushort)p.Length); p[9] = 6;
        new byte[] { 10, 0, 0, 1, 10, 0, 0, 2 }.CopyTo(p, 12);
        BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(20), 40000); BinaryPrimitives.WriteUInt16BigEndian(p.AsSpan(22), 2181);
        BinaryPrimitives.WriteUInt32BigEndian(p.AsSpan(24), 123); p[32] = 0x50; p[33] = flags;
        return p;
    }

    [Fact]
    public void DecoderReadsStackedVlanTagsAndIpv6ExtensionHeaders()
    {
        var ip = Ipv4Tcp(payload: 7);
        byte[] frame = [.. new byte[12], 0x88, 0xA8, 0, 7, 0x81, 0x00, 0, 100, 0x08, 0x00, .. ip, 0, 0, 0, 0]; // QinQ, then Ethernet padding
        var s = new TcpSegment();
        Assert.Equal(DecodeResult.Tcp, PacketDecoder.Decode(PacketDecoder.LinkEthernet, frame, ref s));
        Assert.Equal((40000, 2181, 123u, 7), (s.SrcPort, s.DstPort, s.Seq, s.PayloadLength));

        // IPv6 with a hop-by-hop options header before TCP, as raw IP.
        var v6 = new byte[40 + 8 + 20];
        v6[0] = 0x60; BinaryPrimitives.WriteUInt16BigEndian(v6.AsSpan(4), 28); v6[6] = 0; v6[40] = 6; v6[55] = 1;
        BinaryPrimitives.WriteUInt16BigEndian(v6.AsSpan(48), 2181); v6[60] = 0x50; v6[61] = 0x12;
        Assert.Equal(DecodeResult.Tcp, PacketDecoder.Decode(PacketDecoder.LinkRaw, v6, ref s));
        Assert.True(s.V6 && s.SrcPort == 2181 && s.Flags == 0x12 && s.PayloadLength == 0);

        Assert.Equal(DecodeResult.Truncated, PacketDecoder.Decode(PacketDecoder.LinkEthernet, frame.AsSpan(0, 30), ref s));
        Assert.Equal(DecodeResult.UnknownLink, PacketDecoder.Decode(147, frame, ref s));
        var frag = Ipv4Tcp(); frag[7] = 8; // fragment offset 64 bytes: no TCP header here
        Assert.Equal(DecodeResult.Fragment, PacketDecoder.Decode(PacketDecoder.LinkRaw, frag, ref s));
    }

    /// <summary>A big-endian pcapng with two sections; the second section's interface counts time in 2^-10 s.</summary>
    [Fact]
    public void ReaderFollowsSectionsByteOrderAndBinaryTimeResolution()
    {
        var ms = new MemoryStream();
        void U32(uint v) { Span<byte> b = stackalloc byte[4]; BinaryPrimitives.WriteUInt32BigEndian(b, v); ms.Write(b); }
        void U16(ushort v) { Span<byte> b = stackalloc byte[2]; BinaryPrimitives.WriteUInt16BigEndian(b, v); ms.Write(b); }
        void Section() { U32(0x0A0D0D0A); U32(28); U32(0x1A2B3C4D); U16(1); U16(0); U32(0xFFFFFFFF); U32(0xFFFFFFFF); U32(28); }
        void Iface(byte resol) { U32(1); U32(28); U16(101); U16(0); U32(0); U16(9); U16(1); ms.WriteByte(resol); ms.Write(new byte[3]); U32(28); }
        var pkt = Ipv4Tcp();
        void Packet(ulong ts) { U32(6); U32((uint)(32 + pkt.Length)); U32(0); U32((uint)(ts >> 32)); U32((uint)ts); U32((uint)pkt.Length); U32((uint)pkt.Length); ms.Write(pkt); U32((uint)(32 + pkt.Length)); }
        Section(); Iface(6); Packet(1_500_000); // 1.5 s in microseconds
        Section(); Iface(0x80 | 10); Packet(3 * 1024 + 512); // 3.5 s in 1/1024 s
        ms.Position = 0;
        using var r = new PcapReader(ms, "test");
        Assert.Equal("pcapng (big-endian)", r.Format);
        Assert.True(r.Next(out var p1));
        Assert.Equal((1, 1), (r.Sections, r.Interfaces));
        Assert.Equal(1_500_000_000, p1.TimeNs);
        Assert.True(r.Next(out var p2));
        Assert.Equal(3_500_000_000, p2.TimeNs);
        Assert.Equal(PacketDecoder.LinkRaw, p2.LinkType);
        Assert.False(r.Next(out _));
        Assert.Null(r.StoppedAt);
        Assert.Equal((2, 2), (r.Sections, r.Interfaces)); // one interface in each section: two in the file
    }
}
