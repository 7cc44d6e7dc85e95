using System.Net;
using System.Net.Sockets;
using System.Text;
using ConnDoctor.Sources.ZkWire;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.ZkWire;

/// <summary>Servers that are not ZooKeeper, or ZooKeeper servers that misbehave: each a real loopback listener.</summary>
public class ZkClientBadServerTests
{
    // Generous where the fake server answers (the suite shares two cores with JVMs); short where silence is the point.
    private static ZkClient Connect(int port) => ZkClient.Connect("127.0.0.1", port, TimeSpan.FromSeconds(10));
    private static ZkClient ConnectShort(int port) => ZkClient.Connect("127.0.0.1", port, TimeSpan.FromSeconds(1));

    [Theory]
    [InlineData("HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n", "48 54 54 50 (\"HTTP\")")]
    [InlineData("SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n", "53 53 48 2d (\"SSH-\")")]
    [InlineData("\xff\xff\xff\xf0garbage", "ff ff ff f0 where a frame length belongs (-16 bytes")]
    public void AServerThatAnswersWithSomethingElseIsNotZooKeeper(string reply, string named)
    {
        using var server = new BadServers(s =>
        {
            BadServers.ReadFrame(s);
            s.Send(Encoding.Latin1.GetBytes(reply));
            Thread.Sleep(5000);                          // and keep the connection open: the client must not wait for more
        });
        var ex = BadServers.Within(() => Connect(server.Port));
        Assert.Equal(ZkErrorCode.MarshallingError, ex.Code);
        Assert.StartsWith($"zookeeper 127.0.0.1:{server.Port}: connect: not a ZooKeeper server? it sent ", ex.Message);
        Assert.Contains(named, ex.Message);
    }

    [Fact]
    public void AServerThatSaysNothingTimesOutWithinTheTimeout()
    {
        using var server = new BadServers(s => Thread.Sleep(10_000));
        var ex = BadServers.Within(() => ConnectShort(server.Port));
        Assert.Equal(ZkErrorCode.OperationTimeout, ex.Code);
        Assert.Equal($"zookeeper 127.0.0.1:{server.Port}: connect: no answer to the ConnectRequest within 1s (not a ZooKeeper server, or one too busy to answer)", ex.Message);
    }

    [Fact]
    public void AReplyThatStopsHalfWayTimesOutAndOneCutShortIsAClosedConnection()
    {
        var full = BadServers.ConnectResponse(4000, 0x1234);
        using (var stalls = new BadServers(s =>
        {
            BadServers.ReadFrame(s);
            s.Send(full[..10]);
            Thread.Sleep(10_000);
        }))
        {
            var ex = BadServers.Within(() => ZkClient.Connect("127.0.0.1", stalls.Port, TimeSpan.FromSeconds(3)));
            Assert.Equal(ZkErrorCode.OperationTimeout, ex.Code);
            Assert.EndsWith("connect: the reply stopped after 10 bytes and nothing more came within 3s", ex.Message);
        }
        using var hangsUp = new BadServers(s =>
        {
            BadServers.ReadFrame(s);
            s.Send(full[..10]);
            s.Shutdown(SocketShutdown.Both);
        });
        var cut = BadServers.Within(() => Connect(hangsUp.Port));
        Assert.Equal(ZkErrorCode.ConnectionLoss, cut.Code);
        Assert.EndsWith("connect: the server closed the connection in the middle of a reply (after 10 bytes)", cut.Message);
    }

    [Fact]
    public void AClosedPortIsConnectionRefused()
    {
        int port = Ports.Closed();
        var ex = BadServers.Within(() => Connect(port));
        Assert.Equal(ZkErrorCode.ConnectionLoss, ex.Code);
        Assert.Equal($"zookeeper 127.0.0.1:{port}: connect: connection refused (nothing listens on that port)", ex.Message);
    }

    [Fact]
    public void AListenerWhoseAcceptQueueIsFullTimesOutTheTcpConnect()
    {
        // A listener that never accepts: once its queue is full the kernel drops further SYNs, as a host that is
        // down or behind a dropping firewall would.
        using var listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        listener.Listen(0);
        int port = ((IPEndPoint)listener.LocalEndPoint!).Port;
        var fillers = new List<Socket>();
        try
        {
            for (int i = 0; i < 16; i++)
            {
                var s = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { Blocking = false };
                fillers.Add(s);
                try { s.Connect(IPAddress.Loopback, port); }
                catch (SocketException e) when (e.SocketErrorCode is SocketError.WouldBlock or SocketError.InProgress) { }
                if (!s.Poll(500_000, SelectMode.SelectWrite)) break;   // this one's SYN was dropped: the queue is full
            }
            var ex = BadServers.Within(() => ConnectShort(port));
            Assert.Equal(ZkErrorCode.OperationTimeout, ex.Code);
            Assert.Equal($"zookeeper 127.0.0.1:{port}: connect: no TCP connection within 1s (host down or packets dropped?)", ex.Message);
        }
        finally
        {
            foreach (var s in fillers) s.Dispose();
        }
    }

    [Fact]
    public void AServerThatClosesAtOnceOrRefusesTheSessionIsNamedAsSuch()
    {
        using (var closes = new BadServers(s => s.Shutdown(SocketShutdown.Both)))
        {
            var ex = BadServers.Within(() => Connect(closes.Port));
            Assert.Equal(ZkErrorCode.ConnectionLoss, ex.Code);
            Assert.Contains("(at its maxClientCnxns limit for our address, or not serving yet", ex.Message);
        }
        using var refuses = new BadServers(s =>
        {
            BadServers.ReadFrame(s);
            s.Send(BadServers.ConnectResponse(0, 0));    // what a server answers to a session it will not have
            Thread.Sleep(5000);
        });
        var refused = BadServers.Within(() => Connect(refuses.Port));
        Assert.Equal(ZkErrorCode.SessionExpired, refused.Code);
        Assert.EndsWith("connect: the server refused the session (negotiated timeout 0)", refused.Message);
    }

    /// <summary>A server that completes the handshake as ZooKeeper does, then answers the first request with <c>reply</c>.</summary>
    private static BadServers Handshaking(Func<int, byte[]> reply) => new(s =>
    {
        var request = BadServers.ReadFrame(s);
        // protocolVersion 0 ... readOnly true, or no answer (and the test fails on the client's timeout)
        if (request.Length < 5 || request.AsSpan(0, 4).IndexOfAnyExcept((byte)0) >= 0 || request[^1] != 1) return;
        s.Send(BadServers.ConnectResponse(4000, 0x77));
        var next = BadServers.ReadFrame(s);
        if (next.Length < 8) return;
        int xid = System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(next);
        s.Send(reply(xid));
        // Then answer what follows (the client's closeSession) as ZooKeeper does, so that its Dispose need not wait
        // out the timeout; until the client hangs up.
        while (BadServers.ReadFrame(s) is { Length: >= 8 } more)
            s.Send(Reply(System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(more), 0));
    });

    private static byte[] Reply(int xid, int err, Action<JuteWriter>? body = null)
    {
        var w = new JuteWriter();
        w.WriteInt(xid);
        w.WriteLong(42);
        w.WriteInt(err);
        body?.Invoke(w);
        return w.Frame().ToArray();
    }

    [Fact]
    public void AMalformedReplyAfterAGoodHandshakeDropsTheConnectionWithAClearError()
    {
        // A children vector whose first string claims more bytes than the frame holds.
        using var server = Handshaking(xid => Reply(xid, 0, w => { w.WriteInt(1); w.WriteInt(1000); w.WriteInt(0x41424344); }));
        using var client = Connect(server.Port);
        Assert.Equal(0x77, client.SessionId);
        Assert.Equal(4000, client.NegotiatedTimeoutMs);
        var ex = BadServers.Within(() => { client.GetChildren("/x"); });
        Assert.Equal(ZkErrorCode.MarshallingError, ex.Code);
        Assert.Equal($"zookeeper 127.0.0.1:{server.Port}: getChildren /x: not a ZooKeeper server? malformed reply: string length 1000 at byte 4, 4 bytes left in the frame", ex.Message);
        var after = BadServers.Within(client.Ping);
        Assert.Equal(ZkErrorCode.ConnectionLoss, after.Code);
        Assert.Contains("the connection was dropped after an earlier error (", after.Message);
    }

    [Fact]
    public void AReplyToAnotherRequestIsRejectedButNotificationsAreSkipped()
    {
        using (var wrong = Handshaking(xid => Reply(xid + 7, 0)))
        {
            using var client = Connect(wrong.Port);
            var ex = BadServers.Within(() => { client.Exists("/x"); });
            Assert.Equal(ZkErrorCode.MarshallingError, ex.Code);
            Assert.EndsWith("exists /x: not a ZooKeeper server? reply to request 8 while waiting for 1", ex.Message);
        }
        // A watch notification (xid -1) and a stray ping reply (xid -2) before the real reply are skipped.
        using var chatty = Handshaking(xid => [
            .. Reply(-1, 0, w => { w.WriteInt(3); w.WriteInt(3); w.WriteString("/x"); }),
            .. Reply(-2, 0),
            .. Reply(xid, (int)ZkErrorCode.NoAuth)]);
        using var c2 = Connect(chatty.Port);
        var noAuth = BadServers.Within(() => { c2.GetData("/secret"); });
        Assert.Equal(ZkErrorCode.NoAuth, noAuth.Code);
        Assert.EndsWith("getData /secret: NoAuth", noAuth.Message);
        Assert.Equal(42, c2.LastZxid);
    }

    [Fact]
    public void AnErrorCodeThisClientDoesNotKnowIsStillNamedByNumber()
    {
        using var server = Handshaking(xid => Reply(xid, -999));
        using var client = Connect(server.Port);
        var ex = BadServers.Within(() => { client.GetChildren2("/x"); });
        Assert.Equal(-999, (int)ex.Code);
        Assert.EndsWith("getChildren2 /x: error -999", ex.Message);
    }

    [Fact]
    public void RandomBytesFromAServerAreAlwaysAZkException()
    {
        var random = new Random(6);
        for (int i = 0; i < 40; i++)
        {
            var junk = new byte[random.Next(0, 80)];
            random.NextBytes(junk);
            if (i % 4 == 0 && junk.Length >= 4) junk[0] = junk[1] = 0;    // a plausible small length, then junk
            using var server = new BadServers(s =>
            {
                BadServers.ReadFrame(s);
                s.Send(junk);
                s.Shutdown(SocketShutdown.Both);
            });
            var ex = BadServers.Within(() => Connect(server.Port));
            Assert.StartsWith($"zookeeper 127.0.0.1:{server.Port}: connect: ", ex.Message);
        }
    }
}
