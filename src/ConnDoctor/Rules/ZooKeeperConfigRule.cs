using ConnDoctor.Analysis;
using ConnDoctor.Model;

namespace ConnDoctor.Rules;

/// <summary>
/// The zoo.cfg settings these incidents turn on: the per-IP connection limit, the four-letter-word whitelist, session
/// timeouts, the AdminServer, the connection factory, and keepalive on client connections.
/// </summary>
public sealed class ZooKeeperConfigRule : IRule
{
    public string Id => "zookeeper-config";
    public string Description => "zoo.cfg: maxClientCnxns, 4lw.commands.whitelist, session timeouts, AdminServer, connection factory, clientTcpKeepAlive (audit)";

    private const string Netty = "org.apache.zookeeper.server.NettyServerCnxnFactory";

    /// <summary>Netty answers the client port: it reads no clientTcpKeepAlive and asks the kernel for somaxconn as its backlog.</summary>
    public static bool UsesNetty(ZooCfg cfg) => cfg["serverCnxnFactory"]?.Value == Netty;

    /// <summary>SO_KEEPALIVE on client connections: clientTcpKeepAlive=true, read only by the NIO factory (ZooKeeper 3.8's NIOServerCnxn).</summary>
    public static bool ClientKeepAlive(ZooCfg cfg) =>
        !UsesNetty(cfg) && cfg["clientTcpKeepAlive"]?.Value.Equals("true", StringComparison.OrdinalIgnoreCase) == true;

    public bool Reads(Evidence e) => e.Settings?.ZooCfg != null;

    public bool ReadsWatch => false;

    public IEnumerable<Finding> Evaluate(RuleContext ctx)
    {
        var cfg = ctx.Evidence.Settings!.ZooCfg!;
        string Where(ZooCfgEntry? e) => e != null ? $"{Path.GetFileName(cfg.Path)} line {e.Line}" : "not set: the default applies";
        string factory = cfg["serverCnxnFactory"]?.Value ?? "";
        bool netty = UsesNetty(cfg);

        var max = cfg["maxClientCnxns"];
        int maxValue = cfg.Int("maxClientCnxns") ?? 60;
        yield return AuditFacts.Setting(Id, maxValue == 0 ? Severity.Warning : Severity.Info, "zoo.cfg maxClientCnxns", max?.Value ?? "(60)",
            maxValue == 0 ? "maxClientCnxns = 0: no limit on connections per client IP"
                : $"maxClientCnxns = {maxValue}: each client IP may hold {maxValue} connections to this server; the next is closed at once",
            "The limit counts concurrent connections per client IP address on each server. Many processes or containers behind one address (NAT, " +
            "a Kubernetes node) share it, and half-open connections of a vanished client keep counting until they are cleared. Without a limit, " +
            "one leaking client can use up the server's file descriptors and memory.",
            maxValue == 0 ? "Set a limit (the default 60, or a measured peak per client host with room to spare)."
                : "Keep it; when a client hits it, find the leak (conndoctor zklog, conndoctor sockets --remote IP) or clear half-open connections " +
                  "(conndoctor kill) rather than raising it.",
            [Where(max), .. netty ? ["serverCnxnFactory is Netty: before ZooKeeper 3.6 the Netty factory did not enforce maxClientCnxns at all (ZOOKEEPER-2280)"] : Array.Empty<string>()]);

        var wl = cfg["4lw.commands.whitelist"];
        var words = (wl?.Value ?? "").Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        bool all = words.Contains("*");
        yield return AuditFacts.Setting(Id, all ? Severity.Warning : Severity.Info, "zoo.cfg 4lw.commands.whitelist", wl?.Value ?? "(srvr)",
            all ? "4lw.commands.whitelist = *: every four-letter word answers anyone who reaches the client port"
                : wl == null ? "4lw.commands.whitelist not set: only srvr answers (3.5.3 and later; 3.4.10 to 3.4.14 answer all but wchp and wchc)"
                : $"4lw.commands.whitelist = {string.Join(",", words)}",
            "Four-letter words (srvr, mntr, cons, stat, dump, wchp, ...) are unauthenticated commands on the client port. Since 3.5.3 only those " +
            "listed run, and only srvr when the list is not set (3.4.10 to 3.4.14 have the list too, but unset it allows every word except " +
            "wchp and wchc); 'dump' shows sessions and ephemeral nodes, 'wchp'/'wchc' can be expensive on a big tree, 'cons' lists every connection.",
            all ? "List only what monitoring uses, e.g. 4lw.commands.whitelist=srvr,ruok,mntr,cons."
                : "Fine; per-connection tools need 'cons' (and 'mntr' for metrics) in the list.",
            [Where(wl)]);

        int? tick = cfg.Int("tickTime");
        // ZooKeeper takes -1 (any negative value) as "the default": 2 and 20 ticks, as when the line is absent.
        int? minT = cfg.Int("minSessionTimeout") is int mn && mn >= 0 ? mn : tick * 2;
        int? maxT = cfg.Int("maxSessionTimeout") is int mx && mx >= 0 ? mx : tick * 20;
        bool inverted = minT > maxT;
        string ms(int? v) => v is int x ? Format.Duration(TimeSpan.FromMilliseconds(x)) : "?";
        yield return AuditFacts.Setting(Id, tick == null || inverted ? Severity.Critical : maxT > 300_000 ? Severity.Warning : Severity.Info,
            "zoo.cfg session timeouts", $"tick {AuditFacts.Show(tick)} {AuditFacts.Show(minT)}-{AuditFacts.Show(maxT)} ms",
            tick == null ? "tickTime is not set: ZooKeeper refuses to start"
                : inverted ? $"minSessionTimeout {minT} ms is larger than maxSessionTimeout {maxT} ms: ZooKeeper refuses to start"
                : $"sessions get a timeout between {ms(minT)} and {ms(maxT)} (tickTime {tick} ms)",
            "A client asks for a session timeout and the server clamps it to [minSessionTimeout, maxSessionTimeout] (defaults 2 and 20 ticks). " +
            "A client that stays silent that long loses its session and its ephemeral nodes; the server then closes its connection. A client that " +
            "vanished keeps its session, its ephemerals (locks, leader election) and its connection that long.",
            tick == null || inverted ? "Fix the values: ZooKeeper will not start with them."
                : maxT > 300_000 ? "Lower maxSessionTimeout (tens of seconds are usual): a vanished client holds locks and its connection this long."
                : "Fine.",
            [Where(cfg["minSessionTimeout"] ?? cfg["tickTime"])]);

        var enable = cfg["admin.enableServer"];
        bool adminOn = enable == null || !enable.Value.Equals("false", StringComparison.OrdinalIgnoreCase);
        string port = cfg["admin.serverPort"]?.Value ?? "8080";
        string address = cfg["admin.serverAddress"]?.Value ?? "0.0.0.0";
        yield return AuditFacts.Setting(Id, Severity.Info, "zoo.cfg admin.enableServer", enable?.Value ?? "(true)",
            adminOn ? $"the AdminServer is on (3.5 and later): HTTP on {address}:{port}" : "the AdminServer is off",
            "Since 3.5 ZooKeeper starts an embedded Jetty AdminServer (admin.serverPort, default 8080, on every address) that answers the " +
            "four-letter-word commands over HTTP at /commands. It takes the port (a web application on the same host on 8080 fails to bind) and " +
            "widens who can ask the server questions.",
            adminOn ? "If nothing uses it, admin.enableServer=false; otherwise bind it to localhost (admin.serverAddress=127.0.0.1) or a port of your choice."
                    : "Fine.",
            [Where(enable)]);

        yield return AuditFacts.Setting(Id, netty ? Severity.Warning : Severity.Info, "zoo.cfg serverCnxnFactory", factory.Length > 0 ? factory[(factory.LastIndexOf('.') + 1)..] : "(NIO)",
            netty ? "the Netty connection factory: check the ZooKeeper version, before 3.6 it ignored maxClientCnxns"
                  : "the default NIO connection factory, which enforces maxClientCnxns",
            "The connection factory accepts client connections. NIOServerCnxnFactory (the default) enforces maxClientCnxns per client IP; " +
            "NettyServerCnxnFactory (needed for TLS) did not enforce it before ZooKeeper 3.6 (ZOOKEEPER-2280), so one leaking client could take " +
            "every descriptor. Netty also ignores clientTcpKeepAlive: its client connections never get TCP keepalive.",
            netty ? "On ZooKeeper older than 3.6 with Netty, upgrade (or use NIO where TLS is not needed) to get the per-IP limit back." : "Fine.",
            [Where(cfg["serverCnxnFactory"])]);

        var ka = cfg["clientTcpKeepAlive"];
        bool kaOn = ClientKeepAlive(cfg);
        yield return AuditFacts.Setting(Id, kaOn ? Severity.Info : Severity.Warning, "zoo.cfg clientTcpKeepAlive", ka?.Value ?? "(false)",
            kaOn ? "clientTcpKeepAlive = true: the kernel's keepalive finds vanished clients"
                 : netty && ka?.Value.Equals("true", StringComparison.OrdinalIgnoreCase) == true
                    ? "clientTcpKeepAlive = true has no effect with the Netty factory: no TCP keepalive on client connections"
                    : "no TCP keepalive on client connections: a half-open connection without a live session stays until the server restarts",
            "A client that vanishes without a FIN (crash, cut link, NAT timeout) leaves an ESTABLISHED connection on the server. If it had a " +
            "session, the server closes the connection when the session expires; if it had none (it never finished connecting, or closed its " +
            "session), nothing ever does, and it counts against maxClientCnxns. clientTcpKeepAlive=true (ZooKeeper 3.8 has it; older releases may " +
            "not; the NIO factory reads it, Netty does not) sets SO_KEEPALIVE so the kernel's net.ipv4.tcp_keepalive_* settings find them.",
            kaOn ? "Fine; keep net.ipv4.tcp_keepalive_time low enough (see dead-peer-detection)."
                 : netty ? "With Netty only the session timeout ends a vanished client's connection; where TLS is not needed, the NIO factory with clientTcpKeepAlive=true also finds those without a session. Clear what is stuck now with conndoctor kill."
                 : "Set clientTcpKeepAlive=true (where the version has it) and lower net.ipv4.tcp_keepalive_time; clear what is stuck now with conndoctor kill.",
            [Where(ka)]);
    }
}
