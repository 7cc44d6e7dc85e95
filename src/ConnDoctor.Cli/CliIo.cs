namespace ConnDoctor.Cli;

/// <summary>
/// Where a command writes. Injected so tests read exactly what a user would see. JSON goes to the byte
/// stream, text to the writer over the same stream.
/// </summary>
public sealed class CliIo(Stream outStream, TextWriter err, bool isTerminal, int terminalWidth)
{
    public Stream OutStream { get; } = outStream;
    public TextWriter Out { get; } = new StreamWriter(outStream, new System.Text.UTF8Encoding(false), 64 * 1024, leaveOpen: true) { AutoFlush = false };
    public TextWriter Err { get; } = err;
    public bool IsTerminal { get; } = isTerminal;
    public int TerminalWidth { get; } = terminalWidth;
    /// <summary>Opens what "-" reads (`diagnose --from -`, `zklog -`): the process's stdin, or what a test gives.</summary>
    public Func<Stream> OpenStdin { get; init; } = Console.OpenStandardInput;
    /// <summary>Stdin is a terminal: "-" would wait for typing, so the commands that read it say so instead.</summary>
    public bool StdinIsTerminal { get; init; }

    public static CliIo FromConsole()
    {
        bool tty = !Console.IsOutputRedirected;
        int width = 80;
        if (tty) { try { width = Math.Max(40, Console.WindowWidth); } catch (IOException) { } }
        return new CliIo(new BufferedStream(Console.OpenStandardOutput(), 64 * 1024), Console.Error, tty, width) { StdinIsTerminal = !Console.IsInputRedirected };
    }

    public void Flush()
    {
        Out.Flush();
        OutStream.Flush();
    }
}
