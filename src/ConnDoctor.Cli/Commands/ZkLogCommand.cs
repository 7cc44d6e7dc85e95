using System.CommandLine;
using ConnDoctor.Model;
using ConnDoctor.Render;
using ConnDoctor.Render.Html;
using ConnDoctor.Rules;
using ConnDoctor.Sources.ZkLog;

namespace ConnDoctor.Cli.Commands;

/// <summary>`conndoctor zklog FILE...`: what a ZooKeeper server log says about its clients.</summary>
public static class ZkLogCommand
{
    private static readonly Argument<string[]> Files = new("FILE")
    { Description = "ZooKeeper server log files: plain, .gz, a rotated set (read in time order), or - for stdin", Arity = ArgumentArity.OneOrMore };
    private static readonly Option<string?> Since = new("--since") { Description = "Only lines at or after this time (log's local time: '2024-01-31 12:00' or '2024-01-31T12:00:00')", HelpName = "TIME" };
    private static readonly Option<string?> Until = new("--until") { Description = "Only lines at or before this time", HelpName = "TIME" };
    private static readonly Option<string> Layout = new("--layout")
    {
        Description = "The log's layout: auto (learned from each file's first lines), " + string.Join(", ", ZkLayout.Named.Select(n => n.Name)),
        HelpName = "NAME", DefaultValueFactory = _ => "auto",
    };

    public static Command Create(CliIo io)
    {
        var c = new Command("zklog", "Read ZooKeeper server logs: connections, ends of stream, refusals and sessions per client IP, and why the log is big");
        c.Arguments.Add(Files);
        c.Options.Add(Since);
        c.Options.Add(Until);
        c.Options.Add(Layout);
        FailOnOption.AddTo(c);
        HtmlOption.AddTo(c);
        c.SetAction(p => Cli.Guard(io, p, () => Run(p, io)));
        return c;
    }

    private static int Run(ParseResult p, CliIo io)
    {
        var window = new ZkLogWindow(Time(p.GetValue(Since), "--since"), Time(p.GetValue(Until), "--until"));
        string layoutName = p.GetValue(Layout) ?? "auto";
        var form = ZkLayout.FormOf(layoutName)
                   ?? throw new UserException($"unknown layout '{layoutName}' for --layout: use auto, {string.Join(", ", ZkLayout.Named.Select(n => n.Name))}", (int)ExitCode.Usage);
        var (log, status) = ZkLogReader.Read(p.GetValue(Files)!, window, io.OpenStdin, layout: form);
        var evidence = new Evidence { Statuses = [status], ZkLog = log, CollectedAt = DateTimeOffset.UtcNow };
        var report = new ZkLogReport(log, Diagnosis.Run(evidence, new RuleOptions()));
        HtmlOption.Write(p, () => HtmlReport.Of(report));
        if (p.GetValue(GlobalOptions.Json)) ZkLogJsonRenderer.Render(report, io.OutStream);
        else ZkLogTerminalRenderer.Render(report, io.Out, OutputFor.Read(p, io));
        return FailOnOption.ExitCodeFor(p, report.Diagnosis.Worst);
    }

    internal static DateTime? Time(string? text, string option)
    {
        if (text == null) return null;
        string[] formats = ["yyyy-MM-dd HH:mm:ss", "yyyy-MM-dd HH:mm", "yyyy-MM-ddTHH:mm:ss", "yyyy-MM-ddTHH:mm", "yyyy-MM-dd"];
        if (DateTime.TryParseExact(text.Trim(), formats, System.Globalization.CultureInfo.InvariantCulture, System.Globalization.DateTimeStyles.None, out var t)) return t;
        throw new UserException($"bad time '{text}' for {option}: use the log's local time, e.g. '2024-01-31 12:00' or 2024-01-31T12:00:00", (int)ExitCode.Usage);
    }
}
