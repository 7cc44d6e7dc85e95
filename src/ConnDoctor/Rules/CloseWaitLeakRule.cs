using ConnDoctor.Analysis;
using ConnDoctor.Model;

namespace ConnDoctor.Rules;

/// <summary>
/// CLOSE_WAIT means the peer has closed and this process has not called close(). The kernel never times
/// it out: only the process can end it. Many of them, or old ones, are a descriptor leak in the code.
/// </summary>
public sealed class CloseWaitLeakRule : IRule
{
    public string Id => "close-wait-leak";
    public string Description => "a process holds sockets whose peer closed long ago: it never calls close()";

    private const int WarnCount = 10, CriticalCount = 100;
    private static readonly TimeSpan WarnAge = TimeSpan.FromSeconds(60), CriticalAge = TimeSpan.FromMinutes(10);

    public bool Reads(Evidence e) => e.Namespaces.Count > 0 || e.Watch != null; // a socket table was read (watch: at its start and end)

    public IEnumerable<Finding> Evaluate(RuleContext ctx)
    {
        var e = ctx.Evidence;
        var groups = e.SocketsIn(TcpState.CloseWait)
            .GroupBy(s => (s.NetnsIndex, Pid: s.OwnerPid ?? 0, Uid: s.Owners.Length > 0 ? 0u : s.Uid));
        foreach (var g in groups)
        {
            var sockets = g.ToList();
            int count = sockets.Count;
            var withInfo = sockets.Where(s => s.Info.HasValue).ToList();
            TimeSpan? oldest = withInfo.Count > 0 ? TimeSpan.FromMilliseconds(withInfo.Max(s => s.Info!.Value.SilentMs)) : null;
            var severity = count >= CriticalCount || (count >= WarnCount && oldest >= CriticalAge) ? Severity.Critical
                : count >= WarnCount || oldest >= WarnAge ? Severity.Warning
                : Severity.Info;

            int? pid = g.Key.Pid == 0 ? null : g.Key.Pid;
            var subject = ctx.SubjectFor(g.Key.NetnsIndex, pid);
            var remotes = sockets.GroupBy(s => SocketGrouper.FormatEndpoint(s.Remote)).ToDictionary(x => x.Key, x => x.Count());
            var who = pid is int p ? (e.Processes.TryGetValue(p, out var pr) ? pr.Label : $"pid {p}")
                : e.OwnersIncomplete ? $"a process of uid {g.Key.Uid} (owner not visible: run as root)" : $"uid {g.Key.Uid} (no owner found)";
            var evidence = new List<string>
            {
                $"{count} socket(s) in CLOSE_WAIT held by {who}",
                $"peers that closed: {Format.Top(remotes, 5, k => k)}",
            };
            if (pid != null)
            {
                var fds = sockets.SelectMany(s => s.Owners.Where(o => o.Pid == pid).Select(o => o.Fd)).Order().ToList();
                evidence.Add($"fds: {string.Join(' ', fds.Take(12))}{(fds.Count > 12 ? $" ... ({fds.Count})" : "")}");
            }
            if (oldest is TimeSpan age)
                evidence.Add($"oldest: nothing from the peer for {Format.Duration(age)} (the FIN came at most that long ago)");
            else
                evidence.Add("age unknown: the /proc fallback carries no tcp_info");
            // The kernel's receive queue counts the peer's FIN as one sequence number: subtract it.
            long unread = sockets.Sum(s => (long)Math.Max(0, (long)s.RecvQueue - 1));
            if (unread > 0) evidence.Add($"{unread} byte(s) the process never read are still queued on them");
            // conndoctor watch: the same process's CLOSE_WAIT at the start and the end of the watch.
            var trend = e.Watch?.CloseWait.FirstOrDefault(t => t.Pid == pid && t.Netns == e.Namespaces[g.Key.NetnsIndex].Label);
            if (trend != null)
            {
                evidence.Add($"over the {trend.Seconds:0.#} s watch: {trend.AtStart} -> {trend.AtEnd} in CLOSE_WAIT" +
                             (trend.AtEnd > trend.AtStart ? $", growing by about {trend.PerMinute:0.#}/min" : trend.AtEnd < trend.AtStart ? " (some were closed)" : " (not growing)"));
                if (trend.AtEnd - trend.AtStart >= WarnCount && severity == Severity.Info) severity = Severity.Warning;
            }
            if (pid is int p2 && e.Processes.TryGetValue(p2, out var proc) && proc.CommandLine.Length > 0)
                evidence.Add($"command: {Truncate(proc.CommandLine, 100)}");

            yield return new Finding
            {
                RuleId = Id,
                Severity = severity,
                Subject = subject with { RemoteEndpoint = remotes.Count == 1 ? remotes.Keys.First() : null },
                Summary = $"{who} leaves {count} connection(s) in CLOSE_WAIT" + (oldest is TimeSpan o ? $", oldest {Format.Duration(o)}" : ""),
                Evidence = evidence,
                Cause = "The peer closed these connections (it sent FIN) and the kernel told the process, but the process never " +
                        "called close() on the sockets. The kernel has no timeout for CLOSE_WAIT: each one holds a file " +
                        "descriptor and a connection slot until the process closes it or exits. A few young ones can be a close in " +
                        "progress; many, or old ones, are a leak in the code.",
                Remedy = (pid is int p3 ? $"Look at what owns those descriptors (ls -l /proc/{p3}/fd; a thread dump shows who last used them). " : "") +
                         "Typical causes: an HTTP client or pooled connection that is never closed or returned (Java: close the " +
                         "CloseableHttpClient and every response, consume the entity; Go: resp.Body.Close(); Python: close the " +
                         "Session or use 'with'); a pool that does not evict connections the server closed (enable idle eviction " +
                         "or validation); error paths that skip close(). Restarting the process frees them, but only a fix in the code stops the growth.",
            };
        }
    }

    private static string Truncate(string s, int n) => s.Length <= n ? s : s[..(n - 3)] + "...";
}
