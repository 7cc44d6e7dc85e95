using ConnDoctor.Analysis;
using ConnDoctor.Model;
using ConnDoctor.Pipeline;

namespace ConnDoctor.Rules.CrossHost;

/// <summary>
/// Who fills a per-IP limit: a client IP at ZooKeeper's maxClientCnxns on a server, when that IP is a collected host,
/// broken down by the processes (and pods, through the host's NAT) there that hold the server's connections, plus the
/// server-side connections no process there holds: the client host has no socket for them (half-open), or its socket's
/// owner could not be read. The holders on one host are counted as <see cref="LocalHolderJoin"/> counts them.
/// </summary>
public sealed class LimitHoldersRule : ICrossHostRule
{
    public string Id => "limit-holders";
    public string Description => "a client IP at a server's per-IP connection limit, broken down by the processes and pods on its host that hold the connections";

    public IEnumerable<CrossHostResult> Evaluate(CrossHostContext ctx)
    {
        foreach (var server in ctx.Hosts)
            foreach (var f in server.Report.Findings)
            {
                if (f.RuleId != "connection-limit" || f.Subject.ClientIp is not { } ipText || !NetAddress.TryParse(ipText, out var ip)) continue;
                if (ctx.OwnerOf(ip) is not { } client || client.Index == server.Index) continue;
                if (Join(ctx, server, client, ip, f) is { } r) yield return r;
            }
    }

    private CrossHostResult? Join(CrossHostContext ctx, CrossHostHost server, CrossHostHost client, NetAddress ip, Finding f)
    {
        // The connections the limit counts: the server's ESTABLISHED ones from that address to a ZooKeeper port.
        var held = new List<(SocketRecord Server, ClientEnd End)>();
        foreach (var v in server.ViewsOf(ip))
        {
            if (v.Source != "sockets" || v.State != TcpState.Established || !server.ZkPorts.Contains(v.ServerLocal.Port)) continue;
            var s = server.Socket(v.ServerLocal, v.Client);
            if (s == null || ctx.ResolveClient(server, v.ServerLocal, v.Client) is not { } end) continue;
            held.Add((s, end));
        }
        if (held.Count == 0) return null;
        var lines = new List<string>();
        var byHost = held.Where(x => x.End.Socket is { Owners.Length: > 0 }).GroupBy(x => x.End.PodHost ?? x.End.Host).ToList();
        var holders = new List<(int Host, int Pid, int Count)>();
        foreach (var g in byHost)
        {
            var h = ctx.Hosts[g.Key];
            var list = LocalHolderJoin.Holders(g.Select(x => x.End.Socket!));
            holders.AddRange(list.Select(x => (g.Key, x.Pid, x.Count)));
            lines.Add($"on {h.Label}: " + LocalHolderJoin.Describe(h.Evidence, list, $"to {server.Label}"));
        }
        int halfOpen = held.Count(x => x.End.Socket == null), unowned = held.Count(x => x.End.Socket is { Owners.Length: 0 });
        if (halfOpen > 0) lines.Add($"{halfOpen} connection(s) {server.Label} holds from {ip} have no socket on {client.Label}: half-open (see half-open-proven)");
        if (unowned > 0) lines.Add($"{unowned} connection(s) exist on {client.Label} without a known owner (its processes could not all be read)");
        var via = held.Select(x => x.End.Via).Where(v => v != null).Distinct().ToList();
        if (via.Count > 0) lines.Add($"{via.Count} of them through NAT on {client.Label}, e.g. {via[0]}");
        lines.Insert(0, $"{server.Label} holds {held.Count} ESTABLISHED connection(s) from {ip} ({client.Label}) on its ZooKeeper port(s)");

        var parts = CrossHostFacts.PartsOf(f, server.Label).ToList();
        parts.Add(new FindingPart("join", $"who holds them on {client.Label}", lines, client.Label));
        var top = holders.OrderByDescending(h => h.Count).ToList();
        ProcessRecord? only = top.Count == 1 && ctx.Hosts[top[0].Host].Evidence.Processes.TryGetValue(top[0].Pid, out var p) ? p : null;
        string breakdown = string.Join(", ", top.Take(4).Select(h => $"{LocalHolderJoin.Name(ctx.Hosts[h.Host].Evidence, h.Pid)} x{h.Count}"))
                           + (halfOpen > 0 ? $", half-open x{halfOpen}" : "") + (unowned > 0 ? $", unknown x{unowned}" : "");
        var finding = new Finding
        {
            RuleId = Id, Severity = f.Severity,
            Subject = f.Subject with { Pid = only?.Pid, Process = only?.Name, Host = client.Label, LocalEndpoint = f.Subject.LocalEndpoint },
            Summary = $"{f.Summary} ({server.Label}); on {client.Label}: {breakdown}",
            Parts = parts,
            Evidence = CrossHostFacts.Flatten(parts),
            Cause = f.Cause,
            Remedy = (halfOpen > 0 ? $"Clear the {halfOpen} half-open connection(s) on {server.Label} (half-open-proven gives the exact command). " : "") +
                     (top.Count > 0 ? $"On {client.Label}, look at {LocalHolderJoin.Name(ctx.Hosts[top[0].Host].Evidence, top[0].Pid)} first: it holds the most. " : "") + f.Remedy,
        };
        var chain = new CrossHostChain
        {
            RuleId = Id, Severity = f.Severity,
            Server = $"{server.Label} {f.Subject.LocalEndpoint ?? ""}".TrimEnd(),
            Seen = f.Summary,
            ClientHost = $"{client.Label} ({ip})",
            Via = via.Count > 0 ? via[0] : null,
            Process = breakdown,
            Pod = top.Select(h => ctx.Hosts[h.Host].Evidence.Processes.GetValueOrDefault(h.Pid)).Where(x => x != null).Select(x => CrossHostContext.PodOf(x!)).FirstOrDefault(x => x != null),
        };
        return new CrossHostResult(finding, chain, [new HostFinding(server.Index, f)]);
    }
}
