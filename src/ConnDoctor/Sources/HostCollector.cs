using System.Diagnostics;
using ConnDoctor.Model;
using ConnDoctor.Sources.Conntrack;
using ConnDoctor.Sources.Discovery;
using ConnDoctor.Sources.Watch;
using ConnDoctor.Sources.ZkLog;
using ConnDoctor.Sources.ZkPoll;

namespace ConnDoctor.Sources;

/// <summary>What `diagnose` reads on a host.</summary>
public sealed record HostOptions
{
    public CollectOptions Collect { get; init; } = new();
    public DiscoveryOptions Discovery { get; init; } = new();
    /// <summary>The window's start, in the host's local time (the time ZooKeeper and applications write in their logs).</summary>
    public required DateTime Since { get; init; }
    /// <summary>A tracepoint watch of this length first (its socket table at the end is the table); null: none.</summary>
    public TimeSpan? Watch { get; init; }
    /// <summary>The watch's tick (and, without tracepoints, its snapshot interval).</summary>
    public TimeSpan WatchInterval { get; init; } = TimeSpan.FromSeconds(1);
    /// <summary>Per command of a ZooKeeper poll.</summary>
    public TimeSpan PollTimeout { get; init; } = TimeSpan.FromSeconds(2);
    /// <summary>Server ports whose conntrack entries to keep besides ZooKeeper's (2181, those discovered or given with --zk).</summary>
    public IReadOnlyList<int> ConntrackPorts { get; init; } = [];
}

/// <summary>
/// Every source of a host into one Evidence, each reused from its own command: the socket table (sockets) or a watch
/// ending with one (watch), discovery, the ZooKeeper servers' logs over the window read from the end (zklog), a poll of
/// every server found or given (zk), and the kernel's settings with the server's zoo.cfg (audit). A source that fails
/// is a status; only the socket table is needed.
/// </summary>
public static class HostCollector
{
    public static Evidence Collect(HostOptions o, Action<WatchTick>? onTick = null, CancellationToken cancel = default)
    {
        // The servers and their logs need no socket table: found first, their logs read while the table is.
        var sw = Stopwatch.StartNew();
        var (found, problems) = o.Collect.IsLiveProc ? DiscoverySource.FindServers(o.Collect.ProcRoot, SocketCollector.NamespaceInodes(o.Collect)) : ([], []);
        found = found.Select(s => s.LogFile == null ? s : s with { RotatedLogs = ZkServerFinder.RotatedSiblings(s.LogFile, o.Since) }).ToList();
        var findTime = sw.Elapsed;
        var logs = Task.Factory.StartNew(() => ReadLogs(o, found), TaskCreationOptions.LongRunning);

        Evidence table;
        try
        {
            table = o.Watch is TimeSpan d
                ? WatchSource.Run(new WatchOptions { Duration = d, Collect = o.Collect, Interval = o.WatchInterval }, onTick, cancel)
                : SocketCollector.Collect(o.Collect);
        }
        finally { logs.Wait(); }
        var statuses = new List<SourceStatus>(table.Statuses);
        var (discovery, discoveryStatus) = o.Collect.IsLiveProc
            ? DiscoverySource.Complete(found, problems, table, o.Discovery, findTime)
            : (new DiscoveryEvidence(), new SourceStatus("discovery", SourceState.Skipped, "--proc-root: a copied tree has no processes to discover"));
        statuses.Add(discoveryStatus);
        // A log found for a server of another namespace (its link was unreadable before) is not this view's: read only the kept ones'.
        var (log, logStatus) = discovery.Servers.Count == found.Count ? logs.Result : ReadLogs(o, discovery.Servers);
        statuses.Add(logStatus);
        var (zk, zkStatuses) = Poll(o, discovery, table);
        statuses.AddRange(zkStatuses);

        var cfg = discovery.Servers.Select(s => s.Config).FirstOrDefault(c => c != null);
        var settings = new SettingsEvidence
        {
            Origin = table.Namespaces.Count > 0 ? $"netns {table.Namespaces[0].Label}" : o.Collect.ProcRoot,
            Sysctls = table.Namespaces.Count > 0 ? table.Namespaces[0].Sysctls : SysctlReader.Read(o.Collect.ProcRoot),
            KernelRelease = SettingsCollector.KernelRelease(o.Collect.IsLiveProc ? "/proc" : o.Collect.ProcRoot),
            ZooCfg = cfg,
            SocketTableRead = true,
        };
        statuses.Add(new SourceStatus("settings", SourceState.Ok,
            $"TCP sysctls of {settings.Origin}" + (cfg != null ? $", {cfg.Path}" : ", no zoo.cfg found"), cfg?.Entries.Count ?? 0));

        var (conntrack, conntrackStatus) = ReadConntrack(o, discovery, table);
        statuses.Add(conntrackStatus);

        return table with { Statuses = statuses, Discovery = discovery, ZkLog = log, Zk = zk, Settings = settings, Conntrack = conntrack, CollectedAt = DateTimeOffset.UtcNow };
    }

    /// <summary>
    /// The conntrack entries towards ZooKeeper's ports (2181, every discovered server's and client's, --zk's, and those
    /// asked) in the namespaces read: kept only when the host tracks some (a node that masquerades its pods).
    /// </summary>
    private static (ConntrackEvidence?, SourceStatus) ReadConntrack(HostOptions o, DiscoveryEvidence d, Evidence table)
    {
        var ports = new SortedSet<int> { 2181 };
        foreach (var s in d.Servers)
        {
            foreach (var ep in s.ClientEndpoints) ports.Add(ep.Port);
            foreach (var c in s.ConfiguredClientPorts) ports.Add(c.Port);
        }
        foreach (var c in d.Clients)
            foreach (var server in c.Servers)
                if (NetEndpoint.TryParse(server, out var ep, out _) && ep.Port != 0) ports.Add(ep.Port);
        foreach (var ep in o.Discovery.ZkServers) ports.Add(ep.Port);
        foreach (var p in o.ConntrackPorts) ports.Add(p);
        var (evidence, status) = ConntrackSource.Read(table.Namespaces, new ConntrackOptions { Ports = ports, Backend = o.Collect.Backend, ProcRoot = o.Collect.ProcRoot });
        return evidence is { Entries.Count: > 0 } ? (evidence, status) : (null, status);
    }

    /// <summary>The logs to read: --zklog's (with their rotations), else every discovered server's.</summary>
    private static (ZkLogEvidence?, SourceStatus) ReadLogs(HostOptions o, IReadOnlyList<DiscoveredZkServer> servers)
    {
        var files = new List<string>();
        if (o.Discovery.ZkLogs.Count > 0)
            foreach (var f in o.Discovery.ZkLogs) files.AddRange([f, .. ZkServerFinder.RotatedSiblings(f, o.Since)]);
        else
            foreach (var s in servers.Where(s => s.LogFile != null)) files.AddRange([s.LogFile!, .. s.RotatedLogs]);
        files = files.Distinct().ToList();
        if (files.Count == 0)
            return (null, new SourceStatus("zklog", SourceState.Skipped, servers.Count == 0
                ? "no ZooKeeper server found on this host and no --zklog given"
                : "no log found for " + string.Join(", ", servers.Select(s => $"pid {s.Pid}")) + " (give it with --zklog PATH)"));
        try
        {
            var (log, status) = ZkLogReader.Read(files, new ZkLogWindow(o.Since, null), fromWindowStart: true);
            return (log, status with { Reason = $"since {o.Since:yyyy-MM-dd HH:mm:ss}: {status.Reason}" });
        }
        catch (UserException ex)
        {
            return (null, new SourceStatus("zklog", ex.Message.Contains("permission denied") ? SourceState.Denied : SourceState.Failed, ex.Message));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return (null, new SourceStatus("zklog", ex is UnauthorizedAccessException ? SourceState.Denied : SourceState.Failed, $"{string.Join(", ", files)}: {ex.Message}"));
        }
    }

    /// <summary>Every discovered or given server, each from inside its network namespace; one ensemble evidence.</summary>
    private static (ZkEnsembleEvidence?, List<SourceStatus>) Poll(HostOptions o, DiscoveryEvidence d, Evidence table)
    {
        var groups = new Dictionary<string, List<ZkMember>>();
        void Add(string? nsPath, NetEndpoint ep, NetEndpoint? admin)
        {
            string host = ep.Address.ToString();
            string text = ep.Address.IsV6 ? $"[{host}]:{ep.Port}" : $"{host}:{ep.Port}";
            string? url = admin is NetEndpoint a ? $"http://{(a.Address.IsV6 ? $"[{a.Address}]" : a.Address.ToString())}:{a.Port}/commands" : null;
            var key = nsPath ?? "";
            if (!groups.TryGetValue(key, out var list)) groups[key] = list = new();
            if (list.All(m => m.Text != text)) list.Add(new ZkMember(text, host, ep.Port, url, false));
        }
        foreach (var s in d.Servers)
            if (s.PollEndpoint is NetEndpoint ep) Add(table.Namespaces.FirstOrDefault(n => n.Label == s.Netns)?.Path, ep, s.AdminEndpoint);
        foreach (var ep in o.Discovery.ZkServers) Add(table.Namespaces.Count == 1 ? table.Namespaces[0].Path : null, ep, null);
        if (groups.Count == 0)
            return (null, [new SourceStatus("zk", SourceState.Skipped, "no ZooKeeper server found on this host and no --zk given")]);
        var evidences = new List<Evidence>();
        var statuses = new List<SourceStatus>();
        foreach (var (path, members) in groups)
        {
            var zo = new ZkOptions { Members = members, Timeout = o.PollTimeout };
            try { evidences.Add(path.Length == 0 ? ZkEnsembleSource.Run(zo, null, CancellationToken.None) : NetnsScope.Run(path, () => ZkEnsembleSource.Run(zo, null, CancellationToken.None))); }
            catch (Exception ex) when (ex is SourceException or UserException)
            {
                statuses.Add(new SourceStatus("zk", SourceState.Failed, ex.Message));
            }
        }
        if (evidences.Count == 0) return (null, statuses);
        statuses.AddRange(evidences.SelectMany(e => e.Statuses));
        var zks = evidences.Select(e => e.Zk!).ToList();
        var zk = zks.Count == 1 ? zks[0] : zks[0] with
        {
            Members = zks.SelectMany(z => z.Members).ToList(),
            Servers = zks.SelectMany(z => z.Servers).ToList(),
            Clients = zks.SelectMany(z => z.Clients).ToList(),
            EphemeralsKnown = zks.Any(z => z.EphemeralsKnown),
        };
        return (zk, statuses);
    }
}
