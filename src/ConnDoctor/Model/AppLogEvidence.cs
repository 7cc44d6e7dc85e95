namespace ConnDoctor.Model;

/// <summary>One file (or journal) of a process's own log, as it was read.</summary>
public sealed record AppLogFile
{
    public required string Path { get; init; }
    /// <summary>How it was found: "stdout", "stderr", "open descriptor", "log4j/logback target in its working directory", "journal".</summary>
    public required string FoundBy { get; init; }
    public long Size { get; init; }
    /// <summary>Bytes read from its end (bounded per process).</summary>
    public long BytesRead { get; init; }
    /// <summary>Why it was not read, or only in part; null when it was read.</summary>
    public string? Problem { get; init; }
}

/// <summary>An error or exception line that repeats in a process's log: the first line as written, and when it came.</summary>
public sealed record AppLogPattern
{
    /// <summary>What repeats, with numbers, addresses and ids masked ("java.lang.NoClassDefFoundError: org/apache/zookeeper/proto/SetWatches").</summary>
    public required string Signature { get; init; }
    /// <summary>The most recent matching line, as written (control characters replaced, long lines cut).</summary>
    public required string Line { get; init; }
    public required int Count { get; init; }
    public DateTime? First { get; init; }
    public DateTime? Last { get; init; }
    /// <summary>The file it was read from.</summary>
    public required string File { get; init; }
    /// <summary>The times of its occurrences (the log's local time), for lining them up with connection events.</summary>
    public IReadOnlyList<DateTime> Times { get; init; } = [];
    /// <summary>What it means when it is a well-known cause; null otherwise.</summary>
    public string? Meaning { get; init; }
}

/// <summary>What one process's own log says within the window.</summary>
public sealed record AppLogExcerpt
{
    public required int Pid { get; init; }
    public required string Process { get; init; }
    public IReadOnlyList<AppLogFile> Files { get; init; } = [];
    /// <summary>Repeating errors and exceptions, most frequent first (a few).</summary>
    public IReadOnlyList<AppLogPattern> Patterns { get; init; } = [];
    /// <summary>Why nothing, or not everything, could be read ("its open files cannot be listed: run as root").</summary>
    public IReadOnlyList<string> Problems { get; init; } = [];
}

/// <summary>The logs of the processes the findings blame, read after the rules have named them.</summary>
public sealed record AppLogEvidence
{
    public required DateTime Since { get; init; }
    public IReadOnlyList<AppLogExcerpt> Processes { get; init; } = [];
}
