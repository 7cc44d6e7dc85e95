using ConnDoctor.Analysis;
using ConnDoctor.Model;
using Spectre.Console;

namespace ConnDoctor.Render;

/// <summary>`pcap` on a terminal: what was read, one row per client -> server:port, a timeline, then the findings.</summary>
public static class PcapTerminalRenderer
{
    private const int MaxRows = 20, MaxTunnels = 5;

    public static void Render(PcapReport r, TextWriter output, OutputOptions o)
    {
        var c = ConsoleFactory.Create(output, o);
        var cap = r.Capture;
        c.WriteLine($"conndoctor pcap {cap.File}: {cap.Format}, {string.Join(" + ", cap.LinkTypes)}" + (cap.Sections > 1 ? $", {cap.Sections} sections" : "") + (cap.Interfaces > 1 ? $", {cap.Interfaces} interfaces" : ""));
        if (cap.FirstNs > 0) c.WriteLine($"from {PcapReport.Time(cap.FirstNs)} for {PcapReport.Ns(cap.LastNs - cap.FirstNs)}");
        c.WriteLine($"{cap.Packets} packet(s), {cap.TcpPackets} TCP in {cap.Connections.Count} connection(s), {cap.RstPackets} RST");
        if (cap.Filter != null) c.WriteLine($"filter: {cap.Filter}");
        if (cap.Skipped.Count > 0) c.WriteLine("skipped: " + string.Join(", ", cap.Skipped.Select(kv => $"{kv.Value} {kv.Key}")));
        if (cap.Tunnels.Count > 0)
        {
            c.WriteLine("from tunnels (connections are by their inner addresses):");
            foreach (var t in cap.Tunnels.Take(MaxTunnels)) c.WriteLine($"  {t.Packets} packet(s) from {t.Kind} {t.Path}");
            if (cap.Tunnels.Count > MaxTunnels) c.WriteLine($"  ... and {cap.Tunnels.Count - MaxTunnels} more tunnel path(s), {cap.Tunnels.Skip(MaxTunnels).Sum(t => t.Packets)} packet(s) (--json lists them all)");
        }
        SourceNotes.Write(c, r.Diagnosis.Sources, summary: false);
        if (cap.Pairs.Count == 0)
        {
            c.WriteLine();
            c.WriteLine("No TCP connections in this capture.");
            return;
        }
        c.WriteLine();
        c.Write(PairTable(cap.Pairs.Take(MaxRows)));
        if (cap.Pairs.Count > MaxRows) c.WriteLine($"... and {cap.Pairs.Count - MaxRows} more client -> server pair(s) (--json lists them all)");
        c.WriteLine("P50, MAX: lifetime of the closed connections; C/S: closed first by client/server");
        c.WriteLine();
        var tl = cap.Timeline;
        c.WriteLine($"timeline, {PcapReport.Ns(tl.StepNs)} steps from {PcapReport.Time(tl.StartNs)}:");
        c.Write(TimelineTable(tl));
        DiagnoseTerminalRenderer.WriteFindings(c, r.Diagnosis, o.Width);
    }

    private static TableColumn Num(string header) => new TableColumn(header).RightAligned().Padding(1, 0, 0, 0);

    private static Table PairTable(IEnumerable<PairSummary> pairs)
    {
        var t = new Table().Border(TableBorder.Simple)
            .AddColumn(new TableColumn("CLIENT -> SERVER").NoWrap().Padding(0, 0, 0, 0))
            .AddColumn(Num("CONNS")).AddColumn(Num("P50")).AddColumn(Num("MAX")).AddColumn(Num("C/S")).AddColumn(new TableColumn("RESETS").Padding(2, 0, 0, 0));
        foreach (var p in pairs)
        {
            bool none = p.Connections == p.StillOpen;
            t.AddRow(Markup.Escape($"{SocketGrouper.FormatHost(p.Client)} -> {SocketGrouper.FormatEndpoint(p.Server)}"), p.Connections.ToString(),
                none ? "open" : PcapReport.Ns(p.LifetimeP50Ns), none ? "-" : PcapReport.Ns(p.LifetimeMaxNs),
                $"{p.ClosedFirstByClient}/{p.ClosedFirstByServer}", Markup.Escape(PcapReport.ResetText(p.Resets, shortNames: true)));
        }
        return t;
    }

    private static Table TimelineTable(CaptureTimeline tl)
    {
        var t = new Table().Border(TableBorder.Simple).AddColumn(new TableColumn("AT").Padding(0, 0, 0, 0))
            .AddColumn(Num("OPENED")).AddColumn(Num("CLOSED"));
        foreach (var rc in ResetClasses.All) t.AddColumn(Num(ResetClasses.ShortName(rc).ToUpperInvariant()));
        for (int i = 0; i < tl.Steps.Count; i++)
        {
            var s = tl.Steps[i];
            var cells = new List<string> { i == 0 ? "+0" : "+" + PcapReport.Ns(i * tl.StepNs), s.Opened.ToString(), s.Closed.ToString() };
            cells.AddRange(ResetClasses.All.Select(rc => s.Resets[(int)rc] > 0 ? s.Resets[(int)rc].ToString() : "-"));
            t.AddRow(cells.ToArray());
        }
        return t;
    }
}
