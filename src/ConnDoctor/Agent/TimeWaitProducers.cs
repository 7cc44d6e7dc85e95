using ConnDoctor.Analysis;
using ConnDoctor.Model;

namespace ConnDoctor.Agent;

/// <summary>
/// Who produced a TIME_WAIT socket no connection record covers: the window's outbound rows to its remote endpoint with local
/// closes, in its namespace (or of no namespace). Exactly one process: that one; two or more: nobody (the table cannot say which).
/// Looked up once per namespace and remote endpoint.
/// </summary>
internal sealed class TimeWaitProducers(IReadOnlyList<WatchRow> rows)
{
    private readonly Dictionary<(int, NetEndpoint), WatchRow?> _memo = new();

    public WatchRow? Of(int netnsIndex, NetnsInfo ns, NetEndpoint remote)
    {
        if (rows.Count == 0) return null;
        if (_memo.TryGetValue((netnsIndex, remote), out var known)) return known;
        string endpoint = SocketGrouper.FormatEndpoint(remote.Unmapped);
        WatchRow? found = null;
        bool ambiguous = false;
        foreach (var r in rows)
        {
            if (r.Passive || r.ClosedByLocal == 0 || r.Pid == null || r.Endpoint != endpoint || (r.Netns != null && r.Netns != ns.Label)) continue;
            if (found != null && found.Pid != r.Pid) { ambiguous = true; break; }
            found ??= r;
        }
        return _memo[(netnsIndex, remote)] = ambiguous ? null : found;
    }
}
