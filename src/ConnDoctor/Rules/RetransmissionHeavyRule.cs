using ConnDoctor.Model;
using static ConnDoctor.Rules.CaptureFacts;

namespace ConnDoctor.Rules;

/// <summary>Many segments sent twice between a client and a server: loss on the path, or SYNs dropped at a full listen queue.</summary>
public sealed class RetransmissionHeavyRule : IRule
{
    public string Id => "retransmission-heavy";
    public string Description => "a large share of segments or SYNs retransmitted between a client and a server (loss, a full listen queue)";

    private const int MinRetrans = 20, WarnRetrans = 50, CriticalRetrans = 100, MinSynRetrans = 5;
    private const double InfoShare = 0.02, WarnShare = 0.05, CriticalShare = 0.20, SynWarnShare = 0.10;

    public bool Reads(Evidence e) => e.Capture != null;

    public bool ReadsWatch => false;

    public IEnumerable<Finding> Evaluate(RuleContext ctx)
    {
        if (ctx.Evidence.Capture is not { } cap) yield break;
        foreach (var p in cap.Pairs)
        {
            double share = p.Retransmissions / (double)Math.Max(1, p.Segments + p.Retransmissions);
            double synShare = p.SynRetransmissions / (double)Math.Max(1, p.Opened);
            bool data = p.Retransmissions >= MinRetrans && share >= InfoShare;
            bool syn = p.SynRetransmissions >= MinSynRetrans && synShare >= SynWarnShare;
            if (!data && !syn) continue;
            var sev = data && p.Retransmissions >= CriticalRetrans && share >= CriticalShare ? Severity.Critical
                : (data && p.Retransmissions >= WarnRetrans && share >= WarnShare) || syn ? Severity.Warning
                : Severity.Info;
            string serverText = Analysis.SocketGrouper.FormatEndpoint(p.Server);
            var conns = cap.ConnectionsOf(p).Where(c => (c.RetransToClient + c.RetransToServer + c.SynRetrans) > 0)
                .OrderByDescending(c => c.RetransToClient + c.RetransToServer + c.SynRetrans).ToList();
            var evidence = new List<string>();
            if (data)
                evidence.Add($"{p.Retransmissions} of {p.Segments + p.Retransmissions} data segments ({Analysis.Format.Percent(share)}) were sent again, " +
                             $"to the server {conns.Sum(c => c.RetransToServer)}, to the client {conns.Sum(c => c.RetransToClient)}");
            if (p.SynRetransmissions > 0)
                evidence.Add($"{p.SynRetransmissions} SYN retransmission(s) over {p.Opened} connection attempt(s): the first SYN got no answer within a second or more");
            evidence.AddRange(Examples(conns, conns.Count, c => $"{Conn(c)}: {c.RetransToServer} to server, {c.RetransToClient} to client, {c.SynRetrans} SYN"));
            yield return new Finding
            {
                RuleId = Id,
                Severity = sev,
                Subject = Subject(p.Client, p.Server),
                Summary = data
                    ? $"{Analysis.Format.Percent(share)} of segments between {Analysis.SocketGrouper.FormatHost(p.Client)} and {serverText} were retransmitted"
                    : $"{p.SynRetransmissions} SYN(s) to {serverText} had to be sent again",
                Evidence = evidence,
                Cause = "A retransmission means the sender saw no acknowledgement in time: the segment or its ACK was lost (a congested or faulty link, " +
                        "a full queue in a switch, a firewall or conntrack table dropping packets) or delayed past the timeout. " +
                        (syn ? "Unanswered SYNs are typical of a server whose listen queue is full (the application accepts too slowly): Linux drops the SYN " +
                               "and the client retries after 1 s, 3 s, 7 s, so connects take seconds. " : "") +
                        "Each timeout stalls the connection for at least 200 ms.",
                Remedy = "Find where packets are lost: interface errors and drops on both hosts (ip -s link, ethtool -S), TCP counters (nstat -az TcpRetransSegs " +
                         "TcpExtTCPLostRetransmit), then the path in between. " +
                         (syn ? $"On the server, nstat -az TcpExtListenOverflows TcpExtListenDrops and ss -ltn 'sport = :{p.Server.Port}' (Recv-Q at Send-Q = queue full): " +
                                "accept faster or raise the backlog (listen() and net.core.somaxconn). " : "") +
                         "A capture taken on a busy host can itself drop packets (tcpdump reports 'dropped by kernel'); retransmissions are still real.",
            };
        }
    }
}
