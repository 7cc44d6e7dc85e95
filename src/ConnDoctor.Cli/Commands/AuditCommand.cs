using System.CommandLine;
using ConnDoctor.Render;
using ConnDoctor.Rules;
using ConnDoctor.Sources;

namespace ConnDoctor.Cli.Commands;

/// <summary>`conndoctor audit`: the kernel's TCP settings and a zoo.cfg, each with what it means and what we recommend.</summary>
public static class AuditCommand
{
    private static readonly Option<string?> ZooCfg = new("--zoo-cfg")
    { Description = "Also audit this ZooKeeper configuration file (e.g. /etc/zookeeper/conf/zoo.cfg)", HelpName = "PATH" };

    public static Command Create(CliIo io)
    {
        var c = new Command("audit", "Check the kernel's TCP settings (and a zoo.cfg) that these incidents turn on: what each means, what we recommend");
        c.Options.Add(ZooCfg);
        c.Options.Add(SourceOptions.ProcRoot);
        c.Options.Add(SourceOptions.Netns);
        FailOnOption.AddTo(c);
        c.SetAction(p => Cli.Guard(io, p, () => Run(p, io)));
        return c;
    }

    private static int Run(ParseResult p, CliIo io)
    {
        var collect = new CollectOptions { ProcRoot = p.GetValue(SourceOptions.ProcRoot)!, Netns = p.GetValue(SourceOptions.Netns) };
        if (collect.ProcRoot.Length == 0) throw new UserException("--proc-root needs a directory", (int)ExitCode.Usage);
        // A fixture tree has no namespaces: both would silently audit the tree and ignore the namespace.
        if (collect.Netns != null && !collect.IsLiveProc)
            throw new UserException("--proc-root and --netns exclude each other: a copied tree has no namespaces", (int)ExitCode.Usage);
        var evidence = SettingsCollector.Collect(collect, p.GetValue(ZooCfg));
        var report = new AuditReport(evidence.Settings!, Diagnosis.Run(evidence, new RuleOptions(), AuditRules.Ids));
        if (p.GetValue(GlobalOptions.Json)) AuditJsonRenderer.Render(report, io.OutStream);
        else AuditTerminalRenderer.Render(report, io.Out, OutputFor.Read(p, io));
        return FailOnOption.ExitCodeFor(p, report.Diagnosis.Worst);
    }
}
