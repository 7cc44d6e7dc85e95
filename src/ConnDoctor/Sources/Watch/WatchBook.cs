using ConnDoctor.Analysis;
using ConnDoctor.Model;

namespace ConnDoctor.Sources.Watch;

/// <summary>
/// The running account of a watch, shared by both event sources: connections (the most recent kept in full),
/// and per process -> endpoint accumulators that survive any number of connections.
/// </summary>
public sealed class WatchBook(int keepConnections = 50_000)
{
    private sealed class Acc
    {
        public required WatchRow Key;
        public int Opens, Closes, ClosedLocal, ClosedPeer, ResetConns, ResetsReceived, Unread, OpensAtTick, ClosesAtTick;
        public double FirstOpen = double.NaN, LastOpen, FirstClose = double.NaN, LastClose;
        public readonly List<float> Lifetimes = new();
        public readonly List<string> Threads = new(MaxThreadNames);
        public readonly HashSet<WatchConnection> Live = new(ReferenceEqualityComparer.Instance);
        public readonly Queue<double> LocalCloses = new(); // for TIME_WAIT now (last 60 s)
        public int LastOpensPerTick, LastClosesPerTick;
        public long LifetimesSeen;
        public readonly LoopTracker Loop = new();
        public readonly LifetimeSketch Sketch = new();
        public readonly Dictionary<CounterTally.Id, CounterTally> Counters = new();

        public CounterTally Counter(WatchConnection c)
        {
            var id = CounterTally.IdOf(c);
            if (!Counters.TryGetValue(id, out var t)) Counters[id] = t = new CounterTally { Key = id };
            return t;
        }
    }

    private readonly Dictionary<(int?, ulong, bool, NetAddress, int), Acc> _rows = new();
    private readonly Dictionary<WatchConnection, Acc> _accOf = new(ReferenceEqualityComparer.Instance);
    private readonly Queue<WatchConnection> _recent = new();
    private const int MaxLifetimes = 100_000;
    private const int MaxThreadNames = 4;
    private readonly Random _random = new(1);
    public int Total { get; private set; }
    public int Attributed { get; private set; }

    public void Open(WatchConnection c)
    {
        Total++;
        if (c.Pid != null) Attributed++;
        var acc = AccFor(c);
        _accOf[c] = acc;
        acc.Live.Add(c);
        if (c.OpenedMs is double t)
        {
            acc.Opens++;
            acc.Counter(c).Opened++;
            if (double.IsNaN(acc.FirstOpen)) acc.FirstOpen = t;
            acc.LastOpen = t;
        }
        // A row opened by a connection whose owner was gone before it was read learns the name from a later one.
        if (acc.Key.Process == null && c.Comm != null && !c.PidIsTask)
            acc.Key = acc.Key with { Process = c.Comm, CommandLine = c.CommandLine, OwnerExited = c.OwnerExited };
        if (c.Thread is string th && acc.Threads.Count < MaxThreadNames && !acc.Threads.Contains(th)) acc.Threads.Add(th);
        _recent.Enqueue(c);
        while (_recent.Count > keepConnections) _recent.Dequeue();
    }

    /// <summary>
    /// A connection closed in the previous segment, kept so that a reset the kernel sends for it after the cut counts here:
    /// neither opened nor closed in this book, and in <see cref="RecentConnections"/> only once such a reset comes.
    /// </summary>
    public void Remember(WatchConnection c)
    {
        _accOf[c] = AccFor(c);
        _remembered.Add(c);
    }

    private readonly HashSet<WatchConnection> _remembered = new(ReferenceEqualityComparer.Instance);

    private void ListIfRemembered(WatchConnection c)
    {
        if (_remembered.Count == 0 || !_remembered.Remove(c)) return;
        _recent.Enqueue(c);
        while (_recent.Count > keepConnections) _recent.Dequeue();
    }

    /// <summary>An owner found later (snapshot mode: the socket table named it after the first sighting).</summary>
    public void Reattribute(WatchConnection c, int pid, string? comm, string? commandLine)
    {
        if (c.Pid == pid || !_accOf.TryGetValue(c, out var old)) return;
        if (c.Pid == null) Attributed++;
        old.Live.Remove(c);
        if (c.OpenedMs != null) { old.Opens--; old.Counter(c).Opened--; }
        // The thread was the guessed owner's.
        c.Owner = c.Owner with { Pid = pid, Comm = comm, CommandLine = commandLine, Tid = null, Thread = null, Exited = false, PidIsTask = false };
        var acc = AccFor(c);
        _accOf[c] = acc;
        acc.Live.Add(c);
        if (c.OpenedMs is double t)
        {
            acc.Opens++;
            acc.Counter(c).Opened++;
            if (double.IsNaN(acc.FirstOpen)) acc.FirstOpen = t;
            acc.LastOpen = Math.Max(acc.LastOpen, t);
        }
    }

    public void Close(WatchConnection c, double ms)
    {
        if (c.ClosedMs != null || !_accOf.TryGetValue(c, out var acc)) return;
        c.ClosedMs = ms;
        acc.Live.Remove(c);
        acc.Closes++;
        if (double.IsNaN(acc.FirstClose)) acc.FirstClose = ms;
        acc.LastClose = ms;
        // Opened in this watch, or in an earlier segment of the agent's trace (carried over the cut): its whole lifetime.
        if ((c.OpenedMs ?? c.OpenedBeforeMs) is double opened)
        {
            double l = ms - opened;
            // A uniform sample of at most MaxLifetimes per row (reservoir): percentiles stay honest on a watch of hours.
            acc.LifetimesSeen++;
            if (acc.Lifetimes.Count < MaxLifetimes) acc.Lifetimes.Add((float)l);
            else if (_random.NextInt64(acc.LifetimesSeen) is var j && j < MaxLifetimes) acc.Lifetimes[(int)j] = (float)l;
            acc.Sketch.Add(l);
            // Watch cannot see payload: a connection closed within a second is taken as one that never got going.
            acc.Loop.Add(opened, failed: l < WatchRow.ShortMs);
        }
        if (c.ClosedBy is ClosedBy.Local) { acc.ClosedLocal++; acc.LocalCloses.Enqueue(ms); }
        else if (c.ClosedBy is ClosedBy.Peer or ClosedBy.PeerReset) acc.ClosedPeer++;
        else if (c.ClosedBy is ClosedBy.LocalReset) acc.ClosedLocal++;
        acc.Counter(c).Closed(c);
        // Closed long ago: no event of the trace can reach it any more (the tracker keeps closed ones for its horizon).
        _closedOrder.Enqueue(c);
        while (_closedOrder.Peek().ClosedMs < ms - ForgetClosedMs) _accOf.Remove(_closedOrder.Dequeue());
    }

    /// <summary>A closed connection is forgotten (not its counts) this long after its close: well past the tracker's horizon for late resets.</summary>
    private const double ForgetClosedMs = 6 * ConnectionTracker.ClosedHorizonMs;
    private readonly Queue<WatchConnection> _closedOrder = new();

    public void ResetSent(WatchConnection c, ResetCause cause)
    {
        if (!_accOf.TryGetValue(c, out var acc)) return;
        ListIfRemembered(c);
        // A cause already set: its first reset was counted before (on a record carried over a cut, in the earlier segment).
        if (c.ResetsSent == 0 && c.ResetCause == ResetCause.None) acc.ResetConns++;
        c.ResetsSent++;
        if (cause == ResetCause.UnreadData && c.ResetCause != ResetCause.UnreadData) acc.Unread++;
        if (c.ResetCause == ResetCause.None || cause == ResetCause.UnreadData) c.ResetCause = cause;
        acc.Counter(c).ResetSent(c.ResetCause);
    }

    public void ResetReceived(WatchConnection c)
    {
        if (!_accOf.TryGetValue(c, out var acc)) return;
        ListIfRemembered(c);
        if (c.ResetsReceived == 0) acc.ResetsReceived++;
        c.ResetsReceived++;
        // A connect answered by a reset counts as refused when it closes, not as a received reset.
        if (!(c.ClosedMs == null && CounterTally.FailedConnect(c))) acc.Counter(c).ResetsReceived++;
    }

    private Acc AccFor(WatchConnection c)
    {
        var key = (c.Pid, c.NetnsInode, c.Passive, c.Passive ? c.Remote.Address.Unmapped : c.Remote.Address.Unmapped, c.Passive ? c.Local.Port : c.Remote.Port);
        if (!_rows.TryGetValue(key, out var acc))
        {
            string ep = c.Passive
                ? $":{c.Local.Port} <- {SocketGrouper.FormatHost(c.Remote.Address)}"
                : SocketGrouper.FormatEndpoint(c.Remote);
            acc = new Acc
            {
                Key = new WatchRow
                {
                    Pid = c.Pid, Process = c.Comm, CommandLine = c.CommandLine, OwnerExited = c.OwnerExited, PidIsTask = c.PidIsTask,
                    Uid = c.Uid, Netns = c.Netns, Container = c.Container, Pod = c.Pod, Passive = c.Passive,
                    Endpoint = ep, RemotePort = c.Remote.Port, LocalPort = c.Local.Port,
                },
            };
            _rows[key] = acc;
        }
        return acc;
    }

    /// <summary>Marks the end of an interval: the per-interval counts of the live view restart.</summary>
    public void Tick()
    {
        foreach (var a in _rows.Values)
        {
            a.LastOpensPerTick = a.Opens - a.OpensAtTick;
            a.LastClosesPerTick = a.Closes - a.ClosesAtTick;
            a.OpensAtTick = a.Opens;
            a.ClosesAtTick = a.Closes;
        }
    }

    /// <summary>All rows together at a tick (call after <see cref="Tick"/>): opened and closed in the interval, and the states now.</summary>
    public WatchSample Sample(double nowMs)
    {
        int opened = 0, closed = 0, est = 0, tw = 0, cw = 0, other = 0;
        foreach (var a in _rows.Values)
        {
            opened += a.LastOpensPerTick;
            closed += a.LastClosesPerTick;
            while (a.LocalCloses.Count > 0 && a.LocalCloses.Peek() < nowMs - 60_000) a.LocalCloses.Dequeue();
            tw += a.LocalCloses.Count;
            foreach (var c in a.Live)
                switch (TcpStates.Normalize(c.State))
                {
                    case TcpState.Established: est++; break;
                    case TcpState.TimeWait: tw++; break;
                    case TcpState.CloseWait: cw++; break;
                    default: other++; break;
                }
        }
        return new WatchSample(Math.Round(nowMs / 1000, 3), opened, closed, est, tw, cw, other);
    }

    /// <summary>The rows as they stand at <paramref name="nowMs"/>, busiest first.</summary>
    public List<WatchRow> Rows(double nowMs, double watchSeconds, bool perInterval = false, double intervalSeconds = 1)
    {
        var list = new List<WatchRow>(_rows.Count);
        foreach (var (key, a) in _rows)
        {
            while (a.LocalCloses.Count > 0 && a.LocalCloses.Peek() < nowMs - 60_000) a.LocalCloses.Dequeue();
            var states = new Dictionary<TcpState, int>();
            foreach (var c in a.Live)
            {
                var s = TcpStates.Normalize(c.State);
                states[s] = states.GetValueOrDefault(s) + 1;
            }
            var live = new Dictionary<TcpState, int>(states);
            if (a.LocalCloses.Count > 0) states[TcpState.TimeWait] = states.GetValueOrDefault(TcpState.TimeWait) + a.LocalCloses.Count;
            // A row with only resets: a connection closed in the segment before, whose late reset came in this one.
            if (a.Opens == 0 && a.Closes == 0 && a.Live.Count == 0 && a.LocalCloses.Count == 0 && a.ResetConns == 0 && a.ResetsReceived == 0 &&
                a.Counters.Values.All(t => t.IsEmpty)) continue;
            float[] lt = a.Lifetimes.ToArray();
            Array.Sort(lt);
            list.Add(a.Key with
            {
                Threads = a.Threads.ToArray(),
                Opens = a.Opens,
                Closes = a.Closes,
                OpensPerSec = perInterval ? a.LastOpensPerTick / intervalSeconds : Rate(a.Opens, a.FirstOpen, a.LastOpen, watchSeconds),
                ClosesPerSec = perInterval ? a.LastClosesPerTick / intervalSeconds : Rate(a.Closes, a.FirstClose, a.LastClose, watchSeconds),
                MedianLifetimeMs = lt.Length > 0 ? LifetimeSketch.NearestRank(lt, 0.5) : null,
                P99LifetimeMs = lt.Length > 0 ? LifetimeSketch.NearestRank(lt, 0.99) : null,
                ClosedByLocal = a.ClosedLocal,
                ClosedByPeer = a.ClosedPeer,
                ResetsSent = a.ResetConns,
                ResetsReceived = a.ResetsReceived,
                UnreadDataResets = a.Unread,
                StatesNow = states,
                Loop = a.Loop.Stats(),
                Tally = new WatchRowTally
                {
                    Key = key,
                    FirstOpenMs = a.FirstOpen, LastOpenMs = a.LastOpen, FirstCloseMs = a.FirstClose, LastCloseMs = a.LastClose,
                    Lifetimes = a.Sketch.Clone(), Loop = a.Loop.Clone(), LiveStates = live,
                    LocalCloses = a.LocalCloses.ToArray(),
                    Counters = a.Counters.Values.Where(t => !t.IsEmpty).Select(t => t.Clone()).ToList(),
                },
            });
        }
        return list.OrderByDescending(r => r.Opens + r.Closes).ThenBy(r => r.Endpoint, StringComparer.Ordinal).ToList();
    }

    /// <summary>Events per second while they were happening: n-1 gaps between the first and the last; over the whole watch when they are too few.</summary>
    internal static double Rate(int n, double firstMs, double lastMs, double watchSeconds)
    {
        if (n == 0) return 0;
        double span = (lastMs - firstMs) / 1000.0;
        return n >= 10 && span >= 0.5 ? (n - 1) / span : n / Math.Max(1.0, watchSeconds);
    }


    public IReadOnlyList<WatchConnection> RecentConnections => _recent.ToList();
    public double AttributedShare => Total == 0 ? 1.0 : (double)Attributed / Total;
}
