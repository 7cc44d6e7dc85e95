using ConnDoctor.Model;
using ConnDoctor.Pipeline;
using ConnDoctor.Rules;
using Spectre.Console;

namespace ConnDoctor.Render;

/// <summary>
/// `diagnose --from` on a terminal: the cross-host story first (server -> client host -> NAT -> process/pod -> cause,
/// worst first), then the cross-host findings with the host behind each line, the notes about the documents, then each
/// host's own report, compact (its overview and the findings the cross-host ones did not explain).
/// </summary>
public static class FleetTerminalRenderer
{
    public static void Render(FleetReport r, TextWriter output, OutputOptions o)
    {
        var c = ConsoleFactory.Create(output, o);
        c.WriteLine($"conndoctor diagnose --from: {r.Hosts.Count} host(s), {r.CrossHostFindings.Count} cross-host finding(s), " +
                    $"{r.Hosts.Sum(h => h.Report.Findings.Count)} finding(s) on single hosts");
        c.WriteLine();
        c.WriteLine("story:");
        if (r.Story.Count == 0) c.WriteLine("  nothing joins the hosts' findings");
        foreach (var s in r.Story)
        {
            var chain = new List<string> { s.Server };
            if (s.ClientHost != null) chain.Add(s.ClientHost);
            if (s.Via != null) chain.Add(s.Via);
            if (s.Process != null) chain.Add(s.Process + (s.Pod != null ? $" (pod {s.Pod})" : ""));
            if (s.Cause != null) chain.Add(s.Cause);
            DiagnoseTerminalRenderer.Wrapped(c, $"{Label(s.Severity)} {s.RuleId}: {s.Seen}", o.Width, 2, 6);
            DiagnoseTerminalRenderer.Wrapped(c, string.Join(" -> ", chain), o.Width, 6, 8);
        }
        foreach (var n in r.Notes) DiagnoseTerminalRenderer.Wrapped(c, "note: " + n, o.Width, 0, 6);
        if (r.CrossHostFindings.Count > 0)
        {
            c.WriteLine();
            c.WriteLine("across hosts:");
            var cross = new DiagnoseReport
            {
                Host = "", CollectedAt = default, Sources = [], Rules = [], Namespaces = [], Findings = r.CrossHostFindings,
            };
            DiagnoseTerminalRenderer.WriteFindings(c, cross, o.Width);
        }
        foreach (var h in r.Hosts)
        {
            c.WriteLine();
            c.MarkupLine($"[bold]host {Markup.Escape(h.Name)}[/]: {h.Report.SocketsExamined} socket(s), {h.Report.Findings.Count} finding(s) of its own");
            if (h.Report.Overview != null) DiagnoseTerminalRenderer.Wrapped(c, h.Report.Overview, o.Width, 2, 2);
            foreach (var n in h.Report.Notes) DiagnoseTerminalRenderer.Wrapped(c, "note: " + n, o.Width, 2, 8);
            foreach (var f in h.Report.Findings)
                DiagnoseTerminalRenderer.Wrapped(c, $"- {Label(f.Severity)} {f.RuleId} {f.Subject}: {f.Summary}", o.Width, 2, 6);
        }
    }

    private static string Label(Severity s) => s switch { Severity.Critical => "CRITICAL", Severity.Warning => "WARNING", _ => "INFO" };
}
