using ConnDoctor.Analysis;
using ConnDoctor.Model;
using ConnDoctor.Pipeline;

namespace ConnDoctor.Rules.CrossHost;

/// <summary>
/// One host of a cross-host diagnosis with the hash indexes the joins use, each built once on first use: its sockets by
/// 4-tuple, its watch's connections and its TIME_WAIT by local endpoint, its conntrack entries by the translated end the
/// peer saw. Endpoints are kept unmapped (an IPv4 peer of a dual-stack socket is the same IPv4 endpoint).
/// </summary>
public sealed class CrossHostHost
{
    private Dictionary<ConnKey, SocketRecord>? _byTuple;
    private Dictionary<NetEndpoint, List<WatchConnection>>? _watchByLocal;
    private Dictionary<(NetEndpoint Seen, NetEndpoint Server), ConntrackEntry>? _natBySeen;
    private SocketRoles? _roles;

    public required int Index { get; init; }
    /// <summary>How the report names it: the hostname, with its first address when several documents share that name.</summary>
    public required string Label { get; init; }
    public required Evidence Evidence { get; init; }
    public required DiagnoseReport Report { get; init; }
    public required HostIdentity Identity { get; init; }
    /// <summary>ZooKeeper's client ports on this host (discovery's, and 2181).</summary>
    public required IReadOnlySet<int> ZkPorts { get; init; }

    public SocketRoles Roles => _roles ??= new SocketRoles(Evidence);

    private Dictionary<NetAddress, List<ServerView>>? _views;

    /// <summary>
    /// Every connection this host saw as the server from one client address, with the client's port: its server-side
    /// sockets (any state), its watch's accepted connections, its ZooKeeper servers' `cons`. Indexed once by address.
    /// </summary>
    public IReadOnlyList<ServerView> ViewsOf(NetAddress client)
    {
        if (_views == null)
        {
            var d = new Dictionary<NetAddress, List<ServerView>>();
            void Add(ServerView v)
            {
                var a = v.Client.Address;
                if (!d.TryGetValue(a, out var list)) d[a] = list = new List<ServerView>();
                list.Add(v);
            }
            foreach (var s in Evidence.Sockets)
                if (s.State != TcpState.Listen && Roles.IsServerSide(s)) Add(new ServerView(s.Local.Unmapped, s.Remote.Unmapped, "sockets", s.State));
            if (Evidence.Watch is { } w)
                foreach (var c in w.Connections)
                    if (c.Passive) Add(new ServerView(c.Local.Unmapped, c.Remote.Unmapped, "watch", c.State));
            foreach (var z in Evidence.Zk?.Servers ?? [])
                if (NetEndpoint.TryParse(z.Member, out var member, out _))
                    foreach (var c in z.Connections ?? [])
                        Add(new ServerView(member.Unmapped, c.Client.Unmapped, "zk", TcpState.Established));
            _views = d;
        }
        return _views.TryGetValue(client.Unmapped, out var l) ? l : [];
    }

    /// <summary>When its socket table was read, at the latest: the end of its collection (conservative for silence ages).</summary>
    public DateTimeOffset TableReadBy => Identity.CollectionEnd;

    /// <summary>The socket whose local and remote ends are these, or null.</summary>
    public SocketRecord? Socket(NetEndpoint local, NetEndpoint remote)
    {
        if (_byTuple == null)
        {
            var d = new Dictionary<ConnKey, SocketRecord>(Evidence.Sockets.Count);
            foreach (var s in Evidence.Sockets)
                if (s.State != TcpState.Listen) d.TryAdd(ConnKey.Of(s.Local.Unmapped, s.Remote.Unmapped), s);
            _byTuple = d;
        }
        return _byTuple.GetValueOrDefault(ConnKey.Of(local.Unmapped, remote.Unmapped));
    }

    private Dictionary<NetEndpoint, List<SocketRecord>>? _byLocal;

    /// <summary>The sockets (any state but LISTEN) whose local end is this: a port a server's log named, looked up without the server's end.</summary>
    public IReadOnlyList<SocketRecord> SocketsFrom(NetEndpoint local)
    {
        if (_byLocal == null)
        {
            var d = new Dictionary<NetEndpoint, List<SocketRecord>>();
            foreach (var s in Evidence.Sockets)
            {
                if (s.State == TcpState.Listen) continue;
                if (!d.TryGetValue(s.Local.Unmapped, out var list)) d[s.Local.Unmapped] = list = new List<SocketRecord>(1);
                list.Add(s);
            }
            _byLocal = d;
        }
        return _byLocal.TryGetValue(local.Unmapped, out var l) ? l : [];
    }

    /// <summary>The watch's connections (opened, closed or open) whose local end was this, oldest first; empty without a watch.</summary>
    public IReadOnlyList<WatchConnection> WatchedFrom(NetEndpoint local)
    {
        if (Evidence.Watch is not { } w) return [];
        if (_watchByLocal == null)
        {
            var d = new Dictionary<NetEndpoint, List<WatchConnection>>();
            foreach (var c in w.Connections)
            {
                if (!d.TryGetValue(c.Local.Unmapped, out var list)) d[c.Local.Unmapped] = list = new List<WatchConnection>(1);
                list.Add(c);
            }
            _watchByLocal = d;
        }
        return _watchByLocal.TryGetValue(local.Unmapped, out var l) ? l : [];
    }

    /// <summary>The conntrack entry whose reply goes from <paramref name="server"/> to <paramref name="seen"/>: what the server saw of a translated connection.</summary>
    public ConntrackEntry? Translation(NetEndpoint seen, NetEndpoint server)
    {
        if (Evidence.Conntrack is not { } ct) return null;
        if (_natBySeen == null)
        {
            var d = new Dictionary<(NetEndpoint, NetEndpoint), ConntrackEntry>(ct.Entries.Count);
            // Newest wins: a later entry of the same reply tuple (the port reused after TIME_WAIT) is listed after the older.
            foreach (var e in ct.Entries) d[(e.Reply.Destination.Unmapped, e.Reply.Source.Unmapped)] = e;
            _natBySeen = d;
        }
        return _natBySeen.GetValueOrDefault((seen.Unmapped, server.Unmapped));
    }

    /// <summary>Whether the host translates sources (it has conntrack entries with a translated source).</summary>
    public bool Masquerades => Evidence.Conntrack is { } ct && ct.Entries.Any(e => e.SourceTranslated);

    public string ProcessName(int pid) => Evidence.Processes.TryGetValue(pid, out var p) ? p.Label : $"pid {pid}";
}

/// <summary>One connection a server host saw from a client endpoint, and which of its sources saw it.</summary>
public readonly record struct ServerView(NetEndpoint ServerLocal, NetEndpoint Client, string Source, TcpState State);

/// <summary>Where a connection's client end lives: the host, the translation on the way, and the process that owned the port.</summary>
public sealed record ClientEnd
{
    public required int Host { get; init; }
    /// <summary>The client's own end (the pod's, behind NAT).</summary>
    public required NetEndpoint Local { get; init; }
    /// <summary>"NAT on n1: 10.0.3.1:40112 was pod 10.244.1.5:40112"; null without translation.</summary>
    public string? Via { get; init; }
    /// <summary>The host owning the pod address behind the NAT, when it is another document than the node's.</summary>
    public int? PodHost { get; init; }
    public int? Pid { get; init; }
    public string? Process { get; init; }
    public string? CommandLine { get; init; }
    public string? Pod { get; init; }
    /// <summary>The socket on the client host, when its table has it.</summary>
    public SocketRecord? Socket { get; init; }
    /// <summary>How the owner was found: "socket table", "watch", "TIME_WAIT + watch"; null: no owner.</summary>
    public string? FoundBy { get; init; }

    public string? Who => Pid is int p ? $"{Process ?? "pid"}[{p}]" : null;
}

/// <summary>
/// What the cross-host rules see: every host (one per network identity), who owns each address, the clock skew between
/// two hosts where both saw one connection, and the join from a server's view of a client endpoint to the process
/// behind it, through NAT when the client host's conntrack translated it.
/// </summary>
public sealed class CrossHostContext
{
    private readonly Dictionary<NetAddress, int> _owner = new();
    private readonly Dictionary<(int, int), ClockSkew?> _skews = new();

    public IReadOnlyList<CrossHostHost> Hosts { get; }
    public RuleOptions Options { get; }
    /// <summary>Addresses two documents both claim (docker0's 172.17.0.1 on every host): never used to join.</summary>
    public IReadOnlyCollection<NetAddress> Ambiguous { get; }

    public CrossHostContext(IReadOnlyList<CrossHostHost> hosts, RuleOptions options)
    {
        Hosts = hosts;
        Options = options;
        var ambiguous = new HashSet<NetAddress>();
        foreach (var h in hosts)
            foreach (var ns in h.Identity.Namespaces)
                foreach (var a in ns.Addresses)
                {
                    var ip = a.Address.Unmapped;
                    if (ip.IsLoopback || ip.IsAny) continue;
                    if (_owner.TryGetValue(ip, out int other) && other != h.Index) ambiguous.Add(ip);
                    else _owner[ip] = h.Index;
                }
        foreach (var ip in ambiguous) _owner.Remove(ip);
        Ambiguous = ambiguous;
    }

    /// <summary>The host whose collected namespaces hold this address; null for an address no document (or several) claims.</summary>
    public CrossHostHost? OwnerOf(NetAddress address) => _owner.TryGetValue(address.Unmapped, out int i) ? Hosts[i] : null;

    /// <summary>How far <paramref name="client"/>'s clock is ahead of <paramref name="server"/>'s, where both saw the same connection; null: unknown.</summary>
    public ClockSkew? Skew(int server, int client)
    {
        if (!_skews.TryGetValue((server, client), out var s)) _skews[(server, client)] = s = ClockSkew.Estimate(Hosts[server], Hosts[client]);
        return s;
    }

    /// <summary>
    /// The client end of a connection the server host saw from <paramref name="client"/> on its <paramref name="serverLocal"/>:
    /// the host that owns the address, through its conntrack translation if it has one for this end, and the process that
    /// held (socket table) or held at some time (watch, TIME_WAIT with the watch's owner) that local port. Null when no
    /// document owns the address.
    /// </summary>
    public ClientEnd? ResolveClient(CrossHostHost server, NetEndpoint serverLocal, NetEndpoint client)
    {
        client = client.Unmapped;
        serverLocal = serverLocal.Unmapped;
        if (OwnerOf(client.Address) is not { } host || host.Index == server.Index) return null;
        var local = client;
        string? via = null;
        var owner = host;
        if (host.Translation(client, serverLocal) is { } nat && nat.SourceTranslated)
        {
            local = nat.Original.Source.Unmapped;
            via = $"NAT on {host.Label}: {client} was {local}" + (nat.TcpState != null ? $" (conntrack {nat.TcpState})" : "");
            // The pod's namespace: one of the node's own (collected with it), or a document of its own.
            if (!host.Identity.Owns(local.Address) && OwnerOf(local.Address) is { } podHost) owner = podHost;
        }
        var end = Find(owner, local, serverLocal) with { Host = host.Index, Via = via, PodHost = owner.Index != host.Index ? owner.Index : null };
        return end;
    }

    /// <summary>The process behind a local endpoint towards the server on one host: its socket, else the watch's connection.</summary>
    private static ClientEnd Find(CrossHostHost h, NetEndpoint local, NetEndpoint server)
    {
        var e = h.Evidence;
        var s = h.Socket(local, server);
        if (s?.OwnerPid is int holder)
            return e.Processes.TryGetValue(holder, out var p)
                ? new ClientEnd { Host = h.Index, Local = local, Pid = p.Pid, Process = p.Name, CommandLine = CommandLineText.Masked(p.CommandLine), Pod = PodOf(p), Socket = s, FoundBy = "socket table" }
                : new ClientEnd { Host = h.Index, Local = local, Pid = holder, Socket = s, FoundBy = "socket table" };
        var watched = h.WatchedFrom(local);
        for (int i = watched.Count - 1; i >= 0; i--)
        {
            var c = watched[i];
            if (!c.Remote.Unmapped.Equals(server) || c.Pid is not int pid) continue;
            e.Processes.TryGetValue(pid, out var wp);
            return new ClientEnd
            {
                Host = h.Index, Local = local, Pid = pid, Process = c.Comm ?? wp?.Name, CommandLine = c.CommandLine ?? (wp != null ? CommandLineText.Masked(wp.CommandLine) : null),
                Pod = wp != null ? PodOf(wp) : c.Pod, Socket = s, FoundBy = s?.State == TcpState.TimeWait ? "TIME_WAIT + watch" : "watch",
            };
        }
        return new ClientEnd { Host = h.Index, Local = local, Socket = s };
    }

    /// <summary>"namespace/pod container" from the kubelet's names, else the pod uid; null outside Kubernetes.</summary>
    public static string? PodOf(ProcessRecord p) =>
        p.PodName != null ? $"{(p.PodNamespace != null ? p.PodNamespace + "/" : "")}{p.PodName}{(p.ContainerName != null ? " " + p.ContainerName : "")}"
        : p.PodUid != null ? $"pod {p.PodUid}" : null;

    /// <summary>The per-host findings of a host.</summary>
    public IEnumerable<HostFinding> FindingsOf(CrossHostHost h) => h.Report.Findings.Select(f => new HostFinding(h.Index, f));
}
