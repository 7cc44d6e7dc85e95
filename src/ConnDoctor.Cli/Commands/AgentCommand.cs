using ConnDoctor.Documents;
using System.CommandLine;
using System.Net;
using ConnDoctor.Agent;
using ConnDoctor.Agent.Http;
using ConnDoctor.Model;
using ConnDoctor.Rules;
using ConnDoctor.Sources;
using ConnDoctor.Sources.Discovery;

namespace ConnDoctor.Cli.Commands;

/// <summary>
/// `conndoctor agent`: runs until stopped, watching connections on tracepoints, reading every namespace's socket table,
/// polling the local ZooKeeper servers and running the rules over a sliding window; serves /metrics for Prometheus and,
/// with --serve-evidence and a token, /evidence and /findings. Read-only.
/// </summary>
public static class AgentCommand
{
    private static readonly Option<string> Listen = new("--listen")
    { Description = "Address and port to serve on: :9149 (every address), 127.0.0.1:9149, [::1]:9149", DefaultValueFactory = _ => ":9149", HelpName = "ADDR:PORT" };
    private static readonly Option<string?> Config = new("--config")
    { Description = "A YAML file with any of these options as keys (listen, interval, window, top-k, serve-evidence, token-file, web.config.file, zk, zklog, netns, ...); options on the command line win", HelpName = "FILE" };
    private static readonly Option<string> Interval = new("--interval")
    { Description = "How often the socket tables are read and the metrics rebuilt (the watch runs all the time)", DefaultValueFactory = _ => "15s", HelpName = "DURATION" };
    private static readonly Option<string> Window = new("--window")
    { Description = "The sliding window the rules look at (and the ZooKeeper logs are read over)", DefaultValueFactory = _ => "5m", HelpName = "DURATION" };
    private static readonly Option<int> TopK = new("--top-k")
    { Description = "Process x service pairs with their own series per metric; the rest sum into process=\"other\"", DefaultValueFactory = _ => 50, HelpName = "N" };
    private static readonly Option<bool> ServeEvidence = new("--serve-evidence")
    { Description = "Also serve /evidence and /findings (connection tables, process names): only to a client with the --token-file token or a verified client certificate" };
    private static readonly Option<string?> TokenFile = new("--token-file")
    { Description = "File holding the bearer token /evidence and /findings require", HelpName = "FILE" };
    private static readonly Option<string?> WebConfigFile = new("--web.config.file")
    { Description = "TLS and basic auth, in the Prometheus exporter-toolkit web config format", HelpName = "FILE" };
    private static readonly Option<string?> Netns = new("--netns")
    { Description = "Watch only this network namespace (default: every one)", HelpName = "NAME|PATH" };
    private static readonly Option<string[]> Zk = new("--zk")
    { Description = "Also poll this ZooKeeper server (HOST:PORT), beside the ones discovery finds", HelpName = "HOST:PORT" };
    private static readonly Option<string[]> ZkLog = new("--zklog")
    { Description = "A ZooKeeper server log to read instead of the ones discovery finds", HelpName = "PATH" };
    private static readonly Option<string> SeriesExpiry = new("--series-expiry")
    { Description = "Counter series of a process gone this long are removed", DefaultValueFactory = _ => "60s", HelpName = "DURATION" };
    private static readonly Option<int> MaxConnections = new("--max-connections")
    { Description = "Connection records held in the window (bounded memory; the window's counts stay exact); beyond, the oldest are dropped and counted", DefaultValueFactory = _ => AgentOptions.DefaultMaxTrackedConnections, HelpName = "N" };
    private static readonly Option<string> ReadTimeout = new("--http.read-timeout")
    { Description = "A request's headers (and TLS handshake) must arrive within this time", DefaultValueFactory = _ => "10s", HelpName = "DURATION" };
    private static readonly Option<int> MaxRequests = new("--http.max-connections")
    { Description = "HTTP connections served at once; more are answered 503", DefaultValueFactory = _ => 32, HelpName = "N" };

    // The rules' threshold for a half-open suspect, as diagnose takes it (the agent runs the same rules every interval).
    private static readonly Option<string> Idle = new("--idle")
    { Description = DiagnoseCommand.Idle.Description, DefaultValueFactory = _ => "10m", HelpName = "DURATION" };
    private static readonly Option[] All = [Listen, Config, Interval, Window, TopK, ServeEvidence, TokenFile, WebConfigFile, Netns, Zk, ZkLog, SeriesExpiry, MaxConnections, Idle, ReadTimeout, MaxRequests];

    public static Command Create(CliIo io)
    {
        var c = new Command("agent", "Run on a host for Prometheus: connections per process and service, churn, resets, TIME_WAIT, ZooKeeper clients and findings as metrics on :9149");
        foreach (var o in All) c.Options.Add(o);
        c.SetAction(p => Cli.Guard(io, p, () => Run(p, io)));
        return c;
    }

    private static int Run(ParseResult p, CliIo io)
    {
        var cfg = p.GetValue(Config) is { } file ? ReadConfig(file) : new Dictionary<string, object>();
        string Str(Option<string> o) => Explicit(p, o) ? p.GetValue(o)! : cfg.TryGetValue(o.Name.TrimStart('-'), out var v) && v is string s ? s : p.GetValue(o)!;
        string? OptStr(Option<string?> o) => Explicit(p, o) ? p.GetValue(o) : cfg.TryGetValue(o.Name.TrimStart('-'), out var v) && v is string s ? s : p.GetValue(o);
        int Int(Option<int> o) => Explicit(p, o) ? p.GetValue(o) : cfg.TryGetValue(o.Name.TrimStart('-'), out var v) && v is string s
            ? int.TryParse(s, out int n) ? n : throw new UserException($"--config: {o.Name.TrimStart('-')}: '{s}' is not a number", (int)ExitCode.Usage)
            : p.GetValue(o);
        bool Bool(Option<bool> o) => Explicit(p, o) ? p.GetValue(o) : cfg.TryGetValue(o.Name.TrimStart('-'), out var v) && v is string s ? s is "true" or "yes" : p.GetValue(o);
        string[] List(Option<string[]> o) => Explicit(p, o) ? p.GetValue(o) ?? [] : cfg.TryGetValue(o.Name.TrimStart('-'), out var v) ? v switch { string s => [s], List<string> l => [.. l], _ => [] } : [];

        var interval = Durations.Parse(Str(Interval), "--interval");
        var window = Durations.Parse(Str(Window), "--window");
        if (interval < TimeSpan.FromSeconds(1)) throw new UserException("--interval must be at least 1s", (int)ExitCode.Usage);
        if (window < interval) throw new UserException("--window must be at least one --interval long", (int)ExitCode.Usage);
        int topK = Int(TopK);
        if (topK < 1) throw new UserException("--top-k must be at least 1", (int)ExitCode.Usage);
        int maxConn = Int(MaxConnections);
        if (maxConn < 1000) throw new UserException("--max-connections must be at least 1000", (int)ExitCode.Usage);
        var idle = Durations.Parse(Str(Idle), "--idle");
        if (idle <= TimeSpan.Zero) throw new UserException("--idle must be more than 0, e.g. 90s", (int)ExitCode.Usage);
        var listen = ParseListen(Str(Listen));
        var web = OptStr(WebConfigFile) is { } wf ? WebConfig.Load(wf) : null;
        bool serveEvidence = Bool(ServeEvidence);
        string? token = null;
        if (OptStr(TokenFile) is { } tf)
        {
            try { token = File.ReadAllText(tf).Trim(); }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { throw new UserException($"--token-file {tf}: {ex.Message}", (int)ExitCode.Usage); }
            if (token.Length < 16) throw new UserException($"--token-file {tf}: the token must be at least 16 characters", (int)ExitCode.Usage);
        }
        if (serveEvidence && token == null && web?.VerifiesClientCerts != true)
            throw new UserException("--serve-evidence needs --token-file FILE (or a web config that verifies client certificates)", (int)ExitCode.Usage);
        if (!serveEvidence && token != null)
            io.Err.WriteLine("conndoctor agent: --token-file given without --serve-evidence: /evidence and /findings stay off");
        var zkLogs = List(ZkLog).ToList();
        foreach (var f in zkLogs.Where(f => !File.Exists(f)))
            throw new UserException($"--zklog {f}: no such file", (int)ExitCode.Usage);
        string? netns = OptStr(Netns);
        var options = new AgentOptions
        {
            Collect = new CollectOptions { AllNetns = netns == null, Netns = netns },
            Discovery = new DiscoveryOptions { ZkLogs = zkLogs, ZkServers = DiagnoseCommand.Servers(List(Zk)) },
            Interval = interval,
            Window = window,
            TopK = topK,
            SeriesExpiry = Durations.Parse(Str(SeriesExpiry), "--series-expiry"),
            MaxTrackedConnections = maxConn,
            KeepSocketTable = serveEvidence,
            Rules = new RuleOptions { Idle = idle },
        };
        var limits = new HttpLimits { HeaderTimeout = Durations.Parse(Str(ReadTimeout), "--http.read-timeout"), MaxConcurrent = Math.Max(1, Int(MaxRequests)) };

        using var stop = new StopSignals();
        using var loop = new AgentLoop(options);
        var endpoints = new AgentEndpoints(() => loop.State, new AgentEndpointOptions { ServeEvidence = serveEvidence, Token = token, Web = web, EvidenceWriter = (evidence, stream) => EvidenceDocumentWriter.Write(evidence, stream, redact: true) });
        using var server = new AgentHttpServer(listen, web, limits, endpoints.Handle);
        server.Start();
        loop.Start();
        string scheme = web?.Tls == true ? "https" : "http";
        io.Err.WriteLine($"conndoctor agent: serving {scheme}://{FormatListen(server.LocalEndPoint)}/metrics" +
                         (serveEvidence ? ", /evidence and /findings (token" + (web?.VerifiesClientCerts == true ? " or client certificate" : "") + ")" : "") +
                         (web?.BasicAuthUsers.Count > 0 ? "; basic auth" : "") +
                         $"; every {Analysis.Format.Duration(interval)}, window {Analysis.Format.Duration(window)}" +
                         (web?.Ignored.Count > 0 ? $"; ignored from the web config: {string.Join(", ", web.Ignored)}" : ""));
        io.Err.Flush();
        stop.Token.WaitHandle.WaitOne();
        return (int)ExitCode.Ok;
    }

    private static bool Explicit(ParseResult p, Option o) => p.GetResult(o) is { Implicit: false };

    private static string FormatListen(IPEndPoint ep) => ep.Address.Equals(IPAddress.IPv6Any) ? $"[::]:{ep.Port}" : ep.ToString();

    /// <summary>":9149" (every address, IPv4 and IPv6), "0.0.0.0:9149", "127.0.0.1:9149", "[::1]:9149".</summary>
    internal static IPEndPoint ParseListen(string text)
    {
        var t = text.Trim();
        int colon = t.LastIndexOf(':');
        if (colon < 0 || !int.TryParse(t[(colon + 1)..], out int port) || port is < 0 or > 65535)
            throw new UserException($"--listen {text}: give ADDR:PORT, e.g. :9149 or 127.0.0.1:9149", (int)ExitCode.Usage);
        var host = t[..colon].Trim('[', ']');
        if (host.Length == 0) return new IPEndPoint(IPAddress.IPv6Any, port);
        if (!IPAddress.TryParse(host, out var ip))
            throw new UserException($"--listen {text}: '{host}' is not an IP address", (int)ExitCode.Usage);
        return new IPEndPoint(ip, port);
    }

    private static Dictionary<string, object> ReadConfig(string file)
    {
        string text;
        try { text = File.ReadAllText(file); }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { throw new UserException($"--config {file}: {ex.Message}", (int)ExitCode.Usage); }
        Dictionary<string, object> map;
        try { map = WebConfigYaml.Parse(text); }
        catch (FormatException ex) { throw new UserException($"--config {file}: {ex.Message}", (int)ExitCode.Usage); }
        var known = All.Select(o => o.Name.TrimStart('-')).Where(n => n != "config").ToHashSet();
        foreach (var k in map.Keys.Where(k => !known.Contains(k)))
            throw new UserException($"--config {file}: unknown key '{k}' (keys: {string.Join(", ", known.Order())})", (int)ExitCode.Usage);
        return map;
    }
}
