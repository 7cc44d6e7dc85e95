using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.Agent;

/// <summary>
/// One agent serving /metrics over HTTPS with basic auth (its --web.config.file in the exporter-toolkit format: a server
/// certificate from a test CA made by openssl, naming 127.0.0.1 and localhost, and an htpasswd bcrypt hash), and one
/// real Prometheus (started once for the class) scraping it with four jobs: the CA and password right, by address and
/// by host name; another CA; the right CA and a wrong password.
/// </summary>
public sealed class AgentHttpsScrapeFixture : IDisposable
{
    public TestPki Pki { get; } = new("IP:127.0.0.1,DNS:localhost");
    public TestPki Stranger { get; } = new("IP:127.0.0.1,DNS:localhost");
    public TestNetns Ns { get; } = new("agenthttps");
    internal AgentProcess Agent { get; }
    public PrometheusServer Prometheus { get; }
    public string Address => $"127.0.0.1:{Agent.Port}";
    public string ByName => $"localhost:{Agent.Port}";

    public AgentHttpsScrapeFixture()
    {
        try { (Agent, Prometheus) = Start(); }
        catch
        {
            Ns.Dispose();
            Pki.Dispose();
            Stranger.Dispose();
            throw;
        }
    }

    private (AgentProcess, PrometheusServer) Start()
    {
        var line = Shell.Run("htpasswd", "-nbB", "-C", "6", "prom", "right horse").Trim();
        string web = Path.Combine(Pki.Dir, "web.yml");
        File.WriteAllText(web, $"""
            tls_server_config:
              cert_file: server.pem
              key_file: server.key
              min_version: TLS12
            basic_auth_users:
              prom: '{line[(line.IndexOf(':') + 1)..]}'
            """);
        File.WriteAllText(Path.Combine(Pki.Dir, "right"), "right horse\n");
        File.WriteAllText(Path.Combine(Pki.Dir, "wrong"), "battery staple\n");
        var agent = new AgentProcess(["--netns", Ns.Name, "--interval", "2s", "--window", "10s", "--web.config.file", web], tls: true,
            handler: AgentProcess.TrustingOnly(System.Security.Cryptography.X509Certificates.X509CertificateLoader.LoadCertificateFromFile(Pki.CaFile)));
        string address = $"127.0.0.1:{agent.Port}";
        var right = new ScrapeSecurity { CaFile = Pki.CaFile, BasicUser = "prom", BasicPasswordFile = Path.Combine(Pki.Dir, "right") };
        try
        {
            return (agent, new PrometheusServer(
            [
                new ScrapeJob("conndoctor", [address, $"localhost:{agent.Port}"], right),
                new ScrapeJob("wrong-ca", [address], right with { CaFile = Stranger.CaFile }),
                new ScrapeJob("wrong-password", [address], right with { BasicPasswordFile = Path.Combine(Pki.Dir, "wrong") }),
            ]));
        }
        catch
        {
            agent.Dispose();
            throw;
        }
    }

    /// <summary>The targets once every one has been scraped at least once (health no longer "unknown"), bounded.</summary>
    public List<(string ScrapeUrl, string Health, string LastError, string Job)> Scraped() =>
        Prometheus.Await(p => p.Targets(), t => t.Count == 4 && t.All(x => x.Health != "unknown"), 60);

    public void Dispose()
    {
        Prometheus.Dispose();
        Agent.Dispose();
        Ns.Dispose();
        Pki.Dispose();
        Stranger.Dispose();
    }
}

public class AgentHttpsScrapeTests(AgentHttpsScrapeFixture f) : IClassFixture<AgentHttpsScrapeFixture>
{
    private string Why => $"{string.Join("; ", f.Prometheus.Targets())}\nprometheus: {f.Prometheus.Log}\nagent: {f.Agent.Stderr}";

    [Fact]
    public void PrometheusScrapesTheAgentOverHttpsWithItsCaAndBasicAuth()
    {
        var targets = f.Scraped().Where(t => t.Job == "conndoctor").ToList();
        Assert.Equal([$"https://{f.Address}/metrics", $"https://{f.ByName}/metrics"], targets.Select(t => t.ScrapeUrl).Order());
        Assert.True(targets.All(t => t.Health == "up"), Why);

        // The agent's own series, stored under each instance scraped (by address and by the name in its certificate).
        var up = f.Prometheus.Await(p => p.Query("conndoctor_source_up{job=\"conndoctor\", source=\"collect\"}"), r => r.Count == 2 && r.All(x => x.Value == 1), 60);
        Assert.True(up.Count == 2 && up.All(x => x.Value == 1), $"conndoctor_source_up: {string.Join("; ", up.Select(x => $"{string.Join(",", x.Labels)} {x.Value}"))}\n{Why}");
        Assert.Equal([f.Address, f.ByName], up.Select(x => x.Labels["instance"]).Order());
        Assert.NotEmpty(f.Prometheus.Query($"conndoctor_tcp_ephemeral_ports{{instance=\"{f.Address}\", netns=\"{f.Ns.Name}\"}}"));
    }

    [Fact]
    public void AJobTrustingAnotherCaIsDownWithACertificateError()
    {
        var t = f.Scraped().Single(x => x.Job == "wrong-ca");
        Assert.Equal("down", t.Health);
        // Go's crypto/x509 words it "tls: failed to verify certificate: x509: certificate signed by unknown authority".
        Assert.Contains("certificate signed by unknown authority", t.LastError);
        Assert.Empty(f.Prometheus.Query("conndoctor_source_up{job=\"wrong-ca\"}"));
    }

    [Fact]
    public void AJobWithTheWrongPasswordIsRefusedWith401()
    {
        var t = f.Scraped().Single(x => x.Job == "wrong-password");
        Assert.Equal("down", t.Health);
        Assert.Contains("401", t.LastError);
        Assert.Empty(f.Prometheus.Query("conndoctor_source_up{job=\"wrong-password\"}"));
    }
}
