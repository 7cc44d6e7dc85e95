using System.Runtime.CompilerServices;
using ConnDoctor.Native;

namespace ConnDoctor.Sources.ZkLog;

/// <summary>What a session map knows of a session.</summary>
internal enum SessionState : byte
{
    Unknown,    // never seen here (or forgotten): an earlier part of the log may know it
    Open,       // seen with a client, not expired since
    Expired,    // its last event here was its expiry
}

/// <summary>
/// Session id -> client (an index into the reader's client list), for joining "Expiring session 0x..." lines to a
/// client. An expiry leaves a mark instead of a hole, so that a map answers with the last event it saw of a session:
/// the regions of a log read in parallel each keep a map, and an expiry one region cannot join is asked of the maps
/// before it, newest first, which then gives the same answer as one map over the whole log.
/// Bounded: two generations of at most <see cref="Generation"/> sessions each, so a log with millions of sessions
/// keeps memory flat; a session whose client was last seen two generations ago can no longer be joined (it is
/// counted as unattributed, never guessed).
/// </summary>
/// <remarks>
/// A ZooKeeper server numbers its sessions one after the other (server id in the top byte, a counter below), so
/// the ids a log names come in runs. They are stored in blocks of <see cref="BlockSize"/> neighbouring ids: the
/// block is found through a small hash table (a generation of 2^17 sessions is 2k blocks, a table that stays in
/// cache) and the id's slot sits at a fixed place inside it, so neighbouring sessions share memory. The blocks live
/// in memory mapped from the kernel, resident only where written and grown without a copy, so a log read in many
/// regions (a map each) does not fill the GC heap with large arrays.
/// </remarks>
internal sealed class SessionMap : IDisposable
{
    public const int Generation = 1 << 17;
    internal const int BlockSize = 64;
    // Ids without neighbours (not what ZooKeeper hands out) cost a block each: a generation also ends at this many
    // blocks (16k sessions of such ids instead of 128k), which bounds those blocks to 4 MB.
    internal const int MaxBlocks = Generation / 8;
    private const int ExpiredMark = 1;              // stored values: 0 empty, 1 expired, client + 2 open
    private Table _current = new();
    private Table? _previous;

    /// <summary>Session 0 means "no session" in ZooKeeper's logs and is never stored.</summary>
    public void Set(ulong session, int client)
    {
        if (session != 0) Store(session, client + 2);
    }

    /// <summary>The session's last event in this map: open (with its client), expired, or unknown.</summary>
    public SessionState Find(ulong session, out int client)
    {
        int v = _current.Get(session);
        if (v == 0 && _previous != null) v = _previous.Get(session);
        client = v - 2;
        return v == 0 ? SessionState.Unknown : v == ExpiredMark ? SessionState.Expired : SessionState.Open;
    }

    /// <summary>Marks the session expired and returns what was known of it before.</summary>
    public SessionState Expire(ulong session, out int client)
    {
        var before = Find(session, out client);
        if (session != 0) Store(session, ExpiredMark);
        return before;
    }

    public void Dispose()
    {
        _current.Dispose();
        _previous?.Dispose();
    }

    private void Store(ulong session, int value)
    {
        if (!_current.Set(session, value)) return;
        if (_current.Count < Generation && _current.Blocks < MaxBlocks) return;
        var reuse = _previous;
        _previous = _current;
        _current = reuse?.Clear() ?? new Table();
    }

    /// <summary>
    /// Blocks found by linear probing on a multiplicative hash of the block number; a block is never removed within
    /// a generation, so there is no deletion to repair.
    /// </summary>
    private sealed unsafe class Table : IDisposable
    {
        private ulong[] _keys = new ulong[1 << 10];     // block number + 1; 0 = free
        private int[] _blocks = new int[1 << 10];       // index of the block in _values, in BlockSize units
        private const int FirstBlocks = 1024;           // 256 KB of address space, doubled as needed up to MaxBlocks
        private AnonymousMemory? _memory;               // mapped at the first block
        private int* _values;
        private int _blockCount;
        private int _shift = 64 - 10;                    // 64 - log2(_keys.Length)
        public int Count;
        public int Blocks => _blockCount;

        private int Mask => _keys.Length - 1;
        private int Home(ulong key) => (int)((key * 0x9E3779B97F4A7C15UL) >> _shift);

        /// <summary>True when the id is new to this table.</summary>
        public bool Set(ulong session, int value)
        {
            ref int cell = ref Cell(session, create: true);
            bool added = cell == 0;
            if (added) Count++;
            cell = value;
            return added;
        }

        public int Get(ulong session)
        {
            ref int cell = ref Cell(session, create: false);
            return Unsafe.IsNullRef(ref cell) ? 0 : cell;
        }

        private ref int Cell(ulong session, bool create)
        {
            ulong key = session / BlockSize + 1;
            int i = Home(key);
            while (true)
            {
                ulong k = _keys[i];
                if (k == key) return ref _values[_blocks[i] * BlockSize + (int)(session % BlockSize)];
                if (k == 0) break;
                i = (i + 1) & Mask;
            }
            if (!create) return ref Unsafe.NullRef<int>();
            if (2 * (_blockCount + 1) > _keys.Length)
            {
                Grow();
                return ref Cell(session, create);
            }
            if (_blockCount == MaxBlocks) throw new InvalidOperationException("session table full");   // the map starts a new generation first
            const int blockBytes = BlockSize * sizeof(int);
            if (_memory == null) _memory = new AnonymousMemory(FirstBlocks * blockBytes);
            else if ((_blockCount + 1) * blockBytes > _memory.Length) _memory.Grow(Math.Min(2 * _memory.Length, MaxBlocks * blockBytes));
            _values = (int*)_memory.DangerousGetHandle();
            _keys[i] = key;
            _blocks[i] = _blockCount++;
            return ref _values[_blocks[i] * BlockSize + (int)(session % BlockSize)];
        }

        private void Grow()
        {
            var keys = _keys;
            var blocks = _blocks;
            _keys = new ulong[keys.Length * 2];
            _blocks = new int[keys.Length * 2];
            _shift--;
            for (int j = 0; j < keys.Length; j++)
            {
                if (keys[j] == 0) continue;
                int i = Home(keys[j]);
                while (_keys[i] != 0) i = (i + 1) & Mask;
                _keys[i] = keys[j];
                _blocks[i] = blocks[j];
            }
        }

        public Table Clear()
        {
            Array.Clear(_keys);
            new Span<int>(_values, _blockCount * BlockSize).Clear();
            _blockCount = 0;
            Count = 0;
            return this;
        }

        /// <summary>Unmaps the blocks; the table is then empty (and would map them again if used).</summary>
        public void Dispose()
        {
            _memory?.Dispose();
            _memory = null;
            _values = null;
            _blockCount = 0;
            Clear();                                    // the keys: no block is left to clear
        }
    }
}
