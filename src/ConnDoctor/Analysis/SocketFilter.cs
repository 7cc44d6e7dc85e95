using ConnDoctor.Model;

namespace ConnDoctor.Analysis;

/// <summary>The filters shared by every command that looks at sockets. Empty means "everything".</summary>
public sealed record SocketFilter
{
    public IReadOnlyList<TcpState> States { get; init; } = [];
    public IReadOnlyList<int> Ports { get; init; } = [];       // local or remote port
    public IReadOnlyList<(NetEndpoint Endpoint, bool AnyAddress)> Remotes { get; init; } = [];
    public IReadOnlyList<int> Pids { get; init; } = [];

    public bool IsEmpty => States.Count == 0 && Ports.Count == 0 && Remotes.Count == 0 && Pids.Count == 0;

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
        if (States.Count > 0 && !States.Contains(s.DisplayState)) return false;
        if (Ports.Count > 0 && !Ports.Contains(s.Local.Port) && !Ports.Contains(s.Remote.Port)) return false;
        if (Remotes.Count > 0)
        {
            bool any = false;
            foreach (var (ep, anyAddr) in Remotes)
            {
                if (!anyAddr && ep.Address.Unmapped != s.Remote.Address.Unmapped) continue;
                if (ep.Port != 0 && ep.Port != s.Remote.Port) continue;
                any = true;
                break;
            }
            if (!any) return false;
        }
        if (Pids.Count > 0)
        {
            bool owned = false;
            foreach (var o in s.Owners) if (Pids.Contains(o.Pid)) { owned = true; break; }
            if (!owned) return false;
        }
        return true;
    }

    /// <summary>For `watch`: the same filters over a connection seen live (its last state, its owner).</summary>
    public bool Matches(WatchConnection c)
    {
        if (States.Count > 0 && !States.Contains(TcpStates.Normalize(c.State))) return false;
        if (Ports.Count > 0 && !Ports.Contains(c.Local.Port) && !Ports.Contains(c.Remote.Port)) return false;
        if (Remotes.Count > 0 && !Remotes.Any(r => (r.AnyAddress || r.Endpoint.Address.Unmapped == c.Remote.Address.Unmapped) && (r.Endpoint.Port == 0 || r.Endpoint.Port == c.Remote.Port)))
            return false;
        if (Pids.Count > 0 && (c.Pid is not int pid || !Pids.Contains(pid))) return false;
        return true;
    }

    public IEnumerable<SocketRecord> Apply(IEnumerable<SocketRecord> sockets) => IsEmpty ? sockets : sockets.Where(Matches);
}
