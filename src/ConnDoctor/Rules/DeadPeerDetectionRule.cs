using ConnDoctor.Analysis;
using ConnDoctor.Model;

namespace ConnDoctor.Rules;

/// <summary>
/// How long a connection to a vanished peer lives: idle ones only die by keepalive (and only where the process asked
/// for it with SO_KEEPALIVE), ones with unacknowledged data after tcp_retries2 retransmissions.
/// </summary>
public sealed class DeadPeerDetectionRule : IRule
{
    public string Id => "dead-peer-detection";
    public string Description => "tcp_keepalive_time/intvl/probes and tcp_retries2: how long a half-open connection lives (audit)";

    private const int SlowKeepalive = 1800;

    public bool Reads(Evidence e) => e.Settings != null;

    public bool ReadsWatch => false;

    public IEnumerable<Finding> Evaluate(RuleContext ctx)
    {
        var st = ctx.Evidence.Settings!;
        var s = st.Sysctls;
        if (s.KeepaliveTime is int time && s.KeepaliveIntvl is int intvl && s.KeepaliveProbes is int probes)
        {
            var detect = TimeSpan.FromSeconds(time + (double)intvl * probes);
            var evidence = new List<string> { $"a silent peer is declared dead after {time} s + {probes} x {intvl} s = {Format.Duration(detect)}, on sockets with SO_KEEPALIVE only" };
            if (st.ZooCfg is { } cfg)
                evidence.Add(ZooKeeperConfigRule.ClientKeepAlive(cfg)
                    ? "zoo.cfg clientTcpKeepAlive=true: ZooKeeper sets SO_KEEPALIVE on client connections, so these times apply to them"
                    : ZooKeeperConfigRule.UsesNetty(cfg)
                        ? "zoo.cfg uses the Netty factory, which sets no SO_KEEPALIVE on client connections: a half-open one is never found by keepalive"
                        : "zoo.cfg has no clientTcpKeepAlive=true: ZooKeeper's client connections have no keepalive, so a half-open one is never found");
            yield return AuditFacts.Setting(Id, time >= SlowKeepalive ? Severity.Warning : Severity.Info,
                "net.ipv4.tcp_keepalive_*", $"{time} {intvl} {probes}",
                $"keepalive {time}/{intvl}/{probes}: a half-open connection lives {Format.Duration(detect)} with keepalive on, forever without",
                "A connection whose peer vanished (crash, power loss, a cut link, a NAT that forgot it) carries nothing, so nothing fails: the " +
                "kernel only probes it after tcp_keepalive_time of silence, and only if the process enabled SO_KEEPALIVE on the socket. Until then it " +
                "holds its slot (for ZooKeeper, a place in maxClientCnxns for that client IP).",
                time >= SlowKeepalive
                    ? "Lower it, e.g. net.ipv4.tcp_keepalive_time=300, tcp_keepalive_intvl=30, tcp_keepalive_probes=5 (a dead peer found in 7m30s), " +
                      "and make sure the servers that matter set SO_KEEPALIVE (ZooKeeper: clientTcpKeepAlive=true). Clear what is stuck now with conndoctor kill."
                    : "Fine; it only helps on sockets with SO_KEEPALIVE (ZooKeeper: clientTcpKeepAlive=true).",
                evidence);
        }
        else ctx.NotEnoughEvidence("tcp_keepalive_* unreadable");

        if (s.TcpRetries2 is int r2)
        {
            double secs = AuditFacts.RetriesTimeout(r2);
            var sev = r2 < 5 ? Severity.Warning : Severity.Info;
            yield return AuditFacts.Setting(Id, sev, "net.ipv4.tcp_retries2", r2.ToString(),
                $"net.ipv4.tcp_retries2 = {r2}: a connection with unacknowledged data gives up after about {Format.Duration(TimeSpan.FromSeconds(secs))}",
                "When data sent on a connection is never acknowledged (the peer vanished), the kernel retransmits with exponential backoff and drops " +
                "the connection after this many retransmissions (computed from a 200 ms minimum RTO; a slower path takes longer). The default 15 is " +
                "about 15 minutes; RFC 1122 asks for at least 100 s.",
                r2 < 5 ? "Raise it to at least 8 (about 100 s): lower values break connections over short network hiccups."
                : r2 >= 15 ? "Fine for the general case; on a LAN where a dead peer must be noticed sooner, 8 (about 100 s) is a common choice."
                : "Fine.");
        }
    }
}
