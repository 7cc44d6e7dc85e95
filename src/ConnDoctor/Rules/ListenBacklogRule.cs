using ConnDoctor.Model;

namespace ConnDoctor.Rules;

/// <summary>net.core.somaxconn caps every listener's accept queue; a burst of connects (a reconnect storm, all clients after a restart) overflows a small one.</summary>
public sealed class ListenBacklogRule : IRule
{
    public string Id => "listen-backlog";
    public string Description => "net.core.somaxconn and ZooKeeper's listen backlog: room for a burst of new connections (audit)";

    private const int Small = 128;

    public bool Reads(Evidence e) => e.Settings != null;

    public bool ReadsWatch => false;

    public IEnumerable<Finding> Evaluate(RuleContext ctx)
    {
        var st = ctx.Evidence.Settings!;
        if (st.Sysctls.Somaxconn is not int max)
        {
            ctx.NotEnoughEvidence("net.core.somaxconn unreadable");
            yield break;
        }
        var evidence = new List<string>();
        if (st.ZooCfg is { } cfg)
            evidence.Add(cfg.Int("clientPortListenBacklog") is int b and > 0
                ? $"zoo.cfg clientPortListenBacklog = {b} (ZooKeeper 3.6 and later): its client port queue is min({b}, {max}) = {Math.Min(b, max)}"
                : ZooKeeperConfigRule.UsesNetty(cfg)
                    ? $"zoo.cfg sets no clientPortListenBacklog and uses Netty, which asks for net.core.somaxconn: its client port queue is {max}"
                    : $"zoo.cfg sets no clientPortListenBacklog: the NIO factory asks for Java's default of 50, so its client port queue is {Math.Min(50, max)} whatever somaxconn says (clientPortListenBacklog, 3.6 and later, raises it)");
        yield return AuditFacts.Setting(Id, max <= Small ? Severity.Warning : Severity.Info, "net.core.somaxconn", max.ToString(),
            $"net.core.somaxconn = {max}: no listener's accept queue can be longer" + (max <= Small ? " (the old default: small for a busy server)" : ""),
            "Connections the kernel has completed wait in the listener's accept queue until the server accepts them; the queue is the backlog the " +
            "server asked for, capped by somaxconn. When it is full, new handshakes are dropped and clients retry after 1, 3, 7 s: a burst of " +
            "reconnects after a restart turns into seconds of delay. The kernel counts these drops (nstat: TcpExtListenOverflows).",
            max <= Small ? "Raise it to 4096 (the default since Linux 5.4), and the server's own backlog with it." : "Fine.",
            evidence);
    }
}
