using ConnDoctor.Model;

namespace ConnDoctor.Analysis;

/// <summary>Joins what the members of an ensemble listed: sessions to client addresses, ephemeral nodes to sessions, per client IP.</summary>
public static class ZkViews
{
    /// <summary>Ephemeral paths per session from every member that answered `dump` (3.8 members all list every session's; older followers may list none).</summary>
    public static Dictionary<long, IReadOnlyList<string>> EphemeralsBySession(IEnumerable<ZkServerInfo> servers)
    {
        var all = new Dictionary<long, IReadOnlyList<string>>();
        foreach (var s in servers)
            if (s.Ephemerals != null)
                foreach (var (sid, paths) in s.Ephemerals)
                    if (!all.TryGetValue(sid, out var have) || have.Count < paths.Count) all[sid] = paths;
        return all;
    }

    /// <summary>Per client IP and server: connections against the limit, sessions, idle ones, ephemerals and watches.</summary>
    public static List<ZkClientOnServer> ClientsPerServer(IReadOnlyList<ZkServerInfo> servers)
    {
        var ephemerals = EphemeralsBySession(servers);
        var rows = new List<ZkClientOnServer>();
        foreach (var s in servers)
        {
            if (s.Connections == null) continue;
            foreach (var g in s.Connections.GroupBy(c => c.Client.Address))
            {
                var list = g.ToList();
                rows.Add(new ZkClientOnServer
                {
                    Member = s.Member,
                    Ip = g.Key,
                    Connections = list.Count,
                    Limit = s.MaxClientCnxns,
                    WithSession = list.Count(c => c.HasSession),
                    WithoutSession = list.Count(c => !c.HasSession),
                    Idle = list.Count(c => c.Idle),
                    NeverSpoke = list.Count(c => c.NeverSpoke),
                    Active = list.Count(IsActive),
                    Ephemerals = list.Where(c => c.HasSession).Sum(c => ephemerals.TryGetValue(c.SessionId, out var p) ? p.Count : 0),
                    Watches = s.WatchesBySession == null ? 0 : list.Where(c => c.HasSession).Sum(c => s.WatchesBySession.GetValueOrDefault(c.SessionId)),
                    OldestEstablishedUnixMs = list.Min(c => c.EstablishedUnixMs),
                });
            }
        }
        return rows.OrderBy(r => r.Headroom ?? int.MaxValue).ThenByDescending(r => r.Connections)
                   .ThenBy(r => r.Ip.ToString(), StringComparer.Ordinal).ThenBy(r => r.Member, StringComparer.Ordinal).ToList();
    }

    /// <summary>A session connection the client spoke on within a third of its timeout (the ping interval of the Java client and kazoo).</summary>
    public static bool IsActive(ZkConnection c) =>
        c.HasSession && c.LastResponseAgeMs is long age && c.SessionTimeoutMs is int to && age * 3 < to;

    /// <summary>"/clients/task-17" -> "/clients/task-*": the last segment's trailing run of digits and hex, when it holds a digit.</summary>
    public static string PathPattern(string path)
    {
        int slash = path.LastIndexOf('/');
        var segment = path.AsSpan(slash + 1);
        int i = segment.Length;
        bool digit = false;
        while (i > 0 && (char.IsAsciiHexDigit(segment[i - 1]) || ((segment[i - 1] is '-' or '_' or '.') && i < segment.Length)))
        {
            if (char.IsAsciiDigit(segment[i - 1])) digit = true;
            i--;
        }
        // Keep the separator that starts the variable part: task-17 -> task-*, lock-0000000012 -> lock-*.
        while (i < segment.Length && segment[i] is '-' or '_' or '.') i++;
        if (!digit || i == segment.Length) return path;
        return string.Concat(path.AsSpan(0, slash + 1), segment[..i], "*");
    }

    /// <summary>Path patterns with counts, most first.</summary>
    public static List<(string Pattern, int Count)> Patterns(IEnumerable<string> paths) =>
        paths.GroupBy(PathPattern).Select(g => (g.Key, g.Count()))
             .OrderByDescending(x => x.Item2).ThenBy(x => x.Key, StringComparer.Ordinal).ToList();

    public static string PatternsText(IReadOnlyList<(string Pattern, int Count)> patterns, int max = 3) =>
        patterns.Count == 0 ? "-" : string.Join(", ", patterns.Take(max).Select(p => $"{p.Pattern} x{p.Count}")) + (patterns.Count > max ? $", +{patterns.Count - max} more" : "");

    /// <summary>Least-squares slope of y over x (per x unit); 0 with fewer than two distinct x.</summary>
    public static double Slope(IReadOnlyList<(double X, double Y)> points)
    {
        if (points.Count < 2) return 0;
        double mx = points.Average(p => p.X), my = points.Average(p => p.Y);
        double sxx = points.Sum(p => (p.X - mx) * (p.X - mx));
        return sxx == 0 ? 0 : points.Sum(p => (p.X - mx) * (p.Y - my)) / sxx;
    }
}
