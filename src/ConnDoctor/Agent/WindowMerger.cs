using ConnDoctor.Model;
using ConnDoctor.Sources.Watch;

namespace ConnDoctor.Agent;

/// <summary>
/// The agent watches in back-to-back segments (one per interval); the rules look at a sliding window of several. This
/// joins the segments' watch evidence into one: connections replayed into one <see cref="WatchBook"/> on one clock (ms
/// from the window's start), a connection that spans segments counted once (the later segment sees it as already open),
/// CLOSE_WAIT trends from the first segment's start to the last one's end, events and losses summed.
/// </summary>
public static class WindowMerger
{
    public static WatchEvidence? Merge(IReadOnlyList<WatchEvidence> segments, int maxConnections)
    {
        if (segments.Count == 0) return null;
        if (segments.Count == 1) return segments[0];
        var start = segments[0].StartedAt;
        var book = new WatchBook(maxConnections);
        var open = new Dictionary<(ulong, NetEndpoint, NetEndpoint), WatchConnection>();
        var closed = new Dictionary<(ulong, NetEndpoint, NetEndpoint), WatchConnection>();
        int total = 0;
        foreach (var seg in segments)
        {
            double offset = (seg.StartedAt - start).TotalMilliseconds;
            foreach (var c in seg.Connections)
            {
                if (++total > maxConnections) break;
                var key = (c.NetnsInode, c.Local, c.Remote);
                WatchConnection copy;
                if (c.OpenedMs == null && open.TryGetValue(key, out var earlier)) copy = earlier;
                else if (c.OpenedMs == null && c.ClosedMs == null && closed.TryGetValue(key, out var gone))
                {
                    // Closed in an earlier segment, listed in this one for a reset the kernel sent after the cut: that connection's.
                    for (int i = 0; i < c.ResetsSent; i++) book.ResetSent(gone, c.ResetCause);
                    for (int i = 0; i < c.ResetsReceived; i++) book.ResetReceived(gone);
                    continue;
                }
                else
                {
                    copy = new WatchConnection
                    {
                        Local = c.Local, Remote = c.Remote, Passive = c.Passive, Pid = c.Pid, Comm = c.Comm, CommandLine = c.CommandLine,
                        Tid = c.Tid, Thread = c.Thread, OwnerExited = c.OwnerExited, PidIsTask = c.PidIsTask, Uid = c.Uid,
                        NetnsInode = c.NetnsInode, Netns = c.Netns, Container = c.Container, Pod = c.Pod,
                        OpenedMs = c.OpenedMs + offset, FirstSeenMs = c.FirstSeenMs + offset, State = c.State, ClosedBy = c.ClosedBy,
                        LastRecvQueue = c.LastRecvQueue,
                    };
                    book.Open(copy);
                    open[key] = copy;
                }
                copy.State = c.State;
                if (c.ClosedBy != ClosedBy.Unknown) copy.ClosedBy = c.ClosedBy;
                for (int i = 0; i < c.ResetsSent; i++) book.ResetSent(copy, c.ResetCause);
                for (int i = 0; i < c.ResetsReceived; i++) book.ResetReceived(copy);
                if (c.ClosedMs is double closedMs)
                {
                    book.Close(copy, closedMs + offset);
                    open.Remove(key);
                    // Only one closed near its segment's end can have a later segment's reset (ConnectionTracker.Rotate).
                    if (closedMs >= seg.Seconds * 1000 - ConnectionTracker.ClosedHorizonMs) closed[key] = copy;
                }
            }
        }
        var last = segments[^1];
        double seconds = (last.StartedAt - start).TotalSeconds + last.Seconds;
        var firstTrend = segments[0].CloseWait.ToDictionary(t => (t.Pid, t.Netns), t => t.AtStart);
        return last with
        {
            StartedAt = start,
            Seconds = seconds,
            Connections = book.RecentConnections,
            Rows = book.Rows(seconds * 1000, seconds),
            CloseWait = last.CloseWait.Select(t => t with { AtStart = firstTrend.GetValueOrDefault((t.Pid, t.Netns), t.AtStart), Seconds = seconds }).ToList(),
            EventsRead = segments.Sum(s => s.EventsRead),
            EventsLost = segments.Any(s => s.EventsLost != null) ? segments.Sum(s => s.EventsLost ?? 0) : null,
            MalformedLines = segments.Sum(s => s.MalformedLines),
            GuessedOwners = segments.Sum(s => s.GuessedOwners),
            AttributedShare = book.AttributedShare,
        };
    }
}
