namespace ConnDoctor.Model;

/// <summary>What a packet capture showed (conndoctor pcap): the file, what was skipped, every TCP connection, and the views rules and renderers share.</summary>
public sealed record CaptureEvidence
{
    public required string File { get; init; }
    /// <summary>"pcap (us, little-endian)", "pcapng (little-endian)".</summary>
    public required string Format { get; init; }
    public required IReadOnlyList<string> LinkTypes { get; init; }
    /// <summary>Interfaces described in the whole file (a pcapng describes them per section), 1 for pcap.</summary>
    public int Interfaces { get; init; } = 1;
    /// <summary>pcapng sections, 1 for pcap.</summary>
    public int Sections { get; init; } = 1;
    /// <summary>Packets taken out of each overlay tunnel (VXLAN, Geneve, GRE, IP-in-IP), by kind and outer path, most first.</summary>
    public IReadOnlyList<TunnelCount> Tunnels { get; init; } = [];
    public long Packets { get; init; }
    /// <summary>TCP packets used, each once: second copies of one packet are counted under <see cref="Skipped"/>, so Packets = TcpPackets + the skipped counts.</summary>
    public long TcpPackets { get; init; }
    public long RstPackets { get; init; }
    /// <summary>Frames that were not used, by reason (not IP, not TCP, fragment, truncated, unknown link type, filtered out).</summary>
    public IReadOnlyDictionary<string, long> Skipped { get; init; } = new Dictionary<string, long>();
    /// <summary>Where reading stopped early (truncated or corrupt file); null when the whole file was read.</summary>
    public string? StoppedAt { get; init; }
    /// <summary>The --host/--port filter, as text, or null.</summary>
    public string? Filter { get; init; }
    public long FirstNs { get; init; }
    public long LastNs { get; init; }
    public required IReadOnlyList<TcpConnection> Connections { get; init; }
    /// <summary>Per client address -> server endpoint, most connections first.</summary>
    public required IReadOnlyList<PairSummary> Pairs { get; init; }
    public required CaptureTimeline Timeline { get; init; }

    /// <summary>The connections of one client -> server pair.</summary>
    public IEnumerable<TcpConnection> ConnectionsOf(PairSummary p) => p.ConnectionIndexes.Select(i => Connections[i]);

    public TimeSpan Duration => TimeSpan.FromTicks(Math.Max(0, LastNs - FirstNs) / 100);
}

/// <summary>Packets that came out of one tunnel kind between two outer addresses (the path, lower address first).</summary>
public sealed record TunnelCount(string Kind, string Path, long Packets);

/// <summary>Every connection from one client address to one server endpoint, summed up.</summary>
public sealed record PairSummary
{
    public required NetAddress Client { get; init; }
    public required NetEndpoint Server { get; init; }
    /// <summary>Where this pair's connections are in <see cref="CaptureEvidence.Connections"/>.</summary>
    public required int[] ConnectionIndexes { get; init; }
    public int Connections { get; init; }
    /// <summary>Connections whose SYN is in the capture (the others were already open when it began).</summary>
    public int Opened { get; init; }
    public int StillOpen { get; init; }
    public int ClosedFirstByClient { get; init; }
    public int ClosedFirstByServer { get; init; }
    /// <summary>Connections whose first close was a RST rather than a FIN.</summary>
    public int ClosedByRst { get; init; }
    /// <summary>The server accepted and closed first at once, with nothing exchanged.</summary>
    public int RejectedAtOnce { get; init; }
    /// <summary>Closed connections that lived under a second.</summary>
    public int Short { get; init; }
    /// <summary>Connections per reset class, indexed by <see cref="ResetClass"/>.</summary>
    public required int[] Resets { get; init; }
    /// <summary>Resets sent by the client, per class.</summary>
    public required int[] ResetsByClient { get; init; }
    public long LifetimeP50Ns { get; init; }
    public long LifetimeP90Ns { get; init; }
    public long LifetimeMaxNs { get; init; }
    public long HandshakeRttP50Ns { get; init; }
    public long BytesToServer { get; init; }
    public long BytesToClient { get; init; }
    public long Segments { get; init; }
    public long Retransmissions { get; init; }
    public int SynRetransmissions { get; init; }
    public long ZeroWindows { get; init; }
    public int UnansweredAtEnd { get; init; }
    public long FirstNs { get; init; }
    public long LastNs { get; init; }
    /// <summary>Its connections in start order as runs of ones the server never answered (times: ms since the epoch).</summary>
    public LoopStats? Loop { get; init; }

    public int ResetCount(ResetClass c) => Resets[(int)c];
    public int TotalResets => Resets.Sum();
}

/// <summary>The capture cut into equal steps: connections opened and closed and resets by class in each.</summary>
public sealed record CaptureTimeline(long StartNs, long StepNs, IReadOnlyList<TimelineStep> Steps);

public sealed record TimelineStep
{
    public int Opened { get; init; }
    public int Closed { get; init; }
    /// <summary>Resets per class, indexed by <see cref="ResetClass"/>.</summary>
    public required int[] Resets { get; init; }
}
