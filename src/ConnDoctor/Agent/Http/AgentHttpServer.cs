using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text;

namespace ConnDoctor.Agent.Http;

public sealed record HttpLimits
{
    /// <summary>From accepting a connection (or the end of the last response) to the end of the request's headers, TLS handshake included.</summary>
    public TimeSpan HeaderTimeout { get; init; } = TimeSpan.FromSeconds(10);
    public TimeSpan BodyTimeout { get; init; } = TimeSpan.FromSeconds(10);
    public TimeSpan WriteTimeout { get; init; } = TimeSpan.FromSeconds(30);
    public int MaxHeaderBytes { get; init; } = 8192;
    public int MaxBodyBytes { get; init; } = 4096;
    /// <summary>Connections served at once; one more is answered 503 and closed.</summary>
    public int MaxConcurrent { get; init; } = 32;
}

public sealed record HttpRequest(string Method, string Path, string Query, IReadOnlyDictionary<string, string> Headers, bool ClientCertVerified, EndPoint? Remote, bool Tls)
{
    public string? Header(string name) => Headers.GetValueOrDefault(name.ToLowerInvariant());
}

public sealed record HttpResponse(int Status, string ContentType, byte[] Body, IReadOnlyList<(string Name, string Value)>? Headers = null)
{
    public static HttpResponse Text(int status, string text, params (string, string)[] headers) =>
        new(status, "text/plain; charset=utf-8", Encoding.UTF8.GetBytes(text.EndsWith('\n') ? text : text + "\n"), headers);
}

/// <summary>
/// A small HTTP/1.1 server on a socket (and SslStream when the web config asks for TLS): GET and HEAD, keep-alive,
/// no chunked bodies. Bounded by design: the request head must arrive whole within <see cref="HttpLimits.HeaderTimeout"/>
/// of the connection's start (a client sending a byte a second is cut off), its size is capped, a body is capped and
/// timed, writes are timed, and at most <see cref="HttpLimits.MaxConcurrent"/> connections are served at once.
/// A plain-HTTP request to a TLS listener is answered 400 in plain text and closed.
/// </summary>
public sealed class AgentHttpServer : IDisposable
{
    private readonly Socket _listener;
    private readonly Func<HttpRequest, HttpResponse> _handler;
    private readonly HttpLimits _limits;
    private readonly WebConfig? _web;
    private readonly X509Certificate2? _cert;
    private readonly X509Certificate2Collection _clientCas = new();
    private readonly CancellationTokenSource _stop = new();
    private int _active;
    private Task? _acceptLoop;
    public IPEndPoint LocalEndPoint => (IPEndPoint)_listener.LocalEndPoint!;
    /// <summary>Connections refused because the cap was reached, and requests cut off by a timeout or limit.</summary>
    public long Refused, CutOff;

    public AgentHttpServer(IPEndPoint listen, WebConfig? web, HttpLimits limits, Func<HttpRequest, HttpResponse> handler)
    {
        _handler = handler;
        _limits = limits;
        _web = web;
        if (web?.Tls == true)
        {
            try
            {
                using var pem = X509Certificate2.CreateFromPemFile(web.CertFile!, web.KeyFile);
                // An ephemeral key works for SslStream on Linux; exporting to PKCS#12 keeps it usable everywhere.
                _cert = X509CertificateLoader.LoadPkcs12(pem.Export(X509ContentType.Pkcs12), null);
                if (web.ClientCaFile != null) _clientCas.ImportFromPemFile(web.ClientCaFile);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or System.Security.Cryptography.CryptographicException or ArgumentException)
            {
                throw new UserException($"--web.config.file: cannot load the TLS certificate or key ({web.CertFile}, {web.KeyFile}): {ex.Message}");
            }
        }
        _listener = new Socket(listen.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        if (listen.AddressFamily == AddressFamily.InterNetworkV6) _listener.DualMode = true;
        try
        {
            _listener.Bind(listen);
            _listener.Listen(128);
        }
        catch (SocketException ex)
        {
            _listener.Dispose();
            throw new UserException($"--listen {listen}: {ex.Message}");
        }
    }

    public void Start() => _acceptLoop = Task.Run(AcceptLoop);

    private async Task AcceptLoop()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket s;
            try { s = await _listener.AcceptAsync(_stop.Token); }
            catch (OperationCanceledException) { return; }
            catch (ObjectDisposedException) { return; }
            catch (SocketException) { continue; }
            if (Interlocked.Increment(ref _active) > _limits.MaxConcurrent)
            {
                Interlocked.Decrement(ref _active);
                Interlocked.Increment(ref Refused);
                _ = Task.Run(() => RefuseBusy(s));
                continue;
            }
            _ = Task.Run(async () =>
            {
                try { await Serve(s); }
                catch { /* a client's error ends its connection only */ }
                finally { Interlocked.Decrement(ref _active); s.Dispose(); }
            });
        }
    }

    private static async Task RefuseBusy(Socket s)
    {
        try
        {
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(1));
            await s.SendAsync(Encoding.ASCII.GetBytes("HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\nRetry-After: 1\r\n\r\n"), SocketFlags.None, cts.Token);
        }
        catch { }
        finally { s.Dispose(); }
    }

    private async Task Serve(Socket s)
    {
        s.NoDelay = true;
        using var deadline = new CancellationTokenSource(_limits.HeaderTimeout);
        using var link = CancellationTokenSource.CreateLinkedTokenSource(deadline.Token, _stop.Token);
        Stream stream = new NetworkStream(s, ownsSocket: false);
        bool verified = false;
        if (_cert != null)
        {
            // A plain-HTTP request on the TLS port gets a readable answer, not a handshake error.
            var first = new byte[1];
            int got;
            try { got = await s.ReceiveAsync(first, SocketFlags.Peek, link.Token); }
            catch (OperationCanceledException) { Interlocked.Increment(ref CutOff); return; }
            if (got == 0) return;
            if (first[0] != 0x16)
            {
                await WriteRaw(stream, HttpResponse.Text(400, "Client sent an HTTP request to an HTTPS server."), head: false, close: true);
                await Linger(s);
                return;
            }
            var ssl = new SslStream(stream, leaveInnerStreamOpen: false);
            stream = ssl;
            var opts = new SslServerAuthenticationOptions
            {
                ServerCertificate = _cert,
                EnabledSslProtocols = Protocols(_web!),
                ClientCertificateRequired = _web!.ClientAuthType != "NoClientCert",
                CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
                RemoteCertificateValidationCallback = (_, cert, _, _) =>
                {
                    if (cert == null) return !_web.RequiresClientCert;
                    if (!_web.VerifiesClientCerts) return true;
                    verified = VerifyClient(cert);
                    return verified;
                },
            };
            try { await ssl.AuthenticateAsServerAsync(opts, link.Token); }
            catch (Exception ex)
            {
                if (ex is OperationCanceledException) Interlocked.Increment(ref CutOff);
                return;
            }
        }
        var buf = new byte[_limits.MaxHeaderBytes];
        int have = 0;
        bool firstRequest = true;
        while (!_stop.IsCancellationRequested)
        {
            if (!firstRequest) deadline.CancelAfter(_limits.HeaderTimeout);
            firstRequest = false;
            int end;
            while ((end = HeadEnd(buf.AsSpan(0, have))) < 0)
            {
                if (have == buf.Length)
                {
                    Interlocked.Increment(ref CutOff);
                    await WriteRaw(stream, HttpResponse.Text(431, "request header too large"), false, true);
                    if (_cert == null) await Linger(s);
                    return;
                }
                int n;
                try { n = await stream.ReadAsync(buf.AsMemory(have), link.Token); }
                catch (OperationCanceledException)
                {
                    if (have > 0) Interlocked.Increment(ref CutOff);
                    return; // a slow or idle client: cut off, no answer owed
                }
                catch (IOException) { return; }
                if (n == 0) return;
                have += n;
            }
            if (!TryParseHead(Encoding.Latin1.GetString(buf, 0, end), out var method, out var target, out var version, out var headers))
            {
                await WriteRaw(stream, HttpResponse.Text(400, "malformed request"), false, true);
                return;
            }
            int headLen = end + 4;
            // A body (nobody should send one to a GET) is read and dropped, within limits.
            long bodyLen = headers.TryGetValue("content-length", out var cl) && long.TryParse(cl, out var l) ? l : 0;
            if (headers.ContainsKey("transfer-encoding") || bodyLen < 0 || bodyLen > _limits.MaxBodyBytes)
            {
                await WriteRaw(stream, HttpResponse.Text(413, "request bodies are not accepted here"), false, true);
                if (_cert == null) await Linger(s);
                return;
            }
            int extra = have - headLen;
            if (extra < bodyLen)
            {
                deadline.CancelAfter(_limits.BodyTimeout);
                var rest = new byte[bodyLen - extra];
                try { await stream.ReadExactlyAsync(rest, link.Token); }
                catch (Exception) { Interlocked.Increment(ref CutOff); return; }
                extra = (int)bodyLen;
            }
            // Anything after the body is the next pipelined request.
            int consumed = headLen + (int)bodyLen;
            Buffer.BlockCopy(buf, consumed, buf, 0, have - consumed);
            have -= consumed;

            bool close = version == "HTTP/1.0" ? !string.Equals(headers.GetValueOrDefault("connection"), "keep-alive", StringComparison.OrdinalIgnoreCase)
                : string.Equals(headers.GetValueOrDefault("connection"), "close", StringComparison.OrdinalIgnoreCase);
            HttpResponse resp;
            if (method is not ("GET" or "HEAD")) resp = HttpResponse.Text(405, "only GET and HEAD", ("Allow", "GET, HEAD"));
            else
            {
                int q = target.IndexOf('?');
                var req = new HttpRequest(method, q < 0 ? target : target[..q], q < 0 ? "" : target[(q + 1)..], headers, verified, s.RemoteEndPoint, _cert != null);
                try { resp = _handler(req); }
                catch (Exception ex) { resp = HttpResponse.Text(500, $"internal error: {ex.GetType().Name}: {ex.Message}"); }
            }
            deadline.CancelAfter(_limits.WriteTimeout);
            try { await WriteRaw(stream, resp, method == "HEAD", close, link.Token); }
            catch (Exception) { Interlocked.Increment(ref CutOff); return; }
            if (close) return;
        }
    }

    /// <summary>
    /// After an answer that ends the connection early: stop sending, then read (and drop) what the client still sends for
    /// a moment, so that closing with unread bytes does not make the kernel reset the connection before the client has
    /// read the answer.
    /// </summary>
    private static async Task Linger(Socket s)
    {
        try
        {
            s.Shutdown(SocketShutdown.Send);
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(1));
            var sink = new byte[4096];
            for (int total = 0; total < 64 * 1024;)
            {
                int n = await s.ReceiveAsync(sink, SocketFlags.None, cts.Token);
                if (n == 0) break;
                total += n;
            }
        }
        catch (Exception) { }
    }

    private static SslProtocols Protocols(WebConfig w)
    {
        var max = w.MaxVersion ?? SslProtocols.Tls13;
        return w.MinVersion == SslProtocols.Tls13 ? SslProtocols.Tls13 : max == SslProtocols.Tls12 ? SslProtocols.Tls12 : SslProtocols.Tls12 | SslProtocols.Tls13;
    }

    private bool VerifyClient(X509Certificate cert)
    {
        using var c2 = new X509Certificate2(cert);
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(_clientCas);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.ApplicationPolicy.Add(new System.Security.Cryptography.Oid("1.3.6.1.5.5.7.3.2")); // client authentication
        return chain.Build(c2);
    }

    private static int HeadEnd(ReadOnlySpan<byte> b) => b.IndexOf("\r\n\r\n"u8);

    internal static bool TryParseHead(string head, out string method, out string target, out string version, out Dictionary<string, string> headers)
    {
        method = target = version = "";
        headers = new Dictionary<string, string>(StringComparer.Ordinal);
        var lines = head.Split("\r\n");
        var first = lines[0].Split(' ');
        if (first.Length != 3 || !first[2].StartsWith("HTTP/1.") || first[1].Length == 0) return false;
        (method, target, version) = (first[0], first[1], first[2]);
        foreach (var line in lines.Skip(1))
        {
            int colon = line.IndexOf(':');
            if (colon <= 0) return false;
            var name = line[..colon].Trim().ToLowerInvariant();
            var value = line[(colon + 1)..].Trim();
            headers[name] = headers.TryGetValue(name, out var old) ? old + ", " + value : value;
        }
        return true;
    }

    private static string Reason(int status) => status switch
    {
        200 => "OK", 400 => "Bad Request", 401 => "Unauthorized", 403 => "Forbidden", 404 => "Not Found", 405 => "Method Not Allowed",
        413 => "Payload Too Large", 431 => "Request Header Fields Too Large", 500 => "Internal Server Error", 503 => "Service Unavailable",
        _ => "Status",
    };

    private static async Task WriteRaw(Stream stream, HttpResponse r, bool head, bool close, CancellationToken cancel = default)
    {
        var sb = new StringBuilder();
        sb.Append("HTTP/1.1 ").Append(r.Status).Append(' ').Append(Reason(r.Status)).Append("\r\n");
        sb.Append("Content-Type: ").Append(r.ContentType).Append("\r\n");
        sb.Append("Content-Length: ").Append(r.Body.Length).Append("\r\n");
        sb.Append("X-Content-Type-Options: nosniff\r\n");
        foreach (var (n, v) in r.Headers ?? []) sb.Append(n).Append(": ").Append(v).Append("\r\n");
        if (close) sb.Append("Connection: close\r\n");
        sb.Append("\r\n");
        using var timeout = cancel.CanBeCanceled ? null : new CancellationTokenSource(TimeSpan.FromSeconds(5));
        var token = cancel.CanBeCanceled ? cancel : timeout!.Token;
        await stream.WriteAsync(Encoding.ASCII.GetBytes(sb.ToString()), token);
        if (!head && r.Body.Length > 0) await stream.WriteAsync(r.Body, token);
        await stream.FlushAsync(token);
    }

    public void Dispose()
    {
        _stop.Cancel();
        _listener.Dispose();
        try { _acceptLoop?.Wait(TimeSpan.FromSeconds(2)); } catch { }
        _cert?.Dispose();
        _stop.Dispose();
    }
}
