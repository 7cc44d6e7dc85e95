using System.Runtime.CompilerServices;

namespace ConnDoctor.Model;

/// <summary>
/// A connection's 4-tuple (local, remote) as a 16-byte hash key (the trace's maps, the cross-host joins), instead of two 32-byte endpoints:
/// IPv4 is packed exactly (each side's address and port in one word, the top bit set); IPv6 is a 128-bit hash of the
/// 36 bytes (two independent 64-bit mixes, the top bit clear), so the two forms never meet and a collision between two
/// of a host's connections is beyond reach (about 2^-90 for 100k of them).
/// </summary>
public readonly struct ConnKey : IEquatable<ConnKey>
{
    private readonly ulong _a, _b;

    private ConnKey(ulong a, ulong b) { _a = a; _b = b; }

    public static ConnKey Of(NetEndpoint local, NetEndpoint remote)
    {
        if (!local.Address.IsV6 && !remote.Address.IsV6)
            return new(1UL << 63 | (ulong)local.Address.IPv4Value << 16 | local.Port, 1UL << 63 | (ulong)remote.Address.IPv4Value << 16 | remote.Port);
        Span<byte> b = stackalloc byte[32];
        b.Clear();
        local.Address.WriteBytes(b);
        remote.Address.WriteBytes(b[16..]);
        var w = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, ulong>(b);
        ulong ports = (ulong)local.Port << 32 | remote.Port | (local.Address.IsV6 ? 1UL << 48 : 0) | (remote.Address.IsV6 ? 1UL << 49 : 0);
        ulong h1 = 0x9E3779B97F4A7C15UL, h2 = 0xC2B2AE3D27D4EB4FUL;
        foreach (ulong x in w) { h1 = Mix(h1 ^ x); h2 = Mix2(h2 + x); }
        h1 = Mix(h1 ^ ports);
        h2 = Mix2(h2 + ports);
        return new(h1 & ~(1UL << 63), h2);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9UL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBUL;
        return z ^ (z >> 31);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static ulong Mix2(ulong z)
    {
        z = (z ^ (z >> 33)) * 0xFF51AFD7ED558CCDUL;
        z = (z ^ (z >> 33)) * 0xC4CEB9FE1A85EC53UL;
        return z ^ (z >> 33);
    }

    public bool Equals(ConnKey other) => _a == other._a && _b == other._b;
    public override bool Equals(object? obj) => obj is ConnKey k && Equals(k);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public override int GetHashCode()
    {
        ulong h = (_a ^ (_b * 0x9E3779B97F4A7C15UL)) * 0xBF58476D1CE4E5B9UL;
        return (int)(h ^ (h >> 32));
    }

    public static bool operator ==(ConnKey x, ConnKey y) => x.Equals(y);
    public static bool operator !=(ConnKey x, ConnKey y) => !x.Equals(y);
}
