using ConnDoctor.Model;

namespace ConnDoctor.Analysis;

/// <summary>The filters shared by every command that looks at sockets. Empty means "everything".</summary>
public sealed record SocketFilter
{
    public IReadOnlyList<TcpState> States { get; init; } = [];
    public IReadOnlyList<int> Ports { get; init; } = [];       // local or remote port
    public IReadOnlyList<(NetEndpoint Endpoint, bool AnyAddress)> Remotes { get; init; } = [];
    public IReadOnlyList<(NetEndpoint Endpoint, bool AnyAddress)> Locals { get; init; } = [];
    public IReadOnlyList<int> Pids { get; init; } = [];
    /// <summary>Nothing received for at least this long (tcp_info's last_data_recv); sockets without tcp_info never match.</summary>
    public TimeSpan? Idle { get; init; }

    public bool IsEmpty => States.Count == 0 && Ports.Count == 0 && Remotes.Count == 0 && Locals.Count == 0 && Pids.Count == 0 && Idle == null;

    /// <summary>The mask to send to the kernel. LISTEN is always read: it tells server sockets from clients.</summary>
    public uint KernelStateMask
    {
        get
        {
            if (States.Count == 0) return TcpStates.AllMask;
            uint m = TcpStates.MaskOf(TcpState.Listen);
            foreach (var s in States) m |= TcpStates.MaskOf(s);
            return m;
        }
    }

    public bool Matches(SocketRecord s)
    {
        // Loops by index, not Contains over the interfaces (a generic comparer per call): a kill command is checked against
        // every socket of a 100k table.
        if (States.Count > 0 && !HasState(s.DisplayState)) return false;
        // The owner before the addresses: the most selective test where one peer holds most of the table (a pool's connections).
        if (Pids.Count > 0)
        {
            bool owned = false;
            foreach (var o in s.Owners) if (HasPid(o.Pid)) { owned = true; break; }
            if (!owned) return false;
        }
        if (Ports.Count > 0 && !Ports.Contains(s.Local.Port) && !Ports.Contains(s.Remote.Port)) return false;
        if (Remotes.Count > 0 && !AnyMatches(Remotes, s.Remote)) return false;
        if (Locals.Count > 0 && !AnyMatches(Locals, s.Local)) return false;
        if (Idle is TimeSpan idle && (s.Info is not TcpInfo i || i.LastDataRecvMs < idle.TotalMilliseconds)) return false;
        return true;
    }

    private bool HasState(TcpState st)
    {
        for (int i = 0; i < States.Count; i++) if (States[i] == st) return true;
        return false;
    }

    private bool HasPid(int pid)
    {
        for (int i = 0; i < Pids.Count; i++) if (Pids[i] == pid) return true;
        return false;
    }

    private static bool AnyMatches(IReadOnlyList<(NetEndpoint Endpoint, bool AnyAddress)> list, NetEndpoint actual)
    {
        // By index: a foreach over the interface boxes an enumerator per call (a kill command checked against 100k sockets).
        for (int i = 0; i < list.Count; i++)
        {
            var (ep, anyAddr) = list[i];
            if (!anyAddr && ep.Address.Unmapped != actual.Address.Unmapped) continue;
            if (ep.Port != 0 && ep.Port != actual.Port) continue;
            return true;
        }
        return false;
    }

    /// <summary>Why a matching socket matches: one short clause per criterion, with the socket's own value.</summary>
    public IReadOnlyList<string> Explain(SocketRecord s)
    {
        var why = new List<string>(6);
        if (States.Count > 0) why.Add($"state {TcpStates.Name(s.DisplayState)}");
        if (Remotes.Count > 0) why.Add($"peer {SocketGrouper.FormatEndpoint(s.Remote)}");
        if (Locals.Count > 0) why.Add($"local {SocketGrouper.FormatEndpoint(s.Local)}");
        if (Ports.Count > 0) why.Add(Ports.Contains(s.Local.Port) ? $"local port {s.Local.Port}" : $"peer port {s.Remote.Port}");
        if (Pids.Count > 0) why.Add($"held by pid {s.Owners.First(o => Pids.Contains(o.Pid)).Pid}");
        if (Idle is TimeSpan idle && s.Info is TcpInfo i) why.Add($"nothing received for {Format.Ms(i.LastDataRecvMs)} (>= {Format.Duration(idle)})");
        return why;
    }

    /// <summary>For `watch`: the same filters over a connection seen live (its last state, its owner). Idle does not apply.</summary>
    public bool Matches(WatchConnection c)
    {
        if (States.Count > 0 && !States.Contains(TcpStates.Normalize(c.State))) return false;
        if (Ports.Count > 0 && !Ports.Contains(c.Local.Port) && !Ports.Contains(c.Remote.Port)) return false;
        if (Remotes.Count > 0 && !AnyMatches(Remotes, c.Remote)) return false;
        if (Locals.Count > 0 && !AnyMatches(Locals, c.Local)) return false;
        if (Pids.Count > 0 && (c.Pid is not int pid || !Pids.Contains(pid))) return false;
        return true;
    }

    public IEnumerable<SocketRecord> Apply(IEnumerable<SocketRecord> sockets) => IsEmpty ? sockets : sockets.Where(Matches);
}
