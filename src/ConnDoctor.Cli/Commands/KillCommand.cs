using System.CommandLine;
using ConnDoctor.Actions;
using ConnDoctor.Model;
using ConnDoctor.Render;
using ConnDoctor.Sources;

namespace ConnDoctor.Cli.Commands;

/// <summary>`conndoctor kill FILTER`: lists exactly the sockets the filter selects; with --yes destroys them and proves it.</summary>
public static class KillCommand
{
    private static readonly Option<bool> Yes = new("--yes")
    { Description = "Destroy the selected sockets (sock_diag SOCK_DESTROY; root). Without it, only list them" };

    public static Command Create(CliIo io)
    {
        var c = new Command("kill", "Destroy exactly the TCP sockets a filter selects (half-open, stuck, leaked), after showing them; a dry run unless --yes");
        FilterOptions.AddTo(c);
        c.Options.Add(FilterOptions.Idle);
        c.Options.Add(SourceOptions.Netns);
        c.Options.Add(SourceOptions.AllNetns);
        c.Options.Add(Yes);
        c.SetAction(p => Cli.Guard(io, p, () => Run(p, io)));
        return c;
    }

    private static int Run(ParseResult p, CliIo io)
    {
        var filter = FilterOptions.Read(p);
        SocketKill.RequireNarrowFilter(filter); // before the table is read
        var collect = new CollectOptions
        {
            Netns = p.GetValue(SourceOptions.Netns),
            AllNetns = p.GetValue(SourceOptions.AllNetns),
            Backend = SocketBackend.Netlink, // the cookie that names a socket exactly comes only from sock_diag
            StateMask = TcpStates.AllMask,   // every state, so the check after --yes sees every other socket too
        };
        if (collect.Netns != null && collect.AllNetns) throw new UserException("--netns and --all-netns exclude each other", (int)ExitCode.Usage);

        var arguments = Analysis.KillCommand.Arguments(filter);
        var plan = SocketKill.Plan(SocketCollector.Collect(collect), filter, string.Join(' ', arguments));
        var report = p.GetValue(Yes) && plan.Targets.Count > 0 ? SocketKill.Execute(plan, collect) : plan;
        if (p.GetValue(GlobalOptions.Json)) KillJsonRenderer.Render(report, arguments, io.OutStream);
        else KillTerminalRenderer.Render(report, io.Out, OutputFor.Read(p, io));
        return report.DryRun || report.TargetsGone == report.Targets.Count ? (int)ExitCode.Ok : (int)ExitCode.Error;
    }
}
