using ConnDoctor.Model;

namespace ConnDoctor.Agent;

/// <summary>
/// The agent's sliding window: the watch segments of the last <c>window</c>, all of them whatever the churn (a segment
/// leaves by age only). Counts come from the segments' row tallies, which are exact and small (per row, not per
/// connection); only the connection records are capped: the window keeps the most recent <c>maxConnections</c> of
/// them across its segments (the oldest segments' records go first) and counts each one it lets go, with those a
/// segment's own book did not keep, in <see cref="Dropped"/>. A segment's TIME_WAIT-now times are let go once it ended
/// a minute before the newest one (no later window reads them).
/// </summary>
public sealed class SegmentWindow(TimeSpan window, int maxConnections)
{
    private readonly List<WatchEvidence> _segments = new();
    private int _held;

    /// <summary>Connection records the window could not keep (counts stay exact: only the records are gone).</summary>
    public long Dropped { get; private set; }
    public int Count => _segments.Count;
    /// <summary>Connection records held across the segments (at most the cap).</summary>
    public int Held => _held;

    /// <summary>The next segment; those older than the window leave first.</summary>
    public void Add(WatchEvidence segment, DateTimeOffset now)
    {
        Expire(now);
        // The segment's book keeps its most recent connections: the opens it did not keep are dropped records.
        long opened = segment.Rows.Sum(r => (long)r.Opens), kept = segment.Connections.Count(c => c.OpenedMs != null);
        if (opened > kept) Dropped += opened - kept;
        _segments.Add(segment);
        _held += segment.Connections.Count;
        Trim();
        ForgetOldTimeWait();
    }

    /// <summary>Segments that started before <paramref name="now"/> minus the window leave it.</summary>
    public void Expire(DateTimeOffset now)
    {
        while (_segments.Count > 0 && _segments[0].StartedAt < now - window)
        {
            _held -= _segments[0].Connections.Count;
            _segments.RemoveAt(0);
        }
    }

    public WatchEvidence? Build() => WindowMerger.Merge(_segments, maxConnections);

    private void Trim()
    {
        for (int i = 0; i < _segments.Count && _held > maxConnections; i++)
        {
            var s = _segments[i];
            int n = Math.Min(s.Connections.Count, _held - maxConnections);
            if (n == 0) continue;
            // A new list: the old one may be part of a published window.
            _segments[i] = s with { Connections = s.Connections.Skip(n).ToList() };
            _held -= n;
            Dropped += n;
        }
    }

    private void ForgetOldTimeWait()
    {
        var newest = _segments[^1];
        var end = newest.StartedAt.AddSeconds(newest.Seconds);
        for (int i = 0; i < _segments.Count - 1; i++)
        {
            var s = _segments[i];
            if (s.StartedAt.AddSeconds(s.Seconds) >= end.AddSeconds(-60) || !s.Rows.Any(r => r.Tally?.LocalCloses.Length > 0)) continue;
            _segments[i] = s with { Rows = s.Rows.Select(r => r.Tally is { LocalCloses.Length: > 0 } t ? r with { Tally = t with { LocalCloses = [] } } : r).ToList() };
        }
    }
}
