using ConnDoctor.Model;

namespace ConnDoctor.Analysis;

/// <summary>Joins what the members of an ensemble listed: sessions to client addresses, ephemeral nodes to sessions, per client IP.</summary>
public static class ZkViews
{
    /// <summary>The client port of a member as `conndoctor zk` names it (HOST:PORT); ZooKeeper's default 2181 if it has none.</summary>
    public static int ClientPort(string member)
    {
        int colon = member.LastIndexOf(':');
        return colon > 0 && int.TryParse(member.AsSpan(colon + 1), out int p) && p is > 0 and <= 65535 ? p : 2181;
    }

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
        bool ephemeralsKnown = servers.Any(s => s.Ephemerals != null);
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
                    Ephemerals = !ephemeralsKnown ? null : list.Where(c => c.HasSession).Sum(c => ephemerals.TryGetValue(c.SessionId, out var p) ? p.Count : 0),
                    Watches = s.WatchesBySession == null ? null : list.Where(c => c.HasSession).Sum(c => s.WatchesBySession.GetValueOrDefault(c.SessionId)),
                    OldestEstablishedUnixMs = list.Min(c => c.EstablishedUnixMs),
                    OldestSessionAgeMs = AgeAt(s, list.Min(c => c.EstablishedUnixMs)),
                });
            }
        }
        return rows.OrderBy(r => r.Headroom ?? int.MaxValue).ThenByDescending(r => r.Connections)
                   .ThenBy(r => r.Ip.ToString(), StringComparer.Ordinal).ThenBy(r => r.Member, StringComparer.Ordinal).ToList();
    }

    /// <summary>How long before the server was polled its wall clock said <paramref name="establishedUnixMs"/> (never negative).</summary>
    public static long? AgeAt(ZkServerInfo server, long? establishedUnixMs) =>
        establishedUnixMs is long est ? Math.Max(0, server.PolledAt.ToUnixTimeMilliseconds() - est) : null;

    /// <summary>A session connection the client spoke on within a third of its timeout (the ping interval of the Java client and kazoo).</summary>
    public static bool IsActive(ZkConnection c) =>
        c.HasSession && c.LastResponseAgeMs is long age && c.SessionTimeoutMs is int to && age * 3 < to;

    /// <summary>
    /// The shape of a node path, for grouping: in its last segment, numbers and ids (all digits, 0x..., or hex of 4+
    /// characters with a digit) become *, one * for a run of them with the separators (- _ . :) between; a last
    /// word ending in digits keeps its letters. "/clients/task-17" -> "/clients/task-*", "/workers/host-10.0.0.5-3"
    /// -> "/workers/host-*", "/locks/_c_3d8f1a2b-6a1e-4c3b-9e51-0b6f2a7c9d10-lock-0000000001" -> "/locks/_c_*-lock-*",
    /// "/q/worker17" -> "/q/worker*". A segment without a digit stays as it is.
    /// </summary>
    public static string PathPattern(string path)
    {
        int slash = path.LastIndexOf('/');
        var pieces = Pieces(path.AsSpan(slash + 1)); // words at even indexes, the separators between them at odd ones
        var sb = new System.Text.StringBuilder(path.Length);
        sb.Append(path, 0, slash + 1);
        bool changed = false;
        for (int i = 0; i < pieces.Count; i += 2)
        {
            string word = pieces[i];
            if (IsId(word))
            {
                while (i + 2 < pieces.Count && IsId(pieces[i + 2])) i += 2;
                sb.Append('*');
                changed = true;
            }
            else if (i == pieces.Count - 1 && TrailingDigits(word) is int d && d > 0 && d < word.Length)
            {
                sb.Append(word.AsSpan(0, word.Length - d)).Append('*');
                changed = true;
            }
            else sb.Append(word);
            if (i + 1 < pieces.Count) sb.Append(pieces[i + 1]);
        }
        return changed ? sb.ToString() : path;
    }

    private static bool IsSeparator(char c) => c is '-' or '_' or '.' or ':';

    private static List<string> Pieces(ReadOnlySpan<char> segment)
    {
        var pieces = new List<string>();
        int i = 0;
        while (true)
        {
            int start = i;
            while (i < segment.Length && !IsSeparator(segment[i])) i++;
            pieces.Add(segment[start..i].ToString());
            if (i == segment.Length) return pieces;
            start = i;
            while (i < segment.Length && IsSeparator(segment[i])) i++;
            pieces.Add(segment[start..i].ToString());
        }
    }

    private static bool IsId(string w) =>
        w.Length > 0 && (w.All(char.IsAsciiDigit)
                         || (w.Length > 2 && w.StartsWith("0x", StringComparison.Ordinal) && w[2..].All(char.IsAsciiHexDigit))
                         || (w.Length >= 4 && w.All(char.IsAsciiHexDigit) && w.Any(char.IsAsciiDigit)));

    private static int TrailingDigits(string w)
    {
        int n = 0;
        while (n < w.Length && char.IsAsciiDigit(w[w.Length - 1 - n])) n++;
        return n;
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
