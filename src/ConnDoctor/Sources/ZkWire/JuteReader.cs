using System.Buffers.Binary;
using System.Text;

namespace ConnDoctor.Sources.ZkWire;

/// <summary>
/// Reads jute records (big-endian ints and longs, one-byte booleans, length-prefixed buffers, UTF-8 strings
/// and vectors, -1 meaning null) from one received frame. Every length is checked against what is left of the
/// frame, so bytes from something that is not a ZooKeeper server end in a ZkException (MarshallingError),
/// never in an out-of-range read or a huge allocation.
/// </summary>
public ref struct JuteReader(ReadOnlySpan<byte> data)
{
    private readonly ReadOnlySpan<byte> _data = data;
    private int _pos;

    public readonly int Remaining => _data.Length - _pos;

    public int ReadInt() => BinaryPrimitives.ReadInt32BigEndian(Take(4, "int"));
    public long ReadLong() => BinaryPrimitives.ReadInt64BigEndian(Take(8, "long"));
    public bool ReadBool() => Take(1, "boolean")[0] != 0;

    /// <summary>A buffer; null (-1) reads as empty.</summary>
    public ReadOnlySpan<byte> ReadBuffer()
    {
        int at = _pos, n = ReadInt();
        if (n == -1) return default;
        if (n < 0 || n > Remaining) throw Malformed($"buffer length {n} at byte {at}, {Remaining} bytes left in the frame");
        return Take(n, "buffer");
    }

    /// <summary>A ustring; null (-1) reads as null.</summary>
    public string? ReadString()
    {
        int at = _pos, n = ReadInt();
        if (n == -1) return null;
        if (n < 0 || n > Remaining) throw Malformed($"string length {n} at byte {at}, {Remaining} bytes left in the frame");
        return Encoding.UTF8.GetString(Take(n, "string"));
    }

    /// <summary>A vector of ustrings (a null vector or null element reads as empty).</summary>
    public List<string> ReadStringVector()
    {
        int at = _pos, count = ReadInt();
        if (count == -1) return [];
        // Each element takes at least its 4-byte length: a larger count cannot be in this frame.
        if (count < 0 || count > Remaining / 4) throw Malformed($"vector of {count} strings at byte {at}, {Remaining} bytes left in the frame");
        var list = new List<string>(count);
        for (int i = 0; i < count; i++) list.Add(ReadString() ?? "");
        return list;
    }

    public ZkStat ReadStat() => new(
        Czxid: ReadLong(), Mzxid: ReadLong(), Ctime: ReadLong(), Mtime: ReadLong(),
        Version: ReadInt(), Cversion: ReadInt(), Aversion: ReadInt(), EphemeralOwner: ReadLong(),
        DataLength: ReadInt(), NumChildren: ReadInt(), Pzxid: ReadLong());

    private ReadOnlySpan<byte> Take(int n, string what)
    {
        if (n > Remaining) throw Malformed($"{what} cut short at byte {_pos} of a {_data.Length}-byte frame");
        var s = _data.Slice(_pos, n);
        _pos += n;
        return s;
    }

    private static ZkException Malformed(string detail) => new(ZkErrorCode.MarshallingError, $"malformed reply: {detail}");
}
