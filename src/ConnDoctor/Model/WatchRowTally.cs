namespace ConnDoctor.Model;

/// <summary>
/// The parts of one row of one watch segment that the agent's sliding window joins with the same row of the other
/// segments, so that the window's rows equal those of one uncut watch without keeping every connection: counts add up,
/// first and last times are min and max, lifetimes join in a <see cref="LifetimeSketch"/>, the loop trackers append,
/// the states now are the last segment's, TIME_WAIT now counts the local closes of the window's last minute.
/// </summary>
public sealed record WatchRowTally
{
    /// <summary>The book's row key: owner, namespace inode, side, remote address and port (server rows: client address, local port).</summary>
    public required (int? Pid, ulong Netns, bool Passive, NetAddress Address, int Port) Key { get; init; }
    /// <summary>On the segment's clock (ms); NaN when none.</summary>
    public double FirstOpenMs { get; init; } = double.NaN;
    public double LastOpenMs { get; init; }
    public double FirstCloseMs { get; init; } = double.NaN;
    public double LastCloseMs { get; init; }
    public required LifetimeSketch Lifetimes { get; init; }
    public required LoopTracker Loop { get; init; }
    /// <summary>The row's open connections by state at the segment's end (without the TIME_WAIT of its local closes).</summary>
    public IReadOnlyDictionary<TcpState, int> LiveStates { get; init; } = new Dictionary<TcpState, int>();
    /// <summary>When it closed connections first (ClosedBy.Local), within the last minute of the segment: ms, ascending.</summary>
    public double[] LocalCloses { get; init; } = [];
    /// <summary>Its events as the agent's counters count them, per owner name and remote (exact: every event of the segment).</summary>
    public IReadOnlyList<CounterTally> Counters { get; init; } = [];
}

/// <summary>
/// One owner x remote's events in one segment, as the agent's counters (Agent/ConnectionCounters) counts them, counted
/// in the book as they happen (so none is lost when the segment keeps only its most recent connections).
/// </summary>
public sealed class CounterTally
{
    /// <summary>
    /// Remote is default for an accepted connection; LocalPort is set only for a connection not opened in this segment
    /// (already open, or carried over a cut), whose direction the agent decides from the ports.
    /// </summary>
    public readonly record struct Id(int? Pid, bool PidIsTask, string? Comm, string? Pod, ulong Netns, bool Passive, NetEndpoint Remote, ushort LocalPort);

    public required Id Key { get; init; }
    public long Opened, ClosedSelf, ClosedPeer, TimeWait, ResetsReceived, Refused, NoAnswer;
    public long ResetsUnread, ResetsNoSocket, ResetsOther;

    public bool IsEmpty => Opened == 0 && ClosedSelf == 0 && ClosedPeer == 0 && TimeWait == 0 && ResetsReceived == 0 && Refused == 0 &&
                           NoAnswer == 0 && ResetsUnread == 0 && ResetsNoSocket == 0 && ResetsOther == 0;

    public static Id IdOf(WatchConnection c) => new(c.Pid, c.PidIsTask, c.Comm, c.Pod, c.NetnsInode, c.Passive,
        c.Passive ? default : c.Remote, c.Passive || c.OpenedMs != null ? (ushort)0 : c.Local.Port);

    public CounterTally Clone() => (CounterTally)MemberwiseClone();

    /// <summary>A closed connection: by whom, or a connect that never got established.</summary>
    public void Closed(WatchConnection c)
    {
        if (FailedConnect(c)) { if (c.ResetsReceived > 0 || c.ClosedBy == ClosedBy.PeerReset) Refused++; else NoAnswer++; return; }
        switch (c.ClosedBy)
        {
            case ClosedBy.Local: ClosedSelf++; TimeWait++; break;
            case ClosedBy.LocalReset: ClosedSelf++; break;
            case ClosedBy.Peer or ClosedBy.PeerReset: ClosedPeer++; break;
        }
    }

    /// <summary>A connect() that never got established: it closed from SYN_SENT.</summary>
    public static bool FailedConnect(WatchConnection c) => !c.Passive && c.State == TcpState.SynSent;

    /// <summary><paramref name="n"/> resets sent, with the connection's cause as it stands.</summary>
    public void ResetSent(ResetCause cause, long n = 1)
    {
        switch (cause)
        {
            case ResetCause.UnreadData: ResetsUnread += n; break;
            case ResetCause.NoSocket: ResetsNoSocket += n; break;
            default: ResetsOther += n; break;
        }
    }

    /// <summary>One connection's whole account at once (a connection list, not a book's events).</summary>
    public static CounterTally Of(WatchConnection c)
    {
        var t = new CounterTally { Key = IdOf(c) };
        if (c.OpenedMs != null) t.Opened++;
        if (c.ClosedMs != null) t.Closed(c);
        if (c.ResetsSent > 0) t.ResetSent(c.ResetCause, c.ResetsSent);
        if (c.ResetsReceived > 0 && !(c.ClosedMs != null && FailedConnect(c))) t.ResetsReceived += c.ResetsReceived;
        return t;
    }
}
