using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;

namespace ConnDoctor.Tests.Infra;

/// <summary>How Prometheus authenticates and secures its scrapes of the targets (its scrape_config's scheme, tls_config, authorization, basic_auth).</summary>
public sealed record ScrapeSecurity
{
    /// <summary>PEM file of the CA that signed the targets' certificates: scrape over HTTPS and verify them against it.</summary>
    public string? CaFile { get; init; }
    /// <summary>The name the targets' certificates carry (tls_config.server_name), when it is not the address scraped.</summary>
    public string? ServerName { get; init; }
    /// <summary>File holding the bearer token Prometheus presents (authorization.credentials_file).</summary>
    public string? BearerTokenFile { get; init; }
    public string? BasicUser { get; init; }
    public string? BasicPasswordFile { get; init; }
}

/// <summary>One scrape_config: its job name, targets (host:port), metrics path and how it secures its scrapes.</summary>
public sealed record ScrapeJob(string Name, IReadOnlyList<string> Targets, ScrapeSecurity? Security = null, string MetricsPath = "/metrics");

/// <summary>
/// A real Prometheus (Debian's prometheus package) started by the test: its own config (the targets given, scraped every
/// second; rule files; TLS and credentials for the scrape), its own data directory, on a free loopback port, or inside a
/// test namespace (<paramref name="netns"/>) so that it reaches targets there. Waits until /-/ready answers; helpers query
/// the HTTP API (/api/v1/query, series, alerts, targets) from the right namespace. Disposing stops it and deletes its files.
/// </summary>
public sealed class PrometheusServer : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _log = new();
    private readonly HttpClient _http;
    public string Dir { get; }
    public int Port { get; }
    public TestNetns? Netns { get; }
    public string BaseUrl => $"http://127.0.0.1:{Port}";
    public string ConfigText { get; }

    /// <param name="targets">host:port of each target (a conndoctor agent, or any /metrics server).</param>
    /// <param name="ruleFiles">Rule files to load (deploy/prometheus/conndoctor-rules.yml); copied into the data dir.</param>
    /// <param name="immediateAlerts">
    /// Rewrite every rule's `for:` to 0s in the copy, so an alert fires on its first true evaluation instead of after
    /// minutes: the expressions and thresholds stay as shipped (their `for:` durations are held by the promtool unit tests).
    /// </param>
    /// <param name="metricsPath">The targets' metrics path.</param>
    /// <param name="netns">Run Prometheus in this test namespace (the targets' addresses are as seen from there).</param>
    public PrometheusServer(IEnumerable<string> targets, IEnumerable<string>? ruleFiles = null, bool immediateAlerts = false,
        ScrapeSecurity? security = null, string metricsPath = "/metrics", TestNetns? netns = null, string job = "conndoctor")
        : this([new ScrapeJob(job, targets.ToList(), security, metricsPath)], ruleFiles, immediateAlerts, netns) { }

    /// <summary>Several scrape jobs in one Prometheus (one startup), each with its own targets and security.</summary>
    public PrometheusServer(IReadOnlyList<ScrapeJob> jobs, IEnumerable<string>? ruleFiles = null, bool immediateAlerts = false, TestNetns? netns = null)
    {
        Assert.True(File.Exists("/usr/bin/prometheus"), "Debian's prometheus package is missing: run scripts/setup.sh");
        Netns = netns;
        Dir = Directory.CreateTempSubdirectory("cd-prom").FullName;
        var rules = new List<string>();
        foreach (var (file, i) in (ruleFiles ?? []).Select((f, i) => (f, i)))
        {
            string text = File.ReadAllText(file);
            if (immediateAlerts) text = System.Text.RegularExpressions.Regex.Replace(text, @"(?m)^(\s+)for: \S+$", "$1for: 0s");
            string copy = Path.Combine(Dir, $"rules-{i}-{Path.GetFileName(file)}");
            File.WriteAllText(copy, text);
            rules.Add(copy);
        }
        ConfigText = Config(jobs, rules);
        File.WriteAllText(Path.Combine(Dir, "prometheus.yml"), ConfigText);
        var check = Shell.RunFull("/usr/bin/promtool", ["check", "config", Path.Combine(Dir, "prometheus.yml")], check: false);
        Assert.True(check.Code == 0, $"promtool check config: {check.Stdout}{check.Stderr}\n{ConfigText}");

        _http = new HttpClient(new SocketsHttpHandler { ConnectCallback = ConnectAsync }) { Timeout = TimeSpan.FromSeconds(10) };
        for (int attempt = 1; ; attempt++)
        {
            Port = Ports.Free();
            _process = Start();
            try { WaitReady(TimeSpan.FromSeconds(60)); return; }
            catch (InvalidOperationException) when (attempt < 3 && _process.HasExited) { } // the port was taken between our check and its bind
        }
    }

    private static string Yaml(string s) => JsonSerializer.Serialize(s); // a JSON string is a valid YAML scalar

    private static string Config(IReadOnlyList<ScrapeJob> jobs, List<string> rules)
    {
        var b = new StringBuilder();
        b.AppendLine("global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s");
        if (rules.Count > 0)
        {
            b.AppendLine("rule_files:");
            foreach (var r in rules) b.AppendLine($"  - {Yaml(r)}");
        }
        b.AppendLine("scrape_configs:");
        foreach (var (job, targets, sec, metricsPath) in jobs) Job(b, job, targets, sec, metricsPath);
        return b.ToString();
    }

    private static void Job(StringBuilder b, string job, IReadOnlyList<string> targets, ScrapeSecurity? sec, string metricsPath)
    {
        b.AppendLine($"  - job_name: {Yaml(job)}");
        b.AppendLine($"    metrics_path: {Yaml(metricsPath)}");
        b.AppendLine($"    scheme: {(sec?.CaFile != null ? "https" : "http")}");
        if (sec?.CaFile != null)
        {
            b.AppendLine("    tls_config:");
            b.AppendLine($"      ca_file: {Yaml(sec.CaFile)}");
            if (sec.ServerName != null) b.AppendLine($"      server_name: {Yaml(sec.ServerName)}");
        }
        if (sec?.BearerTokenFile != null)
            b.AppendLine($"    authorization:\n      type: Bearer\n      credentials_file: {Yaml(sec.BearerTokenFile)}");
        if (sec?.BasicUser != null)
            b.AppendLine($"    basic_auth:\n      username: {Yaml(sec.BasicUser)}\n      password_file: {Yaml(sec.BasicPasswordFile ?? "")}");
        b.AppendLine("    static_configs:");
        b.AppendLine($"      - targets: [{string.Join(", ", targets.Select(Yaml))}]");
    }

    private Process Start()
    {
        string[] cmd = ["/usr/bin/prometheus", $"--config.file={Dir}/prometheus.yml", $"--storage.tsdb.path={Dir}/data",
            $"--web.listen-address=127.0.0.1:{Port}", "--log.level=warn", "--storage.tsdb.retention.time=1h"];
        var psi = new ProcessStartInfo(Netns == null ? cmd[0] : "ip") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in Netns == null ? cmd[1..] : ["netns", "exec", Netns.Name, .. cmd]) psi.ArgumentList.Add(a);
        var p = Process.Start(psi)!;
        p.OutputDataReceived += (_, e) => { if (e.Data != null) lock (_log) _log.AppendLine(e.Data); };
        p.ErrorDataReceived += (_, e) => { if (e.Data != null) lock (_log) _log.AppendLine(e.Data); };
        p.BeginOutputReadLine();
        p.BeginErrorReadLine();
        return p;
    }

    /// <summary>Connections to the API are made from Prometheus's namespace (a socket keeps the namespace it was created in).</summary>
    private async ValueTask<Stream> ConnectAsync(SocketsHttpConnectionContext ctx, CancellationToken ct)
    {
        var ep = new IPEndPoint(IPAddress.Loopback, ctx.DnsEndPoint.Port);
        var socket = Netns == null
            ? new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp)
            : ConnDoctor.Sources.NetnsScope.Run($"/run/netns/{Netns.Name}", () => new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp));
        try { await socket.ConnectAsync(ep, ct); }
        catch { socket.Dispose(); throw; }
        return new NetworkStream(socket, ownsSocket: true);
    }

    private void WaitReady(TimeSpan limit)
    {
        var deadline = DateTime.UtcNow + limit;
        while (true)
        {
            if (_process.HasExited) throw new InvalidOperationException($"prometheus exited {_process.ExitCode}: {Log}");
            try
            {
                using var r = _http.GetAsync($"{BaseUrl}/-/ready").GetAwaiter().GetResult();
                if (r.StatusCode == HttpStatusCode.OK) return;
            }
            catch (HttpRequestException) { }
            catch (TaskCanceledException) { }
            if (DateTime.UtcNow > deadline)
            {
                Stop();
                throw new InvalidOperationException($"prometheus was not ready on {BaseUrl} within {limit.TotalSeconds:0} s: {Log}");
            }
            Thread.Sleep(200);
        }
    }

    /// <summary>What Prometheus printed (warnings and errors only).</summary>
    public string Log { get { lock (_log) return _log.ToString(); } }

    /// <summary>GET an API path; returns its "data" member (fails the test on an error status).</summary>
    public JsonElement Api(string pathAndQuery)
    {
        using var r = _http.GetAsync(BaseUrl + pathAndQuery).GetAwaiter().GetResult();
        string body = r.Content.ReadAsStringAsync().GetAwaiter().GetResult();
        using var doc = JsonDocument.Parse(body);
        Assert.True(doc.RootElement.GetProperty("status").GetString() == "success", $"{pathAndQuery}: {body}");
        return doc.RootElement.GetProperty("data").Clone();
    }

    /// <summary>An instant query: each result's labels and value.</summary>
    public List<(Dictionary<string, string> Labels, double Value)> Query(string promql) =>
        Api("/api/v1/query?query=" + Uri.EscapeDataString(promql)).GetProperty("result").EnumerateArray()
            .Select(x => (Labels(x.GetProperty("metric")), double.Parse(x.GetProperty("value")[1].GetString()!, System.Globalization.CultureInfo.InvariantCulture)))
            .ToList();

    /// <summary>The label sets of the series matching a selector (over the last hour).</summary>
    public List<Dictionary<string, string>> Series(string match) =>
        Api("/api/v1/series?match[]=" + Uri.EscapeDataString(match)).EnumerateArray().Select(Labels).ToList();

    /// <summary>Active alerts (pending and firing) with their labels, annotations and state.</summary>
    public List<(Dictionary<string, string> Labels, Dictionary<string, string> Annotations, string State)> Alerts() =>
        Api("/api/v1/alerts").GetProperty("alerts").EnumerateArray()
            .Select(a => (Labels(a.GetProperty("labels")), Labels(a.GetProperty("annotations")), a.GetProperty("state").GetString()!))
            .ToList();

    /// <summary>The active targets: scrape URL, health (up, down, unknown), the last scrape's error and the job (scrape pool).</summary>
    public List<(string ScrapeUrl, string Health, string LastError, string Job)> Targets() =>
        Api("/api/v1/targets?state=active").GetProperty("activeTargets").EnumerateArray()
            .Select(t => (t.GetProperty("scrapeUrl").GetString()!, t.GetProperty("health").GetString()!, t.GetProperty("lastError").GetString() ?? "",
                t.GetProperty("scrapePool").GetString() ?? ""))
            .ToList();

    private static Dictionary<string, string> Labels(JsonElement o) =>
        o.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetString() ?? "");

    /// <summary>Polls (bounded) until the condition holds on what <paramref name="read"/> returns; returns the last value read.</summary>
    public T Await<T>(Func<PrometheusServer, T> read, Func<T, bool> done, int seconds = 30)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        T value;
        while (!done(value = read(this)) && DateTime.UtcNow < deadline) Thread.Sleep(250);
        return value;
    }

    public void Stop()
    {
        try { if (!_process.HasExited) { _process.Kill(true); _process.WaitForExit(10_000); } } catch (InvalidOperationException) { }
    }

    public void Dispose()
    {
        Stop();
        _http.Dispose();
        try { Directory.Delete(Dir, true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}
