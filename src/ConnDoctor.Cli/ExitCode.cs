namespace ConnDoctor.Cli;

/// <summary>Every exit code conndoctor returns (documented in docs/exit-codes in README).</summary>
public enum ExitCode
{
    /// <summary>The command ran (findings below --fail-on, or none).</summary>
    Ok = 0,
    /// <summary>An error: unreadable input, no permission, a source that the command cannot do without.</summary>
    Error = 1,
    /// <summary>The command line is wrong: unknown option, bad value.</summary>
    Usage = 2,
    /// <summary>A finding at or above --fail-on.</summary>
    FindingsAtThreshold = 3,
}
