using ConnDoctor.Model;

namespace ConnDoctor.Rules;

/// <summary>What a run of failed connections looks like: nothing to report, a monitor's fixed rhythm, or a broken client's loop.</summary>
public enum LoopKind { None, HealthCheck, Loop }

/// <summary>
/// The thresholds the rules judge by, in one place (docs/severity.md explains each from what it costs). A pathology
/// gets the same severity whichever source saw it; where a source cannot see something (watch sees no payload),
/// the rule says so and uses the tier it can back.
/// </summary>
public static class SeverityPolicy
{
    // ---- reconnect-storm: the pattern (a loop of connections that never get a session or the server's data) ----
    /// <summary>Fewest failed connections in a row, and the least time they must span, for a loop at any pace.</summary>
    public const int LoopMinConnections = 10;
    public const double LoopMinSeconds = 10;
    /// <summary>A fixed period at least this long is a monitor's (Kubernetes periodSeconds >= 1, load balancers 1-300 s).</summary>
    public const double HealthCheckMinPeriodSeconds = 1;

    // ---- reconnect-storm: pace, per client -> endpoint, connections per second while they happen ----
    /// <summary>
    /// Short connections, whatever they carried: each costs a handshake and a TIME_WAIT (60 s) on the side that closes
    /// first. 10/s parks 600 ports per endpoint (2% of the default 28232), 100/s 6000 (21%), where connect() to that
    /// endpoint starts to fail soon after a burst.
    /// </summary>
    public const double ChurnInfoRate = 2, ChurnWarnRate = 10, ChurnCriticalRate = 100;
    public const int ChurnInfoCount = 50, ChurnWarnCount = 100, ChurnCriticalCount = 1000;
    /// <summary>
    /// Failed connections (known to have failed: the log says session 0x0, the capture shows no reply) at 10/s for a
    /// minute: a ZooKeeper server logs about 1.2 KB for each (end of stream and its stack trace), 1 GB a day.
    /// </summary>
    public const double FailedCriticalRate = 10;
    public const int FailedCriticalCount = 600;
    /// <summary>
    /// ZooKeeper sessions established and ended by one client IP in its busiest minute: each costs a createSession
    /// and a closeSession write through the quorum; one a second is a client per task instead of per process.
    /// </summary>
    public const long SessionChurnWarnPerMinute = 60;
    public const long ChurnInfoPerMinute = 20;
    /// <summary>zk --watch: connections per minute that came and went between polls (the polls see a fraction of them).</summary>
    public const double PollChurnInfoPerMinute = 6;
    public const long ChurnMinConnections = 50;

    // ---- resets ----
    /// <summary>
    /// Connections of one client -> endpoint ended by a RST because one side closed with the other's data unread:
    /// each is a 'Connection reset by peer' the peer logs and may retry; three are a habit, not an accident.
    /// The same in a capture (unread-data-reset) and in a watch (rst-storm).
    /// </summary>
    public const int UnreadResetWarnCount = 3;
    /// <summary>Other resets (aborts, refused peers) per process -> endpoint over a watch.</summary>
    public const int ResetInfoCount = 5, ResetWarnCount = 20, ResetCriticalCount = 500;
    public const double ResetWarnRate = 0.5, ResetCriticalRate = 10;

    /// <summary>Short connections at a pace: info, warning, critical or nothing (null).</summary>
    public static Severity? Churn(long count, double perSecond) =>
        count >= ChurnCriticalCount && perSecond >= ChurnCriticalRate ? Severity.Critical
        : count >= ChurnWarnCount && perSecond >= ChurnWarnRate ? Severity.Warning
        : count >= ChurnInfoCount && perSecond >= ChurnInfoRate ? Severity.Info
        : null;

    /// <summary>Resets (other than unread data) per process -> endpoint: info, warning, critical or nothing.</summary>
    public static Severity? Resets(int count, double perSecond) =>
        count >= ResetCriticalCount && perSecond >= ResetCriticalRate ? Severity.Critical
        : count >= ResetWarnCount && perSecond >= ResetWarnRate ? Severity.Warning
        : count >= ResetInfoCount ? Severity.Info
        : null;

    /// <summary>Connections reset with data unread (certain: the peer's bytes went past the reset's acknowledgement), per client -> endpoint.</summary>
    public static Severity UnreadResets(int count) => count >= UnreadResetWarnCount ? Severity.Warning : Severity.Info;

    /// <summary>
    /// Resets that acknowledged everything the peer sent (a capture's unread-or-linger class: unread bytes in a buffer
    /// and a SO_LINGER 0 close after reading everything look the same on the wire) are a pattern, not a one-off, from
    /// this many in one client -> endpoint...
    /// </summary>
    public const int AckedAllPatternCount = 10;
    /// <summary>... when they also end at least this share of the pair's closed connections.</summary>
    public const double AckedAllPatternShare = 0.5;

    /// <summary>A pattern of resets that acknowledged everything is a warning; a few are info: the wire cannot say unread data.</summary>
    public static Severity AckedAllResets(int resets, int closed) => IsAckedAllPattern(resets, closed) ? Severity.Warning : Severity.Info;

    public static bool IsAckedAllPattern(int resets, int closed) => resets >= AckedAllPatternCount && resets >= AckedAllPatternShare * closed;

    /// <summary>
    /// One finding's severity from its two judgements: a monitor's rhythm stays info whatever its pace; a loop takes the
    /// higher of the loop's and the pace's; otherwise the pace decides.
    /// </summary>
    public static Severity Combine(LoopKind kind, Severity loop, Severity? pace) => kind switch
    {
        LoopKind.HealthCheck => Severity.Info,
        LoopKind.Loop => (Severity)Math.Max((int)loop, (int)(pace ?? Severity.Info)),
        _ => pace ?? Severity.Info,
    };

    /// <summary>
    /// Judges a run of failed connections. <paramref name="monitorConnections"/>: connections of this client already
    /// recognised as monitoring (four-letter words), never blamed. <paramref name="failureKnown"/>: the source saw that
    /// they failed (a log's session 0x0, a capture's missing reply); watch only sees that they were short, so its loop
    /// escalates on the pace of any churn.
    /// </summary>
    public static (LoopKind Kind, Severity Severity) Loop(LoopStats? s, long monitorConnections = 0, bool failureKnown = true)
    {
        if (s == null || s.Count - monitorConnections < LoopMinConnections || s.SpanSeconds < LoopMinSeconds) return (LoopKind.None, Severity.Info);
        if (s.PeriodMs is double p && p >= HealthCheckMinPeriodSeconds * 1000) return (LoopKind.HealthCheck, Severity.Info);
        double rate = s.RatePerSecond;
        var sev = failureKnown
            ? s.Count >= FailedCriticalCount && rate >= FailedCriticalRate ? Severity.Critical : Severity.Warning
            : Churn(s.Count, rate) == Severity.Critical ? Severity.Critical : Severity.Warning;
        return (LoopKind.Loop, sev);
    }
}
