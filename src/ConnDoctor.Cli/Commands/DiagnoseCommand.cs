using System.CommandLine;
using ConnDoctor.Model;
using ConnDoctor.Pipeline;
using ConnDoctor.Render;
using ConnDoctor.Render.Html;
using ConnDoctor.Rules;
using ConnDoctor.Sources;
using ConnDoctor.Sources.Discovery;

namespace ConnDoctor.Cli.Commands;

/// <summary>
/// `conndoctor diagnose`: the whole hunt on a host. Finds the ZooKeeper servers and clients, reads every source
/// (socket table, the servers' logs over the window, a poll of each server, the settings, optionally a watch), runs
/// every rule, one finding per problem, and reads the blamed processes' own logs.
/// </summary>
public static class DiagnoseCommand
{
    private static readonly IReadOnlyList<string> RuleIds = RuleRegistry.All.Select(r => r.Id).ToList();
    private static readonly IReadOnlyList<string> CrossHostRuleIds = ConnDoctor.Rules.CrossHost.CrossHostRules.All.Select(r => r.Id).ToList();

    internal static readonly Option<string[]> Rule = new("--rule")
    { Description = "Run only these rules: " + string.Join(", ", RuleIds) + "; with --from also " + string.Join(", ", CrossHostRuleIds), HelpName = "ID" };
    internal static readonly Option<string> Idle = new("--idle")
    { Description = "How long an ESTABLISHED socket may be silent, without keepalive, before it is a half-open suspect (e.g. 90s, 10m, 2h)", DefaultValueFactory = _ => "10m", HelpName = "DURATION" };
    internal static readonly Option<string> Since = new("--since")
    { Description = "The window of the logs read: a duration back from now (30m, 1h, 1d) or a local time ('2024-01-31 12:00')", DefaultValueFactory = _ => "1h", HelpName = "DURATION|TIME" };
    internal static readonly Option<string[]> ZkLog = new("--zklog")
    { Description = "A ZooKeeper server log to read instead of the ones discovery finds (its rotated files beside it are read too)", HelpName = "PATH" };
    internal static readonly Option<string[]> Zk = new("--zk")
    { Description = "Also poll this ZooKeeper server (HOST:PORT, commas allowed): one discovery cannot see, on another host", HelpName = "HOST:PORT" };
    internal static readonly Option<string?> Watch = new("--watch")
    { Description = "First watch connections open and close for this long with tracepoints (names the process behind short connections; root)", HelpName = "DURATION" };
    internal static readonly Option<bool> NoAppLogs = new("--no-app-logs")
    { Description = "Do not read the own logs of the processes the findings blame" };
    private static readonly Option<string[]> From = new("--from")
    { Description = "Diagnose evidence documents (conndoctor collect) instead of this host: files (.gz too), - for stdin, or http(s):// URLs of agents; several are joined across hosts", HelpName = "FILE|-|URL", AllowMultipleArgumentsPerToken = true };
    private static readonly Option<string?> TokenFile = new("--token-file")
    { Description = "With --from URL: send the token in this file as 'Authorization: Bearer TOKEN'", HelpName = "FILE" };

    public static Command Create(CliIo io)
    {
        var c = new Command("diagnose", "Find ZooKeeper servers and clients on this host, read every source, and report what is wrong, who does it and what to do");
        FailOnOption.AddTo(c);
        HtmlOption.AddTo(c);
        foreach (var o in (Option[])[Rule, Idle, Since, ZkLog, Zk, Watch, NoAppLogs, From, TokenFile]) c.Options.Add(o);
        SourceOptions.AddTo(c);
        c.SetAction(p => Cli.Guard(io, p, () => Run(p, io)));
        return c;
    }

    private static int Run(ParseResult p, CliIo io)
    {
        if (p.GetResult(From) != null) return RunFrom(p, io);
        if (p.GetResult(TokenFile) != null) throw new UserException("--token-file goes with --from URL", (int)ExitCode.Usage);
        var options = ReadOptions(p);
        var watch = options.Host.Watch;
        using var stop = new StopSignals();
        // A watch takes its whole duration before anything is printed: say so on a terminal (stderr, never in the report).
        if (watch is TimeSpan w2 && io.IsTerminal) { io.Err.WriteLine($"watching connections for {Analysis.Format.Duration(w2)} (Ctrl-C ends it early), then reading every source ..."); io.Err.Flush(); }
        var (evidence, report) = HostDiagnosis.Run(options, null, stop.Token);
        HtmlOption.Write(p, () => HtmlReport.Of(report, evidence));
        if (p.GetValue(GlobalOptions.Json)) DiagnoseJsonRenderer.Render(report, io.OutStream);
        else DiagnoseTerminalRenderer.Render(report, io.Out, OutputFor.Read(p, io));
        return FailOnOption.ExitCodeFor(p, report.Worst);
    }

    /// <summary>--rule ids, checked against the registry (and, with --from, the cross-host rules).</summary>
    private static List<string> Rules(ParseResult p, bool crossHost = false)
    {
        var rules = (p.GetValue(Rule) ?? []).SelectMany(r => r.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToList();
        foreach (var id in rules.Where(id => RuleRegistry.Find(id) == null))
        {
            if (CrossHostRuleIds.Contains(id))
            {
                if (crossHost) continue;
                throw new UserException($"rule '{id}' joins several hosts' documents: use it with diagnose --from", (int)ExitCode.Usage);
            }
            throw new UserException($"unknown rule '{id}' (rules: {string.Join(", ", RuleIds)}; with --from also {string.Join(", ", CrossHostRuleIds)})", (int)ExitCode.Usage);
        }
        return rules;
    }

    /// <summary>What to read on this host and how to judge it, from the command line (diagnose and collect).</summary>
    internal static HostDiagnosisOptions ReadOptions(ParseResult p)
    {
        var rules = Rules(p);
        TimeSpan? watch = p.GetValue(Watch) is { } w ? Durations.Parse(w, "--watch") : null;
        if (watch == TimeSpan.Zero) throw new UserException("--watch needs a duration above zero, e.g. 30s", (int)ExitCode.Usage);
        var collect = SourceOptions.Read(p, new Analysis.SocketFilter());
        if (watch != null && !collect.IsLiveProc) throw new UserException("--watch reads the live kernel; --proc-root cannot be used with it", (int)ExitCode.Usage);
        var zkLogs = (p.GetValue(ZkLog) ?? []).ToList();
        foreach (var f in zkLogs.Where(f => !File.Exists(f)))
            throw new UserException(Directory.Exists(f) ? $"--zklog {f} is a directory: give the log file" : $"--zklog {f}: no such file", (int)ExitCode.Usage);
        var options = new HostDiagnosisOptions
        {
            Host = new HostOptions
            {
                Collect = collect,
                Since = SinceTime(p.GetValue(Since)!),
                Watch = watch,
                Discovery = new DiscoveryOptions { ZkLogs = zkLogs, ZkServers = Servers(p.GetValue(Zk) ?? []) },
            },
            Rules = new RuleOptions { Idle = Durations.Parse(p.GetValue(Idle)!, "--idle") },
            OnlyRules = rules,
            AppLogs = !p.GetValue(NoAppLogs),
        };
        return options;
    }

    /// <summary>
    /// --from: evidence documents instead of this host. One: the same per-host diagnosis and report as on the live host.
    /// Several: each host's, then what only the hosts together show (FleetDiagnosis).
    /// </summary>
    private static int RunFrom(ParseResult p, CliIo io)
    {
        var live = ((Option[])[Since, ZkLog, Zk, Watch, NoAppLogs, SourceOptions.ProcRoot, SourceOptions.Netns, SourceOptions.AllNetns, SourceOptions.Source])
            .Where(o => p.GetResult(o) is { Implicit: false }).Select(o => o.Name).ToList();
        if (live.Count > 0)
            throw new UserException($"--from reads documents collected elsewhere; {string.Join(", ", live)} read{(live.Count == 1 ? "s" : "")} this host: give {(live.Count == 1 ? "it" : "them")} to conndoctor collect instead", (int)ExitCode.Usage);
        var locations = (p.GetValue(From) ?? []).ToList();
        if (locations.Count == 0) throw new UserException("--from needs a document: a file, - for stdin, or a URL", (int)ExitCode.Usage);
        if (locations.Count(l => l == "-") > 1) throw new UserException("--from - (stdin) can be given once", (int)ExitCode.Usage);
        if (io.StdinIsTerminal && locations.Contains("-"))
            throw new UserException("--from - reads a document from stdin, which is a terminal: pipe one in (conndoctor collect | conndoctor diagnose --from -)", (int)ExitCode.Usage);
        var rules = new RuleOptions { Idle = Durations.Parse(p.GetValue(Idle)!, "--idle") };
        var only = Rules(p, crossHost: true);
        try
        {
            string? token = p.GetValue(TokenFile) is { } tf ? Documents.EvidenceDocumentSource.ReadToken(tf) : null;
            if (token != null && !locations.Any(Documents.EvidenceDocumentSource.IsUrl)) throw new UserException("--token-file goes with --from URL", (int)ExitCode.Usage);
            // Documents are independent: read on every core (gunzip and parse dominate).
            var documents = locations.AsParallel().AsOrdered().WithDegreeOfParallelism(Math.Max(1, Math.Min(Environment.ProcessorCount, locations.Count)))
                .Select(l => Documents.EvidenceDocumentSource.Load(l, io.OpenStdin, token)).ToList();
            if (documents.Count == 1)
            {
                var (evidence, report) = HostCollection.DiagnoseDocument(documents[0], rules, only);
                HtmlOption.Write(p, () => HtmlReport.Of(report, evidence));
                if (p.GetValue(GlobalOptions.Json)) DiagnoseJsonRenderer.Render(report, io.OutStream);
                else DiagnoseTerminalRenderer.Render(report, io.Out, OutputFor.Read(p, io));
                return FailOnOption.ExitCodeFor(p, report.Worst);
            }
            var fleet = FleetDiagnosis.Run(documents, rules, only);
            HtmlOption.Write(p, () => HtmlReport.Of(fleet));
            if (p.GetValue(GlobalOptions.Json)) FleetJsonRenderer.Render(fleet, io.OutStream);
            else FleetTerminalRenderer.Render(fleet, io.Out, OutputFor.Read(p, io));
            var worst = fleet.Hosts.Select(h => h.Report.Worst).Concat(fleet.CrossHostFindings.Select(f => (Severity?)f.Severity)).Max();
            return FailOnOption.ExitCodeFor(p, worst);
        }
        catch (AggregateException ex) when (ex.InnerExceptions.All(e => e is Documents.EvidenceDocumentException or UserException))
        {
            var first = ex.InnerExceptions[0];
            throw first is UserException u ? u : new UserException(first.Message, (int)ExitCode.Error);
        }
        catch (Documents.EvidenceDocumentException ex)
        {
            throw new UserException(ex.Message, (int)ExitCode.Error);
        }
    }

    /// <summary>"1h" back from now, or a local time as zklog takes it.</summary>
    private static DateTime SinceTime(string text)
    {
        var t = text.Trim();
        if (t.Length > 0 && char.IsDigit(t[0]) && t.Contains('-')) return ZkLogCommand.Time(t, "--since")!.Value;
        var back = Durations.Parse(t, "--since");
        if (back == TimeSpan.Zero) throw new UserException("--since needs a duration above zero, e.g. 1h", (int)ExitCode.Usage);
        return DateTime.Now - back;
    }

    internal static List<NetEndpoint> Servers(string[] values)
    {
        var list = new List<NetEndpoint>();
        if (values.Length == 0) return list;
        foreach (var m in ZkCommand.ParseMembers(values, null))
        {
            System.Net.IPAddress ip;
            try { ip = Sources.ZkPoll.ZkTransport.Resolve(m.Host, TimeSpan.FromSeconds(2)); }
            catch (SourceException ex) { throw new UserException($"--zk {m.Text}: {ex.Message}", (int)ExitCode.Usage); }
            list.Add(new NetEndpoint(NetAddress.FromIPAddress(ip), (ushort)m.Port));
        }
        return list;
    }
}
