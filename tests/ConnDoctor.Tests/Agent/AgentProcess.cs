using System.Diagnostics;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using System.Text.RegularExpressions;
using ConnDoctor.Tests.Cli;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.Agent;

/// <summary>
/// The real binary, artifacts/conndoctor agent, started as a process on a free loopback port (optionally under a
/// wrapper such as unshare), its stderr kept, stopped with SIGTERM (as systemd and the kubelet stop it).
/// </summary>
internal sealed partial class AgentProcess : IDisposable
{
    public Process Process { get; }
    public int Port { get; }
    public string Scheme { get; }
    private readonly List<string> _stderr = new();
    private readonly HttpClient _http;

    /// <param name="listen">ADDR:PORT to listen on instead of a free loopback port (an agent in a test namespace, for a
    /// Prometheus elsewhere); <see cref="Get"/> and <see cref="Url"/> then do not reach it from here.</param>
    public AgentProcess(string[] args, string[]? wrapper = null, bool tls = false, HttpMessageHandler? handler = null, string? listen = null)
    {
        Port = Ports.Free();
        Scheme = tls ? "https" : "http";
        string[] all = [.. wrapper ?? [], BinarySmokeTests.Binary(), "agent", "--listen", listen ?? $"127.0.0.1:{Port}", .. args];
        var psi = new ProcessStartInfo(all[0]) { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in all.Skip(1)) psi.ArgumentList.Add(a);
        Process = Process.Start(psi)!;
        var ready = new TaskCompletionSource();
        Process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data == null) return;
            lock (_stderr) _stderr.Add(e.Data);
            if (e.Data.Contains("serving")) ready.TrySetResult();
        };
        Process.BeginErrorReadLine();
        Process.BeginOutputReadLine();
        _http = new HttpClient(handler ?? new HttpClientHandler()) { Timeout = TimeSpan.FromSeconds(10) };
        if (!ready.Task.Wait(TimeSpan.FromSeconds(30)) || Process.HasExited)
        {
            Dispose();
            throw new InvalidOperationException($"the agent did not start: {Stderr}");
        }
    }

    public string Stderr { get { lock (_stderr) return string.Join('\n', _stderr); } }
    public string Url(string path) => $"{Scheme}://127.0.0.1:{Port}{path}";

    public (int Status, string Body, string ContentType) Get(string path, params (string Name, string Value)[] headers)
    {
        var req = new HttpRequestMessage(HttpMethod.Get, Url(path));
        foreach (var (n, v) in headers) req.Headers.TryAddWithoutValidation(n, v);
        using var resp = _http.Send(req);
        return ((int)resp.StatusCode, resp.Content.ReadAsStringAsync().Result, resp.Content.Headers.ContentType?.ToString() ?? "");
    }

    /// <summary>Reads /metrics until <paramref name="done"/> holds (a collection is every --interval); the last text on timeout.</summary>
    public string WaitMetrics(Func<string, bool> done, int seconds = 60, params (string, string)[] headers)
    {
        var sw = Stopwatch.StartNew();
        string last = "";
        while (sw.Elapsed < TimeSpan.FromSeconds(seconds))
        {
            if (Process.HasExited) Assert.Fail($"the agent exited ({Process.ExitCode}): {Stderr}");
            var (status, body, _) = Get("/metrics", headers);
            Assert.Equal(200, status);
            last = body;
            if (done(body)) return body;
            Thread.Sleep(500);
        }
        Assert.Fail($"/metrics never showed what was waited for within {seconds} s. Last:\n{last}\nstderr: {Stderr}");
        return last;
    }

    [GeneratedRegex("""(\w+)="((?:[^"\\]|\\.)*)"|(\w+)""")]
    private static partial Regex LabelRegex();

    /// <summary>Samples of a metric whose labels include every given pair: (labels, value).</summary>
    public static List<(Dictionary<string, string> Labels, double Value)> Samples(string text, string name, params (string, string)[] match)
    {
        var list = new List<(Dictionary<string, string>, double)>();
        foreach (var line in text.Split('\n'))
        {
            if (line.StartsWith('#') || !line.StartsWith(name)) continue;
            int sp = line.LastIndexOf(' ');
            string head = line[..sp];
            string metric = head.Contains('{') ? head[..head.IndexOf('{')] : head;
            if (metric != name) continue;
            var labels = new Dictionary<string, string>();
            if (head.Contains('{'))
                foreach (Match m in LabelRegex().Matches(head[(head.IndexOf('{') + 1)..^1]))
                    if (m.Groups[1].Success) labels[m.Groups[1].Value] = m.Groups[2].Value;
            if (match.All(kv => labels.GetValueOrDefault(kv.Item1) == kv.Item2))
                list.Add((labels, double.Parse(line[(sp + 1)..], System.Globalization.CultureInfo.InvariantCulture)));
        }
        return list;
    }

    public static double Sum(string text, string name, params (string, string)[] match) => Samples(text, name, match).Sum(s => s.Value);

    /// <summary>SIGTERM, as a service manager stops it; returns the exit code.</summary>
    public int Stop()
    {
        if (Process.HasExited) return Process.ExitCode;
        Shell.RunFull("kill", ["-TERM", Process.Id.ToString()], check: false);
        if (!Process.WaitForExit(20_000)) { Process.Kill(true); Process.WaitForExit(); }
        return Process.ExitCode;
    }

    public void Dispose()
    {
        try { Stop(); } catch (InvalidOperationException) { }
        _http.Dispose();
        Process.Dispose();
    }

    /// <summary>An HttpClientHandler that trusts only <paramref name="ca"/> and optionally presents a client certificate.</summary>
    public static HttpClientHandler TrustingOnly(X509Certificate2 ca, X509Certificate2? client = null)
    {
        var h = new HttpClientHandler
        {
            ServerCertificateCustomValidationCallback = (_, cert, _, errors) =>
            {
                if (cert == null || (errors & ~SslPolicyErrors.RemoteCertificateChainErrors) != SslPolicyErrors.None) return false;
                using var chain = new X509Chain();
                chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
                chain.ChainPolicy.CustomTrustStore.Add(ca);
                chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
                return chain.Build(cert);
            },
        };
        if (client != null) { h.ClientCertificateOptions = ClientCertificateOption.Manual; h.ClientCertificates.Add(client); }
        return h;
    }
}
