using ConnDoctor.Model;

namespace ConnDoctor.Sources.AppLog;

/// <summary>
/// The blamed processes' log excerpts of a caller that diagnoses every few seconds (the agent): a process's logs are
/// looked for and read again once its excerpt is <see cref="MaxAge"/> old, not at every collection. Finding them costs a
/// readlink per descriptor (a holder of 16k sockets: 16k per process) and reading them up to
/// <see cref="AppLogSource.BudgetPerProcess"/>; a finding about idle connections blames the same processes interval
/// after interval. Keyed by pid and command name (a pid reused by another program is read afresh); a process whose
/// excerpt and files were not used for twice <see cref="MaxAge"/> (at least a minute) is forgotten. When an excerpt is read again, the files found the last time are read without
/// looking for them again while the process has the same number of open files and has used no CPU since
/// (<see cref="ProcessActivity"/>): an idle holder of 16k sockets opened no log. Thread-safe.
/// </summary>
public sealed class AppLogCache(TimeSpan maxAge)
{
    public TimeSpan MaxAge { get; } = maxAge;
    private readonly object _lock = new();

    /// <summary>What is known of one process (pid and command name): its last excerpt, and the files found the last time.</summary>
    private sealed class Entry
    {
        public AppLogExcerpt? Excerpt;
        public long ExcerptAt;
        public AppLogTarget[]? Targets;           // null until located
        public string[] Problems = [];
        public (long Files, long Cpu) Activity;  // when located
        public long LocatedAt;
    }

    private readonly Dictionary<(int Pid, string Name), Entry> _entries = new();

    /// <summary>Excerpts given from the cache (not read again) since the cache was made (each read's status line says its own).</summary>
    public int Hits { get; private set; }

    /// <summary>Processes whose files were not looked for again (unchanged since they were found) since the cache was made.</summary>
    public int LocatedHits { get; private set; }

    internal (List<AppLogTarget> Targets, List<string> Problems)? Located(ProcessRecord p, (long Files, long Cpu) activity, long nowMs)
    {
        lock (_lock)
        {
            if (!_entries.TryGetValue((p.Pid, p.Name), out var e) || e.Targets == null || !ProcessActivity.Same(activity, e.Activity)) return null;
            LocatedHits++;
            e.LocatedAt = nowMs;
            return ([.. e.Targets], [.. e.Problems]);
        }
    }

    internal void StoreLocated(ProcessRecord p, (long Files, long Cpu) activity, List<AppLogTarget> targets, List<string> problems, long nowMs)
    {
        lock (_lock)
        {
            var e = EntryOf(p.Pid, p.Name, nowMs);
            (e.Activity, e.Targets, e.Problems, e.LocatedAt) = (activity, [.. targets], [.. problems], nowMs);
        }
    }

    internal AppLogExcerpt? Fresh(ProcessRecord p, long nowMs)
    {
        lock (_lock)
        {
            if (!_entries.TryGetValue((p.Pid, p.Name), out var e) || e.Excerpt == null || nowMs - e.ExcerptAt >= MaxAge.TotalMilliseconds) return null;
            Hits++;
            return e.Excerpt;
        }
    }

    internal void Store(AppLogExcerpt x, string name, long nowMs)
    {
        lock (_lock)
        {
            var e = EntryOf(x.Pid, name, nowMs);
            (e.Excerpt, e.ExcerptAt) = (x, nowMs);
        }
    }

    /// <summary>
    /// The process's entry, made when new. A process blamed no more (or gone) is forgotten once neither its excerpt nor its
    /// files were used for a while: twice the age, at least a minute.
    /// </summary>
    private Entry EntryOf(int pid, string name, long nowMs)
    {
        double keepMs = Math.Max(2 * MaxAge.TotalMilliseconds, 60_000);
        foreach (var (k, v) in _entries)
            if (nowMs - Math.Max(v.ExcerptAt, v.LocatedAt) >= keepMs) _entries.Remove(k);
        if (!_entries.TryGetValue((pid, name), out var e)) _entries[(pid, name)] = e = new Entry();
        return e;
    }
}
