namespace ConnDoctor.Model;

/// <summary>A ZooKeeper server's role in its ensemble, as `srvr` / the AdminServer's monitor say it.</summary>
public enum ZkServerMode : byte { Unknown, Standalone, Leader, Follower, Observer, ReadOnly }

public static class ZkServerModes
{
    public static string Name(ZkServerMode m) => m switch
    {
        ZkServerMode.Standalone => "standalone",
        ZkServerMode.Leader => "leader",
        ZkServerMode.Follower => "follower",
        ZkServerMode.Observer => "observer",
        ZkServerMode.ReadOnly => "read-only",
        _ => "unknown",
    };

    public static ZkServerMode Parse(ReadOnlySpan<char> text) => text.Trim() switch
    {
        "standalone" => ZkServerMode.Standalone,
        "leader" => ZkServerMode.Leader,
        "follower" => ZkServerMode.Follower,
        "observer" => ZkServerMode.Observer,
        "read-only" or "ro" => ZkServerMode.ReadOnly,
        _ => ZkServerMode.Unknown,
    };
}

/// <summary>One client connection as a ZooKeeper server lists it (`cons` or the AdminServer's /commands/connections).</summary>
public sealed record ZkConnection
{
    public required NetEndpoint Client { get; init; }
    /// <summary>0: no session (the client has not sent, or the server not yet accepted, a ConnectRequest).</summary>
    public long SessionId { get; init; }
    /// <summary>Packets received from / sent to the client on this connection (since it opened or the last `crst`).</summary>
    public long Received { get; init; }
    public long Sent { get; init; }
    public long Queued { get; init; }
    public string? LastOperation { get; init; }
    /// <summary>When the session's connection was established, the server's wall clock (ms since 1970).</summary>
    public long? EstablishedUnixMs { get; init; }
    public int? SessionTimeoutMs { get; init; }
    /// <summary>The server's monotonic clock (ms) when it last answered this client.</summary>
    public long? LastResponseMs { get; init; }
    /// <summary>How long ago that was, when the server's clock could be read (it runs on this host) or estimated.</summary>
    public long? LastResponseAgeMs { get; init; }

    public bool HasSession => SessionId != 0;

    /// <summary>
    /// A session connection whose client has not been answered for two thirds of its session timeout: a live client
    /// (the Java client, kazoo) pings every third of it, so two pings are missing.
    /// </summary>
    public bool Idle => HasSession && LastResponseAgeMs is long age && SessionTimeoutMs is int to && age * 3 >= to * 2;

    /// <summary>A connection without a session on which the client never sent a byte (not even a ConnectRequest).</summary>
    public bool NeverSpoke => !HasSession && Received == 0;
}

/// <summary>What one member of the ensemble told us in one poll.</summary>
public sealed record ZkServerInfo
{
    /// <summary>The member as given on the command line, HOST:PORT.</summary>
    public required string Member { get; init; }
    public required SourceState State { get; init; }
    public string? Reason { get; init; }
    /// <summary>How it was asked: "4lw", "admin", "4lw+admin" (some words through each) or "none".</summary>
    public string Channel { get; init; } = "none";
    public ZkServerMode Mode { get; init; }
    public string? Version { get; init; }
    public int? MaxClientCnxns { get; init; }
    public int? MinSessionTimeoutMs { get; init; }
    public int? MaxSessionTimeoutMs { get; init; }
    public int? TickTimeMs { get; init; }
    public long? ServerId { get; init; }
    /// <summary>Null when neither `cons` nor /commands/connections could be read.</summary>
    public IReadOnlyList<ZkConnection>? Connections { get; init; }
    /// <summary>Ephemeral node paths per owning session (`dump`; every 3.8 member lists them all, some older followers none). Null when unread.</summary>
    public IReadOnlyDictionary<long, IReadOnlyList<string>>? Ephemerals { get; init; }
    /// <summary>Watches per session (`wchc`). Null when unread.</summary>
    public IReadOnlyDictionary<long, int>? WatchesBySession { get; init; }
    /// <summary>Integer counters from `mntr` / monitor, without the zk_ prefix (num_alive_connections, connection_rejected, ...).</summary>
    public IReadOnlyDictionary<string, long> Counters { get; init; } = new Dictionary<string, long>();
    /// <summary>Four-letter words the server refused ("is not executed because it is not in the whitelist").</summary>
    public IReadOnlyList<string> RefusedWords { get; init; } = [];
    /// <summary>The zoo.cfg line that would allow every word conndoctor needs, when some were refused and the AdminServer did not stand in.</summary>
    public string? WhitelistHint { get; init; }
    public int MalformedLines { get; init; }
    public required DateTimeOffset PolledAt { get; init; }
    public TimeSpan Duration { get; init; }

    public bool Reachable => State is SourceState.Ok or SourceState.Partial;
}

/// <summary>One client IP on one server: connections against the per-IP limit and what holds them.</summary>
public sealed record ZkClientOnServer
{
    public required string Member { get; init; }
    public required NetAddress Ip { get; init; }
    public int Connections { get; init; }
    public int? Limit { get; init; }
    public int WithSession { get; init; }
    public int WithoutSession { get; init; }
    /// <summary>Session connections not answered for two thirds of their session timeout (see ZkConnection.Idle).</summary>
    public int Idle { get; init; }
    /// <summary>Connections without a session that never sent anything.</summary>
    public int NeverSpoke { get; init; }
    /// <summary>Connections that exchanged packets recently (last response younger than a third of the session timeout).</summary>
    public int Active { get; init; }
    /// <summary>Null when no member answered 'dump' (or the AdminServer's dump): unknown, never 0.</summary>
    public int? Ephemerals { get; init; }
    /// <summary>Null when this member answered neither 'wchc' nor the AdminServer's watches: unknown, never 0.</summary>
    public int? Watches { get; init; }
    public long? OldestEstablishedUnixMs { get; init; }
    /// <summary>How old that connection was when the server was polled (its wall clock against ours).</summary>
    public long? OldestSessionAgeMs { get; init; }

    public int? Headroom => Limit is int l && l > 0 ? l - Connections : null;
}

/// <summary>An ephemeral node found under --path, with its owning session and, when a server lists that session's connection, the client.</summary>
public sealed record ZkPathNode
{
    public required string Path { get; init; }
    public required long Owner { get; init; }
    public long CreatedUnixMs { get; init; }
    public NetEndpoint? Client { get; init; }
    public string? Member { get; init; }
}

/// <summary>One client IP over a --watch, across every server of the ensemble.</summary>
public sealed record ZkClientGrowth
{
    public required NetAddress Ip { get; init; }
    public int SessionsAtStart { get; init; }
    public int SessionsAtEnd { get; init; }
    /// <summary>Sessions that appeared / disappeared between polls (a session that moved between servers is neither).</summary>
    public int SessionsOpened { get; init; }
    public int SessionsClosed { get; init; }
    public int EphemeralsAtStart { get; init; }
    public int EphemeralsAtEnd { get; init; }
    public int ConnectionsAtStart { get; init; }
    public int ConnectionsAtEnd { get; init; }
    public int ConnectionsOpened { get; init; }
    public int ConnectionsClosed { get; init; }
    /// <summary>Least-squares slope of the session count over the polls, per minute.</summary>
    public double SessionsPerMinute { get; init; }
    public double EphemeralsPerMinute { get; init; }
    /// <summary>Path patterns of the ephemeral nodes this IP's sessions own at the end (/clients/task-* x 40).</summary>
    public IReadOnlyList<(string Pattern, int Count)> EphemeralPatterns { get; init; } = [];
    /// <summary>Age of this IP's oldest session at the end (from the connection's establishment time).</summary>
    public long? OldestSessionAgeMs { get; init; }
    /// <summary>Share of the polls in which the session count grew or stayed (1 = never went down).</summary>
    public double MonotoneShare { get; init; }
    /// <summary>Connections that went between polls, by first sighting, as runs of ones no poll saw with a session (times: ms from the start).</summary>
    public LoopStats? Loop { get; init; }
    public IReadOnlyList<ZkSample> Samples { get; init; } = [];
}

/// <summary>One client IP's counts at one poll.</summary>
public readonly record struct ZkSample(double Seconds, int Sessions, int Ephemerals, int Connections);

/// <summary>How a server's own counters (mntr, 3.6+) moved during a --watch.</summary>
public sealed record ZkCounterDelta(string Member, string Name, long Start, long End);

/// <summary>Connections and sessions that appeared and went between polls on one member, all client IPs together.</summary>
public sealed record ZkMemberChurn(string Member, int ConnectionsOpened, int ConnectionsClosed, int SessionsOpened, int SessionsClosed);

/// <summary>What `conndoctor zk` saw: every member of the ensemble at the last poll, and over a --watch the growth per client IP.</summary>
public sealed record ZkEnsembleEvidence
{
    public required IReadOnlyList<string> Members { get; init; }
    public required IReadOnlyList<ZkServerInfo> Servers { get; init; }
    /// <summary>Per client IP and server, at the last poll.</summary>
    public required IReadOnlyList<ZkClientOnServer> Clients { get; init; }
    public bool Watched { get; init; }
    public double Seconds { get; init; }
    public double IntervalSeconds { get; init; }
    public int Polls { get; init; } = 1;
    public IReadOnlyList<ZkClientGrowth> Growth { get; init; } = [];
    public IReadOnlyList<ZkCounterDelta> CounterDeltas { get; init; } = [];
    public IReadOnlyList<ZkMemberChurn> MemberChurn { get; init; } = [];
    /// <summary>--path: the path listed with our own client, and what was found.</summary>
    public string? Path { get; init; }
    public IReadOnlyList<ZkPathNode> PathNodes { get; init; } = [];
    /// <summary>True when some member's ephemeral dump was read (`dump` or /commands/dump answered).</summary>
    public bool EphemeralsKnown { get; init; }
}
