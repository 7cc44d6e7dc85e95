using ConnDoctor.Model;

namespace ConnDoctor.Sources.ZkLog;

/// <summary>
/// Session id -> client address, for joining "Expiring session 0x..." lines to a client. Bounded: two
/// generations of at most <see cref="Generation"/> entries each, so a log with millions of sessions keeps
/// memory flat; a session whose address was last seen two generations ago can no longer be joined (it is
/// counted as unattributed, never guessed).
/// </summary>
internal sealed class SessionMap
{
    public const int Generation = 1 << 17;
    private Dictionary<ulong, NetAddress> _current = new();
    private Dictionary<ulong, NetAddress>? _previous;

    public void Set(ulong session, NetAddress ip)
    {
        _current[session] = ip;
        if (_current.Count >= Generation)
        {
            _previous = _current;
            _current = new Dictionary<ulong, NetAddress>(Generation);
        }
    }

    public bool TryGet(ulong session, out NetAddress ip) =>
        _current.TryGetValue(session, out ip) || (_previous != null && _previous.TryGetValue(session, out ip));

    /// <summary>An expired session is over: forget it.</summary>
    public void Remove(ulong session)
    {
        _current.Remove(session);
        _previous?.Remove(session);
    }

    /// <summary>Oldest first, so that merging regions in order keeps the newest address of a reused id.</summary>
    public IEnumerable<KeyValuePair<ulong, NetAddress>> Entries => (_previous ?? []).Concat(_current);
}
