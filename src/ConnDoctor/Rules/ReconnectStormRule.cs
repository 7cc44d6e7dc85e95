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

    public IEnumerable<Finding> Evaluate(RuleContext ctx) => FromServerLog(ctx).Concat(FromCapture(ctx));

    /// <summary>From a ZooKeeper server log (conndoctor zklog).</summary>
    private IEnumerable<Finding> FromServerLog(RuleContext ctx)
    {
        yield break;
    }

    /// <summary>From a packet capture (conndoctor pcap).</summary>
    private IEnumerable<Finding> FromCapture(RuleContext ctx)
    {
        if (ctx.Evidence.Capture is not { } cap) yield break;
        foreach (var p in cap.Pairs)
        {
            if (p.Short < CaptureInfoCount) continue;
            var shortOnes = ShortConnections(cap, p);
            double rate = CaptureFacts.Rate(shortOnes.Count, shortOnes.FirstNs, shortOnes.LastNs);
            bool rejected = p.RejectedAtOnce >= CaptureRejectedCount && p.RejectedAtOnce * 2 >= shortOnes.Count;
            if (rate < CaptureInfoRate && !rejected) continue;
            var sev = shortOnes.Count >= CaptureCriticalCount && rate >= CaptureCriticalRate ? Severity.Critical
                : (shortOnes.Count >= CaptureWarnCount && rate >= CaptureWarnRate) || rejected ? Severity.Warning
                : Severity.Info;
            yield return CaptureFinding(p, shortOnes, rate, sev);
        }
    }

    private const int CaptureInfoCount = 50, CaptureWarnCount = 200, CaptureCriticalCount = 5000, CaptureRejectedCount = 20;
    private const double CaptureInfoRate = 2, CaptureWarnRate = 10, CaptureCriticalRate = 100; // short connections per second

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
            if (!c.Closed || c.LifetimeNs >= Analysis.CaptureSummary.ShortNs) continue;
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

    private Finding CaptureFinding(PairSummary p, ShortStats shortOnes, double rate, Severity sev)
    {
        string clientText = Analysis.SocketGrouper.FormatHost(p.Client), serverText = Analysis.SocketGrouper.FormatEndpoint(p.Server);
        int byClient = shortOnes.ByClient, byServer = shortOnes.Count - byClient;
        var lifetimes = shortOnes.Lifetimes;
        var bytes = shortOnes.Bytes;
        var evidence = new List<string>
        {
            $"{shortOnes.Count} connection(s) from {clientText} to {serverText} lived under a second, between {CaptureFacts.At(shortOnes.FirstNs)} and {CaptureFacts.At(shortOnes.LastNs)}: about {rate:0.#}/s",
            $"median lifetime {Analysis.CaptureSummary.Duration(Analysis.CaptureSummary.Percentile(lifetimes, 0.5))}, median {CaptureFacts.Bytes(Analysis.CaptureSummary.Percentile(bytes, 0.5))} exchanged per connection",
            $"closed first by the client {byClient} time(s), by the server {byServer} time(s)",
        };
        if (p.RejectedAtOnce > 0)
            evidence.Add($"{p.RejectedAtOnce} time(s) the server accepted and closed at once, before any data was exchanged");
        if (p.Connections > shortOnes.Count)
            evidence.Add($"{p.Connections - shortOnes.Count} other connection(s) of this client to {serverText} lived longer or were still open");
        bool serverRejects = p.RejectedAtOnce * 2 >= shortOnes.Count;
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
            Summary = $"{clientText} opened {shortOnes.Count} short connection(s) to {serverText} at about {rate:0.#}/s" +
                      (serverRejects ? ": the server closes them at once" : ""),
            Evidence = evidence,
            Cause = (serverRejects
                        ? "The server accepts each connection and closes it before anything is exchanged: it is refusing this client (a per-client " +
                          "connection limit, an access rule, a server that is not ready), and the client reconnects at once."
                        : "The client opens a new connection for every request, or reconnects in a loop after a failure, instead of keeping one " +
                          "connection open. Each one costs a handshake and leaves a TIME_WAIT on the side that closed first (60 s).") + zk,
            Remedy = $"On {clientText}, find the process connecting to {serverText} (conndoctor sockets --remote {serverText}, or conndoctor diagnose there) " +
                     "and why it reconnects: its log, its connection pool settings. Make it reuse connections and back off between attempts. " +
                     (serverRejects ? "On the server, look in its log for why it closes these connections before raising any limit: a higher limit hides a leak. " : ""),
        };
    }
}
