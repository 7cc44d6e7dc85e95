using System.Diagnostics;
using System.Net;
using ConnDoctor.Model;

namespace ConnDoctor.Sources.ZkPoll;

/// <summary>One member of the ensemble as given: HOST:PORT, and where its AdminServer is.</summary>
public sealed record ZkMember(string Text, string Host, int Port, string? AdminUrl, bool AdminUrlGiven)
{
    /// <summary>ZooKeeper's default admin.serverPort.</summary>
    public const int DefaultAdminPort = 8080;

    public static string DefaultAdminUrl(string host) => $"http://{(host.Contains(':') && !host.StartsWith('[') ? $"[{host}]" : host)}:{DefaultAdminPort}/commands";
}

/// <summary>
/// Asks one server everything the views need: srvr, conf, cons, dump, mntr, wchc. Four-letter words first; when
/// one is refused by the whitelist, or when --admin-url was given, the AdminServer's JSON commands stand in.
/// A member that cannot be reached is a failed status with its reason, never an exception.
/// </summary>
public static class ZkServerPoller
{
    /// <summary>The words conndoctor needs, in the order asked (srvr first: it is the one 3.5+ allows by default).</summary>
    public static readonly string[] Words = ["srvr", "conf", "cons", "dump", "mntr", "wchc"];

    /// <summary>The zoo.cfg line that allows them all (the property replaces the default list, so it names every word).</summary>
    public static string WhitelistLine => "4lw.commands.whitelist=" + string.Join(',', Words.Prepend("ruok").Distinct());

    private static string AdminCommand(string word) => word switch
    {
        "srvr" or "mntr" => "monitor",
        "conf" => "configuration",
        "cons" => "connections",
        "dump" => "dump",
        "wchc" => "watches",
        _ => word,
    };

    private sealed class Parts
    {
        public ZkServerMode Mode;
        public string? Version;
        public FourLetterParser.Conf? Conf;
        public List<ZkConnection>? Connections;
        public long ConnectionsReadAtMs;
        public Dictionary<long, IReadOnlyList<string>>? Ephemerals;
        public Dictionary<long, int>? Watches;
        public Dictionary<string, long>? Counters;
        public int Malformed;
        public bool Via4lw, ViaAdmin;
        public readonly List<string> Refused = new();
        public readonly List<string> Problems = new();
        public bool NotServing;
        public IPEndPoint? Self;
    }

    public static ZkServerInfo Poll(ZkMember m, TimeSpan timeout)
    {
        var sw = Stopwatch.StartNew();
        var at = DateTimeOffset.UtcNow;
        IPAddress ip;
        try { ip = ZkTransport.Resolve(m.Host, timeout); }
        catch (SourceException ex) { return Failed(m, ex.Message, at, sw); }

        var p = new Parts();
        var pending = new List<string>(Words);
        string? adminFailure = null;
        if (m.AdminUrlGiven) adminFailure = TryAdmin(m.AdminUrl!, pending, p, timeout);
        if (pending.Count > 0)
        {
            var refused = new List<string>();
            foreach (var word in pending.ToList())
            {
                byte[] reply;
                try { reply = ZkTransport.FourLetterWord(ip, m.Port, word, timeout, out p.Self); }
                catch (SourceException ex)
                {
                    // The first word decides whether the member is there at all; later failures are partial data.
                    if (word == pending[0] && !p.ViaAdmin) return Failed(m, ex.Message, at, sw);
                    p.Problems.Add(ex.Message);
                    pending.Remove(word);
                    continue;
                }
                if (FourLetterParser.IsNotWhitelisted(reply)) { refused.Add(word); continue; }
                if (FourLetterParser.IsNotServing(reply)) { p.NotServing = true; pending.Clear(); break; }
                // Whatever answers srvr without a version or a mode is no ZooKeeper: its other replies would be garbage read as data.
                if (word == "srvr" && !p.ViaAdmin && FourLetterParser.ParseSrvr(reply) is { Version: null, Mode: ZkServerMode.Unknown })
                    return Failed(m, $"not a ZooKeeper server? it answered 'srvr' with {FourLetterParser.Preview(reply)}", at, sw);
                p.Via4lw = true;
                Apply4lw(word, reply, p);
                pending.Remove(word);
            }
            if (refused.Count > 0)
            {
                p.Refused.AddRange(refused);
                if (!m.AdminUrlGiven)
                {
                    // Not told to ask the AdminServer first: where it was found (diagnose), else ZooKeeper's default (port 8080 on the same host).
                    adminFailure = TryAdmin(m.AdminUrl ?? ZkMember.DefaultAdminUrl(m.Host), pending, p, timeout);
                }
            }
        }

        string? hint = null;
        string admin = m.AdminUrl ?? ZkMember.DefaultAdminUrl(m.Host);
        if (pending.Count > 0 && p.Refused.Count > 0)
        {
            // The zoo.cfg line itself is in WhitelistHint (the report prints it once, the JSON has it as a field).
            var missing = pending.Where(w => p.Refused.Contains(w)).ToList();
            hint = WhitelistLine;
            p.Problems.Add($"{string.Join(", ", missing)} refused (not in 4lw.commands.whitelist), and the AdminServer at {admin} " +
                           $"did not stand in: {adminFailure ?? "no answer"}");
        }
        else if (m.AdminUrlGiven && adminFailure != null && !p.ViaAdmin)
            p.Problems.Add($"the AdminServer at {admin} did not answer ({adminFailure}); asked with four-letter words instead");
        if (p.NotServing) p.Problems.Insert(0, "the server is up but not serving requests (no quorum, or still starting)");
        if (p.Malformed > 0) p.Problems.Add($"{p.Malformed} reply line(s) not understood and skipped (not a ZooKeeper 3.x server, or a format this version does not know)");

        var connections = p.Connections is { } cs ? WithAges(cs, ip, p.ConnectionsReadAtMs) : null;
        var state = connections != null && p.Problems.Count == 0 ? SourceState.Ok : SourceState.Partial;
        string channel = p.Via4lw && p.ViaAdmin ? "4lw+admin" : p.ViaAdmin ? "admin" : p.Via4lw ? "4lw" : "none";
        var conf = p.Conf;
        return new ZkServerInfo
        {
            Member = m.Text,
            State = state,
            Reason = p.Problems.Count > 0 ? string.Join("; ", p.Problems) : $"{connections?.Count ?? 0} connection(s) via {channel}",
            Channel = channel,
            Mode = p.Mode,
            Version = p.Version,
            MaxClientCnxns = conf?.MaxClientCnxns,
            MinSessionTimeoutMs = conf?.MinSessionTimeoutMs,
            MaxSessionTimeoutMs = conf?.MaxSessionTimeoutMs,
            TickTimeMs = conf?.TickTimeMs,
            ServerId = conf?.ServerId,
            Connections = connections,
            Ephemerals = p.Ephemerals,
            WatchesBySession = p.Watches,
            Counters = p.Counters ?? new Dictionary<string, long>(),
            RefusedWords = p.Refused,
            WhitelistHint = hint,
            MalformedLines = p.Malformed,
            PolledAt = at,
            Duration = sw.Elapsed,
        };
    }

    private static ZkServerInfo Failed(ZkMember m, string reason, DateTimeOffset at, Stopwatch sw) =>
        new() { Member = m.Text, State = SourceState.Failed, Reason = reason, PolledAt = at, Duration = sw.Elapsed };

    private static void Apply4lw(string word, byte[] reply, Parts p)
    {
        int bad = 0;
        switch (word)
        {
            case "srvr":
                var s = FourLetterParser.ParseSrvr(reply);
                p.Mode = s.Mode;
                p.Version = s.Version;
                break;
            case "conf": p.Conf = FourLetterParser.ParseConf(reply); break;
            case "cons":
                var connections = FourLetterParser.ParseCons(reply, out bad);
                if (connections.Count == 0 && bad > 0) break; // not one line understood: unknown, not "no connections"
                p.Connections = connections;
                // The server lists the connection that asked: ours, not a client's.
                if (p.Self is { } self)
                {
                    var me = new NetEndpoint(NetAddress.FromIPAddress(self.Address).Unmapped, (ushort)self.Port);
                    p.Connections.RemoveAll(c => c.Client == me);
                }
                p.ConnectionsReadAtMs = ZkTransport.MonotonicMs();
                break;
            case "dump": p.Ephemerals = FourLetterParser.ParseDumpEphemerals(reply, out bad); break;
            case "wchc": p.Watches = FourLetterParser.ParseWchc(reply, out bad); break;
            case "mntr":
                var (counters, version, mode) = FourLetterParser.ParseMntr(reply);
                p.Counters = counters;
                p.Version ??= version;
                if (p.Mode == ZkServerMode.Unknown) p.Mode = mode;
                break;
        }
        p.Malformed += bad;
    }

    /// <summary>Reads the pending words' equivalents from the AdminServer; removes what it got. Returns why it failed, or null.</summary>
    private static string? TryAdmin(string baseUrl, List<string> pending, Parts p, TimeSpan timeout)
    {
        string? failure = null;
        foreach (var command in pending.Select(AdminCommand).Distinct().ToList())
        {
            try
            {
                var body = ZkTransport.Admin(baseUrl, command, timeout);
                using var doc = AdminServerParser.Parse(body);
                if (AdminServerParser.Error(doc) is string err) throw new SourceException($"{command}: {err}");
                AdminServerParser.RequireCommand(doc, command);
                int bad = 0;
                switch (command)
                {
                    case "monitor":
                        var (counters, version, mode) = AdminServerParser.ParseMonitor(doc);
                        p.Counters = counters;
                        p.Version = version;
                        p.Mode = mode;
                        break;
                    case "configuration": p.Conf = AdminServerParser.ParseConfiguration(doc); break;
                    case "connections":
                        var connections = AdminServerParser.ParseConnections(doc, out bad);
                        if (connections.Count == 0 && bad > 0) break;
                        p.Connections = connections;
                        p.ConnectionsReadAtMs = ZkTransport.MonotonicMs();
                        break;
                    case "dump": p.Ephemerals = AdminServerParser.ParseDumpEphemerals(doc, out bad); break;
                    case "watches": p.Watches = AdminServerParser.ParseWatches(doc, out bad); break;
                }
                p.Malformed += bad;
                p.ViaAdmin = true;
                pending.RemoveAll(w => AdminCommand(w) == command);
            }
            catch (SourceException ex)
            {
                failure = ex.Message;
                // The AdminServer is not there at all: do not wait the timeout once per command.
                if (!p.ViaAdmin) break;
            }
        }
        return failure;
    }

    /// <summary>
    /// lresp is the server's System.nanoTime() in ms. On this host that clock is our CLOCK_MONOTONIC, so the age is
    /// exact; on another host it is estimated against the freshest response the server listed (a lower bound).
    /// </summary>
    private static List<ZkConnection> WithAges(List<ZkConnection> cs, IPAddress ip, long readAtMs)
    {
        long? freshest = cs.Max(c => c.LastResponseMs);
        if (freshest == null) return cs;
        long now = ZkTransport.IsLocal(ip) && readAtMs >= freshest ? readAtMs : freshest.Value;
        return cs.Select(c => c.LastResponseMs is long r ? c with { LastResponseAgeMs = Math.Max(0, now - r) } : c).ToList();
    }
}
