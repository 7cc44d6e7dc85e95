using ConnDoctor.Analysis;
using ConnDoctor.Model;
using ConnDoctor.Sources.ZkPoll;
using Spectre.Console;

namespace ConnDoctor.Render;

/// <summary>
/// `zk` on a terminal: the servers, connections per client IP and server against the limit, growth over a
/// --watch, ephemeral nodes under --path, then the findings. Fits 80 columns; --wide adds columns.
/// During a --watch, a live table redrawn in place on a terminal, or one line per changing client IP when piped.
/// </summary>
public static class ZkTerminalRenderer
{
    private const int MaxRows = 20;

    public static void Render(ZkReport r, TextWriter output, OutputOptions o)
    {
        var c = ConsoleFactory.Create(output, o);
        var zk = r.Zk;
        int answered = zk.Servers.Count(s => s.Reachable);
        bool listed = zk.Servers.Any(s => s.Connections != null);
        int conns = zk.Servers.Sum(s => s.Connections?.Count ?? 0);
        int sessions = zk.Servers.Sum(s => s.Connections?.Count(x => x.HasSession) ?? 0);
        c.WriteLine($"conndoctor zk: {answered}/{zk.Servers.Count} server(s) answered; " +
                    (listed ? $"{conns} connection(s), {sessions} with a session" : "client connections unknown"));
        if (zk.Watched) c.WriteLine($"watched {zk.Seconds:0.#} s: {zk.Polls} polls every {zk.IntervalSeconds:0.#} s");
        var sw = new StringWriter();
        WriteServers(sw, zk.Servers, o.Width);
        c.Write(new Text(sw.ToString()));
        SourceNotes.Write(c, r.Diagnosis.Sources, summary: false);
        foreach (var s in zk.Servers.Where(s => s.WhitelistHint != null).Take(1))
        {
            c.WriteLine("to allow the four-letter words conndoctor needs, add to zoo.cfg and restart");
            c.WriteLine($"(or pass --admin-url): {s.WhitelistHint}");
        }

        var clients = zk.Clients;
        if (clients.Count > 0)
        {
            c.WriteLine();
            sw = new StringWriter();
            WriteClients(sw, clients.Take(MaxRows).ToList(), o.Width);
            c.Write(new Text(sw.ToString()));
            if (clients.Count > MaxRows) c.WriteLine($"... {clients.Count - MaxRows} more row(s) (--json has them all)");
            if (!zk.EphemeralsKnown && zk.Servers.Any(s => s.Reachable))
                c.WriteLine("ephemeral nodes: no member answered 'dump'; --path lists them with our own client");
        }
        else if (listed) c.WriteLine("no client connections");

        if (zk.Watched)
        {
            c.WriteLine();
            var grown = zk.Growth.Where(Changed).ToList();
            if (grown.Count == 0) c.WriteLine($"no client IP's sessions, ephemeral nodes or connections changed over {zk.Seconds:0.#} s");
            else
            {
                c.WriteLine($"growth per client IP over {zk.Seconds:0.#} s:");
                sw = new StringWriter();
                WriteGrowth(sw, grown.Take(MaxRows).ToList(), o.Width);
                c.Write(new Text(sw.ToString()));
            }
            var moved = zk.CounterDeltas.Where(d => d.End != d.Start && d.Name is "connection_request_count" or "connection_rejected" or "connection_drop_count"
                or "sessionless_connections_expired" or "stale_sessions_expired").ToList();
            if (moved.Count > 0)
                // A counter that went down was reset: the member restarted during the watch.
                c.WriteLine("server counters (mntr): " + string.Join("; ", moved.Select(d => d.End >= d.Start
                    ? $"{d.Member} {d.Name} +{d.End - d.Start}" : $"{d.Member} {d.Name} reset ({d.Start} -> {d.End}: restarted?)")));
        }

        if (zk.Path != null)
        {
            c.WriteLine();
            c.WriteLine($"ephemeral nodes under {zk.Path} (our own client): {zk.PathNodes.Count}" +
                        (zk.PathNodes.Count > 0 ? $", {ZkViews.PatternsText(ZkViews.Patterns(zk.PathNodes.Select(n => n.Path)))}" : ""));
            if (zk.PathNodes.Count > 0)
            {
                sw = new StringWriter();
                WritePathNodes(sw, zk.PathNodes, o.Width);
                c.Write(new Text(sw.ToString()));
            }
        }
        DiagnoseTerminalRenderer.WriteFindings(c, r.Diagnosis, o.Width,
            nothingFound: listed ? null : answered == 0 ? "Nothing to diagnose: no member answered." : "Nothing to diagnose: no member listed its client connections.");
    }

    private static bool Changed(ZkClientGrowth g) =>
        g.SessionsOpened + g.SessionsClosed + g.ConnectionsOpened + g.ConnectionsClosed > 0 || g.EphemeralsAtEnd != g.EphemeralsAtStart;

    private static void WriteServers(TextWriter w, IReadOnlyList<ZkServerInfo> servers, int width)
    {
        int m = Math.Clamp(width - 80 + 21, 21, 45);
        w.WriteLine($"{"SERVER".PadRight(m)} {"MODE",-10} {"VERSION",-7} {"CONNS",5} {"MAXCNXNS",8} {"SESSION-TO",-11} VIA");
        foreach (var s in servers)
        {
            if (!s.Reachable) { w.WriteLine($"{Format.Cut(s.Member, m).PadRight(m)} {"-",-10} {"-",-7} {"-",5} {"-",8} {"-",-11} {SourceStatus.StateName(s.State)}"); continue; }
            w.WriteLine($"{Format.Cut(s.Member, m).PadRight(m)} {ZkServerModes.Name(s.Mode),-10} {Format.Cut(ZkReport.ShortVersion(s.Version), 7),-7} " +
                        $"{(s.Connections is { } cs ? cs.Count.ToString() : "?"),5} {(s.MaxClientCnxns is int l ? (l == 0 ? "none" : l.ToString()) : "?"),8} " +
                        $"{ZkReport.Timeouts(s),-11} {s.Channel}");
        }
    }

    private static void WriteClients(TextWriter w, IReadOnlyList<ZkClientOnServer> rows, int width)
    {
        bool wide = width >= 100;
        int m = Math.Max(15, Math.Min(30, width - 80 + 15));
        w.Write($"{"CLIENT IP",-15} {"SERVER".PadRight(m)} {"CONNS",5} {"LIMIT",5} {"ROOM",4} {"SESS",4} {"NO-SES",6} {"IDLE",4} {"EPHEM",5} {"WATCH",5}");
        w.WriteLine(wide ? $" {"ACTIVE",6} {"SILENT",6} {"OLDEST",7}" : "");
        foreach (var r in rows)
        {
            w.Write($"{Format.Cut(r.Ip.ToString(), 15),-15} {Format.Cut(r.Member, m).PadRight(m)} {r.Connections,5} {(r.Limit is int l && l > 0 ? l.ToString() : "-"),5} " +
                    $"{(r.Headroom is int h ? h.ToString() : "-"),4} {r.WithSession,4} {r.WithoutSession,6} {r.Idle,4} {r.Ephemerals?.ToString() ?? "?",5} {r.Watches?.ToString() ?? "?",5}");
            w.WriteLine(wide ? $" {r.Active,6} {r.NeverSpoke,6} {(r.OldestSessionAgeMs is long age ? Format.Ms(age) : "-"),7}" : "");
        }
    }

    private static void WriteGrowth(TextWriter w, IReadOnlyList<ZkClientGrowth> rows, int width)
    {
        w.WriteLine($"{"CLIENT IP",-15} {"SESSIONS",-8} {"+NEW",4} {"-GONE",5} {"/MIN",5} {"EPHEMER.",-8} {"/MIN",5} {"CONNS",-8} {"+NEW",4} {"-GONE",5}");
        foreach (var g in rows)
        {
            w.WriteLine($"{Format.Cut(g.Ip.ToString(), 15),-15} {$"{g.SessionsAtStart}->{g.SessionsAtEnd}",-8} {g.SessionsOpened,4} {g.SessionsClosed,5} {g.SessionsPerMinute,5:0.#} " +
                        $"{$"{g.EphemeralsAtStart}->{g.EphemeralsAtEnd}",-8} {g.EphemeralsPerMinute,5:0.#} {$"{g.ConnectionsAtStart}->{g.ConnectionsAtEnd}",-8} {g.ConnectionsOpened,4} {g.ConnectionsClosed,5}");
            var extra = new List<string>();
            if (g.EphemeralPatterns.Count > 0) extra.Add(ZkViews.PatternsText(g.EphemeralPatterns));
            if (g.OldestSessionAgeMs is long age) extra.Add($"oldest session {Format.Ms(age)}");
            if (extra.Count > 0) w.WriteLine($"{"",15} {Format.Cut(string.Join("; ", extra), width - 16)}");
        }
    }

    private static void WritePathNodes(TextWriter w, IReadOnlyList<ZkPathNode> nodes, int width)
    {
        int p = Math.Clamp(width - 80 + 22, 22, 70);
        w.WriteLine($"{"PATH".PadRight(p)} {"OWNER SESSION",-18} {"CLIENT",-21} SERVER");
        foreach (var n in nodes.Take(MaxRows))
            w.WriteLine($"{Format.Cut(n.Path, p).PadRight(p)} {$"0x{n.Owner:x}",-18} {(n.Client?.ToString() ?? "(not connected)"),-21} {Format.Cut(n.Member ?? "-", 15)}");
        if (nodes.Count > MaxRows) w.WriteLine($"... {nodes.Count - MaxRows} more (--json has them all)");
    }

    /// <summary>
    /// One poll of a --watch: the live table on a terminal; when piped, a line per client IP that changed (in the
    /// columns of a header written with the first poll) and one per member that did not answer.
    /// </summary>
    public static void Tick(ZkTick t, TextWriter output, OutputOptions o, bool terminal)
    {
        var rows = t.Growth.Where(Changed).Take(MaxRows).ToList();
        int answered = t.Servers.Count(s => s.Reachable);
        if (terminal)
        {
            output.Write("\x1b[H\x1b[J");
            output.WriteLine($"zk --watch {t.ElapsedSeconds:0} s, poll {t.Polls}, {answered}/{t.Servers.Count} answered   Ctrl-C: stop and diagnose");
            foreach (var s in t.Servers)
                output.WriteLine(s.Reachable
                    ? $"  {Format.Cut(s.Member, 30)} {ZkServerModes.Name(s.Mode)}, {s.Connections?.Count.ToString() ?? "?"} connection(s)"
                    : $"  {Format.Cut(s.Member, 30)} {SourceStatus.StateName(s.State)}: {Format.Cut(s.Reason ?? "", Math.Max(10, o.Width - 42))}");
            output.WriteLine();
            if (rows.Count == 0) output.WriteLine("no change per client IP yet");
            else WriteGrowth(output, rows, o.Width);
        }
        else
        {
            if (t.Polls == 1) output.WriteLine(LineHeader);
            // A member's trouble once, when it starts or changes, and when it is over; not at every poll.
            foreach (var s in t.Servers)
            {
                var before = t.Previous.FirstOrDefault(p => p.Member == s.Member);
                if (!s.Reachable && (before == null || before.State != s.State || before.Reason != s.Reason))
                    output.WriteLine(Format.Cut($"{t.ElapsedSeconds,6:0.0}s {s.Member} {SourceStatus.StateName(s.State)}: {s.Reason}", o.Width));
                else if (s.Reachable && before is { Reachable: false })
                    output.WriteLine(Format.Cut($"{t.ElapsedSeconds,6:0.0}s {s.Member} answers again", o.Width));
            }
            foreach (var g in rows)
                output.WriteLine($"{t.ElapsedSeconds,6:0.0}s {Format.Cut(g.Ip.ToString(), 15),-15} {g.SessionsAtEnd,5} {g.SessionsOpened,4} {g.SessionsClosed,5} {g.SessionsPerMinute,5:0.#} " +
                                 $"{g.EphemeralsAtEnd,5} {g.EphemeralsPerMinute,5:0.#} {g.ConnectionsAtEnd,5} {g.ConnectionsOpened,4} {g.ConnectionsClosed,5}" +
                                 (o.Width >= 100 && g.EphemeralPatterns.Count > 0 ? $" {ZkViews.PatternsText(g.EphemeralPatterns, 2)}" : ""));
        }
        output.Flush();
    }

    /// <summary>The columns of the piped --watch lines: counts now, opened and closed so far, slopes per minute.</summary>
    private static readonly string LineHeader =
        $"{"TIME",7} {"CLIENT IP",-15} {"SESS",5} {"+NEW",4} {"-GONE",5} {"/MIN",5} {"EPHEM",5} {"/MIN",5} {"CONNS",5} {"+NEW",4} {"-GONE",5}";
}
