using System.Text;
using System.Text.Json;
using ConnDoctor.Cli;

namespace ConnDoctor.Tests.Infra;

/// <summary>Runs the real CLI in-process with its console captured, exactly as a user would see it piped.</summary>
public static class CliRunner
{
    public sealed record Result(int Code, string Stdout, string Stderr)
    {
        public JsonDocument Json() => JsonDocument.Parse(Stdout);
    }

    public static Result Run(params string[] args)
    {
        var outStream = new MemoryStream();
        var err = new StringWriter();
        var io = new CliIo(outStream, err, isTerminal: false, terminalWidth: 80);
        int code = ConnDoctor.Cli.Cli.Run(args, io);
        io.Flush();
        return new Result(code, Encoding.UTF8.GetString(outStream.ToArray()), err.ToString());
    }
}
