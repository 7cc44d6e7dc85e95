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

    public Severity? Worst => Findings.Count == 0 ? null : Findings.Max(f => f.Severity);
}

/// <summary>Runs rules over evidence. A rule that throws is reported as failed; the others still run.</summary>
public static class Diagnosis
{
    public static DiagnoseReport Run(Evidence evidence, RuleOptions options, IReadOnlyCollection<string>? onlyRules = null)
    {
        var findings = new List<Finding>();
        var outcomes = new List<RuleOutcome>();
        foreach (var rule in RuleRegistry.All)
        {
            if (onlyRules is { Count: > 0 } && !onlyRules.Contains(rule.Id)) continue;
            if (!rule.Reads(evidence)) continue;
            var ctx = new RuleContext(evidence, options);
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
        return new DiagnoseReport
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
    }
}
