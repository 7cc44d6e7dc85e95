using System.CommandLine;
using ConnDoctor.Render;
using ConnDoctor.Render.Html;
using ConnDoctor.Rules;
using ConnDoctor.Sources.Watch;

namespace ConnDoctor.Cli.Commands;

/// <summary>`conndoctor watch`: connection churn per process, live, then the findings.</summary>
public static class WatchCommand
{
    private static readonly Option<string> Interval = new("--interval")
    { Description = "How often the view is refreshed (and, in snapshot mode, the socket table read): e.g. 500ms, 1s, 5s", DefaultValueFactory = _ => "1s", HelpName = "DURATION" };
    private static readonly Option<string?> Duration = new("--duration")
    { Description = "Stop after this long and diagnose (default: run until Ctrl-C)", HelpName = "DURATION" };
    private static readonly Option<string> Mode = new("--mode")
    { Description = "Event source: trace (kernel tracepoints through tracefs; root), snapshot (socket-table diffing), auto (trace if possible)", DefaultValueFactory = _ => "auto", HelpName = "auto|trace|snapshot" };

    public static Command Create(CliIo io)
    {
        Mode.AcceptOnlyFromAmong("auto", "trace", "snapshot");
        var c = new Command("watch", "Watch connections open and close, per process and remote endpoint (even ones that live microseconds), then diagnose");
        c.Options.Add(Interval);
        c.Options.Add(Duration);
        c.Options.Add(Mode);
        FilterOptions.AddTo(c);
        SourceOptions.AddTo(c);
        FailOnOption.AddTo(c);
        HtmlOption.AddTo(c);
        c.SetAction(p => Cli.Guard(io, p, () => Run(p, io)));
        return c;
    }

    private static int Run(ParseResult p, CliIo io)
    {
        var interval = Durations.Parse(p.GetValue(Interval)!, "--interval");
        if (interval < TimeSpan.FromMilliseconds(100)) throw new UserException("--interval must be at least 100ms", (int)ExitCode.Usage);
        TimeSpan? duration = p.GetValue(Duration) is { } d ? Durations.Parse(d, "--duration") : null;
        if (duration == TimeSpan.Zero) throw new UserException("--duration needs a length above zero, e.g. 30s (leave it out to watch until Ctrl-C)", (int)ExitCode.Usage);
        var filter = FilterOptions.Read(p);
        var collect = SourceOptions.Read(p, new Analysis.SocketFilter());
        if (!collect.IsLiveProc) throw new UserException("watch reads the live kernel; --proc-root cannot be used with it", (int)ExitCode.Usage);
        var options = new WatchOptions
        {
            Interval = interval,
            Duration = duration,
            Mode = p.GetValue(Mode) switch { "trace" => WatchModeChoice.Trace, "snapshot" => WatchModeChoice.Snapshot, _ => WatchModeChoice.Auto },
            Collect = collect,
            Filter = filter,
        };
        bool json = p.GetValue(GlobalOptions.Json);
        var output = OutputFor.Read(p, io);

        // Ctrl-C and SIGTERM end the watch normally: the trace instance is removed and the findings printed.
        using var stop = new StopSignals();
        Action<WatchTick>? onTick = json ? null : t => WatchTerminalRenderer.Tick(t, io.Out, output, io.IsTerminal);
        var evidence = WatchSource.Run(options, onTick, stop.Token);
        var report = WatchReport.Build(evidence, new RuleOptions());
        HtmlOption.Write(p, () => HtmlReport.Of(report));
        if (json) WatchJsonRenderer.Render(report, io.OutStream);
        else
        {
            StopSignals.EndLiveView(io);
            WatchTerminalRenderer.Render(report, io.Out, output);
        }
        return FailOnOption.ExitCodeFor(p, report.Diagnosis.Worst);
    }
}
