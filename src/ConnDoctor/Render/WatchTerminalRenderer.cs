using ConnDoctor.Analysis;
using ConnDoctor.Model;
using ConnDoctor.Sources.Watch;
using Spectre.Console;

namespace ConnDoctor.Render;

/// <summary>
/// `watch` on a terminal: a table per interval, redrawn in place (cursor home) on a terminal and printed as one
/// line per active row when piped; at the end the whole watch and the findings.
/// </summary>
public static class WatchTerminalRenderer
{
    private const int MaxRows = 20;

    public static void Tick(WatchTick t, TextWriter output, OutputOptions o, bool terminal)
    {
        var rows = t.Rows.Where(r => r.OpensPerSec > 0 || r.ClosesPerSec > 0 || r.StatesNow.Count > 0).Take(MaxRows).ToList();
        if (terminal)
        {
            output.Write("\x1b[H\x1b[J");
            output.WriteLine($"conndoctor watch ({(t.Mode == WatchMode.Trace ? "tracepoints" : "snapshots")}) {t.ElapsedSeconds:0} s" +
                             (t.EventsLost > 0 ? $"  {t.EventsLost} events lost" : "") + "   Ctrl-C to stop and diagnose");
            WriteTable(output, rows, perInterval: true, o.Width);
        }
        else
        {
            foreach (var r in rows)
                output.WriteLine(o.Width > 80 ? $"{t.ElapsedSeconds,6:0.0}s {Row(r)}" : $"{t.ElapsedSeconds,6:0.0}s {ShortRow(r, o.Width - 8)}");
            if (t.EventsLost > 0) output.WriteLine($"{t.ElapsedSeconds,6:0.0}s {t.EventsLost} events lost so far");
        }
        output.Flush();
    }

    private static string Row(WatchRow r) =>
        $"{WatchReport.Owner(r)} {(r.Passive ? "" : "-> ")}{r.Endpoint}{(r.Netns != null && r.Netns != "host" ? $" [{r.Netns}]" : "")} " +
        $"new {r.OpensPerSec:0.#}/s closed {r.ClosesPerSec:0.#}/s life p50 {Format.Millis(r.MedianLifetimeMs)} p99 {Format.Millis(r.P99LifetimeMs)} " +
        $"first-close {WatchReport.Closer(r)} now {WatchReport.StatesText(r.StatesNow)}";

    /// <summary>
    /// A piped periodic line within <paramref name="width"/>: owner, endpoint, new and closed per second, median lifetime,
    /// states now and namespace; when that is too long the namespace goes first, then the lifetime. --wide adds p99 and
    /// who closed first.
    /// </summary>
    private static string ShortRow(WatchRow r, int width)
    {
        string head = $"{WatchReport.Owner(r)} {(r.Passive ? "" : "-> ")}{r.Endpoint} new {r.OpensPerSec:0.#}/s closed {r.ClosesPerSec:0.#}/s";
        string p50 = $" p50 {Format.Millis(r.MedianLifetimeMs)}", states = " " + WatchReport.StatesText(r.StatesNow);
        string ns = r.Netns != null && r.Netns != "host" ? $" [{r.Netns}]" : "";
        foreach (var line in new[] { head + p50 + states + ns, head + p50 + states, head + states })
            if (line.Length <= width) return line;
        return Format.Cut(head + states, width);
    }

    /// <summary>A plain fixed-width table: fits 80 columns, wider with --wide (the endpoint column grows).</summary>
    private static void WriteTable(TextWriter w, IReadOnlyList<WatchRow> rows, bool perInterval, int width)
    {
        int ep = Math.Max(22, width - 80 + 22);
        w.WriteLine($"{"PROCESS",-16} {"ENDPOINT".PadRight(ep)} {(perInterval ? "NEW/s" : "OPENED"),6} {(perInterval ? "CLSD/s" : "CLOSED"),6} {"P50",6} {"P99",6} {"CLOSER",-11}");
        foreach (var r in rows)
        {
            string ns = r.Netns != null && r.Netns != "host" && r.Netns.Length < 16 ? r.Netns : "";
            w.WriteLine($"{Format.Cut(WatchReport.Owner(r), 16),-16} {Format.Cut(r.Endpoint, ep).PadRight(ep)} " +
                        $"{(perInterval ? r.OpensPerSec.ToString("0.#") : r.Opens.ToString()),6} {(perInterval ? r.ClosesPerSec.ToString("0.#") : r.Closes.ToString()),6} " +
                        $"{Format.Millis(r.MedianLifetimeMs),6} {Format.Millis(r.P99LifetimeMs),6} {Format.Cut(WatchReport.Closer(r), 11),-11}");
            string extra = $"now {WatchReport.StatesText(r.StatesNow)}" + (r.ResetsSent + r.ResetsReceived > 0 ? $"; resets by it {r.ResetsSent}, by peer {r.ResetsReceived}" + (r.UnreadDataResets > 0 ? $" ({r.UnreadDataResets} with data unread)" : "") : "") + (ns.Length > 0 ? $"; netns {ns}" : "")
                           + WatchReport.OwnerDetail(r);
            w.WriteLine($"{"",16} {Format.Cut(extra, width - 17)}");
        }
    }

    public static void Render(WatchReport r, TextWriter output, OutputOptions o)
    {
        var c = ConsoleFactory.Create(output, o);
        var w = r.Watch;
        c.WriteLine($"conndoctor watch on {r.Diagnosis.Host}: {w.Seconds:0.#} s, {w.Rows.Sum(x => x.Opens)} connection(s) opened, {w.Rows.Sum(x => x.Closes)} closed");
        c.WriteLine(w.Mode == WatchMode.Trace
            ? $"mode: tracepoints (sock:inet_sock_set_state, tcp:tcp_send_reset, tcp:tcp_receive_reset), {w.EventsRead} events, " +
              (w.EventsLost > 0 ? $"{w.EventsLost} LOST (buffer overrun: counts are lower bounds)" : "none lost")
            : $"mode: socket-table snapshots every {w.IntervalSeconds:0.##} s ({w.ModeReason}); connections shorter than that are not seen");
        c.WriteLine($"owner found for {Analysis.Format.Percent(w.AttributedShare)} of the connections");
        SourceNotes.Write(c, r.Diagnosis.Sources, summary: false);
        var rows = w.Rows.Take(MaxRows).ToList();
        if (rows.Count > 0)
        {
            c.WriteLine();
            var sw = new StringWriter();
            WriteTable(sw, rows, perInterval: false, o.Width);
            c.Write(new Text(sw.ToString()));
            var busiest = rows.Where(x => x.Opens > 0).Take(3).ToList();
            if (busiest.Count > 0)
                c.WriteLine("new connections/s while active: " + string.Join("; ", busiest.Select(x => $"{WatchReport.Owner(x)} {x.OpensPerSec:0.#}")));
            if (w.Rows.Count > MaxRows) c.WriteLine($"... {w.Rows.Count - MaxRows} more row(s) (--json has them all)");
        }
        else c.WriteLine("no connections opened or closed in the watched namespace(s)");
        DiagnoseTerminalRenderer.WriteFindings(c, r.Diagnosis, o.Width);
    }
}
