namespace ConnDoctor.Model;

/// <summary>
/// A ZooKeeper server process found on the host: what runs it, the configuration it was started with, where it
/// listens and the log it writes. Raw facts with where each came from, so a report can say how it was found.
/// </summary>
public sealed record DiscoveredZkServer
{
    public required int Pid { get; init; }
    /// <summary>QuorumPeerMain or ZooKeeperServerMain.</summary>
    public required string MainClass { get; init; }
    /// <summary>What launched it when it is not ZooKeeper's own script: "kafka" (zookeeper-server-start.sh), else null.</summary>
    public string? Launcher { get; init; }
    /// <summary>Label of the network namespace it runs in.</summary>
    public string? Netns { get; init; }
    /// <summary>The zoo.cfg as the process names it (its own view of the file system), and how it was found.</summary>
    public string? ConfigPath { get; init; }
    public string? ConfigFoundBy { get; init; }
    public string? DynamicConfigPath { get; init; }
    /// <summary>The configuration read (null when it could not be): the settings the audit rules judge.</summary>
    public ZooCfg? Config { get; init; }
    /// <summary>The inode of its network namespace (0: unreadable).</summary>
    public ulong NetnsInode { get; init; }
    /// <summary>The client ports its configuration (or command line) names, with their address when one is set.</summary>
    public IReadOnlyList<ConfiguredPort> ConfiguredClientPorts { get; init; } = [];
    /// <summary>The client endpoints ("0.0.0.0:2181"), from the configuration, checked against the process's listeners.</summary>
    public IReadOnlyList<NetEndpoint> ClientEndpoints { get; init; } = [];
    public string? ClientEndpointsFoundBy { get; init; }
    /// <summary>The AdminServer's endpoint when the process listens there; null when it is off or not listening.</summary>
    public NetEndpoint? AdminEndpoint { get; init; }
    /// <summary>The log it writes (a path readable from here), how it was found, and its rotated siblings in the window.</summary>
    public string? LogFile { get; init; }
    public string? LogFoundBy { get; init; }
    public IReadOnlyList<string> RotatedLogs { get; init; } = [];
    /// <summary>Other log files it has open (a second appender at another level): not read, listed.</summary>
    public IReadOnlyList<string> OtherLogs { get; init; } = [];
    /// <summary>What could not be read about it (no configuration found, log not readable ...).</summary>
    public IReadOnlyList<string> Problems { get; init; } = [];

    /// <summary>The endpoint to poll: the client port on 127.0.0.1 when it listens on every address (Java's "::" takes IPv4 too).</summary>
    public NetEndpoint? PollEndpoint => ClientEndpoints.Count == 0 ? null
        : ClientEndpoints[0].Address.IsAny ? new NetEndpoint(NetAddress.FromIPAddress(System.Net.IPAddress.Loopback), ClientEndpoints[0].Port)
        : ClientEndpoints[0];
}

/// <summary>A client port as a configuration names it: clientPortAddress (or a dynamic server line's address) and port.</summary>
public sealed record ConfiguredPort(string? Address, int Port);

/// <summary>A process with connections to a ZooKeeper server (a discovered one, or a 2181-like port).</summary>
public sealed record DiscoveredZkClient
{
    public required int Pid { get; init; }
    public required string Process { get; init; }
    public string CommandLine { get; init; } = "";
    public string? Netns { get; init; }
    /// <summary>The server endpoints it is connected to: the ensemble as this host sees it.</summary>
    public required IReadOnlyList<string> Servers { get; init; }
    public int Connections { get; init; }
    /// <summary>True when one of its servers is a server discovered on this host.</summary>
    public bool ToLocalServer { get; init; }
}

/// <summary>A listener that is not ZooKeeper's, with its connections and busiest peers.</summary>
public sealed record DiscoveredListener
{
    public required string Local { get; init; }
    public int? Pid { get; init; }
    public string? Process { get; init; }
    public string? Netns { get; init; }
    public int Connections { get; init; }
    public IReadOnlyList<(string Peer, int Connections)> BusiestPeers { get; init; } = [];
}

/// <summary>What discovery found on the host, and what it could not read.</summary>
public sealed record DiscoveryEvidence
{
    public IReadOnlyList<DiscoveredZkServer> Servers { get; init; } = [];
    public IReadOnlyList<DiscoveredZkClient> Clients { get; init; } = [];
    public IReadOnlyList<DiscoveredListener> Listeners { get; init; } = [];
    /// <summary>Host-wide limits of the search ("not root: other users' processes ...").</summary>
    public IReadOnlyList<string> Problems { get; init; } = [];
}
