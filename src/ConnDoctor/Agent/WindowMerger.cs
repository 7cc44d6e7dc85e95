using ConnDoctor.Model;
using ConnDoctor.Sources.Watch;

namespace ConnDoctor.Agent;

/// <summary>
/// The agent watches in back-to-back segments (one per interval); the rules look at a sliding window of several. This
/// joins the segments' watch evidence into one on one clock (ms from the window's start). The rows are joined from each
/// segment's row tallies (<see cref="WatchRowTally"/>), never from connection lists: every open, close and reset of
/// every segment counts, however few connections a segment kept; first and last times are min and max, lifetimes join
/// in their sketches, loop trackers append, the states now are the last segment's, TIME_WAIT now counts the local
/// closes of the window's last minute. The connections are the segments' kept ones, the most recent
/// <c>maxConnections</c>, each as one record on the window's clock: a connection that spans segments is one record
/// (the later segment lists it as already open), a reset traced after a close that a cut separated lands on the closed
/// connection. CLOSE_WAIT trends run from the first segment's start to the last one's end; events and losses add up.
/// </summary>
public static class WindowMerger
{
    public static WatchEvidence? Merge(IReadOnlyList<WatchEvidence> segments, int maxConnections)
    {
        if (segments.Count == 0) return null;
        // One segment is its own window (nothing to join, its clock is the window's).
        if (segments.Count == 1 && segments[0].Connections.Count <= maxConnections) return segments[0];
        var start = segments[0].StartedAt;
        var offsets = segments.Select(s => (s.StartedAt - start).TotalMilliseconds).ToArray();
        var last = segments[^1];
        double seconds = (last.StartedAt - start).TotalSeconds + last.Seconds;
        var firstTrend = segments[0].CloseWait.GroupBy(t => (t.Pid, t.Netns)).ToDictionary(g => g.Key, g => g.First().AtStart);
        var connections = JoinConnections(segments, offsets, maxConnections, out long total, out long attributed);
        return last with
        {
            StartedAt = start,
            Seconds = seconds,
            Connections = connections,
            Rows = JoinRows(segments, offsets, seconds),
            CloseWait = last.CloseWait.Select(t => t with { AtStart = firstTrend.GetValueOrDefault((t.Pid, t.Netns), t.AtStart), Seconds = seconds }).ToList(),
            EventsRead = segments.Sum(s => s.EventsRead),
            EventsLost = segments.Any(s => s.EventsLost != null) ? segments.Sum(s => s.EventsLost ?? 0) : null,
            MalformedLines = segments.Sum(s => s.MalformedLines),
            GuessedOwners = segments.Sum(s => s.GuessedOwners),
            AttributedShare = total == 0 ? last.AttributedShare : (double)attributed / total,
            Samples = segments.SelectMany((s, i) => s.Samples.Select(x => x with { Seconds = Math.Round(x.Seconds + offsets[i] / 1000, 3) })).ToList(),
        };
    }

    private sealed class RowSum
    {
        public required WatchRow Key;
        public int Opens, Closes, ClosedByLocal, ClosedByPeer, ResetsSent, ResetsReceived, Unread, TimeWait;
        public double FirstOpen = double.NaN, LastOpen = double.NaN, FirstClose = double.NaN, LastClose = double.NaN;
        public readonly List<string> Threads = new(4);
        public readonly LifetimeSketch Lifetimes = new();
        public LoopTracker? Loop;
        public IReadOnlyDictionary<TcpState, int> Live = new Dictionary<TcpState, int>();
    }

    private static double Min(double a, double b) => double.IsNaN(a) ? b : double.IsNaN(b) ? a : Math.Min(a, b);
    private static double Max(double a, double b) => double.IsNaN(a) ? b : double.IsNaN(b) ? a : Math.Max(a, b);

    /// <summary>The rows of the whole window from the segments' row tallies (rows without one, from a document, are left out).</summary>
    private static List<WatchRow> JoinRows(IReadOnlyList<WatchEvidence> segments, double[] offsets, double seconds)
    {
        double endMs = seconds * 1000;
        var sums = new Dictionary<(int?, ulong, bool, NetAddress, int), RowSum>();
        for (int i = 0; i < segments.Count; i++)
        {
            double off = offsets[i];
            foreach (var r in segments[i].Rows)
            {
                if (r.Tally is not { } t) continue;
                if (!sums.TryGetValue(t.Key, out var s)) sums[t.Key] = s = new RowSum { Key = r with { Tally = null, Threads = [] } };
                else if (s.Key.Process == null && r.Process != null)
                    s.Key = s.Key with { Process = r.Process, CommandLine = r.CommandLine, OwnerExited = r.OwnerExited };
                s.Opens += r.Opens;
                s.Closes += r.Closes;
                s.ClosedByLocal += r.ClosedByLocal;
                s.ClosedByPeer += r.ClosedByPeer;
                s.ResetsSent += r.ResetsSent;
                s.ResetsReceived += r.ResetsReceived;
                s.Unread += r.UnreadDataResets;
                if (!double.IsNaN(t.FirstOpenMs)) { s.FirstOpen = Min(s.FirstOpen, t.FirstOpenMs + off); s.LastOpen = Max(s.LastOpen, t.LastOpenMs + off); }
                if (!double.IsNaN(t.FirstCloseMs)) { s.FirstClose = Min(s.FirstClose, t.FirstCloseMs + off); s.LastClose = Max(s.LastClose, t.LastCloseMs + off); }
                foreach (var th in r.Threads)
                    if (s.Threads.Count < 4 && !s.Threads.Contains(th)) s.Threads.Add(th);
                s.Lifetimes.Join(t.Lifetimes);
                var loop = t.Loop.Shifted(off);
                if (s.Loop == null) s.Loop = loop;
                else s.Loop.Append(loop);
                foreach (var at in t.LocalCloses)
                    if (at + off >= endMs - 60_000) s.TimeWait++;
                if (i == segments.Count - 1) s.Live = t.LiveStates;
            }
        }
        var list = new List<WatchRow>(sums.Count);
        foreach (var s in sums.Values)
        {
            if (s.Opens == 0 && s.Closes == 0 && s.Live.Count == 0 && s.TimeWait == 0 && s.ResetsSent == 0 && s.ResetsReceived == 0) continue;
            var states = new Dictionary<TcpState, int>(s.Live);
            if (s.TimeWait > 0) states[TcpState.TimeWait] = states.GetValueOrDefault(TcpState.TimeWait) + s.TimeWait;
            list.Add(s.Key with
            {
                Threads = s.Threads.ToArray(),
                Opens = s.Opens,
                Closes = s.Closes,
                OpensPerSec = WatchBook.Rate(s.Opens, s.FirstOpen, s.LastOpen, seconds),
                ClosesPerSec = WatchBook.Rate(s.Closes, s.FirstClose, s.LastClose, seconds),
                MedianLifetimeMs = s.Lifetimes.Percentile(0.5),
                P99LifetimeMs = s.Lifetimes.Percentile(0.99),
                ClosedByLocal = s.ClosedByLocal,
                ClosedByPeer = s.ClosedByPeer,
                ResetsSent = s.ResetsSent,
                ResetsReceived = s.ResetsReceived,
                UnreadDataResets = s.Unread,
                StatesNow = states,
                Loop = s.Loop?.Stats(),
            });
        }
        return list.OrderByDescending(r => r.Opens + r.Closes).ThenBy(r => r.Endpoint, StringComparer.Ordinal).ToList();
    }

    /// <summary>The segments' kept connections as one record each on the window's clock, the most recent <paramref name="max"/>.</summary>
    private static List<WatchConnection> JoinConnections(IReadOnlyList<WatchEvidence> segments, double[] offsets, int max, out long total, out long attributed)
    {
        var list = new List<WatchConnection>();
        var open = new Dictionary<(ulong, ConnKey), WatchConnection>();
        var closed = new Dictionary<(ulong, ConnKey), WatchConnection>();
        total = attributed = 0;
        for (int i = 0; i < segments.Count; i++)
        {
            var seg = segments[i];
            double off = offsets[i];
            foreach (var c in seg.Connections)
            {
                var key = (c.NetnsInode, ConnKey.Of(c.Local, c.Remote));
                if (c.OpenedMs == null && open.TryGetValue(key, out var copy))
                {
                    // Carried over the cut: the same connection, its later state.
                    copy.State = c.State;
                    if (c.ClosedBy != ClosedBy.Unknown) copy.ClosedBy = c.ClosedBy;
                    Resets(copy, c);
                }
                else if (c.OpenedMs == null && c.ClosedMs == null && closed.TryGetValue(key, out var gone))
                {
                    // Closed in an earlier segment, listed in this one for a reset the kernel sent after the cut: that connection's.
                    if (gone.ClosedBy == ClosedBy.Unknown) gone.ClosedBy = c.ClosedBy;
                    Resets(gone, c);
                    continue;
                }
                else
                {
                    copy = Copy(c, off);
                    list.Add(copy);
                    total++;
                    if (copy.Pid != null) attributed++;
                }
                if (c.ClosedMs is double closedMs)
                {
                    copy.ClosedMs = closedMs + off;
                    open.Remove(key);
                    // Only one closed near its segment's end can have a later segment's reset (ConnectionTracker.Rotate).
                    if (closedMs >= seg.Seconds * 1000 - ConnectionTracker.ClosedHorizonMs) closed[key] = copy;
                }
                else open[key] = copy;
            }
        }
        return list.Count <= max ? list : list.GetRange(list.Count - max, max);
    }

    private static void Resets(WatchConnection into, WatchConnection c)
    {
        if (c.ResetsSent > 0 && (into.ResetCause == ResetCause.None || c.ResetCause == ResetCause.UnreadData)) into.ResetCause = c.ResetCause;
        into.ResetsSent += c.ResetsSent;
        into.ResetsReceived += c.ResetsReceived;
    }

    /// <summary>A segment's record on the window's clock. One carried over a cut whose first record is no longer kept gets its open back.</summary>
    private static WatchConnection Copy(WatchConnection c, double off)
    {
        double? opened = c.OpenedMs + off, before = c.OpenedBeforeMs + off;
        if (opened == null && before >= 0) (opened, before) = (before, null);
        var copy = c.Copy();
        copy.OpenedMs = opened;
        copy.OpenedBeforeMs = before;
        copy.FirstSeenMs = c.FirstSeenMs + off;
        copy.ClosedMs = null;
        return copy;
    }
}
