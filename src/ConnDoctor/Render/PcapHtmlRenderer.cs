using ConnDoctor.Analysis;
using ConnDoctor.Model;
using ConnDoctor.Render.Html;

namespace ConnDoctor.Render;

/// <summary>
/// `pcap --html`: the summary, the capture's timelines on one axis (connections opened and closed per step for the
/// busiest client -> server pairs, resets by class stacked; the first reset and the first refusal marked), the
/// findings, every pair as a sortable table, then the sources.
/// </summary>
public static class PcapHtmlRenderer
{
    public const int TopPairs = 5;
    public const int MaxTableRows = 500;

    public static void Render(PcapReport r, Stream output) => HtmlPage.Write(Page(r), output);

    public static string Page(PcapReport r)
    {
        var cap = r.Capture;
        string span = cap.FirstNs > 0 ? $"from {PcapReport.Time(cap.FirstNs)} for {PcapReport.Ns(cap.LastNs - cap.FirstNs)}" : "no packet";
        return HtmlPage.Build($"Capture report: {ReportSections.Counts(r.Diagnosis.Findings)}",
            $"conndoctor pcap {cap.File}: {cap.Format}, {string.Join(" + ", cap.LinkTypes)}, {cap.Packets:N0} packet(s), {cap.Connections.Count:N0} TCP connection(s), {cap.RstPackets:N0} RST; {span}",
            w =>
            {
                ReportSections.Summary(w, r.Diagnosis, Since(cap), [("capture", $"{cap.File}, {span}"), ("filter", cap.Filter ?? "none")],
                    nothingFound: cap.Pairs.Count == 0 ? "No TCP connections in this capture." : null);
                w.Raw("<section id=\"timeline\">").El("h2", "Timeline");
                Charts(w, cap);
                w.Raw("</section>");
                ReportSections.Findings(w, r.Diagnosis);
                Pairs(w, cap);
                var notes = cap.Skipped.Select(kv => $"{kv.Value} frame(s) skipped: {kv.Key}").ToList();
                if (cap.StoppedAt != null) notes.Add("reading stopped early: " + cap.StoppedAt);
                notes.AddRange(cap.Tunnels.Take(10).Select(t => $"{t.Packets} packet(s) from {t.Kind} {t.Path} (connections are by their inner addresses)"));
                ReportSections.Sources(w, r.Diagnosis.Sources, r.Diagnosis.Rules, notes);
            });
    }

    public static string? Since(CaptureEvidence cap)
    {
        var resets = cap.Connections.Where(c => c.Reset != ResetClass.None && c.ResetNs > 0).ToList();
        if (resets.Count == 0) return cap.FirstNs > 0 ? $"the capture begins {PcapReport.Time(cap.FirstNs)}" : null;
        var first = resets.MinBy(c => c.ResetNs);
        return $"{PcapReport.Time(first.ResetNs)}: first reset ({ResetClasses.Name(first.Reset)}, by {first.ResetBy})";
    }

    private static DateTime Utc(long ns) => DateTime.UnixEpoch.AddTicks(ns / 100);

    public static TimeAxis Axis(CaptureEvidence cap)
    {
        long end = Math.Max(cap.LastNs, cap.Timeline.StartNs + cap.Timeline.StepNs * cap.Timeline.Steps.Count);
        return TimeAxis.Between(Utc(cap.Timeline.Steps.Count > 0 ? cap.Timeline.StartNs : cap.FirstNs), Utc(end), "UTC");
    }

    public static void Charts(HtmlWriter w, CaptureEvidence cap)
    {
        if (cap.Connections.Count == 0) { w.El("p", "No TCP connections: nothing to draw.", "dim"); return; }
        var axis = Axis(cap);
        var tl = cap.Timeline;
        double bin = tl.StepNs / 1e9;
        double X(long ns) => (Utc(ns) - axis.Origin).TotalSeconds;
        double origin = X(tl.StartNs);
        string step = TimeAxis.BinName(bin);
        string note = $"Counts per {step} step of the capture ({tl.Steps.Count} steps).";
        var markers = Markers(cap, axis);

        var opened = new SvgChart("chart-opened-per-pair", $"Connections opened per {step} by client -> server (top {TopPairs} and others)", axis) { Unit = $"per {step}", Note = note };
        opened.Series.AddRange(TimeBins.PerKey(cap.Connections.Where(c => c.OpenSeen).Select(c => (PairName(c.Client.Address, c.Server), X(c.StartNs))), bin, axis.Seconds, TopPairs));
        opened.Markers.AddRange(markers);
        opened.WriteTo(w);

        var totals = new SvgChart("chart-opened-closed", $"Connections opened and closed per {step}, all pairs", axis) { Unit = $"per {step}", Note = note };
        totals.Add(Steps("opened", tl, s => s.Opened, origin, bin)).Add(Steps("closed", tl, s => s.Closed, origin, bin));
        totals.Markers.AddRange(markers);
        totals.WriteTo(w);

        var resets = new SvgChart("chart-resets", $"Resets by class per {step} (stacked)", axis) { Unit = $"per {step}", Note = note + " See docs/pcap.md for what each class means." };
        foreach (var rc in ResetClasses.All)
            if (tl.Steps.Any(s => s.Resets[(int)rc] > 0))
                resets.Add(Steps(ResetClasses.Name(rc), tl, s => s.Resets[(int)rc], origin, bin) with { Kind = SeriesKind.Bars });
        if (resets.Series.Count == 0) resets.Add(new ChartSeries("resets", SeriesKind.Bars, [], bin));
        resets.Markers.AddRange(markers);
        resets.WriteTo(w);
    }

    private static ChartSeries Steps(string name, CaptureTimeline tl, Func<TimelineStep, int> value, double origin, double bin) =>
        new(name, SeriesKind.Step, tl.Steps.Select((s, i) => (origin + i * bin, (double)value(s))).ToList(), bin);

    public static List<ChartMarker> Markers(CaptureEvidence cap, TimeAxis axis)
    {
        var list = new List<ChartMarker>();
        double X(long ns) => (Utc(ns) - axis.Origin).TotalSeconds;
        var resets = cap.Connections.Where(c => c.Reset != ResetClass.None && c.ResetNs > 0).ToList();
        if (resets.Count > 0) list.Add(new ChartMarker(X(resets.Min(c => c.ResetNs)), "first reset"));
        var refused = resets.Where(c => c.Reset == ResetClass.Refused).ToList();
        if (refused.Count > 0) list.Add(new ChartMarker(X(refused.Min(c => c.ResetNs)), "first refusal"));
        return list;
    }

    private static string PairName(NetAddress client, NetEndpoint server) => $"{SocketGrouper.FormatHost(client)} -> {SocketGrouper.FormatEndpoint(server)}";

    private static void Pairs(HtmlWriter w, CaptureEvidence cap)
    {
        w.Raw("<section id=\"pairs\">").El("h2", $"Client -> server pairs ({cap.Pairs.Count})");
        var t = new HtmlTable(w, "pairs-table").Head("client -> server", "#connections", "#opened", "#still open", "#closed by client", "#closed by server", "#closed by RST",
            "#short", "#lifetime p50 ms", "#lifetime max ms", "resets", "#retransmissions", "#bytes to server", "#bytes to client");
        foreach (var p in cap.Pairs.Take(MaxTableRows))
            t.Row(PairName(p.Client, p.Server), p.Connections, p.Opened, p.StillOpen, p.ClosedFirstByClient, p.ClosedFirstByServer, p.ClosedByRst, p.Short,
                Math.Round(p.LifetimeP50Ns / 1e6, 3), Math.Round(p.LifetimeMaxNs / 1e6, 3), PcapReport.ResetText(p.Resets), p.Retransmissions, p.BytesToServer, p.BytesToClient);
        t.End();
        if (cap.Pairs.Count > MaxTableRows) w.El("p", $"... and {cap.Pairs.Count - MaxTableRows} more pair(s) (--json lists them all).", "note");
        w.Raw("</section>");
    }
}
