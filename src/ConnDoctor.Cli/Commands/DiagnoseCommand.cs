using System.CommandLine;
using ConnDoctor.Render;
using ConnDoctor.Rules;
using ConnDoctor.Sources;

namespace ConnDoctor.Cli.Commands;

/// <summary>`conndoctor diagnose`: every available source, every rule, findings worst first.</summary>
public static class DiagnoseCommand
{
    private static readonly IReadOnlyList<string> SocketRules = RuleRegistry.OnSocketTable.Select(r => r.Id).ToList();

    private static readonly Option<string[]> Rule = new("--rule")
    { Description = "Run only these rules: " + string.Join(", ", SocketRules), HelpName = "ID" };
    private static readonly Option<string> Idle = new("--idle")
    { Description = "How long an ESTABLISHED socket may be silent, without keepalive, before it is a half-open suspect (e.g. 90s, 10m, 2h)", DefaultValueFactory = _ => "10m", HelpName = "DURATION" };

    public static Command Create(CliIo io)
    {
        var c = new Command("diagnose", "Read the socket table, join it to processes and report what is wrong, who does it and what to do");
        FailOnOption.AddTo(c);
        c.Options.Add(Rule);
        c.Options.Add(Idle);
        SourceOptions.AddTo(c);
        c.SetAction(p => Cli.Guard(io, p, () => Run(p, io)));
        return c;
    }

    private static int Run(ParseResult p, CliIo io)
    {
        var rules = (p.GetValue(Rule) ?? []).SelectMany(r => r.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToList();
        foreach (var id in rules.Where(id => !SocketRules.Contains(id)))
            throw new UserException(RuleRegistry.Find(id) == null
                ? $"unknown rule '{id}' (diagnose runs: {string.Join(", ", SocketRules)})"
                : $"rule '{id}' does not read the socket table, so diagnose cannot run it (diagnose runs: {string.Join(", ", SocketRules)})", (int)ExitCode.Usage);
        var options = new RuleOptions { Idle = Durations.Parse(p.GetValue(Idle)!, "--idle") };
        var evidence = SocketCollector.Collect(SourceOptions.Read(p, new Analysis.SocketFilter()));
        var report = Diagnosis.Run(evidence, options, rules);
        if (p.GetValue(GlobalOptions.Json)) DiagnoseJsonRenderer.Render(report, io.OutStream);
        else DiagnoseTerminalRenderer.Render(report, io.Out, OutputFor.Read(p, io));
        return FailOnOption.ExitCodeFor(p, report.Worst);
    }
}
