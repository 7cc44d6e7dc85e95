using ConnDoctor.Model;

namespace ConnDoctor.Sources.AppLog;

/// <summary>
/// The blamed processes' log excerpts of a caller that diagnoses every few seconds (the agent): a process's logs are
/// looked for and read again once its excerpt is <see cref="MaxAge"/> old, not at every collection. Finding them costs a
/// readlink per descriptor (a holder of 16k sockets: 16k per process) and reading them up to
/// <see cref="AppLogSource.BudgetPerProcess"/>; a finding about idle connections blames the same processes interval
/// after interval. Keyed by pid and command name (a pid reused by another program is read afresh); an entry not asked for
/// within <see cref="MaxAge"/> goes. Thread-safe.
/// </summary>
public sealed class AppLogCache(TimeSpan maxAge)
{
    public TimeSpan MaxAge { get; } = maxAge;
    private readonly object _lock = new();
    private readonly Dictionary<(int Pid, string Name), (AppLogExcerpt Excerpt, long At)> _entries = new();

    /// <summary>Excerpts given from the cache (not read again) since the cache was made (each read's status line says its own).</summary>
    public int Hits { get; private set; }

    internal AppLogExcerpt? Fresh(ProcessRecord p, long nowMs)
    {
        lock (_lock)
        {
            if (!_entries.TryGetValue((p.Pid, p.Name), out var e) || nowMs - e.At >= MaxAge.TotalMilliseconds) return null;
            Hits++;
            return e.Excerpt;
        }
    }

    internal void Store(AppLogExcerpt x, string name, long nowMs)
    {
        lock (_lock)
        {
            _entries[(x.Pid, name)] = (x, nowMs);
            foreach (var (k, v) in _entries)
                if (nowMs - v.At >= 2 * MaxAge.TotalMilliseconds) _entries.Remove(k);
        }
    }
}
