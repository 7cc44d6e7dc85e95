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
    public string Description => "a client IP is refused at ZooKeeper's per-IP maxClientCnxns limit";

    private const long CriticalRefusals = 100;
    private static readonly TimeSpan CriticalSpan = TimeSpan.FromMinutes(10);
    private const int ZkClientPort = 2181; // the log does not say which port refused; the default clientPort

    public bool Reads(Evidence e) => e.ZkLog != null;

    public IEnumerable<Finding> Evaluate(RuleContext ctx)
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
}
