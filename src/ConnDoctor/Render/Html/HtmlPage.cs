using System.Text;

namespace ConnDoctor.Render.Html;

/// <summary>
/// The frame of every report: one self-contained page. A Content-Security-Policy forbids the browser any request
/// (no script, style, font or image from anywhere but the page itself), the CSS is inline and reads on a laptop
/// screen and on paper (@media print), and the only script is the few lines that sort tables; without it the page
/// reads the same.
/// </summary>
public static class HtmlPage
{
    public const string Css = """
        :root{--crit:#b3261e;--warn:#9a6700;--info:#1f5fa8;--ok:#2e7d32;--line:#d0d7de;--dim:#57606a}
        *{box-sizing:border-box}
        body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:0 auto;max-width:1100px;padding:16px 24px;color:#1f2328;background:#fff}
        h1{font-size:22px;margin:4px 0}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid var(--line);padding-bottom:4px}h3{font-size:15px;margin:0 0 6px}
        code,pre,.mono{font-family:ui-monospace,"DejaVu Sans Mono",Menlo,Consolas,monospace;font-size:12.5px}
        pre{white-space:pre-wrap;word-break:break-all;background:#f6f8fa;padding:6px 8px;border-radius:4px;margin:4px 0}
        .meta{color:var(--dim);margin:0 0 8px}
        .dim{color:var(--dim)}
        .summary{border:2px solid var(--line);border-radius:6px;padding:10px 14px;margin:12px 0}
        .summary.critical{border-color:var(--crit)}.summary.warning{border-color:var(--warn)}.summary.ok{border-color:var(--ok)}
        .verdict{font-size:16px;font-weight:600;margin:0 0 6px}.summary h2{margin-top:0}
        dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:2px 14px;margin:6px 0}dl.facts dt{color:var(--dim)}dl.facts dd{margin:0}
        .sev{display:inline-block;font-weight:700;font-size:12px;padding:1px 6px;border-radius:3px;color:#fff;margin-right:6px}
        .sev.critical{background:var(--crit)}.sev.warning{background:var(--warn)}.sev.info{background:var(--info)}
        section.finding{border-left:4px solid var(--line);padding:6px 12px;margin:12px 0;break-inside:avoid}
        section.finding.critical{border-color:var(--crit)}section.finding.warning{border-color:var(--warn)}section.finding.info{border-color:var(--info)}
        .label{font-weight:600;margin:6px 0 2px}
        ul{margin:2px 0 4px;padding-left:20px}
        table{border-collapse:collapse;margin:6px 0;width:100%;font-size:13px}
        th,td{border-bottom:1px solid var(--line);padding:3px 8px;text-align:left;vertical-align:top}
        td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
        th{background:#f6f8fa;position:sticky;top:0}
        table.sortable th{cursor:pointer}
        table.sortable th[aria-sort=ascending]::after{content:" \25B2"}table.sortable th[aria-sort=descending]::after{content:" \25BC"}
        figure.chart{margin:10px 0 16px;break-inside:avoid}
        figure.chart figcaption{font-weight:600;margin-bottom:2px}
        figure.chart svg{width:100%;height:auto;display:block}
        svg .grid{stroke:#eaeef2;stroke-width:1}svg .axis,svg .tick{stroke:#8c959f;stroke-width:1}
        svg text{font:11px system-ui,sans-serif;fill:#57606a}svg .ylab{text-anchor:end}
        svg path.series{fill:none;stroke-width:1.6;stroke-linejoin:round}
        svg .marker line{stroke:#b3261e;stroke-width:1;stroke-dasharray:4 3}svg .marker text{fill:#b3261e;font-weight:600}
        ul.legend{list-style:none;padding:0;margin:2px 0;display:flex;flex-wrap:wrap;gap:4px 16px;font-size:12.5px}
        .swatch{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:5px;vertical-align:-1px}
        p.note{color:var(--dim);font-size:12.5px;margin:2px 0}
        .chain{display:flex;flex-wrap:wrap;align-items:stretch;gap:0;margin:10px 0;break-inside:avoid}
        .chain .box{border:1.5px solid #8c959f;border-radius:6px;padding:6px 10px;background:#f6f8fa;max-width:260px;min-width:120px}
        .chain .box .k{font-size:11px;text-transform:uppercase;letter-spacing:.04em;color:var(--dim)}
        .chain .box.cause{border-color:var(--crit);background:#fff5f5}.chain .box.missing{border-style:dashed;color:var(--dim);background:#fff}
        .chain .arrow{align-self:center;font-size:20px;color:#57606a;padding:0 6px}
        footer{margin-top:32px;color:var(--dim);font-size:12px;border-top:1px solid var(--line);padding-top:6px}
        @media print{body{max-width:none;padding:0;font-size:11px}h2{break-after:avoid}th{position:static}table.sortable th::after{content:""}a{color:inherit;text-decoration:none}footer{display:none}}
        """;

    /// <summary>Sorts a table.sortable by the clicked column: by data-v when a cell has it (numbers), else by its text.</summary>
    public const string Script = """
        document.querySelectorAll("table.sortable th").forEach(function(th,col){th.addEventListener("click",function(){
        var tb=th.closest("table").tBodies[0],asc=th.getAttribute("aria-sort")!=="ascending";
        th.parentNode.querySelectorAll("th").forEach(function(o){o.removeAttribute("aria-sort")});th.setAttribute("aria-sort",asc?"ascending":"descending");
        function key(r){var c=r.cells[col];if(!c)return "";var v=c.getAttribute("data-v");return v!==null?parseFloat(v):c.textContent}
        Array.from(tb.rows).sort(function(a,b){var x=key(a),y=key(b);var d=(typeof x==="number"&&typeof y==="number")?x-y:String(x).localeCompare(String(y));return asc?d:-d}).forEach(function(r){tb.appendChild(r)})})});
        """;

    /// <summary>Writes a whole page: the head, then <paramref name="body"/>, then the footer and the script.</summary>
    public static string Build(string title, string subtitle, Action<HtmlWriter> body)
    {
        var w = new HtmlWriter();
        w.Raw("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
         .Raw("<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n")
         .Raw("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n")
         .Raw("<meta name=\"generator\" content=\"conndoctor\">\n")
         .Raw("<title>").Text(title).Raw("</title>\n<style>\n").Raw(Css).Raw("\n</style>\n</head>\n<body>\n<header>\n")
         .El("h1", title).Raw("\n").El("p", subtitle, "meta").Raw("\n</header>\n<main>\n");
        body(w);
        w.Raw("\n</main>\n<footer>Made by conndoctor. One self-contained file: no script, style, font or image is fetched from anywhere; tables sort on a click of their heading.</footer>\n")
         .Raw("<script>\n").Raw(Script).Raw("\n</script>\n</body>\n</html>\n");
        return w.ToString();
    }

    /// <summary>The page as UTF-8 (a lone surrogate was already made U+FFFD by the writer, so nothing is lost here).</summary>
    public static void Write(string page, Stream output)
    {
        var bytes = new UTF8Encoding(false).GetBytes(page);
        output.Write(bytes);
        output.Flush();
    }
}

/// <summary>A table that sorts on a click of a heading (see <see cref="HtmlPage.Script"/>) and reads as a plain table without script.</summary>
public sealed class HtmlTable(HtmlWriter w, string? id = null)
{
    private bool _body;

    /// <summary>The headings; a heading starting with '#' is a number column (right-aligned, sorted by value).</summary>
    public HtmlTable Head(params string[] headings)
    {
        w.Open("table", ("class", "sortable"), ("id", id)).Raw("<thead><tr>");
        foreach (var h in headings)
        {
            bool num = h.StartsWith('#');
            w.Open("th", ("class", num ? "n" : null), ("scope", "col")).Text(num ? h[1..] : h).Close("th");
        }
        w.Raw("</tr></thead><tbody>");
        _body = true;
        return this;
    }

    public HtmlTable Row(params object?[] cells)
    {
        w.Raw("<tr>");
        foreach (var c in cells)
        {
            switch (c)
            {
                case null: w.Raw("<td>-</td>"); break;
                case int or long or double:
                    double v = Convert.ToDouble(c, System.Globalization.CultureInfo.InvariantCulture);
                    string text = c is double d ? d.ToString("0.##", System.Globalization.CultureInfo.InvariantCulture) : Convert.ToString(c, System.Globalization.CultureInfo.InvariantCulture)!;
                    w.Raw($"<td class=\"n\" data-v=\"{v.ToString("R", System.Globalization.CultureInfo.InvariantCulture)}\">").Text(text).Raw("</td>");
                    break;
                case Cell cell:
                    w.Open("td", ("class", cell.Class), ("data-v", cell.SortValue?.ToString("R", System.Globalization.CultureInfo.InvariantCulture))).Text(cell.Text).Close("td");
                    break;
                default: w.El("td", c.ToString()); break;
            }
        }
        w.Raw("</tr>");
        return this;
    }

    public void End()
    {
        if (_body) w.Raw("</tbody></table>");
    }

    /// <summary>A cell with its own text, sort value and class (a time shown as text, sorted as a number).</summary>
    public sealed record Cell(string Text, double? SortValue = null, string? Class = null);
}
