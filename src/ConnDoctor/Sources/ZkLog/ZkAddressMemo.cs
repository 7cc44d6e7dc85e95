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
    // 400 clients collided on a third of the lookups, each a full parse), and small: every region of a log has one.
    private const int SlotBits = 12;
    private const int AddressSlots = 1 << SlotBits;
    private readonly ulong[] _addrLo = new ulong[AddressSlots], _addrHi = new ulong[AddressSlots];
    private readonly uint[] _addr = new uint[AddressSlots];     // IPv4 only
    private readonly int[] _client = new int[AddressSlots];     // the reader's client index + 1 for the slot's address; 0: not yet known

    /// <summary>
    /// The slot of the address <see cref="TryAddress"/> last found or stored. Left as it is when it used none: the
    /// caller sets -1 before each line.
    /// </summary>
    public int Slot = -1;

    /// <summary>The client index remembered for the address in <paramref name="slot"/>, or -1.</summary>
    public int ClientOf(int slot) => _client[slot] - 1;

    /// <summary>Remembers the client of the address in <paramref name="slot"/>: the next line naming it skips the client lookup.</summary>
    public void Remember(int slot, int client) => _client[slot] = client + 1;

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
    /// <paramref name="end"/> is where that text ends in <paramref name="s"/> (the ':' or space), or -1 if not known.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryAddress(ReadOnlySpan<byte> s, int length, out NetAddress ip, out int end)
    {
        end = -1;
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
        int slot = (int)(((lo ^ (hi * 0x9E3779B97F4A7C15UL)) * 0xBF58476D1CE4E5B9UL) >> (64 - SlotBits));
        if (_addrLo[slot] == lo && _addrHi[slot] == hi && lo != 0)
        {
            ip = NetAddress.FromIPv4(_addr[slot]);
            end = 1 + n;
            Slot = slot;
            return true;
        }
        if (!ZkLogLine.TryAddress(s[..length], out ip)) return false;
        // Remembered only when the text is all digits and dots: then it alone decides the parse, whatever follows.
        uint plain = (Vector128.LessThan(text - Vector128.Create((byte)'0'), Vector128.Create((byte)10)) | Vector128.Equals(text, Vector128.Create((byte)'.'))).ExtractMostSignificantBits();
        uint first = (1u << n) - 1;
        if (!ip.IsV6 && (plain & first) == first)
        {
            _addrLo[slot] = lo; _addrHi[slot] = hi; _addr[slot] = ip.IPv4Value; _client[slot] = 0; end = 1 + n;
            Slot = slot;
        }
        return true;
    }
}
