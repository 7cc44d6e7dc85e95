using ConnDoctor.Analysis;
using ConnDoctor.Model;

namespace ConnDoctor.Rules;

/// <summary>
/// ZooKeeper allows maxClientCnxns concurrent connections per client IP on each server (default 60) and turns
/// away the next one. A client IP refused at that limit has, right then, the limit's worth of connections open.
/// </summary>
public sealed class ConnectionLimitRule : IRule
{
    public string Id => "connection-limit";
    public string Description => "a client IP is refused at, or holds nearly all of, ZooKeeper's per-IP maxClientCnxns limit";

    private const long CriticalRefusals = 100;
    private static readonly TimeSpan CriticalSpan = TimeSpan.FromMinutes(10);
    private const int ZkClientPort = 2181; // the log does not say which port refused; the default clientPort

    public bool Reads(Evidence e) => e.ZkLog != null || e.Zk != null;

    public IEnumerable<Finding> Evaluate(RuleContext ctx) => FromServerLog(ctx).Concat(FromZkPoll(ctx));

    /// <summary>From a ZooKeeper server log (conndoctor zklog): refusals the server wrote.</summary>
    private IEnumerable<Finding> FromServerLog(RuleContext ctx)
    {
        if (ctx.Evidence.ZkLog is not { } log) yield break;
        foreach (var c in log.Clients.Where(c => c.Refused > 0).OrderByDescending(c => c.Refused))
        {
            var span = (c.LastRefused ?? c.LastSeen) - (c.FirstRefused ?? c.FirstSeen);
            string max = c.RefusedLimit is int m ? m.ToString() : "?";
            var evidence = new List<string>
            {
                $"refused {c.Refused} time(s) with 'Too many connections from /{c.Ip} - max is {max}'",
                $"first refused {c.FirstRefused:yyyy-MM-dd HH:mm:ss}, last {c.LastRefused:yyyy-MM-dd HH:mm:ss} ({Format.Duration(span)})",
                $"meanwhile: {c.EndsOfStream} end(s) of stream, {c.SessionsEstablished} session(s) established, {c.SessionsExpired} expired from this IP",
            };
            if (!log.AcceptsLogged)
                evidence.Add("3.5+ logs refusals through a rate limiter ('[N times] Message: ...'), and refusals it was still holding when the log ends are never written: the count is a lower bound");
            yield return new Finding
            {
                RuleId = Id,
                Severity = c.Refused >= CriticalRefusals || span >= CriticalSpan ? Severity.Critical : Severity.Warning,
                Subject = new FindingSubject { ClientIp = c.Ip.ToString() },
                Summary = $"client {c.Ip} was refused {c.Refused} time(s) at maxClientCnxns={max}: every new client from that host fails",
                Evidence = evidence,
                Cause = $"The server already held {max} connections from {c.Ip}, the per-IP maxClientCnxns limit, so it closed every new one at once " +
                        "(the client sees 'Connection reset by peer' or an end of stream). What holds the connections: a client that opens " +
                        "connections and never closes them (a leak), many processes or containers behind one address (NAT, a Kubernetes node), " +
                        "or half-open connections of a client that vanished, which the server still counts until it notices.",
                Remedy = $"On the server, see what holds them: 'conndoctor sockets --remote {c.Ip} --port {ZkClientPort}' (idle, half-open?) or 'conndoctor zk' " +
                         "(sessions per connection). Fix the leak on the client host (one ZooKeeper client per process, close() that really closes). " +
                         $"Clear the connections that have no live client: on the ZooKeeper host, \"{KillCommand.ForClient(c.Ip, ZkClientPort, ctx.Options.Idle)}\" " +
                         $"lists those from {c.Ip} that received nothing for {KillCommand.IdleText(ctx.Options.Idle)} (a client with a live session pings " +
                         $"every third of its session timeout, so silence that long means nobody is behind them); add --yes as root to close them " +
                         $"({ZkClientPort} is ZooKeeper's default clientPort: use yours). Raising maxClientCnxns hides a leak, it does not fix it.",
            };
        }
    }

    // A client IP this close to the limit has no room for a restart wave or a second instance.
    private const double NearShare = 0.8;

    /// <summary>From a live poll of the servers (conndoctor zk): connections per client IP against the limit, and what holds them.</summary>
    private IEnumerable<Finding> FromZkPoll(RuleContext ctx)
    {
        if (ctx.Evidence.Zk is not { } zk) yield break;
        if (zk.Servers.All(s => s.Connections == null || s.MaxClientCnxns == null))
        {
            ctx.NotEnoughEvidence("no server gave both its connections (cons) and its maxClientCnxns (conf)");
            yield break;
        }
        var counters = zk.Servers.ToDictionary(s => s.Member, s => s.Counters);
        foreach (var c in zk.Clients)
        {
            if (c.Limit is not int limit || limit <= 0 || c.Connections < limit * NearShare) continue;
            bool atLimit = c.Connections >= limit;
            var evidence = new List<string>
            {
                $"{c.Connections} connection(s) from {c.Ip} on {c.Member}, maxClientCnxns={limit}: " +
                (atLimit ? "no room left, the next one is refused" : $"room for {limit - c.Connections} more"),
                $"{c.WithSession} with a session ({c.Active} active, {c.Idle} idle: not answered for 2/3 of their session timeout), " +
                $"{c.WithoutSession} without a session ({c.NeverSpoke} never sent a byte)",
            };
            // Unknown (the member refused 'dump' or 'wchc') is left out, never shown as 0.
            var held = new List<string>(2);
            if (c.Ephemerals is int eph) held.Add($"{eph} ephemeral node(s) owned");
            if (c.Watches is int wch) held.Add($"{wch} watch(es) set through these connections");
            if (held.Count > 0) evidence.Add(string.Join(", ", held));
            if (c.OldestSessionAgeMs is long age)
                evidence.Add($"oldest session connection established {Format.Ms(age)} ago");
            if (counters.TryGetValue(c.Member, out var k) && k.TryGetValue("connection_rejected", out var rejected) && rejected > 0)
                evidence.Add($"{c.Member} has refused {rejected} connection(s) since it started (mntr connection_rejected, all client IPs)");
            var delta = zk.CounterDeltas.FirstOrDefault(d => d.Member == c.Member && d.Name == "connection_rejected");
            if (delta != null && delta.End > delta.Start)
                evidence.Add($"{c.Member} refused {delta.End - delta.Start} connection(s) during the watch (mntr connection_rejected: all client IPs, it does not say which)");
            var elsewhere = zk.Clients.Where(o => o.Ip == c.Ip && o.Member != c.Member).ToList();
            if (elsewhere.Count > 0) evidence.Add("on the other servers: " + string.Join(", ", elsewhere.Select(o => $"{o.Member} {o.Connections}")));

            int silent = c.Idle + c.NeverSpoke;
            string holds = c.WithoutSession * 2 > c.Connections
                ? "Most of them never started a session: something connects without speaking the ZooKeeper protocol (a TCP health check, " +
                  "a port scanner) or a client whose handshake fails and which keeps the socket open."
                : silent * 2 > c.Connections
                    ? "Most of them have been silent for most of a session timeout: their client is gone (crashed, cut off, a NAT that forgot the " +
                      "flow) and the server still counts the connections until it notices, or they belong to sessions nobody uses."
                    : "They are live sessions: one process opening a client per task instead of one per process, or many processes and " +
                      "containers sharing one address (NAT, a Kubernetes node).";
            yield return new Finding
            {
                RuleId = Id,
                Severity = atLimit ? Severity.Critical : Severity.Warning,
                Subject = new FindingSubject { ClientIp = c.Ip.ToString(), LocalEndpoint = c.Member },
                Summary = atLimit
                    ? $"client {c.Ip} holds {c.Connections} of {limit} connections allowed per IP on {c.Member}: every new client from that host is refused"
                    : $"client {c.Ip} holds {c.Connections} of {limit} connections allowed per IP on {c.Member}",
                Evidence = evidence,
                Cause = $"ZooKeeper allows maxClientCnxns={limit} connections per client IP on each server. " + holds,
                Remedy = $"On {c.Ip}, find who holds them: 'conndoctor sockets --remote {c.Member}' (or --remote :{ZkViews.ClientPort(c.Member)} when it goes through another address). Fix a leak there (one ZooKeeper " +
                         "client per process, close() that really closes); restart a process whose client threads outlived their application. " +
                         $"Silent connections of a vanished client: on {c.Member}'s host, \"{KillCommand.ForZkClient(c.Ip, c.Member, ctx.Options.Idle)}\" lists those " +
                         $"that received nothing for {KillCommand.IdleText(ctx.Options.Idle)}; add --yes as root to destroy them. 'conndoctor zk {c.Member} --watch 5m' " +
                         "shows whether they keep growing. Raising maxClientCnxns buys time but hides a leak.",
            };
        }
    }
}
