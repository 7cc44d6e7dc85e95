using ConnDoctor.Analysis;
using ConnDoctor.Model;

namespace ConnDoctor.Rules;

/// <summary>How reconnect-storm words a run of failed connections, the same for every source.</summary>
internal static class LoopFacts
{
    /// <summary>A gap or period: "350ms", "2 s", "1.25 s".</summary>
    public static string Gap(double ms) => ms < 1000 ? $"{ms:0}ms" : $"{ms / 1000:0.###} s";

    /// <summary>A period in round words: "2 s", "1.5 s".</summary>
    public static string Period(double ms) => $"{ms / 1000:0.#} s";

    /// <summary>"1.2/s" at one a second or more, "40/min" below.</summary>
    public static string Pace(double perSecond) => perSecond >= 1 ? $"{perSecond:0.#}/s" : $"{perSecond * 60:0.#}/min";

    public static string HealthCheck(LoopStats s) =>
        $"looks like a health check every {Period(s.PeriodMs ?? 0)}" + (s.Probes > 1 ? $" ({s.Probes} probes with the same period)" : "");

    /// <summary>
    /// The run (how many, since when, still going on), its pace and the spread of its gaps, and the share that failed.
    /// <paramref name="failed"/> says what failing means to this source ("never got a session"); <paramref name="endMs"/>
    /// is when the evidence ends, in the same milliseconds as the run's times.
    /// </summary>
    public static List<string> Evidence(LoopStats s, LoopKind kind, string failed, Func<double, string> at, string end, double endMs)
    {
        // Going on at the end: no success after it, and its last connection no further from the end than a few of its gaps.
        double quiet = endMs - s.LastMs;
        string until = !s.Ongoing ? ", until a connection succeeded"
            : quiet <= Math.Max(10_000, 3 * s.MedianGapMs) ? $", still going on at {end}"
            : $", the last {Format.Duration(TimeSpan.FromMilliseconds(quiet))} before {end}: it stopped, with no connection that succeeded";
        var lines = new List<string>
        {
            $"{s.Count} connection(s) in a row {failed}, from {at(s.FirstMs)} to {at(s.LastMs)} ({Format.Duration(TimeSpan.FromSeconds(s.SpanSeconds))})" +
            until,
            s.GapsMeasured == 0 ? $"about {Pace(s.RatePerSecond)}"
                : $"about {Pace(s.RatePerSecond)}: one every {Gap(s.MedianGapMs)} (median gap), the middle 80% of gaps between {Gap(s.P10GapMs)} and {Gap(s.P90GapMs)}" +
                  (kind == LoopKind.HealthCheck ? $": a fixed period, {HealthCheck(s)}"
                   : kind == LoopKind.Loop && s.GapsMeasured >= LoopTracker.MinGapsForPeriod ? ": irregular, as a client's backoff with jitter" : "") +
                  (s.GapsMeasured < s.Count - 1 ? $" (last {s.GapsMeasured} gaps)" : ""),
            $"{s.Failed} of {s.Total} connection(s) ({Format.Percent(s.FailedShare)}) {failed}",
        };
        return lines;
    }

    public const string HealthCheckCause =
        "A monitor connects and closes at a fixed period without speaking the protocol: a load balancer's TCP health check or a " +
        "Kubernetes tcpSocket probe. Harmless to the server, though each one is a connection it accepts and (ZooKeeper) logs.";

    /// <param name="client">The monitor's address, or its process where watch named it.</param>
    /// <param name="named">The process is known (watch): nothing left to find.</param>
    public static string HealthCheckRemedy(string client, bool named = false) =>
        (named ? $"If nothing should probe this port, {client} is the monitor: stop it or fix its configuration. To keep it out "
               : $"If nothing should probe this port, find the monitor on {client} (a load balancer, a kubelet's probe configuration). To keep it out ") +
        "of the server's log, make it speak the protocol: for ZooKeeper an exec probe or check with 'ruok' (4lw.commands.whitelist) or " +
        "the AdminServer's /commands/ruok.";
}
