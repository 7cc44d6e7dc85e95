using ConnDoctor.Analysis;
using ConnDoctor.Model;
using ConnDoctor.Rules;
using Spectre.Console;

namespace ConnDoctor.Render;

/// <summary>`diagnose` on a terminal: findings worst first, each with evidence, cause and remedy, wrapped to the width.</summary>
public static class DiagnoseTerminalRenderer
{
    public static void Render(DiagnoseReport r, TextWriter output, OutputOptions o)
    {
        var c = ConsoleFactory.Create(output, o);
        int ns = r.Namespaces.Count;
        c.WriteLine($"conndoctor diagnose on {r.Host}: {r.SocketsExamined} socket(s){(ns > 1 ? $" in {ns} network namespaces" : "")}, " +
                    $"{r.Rules.Count} rule(s), {r.Findings.Count} finding(s)");
        SourceNotes.Write(c, r.Sources);
        WriteFindings(c, r, o.Width);
    }

    /// <summary>A line for each rule that did not run: it failed, or its evidence was missing.</summary>
    public static void WriteRuleNotes(IAnsiConsole c, DiagnoseReport r)
    {
        foreach (var rule in r.Rules.Where(x => x.State != RuleState.Ran))
            c.WriteLine($"note: rule {rule.RuleId}: {(rule.State == RuleState.Failed ? "failed" : "not enough evidence")}: {rule.Reason}");
    }

    /// <summary>Rule notes, then each finding with its evidence, cause and remedy, then a count. Shared by every report.</summary>
    /// <param name="nothingFound">What to say instead of "No problems found." when there are no findings because the evidence was missing.</param>
    public static void WriteFindings(IAnsiConsole c, DiagnoseReport r, int width, string? nothingFound = null)
    {
        WriteRuleNotes(c, r);
        if (r.Findings.Count == 0)
        {
            c.WriteLine();
            c.WriteLine(nothingFound ?? "No problems found.");
            return;
        }
        foreach (var f in r.Findings)
        {
            c.WriteLine();
            var (label, style) = f.Severity switch
            {
                Severity.Critical => ("CRITICAL", "bold red"),
                Severity.Warning => ("WARNING", "bold yellow"),
                _ => ("INFO", "bold blue"),
            };
            c.MarkupLine($"[{style}]{label}[/] [bold]{Markup.Escape(f.RuleId)}[/]  {Markup.Escape(f.Subject.ToString())}");
            if (f.Subject.CommandLine != null) c.WriteLine(Format.Cut("  command: " + f.Subject.CommandLine, width));
            Wrapped(c, f.Summary, width, 2, 2);
            c.WriteLine("  evidence:");
            foreach (var line in f.Evidence) Wrapped(c, "- " + line, width, 4, 6);
            c.WriteLine("  cause:");
            Wrapped(c, f.Cause, width, 4, 4);
            c.WriteLine("  remedy:");
            Wrapped(c, f.Remedy, width, 4, 4);
        }
        c.WriteLine();
        c.WriteLine($"{r.Findings.Count} finding(s): " + string.Join(", ",
            new[] { Severity.Critical, Severity.Warning, Severity.Info }
                .Select(s => (s, n: r.Findings.Count(f => f.Severity == s))).Where(x => x.n > 0)
                .Select(x => $"{x.n} {DiagnoseJsonRenderer.SeverityName(x.s)}")));
    }

    /// <summary>Word-wraps plain text to the width with a hanging indent; a word longer than a line is not cut.</summary>
    internal static IEnumerable<string> Wrap(string text, int width, int first, int rest)
    {
        var line = new System.Text.StringBuilder(new string(' ', first));
        bool empty = true;
        foreach (var word in text.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            if (!empty && line.Length + 1 + word.Length > width)
            {
                yield return line.ToString();
                line.Clear().Append(' ', rest);
                empty = true;
            }
            if (!empty) line.Append(' ');
            line.Append(word);
            empty = false;
        }
        if (!empty) yield return line.ToString();
    }

    internal static void Wrapped(IAnsiConsole c, string text, int width, int first, int rest)
    {
        foreach (var l in Wrap(text, width, first, rest)) c.WriteLine(l);
    }
}
