using ConnDoctor.Model;

namespace ConnDoctor.Analysis;

/// <summary>
/// What a set of sockets shares, gathered one socket at a time, for the kill command that selects exactly them
/// (<see cref="KillCommand.For"/>): their states, peers, one peer port, one local port, one owner, the least idle's
/// silence, and the sockets themselves only while they are few enough to be named one by one. A rule fills it as it reads
/// the table, so a group of 14k idle connections (every interval in the agent) is never listed. Each socket is added once.
/// </summary>
public sealed class KillSelection
{
    private OneOrNot<ushort> _remotePort, _localPort;
    private OneOrNot<int> _pid;
    private OneOrMore<NetAddress> _remotes;
    private uint _states; // a bit per display state
    private uint? _idleMs = uint.MaxValue;
    private List<SocketRecord>? _few = [];

    public int Count { get; private set; }
    /// <summary>The namespace of the first socket.</summary>
    public int NetnsIndex { get; private set; }
    /// <summary>A listener, or sockets of two namespaces: no command selects these (one namespace per command, never a listener).</summary>
    public bool Unselectable { get; private set; }
    /// <summary>The sockets, in the order added, while there are at most <see cref="KillCommand.MaxEndsListed"/>; null beyond.</summary>
    public IReadOnlyList<SocketRecord>? Few => _few;

    public void Add(SocketRecord s)
    {
        if (Count++ == 0) NetnsIndex = s.NetnsIndex;
        else if (s.NetnsIndex != NetnsIndex) Unselectable = true;
        if (s.State == TcpState.Listen) Unselectable = true;
        _remotePort.Add(s.Remote.Port);
        _localPort.Add(s.Local.Port);
        _pid.Add(s.OwnerPid ?? 0);
        _states |= 1u << (int)s.DisplayState;
        _remotes.Add(s.Remote.Address.Unmapped);
        _idleMs = s.Info is TcpInfo i && _idleMs is uint m ? Math.Min(m, i.LastDataRecvMs) : null;
        if (_few != null)
        {
            if (_few.Count < KillCommand.MaxEndsListed) _few.Add(s);
            else _few = null;
        }
    }

    /// <summary>
    /// The broadest filter each of them matches: their states, their peers (with the port when they share one), their one
    /// local port, their one owner, an idle floor at most the least idle's.
    /// </summary>
    public SocketFilter NaturalFilter() => new()
    {
        States = Enumerable.Range(0, 32).Where(b => (_states & (1u << b)) != 0).Select(b => (TcpState)b).ToList(),
        Remotes = _remotes.Values.OrderBy(a => a.ToString(), StringComparer.Ordinal)
            .Select(a => (new NetEndpoint(a, _remotePort.IsOne ? _remotePort.First : (ushort)0), false)).ToList(),
        Locals = _localPort.IsOne ? [(new NetEndpoint(default, _localPort.First), true)] : [],
        Pids = _pid.IsOne && _pid.First != 0 ? [_pid.First] : [],
        Idle = _idleMs is uint ms && ms >= 1000 ? KillCommand.FloorIdle(ms) : null,
    };

    /// <summary>Whether every value seen is the first one.</summary>
    private struct OneOrNot<T> where T : struct, IEquatable<T>
    {
        private bool _any, _more;
        public T First { get; private set; }
        public readonly bool IsOne => _any && !_more;

        public void Add(T value)
        {
            if (!_any) { _any = true; First = value; }
            else if (!_more && !value.Equals(First)) _more = true;
        }
    }

    /// <summary>The values seen: the first, and a set of them only once a second one comes.</summary>
    private struct OneOrMore<T> where T : struct, IEquatable<T>
    {
        private bool _any;
        private T _first;
        private HashSet<T>? _more;
        public readonly IEnumerable<T> Values => _more ?? (_any ? [_first] : []);

        public void Add(T value)
        {
            if (!_any) { _any = true; _first = value; }
            else if (_more != null) _more.Add(value);
            else if (!value.Equals(_first)) _more = [_first, value];
        }
    }
}
