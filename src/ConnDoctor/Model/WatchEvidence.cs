namespace ConnDoctor.Model;

public enum WatchMode { Trace, Snapshot }

/// <summary>Which side ended a connection first (the side that closes first holds the TIME_WAIT).</summary>
public enum ClosedBy : byte { Unknown, Local, Peer, LocalReset, PeerReset }

/// <summary>Why the kernel sent a reset, as far as the tracepoint (or the sequence of states) tells.</summary>
public enum ResetCause : byte { None, UnreadData, NoSocket, Other }

/// <summary>
/// The process (and task, namespace, container, pod) that owns a watched connection, as far as it could be told, read
/// from /proc when the task connects (before it can exit) or from the socket table; one immutable record shared by the
/// connections of one task. Pid is the process (thread group id) and Comm its name, whichever of its threads connected.
/// </summary>
public sealed record ConnectionOwner
{
    public static readonly ConnectionOwner None = new();

    /// <summary>
    /// The owner of a socket of the table: its holder <paramref name="pid"/> and that process's record when it was read,
    /// the namespace's container and pod when the process gives none; no uid for a TIME_WAIT socket (the kernel reports 0).
    /// </summary>
    public static ConnectionOwner OfTableSocket(SocketRecord s, int? pid, ProcessRecord? p, NetnsInfo ns) => new()
    {
        Pid = pid, Comm = p?.Name, CommandLine = string.IsNullOrEmpty(p?.CommandLine) ? null : p.CommandLine,
        Uid = s.State == TcpState.TimeWait ? null : s.Uid, NetnsInode = ns.Inode, Netns = ns.Label,
        Container = p?.ContainerId ?? ns.Container, Pod = p?.PodUid ?? ns.PodUid,
    };
    public int? Pid { get; init; }
    public string? Comm { get; init; }
    /// <summary>The process's command line (secrets masked).</summary>
    public string? CommandLine { get; init; }
    /// <summary>The thread that connected, when it is not the main thread (Pid).</summary>
    public int? Tid { get; init; }
    /// <summary>That thread's name, when known.</summary>
    public string? Thread { get; init; }
    /// <summary>The task had exited before /proc could be read: only the trace's ids and command name are known.</summary>
    public bool Exited { get; init; }
    /// <summary>Not even the thread group id was known (an exited thread the trace gave no tgid for): Pid is the trace's task id.</summary>
    public bool PidIsTask { get; init; }
    public uint? Uid { get; init; }
    public ulong NetnsInode { get; init; }
    public string? Netns { get; init; }
    public string? Container { get; init; }
    public string? Pod { get; init; }
}

/// <summary>
/// One connection seen during a watch, from the side of the process that owns it. Times are milliseconds
/// from the start of the watch; Opened is null for a connection that was already open when the watch began.
/// </summary>
public sealed class WatchConnection
{
    public required NetEndpoint Local { get; init; }
    public required NetEndpoint Remote { get; init; }
    /// <summary>Accepted from a listener (server side) rather than connect()ed.</summary>
    public bool Passive { get; init; }
    /// <summary>
    /// Who owns it, shared by every connection of one task (a client in a reconnect loop makes a thousand a second, each
    /// record carrying one reference instead of eleven fields). Never changed in place: the setters below put a new one.
    /// </summary>
    public ConnectionOwner Owner { get; set; } = ConnectionOwner.None;
    /// <summary>The owner process (thread group id), never a thread's id; the trace's task id only when <see cref="PidIsTask"/>.</summary>
    public int? Pid { get => Owner.Pid; set { if (Owner.Pid != value) Owner = Owner with { Pid = value }; } }
    /// <summary>The process's name (/proc/PID/comm of the thread group leader).</summary>
    public string? Comm { get => Owner.Comm; set { if (Owner.Comm != value) Owner = Owner with { Comm = value }; } }
    /// <summary>The process's command line (secrets masked), when it could be read.</summary>
    public string? CommandLine { get => Owner.CommandLine; set { if (Owner.CommandLine != value) Owner = Owner with { CommandLine = value }; } }
    /// <summary>The thread that called connect(), when it is not the process's main thread (a Java client's send thread).</summary>
    public int? Tid { get => Owner.Tid; set { if (Owner.Tid != value) Owner = Owner with { Tid = value }; } }
    /// <summary>That thread's name ("main-SendThread"), when known.</summary>
    public string? Thread { get => Owner.Thread; set { if (Owner.Thread != value) Owner = Owner with { Thread = value }; } }
    /// <summary>The connecting task had exited before /proc could be read: the owner is named from the trace alone.</summary>
    public bool OwnerExited { get => Owner.Exited; set { if (Owner.Exited != value) Owner = Owner with { Exited = value }; } }
    /// <summary>Its thread group was not known either: <see cref="Pid"/> is the trace's task id, possibly a thread's.</summary>
    public bool PidIsTask { get => Owner.PidIsTask; set { if (Owner.PidIsTask != value) Owner = Owner with { PidIsTask = value }; } }
    public uint? Uid { get => Owner.Uid; set { if (Owner.Uid != value) Owner = Owner with { Uid = value }; } }
    public ulong NetnsInode { get => Owner.NetnsInode; set { if (Owner.NetnsInode != value) Owner = Owner with { NetnsInode = value }; } }
    public string? Netns { get => Owner.Netns; set { if (Owner.Netns != value) Owner = Owner with { Netns = value }; } }
    public string? Container { get => Owner.Container; set { if (Owner.Container != value) Owner = Owner with { Container = value }; } }
    public string? Pod { get => Owner.Pod; set { if (Owner.Pod != value) Owner = Owner with { Pod = value }; } }
    public double? OpenedMs { get; set; }
    /// <summary>
    /// Carried across a cut of the agent's trace (OpenedMs null: its open was counted in an earlier segment): when it was
    /// opened, on this segment's clock (negative). Null when it was already open when the watch began. Lets a segment
    /// measure the whole lifetime of a connection that spans the cut without the earlier segment's record.
    /// </summary>
    public double? OpenedBeforeMs { get; set; }
    public double FirstSeenMs { get; set; }
    public double? ClosedMs { get; set; }
    public ClosedBy ClosedBy { get; set; }
    public TcpState State { get; set; }
    public int ResetsSent { get; set; }
    public int ResetsReceived { get; set; }
    public ResetCause ResetCause { get; set; }
    /// <summary>Bytes queued unread when a snapshot last saw it (snapshot mode) .</summary>
    public uint LastRecvQueue { get; set; }

    public double? LifetimeMs => ClosedMs is double c ? c - (OpenedMs ?? FirstSeenMs) : null;

    /// <summary>Every field copied (a record carried into the next segment, or put on the window's clock): the caller sets what differs.</summary>
    public WatchConnection Copy() => (WatchConnection)MemberwiseClone();
}

/// <summary>Churn of one process towards one remote endpoint (or, for a server, from one client address to one local port).</summary>
public sealed record WatchRow
{
    /// <summary>Watch sees no payload: a connection closed sooner than this counts as failed in <see cref="Loop"/>.</summary>
    public const double ShortMs = 1000;

    public int? Pid { get; init; }
    public string? Process { get; init; }
    // Pid is the process (thread group id): the connections of all its threads are one row.
    /// <summary>The process's command line (secrets masked), when it could be read.</summary>
    public string? CommandLine { get; init; }
    /// <summary>Names of the threads other than the main one that connected ("main-SendThread"), at most a few.</summary>
    public IReadOnlyList<string> Threads { get; init; } = [];
    /// <summary>The owner had exited before /proc could be read: named by the trace's ids and command name only.</summary>
    public bool OwnerExited { get; init; }
    /// <summary>Not even its thread group id was known: <see cref="Pid"/> is the trace's task id, possibly a thread's.</summary>
    public bool PidIsTask { get; init; }
    public uint? Uid { get; init; }
    public string? Netns { get; init; }
    public string? Container { get; init; }
    public string? Pod { get; init; }
    public bool Passive { get; init; }
    /// <summary>"10.0.0.5:2181" for a client row; ":2181 <- 10.0.0.9" for a server row (the clients' address).</summary>
    public required string Endpoint { get; init; }
    public int RemotePort { get; init; }
    public int LocalPort { get; init; }
    public int Opens { get; init; }
    public int Closes { get; init; }
    public double OpensPerSec { get; init; }
    public double ClosesPerSec { get; init; }
    public double? MedianLifetimeMs { get; init; }
    public double? P99LifetimeMs { get; init; }
    public int ClosedByLocal { get; init; }

    /// <summary>
    /// A named process's outbound connections to <paramref name="endpoint"/> that it closed first, in the namespace labelled
    /// <paramref name="netns"/> (a row of no namespace matches any): the producer of TIME_WAIT towards that endpoint there.
    /// </summary>
    public bool ProducesTimeWaitTo(string endpoint, string netns) =>
        !Passive && ClosedByLocal > 0 && Pid != null && Endpoint == endpoint && (Netns == null || Netns == netns);
    public int ClosedByPeer { get; init; }
    public int ResetsSent { get; init; }
    public int ResetsReceived { get; init; }
    public int UnreadDataResets { get; init; }
    public IReadOnlyDictionary<TcpState, int> StatesNow { get; init; } = new Dictionary<TcpState, int>();
    /// <summary>Its closed connections in opening order as runs of short ones (under a second; watch sees no payload). Times: ms from the start.</summary>
    public LoopStats? Loop { get; init; }
    /// <summary>
    /// What the agent's sliding window needs to join this row with the same row of other segments exactly (first and last
    /// times, a mergeable lifetime summary, the loop tracker, the local closes of the last minute, the counters' events):
    /// set by the watch's book, not part of the evidence document.
    /// </summary>
    public WatchRowTally? Tally { get; init; }
}

/// <summary>CLOSE_WAIT held by one process at the start and the end of the watch.</summary>
public sealed record CloseWaitTrend(int? Pid, string? Process, string? Netns, int AtStart, int AtEnd, double Seconds)
{
    public double PerMinute => Seconds > 0 ? (AtEnd - AtStart) * 60.0 / Seconds : 0;
}

/// <summary>What `conndoctor watch` saw: connections with their owners, per-process aggregates, resets, and how well it could see.</summary>
public sealed record WatchEvidence
{
    public required WatchMode Mode { get; init; }
    public string? ModeReason { get; init; }
    public required DateTimeOffset StartedAt { get; init; }
    public required double Seconds { get; init; }
    public required double IntervalSeconds { get; init; }
    public IReadOnlyList<WatchConnection> Connections { get; init; } = [];
    public IReadOnlyList<WatchRow> Rows { get; init; } = [];
    public IReadOnlyList<CloseWaitTrend> CloseWait { get; init; } = [];
    public long EventsRead { get; init; }
    /// <summary>Events the kernel dropped because we read too slowly (ring buffer overrun); null when unknown.</summary>
    public long? EventsLost { get; init; }
    public int MalformedLines { get; init; }
    /// <summary>Connections whose owner is a best guess: several processes connected to one destination at once and the join ran in softirq.</summary>
    public int GuessedOwners { get; init; }
    /// <summary>Share of the connections that could be given an owner process (0..1).</summary>
    public double AttributedShare { get; init; }
    public bool AllNetns { get; init; }
    /// <summary>The followed connections at each tick of the watch (states now, opened and closed since the tick before), in time order.</summary>
    public IReadOnlyList<WatchSample> Samples { get; init; } = [];
}

/// <summary>
/// The followed connections at one tick, all owners together: opened and closed since the previous tick, and how many
/// were in each state then (TIME_WAIT counts the local closes of the last minute, as the rows do).
/// </summary>
public readonly record struct WatchSample(double Seconds, int Opened, int Closed, int Established, int TimeWait, int CloseWait, int Other);
