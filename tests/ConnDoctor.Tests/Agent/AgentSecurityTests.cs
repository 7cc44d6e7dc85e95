using System.Diagnostics;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.Agent;

/// <summary>
/// The agent's HTTP side as a client meets it: TLS with a test CA made by openssl, client certificates, the bearer
/// token on /evidence and /findings, basic auth with an htpasswd bcrypt hash, and a client sending a byte a second.
/// </summary>
public sealed class AgentSecurityTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("cd-agent-tls").FullName;
    private const string Token = "0123456789abcdef-test-token";

    public void Dispose() { try { Directory.Delete(_dir, true); } catch (IOException) { } }

    private string F(string name) => Path.Combine(_dir, name);

    private void Openssl(params string[] args) => Shell.Run("openssl", args);

    /// <summary>A CA, a server certificate for 127.0.0.1 and a client certificate, all signed by it; and a stranger's self-signed client certificate.</summary>
    private void MakePki()
    {
        Openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", F("ca.key"), "-out", F("ca.crt"), "-days", "2", "-subj", "/CN=conndoctor test CA");
        File.WriteAllText(F("server.ext"), "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n");
        File.WriteAllText(F("client.ext"), "extendedKeyUsage=clientAuth\n");
        foreach (var who in new[] { "server", "client" })
        {
            Openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", F(who + ".key"), "-out", F(who + ".csr"), "-subj", $"/CN={who}");
            Openssl("x509", "-req", "-in", F(who + ".csr"), "-CA", F("ca.crt"), "-CAkey", F("ca.key"), "-CAcreateserial", "-out", F(who + ".crt"), "-days", "2", "-extfile", F(who + ".ext"));
        }
        Openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", F("stranger.key"), "-out", F("stranger.crt"), "-days", "2", "-subj", "/CN=stranger", "-addext", "extendedKeyUsage=clientAuth");
        File.WriteAllText(F("token"), Token + "\n");
        File.WriteAllText(F("web.yml"), """
            tls_server_config:
              cert_file: server.crt
              key_file: server.key
              client_ca_file: ca.crt
              client_auth_type: VerifyClientCertIfGiven
              min_version: TLS12
            """);
    }

    private static X509Certificate2 Pem(string crt, string key) => X509CertificateLoader.LoadPkcs12(X509Certificate2.CreateFromPemFile(crt, key).Export(X509ContentType.Pkcs12), null);

    [Fact]
    public void TlsTokenAndClientCertificatesGuardTheEvidence()
    {
        MakePki();
        var ca = X509CertificateLoader.LoadCertificateFromFile(F("ca.crt"));
        using var ns = new TestNetns("agenttls");
        string[] args = ["--interval", "2s", "--window", "10s", "--netns", ns.Name, "--web.config.file", F("web.yml"), "--serve-evidence", "--token-file", F("token")];
        using var agent = new AgentProcess(args, tls: true, handler: AgentProcess.TrustingOnly(ca));
        Assert.Contains("serving https://127.0.0.1:", agent.Stderr);

        // /metrics over HTTPS with the test CA.
        var (status, body, type) = agent.Get("/metrics");
        Assert.Equal(200, status);
        Assert.StartsWith("text/plain; version=0.0.4", type);
        Assert.Contains("# TYPE conndoctor_source_up gauge", body);
        var om = agent.Get("/metrics", ("Accept", "application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5"));
        Assert.StartsWith("application/openmetrics-text; version=1.0.0", om.ContentType);
        Assert.EndsWith("# EOF\n", om.Body);

        // The evidence: refused without a token and with a wrong one; collect's document once the token is right.
        Assert.Equal(401, agent.Get("/evidence").Status);
        Assert.Equal(401, agent.Get("/findings").Status);
        Assert.Equal(401, agent.Get("/evidence", ("Authorization", "Bearer wrong-token-0123456789")).Status);
        Assert.Equal(401, agent.Get("/evidence", ("Authorization", "Bearer " + Token + "x")).Status);
        Assert.Equal(401, agent.Get("/findings", ("Authorization", "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes("x:" + Token)))).Status);
        var sw = Stopwatch.StartNew();
        (int Status, string Body, string ContentType) ev;
        while ((ev = agent.Get("/evidence", ("Authorization", "Bearer " + Token))).Status == 503 && sw.Elapsed < TimeSpan.FromSeconds(60)) Thread.Sleep(500);
        Assert.Equal(200, ev.Status);
        Assert.Contains("\"kind\":\"conndoctor-evidence\"", ev.Body);
        Assert.Contains("\"statuses\"", ev.Body);
        sw.Restart();
        (int, string, string) findings;
        while ((findings = agent.Get("/findings", ("Authorization", "Bearer " + Token))).Item1 == 503 && sw.Elapsed < TimeSpan.FromSeconds(60)) Thread.Sleep(500);
        Assert.Equal(200, findings.Item1);
        Assert.Contains("\"findings\"", findings.Item2);

        // A client certificate from the CA opens /findings without a token; a stranger's certificate gets no connection.
        using (var withCert = new HttpClient(AgentProcess.TrustingOnly(ca, Pem(F("client.crt"), F("client.key")))))
            Assert.Equal(200, (int)withCert.Send(new HttpRequestMessage(HttpMethod.Get, agent.Url("/findings"))).StatusCode);
        using (var stranger = new HttpClient(AgentProcess.TrustingOnly(ca, Pem(F("stranger.crt"), F("stranger.key")))))
            Assert.ThrowsAny<Exception>(() => stranger.Send(new HttpRequestMessage(HttpMethod.Get, agent.Url("/metrics"))));

        // Plain HTTP to the TLS port: refused with a readable answer.
        using var plain = new TcpClient("127.0.0.1", agent.Port);
        var s = plain.GetStream();
        s.Write("GET /evidence HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "u8.ToArray().Concat(Encoding.ASCII.GetBytes(Token + "\r\n\r\n")).ToArray());
        var answer = new StreamReader(s).ReadToEnd();
        Assert.StartsWith("HTTP/1.1 400", answer);
        Assert.Contains("HTTP request to an HTTPS server", answer);
        // Without trusting the test CA, no HTTPS client accepts the agent.
        using var untrusting = new HttpClient();
        Assert.ThrowsAny<Exception>(() => untrusting.Send(new HttpRequestMessage(HttpMethod.Get, agent.Url("/metrics"))));
    }

    [Fact]
    public void BasicAuthGuardsMetricsAndASlowClientIsCutOffWhileOthersAreAnswered()
    {
        var line = Shell.Run("htpasswd", "-nbB", "-C", "6", "prom", "scrape me").Trim();
        File.WriteAllText(F("web.yml"), $"basic_auth_users:\n  prom: '{line[(line.IndexOf(':') + 1)..]}'\n");
        string[] args = ["--interval", "2s", "--window", "10s", "--netns", "none-such-" + Environment.ProcessId, "--web.config.file", F("web.yml"), "--http.read-timeout", "3s"];
        using var agent = new AgentProcess(args);
        string Basic(string user, string pw) => "Basic " + Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{pw}"));
        Assert.Equal(401, agent.Get("/metrics").Status);
        Assert.Equal(401, agent.Get("/metrics", ("Authorization", Basic("prom", "scrape you"))).Status);
        Assert.Equal(401, agent.Get("/metrics", ("Authorization", Basic("nobody", "scrape me"))).Status);
        Assert.Equal(200, agent.Get("/metrics", ("Authorization", Basic("prom", "scrape me"))).Status);
        Assert.Equal(200, agent.Get("/healthz").Status);
        Assert.Equal(404, agent.Get("/evidence", ("Authorization", Basic("prom", "scrape me"))).Status); // not served without --serve-evidence

        // Slowloris: one byte a second. The agent cuts it off at the read timeout; meanwhile a scrape is answered.
        using var slow = new TcpClient("127.0.0.1", agent.Port);
        var stream = slow.GetStream();
        stream.ReadTimeout = 15_000;
        var request = Encoding.ASCII.GetBytes("GET /metrics HTTP/1.1\r\nHost: slow\r\nX-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n");
        var sw = Stopwatch.StartNew();
        var sender = new Thread(() =>
        {
            try { foreach (var b in request) { stream.Write([b]); Thread.Sleep(1000); } }
            catch (Exception ex) when (ex is IOException or ObjectDisposedException) { }
        }) { IsBackground = true };
        sender.Start();
        Thread.Sleep(1500);
        var during = Stopwatch.StartNew();
        Assert.Equal(200, agent.Get("/metrics", ("Authorization", Basic("prom", "scrape me"))).Status);
        Assert.True(during.Elapsed < TimeSpan.FromSeconds(2), $"a scrape took {during.Elapsed} while a slow client was connected");
        // Cut off without an answer: end of stream, or a reset when a slow byte arrived after the agent closed.
        int n;
        try { n = stream.Read(new byte[100]); }
        catch (IOException ex) when (ex.InnerException is SocketException { SocketErrorCode: SocketError.ConnectionReset }) { n = 0; }
        Assert.Equal(0, n);
        Assert.InRange(sw.Elapsed.TotalSeconds, 2.5, 8);
        slow.Close();
        sender.Join(TimeSpan.FromSeconds(5));
    }

    [Fact]
    public void BadStartupOptionsAreOneLineErrors()
    {
        File.WriteAllText(F("short"), "abc");
        File.WriteAllText(F("bad.yml"), "tls_server_config:\n  cert_file: nope.crt\n  key_file: nope.key\n");
        foreach (var (args, expected) in new (string[], string)[]
                 {
                     (["--serve-evidence"], "--serve-evidence needs --token-file"),
                     (["--serve-evidence", "--token-file", F("short")], "at least 16 characters"),
                     (["--web.config.file", F("bad.yml")], "cannot load the TLS certificate or key"),
                     (["--listen", "localhost"], "give ADDR:PORT"),
                     (["--interval", "0s"], "--interval must be at least 1s"),
                     (["--idle", "soon"], "--idle"),
                 })
        {
            var (code, stdout, stderr) = Shell.RunFull(Cli.BinarySmokeTests.Binary(), ["agent", .. args], check: false, timeoutMs: 20_000);
            Assert.Equal(2, code is 1 or 2 ? 2 : code);
            Assert.Contains(expected, stderr);
            Assert.Single(stderr.Trim().Split('\n'));
        }
    }
}
