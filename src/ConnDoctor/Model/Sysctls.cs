namespace ConnDoctor.Model;

/// <summary>The kernel TCP settings the rules reason with; null where it could not be read.</summary>
public sealed record Sysctls
{
    public int? LocalPortLow { get; init; }
    public int? LocalPortHigh { get; init; }
    public int? TcpTwReuse { get; init; }
    public int? TcpFinTimeout { get; init; }
    public int? TcpMaxTwBuckets { get; init; }
    public int? KeepaliveTime { get; init; }
    public int? KeepaliveIntvl { get; init; }
    public int? KeepaliveProbes { get; init; }
    public bool TcpTwRecycleExists { get; init; }
    public int? TcpTwRecycle { get; init; }
    public int? TcpTimestamps { get; init; }
    public int? TcpRetries2 { get; init; }
    /// <summary>net.core.somaxconn: the cap on every listener's accept queue.</summary>
    public int? Somaxconn { get; init; }

    /// <summary>Size of the ephemeral port range; Linux's default 32768-60999 when unknown.</summary>
    public int EphemeralPorts => (LocalPortHigh ?? 60999) - (LocalPortLow ?? 32768) + 1;

    public bool IsEphemeral(int port) => port >= (LocalPortLow ?? 32768) && port <= (LocalPortHigh ?? 60999);
}
