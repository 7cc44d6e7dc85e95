using ConnDoctor.Model;
using ConnDoctor.Pipeline;
using ConnDoctor.Render.Html;
using ConnDoctor.Rules;

namespace ConnDoctor.Render;

/// <summary>
/// `diagnose --from --html`: the story first, each chain drawn as such (server -> client host -> NAT -> process ->
/// cause, a box each, a dashed box where no document had the link), then the cross-host findings, then each host's own
/// report (its summary, timelines, findings and sources), then notes about the documents.
/// Ids: chain-1..., x-finding-1... for the cross-host findings, host-1-... for each host's parts.
/// </summary>
public static class FleetHtmlRenderer
{
    public static void Render(FleetReport r, Stream output) => HtmlPage.Write(Page(r), output);

    public static string HostName(HostReport h) => h.Identity?.Hostname ?? h.Report.Host;

    public static string Page(FleetReport r)
    {
        var all = r.CrossHostFindings.Concat(r.Hosts.SelectMany(h => h.Report.Findings)).ToList();
        return HtmlPage.Build($"Diagnosis of {r.Hosts.Count} host(s): {ReportSections.Counts(all)}",
            $"conndoctor diagnose --from: {string.Join(", ", r.Hosts.Select(HostName))}; {r.CrossHostFindings.Count} cross-host finding(s)",
            w =>
            {
                Summary(w, r, all);
                if (r.Story.Count > 0)
                {
                    w.Raw("<section id=\"story\">").El("h2", "The story across hosts");
                    for (int i = 0; i < r.Story.Count; i++) Chain(w, r.Story[i], $"chain-{i + 1}");
                    w.Raw("</section>");
                }
                var cross = new DiagnoseReport
                {
                    Host = "all hosts", CollectedAt = r.Hosts.Count > 0 ? r.Hosts.Max(h => h.Report.CollectedAt) : DateTimeOffset.UnixEpoch,
                    Sources = [], Rules = [], Findings = r.CrossHostFindings, Namespaces = [],
                };
                ReportSections.Findings(w, cross, "x-", "Findings across hosts");
                for (int i = 0; i < r.Hosts.Count; i++)
                {
                    var h = r.Hosts[i];
                    string prefix = $"host-{i + 1}-";
                    w.Open("section", ("class", "host"), ("id", $"host-{i + 1}")).El("h2", $"Host {HostName(h)}: {ReportSections.Counts(h.Report.Findings)}");
                    if (h.Identity is { } id)
                        w.El("p", $"boot {id.BootId ?? "?"}; collected {ReportSections.Time(id.CollectionStart)}", "meta");
                    DiagnoseHtmlRenderer.Body(w, h.Report, h.Evidence, prefix);
                    w.Close("section");
                }
                if (r.Notes.Count > 0)
                {
                    w.Raw("<section id=\"notes\">").El("h2", "About the documents").Raw("<ul>");
                    foreach (var n in r.Notes) w.El("li", n);
                    w.Raw("</ul></section>");
                }
            });
    }

    private static void Summary(HtmlWriter w, FleetReport r, List<Finding> all)
    {
        var worst = all.Count == 0 ? (Severity?)null : all.Max(f => f.Severity);
        string cls = worst switch { Severity.Critical => "critical", Severity.Warning => "warning", Severity.Info => "info", _ => "ok" };
        w.Open("section", ("class", "summary " + cls), ("id", "summary")).El("h2", "Summary");
        var lead = r.Story.Count > 0 ? r.Story.Take(3).Select(c => $"{c.Server}: {c.Seen}" + (c.Process != null ? $", from {c.Process}" : "") + (c.Cause != null ? $" ({c.Cause})" : ""))
            : all.Where(f => f.Severity >= Severity.Warning).Take(3).Select(f => f.Summary);
        var leadList = lead.ToList();
        w.El("p", all.Count == 0 ? "No problems found on any host." : $"{ReportSections.Counts(all)}" + (leadList.Count > 0 ? ": " + string.Join("; ", leadList) : ""), "verdict");
        w.Raw("<dl class=\"facts\">");
        w.Fact("hosts", string.Join(", ", r.Hosts.Select(h => $"{HostName(h)} ({ReportSections.Counts(h.Report.Findings)})")));
        var who = r.Story.Where(c => c.Process != null).Select(c => c.Process + (c.ClientHost != null ? " on " + c.ClientHost : "")).Distinct().Take(5).ToList();
        if (who.Count > 0) w.Fact("who", string.Join("; ", who));
        w.Raw("</dl>");
        var todo = r.CrossHostFindings.Select((f, i) => (f, id: $"x-finding-{i + 1}"))
            .Concat(r.Hosts.SelectMany((h, hi) => h.Report.Findings.Select((f, i) => (f, id: $"host-{hi + 1}-finding-{i + 1}"))))
            .Where(x => x.f.Severity >= Severity.Warning).Take(5).ToList();
        if (todo.Count > 0)
        {
            w.El("p", "What to do", "label").Raw("<ol>");
            foreach (var (f, id) in todo) w.Raw("<li>").Open("a", ("href", "#" + id)).Text(f.RuleId).Close("a").Raw(": ").Text(f.Remedy).Raw("</li>");
            w.Raw("</ol>");
        }
        w.Close("section");
    }

    /// <summary>One chain as boxes and arrows; a link no document had is a dashed box saying so.</summary>
    public static void Chain(HtmlWriter w, CrossHostChain c, string id)
    {
        string sev = ReportSections.SeverityClass(c.Severity);
        w.Open("div", ("class", "chain-wrap"), ("id", id), ("data-rule", c.RuleId));
        w.Raw("<p>").Open("span", ("class", "sev " + sev)).Text(ReportSections.SeverityLabel(c.Severity)).Close("span").Open("code").Text(c.RuleId).Close("code").Raw("</p>");
        w.Raw("<div class=\"chain\">");
        Box(w, "server", c.Server, c.Seen, "server");
        Arrow(w);
        Box(w, "client host", c.ClientHost, null, "client-host");
        if (c.Via != null) { Arrow(w); Box(w, "through NAT", c.Via, null, "via"); }
        Arrow(w);
        Box(w, "process", c.Process, c.Pod, "process");
        Arrow(w);
        Box(w, "cause", c.Cause, null, "cause");
        w.Raw("</div></div>");
    }

    private static void Arrow(HtmlWriter w) => w.Raw("<span class=\"arrow\" aria-hidden=\"true\">&#8594;</span>");

    private static void Box(HtmlWriter w, string kind, string? text, string? detail, string role)
    {
        bool missing = text == null;
        w.Open("div", ("class", "box" + (missing ? " missing" : role == "cause" ? " cause" : "")), ("data-link", role));
        w.El("div", kind, "k");
        w.El("div", text ?? "not in any document");
        if (detail != null) w.El("div", detail, "dim");
        w.Raw("</div>");
    }
}
