using System.Net;
using System.Net.Sockets;
using ConnDoctor.Sources.ZkWire;

namespace ConnDoctor.Tests.ZkWire;

/// <summary>
/// A real loopback TCP listener that behaves like a broken or foreign server: each accepted connection is handed
/// to <c>serve</c> (which may send garbage, say nothing, or play a ZooKeeper server badly) on its own thread.
/// </summary>
public sealed class BadServers : IDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly List<Socket> _accepted = [];
    private readonly Thread _thread;
    public int Port { get; }

    public BadServers(Action<Socket> serve)
    {
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _thread = new Thread(() =>
        {
            while (true)
            {
                Socket s;
                try { s = _listener.AcceptSocket(); }
                catch (SocketException) { return; }
                catch (ObjectDisposedException) { return; }
                catch (InvalidOperationException) { return; }   // stopped
                lock (_accepted) _accepted.Add(s);
                new Thread(() =>
                {
                    try { serve(s); }
                    catch (Exception) { } // a fake server's own failure must not crash the test host; the client's view is asserted
                }) { IsBackground = true }.Start();
            }
        }) { IsBackground = true };
        _thread.Start();
    }

    /// <summary>Reads one whole request frame (length-prefixed) from the client; empty if it hung up.</summary>
    public static byte[] ReadFrame(Socket s)
    {
        var prefix = ReadExactly(s, 4);
        if (prefix.Length < 4) return [];
        return ReadExactly(s, System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(prefix));
    }

    private static byte[] ReadExactly(Socket s, int n)
    {
        var buf = new byte[n];
        int got = 0;
        while (got < n)
        {
            int r = s.Receive(buf, got, n - got, SocketFlags.None);
            if (r == 0) return buf[..got];
            got += r;
        }
        return buf;
    }

    /// <summary>A valid ConnectResponse frame (timeout, session id, 16-byte password, readOnly).</summary>
    public static byte[] ConnectResponse(int timeoutMs, long sessionId)
    {
        var w = new JuteWriter();
        w.WriteInt(0);
        w.WriteInt(timeoutMs);
        w.WriteLong(sessionId);
        w.WriteBuffer(new byte[16]);
        w.WriteBool(false);
        return w.Frame().ToArray();
    }

    /// <summary>
    /// Runs a call that must fail with a ZkException and returns it. The call runs on its own thread so that a
    /// hang fails the test (after a generous 30 s) instead of hanging the suite.
    /// </summary>
    public static ZkException Within(Action call)
    {
        Exception? thrown = null;
        var t = new Thread(() =>
        {
            try { call(); }
            catch (Exception ex) { thrown = ex; }
        }) { IsBackground = true };
        t.Start();
        Assert.True(t.Join(30_000), "the call hung");
        Assert.NotNull(thrown);
        var zk = Assert.IsType<ZkException>(thrown);
        Assert.DoesNotContain('\n', zk.Message);
        return zk;
    }

    public static ZkException Within(Func<ZkClient> connect) => Within(() => { connect().Dispose(); });

    public void Dispose()
    {
        _listener.Stop();
        _thread.Join(5000);
        lock (_accepted)
            foreach (var s in _accepted) s.Dispose();
    }
}
