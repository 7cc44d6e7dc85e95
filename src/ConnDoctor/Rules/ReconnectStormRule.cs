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

    public bool Reads(Evidence e) => e.ZkLog != null || e.Capture != null || e.Watch != null || e.Zk != null;

    public IEnumerable<Finding> Evaluate(RuleContext ctx) => FromServerLog(ctx).Concat(FromCapture(ctx)).Concat(FromWatch(ctx)).Concat(FromZkPoll(ctx));

    /// <summary>From a ZooKeeper server log (conndoctor zklog): per client IP, its ends of stream as runs without a session.</summary>
    private IEnumerable<Finding> FromServerLog(RuleContext ctx)
    {
        if (ctx.Evidence.ZkLog is not { } log) yield break;
        foreach (var c in log.Clients)
        {
            long conns = c.Connections(log.AcceptsLogged);
            // A monitor already recognised by its four-letter words is never blamed.
            if (c.FourLetterWords * 2 >= conns) continue;
            var (kind, loopSev) = SeverityPolicy.Loop(c.Loop, c.FourLetterWords);
            bool paced = conns - c.FourLetterWords >= SeverityPolicy.ChurnMinConnections && c.PeakPerMinute >= SeverityPolicy.ChurnInfoPerMinute;
            if (kind == LoopKind.None && !paced) continue;
            double share = c.ShareWithoutSession;
            var paceSev = c.PeakPerMinute >= SeverityPolicy.FailedCriticalRate * 60 ? Severity.Critical
                : c.PeakPerMinute >= SeverityPolicy.SessionChurnWarnPerMinute ? Severity.Warning : Severity.Info;
            var sev = SeverityPolicy.Combine(kind, loopSev, paced ? paceSev : null);
            var span = c.LastSeen - c.FirstSeen;
            double avgPerMin = conns / Math.Max(1.0, span.TotalMinutes);
            // An average over a few minutes says nothing the busiest calendar minute does not say better.
            var evidence = new List<string>
            {
                $"{conns} connection(s) from {c.Ip} between {c.FirstSeen:yyyy-MM-dd HH:mm:ss} and {c.LastSeen:HH:mm:ss} ({Format.Duration(span)}), " +
                (span.TotalMinutes >= 5 ? $"{avgPerMin:0.#}/min on average, " : "") + $"{c.PeakPerMinute} in its busiest minute",
            };
            if (kind != LoopKind.None)
                evidence.AddRange(LoopFacts.Evidence(c.Loop!, kind, "ended without a session (session 0x0)", LogTime, "the end of the log",
                    log.Last is DateTime last ? last.Ticks / TimeSpan.TicksPerMillisecond + 999 : c.Loop!.LastMs));
            if (log.AcceptsLogged) evidence.Add($"{c.Accepted} accepted socket connection line(s)");
            evidence.Add($"{c.EndsOfStream} end(s) of stream: {c.EndOfStreamNoSession} with session 0x0 (no session), {c.EndOfStreamWithSession} with a session");
            if (c.ClosedNoSession + c.ClosedWithSession > 0)
                evidence.Add($"{c.ClosedNoSession} closed with no session established, {c.ClosedWithSession} closed with a session");
            if (c.SessionsEstablished > 0 || c.SessionAttempts > 0)
                evidence.Add($"{c.SessionAttempts} session attempt(s), {c.SessionsEstablished} session(s) established, {c.SessionsExpired} expired");
            if (c.Refused > 0) evidence.Add($"{c.Refused} refused at maxClientCnxns");
            if (c.FourLetterWords > 0) evidence.Add($"{c.FourLetterWords} four-letter word(s) from {c.Ip}: monitoring, not counted against it");
            if (!log.AcceptsLogged) evidence.Add("accept lines are not logged at this level (3.5+ at INFO): connections are counted from their ends");
            bool noSession = share >= 0.5;
            yield return new Finding
            {
                RuleId = Id,
                Severity = sev,
                Subject = new FindingSubject { ClientIp = c.Ip.ToString() },
                Summary = kind switch
                {
                    LoopKind.HealthCheck => $"client {c.Ip} connects and closes without a session at a fixed period: {LoopFacts.HealthCheck(c.Loop!)}",
                    LoopKind.Loop => $"client {c.Ip} reconnects over and over and never gets a session: {c.Loop!.Count} connection(s) in a row over " +
                                     $"{Format.Duration(TimeSpan.FromSeconds(c.Loop.SpanSeconds))}, about {LoopFacts.Pace(c.Loop.RatePerSecond)}",
                    _ => $"client {c.Ip} connects over and over: {conns} connection(s), up to {c.PeakPerMinute}/min, {Format.Percent(share)} never had a session",
                },
                Evidence = evidence,
                Cause = kind == LoopKind.HealthCheck ? LoopFacts.HealthCheckCause
                    : noSession || kind == LoopKind.Loop
                    ? "The client opens a TCP connection to ZooKeeper and closes it before a session exists, then tries again. A ZooKeeper client in a " +
                      "reconnect loop does this: its session setup fails on the client side and it retries after a short random wait (the Java client " +
                      "sleeps up to a second between attempts), forever. In one incident a client thread left running after its web application was " +
                      "undeployed failed with NoClassDefFoundError on SetWatches at every attempt; the log grew by 100+ MB a day. A TCP health check " +
                      "looks the same but keeps a fixed period."
                    : "The client establishes sessions and loses or closes them again and again: one ZooKeeper client per task or request instead " +
                      "of one per process, or a client that cannot keep its session (timeouts, GC pauses) and reconnects.",
                Remedy = kind == LoopKind.HealthCheck ? LoopFacts.HealthCheckRemedy(c.Ip.ToString())
                    : $"On {c.Ip}, name the process: 'conndoctor watch --remote SERVER:2181' (live, even for connections that last milliseconds) " +
                      "or 'conndoctor sockets --remote :2181' (TIME_WAIT piling up towards the server is the sign). Then read that process's " +
                      "ZooKeeper client log for the exception it retries on, and fix or restart it. A health check should use 'ruok' or " +
                      "the AdminServer instead of a bare TCP connect. Reuse one client per process.",
            };
        }
    }

    /// <summary>A log time kept as milliseconds since 0001-01-01.</summary>
    private static string LogTime(double ms) => new DateTime((long)ms * TimeSpan.TicksPerMillisecond).ToString("yyyy-MM-dd HH:mm:ss.fff");

    /// <summary>From a packet capture (conndoctor pcap): per client -> server:port.</summary>
    private IEnumerable<Finding> FromCapture(RuleContext ctx)
    {
        if (ctx.Evidence.Capture is not { } cap) yield break;
        foreach (var p in cap.Pairs)
        {
            var (kind, loopSev) = SeverityPolicy.Loop(p.Loop);
            // 20 connections the server accepts and closes at once are a finding of their own (ZooKeeper at maxClientCnxns).
            if (kind == LoopKind.None && p.Short < SeverityPolicy.ChurnInfoCount && p.RejectedAtOnce < CaptureRejectedCount) continue;
            var shortOnes = ShortConnections(cap, p);
            double rate = CaptureFacts.Rate(shortOnes.Count, shortOnes.FirstNs, shortOnes.LastNs);
            bool rejected = p.RejectedAtOnce >= CaptureRejectedCount && p.RejectedAtOnce * 2 >= shortOnes.Count;
            var paceSev = SeverityPolicy.Churn(shortOnes.Count, rate);
            if (rejected && paceSev is null or Severity.Info) paceSev = Severity.Warning;
            if (kind == LoopKind.None && paceSev == null) continue;
            var sev = SeverityPolicy.Combine(kind, loopSev, paceSev);
            yield return CaptureFinding(p, shortOnes, rate, sev, kind, cap.LastNs);
        }
    }

    private const int CaptureRejectedCount = 20;

    /// <summary>The pair's closed connections that lived under a second, summed up in one pass (a storm can hold 100k).</summary>
    private sealed record ShortStats(int Count, long FirstNs, long LastNs, int ByClient, long[] Lifetimes, long[] Bytes);

    private static ShortStats ShortConnections(CaptureEvidence cap, PairSummary p)
    {
        var lifetimes = new List<long>(p.Short);
        var bytes = new List<long>(p.Short);
        long first = long.MaxValue, last = long.MinValue;
        int byClient = 0;
        foreach (int i in p.ConnectionIndexes)
        {
            var c = cap.Connections[i];
            if (!c.Closed || !c.OpenSeen || c.LifetimeNs >= Analysis.CaptureSummary.ShortNs) continue;
            lifetimes.Add(c.LifetimeNs);
            bytes.Add(c.BytesToServer + c.BytesToClient);
            first = Math.Min(first, c.StartNs);
            last = Math.Max(last, c.StartNs);
            if (c.ClientClosedFirst) byClient++;
        }
        lifetimes.Sort();
        bytes.Sort();
        return new ShortStats(lifetimes.Count, first, last, byClient, lifetimes.ToArray(), bytes.ToArray());
    }

    private Finding CaptureFinding(PairSummary p, ShortStats shortOnes, double rate, Severity sev, LoopKind kind, long captureEndNs)
    {
        string clientText = Analysis.SocketGrouper.FormatHost(p.Client), serverText = Analysis.SocketGrouper.FormatEndpoint(p.Server);
        int byClient = shortOnes.ByClient, byServer = shortOnes.Count - byClient;
        var lifetimes = shortOnes.Lifetimes;
        var bytes = shortOnes.Bytes;
        var evidence = new List<string>();
        if (kind != LoopKind.None)
            evidence.AddRange(LoopFacts.Evidence(p.Loop!, kind, "got no reply from the server", ms => CaptureFacts.At((long)(ms * 1e6)), "the end of the capture", captureEndNs / 1e6));
        if (shortOnes.Count > 0)
        {
            evidence.Add($"{shortOnes.Count} connection(s) from {clientText} to {serverText} lived under a second, between {CaptureFacts.At(shortOnes.FirstNs)} and {CaptureFacts.At(shortOnes.LastNs)}: about {rate:0.#}/s");
            evidence.Add($"median lifetime {Analysis.CaptureSummary.Duration(Analysis.CaptureSummary.Percentile(lifetimes, 0.5))}, median {Format.Bytes(Analysis.CaptureSummary.Percentile(bytes, 0.5))} exchanged per connection");
            evidence.Add($"closed first by the client {byClient} time(s), by the server {byServer} time(s)");
        }
        if (p.RejectedAtOnce > 0)
            evidence.Add($"{p.RejectedAtOnce} time(s) the server accepted and closed at once, before any data was exchanged");
        if (p.Connections > shortOnes.Count)
            evidence.Add($"{p.Connections - shortOnes.Count} other connection(s) of this client to {serverText} lived longer or were still open");
        bool serverRejects = p.RejectedAtOnce > 0 && p.RejectedAtOnce * 2 >= shortOnes.Count;
        string zk = p.Server.Port == 2181
            ? serverRejects
                ? " For ZooKeeper this is the server turning the client away at maxClientCnxns (60 per client IP by default; 3.8 accepts and closes at once, " +
                  "the log says 'Too many connections from " + clientText + "'): the client host already holds that many connections, often leaked or half-open ones."
                : " For ZooKeeper this is a client whose session setup keeps failing and reconnects at once (in one incident a client thread left running " +
                  "after its web application was undeployed failed with NoClassDefFoundError on every attempt; the server log filled with 'caught end of stream exception')."
            : "";
        return new Finding
        {
            RuleId = Id,
            Severity = sev,
            Subject = CaptureFacts.Subject(p.Client, p.Server),
            Summary = kind switch
            {
                LoopKind.HealthCheck => $"{clientText} connects to {serverText} and closes without a reply at a fixed period: {LoopFacts.HealthCheck(p.Loop!)}",
                LoopKind.Loop => $"{clientText} reconnects to {serverText} over and over and never gets a reply: {p.Loop!.Count} connection(s) in a row over " +
                                 $"{Format.Duration(TimeSpan.FromSeconds(p.Loop.SpanSeconds))}, about {LoopFacts.Pace(p.Loop.RatePerSecond)}",
                _ => $"{clientText} opened {shortOnes.Count} short connection(s) to {serverText} at about {rate:0.#}/s",
            } + (serverRejects ? ": the server closes them at once" : ""),
            Evidence = evidence,
            Cause = kind == LoopKind.HealthCheck ? LoopFacts.HealthCheckCause : (serverRejects
                        ? "The server accepts each connection and closes it before anything is exchanged: it is refusing this client (a per-client " +
                          "connection limit, an access rule, a server that is not ready), and the client reconnects at once."
                        : "The client opens a new connection for every request, or reconnects in a loop after a failure, instead of keeping one " +
                          "connection open. Each one costs a handshake and leaves a TIME_WAIT on the side that closed first (60 s).") + zk,
            Remedy = kind == LoopKind.HealthCheck ? LoopFacts.HealthCheckRemedy(clientText) : $"On {clientText}, find the process connecting to {serverText} (conndoctor sockets --remote {serverText}, or conndoctor diagnose there) " +
                     "and why it reconnects: its log, its connection pool settings. Make it reuse connections and back off between attempts. " +
                     (serverRejects ? "On the server, look in its log for why it closes these connections before raising any limit: a higher limit hides a leak. " : ""),
        };
    }

    /// <summary>From live connections with their owners (conndoctor watch): names the process.</summary>
    private IEnumerable<Finding> FromWatch(RuleContext ctx)
    {
        if (ctx.Evidence.Watch is not { } w) yield break;
        foreach (var r in w.Rows)
        {
            if (r.Passive) continue;
            // Watch sees no payload: a run of connections closed within a second stands for ones that never got going.
            var (kind, loopSev) = SeverityPolicy.Loop(r.Loop, failureKnown: false);
            double rate = r.OpensPerSec;
            var paceSev = r.MedianLifetimeMs is double m && m < WatchRow.ShortMs ? SeverityPolicy.Churn(r.Closes, rate) : null;
            if (kind == LoopKind.None && paceSev == null) continue;
            var sev = SeverityPolicy.Combine(kind, loopSev, paceSev);
            double median = r.MedianLifetimeMs ?? 0;
            string who = WatchFacts.Who(r);
            int byLocal = r.ClosedByLocal, byPeer = r.ClosedByPeer;
            var evidence = new List<string>
            {
                $"{WatchFacts.ModeLine(w)}: {who} opened {r.Opens} and closed {r.Closes} connection(s) to {r.Endpoint}, about {rate:0.#} new/s and {r.ClosesPerSec:0.#} closed/s",
                $"lifetime median {Format.Millis(r.MedianLifetimeMs)}, p99 {Format.Millis(r.P99LifetimeMs)}",
                $"closed first by {who} {byLocal} time(s), by the server {byPeer} time(s)" + (r.ResetsSent == 0 && byLocal > 0 ? " (each close by this side leaves a TIME_WAIT here for 60 s)" : ""),
            };
            if (r.ResetsSent + r.ResetsReceived > 0) evidence.Add($"{r.ResetsSent} reset by this side, {r.ResetsReceived} by the server");
            if (r.Pod != null || r.Container != null) evidence.Add(r.Pod != null ? $"in Kubernetes pod {r.Pod}" : $"in container {r.Container}");
            if (kind != LoopKind.None)
            {
                evidence.InsertRange(1, LoopFacts.Evidence(r.Loop!, kind, "closed within a second", ms => $"{ms / 1000:0.0} s", "the end of the watch", w.Seconds * 1000));
                evidence.Add("watch sees no payload: a connection closed within a second stands for one that never got going (a capture or the server's log tells for sure)");
            }
            if (w.Mode == WatchMode.Snapshot) evidence.Add("snapshot mode counts only connections that lived across a snapshot: the real rate is at least this");
            bool serverCloses = byPeer > byLocal;
            string zk = r.RemotePort == 2181
                ? " For ZooKeeper (:2181) this is a client stuck in a reconnect loop: its session setup fails and it reconnects at once (in one incident " +
                  "a client thread left running after its web application failed and was undeployed hit NoClassDefFoundError on every attempt and " +
                  "reconnected forever, filling the server log with 'caught end of stream exception')."
                : "";
            yield return new Finding
            {
                RuleId = Id,
                Severity = sev,
                Subject = WatchFacts.Subject(r, w.AllNetns),
                Summary = kind switch
                {
                    LoopKind.HealthCheck => $"{who} connects to {r.Endpoint} and closes at a fixed period: {LoopFacts.HealthCheck(r.Loop!)}",
                    LoopKind.Loop => $"{who} reconnects to {r.Endpoint} over and over, never keeping a connection: {r.Loop!.Count} in a row over " +
                                     $"{Format.Duration(TimeSpan.FromSeconds(r.Loop.SpanSeconds))}, about {LoopFacts.Pace(r.Loop.RatePerSecond)}, each living {Format.Millis(median)} (median)",
                    _ => $"{who} opens and closes connections to {r.Endpoint} at about {rate:0.#}/s, each living {Format.Millis(median)} (median)",
                } + (serverCloses ? ": the server closes them first" : ""),
                Evidence = evidence,
                Cause = kind == LoopKind.HealthCheck ? LoopFacts.HealthCheckCause : (serverCloses
                            ? "The server ends each connection soon after it opens and the client reconnects at once: the server is rejecting this " +
                              "client (a connection limit, a protocol or authentication error, a server not ready)."
                            : "The process opens a new connection for every request, or reconnects in a loop after a failure, instead of keeping one " +
                              "connection open. Each one costs a handshake and leaves a TIME_WAIT on the side that closed first (60 s).") + zk,
                Remedy = kind == LoopKind.HealthCheck ? LoopFacts.HealthCheckRemedy(who, named: r.Pid != null) : $"Look at what {who} does with {r.Endpoint}: its log for the error it retries on (for a ZooKeeper client, the exception before " +
                         "each reconnect), its connection pool settings. Make it reuse connections and back off between attempts; a thread left running " +
                         "after its application failed is stopped by restarting the process. A health check should use a protocol-level probe " +
                         "(ZooKeeper 'ruok', an HTTP endpoint with keep-alive) instead of a bare TCP connect.",
            };
        }
    }

    // Connections per minute that come and go between polls of the servers (zk --watch); a healthy client keeps one for hours.
    // Polls see only connections that live across one: a floor of their own; warning and critical are the policy's
    // session churn (1/s) and failed-loop (10/s) paces, per minute.
    private const int ZkMinChurn = SeverityPolicy.LoopMinConnections;
    private const double ZkInfoPerMinute = SeverityPolicy.PollChurnInfoPerMinute, ZkWarnPerMinute = SeverityPolicy.SessionChurnWarnPerMinute,
        ZkCriticalPerMinute = SeverityPolicy.FailedCriticalRate * 60;

    /// <summary>
    /// From polls of the ZooKeeper servers (conndoctor zk --watch): per client IP, connections that appeared and went
    /// between polls; per server, session handshakes counted by the server (mntr connection_request_count, 3.6+) that
    /// the polls never saw, because they lived shorter than the interval.
    /// </summary>
    private IEnumerable<Finding> FromZkPoll(RuleContext ctx)
    {
        if (ctx.Evidence.Zk is not { Watched: true } zk) yield break;
        double minutes = Math.Max(zk.Seconds, 1) / 60;
        foreach (var g in zk.Growth)
        {
            int churn = Math.Min(g.ConnectionsOpened, g.ConnectionsClosed);
            double perMinute = g.ConnectionsClosed / minutes;
            // Polls see times only to their interval: a period cannot be told from them, so no run passes for a health check.
            var loop = g.Loop is { } l ? l with { PeriodMs = null } : null;
            var (kind, loopSev) = SeverityPolicy.Loop(loop, failureKnown: false);
            bool paced = churn >= ZkMinChurn && perMinute >= ZkInfoPerMinute;
            if (kind == LoopKind.None && !paced) continue;
            var paceSev = perMinute >= ZkCriticalPerMinute ? Severity.Critical : perMinute >= ZkWarnPerMinute ? Severity.Warning : Severity.Info;
            var sev = SeverityPolicy.Combine(kind, loopSev, paced ? paceSev : null);
            var evidence = new List<string>
            {
                $"{zk.Polls} polls every {zk.IntervalSeconds:0.#} s: connections from {g.Ip} {g.ConnectionsAtStart} -> {g.ConnectionsAtEnd}, " +
                $"{g.ConnectionsOpened} appeared and {g.ConnectionsClosed} went between polls",
                $"sessions {g.SessionsAtStart} -> {g.SessionsAtEnd}: {g.SessionsOpened} opened, {g.SessionsClosed} closed",
            };
            if (kind == LoopKind.Loop)
                evidence.AddRange(LoopFacts.Evidence(loop!, kind, "went without any poll seeing a session", ms => $"{ms / 1000:0} s", "the last poll", zk.Seconds * 1000));
            evidence.Add("only connections that lived across a poll are seen: the real rate is at least this, and a fixed period (a health check) cannot be told at this resolution");
            yield return new Finding
            {
                RuleId = Id,
                Severity = sev,
                Subject = new FindingSubject { ClientIp = g.Ip.ToString() },
                Summary = kind == LoopKind.Loop
                    ? $"client {g.Ip} reconnects to ZooKeeper over and over and never gets a session: {loop!.Count} connection(s) in a row over " +
                      $"{Format.Duration(TimeSpan.FromSeconds(loop.SpanSeconds))}"
                    : $"client {g.Ip} reconnects to ZooKeeper over and over: {g.ConnectionsClosed} connection(s) closed and {g.ConnectionsOpened} opened " +
                      $"in {Format.Duration(TimeSpan.FromSeconds(zk.Seconds))}, about {perMinute:0.#}/min",
                Evidence = evidence,
                Cause = "The client drops its connection and connects again and again: its session setup or a request fails and it retries " +
                        "(a client thread left running after its application failed, a version or authentication mismatch), or it opens a " +
                        "client per request instead of keeping one.",
                Remedy = $"On {g.Ip}, name the process with 'conndoctor watch --remote SERVER:PORT' and read its ZooKeeper client log for the " +
                         "exception before each reconnect; on the server, 'conndoctor zklog' shows the ends of stream per client IP. Reuse one client per process.",
            };
        }
        foreach (var churn in zk.MemberChurn)
        {
            var d = zk.CounterDeltas.FirstOrDefault(x => x.Member == churn.Member && x.Name == "connection_request_count");
            if (d == null) continue;
            long handshakes = d.End - d.Start, unseen = handshakes - churn.SessionsOpened;
            double perMinute = unseen / minutes;
            if (unseen < ZkMinChurn * 2 || perMinute < ZkWarnPerMinute) continue;
            yield return new Finding
            {
                RuleId = Id,
                Severity = perMinute >= ZkCriticalPerMinute ? Severity.Critical : Severity.Warning,
                Subject = new FindingSubject { LocalEndpoint = churn.Member },
                Summary = $"{churn.Member} accepted {handshakes} session handshake(s) in {Format.Duration(TimeSpan.FromSeconds(zk.Seconds))} but only " +
                          $"{churn.SessionsOpened} lived across a poll: about {perMinute:0.#} short session(s)/min",
                Evidence =
                [
                    $"mntr connection_request_count {d.Start} -> {d.End} on {churn.Member}",
                    $"between polls every {zk.IntervalSeconds:0.#} s: {churn.SessionsOpened} session(s) and {churn.ConnectionsOpened} connection(s) appeared, " +
                    $"{churn.SessionsClosed} and {churn.ConnectionsClosed} went",
                ],
                Cause = "Clients connect, establish a session and drop it within seconds, faster than the polls: a reconnect loop or a client per " +
                        "request. The polls cannot say which client IP; the server's log and a shorter --interval can.",
                Remedy = $"Run 'conndoctor zklog' on {churn.Member}'s log (connections and ends of stream per client IP) or poll faster " +
                         $"('conndoctor zk {churn.Member} --watch 1m --interval 1s'); then fix the client as for any reconnect loop.",
            };
        }
    }
}
