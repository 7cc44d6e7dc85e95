using ConnDoctor.Analysis;
using ConnDoctor.Model;
using ConnDoctor.Rules;

namespace ConnDoctor.Agent;

/// <summary>What the agent itself counts beside the evidence: trace losses, tracked connections, its cycle's own status.</summary>
public sealed record AgentSelfStats
{
    public long TraceEventsLost { get; init; }
    public long TrackedConnections { get; init; }
    public long TrackedConnectionsDropped { get; init; }
    public IReadOnlyList<SourceStatus> Extra { get; init; } = [];
    public DateTimeOffset CollectedAt { get; init; }
}

/// <summary>
/// The agent's metric families from one window's evidence and report, built afresh every collection (a vanished
/// process's gauges vanish with it). Labels are bounded by design: services are listening endpoints, never ephemeral
/// ports; the top K process x service pairs keep their own series, the rest sum into process="other".
/// </summary>
public static class AgentMetrics
{
    public static readonly string[] SocketLabels = ["state", "process", "pod", "netns", "remote_service", "local_service"];

    public static List<MetricFamily> Build(Evidence e, DiagnoseReport? report, ConnectionCounters counters, int topK, AgentSelfStats self)
    {
        var list = new List<MetricFamily> { Sockets(e, topK), EphemeralPorts(e) };
        list.AddRange(counters.Families());
        list.AddRange(ZooKeeper(e, topK));
        if (report != null)
            list.Add(new("conndoctor_finding", "1 for every finding of the rules over the current window (rule id, severity, subject).", MetricType.Gauge,
                ["rule", "severity", "subject"],
                report.Findings.Select(f => new MetricSample([f.RuleId, SeverityName(f.Severity), f.Subject.ToString()], 1))
                    .DistinctBy(s => string.Join('\0', s.Values)).ToList()));
        list.AddRange(Sources(e, self.Extra));
        list.Add(new("conndoctor_trace_events_lost_total", "Tracepoint events the kernel dropped because the agent read too slowly (ring buffer overrun), since the agent started.", MetricType.Counter, [], [new([], self.TraceEventsLost)]));
        list.Add(new("conndoctor_tracked_connections", "Connection records the agent holds in its sliding window (bounded by --max-connections; the window's counts do not depend on it).", MetricType.Gauge, [], [new([], self.TrackedConnections)]));
        list.Add(new("conndoctor_tracked_connections_dropped_total", "Connection records left out of the window because the cap on tracked connections was reached (their counts stay in the rows and counters).", MetricType.Counter, [], [new([], self.TrackedConnectionsDropped)]));
        list.Add(new("conndoctor_collection_timestamp_seconds", "Unix time the metrics were last built (the end of the last collection).", MetricType.Gauge, [], [new([], Math.Round(self.CollectedAt.ToUnixTimeMilliseconds() / 1000.0, 3))]));
        return list;
    }

    private static string SeverityName(Severity s) => s switch { Severity.Critical => "critical", Severity.Warning => "warning", _ => "info" };

    public static string StateName(TcpState s) => TcpStates.Normalize(s) switch
    {
        TcpState.Established => "established", TcpState.SynSent => "syn_sent", TcpState.SynRecv or TcpState.NewSynRecv => "syn_recv",
        TcpState.FinWait1 => "fin_wait1", TcpState.FinWait2 => "fin_wait2", TcpState.TimeWait => "time_wait", TcpState.Close => "close",
        TcpState.CloseWait => "close_wait", TcpState.LastAck => "last_ack", TcpState.Listen => "listen", TcpState.Closing => "closing",
        var other => other.ToString().ToLowerInvariant(),
    };

    /// <summary>The pod of a process: its name when known, else its uid from the cgroup; else the namespace's pod; else "".</summary>
    public static string PodOf(ProcessRecord? p, NetnsInfo? ns) => p?.PodName ?? p?.PodUid ?? ns?.PodUid ?? "";

    private readonly record struct PairKey(string Process, string Pod, string Netns, string Remote, string Local);

    /// <summary>
    /// A socket's series before formatting: the service endpoint (IPv4-mapped addresses unmapped, as they print) and
    /// whether it is the remote or the local one. Strings are made once per distinct key, not once per socket.
    /// </summary>
    private readonly record struct RawKey(string Process, string Pod, int Netns, NetEndpoint Service, byte Side);

    private const byte RemoteSide = 1, LocalSide = 2;

    private static MetricFamily Sockets(Evidence e, int topK)
    {
        // Listening endpoints per namespace: a socket whose local port one of them serves is inbound.
        var listeners = new Dictionary<(int, ushort), List<NetAddress>>();
        int timeWait = 0;
        foreach (var s in e.SocketSpan)
            if (s.State == TcpState.Listen)
            {
                if (!listeners.TryGetValue((s.NetnsIndex, s.Local.Port), out var l)) listeners[(s.NetnsIndex, s.Local.Port)] = l = new();
                l.Add(s.Local.Address.Unmapped);
            }
            else if (s.State == TcpState.TimeWait) timeWait++;
        // TIME_WAIT sockets have no owner in the table: the watch knows who closed them (the last connection of a 4-tuple).
        // Keyed by namespace and 4-tuple as a 16-byte ConnKey (25k TIME_WAIT at 1k closes/s: 0.6 MB of keys, not 2 MB of endpoints).
        var closedBy = new Dictionary<(ulong, ConnKey), WatchConnection?>(timeWait);
        if (timeWait > 0 && e.Watch?.Connections is { Count: > 0 } conns)
        {
            foreach (var s in e.SocketSpan)
                if (s.State == TcpState.TimeWait && s.NetnsIndex < e.Namespaces.Count)
                    closedBy.TryAdd((e.Namespaces[s.NetnsIndex].Inode, ConnKey.Of(s.Local, s.Remote)), null);
            foreach (var c in conns)
                if (c.ClosedMs != null && c.ClosedBy == ClosedBy.Local
                    && closedBy.ContainsKey((c.NetnsInode, ConnKey.Of(c.Local, c.Remote))))
                    closedBy[(c.NetnsInode, ConnKey.Of(c.Local, c.Remote))] = c;
        }

        // Past the record cap (above ~160 closes/s the oldest of TIME_WAIT's minute has no record), the window's rows: the
        // one process that closed connections to that endpoint first in that namespace.
        var producers = new TimeWaitProducers(e.Watch?.Rows ?? []);
        var raw = new Dictionary<RawKey, List<(TcpState State, int N)>>();
        foreach (var s in e.SocketSpan)
        {
            var ns = s.NetnsIndex < e.Namespaces.Count ? e.Namespaces[s.NetnsIndex] : null;
            var owner = e.OwnerOf(s);
            string process = owner?.Name ?? "", pod = PodOf(owner, ns);
            if (owner == null && s.State == TcpState.TimeWait && ns != null)
            {
                if (closedBy.TryGetValue((ns.Inode, ConnKey.Of(s.Local, s.Remote)), out var wc) && wc != null)
                {
                    process = wc.Comm ?? "";
                    pod = wc.Pid is int pid && e.Processes.TryGetValue(pid, out var pr) ? PodOf(pr, ns) : wc.Pod ?? pod;
                }
                else if (producers.Of(s.NetnsIndex, ns, s.Remote) is { } row)
                {
                    process = row.Process ?? "";
                    pod = row.Pid is int pid && e.Processes.TryGetValue(pid, out var pr) ? PodOf(pr, ns) : row.Pod ?? pod;
                }
            }
            byte side;
            if (s.State == TcpState.Listen) side = LocalSide;
            else if (listeners.TryGetValue((s.NetnsIndex, s.Local.Port), out var addrs) && IsAnyOrOne(addrs, s.Local.Address.Unmapped)) side = LocalSide;
            else if (s.Owners.Length == 0 && process == "" && Ephemeral(ns, s.Remote.Port) && !Ephemeral(ns, s.Local.Port))
                side = LocalSide; // an orphan (TIME_WAIT) whose listener is gone: the peer's port is the ephemeral one
            else side = RemoteSide;
            var service = side == LocalSide ? s.Local.Unmapped : s.Remote.Unmapped;
            var key = new RawKey(process, pod, ns == null ? -1 : s.NetnsIndex, service, side);
            if (!raw.TryGetValue(key, out var byState)) raw[key] = byState = new(2);
            Count(byState, TcpStates.Normalize(s.State));
        }
        // The series' labels: formatted once per key (two keys that print alike, as labels of two namespaces could, add up).
        var counts = new Dictionary<PairKey, Dictionary<string, int>>();
        foreach (var (k, byState) in raw)
        {
            string endpoint = SocketGrouper.FormatEndpoint(k.Service);
            var key = new PairKey(k.Process, k.Pod, k.Netns < 0 ? "" : e.Namespaces[k.Netns].Label,
                k.Side == RemoteSide ? endpoint : "", k.Side == LocalSide ? endpoint : "");
            if (!counts.TryGetValue(key, out var named)) counts[key] = named = new();
            foreach (var (st, n) in byState)
            {
                string name = StateName(st);
                named[name] = named.GetValueOrDefault(name) + n;
            }
        }
        var ranked = counts.OrderByDescending(kv => kv.Value.Values.Sum()).ThenBy(kv => kv.Key.Process, StringComparer.Ordinal)
            .ThenBy(kv => kv.Key.Remote + kv.Key.Local, StringComparer.Ordinal).ToList();
        var samples = new List<MetricSample>();
        var other = new Dictionary<string, int>();
        for (int i = 0; i < ranked.Count; i++)
        {
            var (k, byState) = (ranked[i].Key, ranked[i].Value);
            if (i < topK)
                foreach (var (st, n) in byState) samples.Add(new([st, k.Process, k.Pod, k.Netns, k.Remote, k.Local], n));
            else
                foreach (var (st, n) in byState) other[st] = other.GetValueOrDefault(st) + n;
        }
        foreach (var (st, n) in other) samples.Add(new([st, "other", "", "", "", ""], n));
        return new("conndoctor_tcp_sockets", "TCP sockets now, per state, owning process, pod, network namespace and service (remote_service: the peer's listening endpoint of an outbound connection; local_service: our listening endpoint of an inbound one). Top K process x service pairs; the rest under process=\"other\".",
            MetricType.Gauge, SocketLabels, samples);
    }

    /// <summary>One more socket of the state; states kept in the order they were first seen (the order of the series).</summary>
    private static void Count(List<(TcpState State, int N)> byState, TcpState st)
    {
        var span = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(byState);
        for (int i = 0; i < span.Length; i++)
            if (span[i].State == st) { span[i].N++; return; }
        byState.Add((st, 1));
    }

    private static bool IsAnyOrOne(List<NetAddress> addrs, NetAddress a)
    {
        foreach (var x in addrs) if (x.IsAny || x == a) return true;
        return false;
    }

    private static readonly Sysctls LinuxDefaults = new();

    private static bool Ephemeral(NetnsInfo? ns, int port) => (ns?.Sysctls ?? LinuxDefaults).IsEphemeral(port);

    private static MetricFamily EphemeralPorts(Evidence e) =>
        new("conndoctor_tcp_ephemeral_ports", "Size of net.ipv4.ip_local_port_range per network namespace: the local ports connect() can use towards one remote endpoint.",
            MetricType.Gauge, ["netns"],
            e.Namespaces.Where(n => n.Sysctls.LocalPortLow is int && n.Sysctls.LocalPortHigh is int)
                .Select(n => new MetricSample([n.Label], n.Sysctls.LocalPortHigh!.Value - n.Sysctls.LocalPortLow!.Value + 1))
                .DistinctBy(s => s.Values[0]).ToList());

    private static IEnumerable<MetricFamily> ZooKeeper(Evidence e, int topK)
    {
        var zk = e.Zk;
        var clients = (zk?.Clients ?? []).GroupBy(c => c.Member)
            .SelectMany(g => g.OrderByDescending(c => c.Connections).ThenBy(c => c.Ip.ToString(), StringComparer.Ordinal).Take(topK)).ToList();
        string Ip(ZkClientOnServer c) => SocketGrouper.FormatHost(c.Ip);
        yield return new("conndoctor_zookeeper_client_connections", "Connections a ZooKeeper server holds from one client IP (top K client IPs per server).", MetricType.Gauge,
            ["server", "client_ip"], clients.Select(c => new MetricSample([c.Member, Ip(c)], c.Connections)).ToList());
        yield return new("conndoctor_zookeeper_max_client_cnxns", "The server's maxClientCnxns: connections allowed from one client IP (0: unlimited).", MetricType.Gauge,
            ["server"], (zk?.Servers ?? []).Where(s => s.MaxClientCnxns != null).Select(s => new MetricSample([s.Member], s.MaxClientCnxns!.Value)).DistinctBy(s => s.Values[0]).ToList());
        yield return new("conndoctor_zookeeper_sessions", "Connections with a session, per server and client IP (top K client IPs per server).", MetricType.Gauge,
            ["server", "client_ip"], clients.Select(c => new MetricSample([c.Member, Ip(c)], c.WithSession)).ToList());
        yield return new("conndoctor_zookeeper_ephemeral_nodes", "Ephemeral nodes owned by the sessions of one client IP, per server (when the server lets them be listed).", MetricType.Gauge,
            ["server", "client_ip"], clients.Where(c => c.Ephemerals != null).Select(c => new MetricSample([c.Member, Ip(c)], c.Ephemerals!.Value)).ToList());
    }

    /// <summary>One series per source that ran (a skipped source, not configured here, has none); ZooKeeper members one each.</summary>
    private static IEnumerable<MetricFamily> Sources(Evidence e, IReadOnlyList<SourceStatus> extra)
    {
        var up = new Dictionary<string, (bool Up, double Seconds)>(StringComparer.Ordinal);
        void Add(string name, bool ok, TimeSpan d)
        {
            var (u, s) = up.TryGetValue(name, out var v) ? v : (true, 0.0);
            up[name] = (u && ok, s + d.TotalSeconds);
        }
        foreach (var s in e.Statuses.Concat(extra))
        {
            if (s.State == SourceState.Skipped) continue;
            string name = s.Source.StartsWith("sockets:", StringComparison.Ordinal) ? "sockets"
                : s.Source.StartsWith("watch:", StringComparison.Ordinal) ? "watch" : s.Source;
            Add(name, s.State is SourceState.Ok or SourceState.Partial, s.Duration);
            if (s.Source.StartsWith("watch:", StringComparison.Ordinal)) Add("tracepoints", s.Source == "watch:tracepoints", TimeSpan.Zero);
            if (s.Source.StartsWith("sockets:", StringComparison.Ordinal)) Add("sockets_complete", s.State == SourceState.Ok, TimeSpan.Zero);
        }
        foreach (var z in e.Zk?.Servers ?? []) Add("zk:" + z.Member, z.Reachable, z.Duration);
        yield return new("conndoctor_source_up", "1 when the source answered in the last collection, 0 when it failed (sockets_complete: every namespace read; tracepoints: the watch ran on tracepoints rather than table snapshots).",
            MetricType.Gauge, ["source"], up.Select(kv => new MetricSample([kv.Key], kv.Value.Up ? 1 : 0)).ToList());
        yield return new("conndoctor_source_duration_seconds", "How long the source took in the last collection.", MetricType.Gauge,
            ["source"], up.Where(kv => kv.Key is not ("tracepoints" or "sockets_complete"))
                .Select(kv => new MetricSample([kv.Key], Math.Round(kv.Value.Seconds, 6))).ToList());
    }
}
