using ConnDoctor.Analysis;
using ConnDoctor.Model;

namespace ConnDoctor.Rules;

public enum RuleState { Ran, NotEnoughEvidence, Failed }

public sealed record RuleOutcome(string RuleId, RuleState State, int Findings, string? Reason = null);

/// <summary>The result of a diagnosis: findings worst first, and how each source and rule fared.</summary>
public sealed record DiagnoseReport
{
    public required string Host { get; init; }
    public required DateTimeOffset CollectedAt { get; init; }
    public required IReadOnlyList<SourceStatus> Sources { get; init; }
    public required IReadOnlyList<RuleOutcome> Rules { get; init; }
    public required IReadOnlyList<Finding> Findings { get; init; }
    public required IReadOnlyList<NetnsInfo> Namespaces { get; init; }
    public int SocketsExamined { get; init; }
    /// <summary>One paragraph: what is wrong on this host, worst first, naming subjects (diagnose); null elsewhere.</summary>
    public string? Overview { get; init; }
    /// <summary>What the operator should know about the sources (a server's refused four-letter words and the line that allows them).</summary>
    public IReadOnlyList<string> Notes { get; init; } = [];
    /// <summary>What discovery found (diagnose); null elsewhere.</summary>
    public DiscoveryEvidence? Discovery { get; init; }
    /// <summary>The blamed processes' own logs as read (diagnose); null when not read.</summary>
    public AppLogEvidence? AppLogs { get; init; }

    public Severity? Worst => Findings.Count == 0 ? null : Findings.Max(f => f.Severity);
}

/// <summary>Runs rules over evidence. A rule that throws is reported as failed; the others still run.</summary>
public static class Diagnosis
{
    public static DiagnoseReport Run(Evidence evidence, RuleOptions options, IReadOnlyCollection<string>? onlyRules = null)
    {
        var findings = new List<Finding>();
        var outcomes = new List<RuleOutcome>();
        var roles = new Lazy<SocketRoles>(() => new SocketRoles(evidence), LazyThreadSafetyMode.None);
        foreach (var rule in RuleRegistry.All)
        {
            if (onlyRules is { Count: > 0 } && !onlyRules.Contains(rule.Id)) continue;
            if (!rule.Reads(evidence)) continue;
            var ctx = new RuleContext(evidence, options, roles);
            try
            {
                var produced = rule.Evaluate(ctx).ToList();
                findings.AddRange(produced);
                outcomes.Add(ctx.InsufficientEvidence != null && produced.Count == 0
                    ? new RuleOutcome(rule.Id, RuleState.NotEnoughEvidence, 0, ctx.InsufficientEvidence)
                    : new RuleOutcome(rule.Id, RuleState.Ran, produced.Count, ctx.InsufficientEvidence));
            }
            catch (Exception ex)
            {
                outcomes.Add(new RuleOutcome(rule.Id, RuleState.Failed, 0, ex.Message));
            }
        }
        return Report(evidence, outcomes, findings);
    }

    private static DiagnoseReport Report(Evidence evidence, List<RuleOutcome> outcomes, List<Finding> findings) =>
        new()
        {
            Host = evidence.Host,
            CollectedAt = evidence.CollectedAt,
            Sources = evidence.Statuses,
            Rules = outcomes,
            Namespaces = evidence.Namespaces,
            SocketsExamined = evidence.Sockets.Count,
            Findings = findings
                .OrderByDescending(f => f.Severity)
                .ThenBy(f => f.RuleId, StringComparer.Ordinal)
                .ThenBy(f => f.Summary, StringComparer.Ordinal)
                .ToList(),
        };

    /// <summary>
    /// Every rule over every source of a host's evidence, one source at a time, so that each finding says which source
    /// it rests on (<see cref="Finding.Source"/>) and <see cref="FindingMerger"/> can join what several sources saw of one
    /// problem. The settings rules read the settings; the others the socket table, the ZooKeeper log, the poll, the watch.
    /// </summary>
    public static DiagnoseReport RunBySource(Evidence evidence, RuleOptions options, IReadOnlyCollection<string>? onlyRules = null)
    {
        var table = evidence with { ZkLog = null, Zk = null, Watch = null, Settings = null, Capture = null };
        var views = new List<(string Source, Evidence View, bool Audit)>
        {
            ("sockets", table, false),
            ("settings", evidence.Settings == null ? null! : table with { Settings = evidence.Settings }, true),
            ("zklog", evidence.ZkLog == null ? null! : Bare(evidence) with { ZkLog = evidence.ZkLog }, false),
            ("zk", evidence.Zk == null ? null! : Bare(evidence) with { Zk = evidence.Zk }, false),
            ("watch", evidence.Watch == null ? null! : table with { Watch = evidence.Watch }, false),
        };
        var findings = new List<Finding>();
        var outcomes = new Dictionary<string, RuleOutcome>();
        DiagnoseReport? ofTable = null;
        foreach (var (source, view, audit) in views)
        {
            if (view == null) continue;
            var only = RuleRegistry.All.Select(r => r.Id).Where(id => AuditRules.Ids.Contains(id) == audit && (onlyRules is not { Count: > 0 } || onlyRules.Contains(id))).ToList();
            if (only.Count == 0) continue;
            // The watch's view holds the same table: a rule that does not read the watch found there what it found over the
            // table, and is not run again; its outcome and findings over the table are given for the watch.
            var reused = source == "watch" && ofTable != null
                ? RuleRegistry.All.Where(r => !r.ReadsWatch && only.Contains(r.Id)).Select(r => r.Id).ToHashSet()
                : [];
            // Run's empty list means every rule: when all the rules asked for are reused, none is run.
            var toRun = only.Where(id => !reused.Contains(id)).ToList();
            var r = toRun.Count > 0 ? Run(view, options, toRun) : null;
            if (source == "sockets") ofTable = r;
            // (No table's view ran when only settings rules were asked for: nothing is reused then.)
            findings.AddRange((r?.Findings ?? []).Concat(ofTable?.Findings.Where(f => reused.Contains(f.RuleId)) ?? []).Select(f => f with { Source = source }));
            foreach (var o in (r?.Rules ?? []).Concat(ofTable?.Rules.Where(o => reused.Contains(o.RuleId)) ?? []))
                outcomes[o.RuleId] = outcomes.TryGetValue(o.RuleId, out var before) ? Join(before, o) : o;
        }
        var ordered = RuleRegistry.All.Where(x => outcomes.ContainsKey(x.Id)).Select(x => outcomes[x.Id]).ToList();
        return Report(evidence, ordered, findings);
    }

    /// <summary>Evidence with none of the host's table: the parts that are not about this host's sockets.</summary>
    private static Evidence Bare(Evidence e) => new() { Statuses = e.Statuses, CollectedAt = e.CollectedAt, Host = e.Host };

    /// <summary>A rule run over two sources: failed if either failed, ran if either ran, findings added.</summary>
    private static RuleOutcome Join(RuleOutcome a, RuleOutcome b)
    {
        if (a.State == RuleState.Failed || b.State == RuleState.Failed) return a.State == RuleState.Failed ? a : b;
        if (a.State == RuleState.Ran || b.State == RuleState.Ran)
            return new RuleOutcome(a.RuleId, RuleState.Ran, a.Findings + b.Findings, a.State == RuleState.Ran ? a.Reason ?? b.Reason : b.Reason);
        return a;
    }
}
