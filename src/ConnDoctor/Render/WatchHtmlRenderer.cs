using ConnDoctor.Analysis;
using ConnDoctor.Model;
using ConnDoctor.Render.Html;

namespace ConnDoctor.Render;

/// <summary>
/// `watch --html`: the summary, the watch's timelines on one axis (connections opened and closed per second, or per
/// coarser step for a long watch, for the busiest owner processes and "others"; ESTABLISHED, TIME_WAIT and CLOSE_WAIT
/// at each tick), the findings, the rows and CLOSE_WAIT trends as sortable tables, then the sources.
/// </summary>
public static class WatchHtmlRenderer
{
    public const int TopOwners = 5;
    public const int MaxTableRows = 500;

    public static void Render(WatchReport r, Stream output) => HtmlPage.Write(Page(r), output);

    public static string Page(WatchReport r)
    {
        var w0 = r.Watch;
        string span = $"{ReportSections.Time(w0.StartedAt)} for {Format.Duration(TimeSpan.FromSeconds(w0.Seconds))}";
        return HtmlPage.Build($"Connection watch report: {ReportSections.Counts(r.Diagnosis.Findings)}",
            $"conndoctor watch on {r.Diagnosis.Host}, {(w0.Mode == WatchMode.Trace ? "tracepoints" : "socket-table snapshots")}, {span}: " +
            $"{w0.Rows.Sum(x => x.Opens):N0} connection(s) opened, {w0.Rows.Sum(x => x.Closes):N0} closed, owner found for {Format.Percent(w0.AttributedShare)}",
            w =>
            {
                var busiest = w0.Rows.Where(x => x.Opens > 0).Take(3).Select(x => $"{WatchReport.Owner(x)} {(x.Passive ? "" : "-> ")}{x.Endpoint} {x.OpensPerSec:0.#}/s").ToList();
                ReportSections.Summary(w, r.Diagnosis, $"the watch began {ReportSections.Time(w0.StartedAt)}",
                    [("watched", span), ("busiest", busiest.Count > 0 ? string.Join("; ", busiest) : "no connection opened")]);
                w.Raw("<section id=\"timeline\">").El("h2", "Timeline");
                Charts(w, w0, "");
                w.Raw("</section>");
                ReportSections.Findings(w, r.Diagnosis);
                Tables(w, w0);
                var notes = new List<string>();
                if (w0.ModeReason != null) notes.Add("mode: " + w0.ModeReason);
                if (w0.EventsLost > 0) notes.Add($"{w0.EventsLost} trace events lost (the kernel's buffer overran): counts are lower bounds");
                if (w0.GuessedOwners > 0) notes.Add($"{w0.GuessedOwners} connection(s) whose owner is a best guess");
                ReportSections.Sources(w, r.Diagnosis.Sources, r.Diagnosis.Rules, notes);
            });
    }

    public static TimeAxis Axis(WatchEvidence w) => TimeAxis.Between(w.StartedAt.UtcDateTime, w.StartedAt.UtcDateTime.AddSeconds(w.Seconds), "UTC");

    /// <summary>"java[8123]": the process a connection belongs to, as the rows name it.</summary>
    public static string Owner(WatchConnection c) =>
        c.Comm != null && c.Pid is int p ? $"{c.Comm}[{p}]" : c.Pid is int p2 ? $"pid {p2}" : c.Uid is uint u ? $"uid {u}" : "(no owner)";

    /// <summary>The charts of a watch, on one axis (also drawn by diagnose's report).</summary>
    public static void Charts(HtmlWriter w, WatchEvidence watch, string idPrefix)
    {
        var axis = Axis(watch);
        double bin = axis.BinFor(SvgChart.MaxPoints);
        string per = TimeAxis.Per(bin);
        long opens = watch.Rows.Sum(x => (long)x.Opens);
        int kept = watch.Connections.Count(c => c.OpenedMs != null);
        string note = $"Counts per {TimeAxis.BinName(bin)} (steps chosen so that a series has at most {SvgChart.MaxPoints})." +
                      (kept < opens ? $" The watch keeps the last {watch.Connections.Count:N0} connections: these charts count {kept:N0} of the {opens:N0} opened (the table counts all)." : "");

        var opened = new SvgChart(idPrefix + "chart-opened-per-owner", $"Connections opened per {per} by process (top {TopOwners} and others)", axis) { Unit = $"per {per}", Note = note };
        opened.Series.AddRange(TimeBins.PerKey(watch.Connections.Where(c => c.OpenedMs != null).Select(c => (Owner(c), c.OpenedMs!.Value / 1000)), bin, axis.Seconds, TopOwners));
        opened.WriteTo(w);

        var closed = new SvgChart(idPrefix + "chart-closed-per-owner", $"Connections closed per {per} by process (top {TopOwners} and others)", axis) { Unit = $"per {per}", Note = note };
        closed.Series.AddRange(TimeBins.PerKey(watch.Connections.Where(c => c.ClosedMs != null).Select(c => (Owner(c), c.ClosedMs!.Value / 1000)), bin, axis.Seconds, TopOwners));
        closed.WriteTo(w);

        var states = new SvgChart(idPrefix + "chart-states", "Followed connections by state at each tick", axis)
        {
            Unit = "connections",
            Note = $"One point per tick ({watch.Samples.Count} ticks, every {Format.Duration(TimeSpan.FromSeconds(watch.IntervalSeconds))}); TIME_WAIT counts this side's closes of the last minute.",
        };
        states.Add(Level("ESTABLISHED", watch.Samples, s => s.Established))
              .Add(Level("TIME_WAIT", watch.Samples, s => s.TimeWait))
              .Add(Level("CLOSE_WAIT", watch.Samples, s => s.CloseWait));
        states.WriteTo(w);
    }

    private static ChartSeries Level(string name, IReadOnlyList<WatchSample> samples, Func<WatchSample, int> value) =>
        new(name, SeriesKind.Line, samples.Select(s => (s.Seconds, (double)value(s))).ToList());

    private static void Tables(HtmlWriter w, WatchEvidence watch)
    {
        w.Raw("<section id=\"rows\">").El("h2", $"Connections per process and endpoint ({watch.Rows.Count})");
        var t = new HtmlTable(w, "rows-table").Head("process", "direction", "endpoint", "netns", "#opened", "#closed", "#opened/s", "#closed/s", "#life p50 ms", "#life p99 ms",
            "closed first by", "#resets by it", "#resets by peer", "states at the end", "command");
        foreach (var x in watch.Rows.Take(MaxTableRows))
            t.Row(WatchReport.Owner(x), x.Passive ? "inbound" : "outbound", x.Endpoint, x.Netns, x.Opens, x.Closes, Math.Round(x.OpensPerSec, 2), Math.Round(x.ClosesPerSec, 2),
                x.MedianLifetimeMs is double m ? Math.Round(m, 3) : null, x.P99LifetimeMs is double p ? Math.Round(p, 3) : null, WatchReport.Closer(x),
                x.ResetsSent, x.ResetsReceived, WatchReport.StatesText(x.StatesNow), x.CommandLine);
        t.End();
        if (watch.Rows.Count > MaxTableRows) w.El("p", $"... and {watch.Rows.Count - MaxTableRows} more row(s) (--json lists them all).", "note");
        w.Raw("</section>");
        if (watch.CloseWait.Count > 0)
        {
            w.Raw("<section id=\"close-wait\">").El("h2", "CLOSE_WAIT held per process, start and end of the watch");
            var c = new HtmlTable(w, "close-wait-table").Head("process", "netns", "#at start", "#at end", "#per minute");
            foreach (var x in watch.CloseWait)
                c.Row(x.Process != null && x.Pid is int pid ? $"{x.Process}[{pid}]" : x.Process ?? (x.Pid is int p2 ? $"pid {p2}" : "(no owner)"), x.Netns, x.AtStart, x.AtEnd, Math.Round(x.PerMinute, 2));
            c.End();
            w.Raw("</section>");
        }
    }
}
