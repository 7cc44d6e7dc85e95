namespace ConnDoctor.Model;

/// <summary>
/// Everything the sources gathered, immutable once built. Rules read it; nothing reads the world after this.
/// Each kind of evidence is an optional part: a command fills the parts its sources produce, and every rule
/// looks at the parts it understands (reconnect-storm reads a server log, a capture or the socket table).
/// </summary>
public sealed record Evidence
{
    /// <summary>The live socket table (sockets, diagnose); empty when no socket source ran.</summary>
    public IReadOnlyList<SocketRecord> Sockets { get; init; } = [];

    /// <summary>
    /// The table for a pass over every socket (125k, in several rules every interval in the agent): a span, without an
    /// enumerator object and an interface call per socket.
    /// </summary>
    public ReadOnlySpan<SocketRecord> SocketSpan => Sockets switch
    {
        SocketRecord[] array => array,
        List<SocketRecord> list => System.Runtime.InteropServices.CollectionsMarshal.AsSpan(list),
        var other => other.ToArray(),
    };

    /// <summary>The sockets of the table in one state (its CLOSE_WAIT, a handful among 125k), in table order.</summary>
    public List<SocketRecord> SocketsIn(TcpState state)
    {
        var found = new List<SocketRecord>();
        foreach (var s in SocketSpan) if (s.State == state) found.Add(s);
        return found;
    }
    public IReadOnlyDictionary<int, ProcessRecord> Processes { get; init; } = new Dictionary<int, ProcessRecord>();
    public IReadOnlyList<NetnsInfo> Namespaces { get; init; } = [];
    /// <summary>A packet capture (conndoctor pcap); null when none was read.</summary>
    public CaptureEvidence? Capture { get; init; }
    /// <summary>Connections followed over time, with their owners (conndoctor watch); null when no watch ran.</summary>
    public WatchEvidence? Watch { get; init; }
    public required IReadOnlyList<SourceStatus> Statuses { get; init; }

    /// <summary>Settings to audit: the kernel's TCP sysctls and, if given, a zoo.cfg (audit).</summary>
    public SettingsEvidence? Settings { get; init; }

    /// <summary>A ZooKeeper server log, analysed (zklog).</summary>
    public ZkLogEvidence? ZkLog { get; init; }

    /// <summary>A live look at a ZooKeeper ensemble's clients, once or over a watch (conndoctor zk); null when not polled.</summary>
    public ZkEnsembleEvidence? Zk { get; init; }
    /// <summary>What discovery found on the host: ZooKeeper servers and clients, other listeners (diagnose); null when it did not run.</summary>
    public DiscoveryEvidence? Discovery { get; init; }

    /// <summary>The own logs of the processes the findings blame, read after the rules named them (diagnose); null when not read.</summary>
    public AppLogEvidence? AppLogs { get; init; }
    /// <summary>The host's identity (name, boot, addresses per namespace, collection times): set by collect and diagnose; null in per-source commands.</summary>
    public HostIdentity? Identity { get; init; }

    /// <summary>The conntrack entries towards the ports of interest (a node that masquerades its pods); null when not read.</summary>
    public ConntrackEvidence? Conntrack { get; init; }
    public required DateTimeOffset CollectedAt { get; init; }
    public string Host { get; init; } = Environment.MachineName;

    /// <summary>True when other users' processes could not be inspected (not root), so owners may be missing.</summary>
    public bool OwnersIncomplete { get; init; }

    /// <summary>
    /// Every process the socket table's fd scan listed, in /proc's order, with its network namespace's inode (0: unreadable
    /// or exited), when the collection asked for them (collect); null otherwise. Not part of a document.
    /// </summary>
    public IReadOnlyList<(int Pid, ulong NetnsInode)>? ProcessNetns { get; init; }

    public NetnsInfo NetnsOf(SocketRecord s) => Namespaces[s.NetnsIndex];

    public ProcessRecord? OwnerOf(SocketRecord s) =>
        s.OwnerPid is int pid && Processes.TryGetValue(pid, out var p) ? p : null;
}
