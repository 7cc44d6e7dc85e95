using ConnDoctor.Analysis;
using ConnDoctor.Model;

namespace ConnDoctor.Rules;

/// <summary>
/// ZooKeeper sessions (and the ephemeral nodes they own) from one client IP that only grow: a client that opens a
/// session per task and whose close() never takes effect. Measured over a `zk --watch`; a single poll can only
/// point at the shape (many sessions from one IP, each owning one node of the same pattern).
/// </summary>
public sealed class SessionLeakRule : IRule
{
    public string Id => "session-leak";
    public string Description => "ZooKeeper sessions or ephemeral nodes from one client IP grow steadily with no matching closes";

    // Growth that a healthy client never shows: it keeps one session per process for hours.
    private const int MinGrowth = 5;
    private const double MinPerMinute = 1;
    private const double MinMonotone = 0.8;
    private const double CriticalPerMinute = 60;
    // Single poll: this many sessions from one IP, most owning one node of the same pattern, looks like a session per task.
    private const int ShapeSessions = 20;

    public bool Reads(Evidence e) => e.Zk != null;

    public IEnumerable<Finding> Evaluate(RuleContext ctx)
    {
        if (ctx.Evidence.Zk is not { } zk) yield break;
        if (!zk.Servers.Any(s => s.Connections != null))
        {
            ctx.NotEnoughEvidence("no server listed its connections (cons or /commands/connections)");
            yield break;
        }
        if (!zk.Watched)
        {
            foreach (var f in FromSinglePoll(zk)) yield return f;
            yield break;
        }
        if (zk.Polls < 3)
        {
            ctx.NotEnoughEvidence($"only {zk.Polls} poll(s): growth needs at least 3 (a longer --watch or a shorter --interval)");
            yield break;
        }
        var limits = zk.Servers.Where(s => s.MaxClientCnxns is > 0).Select(s => (s.Member, Limit: s.MaxClientCnxns!.Value)).ToList();
        foreach (var g in zk.Growth)
        {
            int sessionGrowth = g.SessionsAtEnd - g.SessionsAtStart, nodeGrowth = g.EphemeralsAtEnd - g.EphemeralsAtStart;
            bool sessionsGrow = sessionGrowth >= MinGrowth && g.SessionsPerMinute >= MinPerMinute && g.MonotoneShare >= MinMonotone
                                && g.SessionsClosed * 4 <= Math.Max(1, g.SessionsOpened);
            bool nodesGrow = nodeGrowth >= MinGrowth && g.EphemeralsPerMinute >= MinPerMinute && g.SessionsClosed * 4 <= Math.Max(1, g.SessionsOpened);
            if (!sessionsGrow && !nodesGrow) continue;
            double rate = sessionsGrow ? g.SessionsPerMinute : g.EphemeralsPerMinute;
            var evidence = new List<string>
            {
                $"over {Format.Duration(TimeSpan.FromSeconds(zk.Seconds))} ({zk.Polls} polls every {zk.IntervalSeconds:0.#} s): sessions {g.SessionsAtStart} -> {g.SessionsAtEnd}, " +
                $"about {g.SessionsPerMinute:0.#}/min; {g.SessionsOpened} opened, {g.SessionsClosed} closed",
                $"ephemeral nodes owned {g.EphemeralsAtStart} -> {g.EphemeralsAtEnd} (about {g.EphemeralsPerMinute:0.#}/min)" +
                (g.EphemeralPatterns.Count > 0 ? $": {ZkViews.PatternsText(g.EphemeralPatterns)}" : ""),
                $"connections {g.ConnectionsAtStart} -> {g.ConnectionsAtEnd} ({g.ConnectionsOpened} opened, {g.ConnectionsClosed} closed)",
            };
            if (g.OldestSessionAgeMs is long age) evidence.Add($"oldest session from {g.Ip} is {Format.Ms(age)} old");
            if (!zk.EphemeralsKnown) evidence.Add("no member answered 'dump': ephemeral nodes are not counted");
            // When each session holds its own connection, the per-IP limit is where this ends.
            string? reach = null;
            if (g.ConnectionsAtEnd > g.ConnectionsAtStart && limits.Count > 0 && g.SessionsPerMinute > 0)
            {
                // The member where this IP has the least room left.
                var (member, limit, onMember) = limits
                    .Select(l => (l.Member, l.Limit, On: zk.Clients.Where(c => c.Member == l.Member && c.Ip == g.Ip).Sum(c => c.Connections)))
                    .OrderBy(l => l.Limit - l.On).First();
                double minutes = Math.Max(0, limit - onMember) / g.SessionsPerMinute;
                reach = onMember >= limit
                    ? $"{g.Ip} already holds {onMember} connections on {member}, its maxClientCnxns={limit}: every new client from that host is refused"
                    : $"at this rate {g.Ip} reaches maxClientCnxns={limit} on {member} in about {Format.Duration(TimeSpan.FromMinutes(minutes))} " +
                      "(if its sessions stay on one server), and then every new client from that host is refused";
                evidence.Add(reach);
            }
            var sev = rate >= CriticalPerMinute || (reach != null && g.ConnectionsAtEnd * 2 >= limits.Min(l => l.Limit)) ? Severity.Critical : Severity.Warning;
            string what = sessionsGrow && nodesGrow ? "sessions and ephemeral nodes" : sessionsGrow ? "sessions" : "ephemeral nodes";
            yield return new Finding
            {
                RuleId = Id,
                Severity = sev,
                Subject = new FindingSubject { ClientIp = g.Ip.ToString() },
                Summary = $"client {g.Ip}: {what} grow by about {rate:0.#}/min ({g.SessionsAtStart} -> {g.SessionsAtEnd} sessions) and are never closed" +
                          (g.EphemeralPatterns.Count > 0 ? $" ({g.EphemeralPatterns[0].Pattern})" : ""),
                Evidence = evidence,
                Cause = Cause,
                Remedy = Remedy(g.Ip.ToString(), zk),
            };
        }
    }

    private const string Cause =
        "A client on that host opens a new ZooKeeper session (often one per task or request, each creating an EPHEMERAL node) and the " +
        "session is never closed: close() is not called, fails silently, or is called from the client's own event (watcher) thread, " +
        "where it cannot complete. The sessions live on as long as the process keeps their connections, and their ephemeral nodes " +
        "with them; they only go when the process exits and the session timeout passes.";

    private static string Remedy(string ip, ZkEnsembleEvidence zk) =>
        $"On {ip}, find the process: {SocketsCommands(zk)} (one process holding many connections to ZooKeeper). Use one " +
        "ZooKeeper client (or Curator framework) per process, shared by all tasks, instead of one per task; make close() really close " +
        "(call it in a finally block, check its result, and never from a Watcher callback or the client's event thread); remove per-task " +
        "nodes explicitly when a task ends. Restarting the process frees its sessions after the session timeout.";

    /// <summary>'conndoctor sockets --remote :PORT' for the members' client ports (the same on every member, as a rule).</summary>
    private static string SocketsCommands(ZkEnsembleEvidence zk)
    {
        var ports = zk.Members.Select(ZkViews.ClientPort).Distinct().Take(3).ToList();
        return string.Join(" or ", ports.Select(p => $"'conndoctor sockets --remote :{p}'"));
    }

    private IEnumerable<Finding> FromSinglePoll(ZkEnsembleEvidence zk)
    {
        if (!zk.EphemeralsKnown) yield break;
        var ephemerals = ZkViews.EphemeralsBySession(zk.Servers);
        var sessionsByIp = zk.Servers.Where(s => s.Connections != null).SelectMany(s => s.Connections!.Select(c => (Server: s, Connection: c)))
            .Where(x => x.Connection.HasSession).GroupBy(x => x.Connection.Client.Address);
        foreach (var g in sessionsByIp)
        {
            var list = g.Select(x => x.Connection).ToList();
            if (list.Count < ShapeSessions) continue;
            var owning = list.Where(c => ephemerals.TryGetValue(c.SessionId, out var p) && p.Count == 1).ToList();
            var patterns = ZkViews.Patterns(owning.Select(c => ephemerals[c.SessionId][0]));
            if (patterns.Count == 0 || patterns[0].Count * 5 < list.Count * 4) continue; // 80% own one node of one pattern
            long? oldest = g.Max(x => ZkViews.AgeAt(x.Server, x.Connection.EstablishedUnixMs));
            var evidence = new List<string>
            {
                $"{list.Count} sessions from {g.Key}; {patterns[0].Count} of them each own exactly one ephemeral node {patterns[0].Pattern}",
            };
            if (oldest is long age) evidence.Add($"oldest session from {g.Key} is {Format.Ms(age)} old");
            evidence.Add($"one poll cannot show growth: 'conndoctor zk {string.Join(',', zk.Members)} --watch 5m' measures the rate and the closes");
            yield return new Finding
            {
                RuleId = Id,
                Severity = Severity.Info,
                Subject = new FindingSubject { ClientIp = g.Key.ToString() },
                Summary = $"client {g.Key} holds {list.Count} sessions, one per {patterns[0].Pattern} node: the shape of a session-per-task leak",
                Evidence = evidence,
                Cause = Cause,
                Remedy = Remedy(g.Key.ToString(), zk),
            };
        }
    }
}
