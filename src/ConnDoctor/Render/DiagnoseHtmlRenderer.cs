using ConnDoctor.Model;
using ConnDoctor.Render.Html;
using ConnDoctor.Rules;

namespace ConnDoctor.Render;

/// <summary>
/// `diagnose --html`: the summary, what discovery found, the timelines of the sources that have time in them (the
/// servers' log, a --watch, a watched poll: each on its own axis, since a log's hour and a watch's half minute do
/// not share one), the findings worst first, the blamed processes' own logs, then the sources and what was missing.
/// </summary>
public static class DiagnoseHtmlRenderer
{
    public static void Render(DiagnoseReport r, Evidence? evidence, Stream output) => HtmlPage.Write(Page(r, evidence), output);

    public static string Page(DiagnoseReport r, Evidence? evidence) =>
        HtmlPage.Build($"Diagnosis of {r.Host}: {ReportSections.Counts(r.Findings)}",
            $"conndoctor diagnose on {r.Host}, {ReportSections.Time(r.CollectedAt)}: {r.SocketsExamined} socket(s)" +
            (r.Namespaces.Count > 1 ? $" in {r.Namespaces.Count} network namespaces" : "") + $", {r.Rules.Count} rule(s), {r.Findings.Count} finding(s)",
            w => Body(w, r, evidence, ""));

    /// <summary>The body of one host's report; <paramref name="idPrefix"/> keeps ids apart when a fleet report holds several hosts.</summary>
    public static void Body(HtmlWriter w, DiagnoseReport r, Evidence? evidence, string idPrefix, bool summary = true)
    {
        if (summary) ReportSections.Summary(w, r, Since(evidence), idPrefix: idPrefix);
        if (r.Discovery is { } d) Discovery(w, d, r.Notes, idPrefix);
        if (evidence != null && (evidence.ZkLog is { Timeline.Count: > 0 } || evidence.Watch != null || evidence.Zk is { Watched: true }))
        {
            w.Open("section", ("id", idPrefix + "timeline")).El("h2", "Timelines");
            if (evidence.ZkLog is { Timeline.Count: > 0 } log)
            {
                w.El("h3", $"The ZooKeeper server log ({string.Join(", ", log.Files)})");
                ZkLogHtmlRenderer.Charts(w, log, idPrefix + "zklog-");
            }
            if (evidence.Watch is { } watch)
            {
                w.El("h3", "The watch");
                WatchHtmlRenderer.Charts(w, watch, idPrefix + "watch-");
            }
            if (evidence.Zk is { Watched: true } zk)
            {
                w.El("h3", "The servers' clients over the poll");
                ZkHtmlRenderer.Charts(w, zk, idPrefix + "zk-");
            }
            w.Close("section");
        }
        ReportSections.Findings(w, r, idPrefix);
        if (r.AppLogs is { Processes.Count: > 0 } logs) AppLogs(w, logs, idPrefix);
        ReportSections.Sources(w, r.Sources, r.Rules, r.Discovery == null ? r.Notes : null, idPrefix);
    }

    /// <summary>When the trouble shows first in the evidence: the log's first refusal, else the start of what was read.</summary>
    public static string? Since(Evidence? e)
    {
        if (e?.ZkLog is { } log && log.Clients.Any(c => c.FirstRefused != null)) return ZkLogHtmlRenderer.Since(log);
        if (e?.ZkLog?.First is DateTime f) return $"the log read begins {f:yyyy-MM-dd HH:mm:ss}";
        if (e?.Watch is { } w) return $"the watch began {ReportSections.Time(w.StartedAt)}";
        return null;
    }

    private static void Discovery(HtmlWriter w, DiscoveryEvidence d, IReadOnlyList<string> notes, string idPrefix)
    {
        w.Open("section", ("id", idPrefix + "found")).El("h2", "What was found on the host");
        if (d.Servers.Count > 0)
        {
            var t = new HtmlTable(w).Head("ZooKeeper server", "#pid", "netns", "client endpoints", "config", "log", "could not");
            foreach (var s in d.Servers)
                t.Row($"{s.MainClass}{(s.Launcher != null ? ", " + s.Launcher : "")}", s.Pid, s.Netns, string.Join(", ", s.ClientEndpoints) + (s.AdminEndpoint is { } a ? $"; AdminServer {a}" : ""),
                    s.ConfigPath != null ? $"{s.ConfigPath} ({s.ConfigFoundBy})" : null,
                    s.LogFile != null ? $"{s.LogFile} ({s.LogFoundBy})" + (s.RotatedLogs.Count > 0 ? $" + {s.RotatedLogs.Count} rotated" : "") : null,
                    s.Problems.Count > 0 ? string.Join("; ", s.Problems) : null);
            t.End();
        }
        if (d.Clients.Count > 0)
        {
            var t = new HtmlTable(w).Head("ZooKeeper client", "#pid", "#connections", "servers", "netns", "command");
            foreach (var k in d.Clients.Take(200)) t.Row(k.Process, k.Pid, k.Connections, string.Join(", ", k.Servers), k.Netns, k.CommandLine);
            t.End();
        }
        var listeners = d.Listeners.Where(l => l.Connections > 0).Take(20).ToList();
        if (listeners.Count > 0)
        {
            var t = new HtmlTable(w).Head("other listener", "process", "#connections", "busiest peers");
            foreach (var l in listeners)
                t.Row(l.Local, l.Process != null ? $"{l.Process}[{l.Pid}]" : null, l.Connections, string.Join(", ", l.BusiestPeers.Select(p => $"{p.Peer} x{p.Connections}")));
            t.End();
        }
        if (d.Servers.Count == 0 && d.Clients.Count == 0) w.El("p", "No ZooKeeper server or client.");
        if (d.Problems.Count + notes.Count > 0)
        {
            w.Raw("<ul>");
            foreach (var p in d.Problems.Concat(notes)) w.El("li", p);
            w.Raw("</ul>");
        }
        w.Close("section");
    }

    private static void AppLogs(HtmlWriter w, AppLogEvidence logs, string idPrefix)
    {
        w.Open("section", ("id", idPrefix + "app-logs")).El("h2", "Own logs of the blamed processes");
        var files = new HtmlTable(w).Head("process", "file", "found by", "read");
        foreach (var p in logs.Processes)
        {
            foreach (var f in p.Files) files.Row($"{p.Process}[{p.Pid}]", f.Path, f.FoundBy, f.Problem ?? Analysis.Format.Bytes(f.BytesRead));
            foreach (var problem in p.Problems) files.Row($"{p.Process}[{p.Pid}]", null, null, problem);
        }
        files.End();
        var patterns = logs.Processes.SelectMany(p => p.Patterns.Select(x => (p, x))).ToList();
        if (patterns.Count > 0)
        {
            var t = new HtmlTable(w).Head("process", "what it logged", "#times", "first", "last", "meaning", "a line");
            foreach (var (p, x) in patterns)
                t.Row($"{p.Process}[{p.Pid}]", x.Signature, x.Count, x.First?.ToString("yyyy-MM-dd HH:mm:ss"), x.Last?.ToString("yyyy-MM-dd HH:mm:ss"), x.Meaning, x.Line);
            t.End();
        }
        w.Close("section");
    }
}
