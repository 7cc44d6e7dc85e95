using ConnDoctor.Model;
using ConnDoctor.Rules;

namespace ConnDoctor.Render.Html;

/// <summary>
/// The parts every HTML report shares, in the order a reader wants them: the summary (what is wrong, who, since when,
/// what to do), one section per finding (evidence, cause, remedy, each source's part), then the sources and what was
/// missing. Ids are stable: finding-1, finding-2 ... in the report's order (worst first).
/// </summary>
public static class ReportSections
{
    public static string SeverityClass(Severity s) => s switch { Severity.Critical => "critical", Severity.Warning => "warning", _ => "info" };

    public static string SeverityLabel(Severity s) => s switch { Severity.Critical => "CRITICAL", Severity.Warning => "WARNING", _ => "INFO" };

    /// <summary>"2 critical, 1 warning" or "no problems found".</summary>
    public static string Counts(IReadOnlyList<Finding> findings) =>
        findings.Count == 0 ? "no problems found" : string.Join(", ",
            new[] { Severity.Critical, Severity.Warning, Severity.Info }.Select(s => (s, n: findings.Count(f => f.Severity == s)))
                .Where(x => x.n > 0).Select(x => $"{x.n} {DiagnoseJsonRenderer.SeverityName(x.s)}"));

    /// <summary>
    /// The summary box. <paramref name="since"/> is when the trouble shows first in the evidence (the first refusal, the
    /// start of the storm), or the span the evidence covers; <paramref name="extra"/> adds facts (log span, capture length).
    /// </summary>
    public static void Summary(HtmlWriter w, DiagnoseReport r, string? since, IEnumerable<(string Term, string Value)>? extra = null, string idPrefix = "",
        string? nothingFound = null)
    {
        var worst = r.Worst;
        string cls = worst switch { Severity.Critical => "critical", Severity.Warning => "warning", Severity.Info => "info", _ => "ok" };
        w.Open("section", ("class", "summary " + cls), ("id", idPrefix + "summary"));
        w.El("h2", "Summary");
        var serious = r.Findings.Where(f => f.Severity >= Severity.Warning).ToList();
        w.El("p", r.Findings.Count == 0 ? nothingFound ?? "No problems found." : $"{Counts(r.Findings)}: " + string.Join("; ", (serious.Count > 0 ? serious : r.Findings.ToList()).Take(3).Select(f => f.Summary)) +
            (Math.Max(serious.Count, 1) > 3 ? " ..." : ""), "verdict");
        if (r.Overview != null) w.El("p", r.Overview);
        w.Raw("<dl class=\"facts\">");
        var who = serious.Select(f => f.Subject.ToString()).Where(s => s.Length > 0).Distinct().Take(5).ToList();
        if (who.Count > 0) w.Fact("who", string.Join("; ", who));
        w.Fact("since", since);
        foreach (var (term, value) in extra ?? []) w.Fact(term, value);
        w.Raw("</dl>");
        if (serious.Count > 0)
        {
            w.El("p", "What to do", "label");
            w.Raw("<ol>");
            foreach (var f in serious.Take(5))
            {
                int n = IndexOf(r, f);
                w.Raw("<li>").Open("a", ("href", $"#{idPrefix}finding-{n}")).Text(f.RuleId).Close("a").Raw(": ").Text(f.Remedy).Raw("</li>");
            }
            w.Raw("</ol>");
        }
        w.Close("section");
    }

    private static int IndexOf(DiagnoseReport r, Finding f)
    {
        for (int i = 0; i < r.Findings.Count; i++) if (ReferenceEquals(r.Findings[i], f)) return i + 1;
        return 0;
    }

    /// <summary>One section per finding, worst first, then the rules that could not run.</summary>
    public static void Findings(HtmlWriter w, DiagnoseReport r, string idPrefix = "", string heading = "Findings")
    {
        w.Open("section", ("id", idPrefix + "findings")).El("h2", heading);
        if (r.Findings.Count == 0) w.El("p", "No findings.");
        for (int i = 0; i < r.Findings.Count; i++) Finding(w, r.Findings[i], $"{idPrefix}finding-{i + 1}");
        w.Close("section");
    }

    public static void Finding(HtmlWriter w, Finding f, string id)
    {
        string cls = SeverityClass(f.Severity);
        w.Open("section", ("class", "finding " + cls), ("id", id), ("data-rule", f.RuleId));
        w.Raw("<h3>").Open("span", ("class", "sev " + cls)).Text(SeverityLabel(f.Severity)).Close("span")
         .Open("code").Text(f.RuleId).Close("code").Raw(" ").Text(f.Subject.ToString()).Raw("</h3>");
        w.El("p", f.Summary);
        if (f.Subject.CommandLine != null) w.Raw("<p class=\"label\">command</p>").El("pre", f.Subject.CommandLine);
        if (f.Parts.Count > 0)
        {
            w.El("p", "Seen by", "label");
            var t = new HtmlTable(w).Head("source", "host", "what it saw", "evidence");
            foreach (var p in f.Parts) t.Row(p.Source, p.Host, p.Summary, string.Join("\n", p.Evidence).Replace("\n", " | "));
            t.End();
        }
        else if (f.Evidence.Count > 0)
        {
            w.El("p", "Evidence", "label").Raw("<ul>");
            foreach (var line in f.Evidence) w.El("li", line);
            w.Raw("</ul>");
        }
        w.El("p", "Cause", "label").El("p", f.Cause);
        w.El("p", "Remedy", "label").El("p", f.Remedy);
        w.Close("section");
    }

    /// <summary>How each source fared and what was missing: sources not simply ok, rules that lacked evidence or failed.</summary>
    public static void Sources(HtmlWriter w, IEnumerable<SourceStatus> sources, IEnumerable<RuleOutcome> rules, IEnumerable<string>? notes = null, string idPrefix = "")
    {
        w.Open("section", ("id", idPrefix + "sources")).El("h2", "Sources and what was missing");
        var t = new HtmlTable(w).Head("source", "state", "#items", "#seconds", "reason");
        foreach (var s in sources)
            t.Row(s.Source, SourceStatus.StateName(s.State), s.Items, Math.Round(s.Duration.TotalSeconds, 3), s.Reason);
        t.End();
        var missing = rules.Where(x => x.State != RuleState.Ran).ToList();
        var notesList = notes?.ToList() ?? [];
        if (missing.Count > 0 || notesList.Count > 0)
        {
            w.Raw("<ul>");
            foreach (var x in missing)
                w.Raw("<li>").Open("code").Text(x.RuleId).Close("code").Text($": {(x.State == RuleState.Failed ? "failed" : "not enough evidence")}: {x.Reason}").Raw("</li>");
            foreach (var n in notesList) w.El("li", n);
            w.Raw("</ul>");
        }
        else w.El("p", "Every rule that applies had the evidence it needs.", "dim");
        w.Close("section");
    }

    public static string Time(DateTimeOffset t) => t.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss", System.Globalization.CultureInfo.InvariantCulture) + " UTC";
}
