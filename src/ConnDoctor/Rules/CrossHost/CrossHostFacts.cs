using ConnDoctor.Model;

namespace ConnDoctor.Rules.CrossHost;

/// <summary>Small helpers the cross-host rules share: a per-host finding's parts tagged with its host, lines prefixed with host and source.</summary>
internal static class CrossHostFacts
{
    /// <summary>A per-host finding's parts (one, for a finding from a single source), each saying which host's evidence it is.</summary>
    public static IEnumerable<FindingPart> PartsOf(Finding f, string host) =>
        (f.Parts.Count > 0 ? f.Parts : [new FindingPart(f.Source ?? "", f.Summary, f.Evidence)]).Select(p => p with { Host = host });

    /// <summary>Every part's lines, each with its host and source: "[c1 watch] ...".</summary>
    public static List<string> Flatten(IEnumerable<FindingPart> parts) =>
        parts.SelectMany(p => p.Evidence.Select(l => $"[{string.Join(' ', new[] { p.Host, p.Source }.Where(x => !string.IsNullOrEmpty(x)))}] {l}")).ToList();

    public static Severity Max(Severity a, Severity b) => a >= b ? a : b;

    /// <summary>The process's own reason, from its log as the client host's collection read it: a well-known meaning first, else what repeats most.</summary>
    public static string? OwnCause(Evidence e, int pid)
    {
        var x = e.AppLogs?.Processes.FirstOrDefault(p => p.Pid == pid);
        if (x == null || x.Patterns.Count == 0) return null;
        var best = x.Patterns.OrderByDescending(p => p.Meaning != null).ThenByDescending(p => p.Count).First();
        return $"{best.Signature} ({best.Count} x in {best.File})";
    }
}
