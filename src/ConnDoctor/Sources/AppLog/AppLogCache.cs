using ConnDoctor.Model;

namespace ConnDoctor.Sources.AppLog;

/// <summary>
/// The blamed processes' log excerpts of a caller that diagnoses every few seconds (the agent): a process's logs are
/// looked for and read again once its excerpt is <see cref="MaxAge"/> old, not at every collection. Finding them costs a
/// readlink per descriptor (a holder of 16k sockets: 16k per process) and reading them up to
/// <see cref="AppLogSource.BudgetPerProcess"/>; a finding about idle connections blames the same processes interval
/// after interval. Keyed by pid and command name (a pid reused by another program is read afresh); an entry not asked for
/// within <see cref="MaxAge"/> goes. When an excerpt is read again, the files found the last time are read without
/// looking for them again while the process has the same number of open files and has used no CPU since
/// (<see cref="ProcessActivity"/>): an idle holder of 16k sockets opened no log. Thread-safe.
/// </summary>
public sealed class AppLogCache(TimeSpan maxAge)
{
    public TimeSpan MaxAge { get; } = maxAge;
    private readonly object _lock = new();
    private readonly Dictionary<(int Pid, string Name), (AppLogExcerpt Excerpt, long At)> _entries = new();

    private readonly Dictionary<(int Pid, string Name), (long Files, long Cpu, AppLogTarget[] Targets, string[] Problems, long At)> _located = new();

    /// <summary>Excerpts given from the cache (not read again) since the cache was made (each read's status line says its own).</summary>
    public int Hits { get; private set; }

    /// <summary>Processes whose files were not looked for again (unchanged since they were found) since the cache was made.</summary>
    public int LocatedHits { get; private set; }

    internal (List<AppLogTarget> Targets, List<string> Problems)? Located(ProcessRecord p, (long Files, long Cpu) activity)
    {
        lock (_lock)
        {
            if (!_located.TryGetValue((p.Pid, p.Name), out var l) || !ProcessActivity.Same(activity, (l.Files, l.Cpu))) return null;
            LocatedHits++;
            _located[(p.Pid, p.Name)] = l with { At = Environment.TickCount64 };
            return ([.. l.Targets], [.. l.Problems]);
        }
    }

    internal void StoreLocated(ProcessRecord p, (long Files, long Cpu) activity, List<AppLogTarget> targets, List<string> problems, long nowMs)
    {
        lock (_lock)
        {
            _located[(p.Pid, p.Name)] = (activity.Files, activity.Cpu, [.. targets], [.. problems], nowMs);
            // A process blamed no more (or gone) is forgotten after a while: twice the age, at least a minute.
            double keepMs = Math.Max(2 * MaxAge.TotalMilliseconds, 60_000);
            foreach (var (k, v) in _located)
                if (nowMs - v.At >= keepMs) _located.Remove(k);
        }
    }

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
