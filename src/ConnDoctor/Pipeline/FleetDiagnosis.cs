using ConnDoctor.Model;
using ConnDoctor.Rules;

namespace ConnDoctor.Pipeline;

/// <summary>One host of a cross-host diagnosis: its evidence (from a document) and its own report.</summary>
public sealed record HostReport(Evidence Evidence, DiagnoseReport Report)
{
    public HostIdentity? Identity => Evidence.Identity;
}

/// <summary>
/// One line of the cross-host story, as a chain: the server that saw it, the client host that owns the address, the
/// NAT it went through, the process (and pod) that owned the port, and that process's own reason.
/// </summary>
public sealed record CrossHostChain
{
    public required string RuleId { get; init; }
    public required Severity Severity { get; init; }
    /// <summary>The server's end and host: "zk1 10.0.0.1:2181".</summary>
    public required string Server { get; init; }
    /// <summary>What the server saw: "1,204 connections from 10.0.1.2 in 5 min, 98% without a session".</summary>
    public required string Seen { get; init; }
    /// <summary>The client host that owns the address: "c1 (10.0.1.2)"; null when no document has it.</summary>
    public string? ClientHost { get; init; }
    /// <summary>The translation on the way: "NAT on node n1: 10.0.3.1:40112 was pod 10.244.1.5:40112"; null without NAT.</summary>
    public string? Via { get; init; }
    /// <summary>The process that owned the port: "java[8123] (WatchingApp ...)"; null when not found.</summary>
    public string? Process { get; init; }
    /// <summary>"namespace/pod-name container"; null outside Kubernetes.</summary>
    public string? Pod { get; init; }
    /// <summary>The process's own reason, from its log: "NoClassDefFoundError: org/apache/zookeeper/proto/SetWatches"; null when unknown.</summary>
    public string? Cause { get; init; }
}

/// <summary>What `diagnose --from` found: each host's report, then what only the hosts together show.</summary>
public sealed record FleetReport
{
    public required IReadOnlyList<HostReport> Hosts { get; init; }
    /// <summary>Findings that join hosts (half-open proven, address:port to process, who fills a limit, through NAT).</summary>
    public IReadOnlyList<Finding> CrossHostFindings { get; init; } = [];
    /// <summary>The cross-host story first in the report: server -> client host -> process -> cause, one chain each, worst first.</summary>
    public IReadOnlyList<CrossHostChain> Story { get; init; } = [];
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
