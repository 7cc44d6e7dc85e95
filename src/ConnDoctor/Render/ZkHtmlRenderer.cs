using ConnDoctor.Analysis;
using ConnDoctor.Model;
using ConnDoctor.Render.Html;

namespace ConnDoctor.Render;

/// <summary>
/// `zk --html`: the summary, over a --watch the growth per client IP on one time axis (sessions, ephemeral nodes and
/// connections at each poll, the top five IPs and "others"; the moment an IP first reached the per-IP limit marked),
/// the findings, the servers and clients as sortable tables, then the sources.
/// </summary>
public static class ZkHtmlRenderer
{
    public const int TopIps = 5;
    public const int MaxTableRows = 500;

    public static void Render(ZkReport r, Stream output) => HtmlPage.Write(Page(r), output);

    public static string Page(ZkReport r)
    {
        var zk = r.Zk;
        int answered = zk.Servers.Count(s => s.Reachable);
        int conns = zk.Servers.Sum(s => s.Connections?.Count ?? 0);
        string polled = zk.Servers.Count > 0 ? ReportSections.Time(zk.Servers.Max(s => s.PolledAt)) : "-";
        return HtmlPage.Build($"ZooKeeper ensemble report: {ReportSections.Counts(r.Diagnosis.Findings)}",
            $"conndoctor zk {string.Join(",", zk.Members)}: {answered}/{zk.Servers.Count} server(s) answered, {conns} client connection(s); " +
            (zk.Watched ? $"watched {Format.Duration(TimeSpan.FromSeconds(zk.Seconds))}, {zk.Polls} polls, " : "") + $"last poll {polled}",
            w =>
            {
                ReportSections.Summary(w, r.Diagnosis, zk.Watched ? $"the watch began {ReportSections.Time(Start(zk))}" : $"one poll at {polled}",
                    [("members", string.Join(", ", zk.Members))]);
                if (zk.Watched)
                {
                    w.Raw("<section id=\"timeline\">").El("h2", "Growth over the watch");
                    Charts(w, zk, "");
                    w.Raw("</section>");
                }
                ReportSections.Findings(w, r.Diagnosis);
                Tables(w, zk);
                var notes = zk.Servers.Where(s => s.WhitelistHint != null).Take(1).Select(s => $"to allow the four-letter words conndoctor needs, add to zoo.cfg and restart (or pass --admin-url): {s.WhitelistHint}").ToList();
                if (!zk.EphemeralsKnown && zk.Servers.Any(s => s.Reachable)) notes.Add("ephemeral nodes: no member answered 'dump'; --path lists them with our own client");
                ReportSections.Sources(w, r.Diagnosis.Sources, r.Diagnosis.Rules, notes);
            });
    }

    /// <summary>When the watch began: the last poll less the watch's length.</summary>
    public static DateTimeOffset Start(ZkEnsembleEvidence zk) =>
        (zk.Servers.Count > 0 ? zk.Servers.Max(s => s.PolledAt) : DateTimeOffset.UnixEpoch).AddSeconds(-zk.Seconds);

    public static TimeAxis Axis(ZkEnsembleEvidence zk) => TimeAxis.Between(Start(zk).UtcDateTime, Start(zk).UtcDateTime.AddSeconds(zk.Seconds), "UTC");

    /// <summary>The growth charts of a --watch, on one axis (also drawn by diagnose's report).</summary>
    public static void Charts(HtmlWriter w, ZkEnsembleEvidence zk, string idPrefix)
    {
        var axis = Axis(zk);
        var ranked = zk.Growth.OrderByDescending(g => g.SessionsAtEnd - g.SessionsAtStart + g.EphemeralsAtEnd - g.EphemeralsAtStart)
            .ThenByDescending(g => g.ConnectionsAtEnd).ThenBy(g => g.Ip.ToString(), StringComparer.Ordinal).ToList();
        string note = $"One point per poll ({zk.Polls} polls every {Format.Duration(TimeSpan.FromSeconds(zk.IntervalSeconds))}), all servers together; the {TopIps} IPs that grew most, the rest summed as others.";
        var markers = Markers(zk, axis);
        foreach (var (id, title, value) in new (string, string, Func<ZkSample, int>)[]
                 {
                     ("chart-sessions", "Sessions per client IP", s => s.Sessions),
                     ("chart-ephemerals", "Ephemeral nodes per client IP", s => s.Ephemerals),
                     ("chart-connections", "Connections per client IP", s => s.Connections),
                 })
        {
            if (id == "chart-ephemerals" && !zk.EphemeralsKnown) continue;
            var chart = new SvgChart(idPrefix + id, title, axis) { Unit = title.Split(' ')[0].ToLowerInvariant(), Note = note };
            foreach (var g in ranked.Take(TopIps))
                chart.Add(new ChartSeries(g.Ip.ToString(), SeriesKind.Line, g.Samples.Select(s => (s.Seconds, (double)value(s))).ToList()));
            if (ranked.Count > TopIps)
            {
                var others = new SortedDictionary<double, double>();
                foreach (var g in ranked.Skip(TopIps))
                    foreach (var s in g.Samples) others[s.Seconds] = others.GetValueOrDefault(s.Seconds) + value(s);
                chart.Add(new ChartSeries("others", SeriesKind.Line, others.Select(kv => (kv.Key, kv.Value)).ToList()));
            }
            chart.Markers.AddRange(markers);
            chart.WriteTo(w);
        }
    }

    /// <summary>The moments that matter over a watch: each IP's first poll at (or over) the per-IP limit of a server.</summary>
    public static List<ChartMarker> Markers(ZkEnsembleEvidence zk, TimeAxis axis)
    {
        var list = new List<ChartMarker>();
        foreach (var g in zk.Growth)
        {
            int? limit = zk.Clients.Where(c => c.Ip == g.Ip && c.Limit is > 0).Select(c => c.Limit).Min();
            if (limit is not int l) continue;
            var at = g.Samples.FirstOrDefault(s => s.Connections >= l);
            if (at.Connections >= l && l > 0) list.Add(new ChartMarker(at.Seconds, $"{g.Ip} reached the limit of {l}"));
        }
        return list.OrderBy(m => m.X).Take(3).ToList();
    }

    private static void Tables(HtmlWriter w, ZkEnsembleEvidence zk)
    {
        w.Raw("<section id=\"servers\">").El("h2", $"Servers ({zk.Servers.Count})");
        var s = new HtmlTable(w, "servers-table").Head("member", "state", "mode", "version", "channel", "#connections", "#max per IP", "session timeouts", "reason");
        foreach (var x in zk.Servers)
            s.Row(x.Member, SourceStatus.StateName(x.State), ZkServerModes.Name(x.Mode), ZkReport.ShortVersion(x.Version), x.Channel, x.Connections?.Count, x.MaxClientCnxns, ZkReport.Timeouts(x), x.Reason);
        s.End();
        w.Raw("</section>");

        w.Raw("<section id=\"clients\">").El("h2", $"Client IPs per server ({zk.Clients.Count})");
        var c = new HtmlTable(w, "clients-table").Head("member", "client IP", "#connections", "#limit", "#with session", "#without session", "#idle", "#never spoke", "#ephemerals", "#watches", "#oldest session s");
        foreach (var x in zk.Clients.Take(MaxTableRows))
            c.Row(x.Member, x.Ip.ToString(), x.Connections, x.Limit, x.WithSession, x.WithoutSession, x.Idle, x.NeverSpoke, x.Ephemerals, x.Watches, x.OldestSessionAgeMs is long a ? Math.Round(a / 1000.0, 1) : null);
        c.End();
        if (zk.Clients.Count > MaxTableRows) w.El("p", $"... and {zk.Clients.Count - MaxTableRows} more row(s) (--json lists them all).", "note");
        w.Raw("</section>");

        if (zk.Watched && zk.Growth.Count > 0)
        {
            w.Raw("<section id=\"growth\">").El("h2", "Growth per client IP");
            var g = new HtmlTable(w, "growth-table").Head("client IP", "#sessions at start", "#at end", "#sessions/min", "#ephemerals at start", "#at end", "#ephemerals/min", "#connections opened", "#closed", "ephemeral paths");
            foreach (var x in zk.Growth.Take(MaxTableRows))
                g.Row(x.Ip.ToString(), x.SessionsAtStart, x.SessionsAtEnd, Math.Round(x.SessionsPerMinute, 2), x.EphemeralsAtStart, x.EphemeralsAtEnd, Math.Round(x.EphemeralsPerMinute, 2),
                    x.ConnectionsOpened, x.ConnectionsClosed, string.Join(", ", x.EphemeralPatterns.Select(p => $"{p.Pattern} x{p.Count}")));
            g.End();
            w.Raw("</section>");
        }
        if (zk.PathNodes.Count > 0)
        {
            w.Raw("<section id=\"path\">").El("h2", $"Ephemeral nodes under {zk.Path}");
            var p = new HtmlTable(w, "path-table").Head("path", "owner session", "client", "member");
            foreach (var n in zk.PathNodes.Take(MaxTableRows)) p.Row(n.Path, $"0x{n.Owner:x}", n.Client?.ToString(), n.Member);
            p.End();
            w.Raw("</section>");
        }
    }
}
