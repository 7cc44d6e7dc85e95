namespace ConnDoctor.Model;

/// <summary>What kind of message a ZooKeeper server log line is; used for counting bytes and blaming clients.</summary>
public enum ZkMessageKind : byte
{
    Other = 0,              // a ZooKeeper message this tool does not interpret
    Accepted,               // Accepted socket connection from /IP:PORT
    EndOfStream,            // caught end of stream exception (3.4) / Unexpected exception + EndOfStreamException (3.5+)
    ClosedNoSession,        // Closed socket connection for client /IP:PORT (no session established for client)
    ClosedWithSession,      // ... which had sessionid 0x...
    Refused,                // Too many connections from /IP - max is N (3.4), or the rate-limited 3.5+ forms
    SessionAttempt,         // Client attempting to establish new session
    SessionEstablished,     // Established session 0x... with negotiated timeout N for client /IP:PORT
    SessionExpired,         // Expiring session 0x..., timeout of Nms exceeded
    FourLetterWord,         // Processing <4lw> command from /IP:PORT: monitoring, never blamed
    Count,
}

public static class ZkMessageKinds
{
    public static string Name(ZkMessageKind k) => k switch
    {
        ZkMessageKind.Accepted => "accepted",
        ZkMessageKind.EndOfStream => "end-of-stream",
        ZkMessageKind.ClosedNoSession => "closed-no-session",
        ZkMessageKind.ClosedWithSession => "closed-with-session",
        ZkMessageKind.Refused => "refused-max-cnxns",
        ZkMessageKind.SessionAttempt => "session-attempt",
        ZkMessageKind.SessionEstablished => "session-established",
        ZkMessageKind.SessionExpired => "session-expired",
        ZkMessageKind.FourLetterWord => "four-letter-word",
        _ => "other",
    };
}

/// <summary>Everything one client IP did, as the server's log tells it.</summary>
public sealed record ZkClientStats
{
    public required NetAddress Ip { get; init; }
    public long Accepted { get; init; }
    public long EndOfStreamNoSession { get; init; }      // session 0x0: the client hung up before a session existed
    public long EndOfStreamWithSession { get; init; }
    public long ClosedNoSession { get; init; }
    public long ClosedWithSession { get; init; }
    public long Refused { get; init; }                   // turned away at maxClientCnxns
    public int? RefusedLimit { get; init; }              // the "max is N" the server printed
    public long SessionAttempts { get; init; }
    public long SessionsEstablished { get; init; }
    public long SessionsExpired { get; init; }           // expiries joined to this IP through the session id
    public long FourLetterWords { get; init; }
    public long PeakPerMinute { get; init; }             // connection attempts (or, when accepts are not logged, ends)
    public DateTime FirstSeen { get; init; }
    public DateTime LastSeen { get; init; }
    public DateTime? FirstRefused { get; init; }
    public DateTime? LastRefused { get; init; }
    /// <summary>Its ends of stream in time order as runs without a session (times: milliseconds since 0001-01-01).</summary>
    public LoopStats? Loop { get; init; }
    /// <summary>Its ends of stream and refusals per minute, in time order (minutes with neither are left out).</summary>
    public IReadOnlyList<ZkClientMinute> Minutes { get; init; } = [];
    /// <summary>Ends and refusals not kept in <see cref="Minutes"/> (past its cap of minutes per client); counted in the totals all the same.</summary>
    public long MinutesDropped { get; init; }
    /// <summary>
    /// The client ports the log named on this IP's most recent connection ends (at most <see cref="ZkClientPort.MaxSample"/>,
    /// in time order, the server's local time): what the cross-host join looks up on the client host's sockets.
    /// </summary>
    public IReadOnlyList<ZkClientPort> Ports { get; init; } = [];

    public long EndsOfStream => EndOfStreamNoSession + EndOfStreamWithSession;

    /// <summary>Connections this IP made that the log shows: accepts when logged, else the connections it ended, plus refusals.</summary>
    public long Connections(bool acceptsLogged) => (acceptsLogged ? Accepted : Math.Max(EndsOfStream, ClosedNoSession + ClosedWithSession)) + Refused;

    /// <summary>Share of this IP's ended connections that never had a session.</summary>
    public double ShareWithoutSession
    {
        get
        {
            long none = Math.Max(EndOfStreamNoSession, ClosedNoSession), with = Math.Max(EndOfStreamWithSession, ClosedWithSession);
            return none + with == 0 ? 0 : (double)none / (none + with);
        }
    }
}

/// <summary>A client port a connection end named ("/10.0.20.141:37713") and the log's local time of that line.</summary>
public readonly record struct ZkClientPort(int Port, DateTime Time)
{
    public const int MaxSample = 64;
}

/// <summary>One client IP's ends of stream and refusals in one minute of the log.</summary>
public readonly record struct ZkClientMinute(DateTime Minute, long EndsOfStream, long Refused);

/// <summary>Lines and bytes of one message kind, for "why is this log 6 GB". Other messages are keyed by their Class@line.</summary>
public sealed record ZkKindStats(string Kind, long Lines, long Bytes);

/// <summary>One minute of the log.</summary>
public sealed record ZkMinute
{
    public required DateTime Minute { get; init; }
    public long Lines { get; init; }
    public long Bytes { get; init; }
    public long Connections { get; init; }      // accepted (or ends when accepts are not logged) + refused
    public long EndsOfStream { get; init; }
    public long Refused { get; init; }
    public long SessionsEstablished { get; init; }
    public long SessionsExpired { get; init; }
}

/// <summary>How one file was read: the layout learned from its first lines (or given with --layout).</summary>
public sealed record ZkFileLayout(string File, string Layout);

/// <summary>One server's lines in a log that mixes several servers' ("[myid:N]" or a container prefix tells them apart).</summary>
public sealed record ZkServerLines(string Server, long Lines, DateTime? First, DateTime? Last);

/// <summary>The analysis of one or more ZooKeeper server log files (a rotated set read in time order).</summary>
public sealed record ZkLogEvidence
{
    public required IReadOnlyList<string> Files { get; init; }
    public long Lines { get; init; }
    public long Bytes { get; init; }
    public long RecognisedLines { get; init; }            // timestamped ZooKeeper lines and their stack traces
    public long UnrecognisedLines { get; init; }
    public IReadOnlyList<string> UnrecognisedSamples { get; init; } = [];
    public long OutsideWindowLines { get; init; }         // skipped by --since/--until
    public bool AcceptsLogged { get; init; }              // 3.4, or 3.5+ at DEBUG: accept lines exist
    public DateTime? First { get; init; }
    public DateTime? Last { get; init; }
    public long SessionsExpiredUnattributed { get; init; } // expiries whose session never appeared with an address
    public long EndsOfStreamUnattributed { get; init; }    // 3.4 ends of stream with no "Closed socket connection" after them
    public required IReadOnlyList<ZkClientStats> Clients { get; init; }
    public required IReadOnlyList<ZkKindStats> Kinds { get; init; }
    public required IReadOnlyList<ZkMinute> Timeline { get; init; }
    public IReadOnlyList<ZkFileLayout> Layouts { get; init; } = [];
    public long LeadingTraceLines { get; init; }          // a stack trace at the top of a file, its message before the file
    public long TimeStepsBack { get; init; }              // times a message was over a minute older than the one before it
    public IReadOnlyList<ZkServerLines> Servers { get; init; } = [];   // listed when the log mixes two or more servers
    public bool TimeOnly { get; init; }                   // a file's layout has no date: the date came from its name or modification time
}
