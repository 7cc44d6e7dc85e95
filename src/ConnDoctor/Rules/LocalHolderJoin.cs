using ConnDoctor.Analysis;
using ConnDoctor.Model;

namespace ConnDoctor.Rules;

/// <summary>
/// A client IP at ZooKeeper's per-IP limit that is an address of this host: the processes here holding the connections
/// the limit counts (ESTABLISHED from that address to a ZooKeeper port) are named in the finding, and one holder alone
/// becomes its subject, so its own log is read. Only for the limit: what a reconnect loop leaves behind is TIME_WAIT,
/// which no process holds, and a healthy client on the same address must not be blamed for it.
/// </summary>
public static class LocalHolderJoin
{
    public static List<Finding> Attach(IReadOnlyList<Finding> findings, Evidence e, IReadOnlySet<int> zkPorts)
    {
        if (e.Sockets.Count == 0) return findings.ToList();
        SocketRoles? roles = null; // a pass over the table, only when a finding needs it
        return findings.Select(f =>
        {
            if (f.RuleId != "connection-limit" || f.Subject.Pid != null || f.Subject.ClientIp is not { } ip) return f;
            roles ??= new SocketRoles(e);
            var holders = Holders(e.Sockets.Where(s => s.State == TcpState.Established && zkPorts.Contains(s.Remote.Port) && s.Local.Address.Unmapped.ToString() == ip
                                               && !roles.IsServerSide(s)));
            if (holders.Count == 0) return f;
            var line = $"{ip} is this host: " + Describe(e, holders, "from it");
            var parts = f.Parts.Count > 0 ? f.Parts.ToList() : [new FindingPart(f.Source ?? "", f.Summary, f.Evidence)];
            parts.Add(new FindingPart("sockets", "who holds them here", [line]));
            var subject = holders.Count == 1 && e.Processes.TryGetValue(holders[0].Pid, out var only)
                ? f.Subject with { Pid = only.Pid, Process = only.Name } : f.Subject;
            return f with { Subject = subject, Parts = parts, Evidence = FindingMerger.Flatten(parts) };
        }).ToList();
    }

    /// <summary>The processes holding these sockets, most first (sockets without a known owner are left out).</summary>
    public static List<(int Pid, int Count)> Holders(IEnumerable<SocketRecord> sockets) =>
        sockets.Where(s => s.Owners.Length > 0).GroupBy(s => s.Owners[0].Pid).Select(g => (Pid: g.Key, Count: g.Count())).OrderByDescending(x => x.Count).ToList();

    /// <summary>"java[81] holds 4 connection(s) from it, python3[90] (pod shop/cart-1) holds 2 ...".</summary>
    public static string Describe(Evidence e, IEnumerable<(int Pid, int Count)> holders, string what) =>
        string.Join(", ", holders.Select(h => $"{Name(e, h.Pid)} holds {h.Count} connection(s) {what}"));

    /// <summary>The process's label, with its pod when it runs in one.</summary>
    public static string Name(Evidence e, int pid) =>
        e.Processes.TryGetValue(pid, out var p) ? p.Label + (p.PodName != null ? $" (pod {(p.PodNamespace != null ? p.PodNamespace + "/" : "")}{p.PodName})" : "") : $"pid {pid}";
}
