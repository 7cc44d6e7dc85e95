using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using ConnDoctor.Model;

namespace ConnDoctor.Sources.ZkLog;

/// <summary>
/// The client addresses one reader of a log has parsed, by their text. A busy ZooKeeper log names the same few
/// hundred clients millions of times ("Accepted socket connection from /10.0.20.141:50599", then "Closed socket
/// connection for client /10.0.20.141:50599"): looking the text up costs a fraction of parsing it again. Each slot
/// also remembers the reader's client for its address, so the line after the first skips the client lookup too.
/// </summary>
internal sealed class ZkAddressMemo
{
    // Direct-mapped by a hash of the text. Sized well above the few hundred clients of a busy server (at 1024 slots,
    // 400 clients collided on a third of the lookups, each a full parse), and small: each thread reading a log has one.
    private const int SlotBits = 12;
    private const int AddressSlots = 1 << SlotBits;
    private readonly Entry[] _slots = new Entry[AddressSlots];

    // One slot's key, value and client in one 32-byte entry, mostly one cache line. As four parallel arrays
    // (four lines per lookup, each at a fixed distance from the others) the memo, once kept for a thread's regions,
    // made whole runs 15% slower in interleaved measurements; as entries it made them 3% faster.
    private struct Entry
    {
        public ulong Lo, Hi;        // the address text, masked to its length: the key
        public ClientAcc? Client;   // the reader's client for the slot's address; null: not yet known
        public uint Addr;           // IPv4 only
    }

    /// <summary>
    /// The memo for another reader (the next region of a thread): addresses stay known, the clients remembered for
    /// them (the previous reader's) are forgotten. Reusing it spares each region 128 KB of fresh memory, whose first
    /// touch costs a page fault per 4 KB.
    /// </summary>
    public ZkAddressMemo ForNewReader()
    {
        foreach (ref var e in _slots.AsSpan()) e.Client = null;
        return this;
    }

    /// <summary>The client remembered for the address in <paramref name="slot"/>, or null.</summary>
    public ClientAcc? ClientOf(int slot) => _slots[slot].Client;

    /// <summary>Remembers the client of the address in <paramref name="slot"/>: the next line naming it skips the client lookup.</summary>
    public void Remember(int slot, ClientAcc client) => _slots[slot].Client = client;

    // 16 bytes of 0xFF then 16 of 0: the 16 bytes from offset 16 - n keep the first n bytes of a vector. Constant
    // data, read in place: a static vector field costs a class-initialisation check and a broadcast compare per line.
    private static ReadOnlySpan<byte> KeepFirst => [
        0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

    /// <summary>
    /// <see cref="ZkLogLine.TryAddress"/> with a memory of IPv4 addresses' text: in "/10.0.20.141:50599" the bytes
    /// before the ':' (or a space) are looked up, and an address seen before is not parsed again.
    /// The address is the first <paramref name="length"/> bytes of <paramref name="s"/>; the bytes after them (the
    /// next line, in the same buffer) may be loaded but are never part of the key.
    /// <paramref name="slot"/> is the slot that holds the address (for <see cref="ClientOf"/>), or -1 if none does;
    /// <paramref name="end"/> is where that text ends in <paramref name="s"/> (the ':' or space), or -1 if not known.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryAddress(ReadOnlySpan<byte> s, int length, out NetAddress ip, out int slot, out int end)
    {
        (slot, end) = (-1, -1);
        if (s.Length < 17 || length < 1 || s[0] != '/' || !Vector128.IsHardwareAccelerated) return ZkLogLine.TryAddress(s[..length], out ip);
        var text = Vector128.LoadUnsafe(ref Unsafe.Add(ref MemoryMarshal.GetReference(s), 1));
        // The address ends at the port's ':' ("/10.0.0.5:4242"), at a space ("Too many connections from /10.0.0.5 -
        // max is 60") or with its line.
        uint ends = (Vector128.Equals(text, Vector128.Create((byte)':')) | Vector128.Equals(text, Vector128.Create((byte)' '))
                   | Vector128.Equals(text, Vector128.Create((byte)'\n')) | Vector128.Equals(text, Vector128.Create((byte)'\r'))).ExtractMostSignificantBits();
        int n = System.Numerics.BitOperations.TrailingZeroCount(ends | 0x10000);
        if (n < 7 || n > 15 || 1 + n > length) return ZkLogLine.TryAddress(s[..length], out ip);   // not "a.b.c.d" within the line's next 16 bytes
        var key = text & Vector128.LoadUnsafe(ref MemoryMarshal.GetReference(KeepFirst), (nuint)(16 - n));
        ulong lo = key.AsUInt64().GetElement(0), hi = key.AsUInt64().GetElement(1);
        int at = (int)(((lo ^ (hi * 0x9E3779B97F4A7C15UL)) * 0xBF58476D1CE4E5B9UL) >> (64 - SlotBits));
        ref var e = ref _slots[at];
        if (e.Lo == lo && e.Hi == hi && lo != 0)
        {
            ip = NetAddress.FromIPv4(e.Addr);
            (slot, end) = (at, 1 + n);
            return true;
        }
        if (!ZkLogLine.TryAddress(s[..length], out ip)) return false;
        // Remembered only when the text is all digits and dots: then it alone decides the parse, whatever follows.
        uint plain = (Vector128.LessThan(text - Vector128.Create((byte)'0'), Vector128.Create((byte)10)) | Vector128.Equals(text, Vector128.Create((byte)'.'))).ExtractMostSignificantBits();
        uint first = (1u << n) - 1;
        if (!ip.IsV6 && (plain & first) == first)
        {
            e = new Entry { Lo = lo, Hi = hi, Addr = ip.IPv4Value };
            (slot, end) = (at, 1 + n);
        }
        return true;
    }
}
