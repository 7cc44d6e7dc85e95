using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;

namespace ConnDoctor.Sources.ZkLog;

/// <summary>
/// Session id -> client, for joining "Expiring session 0x..." lines to a client. Bounded: two generations of at
/// most <see cref="Generation"/> entries each, so a log with millions of sessions keeps memory flat; a session
/// whose client was last seen two generations ago can no longer be joined (it is counted as unattributed, never
/// guessed). Open addressing over one flat array: a set or a lookup is one probe, where a Dictionary of 100k+
/// entries costs several cache misses per insert.
/// </summary>
internal sealed class SessionMap
{
    public const int Generation = 1 << 17;
    private Table _current = new();
    private Table? _previous;

    // Sets are queued and applied in batches: the table is megabytes touched at random, so each set waits for
    // memory; applied together, all their slots are requested first and the waits overlap. A lookup,
    // a removal or a listing applies the queue first, so every operation still sees the sets made before it.
    private const int Batch = 64;
    private readonly ulong[] _pendingKeys = new ulong[Batch];
    private readonly ClientAcc[] _pendingClients = new ClientAcc[Batch];
    private int _pending;

    /// <summary>Session 0 means "no session" in ZooKeeper's logs and is never stored.</summary>
    public void Set(ulong session, ClientAcc client)
    {
        if (session == 0) return;
        _pendingKeys[_pending] = session;
        _pendingClients[_pending] = client;
        if (++_pending == Batch) Apply();
    }

    private void Apply()
    {
        for (int i = 0; i < _pending; i++) _current.Prefetch(_pendingKeys[i]);
        for (int i = 0; i < _pending; i++)
        {
            _current.Set(_pendingKeys[i], _pendingClients[i]);
            _pendingClients[i] = null!;
            if (_current.Count >= Generation)
            {
                var reuse = _previous;
                _previous = _current;
                _current = reuse?.Clear() ?? new Table();
            }
        }
        _pending = 0;
    }

    public bool TryGet(ulong session, out ClientAcc client)
    {
        if (_pending > 0) Apply();
        client = _current.Get(session) ?? _previous?.Get(session)!;
        return client != null;
    }

    /// <summary>An expired session is over: forget it.</summary>
    public void Remove(ulong session)
    {
        if (_pending > 0) Apply();
        _current.Remove(session);
        _previous?.Remove(session);
    }

    /// <summary>Oldest first, so that merging regions in order keeps the newest client of a reused id.</summary>
    public IEnumerable<(ulong Session, ClientAcc Client)> Entries
    {
        get
        {
            if (_pending > 0) Apply();
            return (_previous?.Entries ?? []).Concat(_current.Entries);
        }
    }

    /// <summary>
    /// Linear probing with backward-shift deletion; key 0 marks an empty slot. Ids are scattered by a multiplicative
    /// hash: ZooKeeper numbers a server's sessions one after the other, and placing neighbours side by side (tried)
    /// builds long runs of occupied slots that every probe and deletion then walks.
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

        private static int Home(ulong key) => (int)((key * 0x9E3779B97F4A7C15UL) >> (64 - Bits));

        public void Set(ulong key, ClientAcc value)
        {
            int i = Home(key);
            while (_slots[i].Key != 0 && _slots[i].Key != key) i = (i + 1) & Mask;
            if (_slots[i].Key == 0) { _slots[i].Key = key; Count++; }
            _slots[i].Value = value;
        }

        public unsafe void Prefetch(ulong key)
        {
            if (Sse.IsSupported) Sse.Prefetch0(Unsafe.AsPointer(ref _slots[Home(key)]));
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
