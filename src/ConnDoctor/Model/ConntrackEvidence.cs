namespace ConnDoctor.Model;

/// <summary>One direction of a conntrack entry: the addresses and ports as the packets of that direction carry them.</summary>
public readonly record struct ConntrackTuple(NetEndpoint Source, NetEndpoint Destination);

/// <summary>
/// One TCP connection the kernel tracks (netlink ctnetlink, or a line of /proc/net/nf_conntrack). With source NAT
/// (MASQUERADE) the original tuple is pod IP:port -> server and the reply tuple server -> node IP:port': the reply's
/// destination is what the server saw.
/// </summary>
public sealed record ConntrackEntry
{
    public required ConntrackTuple Original { get; init; }
    public required ConntrackTuple Reply { get; init; }
    /// <summary>conntrack's TCP state name (SYN_SENT, ESTABLISHED, FIN_WAIT, CLOSE_WAIT, LAST_ACK, TIME_WAIT, CLOSE, ...).</summary>
    public string? TcpState { get; init; }
    /// <summary>Seconds left before the kernel forgets the entry.</summary>
    public int TimeoutSeconds { get; init; }
    public bool Assured { get; init; }
    public ushort Zone { get; init; }
    /// <summary>The IPS_* status bits from netlink (SEEN_REPLY 0x2, ASSURED 0x4, SRC_NAT 0x10, DST_NAT 0x20 ...); read from /proc only SEEN_REPLY, ASSURED and OFFLOAD are known.</summary>
    public uint Status { get; init; }
    /// <summary>The connection mark (CTA_MARK, mark= in /proc).</summary>
    public uint Mark { get; init; }
    /// <summary>No packet has come back yet ([UNREPLIED]): a SYN that nobody answered.</summary>
    public bool Unreplied => (Status & 0x2) == 0;
    /// <summary>The namespace whose table held the entry, an index into <see cref="Evidence.Namespaces"/>.</summary>
    public int NetnsIndex { get; init; }

    /// <summary>The source was translated: the server saw <see cref="Reply"/>'s destination, not <see cref="Original"/>'s source.</summary>
    public bool SourceTranslated => !Original.Source.Equals(Reply.Destination);
}

/// <summary>A host's conntrack entries towards the ports of interest (collect on a node or any host that masquerades).</summary>
public sealed record ConntrackEvidence
{
    public required IReadOnlyList<ConntrackEntry> Entries { get; init; }
    /// <summary>"netlink" or "proc".</summary>
    public required string Via { get; init; }
    /// <summary>How many entries the table held in all, before the filter.</summary>
    public int TableSize { get; init; }
    /// <summary>The destination ports kept (ZooKeeper's client ports, those asked); empty: all.</summary>
    public IReadOnlyList<int> Ports { get; init; } = [];

    /// <summary>
    /// The entry whose reply goes to <paramref name="seenBy"/> (the node's address and port as the server saw them), from
    /// <paramref name="server"/> (any address when null): the pod behind a translated address. Null when none.
    /// </summary>
    public ConntrackEntry? Translating(NetEndpoint seenBy, NetEndpoint? server = null)
    {
        foreach (var e in Entries)
        {
            if (!e.Reply.Destination.Unmapped.Equals(seenBy.Unmapped)) continue;
            if (server is NetEndpoint s && !e.Reply.Source.Unmapped.Equals(s.Unmapped)) continue;
            return e;
        }
        return null;
    }
}
