using ConnDoctor.Model;
using ConnDoctor.Rules;

namespace ConnDoctor.Pipeline;

/// <summary>One host of a cross-host diagnosis: its evidence (from a document) and its own report.</summary>
public sealed record HostReport(Evidence Evidence, DiagnoseReport Report)
{
    public HostIdentity? Identity => Evidence.Identity;
}

/// <summary>What `diagnose --from` found: each host's report, then what only the hosts together show.</summary>
public sealed record FleetReport
{
    public required IReadOnlyList<HostReport> Hosts { get; init; }
    /// <summary>Findings that join hosts (half-open proven, address:port to process, who fills a limit, through NAT).</summary>
    public IReadOnlyList<Finding> CrossHostFindings { get; init; } = [];
    /// <summary>The cross-host story first in the report: server -> client host -> process -> cause, one line each.</summary>
    public IReadOnlyList<string> Story { get; init; } = [];
    /// <summary>About the documents themselves: the same host twice, a host in no join, an older schema.</summary>
    public IReadOnlyList<string> Notes { get; init; } = [];
}

/// <summary>
/// `diagnose --from`: every host's evidence through the same per-host diagnosis as on the live host
/// (<see cref="HostDiagnosis.Diagnose"/>), then the cross-host rules over all of them.
/// </summary>
public static class FleetDiagnosis
{
    public static FleetReport Run(IReadOnlyList<Evidence> hosts, RuleOptions rules, IReadOnlyCollection<string> onlyRules)
    {
        var reports = hosts.Select(e => HostDiagnosis.Diagnose(e, rules, onlyRules, [])).Select(r => new HostReport(r.Evidence, r.Report)).ToList();
        return new FleetReport { Hosts = reports };
    }
}
