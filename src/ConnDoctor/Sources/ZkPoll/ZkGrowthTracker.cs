using ConnDoctor.Analysis;
using ConnDoctor.Model;

namespace ConnDoctor.Sources.ZkPoll;

/// <summary>
/// Follows sessions, ephemeral nodes and connections per client IP from poll to poll of the whole ensemble.
/// A session is known by its id wherever it is connected (it may move between servers); its address is
/// remembered after its connection goes, so the ephemerals of a client that vanished still count for its IP.
/// Memory is bounded: samples are thinned when they pass MaxSamples, remembered sessions capped.
/// </summary>
public sealed class ZkGrowthTracker
{
    public const int MaxSamples = 1024;
    private const int MaxRememberedSessions = 1_000_000;

    private sealed class PerIp
    {
        public int SessionsOpened, SessionsClosed, ConnectionsOpened, ConnectionsClosed;
        public ZkSample? First;
        public ZkSample Last;
        public List<ZkSample> Samples = new();
        public int Steps, NotDown;
        public readonly LoopTracker Loop = new();
    }

    // Each connection a poll lists: when a poll first saw it and whether any poll saw it with a session.
    private Dictionary<(string, NetEndpoint), (double First, bool Session)> _seen = new();

    private readonly Dictionary<long, NetAddress> _sessionIp = new();
    private readonly Dictionary<NetAddress, PerIp> _ips = new();
    private HashSet<(string, NetEndpoint)>? _prevConnections;
    private HashSet<string>? _prevMembers;
    private readonly Dictionary<string, (Dictionary<string, long> First, Dictionary<string, long> Last)> _counters = new();
    private readonly Dictionary<string, int[]> _memberChurn = new();
    private Dictionary<long, string>? _prevSessionMember;
    private IReadOnlyList<ZkServerInfo> _last = [];
    public int Polls { get; private set; }
    /// <summary>Steps between polls skipped for opened/closed counting because the set of reachable members changed.</summary>
    public int SkippedSteps { get; private set; }

    public void Add(double seconds, IReadOnlyList<ZkServerInfo> servers)
    {
        Polls++;
        _last = servers;
        var reachable = servers.Where(s => s.Connections != null).ToList();
        var members = reachable.Select(s => s.Member).ToHashSet();
        var sessionMember = new Dictionary<long, string>(); // every session listed now, and the member it is connected to
        var connections = new HashSet<(string, NetEndpoint)>();
        var perIpConns = new Dictionary<NetAddress, int>();
        foreach (var s in reachable)
            foreach (var c in s.Connections!)
            {
                connections.Add((s.Member, c.Client));
                perIpConns[c.Client.Address] = perIpConns.GetValueOrDefault(c.Client.Address) + 1;
                if (!c.HasSession) continue;
                sessionMember[c.SessionId] = s.Member;
                if (_sessionIp.Count < MaxRememberedSessions || _sessionIp.ContainsKey(c.SessionId)) _sessionIp[c.SessionId] = c.Client.Address;
            }
        foreach (var s in servers)
            if (s.Counters.Count > 0)
            {
                if (_counters.TryGetValue(s.Member, out var have)) _counters[s.Member] = (have.First, new Dictionary<string, long>(s.Counters));
                else _counters[s.Member] = (new Dictionary<string, long>(s.Counters), new Dictionary<string, long>(s.Counters));
            }

        // Ephemerals count for the IP their session last connected from, also after the connection is gone.
        var ephemerals = ZkViews.EphemeralsBySession(servers);
        var perIpEphemerals = new Dictionary<NetAddress, int>();
        foreach (var (sid, paths) in ephemerals)
            if (_sessionIp.TryGetValue(sid, out var ip)) perIpEphemerals[ip] = perIpEphemerals.GetValueOrDefault(ip) + paths.Count;
        var perIpSessions = new Dictionary<NetAddress, int>();
        // A session past the MaxRememberedSessions cap has no remembered address: it is not counted for any IP.
        foreach (var sid in sessionMember.Keys)
            if (_sessionIp.TryGetValue(sid, out var ip)) perIpSessions[ip] = perIpSessions.GetValueOrDefault(ip) + 1;

        bool comparable = _prevMembers != null && _prevMembers.SetEquals(members);
        if (_prevMembers != null && !comparable) SkippedSteps++;
        // A connection that went: its first sighting joins its IP's runs, failed when no poll saw it with a session.
        var seen = new Dictionary<(string, NetEndpoint), (double First, bool Session)>(connections.Count);
        foreach (var s in reachable)
            foreach (var c in s.Connections!)
            {
                var key = (s.Member, c.Client);
                var was = _seen.TryGetValue(key, out var w) ? w : (seconds, false);
                seen[key] = (was.Item1, was.Item2 || c.HasSession);
            }
        if (comparable)
            foreach (var (key, was) in _seen.OrderBy(kv => kv.Value.First))
                if (!seen.ContainsKey(key)) Ip(key.Item2.Address).Loop.Add(was.First * 1000, failed: !was.Session);
        _seen = seen;
        if (comparable)
        {
            // Per client IP and per member (Churn: connections opened, closed, sessions opened, closed).
            foreach (var c in connections)
                if (!_prevConnections!.Contains(c)) { Ip(c.Item2.Address).ConnectionsOpened++; Churn(c.Item1)[0]++; }
            foreach (var c in _prevConnections!)
                if (!connections.Contains(c)) { Ip(c.Item2.Address).ConnectionsClosed++; Churn(c.Item1)[1]++; }
            foreach (var (sid, m) in sessionMember)
                if (!_prevSessionMember!.ContainsKey(sid))
                {
                    if (_sessionIp.TryGetValue(sid, out var ip)) Ip(ip).SessionsOpened++;
                    Churn(m)[2]++;
                }
            foreach (var (sid, m) in _prevSessionMember!)
                if (!sessionMember.ContainsKey(sid))
                {
                    if (_sessionIp.TryGetValue(sid, out var ip)) Ip(ip).SessionsClosed++;
                    Churn(m)[3]++;
                }
        }
        var allIps = perIpConns.Keys.Concat(perIpSessions.Keys).Concat(perIpEphemerals.Keys).Concat(_ips.Keys).ToHashSet();
        foreach (var ip in allIps)
        {
            var x = Ip(ip);
            var sample = new ZkSample(seconds, perIpSessions.GetValueOrDefault(ip), perIpEphemerals.GetValueOrDefault(ip), perIpConns.GetValueOrDefault(ip));
            if (x.First == null) x.First = sample;
            else
            {
                x.Steps++;
                if (sample.Sessions >= x.Last.Sessions) x.NotDown++;
            }
            x.Last = sample;
            x.Samples.Add(sample);
            if (x.Samples.Count > MaxSamples) x.Samples = x.Samples.Where((_, i) => i % 2 == 0 || i == x.Samples.Count - 1).ToList();
        }
        _prevConnections = connections;
        _prevMembers = members;
        _prevSessionMember = sessionMember;
    }

    private int[] Churn(string member)
    {
        if (!_memberChurn.TryGetValue(member, out var x)) _memberChurn[member] = x = new int[4];
        return x;
    }

    public List<ZkMemberChurn> MemberChurn() =>
        _memberChurn.OrderBy(kv => kv.Key, StringComparer.Ordinal).Select(kv => new ZkMemberChurn(kv.Key, kv.Value[0], kv.Value[1], kv.Value[2], kv.Value[3])).ToList();

    private PerIp Ip(NetAddress ip)
    {
        if (!_ips.TryGetValue(ip, out var x)) _ips[ip] = x = new PerIp();
        return x;
    }

    /// <summary>Growth per client IP over the polls so far, biggest session growth first.</summary>
    public List<ZkClientGrowth> Growth()
    {
        var ephemerals = ZkViews.EphemeralsBySession(_last);
        var oldest = new Dictionary<NetAddress, long>();
        foreach (var s in _last)
            foreach (var c in s.Connections ?? [])
                if (c.HasSession && ZkViews.AgeAt(s, c.EstablishedUnixMs) is long age)
                    oldest[c.Client.Address] = Math.Max(oldest.GetValueOrDefault(c.Client.Address), age);
        // Grouped once, not scanned once per IP.
        var pathsByIp = new Dictionary<NetAddress, List<string>>();
        foreach (var (sid, paths) in ephemerals)
            if (_sessionIp.TryGetValue(sid, out var a))
            {
                if (!pathsByIp.TryGetValue(a, out var l)) pathsByIp[a] = l = [];
                l.AddRange(paths);
            }
        var list = new List<ZkClientGrowth>();
        foreach (var (ip, x) in _ips)
        {
            if (x.First is not ZkSample first) continue;
            list.Add(new ZkClientGrowth
            {
                Ip = ip,
                SessionsAtStart = first.Sessions,
                SessionsAtEnd = x.Last.Sessions,
                SessionsOpened = x.SessionsOpened,
                SessionsClosed = x.SessionsClosed,
                EphemeralsAtStart = first.Ephemerals,
                EphemeralsAtEnd = x.Last.Ephemerals,
                ConnectionsAtStart = first.Connections,
                ConnectionsAtEnd = x.Last.Connections,
                ConnectionsOpened = x.ConnectionsOpened,
                ConnectionsClosed = x.ConnectionsClosed,
                SessionsPerMinute = ZkViews.Slope(x.Samples.Select(p => (p.Seconds, (double)p.Sessions)).ToList()) * 60,
                EphemeralsPerMinute = ZkViews.Slope(x.Samples.Select(p => (p.Seconds, (double)p.Ephemerals)).ToList()) * 60,
                EphemeralPatterns = ZkViews.Patterns(pathsByIp.GetValueOrDefault(ip) ?? []),
                OldestSessionAgeMs = oldest.TryGetValue(ip, out var age) ? age : null,
                MonotoneShare = x.Steps == 0 ? 1 : (double)x.NotDown / x.Steps,
                Loop = x.Loop.Stats(),
                Samples = x.Samples,
            });
        }
        return list.OrderByDescending(g => g.SessionsAtEnd - g.SessionsAtStart).ThenByDescending(g => g.SessionsAtEnd)
                   .ThenBy(g => g.Ip.ToString(), StringComparer.Ordinal).ToList();
    }

    /// <summary>The server counters that tell churn the polls cannot see (3.6+ mntr), first and last value per member.</summary>
    public List<ZkCounterDelta> CounterDeltas()
    {
        string[] names = ["connection_request_count", "connection_rejected", "connection_drop_count", "sessionless_connections_expired",
                          "stale_sessions_expired", "global_sessions", "ephemerals_count", "num_alive_connections"];
        var list = new List<ZkCounterDelta>();
        foreach (var (member, (first, last)) in _counters.OrderBy(kv => kv.Key, StringComparer.Ordinal))
            foreach (var n in names)
                if (first.TryGetValue(n, out var a) && last.TryGetValue(n, out var b)) list.Add(new ZkCounterDelta(member, n, a, b));
        return list;
    }
}
