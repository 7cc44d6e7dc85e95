using ConnDoctor.Model;
using ConnDoctor.Pipeline;
using ConnDoctor.Rules;

namespace ConnDoctor.Render.Html;

/// <summary>
/// One entry for every command's `--html FILE`: the page of a report, and writing it. `diagnose` has one of two
/// reports (one host, or several hosts' documents with --from): the overloads pick the renderer, so the command's
/// line is the same either way: <c>HtmlReport.WriteFile(path, HtmlReport.Of(report, evidence))</c> or <c>HtmlReport.Of(fleet)</c>.
/// </summary>
public static class HtmlReport
{
    public static string Of(DiagnoseReport report, Evidence? evidence = null) => DiagnoseHtmlRenderer.Page(report, evidence);
    public static string Of(FleetReport report) => FleetHtmlRenderer.Page(report);
    public static string Of(ZkLogReport report) => ZkLogHtmlRenderer.Page(report);
    public static string Of(PcapReport report) => PcapHtmlRenderer.Page(report);
    public static string Of(WatchReport report) => WatchHtmlRenderer.Page(report);
    public static string Of(ZkReport report) => ZkHtmlRenderer.Page(report);

    /// <summary>
    /// Writes the page to <paramref name="path"/> (through a temporary file beside it, so a reader never sees half a
    /// page). A path that cannot be written is a one-line error.
    /// </summary>
    public static void WriteFile(string path, string page)
    {
        string full;
        try { full = Path.GetFullPath(path); }
        catch (Exception ex) when (ex is ArgumentException or NotSupportedException or PathTooLongException) { throw new UserException($"--html {path}: not a usable path ({ex.Message})"); }
        if (Directory.Exists(full)) throw new UserException($"--html {path} is a directory: give a file name such as report.html");
        string tmp = full + ".tmp-" + Environment.ProcessId;
        try
        {
            using (var f = new FileStream(tmp, FileMode.Create, FileAccess.Write)) HtmlPage.Write(page, f);
            File.Move(tmp, full, overwrite: true);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            try { File.Delete(tmp); } catch (Exception) { /* nothing was written, or it is gone */ }
            throw new UserException($"cannot write --html {path}: {ex.Message}");
        }
    }
}
