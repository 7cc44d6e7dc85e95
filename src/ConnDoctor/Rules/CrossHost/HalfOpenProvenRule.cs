using ConnDoctor.Analysis;
using ConnDoctor.Model;
using ConnDoctor.Pipeline;

namespace ConnDoctor.Rules.CrossHost;

/// <summary>
/// The 4-tuple join: a server-side ESTABLISHED socket whose client address belongs to another collected host, and that
/// host has no socket with the mirrored 4-tuple (nor, behind NAT, one for the translated end), is half-open: proven by
/// the client host's own table, not suspected from silence. A connection the server heard from after the client host's
/// table may have been read is too young to judge (the gap between two collections), and is left out; so is every
/// connection when the server's table was read before the client's collection began (the client may have closed it
/// normally in between).
/// </summary>
public sealed class HalfOpenProvenRule : ICrossHostRule
{
    public string Id => "half-open-proven";
    public string Description => "server connections whose client host (collected) has no socket for them: half-open, proven by both tables";

    /// <summary>Margin on top of the clock skew's spread: a connection heard from this close to the client's read is not judged.</summary>
    private static readonly TimeSpan Margin = TimeSpan.FromSeconds(1);
    /// <summary>Above this many connections in one group, no exact per-end kill command is built (it would be as long as the list).</summary>
    private const int MaxExactKill = 256;

    private static string NetnsOption(Evidence e, int netns) =>
        e.Namespaces[netns].Path is { } p ? " --netns " + (p.StartsWith("/run/netns/", StringComparison.Ordinal) ? Path.GetFileName(p) : p) : "";

    public IEnumerable<CrossHostResult> Evaluate(CrossHostContext ctx)
    {
        foreach (var server in ctx.Hosts)
        {
            var groups = new Dictionary<(int Client, int Netns, int? Pid, NetAddress Peer), List<(SocketRecord S, ClientEnd End)>>();
            var young = new Dictionary<int, int>();
            foreach (var s in server.Evidence.Sockets)
            {
                if (s.State != TcpState.Established || !server.Roles.IsServerSide(s)) continue;
                if (ctx.OwnerOf(s.Remote.Address) is not { } client || client.Index == server.Index) continue;
                if (client.Evidence.Sockets.Count == 0 && client.Evidence.Namespaces.Count == 0) continue;     // no table there
                if (server.TableReadBy < client.Identity.CollectionStart) continue;                             // read before the client's: say so once below
                if (s.Info is not TcpInfo info) continue;
                var end = ctx.ResolveClient(server, s.Local, s.Remote)!;
                if (end.Socket != null) continue;                                          // the client host has it: not half-open
                // Heard from too recently: it may have opened after the client's table was read.
                var skew = ctx.Skew(server.Index, client.Index);
                var lastHeard = server.TableReadBy - TimeSpan.FromMilliseconds(info.SilentMs) + (skew?.Offset ?? TimeSpan.Zero);
                if (lastHeard > client.Identity.CollectionStart - Margin - (skew?.Spread ?? TimeSpan.Zero))
                {
                    young[client.Index] = young.GetValueOrDefault(client.Index) + 1;
                    continue;
                }
                int? pid = s.OwnerPid;
                var key = (client.Index, s.NetnsIndex, pid, s.Remote.Address.Unmapped);
                if (!groups.TryGetValue(key, out var list)) groups[key] = list = new();
                list.Add((s, end));
            }
            foreach (var (key, list) in groups)
                yield return Result(ctx, server, ctx.Hosts[key.Client], key.Netns, key.Pid, key.Peer, list, young.GetValueOrDefault(key.Client));
        }
    }

    private CrossHostResult Result(CrossHostContext ctx, CrossHostHost server, CrossHostHost client, int netns, int? pid, NetAddress peer,
        List<(SocketRecord S, ClientEnd End)> list, int young)
    {
        var e = server.Evidence;
        string who = pid is int p ? server.ProcessName(p) : "an unknown process";
        string peerText = SocketGrouper.FormatHost(peer);
        uint minSilent = list.Min(x => x.S.Info!.Value.SilentMs), maxSilent = list.Max(x => x.S.Info!.Value.SilentMs);
        var serverLines = list.OrderByDescending(x => x.S.Info!.Value.SilentMs).Take(8)
            .Select(x => $"{SocketGrouper.FormatEndpoint(x.S.Local)} <- {SocketGrouper.FormatEndpoint(x.S.Remote)} ESTABLISHED, silent {Format.Ms(x.S.Info!.Value.SilentMs)}" +
                         (x.End.Via != null ? $"; {x.End.Via}" : "")).ToList();
        if (list.Count > 8) serverLines.Add($"... and {list.Count - 8} more");
        var clientLines = new List<string>
        {
            $"{client.Label} ({peerText}) has no socket with any of these {list.Count} 4-tuple(s) (its table read between {client.Identity.CollectionStart:HH:mm:ss} and {client.Identity.CollectionEnd:HH:mm:ss} UTC; " +
            $"{client.Evidence.Sockets.Count} socket(s) in {client.Identity.Namespaces.Count} namespace(s))",
            $"the server last heard from them {Format.Ms(minSilent)} to {Format.Ms(maxSilent)} before its table was read: before {client.Label}'s collection began, so none is younger than the gap",
        };
        if (ctx.Skew(server.Index, client.Index) is { } skew) clientLines.Add($"clock of {client.Label} against {server.Label}: {skew}");
        if (young > 0) clientLines.Add($"{young} other connection(s) from {client.Label} without a socket there were heard from during the collections and are not judged (too young)");
        var sockets = list.Select(x => x.S).ToList();
        var local = list.Select(x => x.S.Local).Distinct().ToList();
        // The exact command names each end when no broader filter selects exactly these: worth it (and cheap) for a few hundred at most.
        string? kill = sockets.Count <= MaxExactKill ? KillCommand.ForSockets(e, sockets) : null;
        string? broad = kill == null ? KillCommand.ForClient(peer, local[0].Port, TimeSpan.FromMilliseconds(minSilent) > TimeSpan.FromSeconds(1)
            ? KillCommand.FloorIdle(minSilent) : TimeSpan.FromSeconds(1)) + NetnsOption(e, netns) : null;
        // The same severity as the other proofs of half-open (a capture's stale reset): warning; ten or more hold that many slots: critical.
        var sev = list.Count >= 10 ? Severity.Critical : Severity.Warning;
        var parts = new List<FindingPart>
        {
            new("sockets", $"{who} on {server.Label} holds {list.Count} ESTABLISHED connection(s) from {peerText}", serverLines, server.Label),
            new("sockets", $"{client.Label} has none of them", clientLines, client.Label),
        };
        var finding = new Finding
        {
            RuleId = Id,
            Severity = sev,
            Subject = new FindingSubject
            {
                Pid = pid, Process = pid is int q && e.Processes.TryGetValue(q, out var pr) ? pr.Name : null,
                LocalEndpoint = local.Count == 1 ? SocketGrouper.FormatEndpoint(local[0]) : null,
                RemoteEndpoint = peerText, Netns = e.Namespaces.Count > 1 ? e.Namespaces[netns].Label : null, Host = server.Label,
            },
            Summary = $"{who} on {server.Label} holds {list.Count} connection(s) from {client.Label} ({peerText}) that {client.Label} no longer has: half-open, proven",
            Evidence = CrossHostFacts.Flatten(parts),
            Parts = parts,
            Cause = $"{client.Label}'s socket table has no socket for these connections while {server.Label} still has them ESTABLISHED: the client side " +
                    "went away without its FIN or RST reaching the server (the process was killed or the host rebooted while the network was cut, or a NAT " +
                    "or firewall between them dropped the flow). Nothing will ever arrive on them, and without keepalive the server keeps them, and their " +
                    "slots (for ZooKeeper, places in maxClientCnxns for that client IP), until it next writes to them.",
            Remedy = (kill != null
                         ? $"On {server.Label}, clear exactly these with \"{kill}\": it lists them (a dry run); add --yes as root to destroy them. "
                         : broad != null
                             ? $"On {server.Label}, \"{broad}\" selects the connections from {peerText} silent at least as long as these: check that its dry run lists only these {list.Count} before adding --yes. "
                             : $"On {server.Label}, clear them with \"conndoctor kill --local LOCAL --remote PEER\" for each end listed (a dry run; add --yes as root). ") +
                     "Prevent it: TCP keepalive on the server's sockets with net.ipv4.tcp_keepalive_time far below the 7200 s default, or an application heartbeat.",
        };
        var chain = new CrossHostChain
        {
            RuleId = Id, Severity = sev,
            Server = $"{server.Label} {(local.Count == 1 ? SocketGrouper.FormatEndpoint(local[0]) : SocketGrouper.FormatHost(local[0].Address))}",
            Seen = $"{list.Count} ESTABLISHED connection(s) from {peerText}, silent {Format.Ms(minSilent)}+",
            ClientHost = $"{client.Label} ({peerText})",
            Via = list.Select(x => x.End.Via).FirstOrDefault(v => v != null),
            Process = "none: no socket there (half-open)",
            Cause = $"the client side went away without its FIN or RST reaching {server.Label}" + (kill != null ? $"; clear with \"{kill}\"" : ""),
        };
        // The same connections suspected from their silence on the server are now proven: one finding.
        var suspected = server.Report.Findings.Where(f => f.RuleId == "half-open-suspect" && f.Subject.Pid == pid && f.Subject.RemoteEndpoint == peerText)
            .Select(f => new HostFinding(server.Index, f)).ToList();
        return new CrossHostResult(finding, chain, suspected);
    }
}
