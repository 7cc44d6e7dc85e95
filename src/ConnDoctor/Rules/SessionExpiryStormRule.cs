using ConnDoctor.Analysis;
using ConnDoctor.Model;

namespace ConnDoctor.Rules;

/// <summary>
/// Sessions expire when the server hears nothing from a client for the session timeout. Many at once means
/// something stopped many clients (or the server) at once; a steady stream means clients abandon sessions.
/// </summary>
public sealed class SessionExpiryStormRule : IRule
{
    public string Id => "session-expiry-storm";
    public string Description => "many ZooKeeper sessions expire in a short time, or steadily";

    private const long InfoTotal = 10, WarnPerMinute = 10, CriticalPerMinute = 100, SteadyTotal = 100;

    public bool Reads(Evidence e) => e.ZkLog != null;

    public bool ReadsWatch => false;

    public IEnumerable<Finding> Evaluate(RuleContext ctx)
    {
        if (ctx.Evidence.ZkLog is not { } log) yield break;
        long total = log.Timeline.Sum(m => m.SessionsExpired);
        if (total < InfoTotal) yield break;
        var peak = log.Timeline.MaxBy(m => m.SessionsExpired)!;
        int minutesWithExpiry = log.Timeline.Count(m => m.SessionsExpired > 0);
        bool burst = peak.SessionsExpired >= WarnPerMinute;
        var sev = peak.SessionsExpired >= CriticalPerMinute ? Severity.Critical
            : burst || total >= SteadyTotal ? Severity.Warning : Severity.Info;
        var byIp = log.Clients.Where(c => c.SessionsExpired > 0).ToDictionary(c => c.Ip.ToString(), c => (int)Math.Min(int.MaxValue, c.SessionsExpired));
        var evidence = new List<string>
        {
            $"{total} session(s) expired over {minutesWithExpiry} minute(s); the most in one minute: {peak.SessionsExpired} at {peak.Minute:yyyy-MM-dd HH:mm}",
            byIp.Count > 0 ? $"by client (joined through the session id): {Format.Top(byIp, 6, k => k)}" : "no expired session appears elsewhere in the log with a client address",
        };
        if (log.SessionsExpiredUnattributed > 0) evidence.Add($"{log.SessionsExpiredUnattributed} expiry(ies) could not be joined to a client (session setup not logged at this level)");
        yield return new Finding
        {
            RuleId = Id,
            Severity = sev,
            Subject = byIp.Count == 1 ? new FindingSubject { ClientIp = byIp.Keys.First() } : new FindingSubject { Process = "zookeeper server" },
            Summary = burst
                ? $"{peak.SessionsExpired} ZooKeeper sessions expired in one minute ({peak.Minute:yyyy-MM-dd HH:mm}), {total} in all"
                : $"{total} ZooKeeper sessions expired, spread over {minutesWithExpiry} minute(s)",
            Evidence = evidence,
            Cause = burst
                ? "Many clients stopped sending heartbeats at the same time: a network partition between them and the server, a pause of the " +
                  "clients' hosts (GC, swapping, a VM migration), or a pause of the server itself (a long GC or a slow disk on the transaction log) " +
                  "after which it expires everyone it did not hear from. Their ephemeral nodes and watches vanish with them."
                : "Sessions keep expiring instead of being closed: clients that open a session and are abandoned without close() (a session per " +
                  "task, a close() that fails silently), or clients that keep losing their connection.",
            Remedy = burst
                ? "Correlate the minute with the server's GC log and disk latency and with network events; check the session timeout against " +
                  "the clients' worst pauses. If one client IP dominates, look at that host first."
                : "On the client hosts listed, find the code that creates ZooKeeper clients per task and make it close them (or reuse one per process); " +
                  "'conndoctor zk --watch' shows sessions and ephemeral nodes growing per client.",
        };
    }
}
