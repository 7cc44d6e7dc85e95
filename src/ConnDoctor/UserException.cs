namespace ConnDoctor;

/// <summary>
/// An error meant for the user: printed as one line on stderr, without a stack trace unless --verbose.
/// </summary>
public sealed class UserException(string message, int exitCode = 1) : Exception(message)
{
    public int ExitCode { get; } = exitCode;
}
