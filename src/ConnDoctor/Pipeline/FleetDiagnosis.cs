using ConnDoctor.Model;
using ConnDoctor.Rules;
using ConnDoctor.Rules.CrossHost;

namespace ConnDoctor.Pipeline;

/// <summary>One host of a cross-host diagnosis: its evidence (from a document) and its own report.</summary>
public sealed record HostReport(Evidence Evidence, DiagnoseReport Report)
{
    public HostIdentity? Identity => Evidence.Identity;
    /// <summary>How the fleet report names this host (its hostname, or hostname@address when documents share a hostname); null: its evidence's host name.</summary>
    public string? Label { get; init; }
    public string Name => Label ?? Evidence.Host;
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
/// (<see cref="HostDiagnosis.Diagnose"/>), then what a host is (documents told apart by the addresses of the namespaces
/// each collected, never by hostname or boot id: containers and the tests put several "hosts" on one kernel), then the
/// cross-host rules (<see cref="CrossHostRules"/>) over all of them. A cross-host finding supersedes the per-host
/// findings it explains (the server's storm from an address and the client host's storm of a process are one
/// finding, on the client's process), and the story lists one chain per cross-host finding, worst first.
/// </summary>
public static class FleetDiagnosis
{
    public static FleetReport Run(IReadOnlyList<Evidence> hosts, RuleOptions rules, IReadOnlyCollection<string> onlyRules)
    {
        var notes = new List<string>();
        var crossIds = CrossHostRules.All.Select(r => r.Id).ToHashSet();
        // Cross-host rules read per-host findings: asked for alone, they still get every per-host rule under them.
        var perHostOnly = onlyRules.Where(r => !crossIds.Contains(r)).ToList();
        // Each host as `diagnose` diagnosed it live (the document's polled ZooKeeper ports, the blamed processes' logs),
        // hosts in parallel. The cross-host rules read every log the document carries (a churner is only a culprit
        // once joined), so each host's evidence keeps them all.
        var diagnosed = new HostReport[hosts.Count];
        Parallel.For(0, hosts.Count, i =>
        {
            var (ev, report) = HostCollection.DiagnoseDocument(hosts[i], rules, perHostOnly);
            diagnosed[i] = new HostReport(ev with { AppLogs = hosts[i].AppLogs ?? ev.AppLogs }, report);
        });
        var reports = diagnosed.ToList();

        // What a host is: its non-loopback, non-link-local addresses. Two documents of one host (one's addresses within
        // the other's): the newer collection is kept, the older dropped, with a note.
        var kept = new List<HostReport>();
        foreach (var r in reports.OrderByDescending(r => r.Identity?.CollectionEnd ?? r.Evidence.CollectedAt))
        {
            if (r.Identity == null)
            {
                notes.Add($"the document of {r.Evidence.Host} has no host identity (addresses, collection times): diagnosed on its own, in no cross-host join");
                kept.Add(r);
                continue;
            }
            var mine = IdentityAddresses(r.Identity);
            var same = kept.FirstOrDefault(k => k.Identity != null && SameHost(mine, IdentityAddresses(k.Identity)));
            if (same != null)
            {
                notes.Add($"two documents are of the same host ({Describe(r.Identity)} and {Describe(same.Identity!)}: the same addresses): " +
                          $"the newer one (collected {same.Identity!.CollectionEnd:yyyy-MM-dd HH:mm:ss} UTC) is kept, the one collected {r.Identity.CollectionEnd:yyyy-MM-dd HH:mm:ss} UTC is left out");
                continue;
            }
            kept.Add(r);
        }
        // Back in the order given.
        var keep = kept.ToHashSet(ReferenceEqualityComparer.Instance);
        kept = reports.Where(keep.Contains).ToList();
        var joinable = kept.Where(r => r.Identity != null).ToList();
        var labels = Labels(joinable.Select(r => r.Identity!).ToList());
        var ctxHosts = joinable.Select((r, i) => new CrossHostHost
        {
            Index = i, Label = labels[i], Evidence = r.Evidence, Report = r.Report, Identity = r.Identity!,
            ZkPorts = HostDiagnosis.ZkPorts(r.Evidence, []),
        }).ToList();
        var ctx = new CrossHostContext(ctxHosts, rules);
        foreach (var a in ctx.Ambiguous.OrderBy(a => a.ToString(), StringComparer.Ordinal))
            notes.Add($"{a} is an address of several documents' hosts (a bridge every host has, such as docker0): connections from it are not joined");

        var results = new List<CrossHostResult>();
        foreach (var rule in CrossHostRules.All)
        {
            if (onlyRules.Count > 0 && !onlyRules.Contains(rule.Id) && onlyRules.Any(crossIds.Contains)) continue;
            try { results.AddRange(rule.Evaluate(ctx)); }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                notes.Add($"cross-host rule {rule.Id} failed: {ex.GetType().Name}: {ex.Message}");
            }
        }

        // Supersede: the per-host findings a cross-host finding explains leave their host's report.
        var gone = results.SelectMany(r => r.Supersedes).GroupBy(h => h.Host).ToDictionary(g => g.Key, g => g.Select(h => h.Finding).ToHashSet(ReferenceEqualityComparer.Instance));
        var finalHosts = kept.Select(r =>
        {
            int i = joinable.FindIndex(j => ReferenceEquals(j, r));
            if (i < 0) return r;
            r = r with { Label = labels[i] };
            if (gone.TryGetValue(i, out var drop))
            {
                var left = r.Report.Findings.Where(f => !drop.Contains(f)).ToList();
                r = r with
                {
                    Report = r.Report with
                    {
                        Findings = left,
                        Overview = r.Report.Overview == null ? null : FindingMerger.Overview(r.Evidence.Host, left, r.Evidence.Discovery),
                        Notes = [.. r.Report.Notes, $"{drop.Count} finding(s) of this host are explained across hosts: see the cross-host findings"],
                    },
                };
            }
            return r with { Report = WithClientWatchHints(r.Report, ctx) };
        }).ToList();

        // A document in no join, and the clocks of the hosts that saw one connection both.
        var pairs = Pairs(ctx);
        foreach (var h in ctxHosts.Where(h => !pairs.Any(p => p.Server == h.Index || p.Client == h.Index)))
            if (ctxHosts.Count > 1)
                notes.Add($"{h.Label} ({Describe(h.Identity)}) shares no connection with any other document's host: it is in no join");
        foreach (var (sv, cl) in pairs)
            if (ctx.Skew(sv, cl) is { } skew)
                notes.Add($"clock of {ctxHosts[cl].Label} against {ctxHosts[sv].Label}: {skew}" +
                          (skew.Offset.Duration() >= ClockSkew.Negligible ? "; times are aligned by it in the joins" : ""));

        var ordered = results.OrderByDescending(r => r.Finding.Severity).ToList();
        return new FleetReport
        {
            Hosts = finalHosts,
            CrossHostFindings = ordered.Select(r => r.Finding).ToList(),
            Story = ordered.Where(r => r.Chain != null).Select(r => r.Chain!).ToList(),
            Notes = notes,
        };
    }

    /// <summary>The addresses that tell a host apart: not loopback, not link-local (fe80::/10, 169.254/16: the same on many hosts).</summary>
    private static HashSet<NetAddress> IdentityAddresses(HostIdentity id)
    {
        var set = new HashSet<NetAddress>();
        foreach (var ns in id.Namespaces)
            foreach (var a in ns.Addresses)
            {
                var ip = a.Address.Unmapped;
                if (ip.IsLoopback || ip.IsAny || IsLinkLocal(ip)) continue;
                set.Add(ip);
            }
        return set;
    }

    private static bool IsLinkLocal(NetAddress a)
    {
        Span<byte> b = stackalloc byte[16];
        a.WriteBytes(b);
        return a.IsV6 ? b[0] == 0xFE && (b[1] & 0xC0) == 0x80 : b[0] == 169 && b[1] == 254;
    }

    /// <summary>One collection's addresses within the other's (one read more namespaces), and at least one.</summary>
    private static bool SameHost(HashSet<NetAddress> a, HashSet<NetAddress> b) =>
        a.Count > 0 && b.Count > 0 && (a.Count <= b.Count ? a.IsSubsetOf(b) : b.IsSubsetOf(a));

    private static string Describe(HostIdentity id) =>
        $"{id.Hostname} " + string.Join(",", IdentityAddresses(id).Select(a => a.ToString()).Order(StringComparer.Ordinal).Take(3));

    /// <summary>The hostname when no other document has it, else hostname@first address (tests put every "host" on one hostname).</summary>
    private static List<string> Labels(List<HostIdentity> ids)
    {
        var dup = ids.GroupBy(i => i.Hostname).Where(g => g.Count() > 1).Select(g => g.Key).ToHashSet();
        return ids.Select(i =>
        {
            if (!dup.Contains(i.Hostname)) return i.Hostname;
            var first = i.Namespaces.SelectMany(n => n.Addresses).Select(a => a.Address.Unmapped).FirstOrDefault(a => !a.IsLoopback && !IsLinkLocal(a));
            return first.IsAny ? i.Hostname : $"{i.Hostname}@{first}";
        }).ToList();
    }

    /// <summary>
    /// A finding about a client address that this host saw without a watch says "no watch ran" on the client's host
    /// (<see cref="FindingMerger.NoWatchHint"/>); when that host's own document is in the fleet with a watch, the line
    /// says so instead: its watch ran, and the cross-host join named no process for these connections.
    /// </summary>
    internal static DiagnoseReport WithClientWatchHints(DiagnoseReport report, CrossHostContext ctx)
    {
        if (!report.Findings.Any(f => f.Evidence.Contains(FindingMerger.NoWatchHint))) return report;
        var findings = report.Findings.Select(f =>
        {
            if (!f.Evidence.Contains(FindingMerger.NoWatchHint) || f.Subject.ClientIp is not { } ip || !NetAddress.TryParse(ip, out var a)
                || ctx.OwnerOf(a) is not { Evidence.Watch: { } w } client) return f;
            string line = $"{client.Label}'s own watch ran ({w.Seconds:0.#} s from {w.StartedAt:HH:mm:ss} UTC) and the cross-host join named no process " +
                          "behind these connections: they fell outside its window, or in a namespace it did not watch";
            return f with { Evidence = f.Evidence.Select(l => l == FindingMerger.NoWatchHint ? line : l).ToList() };
        }).ToList();
        return report with { Findings = findings };
    }

    /// <summary>(server, client) host pairs: a server-side connection of one from an address of the other. One pass over every table.</summary>
    private static List<(int Server, int Client)> Pairs(CrossHostContext ctx)
    {
        var pairs = new HashSet<(int, int)>();
        foreach (var h in ctx.Hosts)
        {
            foreach (var s in h.Evidence.Sockets)
                if (s.State != TcpState.Listen && ctx.OwnerOf(s.Remote.Address) is { } o && o.Index != h.Index)
                    pairs.Add(h.Roles.IsServerSide(s) ? (h.Index, o.Index) : (o.Index, h.Index));
            foreach (var c in h.Evidence.Watch?.Connections ?? [])
                if (ctx.OwnerOf(c.Remote.Address) is { } o && o.Index != h.Index)
                    pairs.Add(c.Passive ? (h.Index, o.Index) : (o.Index, h.Index));
            foreach (var e in h.Evidence.Conntrack?.Entries ?? [])
                if (ctx.OwnerOf(e.Reply.Source.Address) is { } o && o.Index != h.Index) pairs.Add((o.Index, h.Index));
        }
        return pairs.OrderBy(p => p.Item1).ThenBy(p => p.Item2).ToList();
    }
}
