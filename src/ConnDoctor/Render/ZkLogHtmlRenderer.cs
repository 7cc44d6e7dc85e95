using System.Globalization;
using ConnDoctor.Analysis;
using ConnDoctor.Model;
using ConnDoctor.Render.Html;

namespace ConnDoctor.Render;

/// <summary>
/// `zklog --html`: the summary, the log's timelines on one time axis (connections, ends of stream and refusals per
/// minute; ends of stream and refusals per client IP, the top five and "others"; the first refusal marked), the
/// findings, the clients and message kinds as sortable tables, then the sources.
/// </summary>
public static class ZkLogHtmlRenderer
{
    public const int TopClients = 5;
    public const int MaxTableRows = 500;

    public static void Render(ZkLogReport r, Stream output) => HtmlPage.Write(Page(r), output);

    public static string Page(ZkLogReport r)
    {
        var log = r.Log;
        string span = log.First is DateTime f && log.Last is DateTime l ? $"{f:yyyy-MM-dd HH:mm:ss} to {l:yyyy-MM-dd HH:mm:ss} (the log's local time)" : "no timestamped line";
        return HtmlPage.Build($"ZooKeeper log report: {ReportSections.Counts(r.Diagnosis.Findings)}",
            $"conndoctor zklog, {log.Files.Count} file(s), {log.Lines:N0} line(s), {Format.Bytes(log.Bytes)}, {span}; made {ReportSections.Time(r.Diagnosis.CollectedAt)} on {r.Diagnosis.Host}",
            w =>
            {
                ReportSections.Summary(w, r.Diagnosis, Since(log), [("log", span), ("files", string.Join(", ", log.Files))],
                    nothingFound: log.Lines == 0 ? "The log is empty." : null);
                w.Raw("<section id=\"timeline\">").El("h2", "Timeline");
                Charts(w, log, "");
                w.Raw("</section>");
                ReportSections.Findings(w, r.Diagnosis);
                Tables(w, log);
                ReportSections.Sources(w, r.Diagnosis.Sources, r.Diagnosis.Rules, Notes(log));
            });
    }

    /// <summary>When the trouble shows first: the first refusal, else the first minute of the busiest client's run of failed connections.</summary>
    public static string? Since(ZkLogEvidence log)
    {
        var refused = log.Clients.Where(c => c.FirstRefused != null).OrderBy(c => c.FirstRefused).FirstOrDefault();
        if (refused != null) return $"{refused.FirstRefused:yyyy-MM-dd HH:mm:ss}: first refusal, {Client(refused.Ip)} at the limit of {refused.RefusedLimit?.ToString() ?? "?"} connections";
        return log.First is DateTime f ? $"the log begins {f:yyyy-MM-dd HH:mm:ss}" : null;
    }

    public static TimeAxis Axis(ZkLogEvidence log)
    {
        var first = log.Timeline.Count > 0 ? log.Timeline[0].Minute : log.First ?? DateTime.UnixEpoch;
        var last = log.Timeline.Count > 0 ? log.Timeline[^1].Minute.AddMinutes(1) : log.Last ?? first;
        return TimeAxis.Between(first, last, "the log's local time");
    }

    /// <summary>The charts of a log, on one axis (also drawn by diagnose's report).</summary>
    public static void Charts(HtmlWriter w, ZkLogEvidence log, string idPrefix)
    {
        if (log.Timeline.Count == 0) { w.El("p", "No timestamped line: nothing to draw.", "dim"); return; }
        var axis = Axis(log);
        double bin = axis.BinFor(SvgChart.MaxPoints, 60);
        string per = TimeAxis.Per(bin);
        string binNote = bin == 60 ? "One step per minute of the log." : $"The log spans {Format.Duration(TimeSpan.FromSeconds(axis.Seconds))}: counts summed per {per} (at most {SvgChart.MaxPoints} steps a series).";
        var markers = Markers(log, axis);

        var totals = new SvgChart(idPrefix + "chart-per-minute", $"Connections, ends of stream and refusals per {per}, all clients", axis) { Unit = $"per {per}", Note = binNote };
        totals.Series.AddRange(TimeBins.PerKey(log.Timeline.SelectMany(m => new[]
        {
            ("connections", axis.X(m.Minute), (double)m.Connections),
            ("ends of stream", axis.X(m.Minute), (double)m.EndsOfStream),
            ("refused", axis.X(m.Minute), (double)m.Refused),
        }), bin, axis.Seconds, 3).OrderBy(s => s.Name switch { "connections" => 0, "ends of stream" => 1, _ => 2 }));
        totals.Markers.AddRange(markers);
        totals.WriteTo(w);

        var ends = new SvgChart(idPrefix + "chart-ends-per-ip", $"Ends of stream per {per} by client IP (top {TopClients} and others)", axis) { Unit = $"per {per}", Note = binNote };
        ends.Series.AddRange(TimeBins.PerKey(log.Clients.SelectMany(c => c.Minutes.Select(m => (Client(c.Ip), axis.X(m.Minute), (double)m.EndsOfStream))), bin, axis.Seconds, TopClients));
        ends.Markers.AddRange(markers);
        ends.WriteTo(w);

        if (log.Clients.Any(c => c.Refused > 0))
        {
            var refused = new SvgChart(idPrefix + "chart-refused-per-ip", $"Refusals (maxClientCnxns) per {per} by client IP (top {TopClients} and others)", axis) { Unit = $"per {per}", Note = binNote };
            refused.Series.AddRange(TimeBins.PerKey(log.Clients.SelectMany(c => c.Minutes.Select(m => (Client(c.Ip), axis.X(m.Minute), (double)m.Refused))), bin, axis.Seconds, TopClients));
            refused.Markers.AddRange(markers);
            refused.WriteTo(w);
        }
        long dropped = log.Clients.Sum(c => c.MinutesDropped);
        if (dropped > 0) w.El("p", $"{dropped:N0} end(s) of stream or refusals fell past the per-client cap of minutes and are missing from the per-IP charts (they are in the totals).", "note");
    }

    /// <summary>The moments that matter in a log: the first refusal (the per-IP limit first reached).</summary>
    public static List<ChartMarker> Markers(ZkLogEvidence log, TimeAxis axis)
    {
        var list = new List<ChartMarker>();
        var first = log.Clients.Where(c => c.FirstRefused != null).OrderBy(c => c.FirstRefused).FirstOrDefault();
        if (first != null) list.Add(new ChartMarker(axis.X(first.FirstRefused!.Value), $"first refusal: {Client(first.Ip)} at max {first.RefusedLimit?.ToString(CultureInfo.InvariantCulture) ?? "?"}"));
        return list;
    }

    private static void Tables(HtmlWriter w, ZkLogEvidence log)
    {
        var clients = log.Clients.Where(x => x.Connections(log.AcceptsLogged) > 0 || x.SessionsEstablished > 0 || x.SessionsExpired > 0 || x.FourLetterWords > 0).ToList();
        w.Raw("<section id=\"clients\">").El("h2", $"Clients ({clients.Count})");
        w.El("p", log.AcceptsLogged ? "Accept and close lines are logged (3.4, or 3.5+ at DEBUG): connections are counted from accepts."
            : "Accept lines are not logged (3.5+ at INFO): connections are counted from their ends of stream.", "dim");
        var t = new HtmlTable(w, "clients-table").Head("client", "#connections", "#peak/min", "#eos no session", "#eos with session", "#closed no session", "#refused", "#limit",
            "#sessions", "#expired", "#4lw", "first seen", "last seen", "first refused");
        foreach (var x in clients.Take(MaxTableRows))
            t.Row(Client(x.Ip), x.Connections(log.AcceptsLogged), x.PeakPerMinute, x.EndOfStreamNoSession, x.EndOfStreamWithSession, x.ClosedNoSession, x.Refused,
                x.RefusedLimit, x.SessionsEstablished, x.SessionsExpired, x.FourLetterWords, Stamp(x.FirstSeen), Stamp(x.LastSeen), x.FirstRefused is DateTime fr ? Stamp(fr) : null);
        t.End();
        if (clients.Count > MaxTableRows) w.El("p", $"... and {clients.Count - MaxTableRows} more client(s) (--json lists all).", "note");
        w.Raw("</section>");

        w.Raw("<section id=\"kinds\">").El("h2", "Why the log is this big: lines and bytes by message kind");
        var k = new HtmlTable(w, "kinds-table").Head("message kind", "#lines", "#bytes", "#share %");
        foreach (var kind in log.Kinds.Take(50))
            k.Row(kind.Kind, kind.Lines, kind.Bytes, log.Bytes > 0 ? Math.Round(kind.Bytes * 100.0 / log.Bytes, 1) : 0.0);
        k.End();
        w.Raw("</section>");
    }

    private static IEnumerable<string> Notes(ZkLogEvidence log)
    {
        foreach (var group in log.Layouts.GroupBy(l => l.Layout))
            yield return $"layout {group.Key}: {string.Join(", ", group.Select(g => g.File))}";
        if (log.Servers.Count > 1) yield return $"the log mixes {log.Servers.Count} servers' lines: {string.Join(", ", log.Servers.Select(x => $"{x.Server} {x.Lines} line(s)"))}; the counts are for all of them together";
        if (log.UnrecognisedLines > 0) yield return $"{log.UnrecognisedLines} line(s) not recognised, e.g. {string.Join(" | ", log.UnrecognisedSamples.Take(2))}";
        if (log.OutsideWindowLines > 0) yield return $"{log.OutsideWindowLines} line(s) outside --since/--until skipped";
        if (log.EndsOfStreamUnattributed > 0) yield return $"{log.EndsOfStreamUnattributed} end(s) of stream could not be joined to a client address";
        if (log.TimeStepsBack > 0) yield return $"the time steps back by over a minute {log.TimeStepsBack} time(s): per-minute counts use each line's own time";
    }

    private static HtmlTable.Cell Stamp(DateTime t) => new(t.ToString("yyyy-MM-dd HH:mm:ss", CultureInfo.InvariantCulture), t.Ticks);

    private static string Client(NetAddress ip) => ZkLogTerminalRenderer.Client(ip);
}
