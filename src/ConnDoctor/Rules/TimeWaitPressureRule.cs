using ConnDoctor.Analysis;
using ConnDoctor.Model;

namespace ConnDoctor.Rules;

/// <summary>
/// TIME_WAIT is held by the side that closed first, for a fixed 60 s. Many towards one endpoint mean many
/// short connections: on a client they use up the ephemeral ports to that endpoint; on a server, thousands
/// with one client IP mean the server keeps closing that client's connections first.
/// </summary>
public sealed class TimeWaitPressureRule : IRule
{
    public string Id => "time-wait-pressure";
    public string Description => "many TIME_WAIT sockets towards one endpoint: short connections, who closes first, ephemeral ports used up";

    private const int TimeWaitSeconds = 60; // TCP_TIMEWAIT_LEN, fixed in the kernel
    private const double WarnShare = 0.10, CriticalShare = 0.50;
    private const int ClientWarnCount = 1000, ServerInfoCount = 200, ServerWarnCount = 1000, ServerCriticalCount = 5000, InfoCount = 200;

    public bool Reads(Evidence e) => e.Namespaces.Count > 0 || e.Watch != null; // a socket table was read (watch reads one at the end)

    public IEnumerable<Finding> Evaluate(RuleContext ctx)
    {
        var e = ctx.Evidence;
        var roles = ctx.Roles;
        // One pass over the table, each TIME_WAIT socket into its namespace's client- or server-side group (25k TIME_WAIT at
        // 1k closes/s, every interval in the agent): one copy of them, grouped in the order the table lists them.
        var byNs = new OrderedGroups<int, Side>(_ => new Side());
        foreach (var s in e.SocketSpan)
        {
            if (s.State != TcpState.TimeWait) continue;
            var side = byNs.For(s.NetnsIndex);
            side.Total++;
            // IPv4-mapped sockets (a Java client on a dual-stack socket) and plain IPv4 ones share the same ports: one group.
            if (roles.IsServerSide(s)) side.Server.For((s.Local.Port, s.Remote.Address.Unmapped)).Add(s);
            else side.Client.For((s.Local.Address.Unmapped, s.Remote.Unmapped)).Add(s);
        }
        foreach (var (ns, side) in byNs)
        {
            var sys = e.Namespaces[ns].Sysctls;
            foreach (var f in BucketOverflow(ctx, ns, side.Total, sys)) yield return f;

            foreach (var (key, sockets) in side.Client)
            {
                int count = sockets.Count;
                double share = (double)count / sys.EphemeralPorts;
                if (count < InfoCount && share < WarnShare) continue;
                var sev = share >= CriticalShare ? Severity.Critical : share >= WarnShare || count >= ClientWarnCount ? Severity.Warning : Severity.Info;
                yield return ClientFinding(ctx, ns, key.Local, key.Remote, sockets, share, sev, sys);
            }

            foreach (var (key, sockets) in side.Server)
            {
                int count = sockets.Count;
                if (count < ServerInfoCount) continue;
                var sev = count >= ServerCriticalCount ? Severity.Critical : count >= ServerWarnCount ? Severity.Warning : Severity.Info;
                yield return ServerFinding(ctx, ns, key.Port, key.Client, sockets, sev);
            }
        }
    }

    /// <summary>A namespace's TIME_WAIT sockets: how many, and grouped by side (client: local host and remote endpoint; server: port and client).</summary>
    private sealed class Side
    {
        public int Total;
        public readonly OrderedGroups<(NetAddress Local, NetEndpoint Remote), List<SocketRecord>> Client = new(_ => new());
        public readonly OrderedGroups<(ushort Port, NetAddress Client), List<SocketRecord>> Server = new(_ => new());
    }

    private Finding ClientFinding(RuleContext ctx, int ns, NetAddress local, NetEndpoint remote, List<SocketRecord> sockets,
        double share, Severity sev, Sysctls sys)
    {
        var e = ctx.Evidence;
        int count = sockets.Count;
        string remoteText = SocketGrouper.FormatEndpoint(remote);
        // TIME_WAIT sockets carry no owner: name the processes that hold live connections to the same endpoint.
        var suspects = e.Sockets
            .Where(s => s.NetnsIndex == ns && s.State != TcpState.TimeWait && s.Remote.Port == remote.Port
                        && s.Remote.Address.Unmapped == remote.Address.Unmapped && s.Owners.Length > 0)
            .GroupBy(s => s.Owners[0].Pid).ToDictionary(x => x.Key, x => x.Count());
        var (rate, rateLine) = Rate(sockets);
        // conndoctor watch saw who closed connections to this endpoint first: that process produced the TIME_WAIT.
        var nsLabel = e.Namespaces[ns].Label;
        var producers = (e.Watch?.Rows ?? []).Where(r => r.ProducesTimeWaitTo(remoteText, nsLabel)).OrderByDescending(r => r.ClosedByLocal).ToList();

        var evidence = new List<string>
        {
            $"{count} TIME_WAIT from {local} to {remoteText}" + (WellKnownPorts.NameOf(remote.Port) is { } n ? $" ({n})" : ""),
            $"ephemeral ports {sys.LocalPortLow ?? 32768}-{sys.LocalPortHigh ?? 60999}: {Format.Percent(share)} of the {sys.EphemeralPorts} ports to this endpoint are parked in TIME_WAIT",
            rateLine,
        };
        // Without a watch, live connections name suspects; after one, the watch named the producer and suspects add nothing.
        if (suspects.Count > 0)
            evidence.Add($"processes with live connections to {remoteText} now: {Format.Top(suspects, 5, pid => e.Processes.TryGetValue(pid, out var p) ? p.Label : $"pid {pid}")}");
        else if (producers.Count == 0)
            evidence.Add($"no process holds a live connection to {remoteText} right now (the culprit connects and closes quickly)");
        evidence.Add(SysctlLine(sys));
        if (producers.Count > 0)
            evidence.Insert(3, $"watch saw who closed them: " + string.Join(", ", producers.Take(3).Select(r =>
                $"{WatchFacts.Who(r)} closed {r.ClosedByLocal} connection(s) to {remoteText} first in {e.Watch!.Seconds:0.#} s ({r.ClosesPerSec:0.#}/s)")));
        string zkHint = remote.Port == 2181
            ? " For ZooKeeper (:2181) this is the classic reconnect loop: a client whose session setup keeps failing (in one incident a client thread left running after its web application was undeployed, failing with NoClassDefFoundError) connects, fails and reconnects every few milliseconds."
            : "";
        return new Finding
        {
            RuleId = Id,
            Severity = sev,
            Subject = producers.Count > 0
                ? ctx.SubjectFor(ns, producers[0].Pid) with { Process = producers[0].Process, LocalEndpoint = local.ToString(), RemoteEndpoint = remoteText }
                : ctx.SubjectFor(ns, suspects.Count == 1 ? suspects.Keys.First() : null) with { LocalEndpoint = local.ToString(), RemoteEndpoint = remoteText },
            Summary = (producers.Count > 0 ? $"{WatchFacts.Who(producers[0])} produces them: " : "") + $"{count} TIME_WAIT towards {remoteText}: this host opened and closed connections to it at about {rate:0.#}/s",
            Evidence = evidence,
            Cause = "This host closed these connections first, so it holds their TIME_WAIT for a fixed 60 s (a kernel constant). " +
                    "Each one parks a local port for that 4-tuple; when they fill the ephemeral range, connect() to that endpoint fails " +
                    "with EADDRNOTAVAIL. Their number measures how fast connections to that endpoint are opened and closed." + zkHint,
            Remedy = "Reuse connections instead of opening one per request (pooling, HTTP keep-alive, one ZooKeeper client per process) and " +
                     (producers.Count > 0
                         ? $"stop the loop in {string.Join(" and ", producers.Take(3).Select(WatchFacts.Who))}, which the watch saw closing them: its log says what it retries on. "
                         : $"find the loop that reconnects: 'conndoctor watch --remote {remoteText}' names the process even when its connections last " +
                           "milliseconds (the processes listed above are only suspects). ") +
                     "Kernel settings only treat the symptom: net.ipv4.tcp_tw_reuse=1 lets new outgoing connections reuse a " +
                     "TIME_WAIT port (it needs TCP timestamps and helps this client side only); widening net.ipv4.ip_local_port_range buys room. " +
                     "tcp_fin_timeout does not shorten TIME_WAIT (it governs FIN_WAIT_2), and tcp_tw_recycle was removed in Linux 4.12 " +
                     "after breaking clients behind NAT: ignore advice that names it.",
        };
    }

    private Finding ServerFinding(RuleContext ctx, int ns, ushort port, NetAddress client, List<SocketRecord> sockets, Severity sev)
    {
        var e = ctx.Evidence;
        int count = sockets.Count;
        var listener = e.Sockets.FirstOrDefault(s => s.NetnsIndex == ns && s.State == TcpState.Listen && s.Local.Port == port && s.Owners.Length > 0);
        int? pid = listener?.Owners[0].Pid;
        string svc = WellKnownPorts.Describe(port);
        int established = e.Sockets.Count(s => s.NetnsIndex == ns && s.State == TcpState.Established && s.Local.Port == port && s.Remote.Address.Unmapped == client);
        var evidence = new List<string>
        {
            $"{count} TIME_WAIT on local port {svc} with client {client}",
            $"the server side holds them: it closed these connections before the client did",
            Rate(sockets).Line,
            $"{established} connection(s) from {client} are ESTABLISHED on port {port} right now",
        };
        if (listener != null)
            evidence.Add($"port {port} is served by {(pid is int p && e.Processes.TryGetValue(p, out var pr) ? pr.Label : "an unknown process")}");
        string zk = port == 2181
            ? " ZooKeeper does this when it turns a client away at maxClientCnxns (the client host has too many connections open) or when the client's session setup fails; look for 'Too many connections from' and 'end of stream' lines for that IP in the server log."
            : "";
        return new Finding
        {
            RuleId = Id,
            Severity = sev,
            Subject = ctx.SubjectFor(ns, pid) with { LocalEndpoint = $"*:{port}", ClientIp = client.ToString() },
            Summary = $"{count} TIME_WAIT with client {client} on port {svc}: the server keeps closing that client's connections first",
            Evidence = evidence,
            Cause = "The side that closes a connection first holds its TIME_WAIT. Thousands on the server with one client IP mean that client " +
                    "connects over and over and the server ends each connection: a client in a reconnect loop, or a server rejecting it " +
                    "(a connection limit, a protocol error, an idle timeout)." + zk,
            Remedy = $"On {client}, find the process that connects to port {port} (conndoctor sockets --remote :{port} there, or conndoctor watch) and why it " +
                     "reconnects; check the server's log for why it closes those connections. Raising a connection limit hides a leak rather than " +
                     "fixing it. TIME_WAIT on a server costs little memory; tcp_fin_timeout does not shorten it and tcp_tw_reuse does not apply to " +
                     "accepted connections.",
        };
    }

    private IEnumerable<Finding> BucketOverflow(RuleContext ctx, int ns, int total, Sysctls sys)
    {
        if (sys.TcpMaxTwBuckets is not int max || max <= 0 || total < max * 0.9) yield break;
        yield return new Finding
        {
            RuleId = Id,
            Severity = Severity.Critical,
            Subject = ctx.SubjectFor(ns, null),
            Summary = $"{total} TIME_WAIT sockets, at the limit net.ipv4.tcp_max_tw_buckets={max}",
            Evidence = [$"{total} TIME_WAIT in this namespace", $"net.ipv4.tcp_max_tw_buckets = {max}"],
            Cause = "Past tcp_max_tw_buckets the kernel destroys new TIME_WAIT sockets at once (the log says 'time wait bucket table overflow'), " +
                    "which drops the protection TIME_WAIT gives against delayed segments of old connections.",
            Remedy = "Find what opens and closes connections this fast (the other time-wait-pressure findings name the endpoints) and make it reuse connections.",
        };
    }

    /// <summary>
    /// How fast the connections were closed: each TIME_WAIT timer tells when its socket entered the state, so
    /// count / (oldest - newest) is the rate over the window they span (at most 60 s, at least one second).
    /// </summary>
    private static (double Rate, string Line) Rate(List<SocketRecord> sockets)
    {
        uint maxLeft = sockets.Max(s => s.TimerExpiresMs), minLeft = sockets.Min(s => s.TimerExpiresMs);
        double newest = Math.Max(0, TimeWaitSeconds - maxLeft / 1000.0), oldest = Math.Max(0, TimeWaitSeconds - minLeft / 1000.0);
        double span = Math.Max(1.0, oldest - newest);
        double rate = sockets.Count / span;
        // Within a second the timers cannot give a rate worth quoting (a rate over a 0.3 s burst is not a per-second pace):
        // the count and the window say it. One table read cannot tell a burst that just ended from one still going on.
        string line = oldest - newest < 1.0
            ? $"they entered TIME_WAIT between {oldest:0.#} s and {newest:0.#} s ago: {sockets.Count} closes within {Math.Max(0.01, oldest - newest):0.##} s, a burst"
            : $"they entered TIME_WAIT between {oldest:0.#} s and {newest:0.#} s ago: about {rate:0.#} closes/s over that window";
        line += newest < 5 ? " (the last ones a moment ago: it may still be going on)" : " (none in the last 5 s: it may have stopped)";
        return (rate, line);
    }

    private static string SysctlLine(Sysctls s) =>
        $"sysctls: tcp_tw_reuse={s.TcpTwReuse?.ToString() ?? "?"} ({s.TcpTwReuse switch { 0 => "off", 1 => "on", 2 => "loopback only", _ => "unknown" }}), " +
        $"tcp_max_tw_buckets={s.TcpMaxTwBuckets?.ToString() ?? "?"}, tcp_fin_timeout={s.TcpFinTimeout?.ToString() ?? "?"} (FIN_WAIT_2 only)" +
        (s.TcpTwRecycleExists ? ", tcp_tw_recycle present (an old kernel: keep it 0)" : "");
}
