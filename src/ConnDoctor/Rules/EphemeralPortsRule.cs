using ConnDoctor.Analysis;
using ConnDoctor.Model;

namespace ConnDoctor.Rules;

/// <summary>
/// ip_local_port_range against the connection rate towards one endpoint: every connection to one remote IP:port from
/// one local address needs its own local port, and the side that closes first parks it in TIME_WAIT for 60 s.
/// </summary>
public sealed class EphemeralPortsRule : IRule
{
    public string Id => "ephemeral-ports";
    public string Description => "ip_local_port_range against the connection rate towards one endpoint (TIME_WAIT parks a port 60 s); ports of local services inside it (audit)";

    private const int TimeWaitSeconds = 60;
    private const int NarrowRange = 10000;
    private const double WarnShare = 0.10, CriticalShare = 0.50;

    public bool Reads(Evidence e) => e.Settings != null;

    public bool ReadsWatch => false;

    public IEnumerable<Finding> Evaluate(RuleContext ctx)
    {
        var st = ctx.Evidence.Settings!;
        var sys = st.Sysctls;
        if (sys.LocalPortLow is not int low || sys.LocalPortHigh is not int high)
        {
            ctx.NotEnoughEvidence("net.ipv4.ip_local_port_range is unreadable");
            yield break;
        }
        int ports = high - low + 1;
        bool reuse = sys.TcpTwReuse == 1 && sys.TcpTimestamps != 0;   // tw_reuse needs timestamps: off, it never applies
        var evidence = new List<string>
        {
            $"{ports} ports: at most {ports} connections from one local address to one remote IP:port at once, TIME_WAIT included",
            $"when this host closes first, each port stays parked 60 s: at most {ports / (double)TimeWaitSeconds:0.#} new connections/s towards one endpoint" +
            (reuse ? $" (tcp_tw_reuse=1 lets outgoing connections take a TIME_WAIT port after 1 s: about {ports}/s)" : ""),
        };
        var severity = ports < NarrowRange ? Severity.Warning : Severity.Info;
        string assumption;
        if (st.SocketTableRead)
        {
            // Client-side TIME_WAIT: a local port in the range, a peer port outside it (a server's accepted connections use no ephemeral port).
            // Counted, not grouped (25k TIME_WAIT at 1k closes/s, every interval in the agent); ties in the table's order.
            var counts = new OrderedGroups<(NetAddress Local, NetEndpoint Remote), int>();
            foreach (var s in ctx.Evidence.SocketSpan)
                if (s.State == TcpState.TimeWait && sys.IsEphemeral(s.Local.Port) && !sys.IsEphemeral(s.Remote.Port))
                    counts.For((s.Local.Address.Unmapped, s.Remote.Unmapped))++;
            var perEndpoint = counts.Select(g => (g.Key.Local, g.Key.Remote, Count: g.Group)).OrderByDescending(x => x.Count).ToList();
            bool severalLocals = perEndpoint.Select(x => x.Local).Distinct().Count() > 1;
            foreach (var (local, remote, count) in perEndpoint.Take(3))
            {
                double share = (double)count / ports;
                // Each local address has its own range of ports towards an endpoint: say which one when there are several.
                string from = severalLocals ? $" from {SocketGrouper.FormatHost(local)}" : "";
                evidence.Add($"now: {count} TIME_WAIT{from} towards {SocketGrouper.FormatEndpoint(remote)} = {Format.Percent(share)} of the range, " +
                             $"about {count / (double)TimeWaitSeconds:0.#} closes/s over the last minute");
                if (share >= CriticalShare) severity = Severity.Critical;
                else if (share >= WarnShare && severity < Severity.Warning) severity = Severity.Warning;
            }
            if (perEndpoint.Count == 0) evidence.Add("now: no client-side TIME_WAIT in the socket table");
            assumption = "The counts are from the socket table read now; the rate assumes the TIME_WAIT sockets entered the state evenly over the last 60 s.";
        }
        else assumption = "No socket table was read (a fixture without net/tcp), so the real rate is unknown: compare the limit with your busiest client's connection rate.";

        // A local service listening on a port inside the range can find it taken by an outgoing connection when it restarts.
        var services = new List<(string Name, int Port)>();
        if (st.ZooCfg is { } cfg)
        {
            if (cfg.Int("clientPort") is int cp) services.Add(("zoo.cfg clientPort", cp));
            if (cfg.Int("secureClientPort") is int sp) services.Add(("zoo.cfg secureClientPort", sp));
            if (cfg.Int("admin.serverPort") is int ap) services.Add(("zoo.cfg admin.serverPort", ap));
            foreach (var e in cfg.Entries.Values.Where(e => e.Key.StartsWith("server.", StringComparison.Ordinal)))
            {
                var halves = e.Value.Split(';');
                foreach (var part in halves[0].Split(':').Skip(1).Take(2))
                    if (int.TryParse(part, out int qp)) services.Add(($"zoo.cfg {e.Key}", qp));
                // The dynamic-configuration form names the client port after ';' ("...:participant;0.0.0.0:2181" or ";2181").
                if (halves.Length > 1 && int.TryParse(halves[1][(halves[1].LastIndexOf(':') + 1)..].Trim(), out int clp))
                    services.Add(($"zoo.cfg {e.Key} client port", clp));
            }
        }
        foreach (var (name, port) in services.Where(s => sys.IsEphemeral(s.Port)).Distinct())
        {
            evidence.Add($"{name} = {port} lies inside the range: an outgoing connection can hold that port when the service (re)starts, and its bind fails");
            if (severity < Severity.Warning) severity = Severity.Warning;
        }
        if (low < 1024)
        {
            evidence.Add($"the range starts at {low}, below 1024: outgoing connections can take ports of well-known services");
            if (severity < Severity.Warning) severity = Severity.Warning;
        }
        yield return AuditFacts.Setting(Id, severity, "net.ipv4.ip_local_port_range", $"{low} {high}",
            $"net.ipv4.ip_local_port_range = {low} {high}: {ports} ports, at most {ports / (double)TimeWaitSeconds:0} connections/s towards one endpoint when this host closes first",
            "Each outgoing connection to one remote IP:port from one local address takes a port from this range; the side that closes first holds " +
            "the connection in TIME_WAIT for 60 s (a kernel constant) and the port with it. When the range is used up, connect() fails with " +
            "EADDRNOTAVAIL. " + assumption,
            "Reuse connections (pooling, one ZooKeeper client per process) rather than widening the range; if needed, widen it (e.g. " +
            "net.ipv4.ip_local_port_range=\"15000 64999\") and keep every local service's listening port outside it (or list those in " +
            "net.ipv4.ip_local_reserved_ports). tcp_tw_reuse=1 helps clients that must open many short connections to one endpoint.",
            evidence);
    }
}
