using System.CommandLine;
using ConnDoctor.Model;
using ConnDoctor.Pipeline;
using ConnDoctor.Render;
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

    private static readonly Option<string[]> Rule = new("--rule")
    { Description = "Run only these rules: " + string.Join(", ", RuleIds), HelpName = "ID" };
    private static readonly Option<string> Idle = new("--idle")
    { Description = "How long an ESTABLISHED socket may be silent, without keepalive, before it is a half-open suspect (e.g. 90s, 10m, 2h)", DefaultValueFactory = _ => "10m", HelpName = "DURATION" };
    private static readonly Option<string> Since = new("--since")
    { Description = "The window of the logs read: a duration back from now (30m, 1h, 1d) or a local time ('2024-01-31 12:00')", DefaultValueFactory = _ => "1h", HelpName = "DURATION|TIME" };
    private static readonly Option<string[]> ZkLog = new("--zklog")
    { Description = "A ZooKeeper server log to read instead of the ones discovery finds (its rotated files beside it are read too)", HelpName = "PATH" };
    private static readonly Option<string[]> Zk = new("--zk")
    { Description = "Also poll this ZooKeeper server (HOST:PORT, commas allowed): one discovery cannot see, on another host", HelpName = "HOST:PORT" };
    private static readonly Option<string?> Watch = new("--watch")
    { Description = "First watch connections open and close for this long with tracepoints (names the process behind short connections; root)", HelpName = "DURATION" };
    private static readonly Option<bool> NoAppLogs = new("--no-app-logs")
    { Description = "Do not read the own logs of the processes the findings blame" };

    public static Command Create(CliIo io)
    {
        var c = new Command("diagnose", "Find ZooKeeper servers and clients on this host, read every source, and report what is wrong, who does it and what to do");
        FailOnOption.AddTo(c);
        foreach (var o in (Option[])[Rule, Idle, Since, ZkLog, Zk, Watch, NoAppLogs]) c.Options.Add(o);
        SourceOptions.AddTo(c);
        c.SetAction(p => Cli.Guard(io, p, () => Run(p, io)));
        return c;
    }

    private static int Run(ParseResult p, CliIo io)
    {
        var rules = (p.GetValue(Rule) ?? []).SelectMany(r => r.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToList();
        foreach (var id in rules.Where(id => RuleRegistry.Find(id) == null))
            throw new UserException($"unknown rule '{id}' (rules: {string.Join(", ", RuleIds)})", (int)ExitCode.Usage);
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
        using var stop = new StopSignals();
        // A watch takes its whole duration before anything is printed: say so on a terminal (stderr, never in the report).
        if (watch is TimeSpan w2 && io.IsTerminal) { io.Err.WriteLine($"watching connections for {Analysis.Format.Duration(w2)} (Ctrl-C ends it early), then reading every source ..."); io.Err.Flush(); }
        var (_, report) = HostDiagnosis.Run(options, null, stop.Token);
        if (p.GetValue(GlobalOptions.Json)) DiagnoseJsonRenderer.Render(report, io.OutStream);
        else DiagnoseTerminalRenderer.Render(report, io.Out, OutputFor.Read(p, io));
        return FailOnOption.ExitCodeFor(p, report.Worst);
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
