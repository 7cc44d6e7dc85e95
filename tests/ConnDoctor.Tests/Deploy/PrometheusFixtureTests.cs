using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.Deploy;

/// <summary>
/// The real-Prometheus fixture against real targets: a small HTTP server in the test serves metrics in the agent's
/// names (counters that grow with the clock) over plain HTTP, HTTPS with a test CA, and with a bearer token or basic
/// auth; Prometheus scrapes it, stores the series and evaluates deploy/prometheus/conndoctor-rules.yml: the culprit's
/// alert fires and the healthy process's series exist and fire nothing.
/// </summary>
public class PrometheusFixtureTests
{
    private static string Rules => RepoPaths.Of("deploy", "prometheus", "conndoctor-rules.yml");

    /// <summary>
    /// The agent's exposition for one host: a java process closing 20 short connections a second to ZooKeeper (nothing
    /// kept open), and a healthy one keeping its connection and closing one every 10 s. Counters grow with the clock, as
    /// the agent's do.
    /// </summary>
    private static string Exposition(double seconds) => $$"""
        # HELP conndoctor_tcp_connections_closed_total TCP connections closed, per process and remote service.
        # TYPE conndoctor_tcp_connections_closed_total counter
        conndoctor_tcp_connections_closed_total{process="java",pod="",remote_service="10.0.0.5:2181",closed_by="self"} {{Math.Floor(20 * seconds)}}
        conndoctor_tcp_connections_closed_total{process="healthy",pod="shop/api-1",remote_service="10.0.0.5:2181",closed_by="peer"} {{Math.Floor(seconds / 10)}}
        # HELP conndoctor_tcp_sockets TCP sockets by state, process and service.
        # TYPE conndoctor_tcp_sockets gauge
        conndoctor_tcp_sockets{state="established",process="healthy",pod="shop/api-1",netns="cni-2",remote_service="10.0.0.5:2181",local_service=""} 1
        # HELP conndoctor_source_up Whether the source could be read in the last interval.
        # TYPE conndoctor_source_up gauge
        conndoctor_source_up{source="sock_diag"} 1

        """;

    [Fact]
    public void PrometheusScrapesAPlainTargetAndTheCulpritsAlertFiresButNotTheHealthyOnes()
    {
        using var target = new MetricsServer(Exposition);
        using var prom = new PrometheusServer([target.Address], [Rules], immediateAlerts: true);

        var targets = prom.Await(p => p.Targets(), t => t.Any(x => x.Health == "up"));
        Assert.True(targets.Count == 1 && targets[0].Health == "up", $"{string.Join("; ", targets)} {prom.Log}");
        Assert.Equal($"http://{target.Address}/metrics", targets[0].ScrapeUrl);

        var series = prom.Await(p => p.Series("conndoctor_tcp_connections_closed_total"), s => s.Count == 2);
        Assert.Contains(series, s => s["process"] == "java" && s["remote_service"] == "10.0.0.5:2181" && s["instance"] == target.Address && s["job"] == "conndoctor");
        Assert.Contains(series, s => s["process"] == "healthy" && s["pod"] == "shop/api-1");
        // The pod label of a host process is empty: absent in Prometheus, never a stray value.
        Assert.DoesNotContain("pod", series.Single(s => s["process"] == "java").Keys);

        // rate() over [1m] divides by the whole minute: a series younger than that reads low until it has a minute of samples.
        var rate = prom.Await(p => p.Query("conndoctor:tcp_connections_closed:rate1m{process=\"java\"}"), r => r.Count == 1 && r[0].Value > 15, seconds: 90);
        Assert.True(rate.Count == 1 && rate[0].Value is > 15 and < 25, $"rate {string.Join(", ", rate.Select(r => r.Value))}: {prom.Log}");

        var alerts = prom.Await(p => p.Alerts(), a => a.Any(x => x.State == "firing"));
        var storm = alerts.Where(a => a.Labels["alertname"] == "ConnDoctorReconnectStorm").ToList();
        var fired = Assert.Single(storm);
        Assert.Equal(("firing", "warning", "java", "10.0.0.5:2181"), (fired.State, fired.Labels["severity"], fired.Labels["process"], fired.Labels["remote_service"]));
        Assert.StartsWith($"java on {target.Address} opens and closes short connections to 10.0.0.5:2181 at ", fired.Annotations["summary"]);
        Assert.EndsWith("#conndoctorreconnectstorm", fired.Annotations["runbook_url"]);
        // The healthy process's series exist and nothing names it; its source is up.
        Assert.DoesNotContain(alerts, a => a.Labels.GetValueOrDefault("process") == "healthy");
        Assert.DoesNotContain(alerts, a => a.Labels["alertname"] == "ConnDoctorSourceDown");
        Assert.Single(prom.Series("conndoctor_tcp_sockets{process=\"healthy\"}"));
    }

    [Fact]
    public void PrometheusScrapesOverHttpsWithATestCaAndABearerToken()
    {
        using var pki = new TestPki();
        var tokenFile = Path.Combine(pki.Dir, "token");
        File.WriteAllText(tokenFile, "s3cret-token\n");
        using var target = new MetricsServer(Exposition, pki.ServerCertificate(), requiredAuthorization: "Bearer s3cret-token");
        using var prom = new PrometheusServer([target.Address], security: new ScrapeSecurity { CaFile = pki.CaFile, BearerTokenFile = tokenFile });

        var targets = prom.Await(p => p.Targets(), t => t.Any(x => x.Health == "up"));
        Assert.True(targets.Single().Health == "up", $"{string.Join("; ", targets)} {prom.Log}");
        Assert.StartsWith("https://", targets[0].ScrapeUrl);
        Assert.NotEmpty(prom.Await(p => p.Series("conndoctor_source_up"), s => s.Count > 0));
        Assert.True(target.Unauthorized == 0, "Prometheus presented the token on every scrape");
    }

    [Fact]
    public void AScrapeWithTheWrongCredentialsOrAnUnknownCaIsDownAndSaysWhy()
    {
        using var pki = new TestPki();
        using var other = new TestPki();
        var pass = Path.Combine(pki.Dir, "pass");
        File.WriteAllText(pass, "wrong");
        using var basic = new MetricsServer(Exposition, requiredAuthorization: "Basic " + Convert.ToBase64String(Encoding.ASCII.GetBytes("prom:right")));
        using var prom = new PrometheusServer([basic.Address], security: new ScrapeSecurity { BasicUser = "prom", BasicPasswordFile = pass });
        var t = prom.Await(p => p.Targets(), x => x.Any(y => y.Health == "down"));
        Assert.Equal("down", t.Single().Health);
        Assert.Contains("401", t.Single().LastError);
        Assert.True(basic.Unauthorized > 0);

        // A certificate from another CA: Prometheus refuses it.
        using var tls = new MetricsServer(Exposition, other.ServerCertificate());
        using var prom2 = new PrometheusServer([tls.Address], security: new ScrapeSecurity { CaFile = pki.CaFile });
        var t2 = prom2.Await(p => p.Targets(), x => x.Any(y => y.Health == "down"));
        Assert.Equal("down", t2.Single().Health);
        Assert.Contains("certificate", t2.Single().LastError);
    }

    [Fact]
    public void BasicAuthWithTheRightPasswordScrapes()
    {
        using var pki = new TestPki();
        var pass = Path.Combine(pki.Dir, "pass");
        File.WriteAllText(pass, "right");
        using var target = new MetricsServer(Exposition, requiredAuthorization: "Basic " + Convert.ToBase64String(Encoding.ASCII.GetBytes("prom:right")));
        using var prom = new PrometheusServer([target.Address], security: new ScrapeSecurity { BasicUser = "prom", BasicPasswordFile = pass });
        var t = prom.Await(p => p.Targets(), x => x.Any(y => y.Health == "up"));
        Assert.True(t.Single().Health == "up", string.Join("; ", t));
    }

    [Fact]
    public void PrometheusInATestNamespaceScrapesATargetInAnotherAndTheTestReadsItsApi()
    {
        // The layout of the agents' test: each target in its own namespace, Prometheus in a namespace linked to them.
        using var targetNs = new TestNetns("prom-t");
        using var promNs = new TestNetns("prom-p");
        TestNetns.Link(targetNs, promNs, "10.213.7.2", "10.213.7.1");
        var dir = Directory.CreateTempSubdirectory("cd-static").FullName;
        File.WriteAllText(Path.Combine(dir, "metrics"), Exposition(100));
        var psi = new System.Diagnostics.ProcessStartInfo("ip") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in (string[])["netns", "exec", targetNs.Name, "/usr/bin/python3", "-m", "http.server", "9149", "--bind", "10.213.7.2", "--directory", dir])
            psi.ArgumentList.Add(a);
        using var server = System.Diagnostics.Process.Start(psi)!;
        try
        {
            using var prom = new PrometheusServer(["10.213.7.2:9149"], [Rules], netns: promNs);
            var targets = prom.Await(p => p.Targets(), t => t.Any(x => x.Health == "up"));
            Assert.True(targets.Single().Health == "up", $"{string.Join("; ", targets)} {prom.Log}");
            var series = prom.Await(p => p.Series("conndoctor_tcp_connections_closed_total"), x => x.Count == 2);
            Assert.Equal(["healthy", "java"], series.Select(x => x["process"]).Order());
            Assert.All(series, x => Assert.Equal("10.213.7.2:9149", x["instance"]));
            // Nothing listens on the test process's own loopback at that port: the API really is reached in promNs.
            Assert.ThrowsAny<System.Net.Http.HttpRequestException>(() => new HttpClient().GetAsync(prom.BaseUrl + "/-/ready").GetAwaiter().GetResult());
        }
        finally
        {
            server.Kill(true);
            server.WaitForExit(5000);
            Directory.Delete(dir, true);
        }
    }

    /// <summary>
    /// A minimal HTTP/1.1 server on loopback answering every GET with the exposition of the moment (text format 0.0.4),
    /// over TLS when given a certificate, and only to requests carrying <c>requiredAuthorization</c> when set (401 otherwise).
    /// </summary>
    private sealed class MetricsServer : IDisposable
    {
        private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
        private readonly Func<double, string> _body;
        private readonly X509Certificate2? _cert;
        private readonly string? _auth;
        private readonly DateTime _start = DateTime.UtcNow;
        private readonly CancellationTokenSource _stop = new();
        private int _unauthorized;
        public int Unauthorized => _unauthorized;
        public string Address => $"127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";

        public MetricsServer(Func<double, string> body, X509Certificate2? cert = null, string? requiredAuthorization = null)
        {
            _body = body;
            _cert = cert;
            _auth = requiredAuthorization;
            _listener.Start();
            _ = Task.Run(AcceptLoop);
        }

        private async Task AcceptLoop()
        {
            while (!_stop.IsCancellationRequested)
            {
                TcpClient c;
                try { c = await _listener.AcceptTcpClientAsync(_stop.Token); }
                catch (OperationCanceledException) { return; }
                catch (ObjectDisposedException) { return; }
                _ = Task.Run(() => Serve(c));
            }
        }

        private async Task Serve(TcpClient client)
        {
            using var _ = client;
            try
            {
                Stream s = client.GetStream();
                if (_cert != null)
                {
                    var ssl = new SslStream(s);
                    await ssl.AuthenticateAsServerAsync(_cert).WaitAsync(TimeSpan.FromSeconds(5));
                    s = ssl;
                }
                var head = new StringBuilder();
                var buf = new byte[4096];
                while (!head.ToString().Contains("\r\n\r\n") && head.Length < 16384)
                {
                    int n = await s.ReadAsync(buf).AsTask().WaitAsync(TimeSpan.FromSeconds(5));
                    if (n == 0) return;
                    head.Append(Encoding.ASCII.GetString(buf, 0, n));
                }
                var auth = head.ToString().Split("\r\n").FirstOrDefault(l => l.StartsWith("Authorization:", StringComparison.OrdinalIgnoreCase))?[14..].Trim();
                string status = "200 OK", body = _body((DateTime.UtcNow - _start).TotalSeconds);
                if (_auth != null && auth != _auth) { Interlocked.Increment(ref _unauthorized); status = "401 Unauthorized"; body = "unauthorized\n"; }
                var bytes = Encoding.UTF8.GetBytes(body);
                await s.WriteAsync(Encoding.ASCII.GetBytes($"HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\nContent-Length: {bytes.Length}\r\nConnection: close\r\n\r\n"));
                await s.WriteAsync(bytes);
                await s.FlushAsync();
            }
            catch (IOException) { }
            catch (TimeoutException) { }
            catch (System.Security.Authentication.AuthenticationException) { } // a client that does not trust our CA
        }

        public void Dispose()
        {
            _stop.Cancel();
            _listener.Stop();
            _cert?.Dispose();
        }
    }
}
