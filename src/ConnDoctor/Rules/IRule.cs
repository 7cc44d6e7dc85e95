using ConnDoctor.Analysis;
using ConnDoctor.Model;

namespace ConnDoctor.Rules;

/// <summary>One pathology: turns evidence into findings. Stateless; registered once in <see cref="RuleRegistry"/>.</summary>
public interface IRule
{
    /// <summary>Stable kebab-case id used in output, --rule and docs.</summary>
    string Id { get; }
    string Description { get; }

    /// <summary>Whether the evidence holds a part this rule reads; a rule with nothing to read is not run or listed.</summary>
    bool Reads(Evidence evidence);

    /// <summary>
    /// Whether the rule reads the watch (<see cref="Evidence.Watch"/>). One that does not finds over the watch's view of a
    /// host (its table and its watch) what it found over the table alone: <see cref="Diagnosis.RunBySource"/> gives those
    /// findings again instead of running it twice over the same 125k sockets (every interval in the agent).
    /// </summary>
    bool ReadsWatch => true;

    IEnumerable<Finding> Evaluate(RuleContext context);
}

/// <summary>Thresholds a user may change; defaults are what an SRE would call abnormal on a busy host.</summary>
public sealed record RuleOptions
{
    /// <summary>An ESTABLISHED socket silent this long, with no keepalive, is a half-open suspect.</summary>
    public TimeSpan Idle { get; init; } = TimeSpan.FromMinutes(10);
}

/// <summary>What a rule sees: the evidence, shared derived views and a way to say evidence was missing.</summary>
public sealed class RuleContext(Evidence evidence, RuleOptions options, Lazy<SocketRoles>? roles = null)
{
    // One pass over the table (100k sockets on a busy host) for every rule of a run, not one per rule that asks.
    private readonly Lazy<SocketRoles> _roles = roles ?? new(() => new SocketRoles(evidence), LazyThreadSafetyMode.None);
    public Evidence Evidence { get; } = evidence;
    public RuleOptions Options { get; } = options;
    public SocketRoles Roles => _roles.Value;
    public string? InsufficientEvidence { get; private set; }

    /// <summary>The rule could not judge (a source it needs failed or lacks a field); said in the report.</summary>
    public void NotEnoughEvidence(string reason) => InsufficientEvidence = reason;

    public FindingSubject SubjectFor(int netns, int? pid)
    {
        var ns = Evidence.Namespaces[netns];
        ProcessRecord? p = pid is int id && Evidence.Processes.TryGetValue(id, out var pr) ? pr : null;
        string? container = p?.PodName != null ? $"pod {(p.PodNamespace != null ? p.PodNamespace + "/" : "")}{p.PodName}" + (p.ContainerName != null ? $" container {p.ContainerName}" : "")
            : p?.PodUid != null ? $"pod {p.PodUid}" : p?.ContainerId != null ? $"container {p.ContainerId[..12]}" : null;
        return new FindingSubject
        {
            Pid = pid,
            Process = p?.Name,
            Netns = Evidence.Namespaces.Count > 1 || ns.Label != "host" ? ns.Label : null,
            Container = container,
        };
    }
}
