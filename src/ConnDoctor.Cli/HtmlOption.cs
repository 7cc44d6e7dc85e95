using System.CommandLine;
using ConnDoctor.Render.Html;

namespace ConnDoctor.Cli;

/// <summary>`--html FILE` on diagnose, zklog, pcap, watch and zk: the report as one self-contained page, besides the usual output.</summary>
public static class HtmlOption
{
    public static readonly Option<string?> Html = new("--html")
    { Description = "Also write the report as one self-contained HTML page (summary, timelines, findings; no network needed to view it) to FILE", HelpName = "FILE" };

    public static void AddTo(Command c) => c.Options.Add(Html);

    /// <summary>Writes the page when --html was given; the page is built only then.</summary>
    public static void Write(ParseResult p, Func<string> page)
    {
        if (p.GetValue(Html) is { } path) HtmlReport.WriteFile(path, page());
    }
}
