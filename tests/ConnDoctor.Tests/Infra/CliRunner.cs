using System.Diagnostics;
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

    /// <summary>As <see cref="Run"/>, with <paramref name="stdin"/> as what "-" reads (`diagnose --from -`, `zklog -`).</summary>
    public static Result RunWithStdin(byte[] stdin, params string[] args)
    {
        var outStream = new MemoryStream();
        var err = new StringWriter();
        var io = new CliIo(outStream, err, isTerminal: false, terminalWidth: 80) { OpenStdin = () => new MemoryStream(stdin, writable: false) };
        int code = ConnDoctor.Cli.Cli.Run(args, io);
        io.Flush();
        return new Result(code, Encoding.UTF8.GetString(outStream.ToArray()), err.ToString());
    }

    /// <summary>
    /// The published binary (artifacts/conndoctor) as a separate process, <paramref name="stdin"/> written to its stdin
    /// through a pipe and then closed (null: an empty pipe); fails the test after <paramref name="timeoutMs"/> (a hang).
    /// </summary>
    public static Result RunBinary(byte[]? stdin, string[] args, int timeoutMs = 60_000)
    {
        var psi = new ProcessStartInfo(RepoPaths.Of("artifacts", "conndoctor"))
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        Assert.True(File.Exists(psi.FileName), $"{psi.FileName} is missing: run scripts/build.sh (scripts/test.sh does)");
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        var feed = Task.Run(() =>
        {
            try
            {
                if (stdin != null) p.StandardInput.BaseStream.Write(stdin);
                p.StandardInput.Close();
            }
            catch (IOException) { }   // it exited without reading all of it (an error before reading stdin)
        });
        if (!p.WaitForExit(timeoutMs))
        {
            p.Kill(true);
            Assert.Fail($"conndoctor {string.Join(' ', args)} did not exit within {timeoutMs / 1000} s");
        }
        p.WaitForExit();
        feed.Wait();
        return new Result(p.ExitCode, stdout.Result, stderr.Result);
    }
}
