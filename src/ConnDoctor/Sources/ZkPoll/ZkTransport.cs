using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace ConnDoctor.Sources.ZkPoll;

/// <summary>
/// The two ways to ask a ZooKeeper server: a four-letter word over the client port (the server answers and
/// closes), or an HTTP GET on the AdminServer. Every call is bounded by the per-command timeout and a size cap.
/// </summary>
public static class ZkTransport
{
    /// <summary>A `cons` of 100k connections is about 20 MB; anything beyond this is not a ZooKeeper reply.</summary>
    public const int MaxReplyBytes = 64 << 20;

    /// <summary>Resolves a member's host once (bounded): a name that does not resolve is a failed member, not a hang.</summary>
    public static IPAddress Resolve(string host, TimeSpan timeout)
    {
        if (IPAddress.TryParse(host.Trim('[', ']'), out var ip)) return ip;
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            var all = Dns.GetHostAddressesAsync(host, cts.Token).GetAwaiter().GetResult();
            return all.FirstOrDefault(a => a.AddressFamily == AddressFamily.InterNetwork) ?? all.FirstOrDefault()
                ?? throw new SourceException($"{host} has no address");
        }
        catch (OperationCanceledException) { throw new SourceException($"resolving {host} took longer than {timeout.TotalSeconds:0.#}s"); }
        catch (SocketException ex) { throw new SourceException($"cannot resolve {host}: {ex.Message}"); }
    }

    /// <summary>
    /// Sends a four-letter word and reads the reply until the server closes; also gives our end of the connection
    /// (the server lists it in its own `cons`). Throws SourceException on any failure.
    /// </summary>
    public static byte[] FourLetterWord(IPAddress ip, int port, string word, TimeSpan timeout, out IPEndPoint? local)
    {
        var deadline = Stopwatch.StartNew();
        using var s = new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        Connect(s, new IPEndPoint(ip, port), timeout);
        local = s.LocalEndPoint as IPEndPoint;
        try
        {
            s.Send(System.Text.Encoding.ASCII.GetBytes(word));
            var buf = new MemoryStream();
            var chunk = new byte[64 * 1024];
            while (true)
            {
                var left = timeout - deadline.Elapsed;
                if (left <= TimeSpan.Zero) throw NoAnswer(word, timeout, buf.Length);
                s.ReceiveTimeout = Math.Max(1, (int)left.TotalMilliseconds);
                int n;
                try { n = s.Receive(chunk); }
                catch (SocketException ex) when (ex.SocketErrorCode == SocketError.TimedOut || ex.SocketErrorCode == SocketError.WouldBlock)
                { throw NoAnswer(word, timeout, buf.Length); }
                if (n == 0) break;
                buf.Write(chunk, 0, n);
                if (buf.Length > MaxReplyBytes) throw new SourceException($"'{word}' answered more than {MaxReplyBytes >> 20} MiB: not a ZooKeeper server?");
            }
            if (buf.Length == 0)
                throw new SourceException($"the server closed the connection without answering '{word}' (this host may be at its maxClientCnxns, or it is not ZooKeeper 3.x)");
            return buf.ToArray();
        }
        catch (SocketException ex) { throw new SourceException($"'{word}': {DescribeZk(ex)}"); }
    }

    // ZooKeeper answers a four-letter word at once and closes: silence is another kind of server, or a stuck one.
    private static SourceException NoAnswer(string word, TimeSpan timeout, long received) => new(received == 0
        ? $"no answer to '{word}' within {timeout.TotalSeconds:0.#}s (not a ZooKeeper server, or one too busy to answer)"
        : $"'{word}' got {received} bytes and no end within {timeout.TotalSeconds:0.#}s (not a ZooKeeper server, or one too busy to answer)");

    private static void Connect(Socket s, IPEndPoint ep, TimeSpan timeout)
    {
        try
        {
            using var cts = new CancellationTokenSource(timeout);
            s.ConnectAsync(ep, cts.Token).AsTask().GetAwaiter().GetResult();
        }
        catch (OperationCanceledException) { throw new SourceException($"no answer to a connection to {ep} within {timeout.TotalSeconds:0.#}s"); }
        catch (SocketException ex) { throw new SourceException($"cannot connect to {ep}: {DescribeZk(ex)}"); }
    }

    // A ZooKeeper server that refuses a connection because this IP is at maxClientCnxns accepts it and closes it at once:
    // the client sees a reset or a broken pipe, which says nothing about the network.
    private static string DescribeZk(SocketException ex) => ex.SocketErrorCode switch
    {
        SocketError.ConnectionReset or SocketError.Shutdown or SocketError.ConnectionAborted =>
            "the server closed the connection at once (this host may be at ZooKeeper's per-IP maxClientCnxns: the server log says " +
            "'Too many connections from'; or it is not ZooKeeper)",
        _ => Describe(ex),
    };

    private static string Describe(SocketException ex) => ex.SocketErrorCode switch
    {
        SocketError.ConnectionRefused => "connection refused (nothing listens there)",
        SocketError.ConnectionReset => "connection reset by the server",
        SocketError.HostUnreachable => "host unreachable",
        SocketError.NetworkUnreachable => "network unreachable (no route)",
        SocketError.TimedOut => "timed out",
        _ => ex.Message,
    };

    /// <summary>GET BASE/COMMAND on the AdminServer; returns the body of a 200 reply. Throws SourceException otherwise.</summary>
    public static byte[] Admin(string baseUrl, string command, TimeSpan timeout)
    {
        var url = baseUrl.TrimEnd('/') + "/" + command;
        using var handler = new SocketsHttpHandler { ConnectTimeout = timeout, UseProxy = false, AllowAutoRedirect = false };
        using var http = new HttpClient(handler) { Timeout = timeout, MaxResponseContentBufferSize = MaxReplyBytes };
        try
        {
            using var resp = http.GetAsync(url).GetAwaiter().GetResult();
            var body = resp.Content.ReadAsByteArrayAsync().GetAwaiter().GetResult();
            // The AdminServer answers errors (unknown command, auth needed) with a JSON body carrying "error"; keep it.
            if (!resp.IsSuccessStatusCode && (body.Length == 0 || body[0] != (byte)'{'))
                throw new SourceException($"{url} answered HTTP {(int)resp.StatusCode} {resp.ReasonPhrase}");
            return body;
        }
        catch (TaskCanceledException) { throw new SourceException($"{url} did not answer within {timeout.TotalSeconds:0.#}s"); }
        // The message of a malformed reply quotes the server's bytes (its status line): escaped, never printed raw.
        catch (HttpRequestException ex) { throw new SourceException($"{url}: {(ex.InnerException is SocketException se ? Describe(se) : Model.PrintableText.Of(ex.Message))}"); }
        catch (InvalidOperationException ex) { throw new SourceException($"bad AdminServer URL {url}: {ex.Message}"); }
    }

    /// <summary>True when the address belongs to this host (bind succeeds), so the server's monotonic clock is ours.</summary>
    public static bool IsLocal(IPAddress ip)
    {
        if (IPAddress.IsLoopback(ip)) return true;
        try
        {
            using var s = new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            s.Bind(new IPEndPoint(ip, 0));
            return true;
        }
        catch (SocketException) { return false; }
    }

    /// <summary>CLOCK_MONOTONIC in milliseconds: what a JVM on this host returns from System.nanoTime()/1e6 (ZooKeeper's lresp clock).</summary>
    public static long MonotonicMs() => (long)(Stopwatch.GetTimestamp() / (Stopwatch.Frequency / 1000.0));
}
