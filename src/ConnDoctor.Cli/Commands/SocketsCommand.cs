using System.CommandLine;
using ConnDoctor.Analysis;
using ConnDoctor.Render;
using ConnDoctor.Sources;

namespace ConnDoctor.Cli.Commands;

/// <summary>`conndoctor sockets`: the socket table joined to processes, grouped the way an operator reads it.</summary>
public static class SocketsCommand
{
    private static readonly Option<string> GroupByOption = new("--group-by")
    {
        Description = "Rows per process x remote endpoint (process), per remote endpoint (remote), per state (state), or one per socket (none)",
        DefaultValueFactory = _ => "process",
        HelpName = "process|remote|state|none",
    };

    public static Command Create(CliIo io)
    {
        GroupByOption.AcceptOnlyFromAmong("process", "remote", "state", "none");
        var c = new Command("sockets", "List TCP sockets with their owning processes, grouped and ranked");
        FilterOptions.AddTo(c);
        c.Options.Add(FilterOptions.Idle);
        c.Options.Add(GroupByOption);
        SourceOptions.AddTo(c);
        c.SetAction(p => Cli.Guard(io, p, () => Run(p, io)));
        return c;
    }

    private static int Run(ParseResult p, CliIo io)
    {
        var filter = FilterOptions.Read(p);
        var by = p.GetValue(GroupByOption) switch { "remote" => GroupBy.Remote, "state" => GroupBy.State, "none" => GroupBy.None, _ => GroupBy.Process };
        var evidence = SocketCollector.Collect(SourceOptions.Read(p, filter));
        var report = SocketsReport.Build(evidence, filter, by);
        if (p.GetValue(GlobalOptions.Json)) SocketsJsonRenderer.Render(report, io.OutStream);
        else SocketsTerminalRenderer.Render(report, io.Out, OutputFor.Read(p, io));
        return (int)ExitCode.Ok;
    }
}
