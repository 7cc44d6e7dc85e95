using System.Net;
using System.Net.Sockets;
using ConnDoctor.Analysis;
using static ConnDoctor.Sources.ZkWire.ZkProtocol;

namespace ConnDoctor.Sources.ZkWire;

/// <summary>
/// A minimal synchronous ZooKeeper client over the jute wire protocol: one TCP connection, one session, one
/// request in flight. It reads (getChildren, exists, getData), creates and deletes znodes, pings and closes;
/// it never reconnects and sets no watches. Every call waits at most the timeout given to <see cref="Connect"/>;
/// every failure is a <see cref="ZkException"/> naming the server and the request. After a failure on the wire
/// (timeout, closed connection, bytes that are no ZooKeeper reply) the connection is dropped and every later call
/// fails at once, because the stream can no longer be trusted to be in step.
/// </summary>
public sealed class ZkClient : IDisposable
{
    private readonly Socket _socket;
    private readonly TimeSpan _timeout;
    private readonly JuteWriter _writer = new();
    private readonly Lock _gate = new();
    private int _nextXid = 1;
    private bool _closed;
    private string? _broken;     // why the connection was dropped: no further request is sent

    /// <summary>"host:port" as given to Connect; the prefix of every error message.</summary>
    public string Server { get; }
    public long SessionId { get; }
    public int NegotiatedTimeoutMs { get; }
    /// <summary>The server said it is in read-only mode (a member cut off from the quorum, started with readonlymode.enabled).</summary>
    public bool IsReadOnly { get; }
    /// <summary>Our source address:port, as the server sees it in cons and in its log.</summary>
    public IPEndPoint LocalEndPoint { get; }
    public IPEndPoint RemoteEndPoint { get; }
    /// <summary>The highest zxid seen in a reply header (0 before the first request).</summary>
    public long LastZxid { get; private set; }

    private ZkClient(Socket socket, string server, TimeSpan timeout, (int TimeoutMs, long SessionId, bool ReadOnly) session)
    {
        _socket = socket;
        _timeout = timeout;
        Server = server;
        SessionId = session.SessionId;
        NegotiatedTimeoutMs = session.TimeoutMs;
        IsReadOnly = session.ReadOnly;
        LocalEndPoint = (IPEndPoint)socket.LocalEndPoint!;
        RemoteEndPoint = (IPEndPoint)socket.RemoteEndPoint!;
    }

    /// <summary>
    /// Connects and opens a new session: ConnectRequest with protocol version 0, no last zxid, no session id, an
    /// empty password and readOnly=true (so a member in read-only mode answers too). The whole call, name lookup
    /// included, is bounded by <paramref name="timeout"/>.
    /// </summary>
    public static ZkClient Connect(string host, int port, TimeSpan timeout, int sessionTimeoutMs = 10_000)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(host);
        ArgumentOutOfRangeException.ThrowIfLessThan(port, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(port, 65535);
        ArgumentOutOfRangeException.ThrowIfLessThanOrEqual(timeout, TimeSpan.Zero);
        host = host.Trim().TrimStart('[').TrimEnd(']');
        string server = host.Contains(':') ? $"[{host}]:{port}" : $"{host}:{port}";
        long deadline = Environment.TickCount64 + (long)Math.Ceiling(timeout.TotalMilliseconds);

        var socket = Open(host, port, server, timeout, deadline);
        try
        {
            var w = new JuteWriter();
            w.WriteInt(0);                 // protocolVersion
            w.WriteLong(0);                // lastZxidSeen: we have seen nothing, so any member accepts us
            w.WriteInt(sessionTimeoutMs);
            w.WriteLong(0);                // sessionId: a new session
            w.WriteBuffer([]);             // passwd
            w.WriteBool(true);             // readOnly
            var frame = new Wire(socket, server, "connect", null, deadline, timeout).Exchange(w.Frame(), handshake: true);
            if (frame.Length == ReplyHeaderLength)
            {
                // Not a ConnectResponse but an error reply: how a 3.8 member in read-only mode without local
                // sessions turns down a new session (NotReadOnly).
                var r = new JuteReader(frame);
                int err = ReadReplyHeader(ref r).Err;
                if (err != 0)
                    throw Error(server, "connect", null, (ZkErrorCode)err, $"the server refused the session with {ZkException.Describe((ZkErrorCode)err)}"
                        + (err == (int)ZkErrorCode.NotReadOnly ? " (a member in read-only mode that creates no new sessions; localSessionsEnabled=true lets it)" : ""));
            }
            (int TimeoutMs, long SessionId, bool ReadOnly) session;
            try { session = ParseConnectResponse(frame); }
            catch (ZkException ex) { throw Error(server, "connect", null, ex.Code, NotZooKeeper(ex.Message)); }
            if (session.TimeoutMs <= 0)
                throw Error(server, "connect", null, ZkErrorCode.SessionExpired, "the server refused the session (negotiated timeout 0)");
            return new ZkClient(socket, server, timeout, session);
        }
        catch
        {
            socket.Dispose();
            throw;
        }
    }

    /// <summary>A ping (xid -2): proves the session is alive and touches it, as a client's heartbeat does.</summary>
    public void Ping()
    {
        lock (_gate)
        {
            Call(Header(PingXid, OpPing), PingXid, "ping", null);
        }
    }

    public IReadOnlyList<string> GetChildren(string path)
    {
        lock (_gate)
        {
            var (w, xid) = Request(OpGetChildren, path);
            w.WriteString(path);
            w.WriteBool(false);    // no watch
            return Decode(Call(w, xid, "getChildren", path), "getChildren", path, static (ref JuteReader r) => r.ReadStringVector());
        }
    }

    public (IReadOnlyList<string> Children, ZkStat Stat) GetChildren2(string path)
    {
        lock (_gate)
        {
            var (w, xid) = Request(OpGetChildren2, path);
            w.WriteString(path);
            w.WriteBool(false);
            return Decode<(IReadOnlyList<string>, ZkStat)>(Call(w, xid, "getChildren2", path), "getChildren2", path,
                static (ref JuteReader r) => (r.ReadStringVector(), r.ReadStat()));
        }
    }

    /// <summary>The node's Stat, or null when it does not exist.</summary>
    public ZkStat? Exists(string path)
    {
        lock (_gate)
        {
            var (w, xid) = Request(OpExists, path);
            w.WriteString(path);
            w.WriteBool(false);
            ReadOnlyMemory<byte> body;
            try { body = Call(w, xid, "exists", path); }
            catch (ZkException ex) when (ex.Code == ZkErrorCode.NoNode) { return null; }
            return Decode(body, "exists", path, static (ref JuteReader r) => r.ReadStat());
        }
    }

    public (byte[] Data, ZkStat Stat) GetData(string path)
    {
        lock (_gate)
        {
            var (w, xid) = Request(OpGetData, path);
            w.WriteString(path);
            w.WriteBool(false);
            return Decode(Call(w, xid, "getData", path), "getData", path, static (ref JuteReader r) => (r.ReadBuffer().ToArray(), r.ReadStat()));
        }
    }

    /// <summary>Creates a node with the open ACL (world:anyone, all permissions); returns the created path (with its sequence suffix).</summary>
    public string Create(string path, ReadOnlySpan<byte> data, ZkCreateMode mode)
    {
        lock (_gate)
        {
            var (w, xid) = Request(OpCreate, path);
            w.WriteString(path);
            w.WriteBuffer(data);
            w.WriteInt(1);               // one ACL
            w.WriteInt(PermsAll);
            w.WriteString("world");
            w.WriteString("anyone");
            w.WriteInt((int)mode);
            return Decode(Call(w, xid, "create", path), "create", path, static (ref JuteReader r) => r.ReadString() ?? "");
        }
    }

    /// <summary>Deletes a node; version -1 matches any version.</summary>
    public void Delete(string path, int version = -1)
    {
        lock (_gate)
        {
            var (w, xid) = Request(OpDelete, path);
            w.WriteString(path);
            w.WriteInt(version);
            Call(w, xid, "delete", path);
        }
    }

    /// <summary>
    /// Ends the session (closeSession, so its ephemeral nodes go at once instead of at expiry), waits at most the
    /// timeout for the reply, then closes the socket. A second call does nothing.
    /// </summary>
    public void Close()
    {
        lock (_gate)
        {
            if (_closed) return;
            try
            {
                if (_broken != null) return; // the socket is gone already; the server expires the session on its own
                var (w, xid) = Request(OpCloseSession, null);
                try { Call(w, xid, "closeSession", null); }
                catch (ZkException ex) when (ex.Code == ZkErrorCode.ConnectionLoss) { } // the server may hang up as it closes
            }
            finally
            {
                _closed = true;
                _socket.Dispose();
            }
        }
    }

    /// <summary>Close() that never throws.</summary>
    public void Dispose()
    {
        try { Close(); }
        catch (Exception) { } // Dispose runs in finally blocks and must not hide the error that got us there
    }

    private (JuteWriter, int Xid) Request(int op, string? path)
    {
        if (path != null) CheckPath(path);
        int xid = _nextXid;
        _nextXid = xid == int.MaxValue ? 1 : xid + 1;
        return (Header(xid, op), xid);
    }

    private JuteWriter Header(int xid, int op)
    {
        var w = _writer.Reset();
        w.WriteInt(xid);
        w.WriteInt(op);
        return w;
    }

    private void CheckPath(string path)
    {
        if (path.Length == 0 || path[0] != '/' || (path.Length > 1 && path[^1] == '/'))
            throw Error(Server, "request", path, ZkErrorCode.BadArguments, "a path starts with / and does not end with /");
    }

    /// <summary>Sends one request and returns the body of its reply; a server error code becomes a ZkException.</summary>
    private ReadOnlyMemory<byte> Call(JuteWriter w, int xid, string op, string? path)
    {
        if (_closed) throw Error(Server, op, path, ZkErrorCode.ConnectionLoss, "the client is closed");
        if (_broken != null) throw Error(Server, op, path, ZkErrorCode.ConnectionLoss, $"the connection was dropped after an earlier error ({_broken})");
        byte[] frame;
        int err;
        try { (frame, err) = Transact(w, xid, op, path); }
        catch (ZkException ex)
        {
            Drop(ex);
            throw;
        }
        if (err != 0) throw Error(Server, op, path, (ZkErrorCode)err, ZkException.Describe((ZkErrorCode)err));
        return frame.AsMemory(ReplyHeaderLength);
    }

    private (byte[] Frame, int Err) Transact(JuteWriter w, int xid, string op, string? path)
    {
        var wire = new Wire(_socket, Server, op, path, Environment.TickCount64 + (long)Math.Ceiling(_timeout.TotalMilliseconds), _timeout);
        wire.Send(w.Frame());
        while (true)
        {
            var frame = wire.ReadFrame();
            var r = new JuteReader(frame);
            (int Xid, long Zxid, int Err) header;
            try { header = ReadReplyHeader(ref r); }
            catch (ZkException ex) { throw Error(Server, op, path, ex.Code, NotZooKeeper(ex.Message)); }
            if (header.Xid == NotificationXid) continue;                  // a watch event: we set none, but skip any
            if (header.Xid == PingXid && xid != PingXid) continue;        // a late ping reply
            if (header.Xid != xid)
                throw Error(Server, op, path, ZkErrorCode.MarshallingError, NotZooKeeper($"reply to request {header.Xid} while waiting for {xid}"));
            if (header.Zxid > LastZxid) LastZxid = header.Zxid;
            return (frame, header.Err);
        }
    }

    private delegate T BodyReader<T>(ref JuteReader r);

    private T Decode<T>(ReadOnlyMemory<byte> body, string op, string? path, BodyReader<T> read)
    {
        try
        {
            var r = new JuteReader(body.Span);
            return read(ref r);
        }
        catch (ZkException ex)
        {
            var error = Error(Server, op, path, ex.Code, NotZooKeeper(ex.Message));
            Drop(error);
            throw error;
        }
    }

    /// <summary>After a failure on the wire the stream is out of step: drop the connection for good.</summary>
    private void Drop(ZkException why)
    {
        string prefix = $"zookeeper {Server}: ";
        _broken = why.Message.StartsWith(prefix, StringComparison.Ordinal) ? why.Message[prefix.Length..] : why.Message;
        _socket.Dispose();
    }

    private static ZkException Error(string server, string op, string? path, ZkErrorCode code, string detail) =>
        new(code, $"zookeeper {server}: {op}{(path == null ? "" : " " + path)}: {detail}");

    private static string NotZooKeeper(string detail) => $"not a ZooKeeper server? {detail}";

    /// <summary>Resolves and connects within the deadline, trying each address of the name in turn.</summary>
    private static Socket Open(string host, int port, string server, TimeSpan timeout, long deadline)
    {
        IPAddress[] addresses;
        if (IPAddress.TryParse(host, out var literal)) addresses = [literal];
        else
        {
            try
            {
                using var cts = new CancellationTokenSource(Remaining(deadline));
                addresses = Dns.GetHostAddressesAsync(host, cts.Token).GetAwaiter().GetResult();
            }
            catch (OperationCanceledException) { throw Error(server, "connect", null, ZkErrorCode.OperationTimeout, $"name lookup took longer than {Format.Duration(timeout)}"); }
            catch (SocketException ex) { throw Error(server, "connect", null, ZkErrorCode.ConnectionLoss, $"cannot resolve {host}: {ex.Message}"); }
            if (addresses.Length == 0) throw Error(server, "connect", null, ZkErrorCode.ConnectionLoss, $"cannot resolve {host}: no address");
        }

        string? failure = null;
        foreach (var address in addresses)
        {
            var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            try
            {
                using var cts = new CancellationTokenSource(Remaining(deadline));
                socket.ConnectAsync(new IPEndPoint(address, port), cts.Token).AsTask().GetAwaiter().GetResult();
                return socket;
            }
            catch (OperationCanceledException)
            {
                socket.Dispose();
                throw Error(server, "connect", null, ZkErrorCode.OperationTimeout, $"no TCP connection within {Format.Duration(timeout)} (host down or packets dropped?)");
            }
            catch (SocketException ex)
            {
                socket.Dispose();
                failure ??= ex.SocketErrorCode switch
                {
                    SocketError.ConnectionRefused => "connection refused (nothing listens on that port)",
                    SocketError.HostUnreachable => "host unreachable",
                    SocketError.NetworkUnreachable => "network unreachable",
                    SocketError.TimedOut => "connection timed out",
                    // The handshake completed but the server hung up at once (Linux reports EPIPE or ECONNRESET).
                    SocketError.Shutdown or SocketError.ConnectionReset or SocketError.ConnectionAborted =>
                        $"the server dropped the connection ({ex.Message}) as soon as it accepted it ({WhyRefused})",
                    _ => $"{ex.Message} ({ex.SocketErrorCode})",
                };
            }
        }
        throw Error(server, "connect", null, ZkErrorCode.ConnectionLoss, failure ?? "no address to connect to");
    }

    private const string WhyRefused = "at its maxClientCnxns limit for our address, or not serving yet: starting, or no quorum?";

    private static int Remaining(long deadline) => (int)Math.Clamp(deadline - Environment.TickCount64, 1, int.MaxValue);

    /// <summary>Framed I/O for one call on one socket, every wait bounded by the call's deadline.</summary>
    private readonly struct Wire(Socket socket, string server, string op, string? path, long deadline, TimeSpan timeout)
    {
        public byte[] Exchange(ReadOnlySpan<byte> frame, bool handshake)
        {
            Send(frame, handshake);
            return ReadFrame(handshake);
        }

        public void Send(ReadOnlySpan<byte> frame, bool handshake = false)
        {
            try
            {
                socket.SendTimeout = Remaining(deadline);
                while (!frame.IsEmpty) frame = frame[socket.Send(frame)..];
            }
            catch (SocketException ex) { throw Lost(ex, handshake, "sending"); }
            catch (ObjectDisposedException) { throw Error(server, op, path, ZkErrorCode.ConnectionLoss, "the client is closed"); }
        }

        public byte[] ReadFrame(bool handshake = false)
        {
            Span<byte> prefix = stackalloc byte[4];
            Receive(prefix, handshake, 0);
            int len;
            try { len = FrameLength(prefix); }
            catch (ZkException ex) { throw Error(server, op, path, ex.Code, NotZooKeeper(ex.Message)); }
            var frame = new byte[len];
            Receive(frame, handshake, 4);
            return frame;
        }

        private void Receive(Span<byte> into, bool handshake, int frameOffset)
        {
            int got = 0;
            try
            {
                while (got < into.Length)
                {
                    if (Environment.TickCount64 >= deadline) throw Silent(handshake, frameOffset + got);
                    socket.ReceiveTimeout = Remaining(deadline);
                    int n = socket.Receive(into[got..]);
                    if (n == 0) throw Closed(handshake, frameOffset + got);
                    got += n;
                }
            }
            catch (SocketException ex) when (ex.SocketErrorCode is SocketError.TimedOut or SocketError.WouldBlock) { throw Silent(handshake, frameOffset + got); }
            catch (SocketException ex) { throw Lost(ex, handshake, "waiting for the reply"); }
            catch (ObjectDisposedException) { throw Error(server, op, path, ZkErrorCode.ConnectionLoss, "the client is closed"); }
        }

        private ZkException Silent(bool handshake, int received) => Error(server, op, path, ZkErrorCode.OperationTimeout,
            received > 0 ? $"the reply stopped after {received} bytes and nothing more came within {Format.Duration(timeout)}"
            : handshake ? $"no answer to the ConnectRequest within {Format.Duration(timeout)} (not a ZooKeeper server, or one too busy to answer)"
            : $"no reply within {Format.Duration(timeout)}");

        private ZkException Closed(bool handshake, int received) => Error(server, op, path, ZkErrorCode.ConnectionLoss,
            received > 0 ? $"the server closed the connection in the middle of a reply (after {received} bytes)"
            : handshake ? $"the server closed the connection without answering the ConnectRequest ({WhyRefused})"
            : "the server closed the connection (session expired or closed?)");

        // A server at its per-IP limit closes (or, with data in flight, resets) a connection right after accepting it.
        private ZkException Lost(SocketException ex, bool handshake, string doing) => Error(server, op, path, ZkErrorCode.ConnectionLoss,
            handshake ? $"the server dropped the connection ({ex.Message}) without answering the ConnectRequest ({WhyRefused})"
            : ex.SocketErrorCode == SocketError.ConnectionReset ? $"connection reset by the server while {doing}"
            : $"{ex.Message} while {doing}");
    }
}
