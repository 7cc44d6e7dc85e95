using System.Buffers.Binary;
using System.Net;

namespace ConnDoctor.Model;

/// <summary>
/// An IPv4 or IPv6 address held in 16 bytes without a heap object, so that a table of 100k sockets
/// does not allocate 200k IPAddress instances. IPv4 is kept in the first four bytes. Packed to 4 bytes: 20 bytes with
/// its flag instead of 24, so an endpoint (address and port) is 24 bytes, not 32 (two per socket record and connection record).
/// </summary>
[System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential, Pack = 4)]
public readonly struct NetAddress : IEquatable<NetAddress>
{
    private readonly ulong _hi; // bytes 0..7 in network order
    private readonly ulong _lo; // bytes 8..15 in network order
    public readonly bool IsV6;

    public NetAddress(ReadOnlySpan<byte> networkOrder)
    {
        if (networkOrder.Length == 4)
        {
            _hi = (ulong)BinaryPrimitives.ReadUInt32BigEndian(networkOrder) << 32;
            _lo = 0;
            IsV6 = false;
        }
        else if (networkOrder.Length == 16)
        {
            _hi = BinaryPrimitives.ReadUInt64BigEndian(networkOrder);
            _lo = BinaryPrimitives.ReadUInt64BigEndian(networkOrder[8..]);
            IsV6 = true;
        }
        else throw new ArgumentException("an address has 4 or 16 bytes", nameof(networkOrder));
    }

    public static NetAddress FromIPAddress(IPAddress ip) => new(ip.GetAddressBytes());

    /// <summary>An IPv4 address from its 32-bit value in host order (10.0.0.1 = 0x0A000001).</summary>
    public static NetAddress FromIPv4(uint value) => new((ulong)value << 32, 0, false);

    /// <summary>The 32-bit value of an IPv4 address in host order (the inverse of <see cref="FromIPv4"/>).</summary>
    public uint IPv4Value => (uint)(_hi >> 32);

    public static bool TryParse(string text, out NetAddress address)
    {
        var t = text.Trim();
        if (t.StartsWith('[') && t.EndsWith(']')) t = t[1..^1];
        if (IPAddress.TryParse(t, out var ip)) { address = FromIPAddress(ip); return true; }
        address = default;
        return false;
    }

    public void WriteBytes(Span<byte> destination)
    {
        BinaryPrimitives.WriteUInt64BigEndian(destination, _hi);
        if (IsV6) BinaryPrimitives.WriteUInt64BigEndian(destination[8..], _lo);
    }

    public int ByteLength => IsV6 ? 16 : 4;

    /// <summary>True for ::ffff:a.b.c.d, which a dual-stack socket reports for an IPv4 peer.</summary>
    public bool IsV4Mapped => IsV6 && _hi == 0 && (_lo >> 32) == 0xFFFF;

    /// <summary>The IPv4 form of a mapped address, so a client is the same host whichever socket family saw it.</summary>
    public NetAddress Unmapped => IsV4Mapped ? new NetAddress(_lo << 32, 0, false) : this;

    private NetAddress(ulong hi, ulong lo, bool v6) { _hi = hi; _lo = lo; IsV6 = v6; }

    public bool IsAny => _hi == 0 && _lo == 0;
    public bool IsLoopback => IsV6 ? (_hi == 0 && _lo == 1) || (IsV4Mapped && Unmapped.IsLoopback) : (_hi >> 56) == 127;

    public IPAddress ToIPAddress()
    {
        Span<byte> b = stackalloc byte[16];
        WriteBytes(b);
        return new IPAddress(b[..ByteLength]);
    }

    public bool TryFormat(Span<char> destination, out int written)
    {
        if (!IsV6)
        {
            var v = (uint)(_hi >> 32);
            written = 0;
            for (int i = 3; i >= 0; i--)
            {
                if (!((v >> (i * 8)) & 0xFF).TryFormat(destination[written..], out int n)) return false;
                written += n;
                if (i > 0) { if (written >= destination.Length) return false; destination[written++] = '.'; }
            }
            return true;
        }
        return ToIPAddress().TryFormat(destination, out written);
    }

    public override string ToString()
    {
        Span<char> buf = stackalloc char[64];
        return TryFormat(buf, out int n) ? new string(buf[..n]) : "?";
    }

    public bool Equals(NetAddress other) => _hi == other._hi && _lo == other._lo && IsV6 == other.IsV6;
    public override bool Equals(object? obj) => obj is NetAddress a && Equals(a);
    // Cheap and well spread: a multiply-xorshift of the 16 bytes. Hot in per-client tables (zklog, pcap).
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public override int GetHashCode()
    {
        ulong h = (_hi ^ (_lo * 0x9E3779B97F4A7C15UL) ^ (IsV6 ? 1UL : 0UL)) * 0xBF58476D1CE4E5B9UL;
        return (int)(h ^ (h >> 32));
    }
    public static bool operator ==(NetAddress a, NetAddress b) => a.Equals(b);
    public static bool operator !=(NetAddress a, NetAddress b) => !a.Equals(b);
}

/// <summary>An address and port, formatted the way ss prints it (IPv6 in brackets).</summary>
public readonly record struct NetEndpoint(NetAddress Address, ushort Port)
{
    public override string ToString() => Address.IsV6 ? $"[{Address}]:{Port}" : $"{Address}:{Port}";

    /// <summary>The endpoint with an IPv4-mapped address as plain IPv4: a dual-stack socket's view of an IPv4 peer.</summary>
    public NetEndpoint Unmapped => new(Address.Unmapped, Port);

    /// <summary>Parses "1.2.3.4:80", "[::1]:2181", "1.2.3.4" (port 0 = any) or ":2181" (any address).</summary>
    public static bool TryParse(string text, out NetEndpoint endpoint, out bool anyAddress)
    {
        endpoint = default;
        anyAddress = false;
        var t = text.Trim();
        if (t.Length == 0) return false;
        if (t.StartsWith(':') && ushort.TryParse(t.AsSpan(1), out var onlyPort))
        {
            anyAddress = true;
            endpoint = new NetEndpoint(default, onlyPort);
            return true;
        }
        string host = t;
        ushort port = 0;
        if (t.StartsWith('['))
        {
            int close = t.IndexOf(']');
            if (close < 0) return false;
            host = t[1..close];
            var rest = t[(close + 1)..];
            if (rest.Length > 0 && (!rest.StartsWith(':') || !ushort.TryParse(rest.AsSpan(1), out port))) return false;
        }
        else if (t.Count(c => c == ':') == 1)
        {
            int colon = t.IndexOf(':');
            host = t[..colon];
            if (!ushort.TryParse(t.AsSpan(colon + 1), out port)) return false;
        }
        if (!NetAddress.TryParse(host, out var addr)) return false;
        endpoint = new NetEndpoint(addr, port);
        return true;
    }
}
