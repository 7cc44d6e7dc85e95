using System.CommandLine;
using ConnDoctor.Cli.Commands;

namespace ConnDoctor.Cli;

/// <summary>The thin shell: parse, call the library, render, map errors to one line and an exit code.</summary>
public static class Cli
{
    public static int Run(string[] args, CliIo io)
    {
        var root = new RootCommand("conndoctor: finds out why TCP connections misbehave (ZooKeeper, HTTP, any TCP service) and says why, with evidence");
        root.Options.Add(GlobalOptions.Json);
        root.Options.Add(GlobalOptions.Wide);
        root.Options.Add(GlobalOptions.Verbose);
        root.Subcommands.Add(SocketsCommand.Create(io));
        root.Subcommands.Add(DiagnoseCommand.Create(io));
        root.Subcommands.Add(CollectCommand.Create(io));
        root.Subcommands.Add(ZkLogCommand.Create(io));
        root.Subcommands.Add(PcapCommand.Create(io));
        root.Subcommands.Add(WatchCommand.Create(io));
        root.Subcommands.Add(ZkCommand.Create(io));
        root.Subcommands.Add(KillCommand.Create(io));
        root.Subcommands.Add(AuditCommand.Create(io));
        root.Subcommands.Add(AgentCommand.Create(io));

        var parse = root.Parse(args);
        if (parse.Errors.Count > 0)
        {
            // The most specific error first (an unknown word beats "required command was not provided"), on one line.
            var error = parse.Errors.FirstOrDefault(e => e.Message.Contains("Unrecognized")) ?? parse.Errors[0];
            var message = string.Join(' ', error.Message.Split(['\n', '\r', '\t'], StringSplitOptions.RemoveEmptyEntries).Select(x => x.Trim()));
            io.Err.WriteLine($"conndoctor: {message} (see conndoctor --help)");
            return (int)ExitCode.Usage;
        }
        int code = parse.Invoke(new InvocationConfiguration { Output = io.Out, Error = io.Err, EnableDefaultExceptionHandler = false });
        io.Flush();
        return code;
    }

    /// <summary>Runs a command body: user errors become one line on stderr; anything else too, with the trace under --verbose.</summary>
    public static int Guard(CliIo io, ParseResult p, Func<int> body)
    {
        try
        {
            int code = body();
            io.Flush();
            return code;
        }
        catch (UserException ex)
        {
            TryFlush(io);
            io.Err.WriteLine($"conndoctor: {ex.Message}");
            if (p.GetValue(GlobalOptions.Verbose)) io.Err.WriteLine(ex.ToString());
            return ex.ExitCode;
        }
        catch (IOException ex) when (ex.HResult == 32 || ex.Message.Contains("Broken pipe"))
        {
            return (int)ExitCode.Ok; // the reader (head, less) went away: not an error
        }
        catch (IOException ex)
        {
            // Sources turn their read errors into UserException: what is left is writing the report (a full disk, > /dev/full).
            TryFlush(io);
            io.Err.WriteLine($"conndoctor: cannot write the output: {ex.Message}");
            if (p.GetValue(GlobalOptions.Verbose)) io.Err.WriteLine(ex.ToString());
            return (int)ExitCode.Error;
        }
        catch (Exception ex)
        {
            TryFlush(io);
            io.Err.WriteLine($"conndoctor: internal error: {ex.Message}{(p.GetValue(GlobalOptions.Verbose) ? "" : " (run with --verbose for details)")}");
            if (p.GetValue(GlobalOptions.Verbose)) io.Err.WriteLine(ex.ToString());
            return (int)ExitCode.Error;
        }
    }

    // Flushing what was written before an error must not throw a second error that nothing catches (the output may be
    // the very thing that failed).
    private static void TryFlush(CliIo io)
    {
        try { io.Flush(); }
        catch (IOException) { }
    }
}
