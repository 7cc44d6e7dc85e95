using ConnDoctor.Model;
using ConnDoctor.Pipeline;

namespace ConnDoctor.Rules.CrossHost;

/// <summary>
/// A correlation over several hosts' evidence (<see cref="CrossHostContext"/>): what no host can tell alone. Stateless;
/// registered once in <see cref="CrossHostRules.All"/>. A rule's results name the per-host findings they explain, which the
/// fleet report then drops (one finding per problem, across hosts as within one).
/// </summary>
public interface ICrossHostRule
{
    /// <summary>Stable kebab-case id, like a per-host rule's (--rule takes it too).</summary>
    string Id { get; }
    string Description { get; }
    IEnumerable<CrossHostResult> Evaluate(CrossHostContext context);
}

/// <summary>A per-host finding, by its host's index in <see cref="CrossHostContext.Hosts"/>.</summary>
public readonly record struct HostFinding(int Host, Finding Finding);

/// <summary>What a cross-host rule found: the finding, its line of the story (null: not a chain), and the per-host findings it supersedes.</summary>
public sealed record CrossHostResult(Finding Finding, CrossHostChain? Chain, IReadOnlyList<HostFinding> Supersedes);

/// <summary>Every cross-host rule, once.</summary>
public static class CrossHostRules
{
    public static readonly IReadOnlyList<ICrossHostRule> All =
    [
        new HalfOpenProvenRule(),
        new AddressToProcessRule(),
        new LimitHoldersRule(),
        new ThroughNatRule(),
    ];

    public static ICrossHostRule? Find(string id) => All.FirstOrDefault(r => r.Id == id);
}
