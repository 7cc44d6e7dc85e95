using ConnDoctor.Analysis;
using ConnDoctor.Model;

namespace ConnDoctor.Rules;

/// <summary>
/// A client that opens and closes many short connections to one server endpoint: a reconnect loop. Seen from
/// the server's log (per client IP), from a capture (per client -> server:port), later from live events.
/// Each evidence part has its own method; the finding's shape and remedy stay the same.
/// </summary>
public sealed class ReconnectStormRule : IRule
{
    public string Id => "reconnect-storm";
    public string Description => "a client opens and closes many short connections to one server endpoint (a reconnect loop)";

    public bool Reads(Evidence e) => e.ZkLog != null;

    public IEnumerable<Finding> Evaluate(RuleContext ctx) => FromServerLog(ctx).Concat(FromCapture(ctx));

    // A healthy ZooKeeper client connects once and keeps its session for hours; these are per client IP.
    private const long LogWarnPerMinute = 60, LogCriticalPerMinute = 600, LogInfoPerMinute = 20, LogMinConnections = 50;

    /// <summary>From a ZooKeeper server log (conndoctor zklog).</summary>
    private IEnumerable<Finding> FromServerLog(RuleContext ctx)
    {
        if (ctx.Evidence.ZkLog is not { } log) yield break;
        foreach (var c in log.Clients)
        {
            long conns = c.Connections(log.AcceptsLogged);
            if (conns < LogMinConnections || c.PeakPerMinute < LogInfoPerMinute) continue;
            double share = c.ShareWithoutSession;
            var sev = c.PeakPerMinute >= LogCriticalPerMinute ? Severity.Critical
                : c.PeakPerMinute >= LogWarnPerMinute ? Severity.Warning : Severity.Info;
            var span = c.LastSeen - c.FirstSeen;
            double avgPerMin = conns / Math.Max(1.0, span.TotalMinutes);
            // An average over a few minutes says nothing the busiest calendar minute does not say better.
            var evidence = new List<string>
            {
                $"{conns} connection(s) from {c.Ip} between {c.FirstSeen:yyyy-MM-dd HH:mm:ss} and {c.LastSeen:HH:mm:ss} ({Format.Duration(span)}), " +
                (span.TotalMinutes >= 5 ? $"{avgPerMin:0.#}/min on average, " : "") + $"{c.PeakPerMinute} in its busiest minute",
            };
            if (log.AcceptsLogged) evidence.Add($"{c.Accepted} accepted socket connection line(s)");
            evidence.Add($"{c.EndsOfStream} end(s) of stream: {c.EndOfStreamNoSession} with session 0x0 (no session), {c.EndOfStreamWithSession} with a session");
            if (c.ClosedNoSession + c.ClosedWithSession > 0)
                evidence.Add($"{c.ClosedNoSession} closed with no session established, {c.ClosedWithSession} closed with a session");
            if (c.SessionsEstablished > 0 || c.SessionAttempts > 0)
                evidence.Add($"{c.SessionAttempts} session attempt(s), {c.SessionsEstablished} session(s) established, {c.SessionsExpired} expired");
            if (c.Refused > 0) evidence.Add($"{c.Refused} refused at maxClientCnxns");
            if (!log.AcceptsLogged) evidence.Add("accept lines are not logged at this level (3.5+ at INFO): connections are counted from their ends");
            bool noSession = share >= 0.5;
            yield return new Finding
            {
                RuleId = Id,
                Severity = sev,
                Subject = new FindingSubject { ClientIp = c.Ip.ToString() },
                Summary = $"client {c.Ip} connects over and over: {conns} connection(s), up to {c.PeakPerMinute}/min, {Format.Percent(share)} never had a session",
                Evidence = evidence,
                Cause = noSession
                    ? "The client opens a TCP connection to ZooKeeper and closes it before a session exists. A ZooKeeper client in a reconnect " +
                      "loop does this: its session setup fails on the client side and it retries every few milliseconds (in one incident a client " +
                      "thread left running after its web application was undeployed failed with NoClassDefFoundError on SetWatches and reconnected " +
                      "forever). A TCP health check (a load balancer or a Kubernetes tcpSocket probe) looks the same: harmless, but it floods the log."
                    : "The client establishes sessions and loses or closes them again and again: one ZooKeeper client per task or request instead " +
                      "of one per process, or a client that cannot keep its session (timeouts, GC pauses) and reconnects.",
                Remedy = $"On {c.Ip}, name the process: 'conndoctor watch --remote SERVER:2181' (live, even for connections that last milliseconds) " +
                         "or 'conndoctor sockets --remote :2181' (TIME_WAIT piling up towards the server is the sign). Then read that process's " +
                         "ZooKeeper client log for the exception it retries on, and fix or restart it. A health check should use 'ruok' or " +
                         "the AdminServer instead of a bare TCP connect. Reuse one client per process.",
            };
        }
    }

    /// <summary>From a packet capture (conndoctor pcap).</summary>
    private IEnumerable<Finding> FromCapture(RuleContext ctx)
    {
        yield break;
    }
}
