using ConnDoctor.Model;

namespace ConnDoctor.Sources.Watch;

/// <summary>What the tracker needs from the world; the live source reads /proc and the socket table, tests pass fakes.</summary>
public interface IWatchWorld
{
    /// <summary>
    /// The process of the connecting task: <paramref name="tid"/> is the trace's task id (a thread's in a multi-threaded
    /// program), <paramref name="traceTgid"/> its thread group id when the trace carries one (0 when not), and
    /// <paramref name="printedComm"/> the task's name as the trace printed it.
    /// </summary>
    ConnectionOwner? Task(int tid, int traceTgid, string printedComm);
    /// <summary>The owner of a listening socket on this local endpoint in a watched namespace; null when none is watched.</summary>
    ConnectionOwner? Listener(NetEndpoint local);
    /// <summary>
    /// The owner of an existing connection (seen in the socket table at start) in a watched namespace. Asked once per
    /// connection (the tracker follows it from then on): the world may forget the entry.
    /// </summary>
    ConnectionOwner? Existing(NetEndpoint local, NetEndpoint remote);
    /// <summary>Whether events of this namespace are kept.</summary>
    bool Watched(ulong netnsInode);

    /// <summary>
    /// Whether a connection of a task that exited before it could be read is kept (its namespace is unknown). A health
    /// check, a cron job or a shell loop of `bash /dev/tcp` probes connects, closes and exits within a millisecond: the
    /// very processes a watch is for. Kept when the watch is not limited to chosen namespaces.
    /// </summary>
    bool KeepsExitedTasks => false;
}

/// <summary>
/// Turns tracepoint events into owned connections. The owner is taken when connect() runs (CLOSE -> SYN_SENT,
/// in the caller's context); the source port is not chosen yet then, so the first transition out of SYN_SENT
/// (which carries it) is matched to the pending connect by destination, preferring the same pid when that
/// transition ran in process context. Passive connections belong to the listener's owner: the pid printed in
/// softirq context is whatever task was on the CPU.
/// </summary>
public sealed class ConnectionTracker(IWatchWorld world, WatchBook book)
{
    private sealed class Pending
    {
        public required ConnectionOwner? Owner;
        /// <summary>The task (thread) that called connect(): a transition in process context carries the same one.</summary>
        public required int Tid;
        public required NetAddress Source;
        public required double Ms { get; set; }
        public bool Watched;
    }

    private readonly Dictionary<NetEndpoint, List<Pending>> _pending = new();
    private readonly Dictionary<ConnKey, WatchConnection> _live = new();
    // Closed connections for a while (their time on this segment's clock): a reset the kernel sends after close lands on them.
    // At is on the clock of the watch's first segment (ms + _closedBaseMs), so a cut need not touch them; Segment is the
    // number of the book the record belongs to (not the book: a cut book is let go at once, with its 15 s of closed records):
    // one closed before the cut is carried into the next book only if a reset comes for it.
    private readonly Dictionary<ConnKey, (WatchConnection C, double At, int Segment)> _closed = new();
    private int _segment;
    private double _closedBaseMs;
    private readonly HashSet<ConnKey> _ignored = new();
    private double _originSec = double.NaN;
    public long Events { get; private set; }

    /// <summary>Milliseconds since the first event (the trace clock is seconds since boot).</summary>
    private double Ms(double sec)
    {
        if (double.IsNaN(_originSec)) _originSec = sec - StartOffsetMs / 1000.0;
        return (sec - _originSec) * 1000.0;
    }

    /// <summary>How far into the watch the first event came (set by the source so that times start at the watch).</summary>
    public double StartOffsetMs { get; set; }

    public double NowMs(double traceSec) => Ms(traceSec);

    public void Handle(in TraceEvent ev)
    {
        Events++;
        double ms = Ms(ev.TimestampSec);
        switch (ev.Kind)
        {
            case TraceEventKind.SetState: SetState(ev, ms); break;
            case TraceEventKind.SendReset: SendReset(ev); break;
            case TraceEventKind.ReceiveReset: ReceiveReset(ev); break;
        }
    }

    private void SetState(in TraceEvent ev, double ms)
    {
        if (ev.OldState == TcpState.Close && ev.NewState == TcpState.SynSent)
        {
            var owner = world.Task(ev.Pid, ev.Tgid, ev.Comm);
            bool watched = owner != null && (owner.Exited ? world.KeepsExitedTasks : world.Watched(owner.NetnsInode));
            if (owner is { Exited: true }) { if (watched) ExitedOwners++; else ExitedLeftOut++; }
            if (watched && owner is { Tid: not null }) FromThreads++;
            if (watched && owner is { PidIsTask: true }) TaskIdOnly++;
            var p = new Pending { Owner = owner, Tid = ev.Pid, Source = ev.Src.Address, Ms = ms, Watched = watched };
            if (!_pending.TryGetValue(ev.Dst, out var list)) _pending[ev.Dst] = list = new List<Pending>(2);
            list.Add(p);
            return;
        }
        if (ev.NewState == TcpState.Listen || ev.OldState == TcpState.Listen && ev.NewState == TcpState.Close) return;
        var key = ConnKey.Of(ev.Src, ev.Dst);
        if (ev.OldState == TcpState.SynSent)
        {
            var (p, ambiguous) = TakePending(ev);
            if (p == null || !p.Watched || p.Owner == null) { if (ev.NewState != TcpState.Close) _ignored.Add(key); return; }
            var o = p.Owner;
            var c = Owned(o, ev.Src, ev.Dst, passive: false, p.Ms, ev.NewState);
            if (!Admit(c, key)) return;
            if (ambiguous) { Guessed++; if (ev.NewState != TcpState.Close) _ambiguous.Add(c); }
            if (ev.NewState == TcpState.Close) { c.ClosedBy = ClosedBy.PeerReset; c.State = TcpState.SynSent; Finish(key, c, ms); }
            else _live[key] = c;
            return;
        }
        if (ev.OldState == TcpState.Listen && ev.NewState is TcpState.SynRecv or TcpState.NewSynRecv)
        {
            var o = world.Listener(ev.Src);
            if (o == null) { _ignored.Add(key); return; }
            _ignored.Remove(key);
            // The child socket is made when the handshake completes: ESTABLISHED follows at once (that event is filtered out).
            var c = Owned(o, ev.Src, ev.Dst, passive: true, ms, TcpState.Established);
            if (!Admit(c, key)) return;
            _live[key] = c;
            return;
        }
        if (!_live.TryGetValue(key, out var conn))
        {
            if (_ignored.Contains(key))
            {
                if (ev.NewState == TcpState.Close) _ignored.Remove(key);
                return;
            }
            var o = world.Existing(ev.Src, ev.Dst);
            if (o == null) { if (ev.NewState != TcpState.Close) _ignored.Add(key); return; }
            conn = Owned(o, ev.Src, ev.Dst, passive: false, null, ev.OldState, firstSeenMs: ms);
            if (!Admit(conn, key)) return;
            _live[key] = conn;
        }
        if (ev.OldState is TcpState.Established or TcpState.SynRecv && ev.NewState == TcpState.FinWait1 && conn.ClosedBy == ClosedBy.Unknown) conn.ClosedBy = ClosedBy.Local;
        if (ev.NewState == TcpState.CloseWait && conn.ClosedBy == ClosedBy.Unknown) conn.ClosedBy = ClosedBy.Peer;
        if (ev.NewState == TcpState.Close)
        {
            // FIN_WAIT2/CLOSING -> CLOSE: the socket became a TIME_WAIT mini-socket (no transition of its own is traced).
            if (ev.OldState is TcpState.FinWait2 or TcpState.Closing or TcpState.TimeWait) conn.State = TcpState.TimeWait;
            else if (ev.OldState is TcpState.Established or TcpState.CloseWait && conn.ClosedBy == ClosedBy.Unknown)
                conn.ClosedBy = ClosedBy.LocalReset; // aborted by its own side (a received reset was counted before): the RST event follows
            Finish(key, conn, ms);
            return;
        }
        conn.State = ev.NewState;
    }

    private WatchConnection Owned(ConnectionOwner o, NetEndpoint local, NetEndpoint remote, bool passive, double? openedMs, TcpState state, double? firstSeenMs = null) => new()
    {
        Local = local, Remote = remote, Passive = passive, Owner = o,
        OpenedMs = openedMs, FirstSeenMs = firstSeenMs ?? openedMs ?? 0, State = state,
    };

    /// <summary>The user's filters (--port, --remote, --pid): a connection that does not match is not followed.</summary>
    public Func<WatchConnection, bool>? Filter { get; init; }

    private bool Admit(WatchConnection c, ConnKey key)
    {
        if (Filter != null && !Filter(c)) { if (c.ClosedMs == null) _ignored.Add(key); return false; }
        book.Open(c);
        return true;
    }

    /// <summary>
    /// The connect() this transition belongs to. With one pending connect to that destination it is certain; with
    /// several from different processes, the printed pid decides in process context (the socket was owned by its
    /// task); in softirq context it is a guess (the printed pid, else the source address, else the oldest), which
    /// <see cref="Verify"/> corrects from the socket table for connections still open at the next refresh.
    /// </summary>
    private (Pending?, bool Ambiguous) TakePending(in TraceEvent ev)
    {
        if (!_pending.TryGetValue(ev.Dst, out var list) || list.Count == 0) return (null, false);
        int tid = ev.Pid;
        var src = ev.Src.Address;
        // Threads of one process are one owner: only connects of different processes make the join a guess.
        int? firstPid = list[0].Owner?.Pid;
        bool several = list.Exists(p => p.Owner?.Pid != firstPid);
        int pick = list.FindIndex(p => p.Tid == tid);
        bool ambiguous = several; // even in process context the task may be another socket's (softirq work done on its way out)
        if (pick < 0) pick = list.FindIndex(p => p.Source == src && !p.Source.IsAny);
        if (pick < 0) pick = 0;
        var chosen = list[pick];
        list.RemoveAt(pick);
        if (list.Count == 0) _pending.Remove(ev.Dst);
        return (chosen, ambiguous);
    }

    private readonly HashSet<WatchConnection> _ambiguous = new(ReferenceEqualityComparer.Instance);

    /// <summary>Connections whose owner was a guess (concurrent connects to one destination, joined in softirq).</summary>
    public int Guessed { get; private set; }

    /// <summary>Connections whose task had exited before /proc was read: named by the trace's pid and command name only.</summary>
    public int ExitedOwners { get; private set; }

    /// <summary>Connects made by a thread other than its process's main one (named by the process, the thread kept as a detail).</summary>
    public int FromThreads { get; private set; }

    /// <summary>Connects of tasks gone before they were read whose thread group the trace did not give either: named by the task id.</summary>
    public int TaskIdOnly { get; private set; }

    /// <summary>Connects of tasks that had exited before they could be read, left out because the watch is limited to chosen namespaces.</summary>
    public int ExitedLeftOut { get; private set; }
    /// <summary>Guesses corrected from the socket table.</summary>
    public int Corrected { get; private set; }
    public bool HasUnverified => _ambiguous.Count > 0;

    /// <summary>Checks guessed owners of connections still open against the socket table (local, remote) -> owner.</summary>
    public void Verify(Func<NetEndpoint, NetEndpoint, ConnectionOwner?> owner)
    {
        foreach (var c in _ambiguous.ToList())
        {
            _ambiguous.Remove(c);
            if (c.ClosedMs != null) continue;
            if (owner(c.Local, c.Remote) is { Pid: int pid } t && pid != c.Pid)
            {
                book.Reattribute(c, pid, t.Comm, t.CommandLine);
                Corrected++;
            }
        }
    }

    private void Finish(ConnKey key, WatchConnection c, double ms)
    {
        _live.Remove(key);
        _closed[key] = (c, ms + _closedBaseMs, _segment);
        book.Close(c, ms);
    }

    private WatchConnection? LiveOrClosed(ConnKey key)
    {
        if (_live.TryGetValue(key, out var c)) return c;
        if (!_closed.TryGetValue(key, out var closed)) return null;
        if (closed.Segment == _segment) return closed.C;
        // A reset the kernel sends for a connection closed before the cut (NO_SOCKET, or the abort's own reset read after
        // the close) lands in this segment: the connection is remembered here, neither open nor closed again, and listed
        // in it (the window joins it to the connection's earlier record).
        var copy = Carry(closed.C, null);
        book.Remember(copy);
        _closed[key] = (copy, closed.At, _segment);
        return copy;
    }

    private void SendReset(in TraceEvent ev)
    {
        var key = ConnKey.Of(ev.Src, ev.Dst);
        if (LiveOrClosed(key) is not { } c) return;
        ResetCause cause = ev.Reason switch
        {
            "TCP_ABORT_ON_CLOSE" => ResetCause.UnreadData,
            "NO_SOCKET" => ResetCause.NoSocket,
            null when ev.NewState == TcpState.Close && !_live.ContainsKey(key) && c.ClosedBy == ClosedBy.LocalReset && c.ResetsSent == 0
                => ResetCause.UnreadData, // kernels without the reason field: closed straight from ESTABLISHED with a reset
            _ => ResetCause.Other,
        };
        // A reset after close (NO_SOCKET) answers data the peer kept sending to a socket closed with data unread: same cause.
        if (cause == ResetCause.NoSocket && c.ResetCause == ResetCause.UnreadData) cause = ResetCause.UnreadData;
        if (c.ClosedBy == ClosedBy.Unknown) c.ClosedBy = ClosedBy.LocalReset;
        book.ResetSent(c, cause);
    }

    private void ReceiveReset(in TraceEvent ev)
    {
        var key = ConnKey.Of(ev.Src, ev.Dst);
        if (LiveOrClosed(key) is not { } c) return;
        if (c.ClosedBy == ClosedBy.Unknown) c.ClosedBy = ClosedBy.PeerReset;
        book.ResetReceived(c);
    }

    /// <summary>How long a closed connection is kept for the resets the kernel sends after it (carried across a cut too).</summary>
    public const double ClosedHorizonMs = 10_000;

    /// <summary>Forgets closed connections older than the horizon and connects that never progressed (their events were lost).</summary>
    public void Prune(double nowMs, double horizonMs = ClosedHorizonMs)
    {
        // Removing while enumerating is allowed for Dictionary (since .NET Core 3.0): no list of keys per prune.
        foreach (var (k, v) in _closed)
            if (v.At < nowMs + _closedBaseMs - horizonMs) _closed.Remove(k);
        foreach (var (dst, list) in _pending.ToList())
        {
            list.RemoveAll(p => p.Ms < nowMs - 120_000);
            if (list.Count == 0) _pending.Remove(dst);
        }
        if (_ignored.Count > 200_000) _ignored.Clear();
    }

    public IEnumerable<WatchConnection> Live => _live.Values;

    /// <summary>
    /// Starts a new segment without stopping the trace (the agent's interval): the account so far stays with the old
    /// book, events from now on go to <paramref name="next"/>, and times restart at the segment's start
    /// (<paramref name="segmentMs"/> after the old one's). A connection still open is carried over as already open
    /// (OpenedMs null: its open was counted in the segment that saw it), with its owner, state and who closed first, so
    /// its close, resets and state changes land in the new segment and it is counted once across both.
    /// </summary>
    public void Rotate(WatchBook next, double segmentMs)
    {
        if (double.IsNaN(_originSec)) StartOffsetMs -= segmentMs;
        else _originSec += segmentMs / 1000.0;
        foreach (var list in _pending.Values)
            foreach (var p in list) p.Ms -= segmentMs;
        var carried = new Dictionary<WatchConnection, WatchConnection>(ReferenceEqualityComparer.Instance);
        foreach (var (key, c) in _live.ToList())
        {
            var copy = Carry(c, segmentMs);
            next.Open(copy);
            _live[key] = copy;
            carried[c] = copy;
        }
        foreach (var c in _ambiguous.ToList())
        {
            _ambiguous.Remove(c);
            if (carried.TryGetValue(c, out var copy)) _ambiguous.Add(copy);
        }
        // The recently closed stay as they are: one is carried into the new book when a reset comes for it (LiveOrClosed).
        _closedBaseMs += segmentMs;
        book = next;
        _segment++;
    }

    /// <param name="shiftMs">The cut's length, for a connection still open: its open time is kept on the new segment's
    /// clock (<see cref="WatchConnection.OpenedBeforeMs"/>) so a close later measures its whole lifetime; null for a
    /// closed connection remembered for a late reset (it never closes again).</param>
    private static WatchConnection Carry(WatchConnection c, double? shiftMs)
    {
        var copy = c.Copy();
        copy.OpenedBeforeMs = shiftMs is double s ? (c.OpenedMs ?? c.OpenedBeforeMs) - s : null;
        copy.OpenedMs = null;
        copy.FirstSeenMs = 0;
        copy.ClosedMs = null;
        copy.ResetsSent = copy.ResetsReceived = 0;
        return copy;
    }
}
