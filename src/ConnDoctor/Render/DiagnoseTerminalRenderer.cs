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
        if (r.Overview != null)
        {
            c.WriteLine();
            Wrapped(c, r.Overview, o.Width, 0, 0);
            if (r.Discovery != null) WriteDiscovery(c, r.Discovery, o.Width);
            foreach (var note in r.Notes) Wrapped(c, "note: " + note, o.Width, 0, 6);
            c.WriteLine();
        }
        SourceNotes.Write(c, r.Sources);
        WriteFindings(c, r, o.Width);
        if (r.AppLogs is { } logs) WriteAppLogs(c, logs, o.Width);
    }

    /// <summary>What discovery found: servers with their configuration, endpoints and logs; clients; other listeners.</summary>
    private static void WriteDiscovery(IAnsiConsole c, DiscoveryEvidence d, int width)
    {
        c.WriteLine();
        c.WriteLine("found:");
        foreach (var s in d.Servers)
        {
            var where = s.ClientEndpoints.Count > 0 ? $" on {string.Join(", ", s.ClientEndpoints)}" : "";
            Wrapped(c, $"- ZooKeeper server pid {s.Pid} ({s.MainClass}{(s.Launcher != null ? ", " + s.Launcher : "")}){where}" +
                       (s.Netns != null ? $" netns {s.Netns}" : "") + (s.AdminEndpoint is { } a ? $", AdminServer {a}" : ""), width, 2, 6);
            if (s.ConfigPath != null) Wrapped(c, $"config {s.ConfigPath} ({s.ConfigFoundBy})" + (s.DynamicConfigPath != null ? $", dynamic {s.DynamicConfigPath}" : ""), width, 6, 8);
            if (s.LogFile != null)
                Wrapped(c, $"log {s.LogFile} ({s.LogFoundBy})" + (s.RotatedLogs.Count > 0 ? $" + {s.RotatedLogs.Count} rotated in the window" : "") +
                           (s.OtherLogs.Count > 0 ? $"; also open, not read: {string.Join(", ", s.OtherLogs)}" : ""), width, 6, 8);
            foreach (var problem in s.Problems) Wrapped(c, "could not: " + problem, width, 6, 8);
        }
        foreach (var k in d.Clients.Take(10))
            Wrapped(c, $"- ZooKeeper client {k.Process}[{k.Pid}]: {k.Connections} connection(s) to {string.Join(", ", k.Servers)}" + (k.Netns != null ? $" netns {k.Netns}" : ""), width, 2, 6);
        if (d.Clients.Count > 10) c.WriteLine($"  ... and {d.Clients.Count - 10} more client process(es)");
        foreach (var l in d.Listeners.Where(l => l.Connections > 0).Take(5))
            Wrapped(c, $"- listener {l.Local} {(l.Process != null ? $"{l.Process}[{l.Pid}]" : "(owner unknown)")}: {l.Connections} connection(s)" +
                       (l.BusiestPeers.Count > 0 ? ", busiest " + string.Join(", ", l.BusiestPeers.Select(p => $"{p.Peer} x{p.Connections}")) : ""), width, 2, 6);
        if (d.Servers.Count == 0 && d.Clients.Count == 0) c.WriteLine("  no ZooKeeper server or client");
        foreach (var problem in d.Problems) Wrapped(c, "note: " + problem, width, 2, 6);
    }

    /// <summary>Which files of the blamed processes were read, and what could not be.</summary>
    private static void WriteAppLogs(IAnsiConsole c, AppLogEvidence logs, int width)
    {
        if (logs.Processes.Count == 0) return;
        c.WriteLine();
        c.WriteLine("own logs of the blamed processes:");
        foreach (var p in logs.Processes)
        {
            foreach (var f in p.Files)
                Wrapped(c, $"- {p.Process}[{p.Pid}] {f.Path} ({f.FoundBy}): " + (f.Problem == null ? $"{Analysis.Format.Bytes(f.BytesRead)} read" : f.Problem), width, 0, 4);
            foreach (var problem in p.Problems) Wrapped(c, $"- {p.Process}[{p.Pid}]: {problem}", width, 0, 4);
        }
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
