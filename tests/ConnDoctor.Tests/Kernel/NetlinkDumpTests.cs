using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using ConnDoctor.Native;
using ConnDoctor.Sources;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.Kernel;

/// <summary>
/// The one netlink dump loop (Native/NetlinkDump) against the real kernel, in namespaces the tests make: sock_diag and
/// rtnetlink dumps of known contents, a request the kernel refuses, a receive buffer too small for a datagram, and a
/// reply that never ends.
/// </summary>
public class NetlinkDumpTests
{
    private const int NETLINK_ROUTE = 0;
    private const ushort SOCK_DIAG_BY_FAMILY = 20, RTM_NEWLINK = 16, RTM_GETLINK = 18, RTM_NEWADDR = 20, RTM_GETADDR = 22;
    private const ushort NLM_F_MULTI = 2;

    /// <summary>Listening sockets made inside the namespace (a socket belongs to the namespace of the thread that made it).</summary>
    private static List<Socket> Listeners(TestNetns ns, int count) => NetnsScope.Run($"/run/netns/{ns.Name}", () =>
    {
        var list = new List<Socket>();
        for (int i = 0; i < count; i++)
        {
            var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            s.Bind(new IPEndPoint(IPAddress.Loopback, 0));
            s.Listen(1);
            list.Add(s);
        }
        return list;
    });

    private static byte[] SockDiagRequest(byte family)
    {
        var req = new byte[72];
        SockDiagParser.BuildRequest(req, family, 1u << 10 /* TCP_LISTEN */, 1);
        return req;
    }

    [Fact]
    public void ASockDiagDumpOverSeveralDatagramsHandsOnEverySocketOfTheNamespaceOnce()
    {
        using var ns = new TestNetns("nld");
        var sockets = Listeners(ns, 400);
        try
        {
            var made = sockets.Select(s => ((IPEndPoint)s.LocalEndPoint!).Port).Order().ToList();
            var seen = new List<int>();
            var record = new List<byte[]>();
            NetnsScope.Run($"/run/netns/{ns.Name}", () =>
            {
                NetlinkDump.Dump(Libc.NETLINK_SOCK_DIAG, SockDiagRequest(2), (type, flags, payload) =>
                {
                    Assert.Equal(SOCK_DIAG_BY_FAMILY, type);
                    Assert.Equal(NLM_F_MULTI, (ushort)(flags & NLM_F_MULTI));     // a dump's messages are marked multipart
                    seen.Add(BinaryPrimitives.ReadUInt16BigEndian(payload[4..]));  // inet_diag_msg: idiag_sport
                }, 256 * 1024, record: record);
                return 0;
            });
            Assert.Equal(made, seen.Order().ToList());
            // 400 sockets with tcp_info do not fit one datagram: the loop went on past the first recv.
            Assert.True(record.Count > 1, $"{record.Count} datagram(s)");
            // The oracle: ss counts the same listeners.
            Assert.Equal(400, ns.Exec("ss", "-Htln").Split('\n', StringSplitOptions.RemoveEmptyEntries).Length);
        }
        finally { foreach (var s in sockets) s.Dispose(); }
    }

    [Fact]
    public void AnRtnetlinkAddressDumpHandsOnEveryAddressIpAddrLists()
    {
        using var ns = new TestNetns("nld");
        for (int i = 1; i <= 20; i++) ns.Exec("ip", "addr", "add", $"10.78.{i}.1/24", "dev", "lo");
        var req = new byte[24];
        BinaryPrimitives.WriteUInt32LittleEndian(req, 24);
        BinaryPrimitives.WriteUInt16LittleEndian(req.AsSpan(4), RTM_GETADDR);
        BinaryPrimitives.WriteUInt16LittleEndian(req.AsSpan(6), NetlinkDump.NLM_F_REQUEST | NetlinkDump.NLM_F_DUMP);
        var got = new List<string>();
        NetnsScope.Run($"/run/netns/{ns.Name}", () =>
        {
            NetlinkDump.Dump(NETLINK_ROUTE, req, (type, _, payload) =>
            {
                Assert.Equal(RTM_NEWADDR, type);
                got.Add($"{payload[0]}/{payload[1]}");                   // ifaddrmsg: family, prefix length
            }, 64 * 1024);
            return 0;
        });
        // The oracle: `ip -o addr` in the namespace, one line per address (127.0.0.1/8, ::1/128 and the 20 added).
        var oracle = ns.Exec("ip", "-o", "addr").Split('\n', StringSplitOptions.RemoveEmptyEntries)
            .Select(l => l.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Select(f => $"{(f[2] == "inet" ? 2 : 10)}/{f[3].Split('/')[1]}").Order().ToList();
        Assert.Equal(22, oracle.Count);
        Assert.Equal(oracle, got.Order().ToList());
    }

    [Fact]
    public void ARequestTheKernelRefusesGivesTheCallersErrorWithTheErrno()
    {
        using var ns = new TestNetns("nld");
        // sock_diag refuses a family at or past AF_MAX with EINVAL before it looks at anything else.
        var netlink = Assert.Throws<NetlinkException>(() => NetnsScope.Run($"/run/netns/{ns.Name}", () =>
        {
            NetlinkDump.Dump(Libc.NETLINK_SOCK_DIAG, SockDiagRequest(99), (_, _, _) => Assert.Fail("no message expected"), 64 * 1024);
            return 0;
        }));
        Assert.Equal((NetlinkStep.Refused, Libc.EINVAL), (netlink.Step, netlink.Errno));

        // The socket source words it as it always has.
        var source = Assert.Throws<SourceException>(() => NetnsScope.Run($"/run/netns/{ns.Name}", () =>
        {
            NetlinkSocketDump.Dump(SockDiagRequest(99), (_, _, _) => Assert.Fail("no message expected"), 64 * 1024);
            return 0;
        }));
        Assert.Equal("sock_diag refused the dump: Invalid argument", source.Message);
        Assert.Equal(Libc.EINVAL, source.Errno);
    }

    [Fact]
    public void ADatagramLargerThanTheBufferIsATruncationErrorNotAReadPastIt()
    {
        using var ns = new TestNetns("nld");
        var sockets = Listeners(ns, 3);
        try
        {
            int handed = 0;
            var ex = Assert.Throws<SourceException>(() => NetnsScope.Run($"/run/netns/{ns.Name}", () =>
            {
                // One listener's message (nlmsghdr + inet_diag_msg + tcp_info) is ~ 350 bytes: it cannot fit 64.
                NetlinkSocketDump.Dump(SockDiagRequest(2), (_, _, _) => handed++, 64);
                return 0;
            }));
            Assert.Equal(0, handed);
            Assert.StartsWith("netlink sock_diag reply: a ", ex.Message);
            Assert.EndsWith("-byte datagram did not fit the 64-byte receive buffer (truncated)", ex.Message);
            int size = int.Parse(ex.Message["netlink sock_diag reply: a ".Length..].Split('-')[0]);
            Assert.True(size > 64, ex.Message);
        }
        finally { foreach (var s in sockets) s.Dispose(); }
    }

    [Fact]
    public void AReplyThatNeverEndsStopsAtTheReceiveTimeout()
    {
        using var ns = new TestNetns("nld");
        // RTM_GETLINK for one interface (lo, index 1) without NLM_F_DUMP: the kernel answers one message and no
        // NLMSG_DONE, as a dump that never ends would look to the loop.
        var req = new byte[32];
        BinaryPrimitives.WriteUInt32LittleEndian(req, 32);
        BinaryPrimitives.WriteUInt16LittleEndian(req.AsSpan(4), RTM_GETLINK);
        BinaryPrimitives.WriteUInt16LittleEndian(req.AsSpan(6), NetlinkDump.NLM_F_REQUEST);
        BinaryPrimitives.WriteInt32LittleEndian(req.AsSpan(20), 1);
        var types = new List<ushort>();
        var ex = Assert.Throws<NetlinkException>(() => NetnsScope.Run($"/run/netns/{ns.Name}", () =>
        {
            int fd = NetlinkDump.Open(NETLINK_ROUTE, timeoutSeconds: 1);
            try { NetlinkDump.Run(fd, req, (type, _, _) => types.Add(type), 64 * 1024); }
            finally { Libc.close(fd); }
            return 0;
        }));
        Assert.Equal(new[] { RTM_NEWLINK }, types);
        Assert.Equal((NetlinkStep.Reply, 11 /* EAGAIN */), (ex.Step, ex.Errno));
        Assert.Contains("the dump did not end", ex.Message);
    }

    private static byte[] Message(ushort type, ushort flags, int payloadLength, int lengthField = -1)
    {
        var m = new byte[NetlinkDump.Align4(16 + payloadLength)];
        BinaryPrimitives.WriteUInt32LittleEndian(m, (uint)(lengthField >= 0 ? lengthField : 16 + payloadLength));
        BinaryPrimitives.WriteUInt16LittleEndian(m.AsSpan(4), type);
        BinaryPrimitives.WriteUInt16LittleEndian(m.AsSpan(6), flags);
        for (int i = 16; i < 16 + payloadLength; i++) m[i] = (byte)i;
        return m;
    }

    [Fact]
    public void TheWalkHandsOnEachPayloadWithItsTypeAndFlagsAndStopsWhereTheKernelSaysOrTheBytesDo()
    {
        var seen = new List<(ushort, ushort, int)>();
        NetlinkDump.MessageHandler h = (type, flags, payload) => seen.Add((type, flags, payload.Length));
        // Two messages (the first of a length that is not a multiple of 4: padded), then DONE, then one the walk must not reach.
        var datagram = Message(20, 2, 5).Concat(Message(21, 0x22, 8)).Concat(Message(NetlinkDump.NLMSG_DONE, 2, 4)).Concat(Message(20, 2, 8)).ToArray();
        Assert.Equal(NetlinkDump.Outcome.Done, NetlinkDump.Walk(datagram, h, out int errno));
        Assert.Equal(0, errno);
        Assert.Equal(new[] { ((ushort)20, (ushort)2, 5), ((ushort)21, (ushort)0x22, 8) }, seen);

        // An NLMSG_ERROR of 0 is an ACK (done); of -EPERM a refusal with its errno.
        var ack = Message(NetlinkDump.NLMSG_ERROR, 0, 20);
        BinaryPrimitives.WriteInt32LittleEndian(ack.AsSpan(16), 0);
        Assert.Equal(NetlinkDump.Outcome.Done, NetlinkDump.Walk(ack, h, out _));
        BinaryPrimitives.WriteInt32LittleEndian(ack.AsSpan(16), -Libc.EPERM);
        Assert.Equal(NetlinkDump.Outcome.Error, NetlinkDump.Walk(ack, h, out errno));
        Assert.Equal(Libc.EPERM, errno);

        // A length past the datagram, or below a header: malformed, and nothing of it handed on.
        seen.Clear();
        var cut = Message(20, 2, 8).Concat(Message(20, 2, 8, lengthField: 400)).ToArray();
        Assert.Equal(NetlinkDump.Outcome.Malformed, NetlinkDump.Walk(cut, h, out errno));
        Assert.Equal((1, Libc.EINVAL), (seen.Count, errno));
        Assert.Equal(NetlinkDump.Outcome.Malformed, NetlinkDump.Walk(Message(20, 2, 8, lengthField: 8), h, out _));
        // No DONE yet: more to come.
        Assert.Equal(NetlinkDump.Outcome.More, NetlinkDump.Walk(Message(20, 2, 8), h, out _));
    }
}
