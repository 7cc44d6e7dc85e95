using ConnDoctor.Model;
using ConnDoctor.Rules;
using ConnDoctor.Sources;
using ConnDoctor.Sources.AppLog;
using ConnDoctor.Sources.Watch;

namespace ConnDoctor.Pipeline;

public sealed record HostDiagnosisOptions
{
    public required HostOptions Host { get; init; }
    public RuleOptions Rules { get; init; } = new();
    /// <summary>--rule: only these rules (any rule id).</summary>
    public IReadOnlyCollection<string> OnlyRules { get; init; } = [];
    /// <summary>Read the blamed processes' own logs (--no-app-logs turns it off).</summary>
    public bool AppLogs { get; init; } = true;
}

/// <summary>
/// `diagnose` on a host, end to end: every source into one evidence (<see cref="HostCollector"/>), every rule over each
/// source, one finding per problem (<see cref="FindingMerger"/>), the holders on this host of a client IP at the limit
/// (<see cref="LocalHolderJoin"/>), then the own logs of the processes the findings blame
/// (<see cref="AppLogSource"/>, a source read once the rules have named them) joined into their findings
/// (<see cref="AppLogJoin"/>). Returns the evidence with every part, for a document, and the report.
/// <see cref="Diagnose"/> is the same without the collection, for evidence read from a document.
/// </summary>
public static class HostDiagnosis
{
    public static (Evidence Evidence, DiagnoseReport Report) Run(HostDiagnosisOptions o, Action<WatchTick>? onTick = null, CancellationToken cancel = default)
    {
        var start = DateTimeOffset.UtcNow;
        var evidence = HostCollector.Collect(o.Host, onTick, cancel);
        // Who and where this was: the host's name, boot and the addresses of the namespaces read (a few netlink dumps).
        evidence = evidence with { Identity = HostIdentitySource.Read(o.Host.Collect.ProcRoot, evidence.Namespaces, start, DateTimeOffset.UtcNow).Identity };
        var extraZkPorts = o.Host.Discovery.ZkServers.Select(e => (int)e.Port).ToList();
        return Diagnose(evidence, o.Rules, o.OnlyRules, extraZkPorts, (blamed, ev) =>
            o.AppLogs ? ReadBlamedLogs(o.Host.Collect, blamed, ev, o.Host.Since) : (null, new SourceStatus("app-logs", SourceState.Skipped, "--no-app-logs")));
    }

    /// <summary>The own logs of the processes a finding blames, on a live host (`diagnose`, `collect` and the agent read them so).</summary>
    public static (AppLogEvidence? Logs, SourceStatus Status) ReadBlamedLogs(CollectOptions collect, IReadOnlyList<int> blamed, Evidence ev, DateTime since)
    {
        if (!collect.IsLiveProc) return (null, new SourceStatus("app-logs", SourceState.Skipped, "--proc-root: no live processes"));
        if (blamed.Count == 0) return (null, new SourceStatus("app-logs", SourceState.Skipped, "no finding blames a process"));
        var processes = blamed.Select(pid => ev.Processes.GetValueOrDefault(pid) ?? ProcessReader.Read(collect.ProcRoot, pid))
            .Where(p => p != null).Select(p => p!).ToList();
        var (logs, s) = AppLogSource.Read(collect.ProcRoot, processes, since, collect.AppLogCache);
        return (logs, blamed.Count > processes.Count ? s with { State = SourceState.Partial, Reason = s.Reason + $"; {blamed.Count - processes.Count} blamed process(es) exited before their log could be found" } : s);
    }

    /// <summary>
    /// The rules over collected evidence. <paramref name="readAppLogs"/> reads the blamed processes' logs on a live host;
    /// null: the evidence's own <see cref="Evidence.AppLogs"/> (a document, whose collect read them) are joined.
    /// </summary>
    public static (Evidence Evidence, DiagnoseReport Report) Diagnose(Evidence evidence, RuleOptions rules, IReadOnlyCollection<string> onlyRules,
        IEnumerable<int> extraZkPorts, Func<IReadOnlyList<int>, Evidence, (AppLogEvidence? Logs, SourceStatus Status)>? readAppLogs = null)
    {
        var report = Diagnosis.RunBySource(evidence, rules, onlyRules);
        var zkPorts = ZkPorts(evidence, extraZkPorts);
        var findings = LocalHolderJoin.Attach(FindingMerger.Merge(report.Findings, evidence.Watch != null, zkPorts), evidence, zkPorts);

        var blamed = AppLogJoin.Blamed(findings);
        if (readAppLogs != null)
        {
            var (logs, status) = readAppLogs(blamed, evidence);
            if (logs != null) evidence = evidence with { AppLogs = logs };
            evidence = evidence with { Statuses = [.. evidence.Statuses, status] };
        }
        if (evidence.AppLogs != null) findings = AppLogJoin.Attach(findings, evidence);
        report = report with
        {
            Findings = findings,
            Sources = evidence.Statuses,
            Overview = FindingMerger.Overview(evidence.Host, findings, evidence.Discovery),
            Discovery = evidence.Discovery,
            Notes = (evidence.Zk?.Servers ?? []).Where(s => s.WhitelistHint != null)
                .Select(s => $"{s.Member} refuses the four-letter words {string.Join(", ", s.RefusedWords)} (not whitelisted): add this line to its zoo.cfg and restart it: {s.WhitelistHint}" +
                             (evidence.ZkLog != null ? "; findings below still come from its log" : "")).ToList(),
            AppLogs = BlamedOnly(evidence.AppLogs, blamed),
        };
        return (evidence, report);
    }

    /// <summary>
    /// The report quotes the logs of the processes its findings blame; the evidence may carry more (a document's, or the
    /// agent's window, hold the busiest churners' too, for a finding on another host).
    /// </summary>
    private static AppLogEvidence? BlamedOnly(AppLogEvidence? logs, List<int> blamed)
    {
        if (logs == null) return null;
        var kept = logs.Processes.Where(p => blamed.Contains(p.Pid)).ToList();
        return kept.Count == logs.Processes.Count ? logs : kept.Count == 0 ? null : logs with { Processes = kept };
    }

    /// <summary>ZooKeeper's client ports on this host: the servers discovery found, those given, and 2181.</summary>
    public static HashSet<int> ZkPorts(Evidence evidence, IEnumerable<int> extra) =>
        (evidence.Discovery?.Servers ?? []).SelectMany(s => s.ClientEndpoints).Select(e => (int)e.Port)
            .Concat(extra).Append(2181).ToHashSet();
}
