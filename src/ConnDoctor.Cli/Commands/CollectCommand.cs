using System.CommandLine;
using System.Diagnostics;
using ConnDoctor.Documents;
using ConnDoctor.Pipeline;

namespace ConnDoctor.Cli.Commands;

/// <summary>
/// `conndoctor collect`: everything `diagnose` reads on this host, with the host's identity and the logs of the
/// processes that a rule flags or that churn the most, into one evidence document (docs/collect.md) for
/// `diagnose --from` here or on another machine, alone or with other hosts' documents.
/// </summary>
public static class CollectCommand
{
    private static readonly Option<string?> Output = new("--output", "-o")
    { Description = "Write the document to this file instead of stdout (a name ending in .gz is gzip'd)", HelpName = "FILE" };
    private static readonly Option<bool> NoRedact = new("--no-redact")
    { Description = "Keep command-line arguments that look like secrets (password=, token, -Dsecret..., user:pass@ in URLs); they are masked by default" };

    public static Command Create(CliIo io)
    {
        var c = new Command("collect", "Gather everything diagnose reads on this host (sockets, processes, ZooKeeper's log and poll, settings, a watch, app logs) with the host's identity into one evidence document for diagnose --from");
        foreach (var o in (Option[])[DiagnoseCommand.Since, DiagnoseCommand.ZkLog, DiagnoseCommand.Zk, DiagnoseCommand.Watch, DiagnoseCommand.Idle, DiagnoseCommand.NoAppLogs, Output, NoRedact])
            c.Options.Add(o);
        SourceOptions.AddTo(c);
        c.SetAction(p => Cli.Guard(io, p, () => Run(p, io)));
        return c;
    }

    private static int Run(ParseResult p, CliIo io)
    {
        var options = DiagnoseCommand.ReadOptions(p);
        var output = p.GetValue(Output);
        bool redact = !p.GetValue(NoRedact);
        if (output != null && Directory.Exists(output)) throw new UserException($"--output {output} is a directory: give a file name", (int)ExitCode.Usage);
        if (output != null && Path.GetDirectoryName(Path.GetFullPath(output)) is { } dir && !Directory.Exists(dir))
            throw new UserException($"--output {output}: no such directory {dir}", (int)ExitCode.Usage);
        var sw = Stopwatch.StartNew();
        using var stop = new StopSignals();
        if (options.Host.Watch is TimeSpan w && io.IsTerminal) { io.Err.WriteLine($"watching connections for {Analysis.Format.Duration(w)} (Ctrl-C ends it early), then reading every source ..."); io.Err.Flush(); }
        var evidence = HostCollection.Collect(options, redact, null, stop.Token);
        if (output == null)
        {
            EvidenceDocumentWriter.Write(evidence, io.OutStream, redact);
            return (int)ExitCode.Ok;
        }
        try { EvidenceDocumentWriter.WriteFile(evidence, output, redact); }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new UserException($"--output {output}: {ex.Message}", (int)ExitCode.Error);
        }
        io.Err.WriteLine($"wrote {output}: {evidence.Sockets.Count} sockets, {evidence.Processes.Count} processes, " +
                         $"{evidence.AppLogs?.Processes.Count ?? 0} app log(s), {new FileInfo(output).Length / 1048576.0:0.0} MB in {sw.Elapsed.TotalSeconds:0.0} s" +
                         (redact ? "" : " (not redacted: command lines as the processes have them)"));
        return (int)ExitCode.Ok;
    }
}
