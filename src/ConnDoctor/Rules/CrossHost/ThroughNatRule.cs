using ConnDoctor.Analysis;
using ConnDoctor.Model;
using ConnDoctor.Pipeline;

namespace ConnDoctor.Rules.CrossHost;

/// <summary>
/// Through NAT: a server's finding about a client IP that is a collected node translating its pods' sources
/// (MASQUERADE). The node's conntrack maps each translated node:port the server saw (a reply tuple's destination) back
/// to the pod's IP:port (the original source), kept for a closed connection's TIME_WAIT (120 s) and a reset one's 10 s;
/// the pod IP's namespace (on the node's document, or a document of its own) and the process that owned the port
/// there (its socket, the watch, else the one process of that namespace) name the culprit with its pod.
/// </summary>
public sealed class ThroughNatRule : ICrossHostRule
{
    public string Id => "through-nat";
    public string Description => "a server's finding about a node's address, traced through the node's conntrack to the pod and process behind it";

    private static readonly HashSet<string> Explains = ["reconnect-storm", "session-leak", "session-expiry-storm", "refused-storm", "rst-storm", "unread-data-reset", "log-flood"];  // a limit is LimitHoldersRule's, through NAT too

    public IEnumerable<CrossHostResult> Evaluate(CrossHostContext ctx)
    {
        foreach (var server in ctx.Hosts)
            foreach (var f in server.Report.Findings)
            {
                if (!Explains.Contains(f.RuleId) || f.Subject.ClientIp is not { } ipText || !NetAddress.TryParse(ipText, out var ip)) continue;
                if (ctx.OwnerOf(ip) is not { Masquerades: true } node || node.Index == server.Index) continue;
                if (Join(ctx, server, node, ip, f) is { } r) yield return r;
            }
    }

    private sealed record Behind(int Host, NetEndpoint Pod, int? Pid, string? Process, string? Pod8s, string State);

    private CrossHostResult? Join(CrossHostContext ctx, CrossHostHost server, CrossHostHost node, NetAddress ip, Finding f)
    {
        var behind = new List<Behind>();
        foreach (var e in node.Evidence.Conntrack!.Entries)
        {
            if (!e.SourceTranslated || !e.Reply.Destination.Address.Unmapped.Equals(ip.Unmapped)) continue;
            if (ctx.OwnerOf(e.Reply.Source.Address)?.Index != server.Index) continue;
            var end = ctx.ResolveClient(server, e.Reply.Source, e.Reply.Destination);
            if (end == null) continue;
            var owner = ctx.Hosts[end.PodHost ?? end.Host];
            int? owned = end.Pid;
            string? name = end.Process, pod = end.Pod;
            if (owned == null && OnlyProcessOf(owner, end.Local.Address) is { } only) { owned = only.Pid; name = only.Name; pod = CrossHostContext.PodOf(only); }
            behind.Add(new Behind(owner.Index, end.Local, owned, name, pod, e.TcpState ?? "?"));
        }
        if (behind.Count == 0) return null;
        var groups = behind.GroupBy(b => (b.Host, b.Pid, Ip: b.Pod.Address)).OrderByDescending(g => g.Count()).ToList();
        var lines = new List<string> { $"{ip} is {node.Label}, which translates its pods' sources: {behind.Count} conntrack entr(ies) towards {server.Label} from it" };
        foreach (var g in groups.Take(8))
        {
            var b = g.First();
            string who = b.Pid is int p ? $"{b.Process ?? "pid"}[{p}]" : "no process found";
            string states = string.Join(", ", g.GroupBy(x => x.State).OrderByDescending(s => s.Count()).Select(s => $"{s.Count()} {s.Key}"));
            lines.Add($"pod address {g.Key.Ip}" + (b.Pod8s != null ? $" (pod {b.Pod8s})" : "") + $" on {ctx.Hosts[g.Key.Host].Label}: {who}, {g.Count()} connection(s) ({states}), e.g. {b.Pod}");
        }
        if (groups.Count > 8) lines.Add($"... and {groups.Count - 8} more");
        bool collide = behind.GroupBy(b => b.Pod.Port).Any(g => g.Select(x => x.Pod.Address).Distinct().Count() > 1);
        int kept = node.Evidence.Conntrack.Entries.Count(e => e.SourceTranslated && e.Reply.Destination.Address.Unmapped.Equals(ip.Unmapped) && e.Reply.Destination.Port == e.Original.Source.Port);
        lines.Add($"{kept} of them kept the pod's own port (MASQUERADE does unless two pods collide or --random-fully is set)");
        if (collide) lines.Add("two pods used the same source port: the NAT rewrote one of them; the join follows conntrack, not the port number");
        var top = groups[0];
        var culprit = top.First();
        string culpritText = culprit.Pid is int cp ? $"{culprit.Process ?? "pid"}[{cp}]" : $"pod address {top.Key.Ip}";
        var podHost = ctx.Hosts[top.Key.Host];
        var parts = CrossHostFacts.PartsOf(f, server.Label).ToList();
        parts.Add(new FindingPart("conntrack", $"behind {node.Label}'s NAT: {culpritText}", lines, node.Label));
        var finding = new Finding
        {
            RuleId = Id, Severity = f.Severity,
            Subject = new FindingSubject
            {
                Pid = culprit.Pid, Process = culprit.Process, ClientIp = ip.ToString(), RemoteEndpoint = f.Subject.LocalEndpoint,
                Container = culprit.Pod8s != null ? "pod " + culprit.Pod8s : null, Host = podHost.Label,
            },
            Summary = $"{f.Summary} ({server.Label}): behind {node.Label}'s NAT it is {culpritText}" + (culprit.Pod8s != null ? $" in pod {culprit.Pod8s}" : "") +
                      $" ({top.Count()} of {behind.Count} connection(s))",
            Cause = f.Cause,
            Remedy = $"On {podHost.Label}" + (culprit.Pod8s != null ? $", pod {culprit.Pod8s}" : "") + ": " + f.Remedy,
            Parts = parts,
        };
        if (culprit.Pid is int pid)
        {
            var withLog = AppLogJoin.Attach([finding], podHost.Evidence)[0];
            parts = withLog.Parts.Select(p => p.Host == null ? p with { Host = podHost.Label } : p).ToList();
            finding = withLog with { Parts = parts };
        }
        finding = finding with { Evidence = CrossHostFacts.Flatten(finding.Parts) };
        var chain = new CrossHostChain
        {
            RuleId = Id, Severity = f.Severity,
            Server = $"{server.Label} {f.Subject.LocalEndpoint ?? ""}".TrimEnd(),
            Seen = f.Summary,
            ClientHost = $"{node.Label} ({ip})",
            Via = $"NAT on {node.Label}: {ip}:{culprit.Pod.Port} was {culprit.Pod}",
            Process = culpritText,
            Pod = culprit.Pod8s,
            Cause = culprit.Pid is int p2 ? CrossHostFacts.OwnCause(podHost.Evidence, p2) : null,
        };
        return new CrossHostResult(finding, chain, [new HostFinding(server.Index, f)]);
    }

    /// <summary>The one process of the namespace that holds this address, when exactly one runs there (a pod's main process).</summary>
    private static ProcessRecord? OnlyProcessOf(CrossHostHost h, NetAddress address)
    {
        if (h.Identity.NamespaceOf(address) is not { Inode: > 0 } ns) return null;
        ProcessRecord? only = null;
        foreach (var p in h.Evidence.Processes.Values)
        {
            if (p.NetnsInode != ns.Inode) continue;
            if (only != null) return null;
            only = p;
        }
        return only;
    }
}
