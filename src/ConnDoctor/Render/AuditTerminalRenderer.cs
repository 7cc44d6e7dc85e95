using ConnDoctor.Model;
using ConnDoctor.Rules;
using Spectre.Console;

namespace ConnDoctor.Render;

/// <summary>`audit` on a terminal: a table of every setting with its verdict, each problem in full, then what the fine ones mean.</summary>
public static class AuditTerminalRenderer
{
    public static void Render(AuditReport r, TextWriter output, OutputOptions o)
    {
        var c = ConsoleFactory.Create(output, o);
        var st = r.Settings;
        c.WriteLine($"conndoctor audit on {r.Diagnosis.Host}, kernel {st.KernelRelease ?? "unknown"}");
        DiagnoseTerminalRenderer.Wrapped(c, $"settings: sysctls of {st.Origin}" + (st.ZooCfg != null ? $", {st.ZooCfg.Path}" : ""), o.Width, 0, 10);
        SourceNotes.Write(c, r.Diagnosis.Sources);
        DiagnoseTerminalRenderer.WriteRuleNotes(c, r.Diagnosis);
        var findings = r.InRuleOrder;
        c.WriteLine();
        c.WriteLine($"{"SETTING",-34} {"VALUE",-24} VERDICT");
        foreach (var f in findings)
            c.WriteLine($"{f.Subject.Setting,-34} {AuditReport.ValueOf(f),-24} {AuditReport.Verdict(f.Severity)}");

        foreach (var f in findings.Where(f => f.Severity > Severity.Info).OrderByDescending(f => f.Severity))
        {
            c.WriteLine();
            var style = f.Severity == Severity.Critical ? "bold red" : "bold yellow";
            c.MarkupLine($"[{style}]{AuditReport.Verdict(f.Severity)}[/] [bold]{Markup.Escape(f.RuleId)}[/]  {Markup.Escape(f.Subject.Setting ?? "")}");
            DiagnoseTerminalRenderer.Wrapped(c, f.Summary, o.Width, 2, 2);
            if (f.Evidence.Count > 1)
            {
                c.WriteLine("  evidence:");
                foreach (var line in f.Evidence.Skip(1)) DiagnoseTerminalRenderer.Wrapped(c, "- " + line, o.Width, 4, 6);
            }
            c.WriteLine("  what it means:");
            DiagnoseTerminalRenderer.Wrapped(c, f.Cause, o.Width, 4, 4);
            c.WriteLine("  recommendation:");
            DiagnoseTerminalRenderer.Wrapped(c, f.Remedy, o.Width, 4, 4);
        }
        var fine = findings.Where(f => f.Severity == Severity.Info).ToList();
        if (fine.Count > 0)
        {
            c.WriteLine();
            c.WriteLine("fine (--json has what each means and our recommendation):");
            foreach (var f in fine) DiagnoseTerminalRenderer.Wrapped(c, "- " + f.Summary, o.Width, 2, 4);
        }
        c.WriteLine();
        c.WriteLine($"{findings.Count} setting(s): " + string.Join(", ",
            new[] { Severity.Critical, Severity.Warning, Severity.Info }
                .Select(s => (s, n: findings.Count(f => f.Severity == s))).Where(x => x.n > 0)
                .Select(x => $"{x.n} {(x.s == Severity.Info ? "ok" : DiagnoseJsonRenderer.SeverityName(x.s))}")));
    }
}
