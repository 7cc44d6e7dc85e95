using System.Buffers.Binary;
using ConnDoctor.Model;
using ConnDoctor.Native;
using ConnDoctor.Sources;

namespace ConnDoctor.Tests.Parsers;

/// <summary>The netlink decoder on messages laid out as linux/inet_diag.h defines them, and on damaged input.</summary>
public class SockDiagParserTests
{
    // One SOCK_DIAG_BY_FAMILY message: nlmsghdr, inet_diag_msg, an INET_DIAG_INFO attribute carrying tcp_info.
    private static byte[] Message(byte family, TcpState state, byte[] src, ushort sport, byte[] dst, ushort dport, uint inode, int infoLength = 232)
    {
        int attrLen = 4 + infoLength;
        int len = 16 + 72 + attrLen;
        var b = new byte[(len + 3) & ~3];
        BinaryPrimitives.WriteUInt32LittleEndian(b, (uint)len);
        BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(4), SockDiagParser.SOCK_DIAG_BY_FAMILY);
        var m = b.AsSpan(16);
        m[0] = family; m[1] = (byte)state; m[2] = (byte)TimerKind.Keepalive; m[3] = 2;
        BinaryPrimitives.WriteUInt16BigEndian(m[4..], sport);
        BinaryPrimitives.WriteUInt16BigEndian(m[6..], dport);
        src.CopyTo(m[8..]);
        dst.CopyTo(m[24..]);
        BinaryPrimitives.WriteUInt32LittleEndian(m[52..], 7000);  // expires
        BinaryPrimitives.WriteUInt32LittleEndian(m[56..], 11);    // rqueue
        BinaryPrimitives.WriteUInt32LittleEndian(m[60..], 22);    // wqueue
        BinaryPrimitives.WriteUInt32LittleEndian(m[64..], 1000);  // uid
        BinaryPrimitives.WriteUInt32LittleEndian(m[68..], inode);
        var a = m[72..];
        BinaryPrimitives.WriteUInt16LittleEndian(a, (ushort)attrLen);
        BinaryPrimitives.WriteUInt16LittleEndian(a[2..], SockDiagParser.INET_DIAG_INFO);
        var t = a[4..];
        t[2] = 5; t[3] = 3; t[4] = 6;                               // retransmits, probes, backoff
        BinaryPrimitives.WriteUInt32LittleEndian(t[24..], 4);       // unacked
        BinaryPrimitives.WriteUInt32LittleEndian(t[44..], 100);     // last_data_sent
        BinaryPrimitives.WriteUInt32LittleEndian(t[52..], 200_000); // last_data_recv
        BinaryPrimitives.WriteUInt32LittleEndian(t[56..], 150_000); // last_ack_recv
        BinaryPrimitives.WriteUInt32LittleEndian(t[68..], 1234);    // rtt
        if (infoLength >= 136) BinaryPrimitives.WriteUInt64LittleEndian(t[128..], 987654321); // bytes_received
        return b;
    }

    private static byte[] Done()
    {
        var b = new byte[20];
        BinaryPrimitives.WriteUInt32LittleEndian(b, 20);
        BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(4), SockDiagParser.NLMSG_DONE);
        return b;
    }

    [Fact]
    public void DecodesEveryFieldOfAnIpv4Message()
    {
        var buf = Message(2, TcpState.Established, [10, 1, 2, 3], 45000, [10, 9, 8, 7], 2181, 424242).Concat(Done()).ToArray();
        var list = new List<SocketRecord>();
        Assert.Equal(NetlinkDump.Outcome.Done, SockDiagParser.Parse(buf, 3, list, out _));
        var s = Assert.Single(list);
        Assert.Equal("10.1.2.3:45000", s.Local.ToString());
        Assert.Equal("10.9.8.7:2181", s.Remote.ToString());
        Assert.Equal((TcpState.Established, TimerKind.Keepalive, (byte)2, 7000u, 11u, 22u, 1000u, 424242UL, 3),
            (s.State, s.Timer, s.TimerRetransmits, s.TimerExpiresMs, s.RecvQueue, s.SendQueue, s.Uid, s.Inode, s.NetnsIndex));
        var i = s.Info!.Value;
        Assert.Equal((5, 3, 6, 4u, 200_000u, 150_000u, 1234u, 987654321UL, 150_000u),
            ((int)i.Retransmits, (int)i.Probes, (int)i.Backoff, i.Unacked, i.LastDataRecvMs, i.LastAckRecvMs, i.RttUs, i.BytesReceived, i.SilentMs));
    }

    [Fact]
    public void DecodesIpv6AndAShortOldKernelTcpInfo()
    {
        var v6 = new byte[16]; v6[0] = 0x20; v6[1] = 0x01; v6[15] = 1;
        var buf = Message(10, TcpState.CloseWait, v6, 1, v6, 2, 1, infoLength: 104);
        var list = new List<SocketRecord>();
        Assert.Equal(NetlinkDump.Outcome.More, SockDiagParser.Parse(buf, 0, list, out _));
        var s = Assert.Single(list);
        Assert.Equal("[2001::1]:1", s.Local.ToString());
        Assert.Equal(0UL, s.Info!.Value.BytesReceived); // not in a 104-byte struct
    }

    [Fact]
    public void KernelErrorIsReportedWithItsErrno()
    {
        var b = new byte[36];
        BinaryPrimitives.WriteUInt32LittleEndian(b, 36);
        BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(4), SockDiagParser.NLMSG_ERROR);
        BinaryPrimitives.WriteInt32LittleEndian(b.AsSpan(16), -2);
        Assert.Equal(NetlinkDump.Outcome.Error, SockDiagParser.Parse(b, 0, new List<SocketRecord>(), out int errno));
        Assert.Equal(2, errno);
    }

    [Fact]
    public void EveryTruncationOfAValidBufferIsHandledWithoutThrowing()
    {
        var buf = Message(2, TcpState.Established, [1, 2, 3, 4], 1, [5, 6, 7, 8], 2, 9).Concat(Done()).ToArray();
        for (int n = 0; n <= buf.Length; n++)
        {
            var list = new List<SocketRecord>();
            var outcome = SockDiagParser.Parse(buf.AsSpan(0, n), 0, list, out _);
            Assert.True(list.Count <= 1);
            // Only the complete buffer reaches NLMSG_DONE; a cut message is an error or "more to come".
            Assert.Equal(n == buf.Length, outcome == NetlinkDump.Outcome.Done);
        }
    }
}
