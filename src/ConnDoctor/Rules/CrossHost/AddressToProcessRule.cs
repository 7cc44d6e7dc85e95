using ConnDoctor.Analysis;
using ConnDoctor.Model;
using ConnDoctor.Pipeline;

namespace ConnDoctor.Rules.CrossHost;

/// <summary>
/// Address and port to process: a server's finding about a client IP (a reconnect storm in its log, its poll or its
/// capture) joined to the collected host that owns the IP and to the process there that owned the ports: the ports the
/// server named (its sockets, its watch, ZooKeeper's `cons`) looked up in that host's socket table and watch (a TIME_WAIT
/// with the watch's owner), and that host's watch's own connections to the server. The storm becomes "java[8123] on
/// host c1", with that process's own log as the cause; the server's finding and the client host's own finding about the
/// same process and server are one finding. Addresses behind NAT are <see cref="ThroughNatRule"/>'s; a per-IP limit is
/// <see cref="LimitHoldersRule"/>'s.
/// </summary>
public sealed class AddressToProcessRule : ICrossHostRule
{
    public string Id => "address-to-process";
    public string Description => "a server's finding about a client IP, traced to the process (and pod) on the collected host that owns it";

    /// <summary>The server-side findings about a client IP that this join explains.</summary>
    private static readonly HashSet<string> Explains = ["reconnect-storm", "session-leak", "session-expiry-storm", "refused-storm", "rst-storm", "unread-data-reset", "log-flood"];

    public IEnumerable<CrossHostResult> Evaluate(CrossHostContext ctx)
    {
        foreach (var server in ctx.Hosts)
            foreach (var f in server.Report.Findings)
            {
                if (!Explains.Contains(f.RuleId) || f.Subject.Pid != null || f.Subject.ClientIp is not { } ipText || !NetAddress.TryParse(ipText, out var ip)) continue;
                if (ctx.OwnerOf(ip) is not { } client || client.Index == server.Index || client.Masquerades) continue;
                if (Join(ctx, server, client, ip, f) is { } r) yield return r;
            }
    }

    /// <summary>Each process on the client host behind the server's view of one client IP, with what shows it.</summary>
    internal sealed class Tally
    {
        public int Pid;
        public string? Process, CommandLine, Pod;
        public int PortsMatched, Watched, Short, LogPorts;
        public readonly HashSet<string> FoundBy = new();
        /// <summary>"port P named in the server log at T was pid N's (socket table)", one per port of the log's sample it owned.</summary>
        public readonly List<string> LogLines = new();
    }

    /// <summary>
    /// The client ports the server's own log named for <paramref name="ip"/> (its sample of the latest connection ends),
    /// each looked up on the client host by its local end towards the server host: its socket table (an owned socket),
    /// else its watch's connection from that end (a TIME_WAIT socket named with the watch's owner). The log names no
    /// server port: any connection from that end to an address of the server host counts.
    /// </summary>
    internal static void LogPorts(CrossHostContext ctx, CrossHostHost server, CrossHostHost client, NetAddress ip, Func<int, string?, string?, string?, Tally> tally)
    {
        if (server.Evidence.ZkLog is not { } log) return;
        var stats = log.Clients.FirstOrDefault(c => c.Ip.Unmapped.Equals(ip.Unmapped));
        if (stats == null || stats.Ports.Count == 0) return;
        bool ToServer(NetEndpoint remote) => ctx.OwnerOf(remote.Address)?.Index == server.Index;
        foreach (var sample in stats.Ports.Reverse())
        {
            var local = new NetEndpoint(ip.Unmapped, (ushort)sample.Port);
            string at = sample.Time.ToString("yyyy-MM-dd HH:mm:ss.fff");
            var sock = client.SocketsFrom(local).FirstOrDefault(s => ToServer(s.Remote) && s.Owners.Length > 0);
            if (sock != null)
            {
                int pid = sock.Owners[0].Pid;
                client.Evidence.Processes.TryGetValue(pid, out var p);
                var t = tally(pid, p?.Name, p != null ? CommandLineText.Masked(p.CommandLine) : null, p != null ? CrossHostContext.PodOf(p) : null);
                t.LogPorts++;
                t.LogLines.Add($"port {sample.Port} named in the server log at {at} was pid {pid}'s (socket table)");
                continue;
            }
            var watched = client.WatchedFrom(local);
            for (int i = watched.Count - 1; i >= 0; i--)
            {
                var c = watched[i];
                if (c.Passive || c.Pid is not int pid || !ToServer(c.Remote)) continue;
                client.Evidence.Processes.TryGetValue(pid, out var wp);
                var t = tally(pid, c.Comm ?? wp?.Name, c.CommandLine ?? (wp != null ? CommandLineText.Masked(wp.CommandLine) : null), wp != null ? CrossHostContext.PodOf(wp) : c.Pod);
                bool timeWait = client.SocketsFrom(local).Any(s => ToServer(s.Remote) && s.State == TcpState.TimeWait);
                t.LogPorts++;
                t.LogLines.Add($"port {sample.Port} named in the server log at {at} was pid {pid}'s ({(timeWait ? "TIME_WAIT" : "watch")})");
                break;
            }
        }
    }

    internal static Dictionary<int, Tally> Processes(CrossHostContext ctx, CrossHostHost server, CrossHostHost client, NetAddress ip, out int portsNamed, out int portsUnowned)
    {
        var tallies = new Dictionary<int, Tally>();
        Tally T(int pid, string? name, string? cmd, string? pod)
        {
            if (!tallies.TryGetValue(pid, out var t)) tallies[pid] = t = new Tally { Pid = pid };
            t.Process ??= name; t.CommandLine ??= cmd; t.Pod ??= pod;
            return t;
        }
        LogPorts(ctx, server, client, ip, T);
        var seen = new HashSet<(NetEndpoint, NetEndpoint)>();
        portsNamed = portsUnowned = 0;
        foreach (var v in server.ViewsOf(ip))
        {
            if (!seen.Add((v.ServerLocal, v.Client))) continue;
            portsNamed++;
            var end = ctx.ResolveClient(server, v.ServerLocal, v.Client);
            if (end?.Pid is not int pid) { portsUnowned++; continue; }
            var t = T(pid, end.Process, end.CommandLine, end.Pod);
            t.PortsMatched++;
            t.FoundBy.Add(end.FoundBy!);
        }
        // The client host's watch: every connection from this address to the server host, whoever's.
        if (client.Evidence.Watch is { } w)
            foreach (var c in w.Connections)
            {
                if (c.Passive || c.Pid is not int pid || !c.Local.Address.Unmapped.Equals(ip.Unmapped)) continue;
                if (ctx.OwnerOf(c.Remote.Address)?.Index != server.Index) continue;
                client.Evidence.Processes.TryGetValue(pid, out var p);
                var t = T(pid, c.Comm ?? p?.Name, c.CommandLine ?? (p != null ? CommandLineText.Masked(p.CommandLine) : null), p != null ? CrossHostContext.PodOf(p) : c.Pod);
                t.Watched++;
                if (c.LifetimeMs is double l && l < WatchRow.ShortMs) t.Short++;
                t.FoundBy.Add("watch");
            }
        return tallies;
    }

    private CrossHostResult? Join(CrossHostContext ctx, CrossHostHost server, CrossHostHost client, NetAddress ip, Finding f)
    {
        var tallies = Processes(ctx, server, client, ip, out int named, out int unowned);
        if (tallies.Count == 0) return null;
        // The client host's own finding about a process and this server (its watch saw the same storm) names the culprit first.
        var own = client.Report.Findings.Where(c => c.RuleId == f.RuleId && c.Subject.Pid is int p && tallies.ContainsKey(p)
                                                    && c.Subject.RemoteEndpoint != null && NetEndpoint.TryParse(c.Subject.RemoteEndpoint, out var re, out _)
                                                    && ctx.OwnerOf(re.Address)?.Index == server.Index).OrderByDescending(c => c.Severity).ToList();
        // The ports the server's own log named come first: the process that owned them is the one the log is about.
        var byLog = tallies.Values.Where(t => t.LogPorts > 0).OrderByDescending(t => t.LogPorts).ThenBy(t => t.Pid).FirstOrDefault();
        if (byLog != null) own = own.Where(o => o.Subject.Pid == byLog.Pid).ToList();
        var culprit = byLog ?? (own.Count > 0 ? tallies[own[0].Subject.Pid!.Value]
            : tallies.Values.OrderByDescending(t => t.Short).ThenByDescending(t => t.Watched).ThenByDescending(t => t.PortsMatched).First());
        // A storm is short connections: a process that made none of them is not its culprit.
        if (byLog == null && f.RuleId == "reconnect-storm" && own.Count == 0 && culprit.Short == 0 && culprit.Watched > 0) return null;
        string who = $"{culprit.Process ?? "pid"}[{culprit.Pid}]";
        var joinLines = new List<string>
        {
            $"{ip} is an address of {client.Label}" + (client.Identity.NamespaceOf(ip) is { } ns ? $" (netns {ns.Netns})" : ""),
        };
        foreach (var t in tallies.Values.OrderByDescending(t => t.Pid == culprit.Pid).ThenByDescending(t => t.LogPorts).ThenByDescending(t => t.Short + t.Watched + t.PortsMatched).Take(5))
        {
            var what = new List<string>();
            if (t.LogPorts > 0) what.Add($"{t.LogPorts} of the client port(s) {server.Label}'s log named");
            if (t.Watched > 0) what.Add($"{t.Watched} connection(s) to {server.Label} seen by {client.Label}'s watch ({t.Short} shorter than {WatchRow.ShortMs / 1000:0} s)");
            if (t.PortsMatched > 0) what.Add($"{t.PortsMatched} of the {named} client port(s) {server.Label} named ({string.Join(", ", t.FoundBy.Where(x => x != "watch" || t.Watched == 0))})");
            joinLines.Add($"{t.Process ?? "pid"}[{t.Pid}]{(t.Pod != null ? $" (pod {t.Pod})" : "")}: " + string.Join("; ", what));
            joinLines.AddRange(t.LogLines.Take(8));
        }
        if (unowned > 0) joinLines.Add($"{unowned} client port(s) {server.Label} named have no owner on {client.Label} (closed before its collection, or half-open)");
        if (ctx.Skew(server.Index, client.Index) is { } skew && skew.Offset.Duration() >= ClockSkew.Negligible)
            joinLines.Add($"clock of {client.Label} against {server.Label}: {skew}");

        var parts = CrossHostFacts.PartsOf(f, server.Label).ToList();
        parts.Add(new FindingPart("join", $"{ip} is {client.Label}; the process behind it: {who}", joinLines, client.Label));
        foreach (var o in own) parts.AddRange(CrossHostFacts.PartsOf(o, client.Label).Where(p => p.Source != "app-log"));
        var sev = own.Aggregate(f.Severity, (s, o) => CrossHostFacts.Max(s, o.Severity));
        client.Evidence.Processes.TryGetValue(culprit.Pid, out var proc);
        var subject = new FindingSubject
        {
            Pid = culprit.Pid, Process = culprit.Process, CommandLine = culprit.CommandLine, ClientIp = ip.ToString(),
            RemoteEndpoint = f.Subject.LocalEndpoint ?? own.Select(o => o.Subject.RemoteEndpoint).FirstOrDefault(),
            Container = culprit.Pod != null ? "pod " + culprit.Pod : null, Host = client.Label,
        };
        var finding = new Finding
        {
            RuleId = Id, Severity = sev, Subject = subject,
            Summary = $"{f.Summary} ({server.Label}): it is {who} on {client.Label}" + (culprit.CommandLine != null ? $" ({Format.Cut(culprit.CommandLine, 60)})" : ""),
            Cause = (own.Count > 0 ? own[0].Cause : f.Cause),
            Remedy = $"On {client.Label}: " + (own.Count > 0 ? own[0].Remedy : f.Remedy),
            Parts = parts,
        };
        // That process's own log, as the client host's collection read it (the same join as on one host).
        var withLog = AppLogJoin.Attach([finding], client.Evidence)[0];
        parts = withLog.Parts.Select(p => p.Host == null ? p with { Host = client.Label } : p).ToList();
        finding = withLog with { Parts = parts, Evidence = CrossHostFacts.Flatten(parts) };
        var chain = new CrossHostChain
        {
            RuleId = Id, Severity = sev,
            Server = $"{server.Label} {subject.RemoteEndpoint ?? ""}".TrimEnd(),
            Seen = f.Summary,
            ClientHost = $"{client.Label} ({ip})",
            Process = who + (culprit.CommandLine != null ? $" ({Format.Cut(culprit.CommandLine, 60)})" : ""),
            Pod = culprit.Pod,
            Cause = CrossHostFacts.OwnCause(client.Evidence, culprit.Pid),
        };
        var supersedes = new List<HostFinding> { new(server.Index, f) };
        supersedes.AddRange(own.Where(o => o.Subject.Pid == culprit.Pid).Select(o => new HostFinding(client.Index, o)));
        return new CrossHostResult(finding, chain, supersedes);
    }
}
