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
        var roles = new SocketRoles(e);
        return findings.Select(f =>
        {
            if (f.RuleId != "connection-limit" || f.Subject.Pid != null || f.Subject.ClientIp is not { } ip) return f;
            var holders = e.Sockets.Where(s => s.State == TcpState.Established && zkPorts.Contains(s.Remote.Port) && s.Local.Address.Unmapped.ToString() == ip
                                               && s.Owners.Length > 0 && !roles.IsServerSide(s))
                .GroupBy(s => s.Owners[0].Pid).Select(g => (Pid: g.Key, Count: g.Count())).OrderByDescending(x => x.Count).ToList();
            if (holders.Count == 0) return f;
            string Name(int pid) => e.Processes.TryGetValue(pid, out var p) ? p.Label : $"pid {pid}";
            var line = $"{ip} is this host: " + string.Join(", ", holders.Select(h => $"{Name(h.Pid)} holds {h.Count} connection(s) from it"));
            var parts = f.Parts.Count > 0 ? f.Parts.ToList() : [new FindingPart(f.Source ?? "", f.Summary, f.Evidence)];
            parts.Add(new FindingPart("sockets", "who holds them here", [line]));
            var subject = holders.Count == 1 && e.Processes.TryGetValue(holders[0].Pid, out var only)
                ? f.Subject with { Pid = only.Pid, Process = only.Name } : f.Subject;
            return f with { Subject = subject, Parts = parts, Evidence = FindingMerger.Flatten(parts) };
        }).ToList();
    }
}
