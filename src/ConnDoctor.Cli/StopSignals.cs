using System.Runtime.InteropServices;

namespace ConnDoctor.Cli;

/// <summary>
/// Ctrl-C and SIGTERM end a long-running command (watch, zk --watch) normally, through <see cref="Token"/>: it
/// cleans up and still prints what it saw and its findings, instead of the process dying mid-way.
/// </summary>
public sealed class StopSignals : IDisposable
{
    private readonly CancellationTokenSource _cts = new();
    private readonly PosixSignalRegistration _sigint, _sigterm;

    public StopSignals()
    {
        _sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
        _sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
    }

    public CancellationToken Token => _cts.Token;

    private void Stop(PosixSignalContext ctx)
    {
        ctx.Cancel = true;
        _cts.Cancel();
    }

    /// <summary>After a live view: clear it on a terminal, or a blank line between the piped ticks and the report.</summary>
    public static void EndLiveView(CliIo io)
    {
        if (io.IsTerminal) io.Out.Write("\x1b[H\x1b[J");
        else io.Out.WriteLine();
    }

    public void Dispose()
    {
        _sigint.Dispose();
        _sigterm.Dispose();
        _cts.Dispose();
    }
}
