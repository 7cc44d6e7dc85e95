namespace ConnDoctor.Sources.ZkLog;

/// <summary>
/// Session id -> client, for joining "Expiring session 0x..." lines to a client. Bounded: two generations of at
/// most <see cref="Generation"/> entries each, so a log with millions of sessions keeps memory flat; a session
/// whose client was last seen two generations ago can no longer be joined (it is counted as unattributed, never
/// guessed). Open addressing over flat arrays: a set or a lookup is one probe into memory the hot loop keeps
/// warm, where a Dictionary of 100k+ entries costs several cache misses per insert.
/// </summary>
internal sealed class SessionMap
{
    public const int Generation = 1 << 17;
    private Table _current = new();
    private Table? _previous;

    /// <summary>Session 0 means "no session" in ZooKeeper's logs and is never stored.</summary>
    public void Set(ulong session, ClientAcc client)
    {
        if (session == 0) return;
        _current.Set(session, client);
        if (_current.Count >= Generation)
        {
            var reuse = _previous;
            _previous = _current;
            _current = reuse?.Clear() ?? new Table();
        }
    }

    public bool TryGet(ulong session, out ClientAcc client)
    {
        client = _current.Get(session) ?? _previous?.Get(session)!;
        return client != null;
    }

    /// <summary>An expired session is over: forget it.</summary>
    public void Remove(ulong session)
    {
        _current.Remove(session);
        _previous?.Remove(session);
    }

    /// <summary>Oldest first, so that merging regions in order keeps the newest client of a reused id.</summary>
    public IEnumerable<(ulong Session, ClientAcc Client)> Entries => (_previous?.Entries ?? []).Concat(_current.Entries);

    /// <summary>
    /// Linear probing with backward-shift deletion; key 0 marks an empty slot. ZooKeeper numbers a server's
    /// sessions one after the other, so ids are placed in blocks of 16 neighbouring slots by their low bits
    /// (sessions opened close together in time share cache lines) and the blocks are scattered by a hash of the
    /// rest (runs of occupied slots stay short, so probes and deletions stay cheap).
    /// </summary>
    private sealed class Table
    {
        private const int Bits = 18;                 // twice the generation: probes stay short
        private const int Mask = (1 << Bits) - 1;
        private readonly Entry[] _slots = new Entry[1 << Bits];
        public int Count;

        private struct Entry
        {
            public ulong Key;
            public ClientAcc? Value;
        }

        private static int Home(ulong key) => (int)(((key >> 4) * 0x9E3779B97F4A7C15UL) >> (64 - Bits)) & ~15 | (int)(key & 15);

        public void Set(ulong key, ClientAcc value)
        {
            int i = Home(key);
            while (_slots[i].Key != 0 && _slots[i].Key != key) i = (i + 1) & Mask;
            if (_slots[i].Key == 0) { _slots[i].Key = key; Count++; }
            _slots[i].Value = value;
        }

        public ClientAcc? Get(ulong key)
        {
            for (int i = Home(key); _slots[i].Key != 0; i = (i + 1) & Mask)
                if (_slots[i].Key == key) return _slots[i].Value;
            return null;
        }

        public void Remove(ulong key)
        {
            int i = Home(key);
            while (_slots[i].Key != key) { if (_slots[i].Key == 0) return; i = (i + 1) & Mask; }
            // Pull later entries of the run back into the hole when their home slot allows it.
            for (int j = (i + 1) & Mask; _slots[j].Key != 0; j = (j + 1) & Mask)
            {
                int home = Home(_slots[j].Key);
                bool movable = i <= j ? home <= i || home > j : home <= i && home > j;
                if (!movable) continue;
                _slots[i] = _slots[j];
                i = j;
            }
            _slots[i] = default;
            Count--;
        }

        public Table Clear()
        {
            Array.Clear(_slots);
            Count = 0;
            return this;
        }

        public IEnumerable<(ulong, ClientAcc)> Entries
        {
            get
            {
                for (int i = 0; i < _slots.Length; i++)
                    if (_slots[i].Key != 0) yield return (_slots[i].Key, _slots[i].Value!);
            }
        }
    }
}
