using System.Diagnostics;
using ConnDoctor.Analysis;
using ConnDoctor.Model;
using ConnDoctor.Native;

namespace ConnDoctor.Sources.Discovery;

/// <summary>What the user added to, or put instead of, what discovery finds.</summary>
public sealed record DiscoveryOptions
{
    /// <summary>--zklog: ZooKeeper server logs to read (their rotations are found beside them).</summary>
    public IReadOnlyList<string> ZkLogs { get; init; } = [];
    /// <summary>--zk: servers to poll, HOST:PORT.</summary>
    public IReadOnlyList<NetEndpoint> ZkServers { get; init; } = [];
}

/// <summary>
/// Discovery, a source like the others: ZooKeeper servers (processes, configuration, endpoints, logs), ZooKeeper
/// clients (processes connected to a server found here or to a 2181-like port) and the other listeners with their
/// busiest peers, from /proc and the socket table already read. What it could not read is in its status and problems.
/// </summary>
public static class DiscoverySource
{
    /// <summary>Client ports ZooKeeper uses by convention (2181, and 2182/2183 for a second and third server on one host).</summary>
    private static readonly HashSet<int> ZkLikePorts = [2181, 2182, 2183];

    /// <summary>
    /// The ZooKeeper servers of the namespaces to be read (null: all), with their configuration and logs: what needs
    /// no socket table, so their logs can be read while the table is. Problems: what limits the search.
    /// </summary>
    public static (List<DiscoveredZkServer> Servers, List<string> Problems) FindServers(string procRoot, ISet<ulong>? namespaces)
    {
        var problems = new List<string>();
        if (Libc.geteuid() != 0)
            problems.Add("not root: other users' processes cannot be inspected (their configuration, open logs and sockets' owners stay unknown)");
        try { return (ZkServerFinder.Find(procRoot, ProcessFdScanner.ListPids(procRoot), namespaces), problems); }
        catch (SourceException ex) { return ([], [.. problems, ex.Message]); }
    }

    /// <summary>Discovery completed with the socket table: the servers' endpoints, the clients, the other listeners.</summary>
    public static (DiscoveryEvidence Evidence, SourceStatus Status) Complete(List<DiscoveredZkServer> found, List<string> problems, Evidence table, DiscoveryOptions o, TimeSpan elapsed)
    {
        var sw = Stopwatch.StartNew();
        // An unreadable namespace link (not root) leaves a server in; with the table, one in another namespace is left out.
        var inodes = table.Namespaces.Select(n => n.Inode).Where(i => i != 0).ToHashSet();
        var servers = found.Where(s => s.NetnsInode == 0 || inodes.Count == 0 || inodes.Contains(s.NetnsInode)).Select(s => ZkServerFinder.Complete(s, table)).ToList();
        var clients = Clients(table, servers, o);
        var listeners = Listeners(table, servers);
        var evidence = new DiscoveryEvidence { Servers = servers, Clients = clients, Listeners = listeners, Problems = problems };
        int troubled = servers.Count(s => s.Problems.Count > 0);
        string reason = $"{servers.Count} ZooKeeper server(s), {clients.Count} client process(es), {listeners.Count} other listener(s)" +
                        (troubled > 0 ? $"; {troubled} server(s) not fully read" : "") + (problems.Count > 0 ? "; " + string.Join("; ", problems) : "");
        var state = problems.Count > 0 || troubled > 0 ? SourceState.Partial : SourceState.Ok;
        return (evidence, new SourceStatus("discovery", state, reason, servers.Count + clients.Count, elapsed + sw.Elapsed));
    }

    /// <summary>
    /// Processes with connections (ESTABLISHED or connecting) to a server found here, a --zk server or a 2181-like port,
    /// client side only (not the accepted end, not the server's own quorum links).
    /// </summary>
    private static List<DiscoveredZkClient> Clients(Evidence table, List<DiscoveredZkServer> servers, DiscoveryOptions o)
    {
        var roles = new SocketRoles(table);
        var serverPids = servers.Select(s => s.Pid).ToHashSet();
        var ports = servers.SelectMany(s => s.ClientEndpoints).Select(e => (int)e.Port).Concat(o.ZkServers.Select(e => (int)e.Port)).ToHashSet();
        var byPid = new Dictionary<int, (HashSet<string> Servers, int Count, bool Local, int Netns)>();
        foreach (var s in table.Sockets)
        {
            if (s.State is not (TcpState.Established or TcpState.SynSent) || s.Owners.Length == 0) continue;
            int port = s.Remote.Port;
            bool known = ports.Contains(port);
            if (!known && !ZkLikePorts.Contains(port)) continue;
            if (roles.IsServerSide(s)) continue;
            int pid = s.Owners[0].Pid;
            if (serverPids.Contains(pid)) continue;
            if (!byPid.TryGetValue(pid, out var c)) c = (new HashSet<string>(), 0, false, s.NetnsIndex);
            c.Servers.Add(SocketGrouper.FormatEndpoint(s.Remote));
            byPid[pid] = (c.Servers, c.Count + 1, c.Local || known, c.Netns);
        }
        var list = new List<DiscoveredZkClient>();
        foreach (var (pid, c) in byPid)
        {
            table.Processes.TryGetValue(pid, out var p);
            list.Add(new DiscoveredZkClient
            {
                Pid = pid, Process = p?.Name ?? $"pid {pid}", CommandLine = p?.CommandLine ?? "",
                Netns = table.Namespaces.Count > 1 ? table.Namespaces[c.Netns].Label : null,
                Servers = c.Servers.Order(StringComparer.Ordinal).ToList(), Connections = c.Count, ToLocalServer = c.Local,
            });
        }
        return list.OrderByDescending(c => c.Connections).ThenBy(c => c.Pid).ToList();
    }

    /// <summary>Listeners other than the ZooKeeper servers' client ports, busiest first, each with its busiest peer addresses.</summary>
    private static List<DiscoveredListener> Listeners(Evidence table, List<DiscoveredZkServer> servers, int top = 10)
    {
        var zk = servers.SelectMany(s => s.ClientEndpoints.Select(e => (s.Pid, e.Port))).ToHashSet();
        var listen = new Dictionary<(int Ns, ushort Port), (SocketRecord Socket, Dictionary<NetAddress, int> Peers, int Count)>();
        foreach (var s in table.Sockets)
            if (s.State == TcpState.Listen && !(s.OwnerPid is int holder && zk.Contains((holder, s.Local.Port))))
                listen.TryAdd((s.NetnsIndex, s.Local.Port), (s, new Dictionary<NetAddress, int>(), 0));
        if (listen.Count == 0) return [];
        var roles = new SocketRoles(table);
        foreach (var s in table.Sockets)
        {
            if (s.State == TcpState.Listen || !listen.TryGetValue((s.NetnsIndex, s.Local.Port), out var l) || !roles.IsServerSide(s)) continue;
            var a = s.Remote.Address.Unmapped;
            l.Peers[a] = l.Peers.GetValueOrDefault(a) + 1;
            listen[(s.NetnsIndex, s.Local.Port)] = (l.Socket, l.Peers, l.Count + 1);
        }
        return listen.Values.OrderByDescending(l => l.Count).ThenBy(l => l.Socket.Local.Port).Take(top).Select(l =>
        {
            var owner = table.OwnerOf(l.Socket);
            return new DiscoveredListener
            {
                Local = l.Socket.Local.ToString(), Pid = l.Socket.OwnerPid, Process = owner?.Name,
                Netns = table.Namespaces.Count > 1 ? table.NetnsOf(l.Socket).Label : null, Connections = l.Count,
                BusiestPeers = l.Peers.OrderByDescending(p => p.Value).ThenBy(p => p.Key.ToString(), StringComparer.Ordinal).Take(3)
                    .Select(p => (p.Key.ToString(), p.Value)).ToList(),
            };
        }).ToList();
    }
}
