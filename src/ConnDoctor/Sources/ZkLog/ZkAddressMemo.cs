using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using ConnDoctor.Model;

namespace ConnDoctor.Sources.ZkLog;

/// <summary>
/// The client addresses one reader of a log has parsed, by their text. A busy ZooKeeper log names the same few
/// hundred clients millions of times ("Accepted socket connection from /10.0.20.141:50599", then "Closed socket
/// connection for client /10.0.20.141:50599"): looking the text up costs a fraction of parsing it again.
/// </summary>
internal sealed class ZkAddressMemo
{
    private const int AddressSlots = 1024;   // direct-mapped by a hash of the text: a few hundred clients fit
    private readonly ulong[] _addrLo = new ulong[AddressSlots], _addrHi = new ulong[AddressSlots];
    private readonly NetAddress[] _addr = new NetAddress[AddressSlots];
    private static readonly Vector128<byte> Indices = Vector128.Create((byte)0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15);

    /// <summary>
    /// <see cref="ZkLogLine.TryAddress"/> with a memory of IPv4 addresses' text: in "/10.0.20.141:50599" the bytes
    /// before the ':' (or a space) are looked up, and an address seen before is not parsed again.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool TryAddress(ReadOnlySpan<byte> s, out NetAddress ip)
    {
        if (s.Length < 17 || s[0] != '/' || !Vector128.IsHardwareAccelerated) return ZkLogLine.TryAddress(s, out ip);
        var text = Vector128.LoadUnsafe(ref Unsafe.Add(ref MemoryMarshal.GetReference(s), 1));
        // The address ends at the port's ':' ("/10.0.0.5:4242") or at a space ("Too many connections from /10.0.0.5 - max is 60").
        uint ends = (Vector128.Equals(text, Vector128.Create((byte)':')) | Vector128.Equals(text, Vector128.Create((byte)' '))).ExtractMostSignificantBits();
        int n = System.Numerics.BitOperations.TrailingZeroCount(ends | 0x10000);
        if (n < 7 || n > 15) return ZkLogLine.TryAddress(s, out ip);   // not "a.b.c.d" within 16 bytes
        var key = text & Vector128.LessThan(Indices, Vector128.Create((byte)n));
        ulong lo = key.AsUInt64().GetElement(0), hi = key.AsUInt64().GetElement(1);
        int slot = (int)(((lo ^ (hi * 0x9E3779B97F4A7C15UL)) * 0xBF58476D1CE4E5B9UL) >> 54);
        if (_addrLo[slot] == lo && _addrHi[slot] == hi && lo != 0)
        {
            ip = _addr[slot];
            return true;
        }
        if (!ZkLogLine.TryAddress(s, out ip)) return false;
        if (!ip.IsV6) { _addrLo[slot] = lo; _addrHi[slot] = hi; _addr[slot] = ip; }
        return true;
    }
}
