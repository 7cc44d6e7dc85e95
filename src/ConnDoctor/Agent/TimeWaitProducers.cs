using ConnDoctor.Analysis;
using ConnDoctor.Model;

namespace ConnDoctor.Agent;

/// <summary>
/// Who produced a TIME_WAIT socket no connection record covers: the window's rows that produce TIME_WAIT towards its remote
/// endpoint in its namespace (<see cref="WatchRow.ProducesTimeWaitTo"/>, as the time-wait-pressure rule names them). Exactly one process: that one; two or more: nobody (the table cannot say which).
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
            if (!r.ProducesTimeWaitTo(endpoint, ns.Label)) continue;
            if (found != null && found.Pid != r.Pid) { ambiguous = true; break; }
            found ??= r;
        }
        return _memo[(netnsIndex, remote)] = ambiguous ? null : found;
    }
}
