using System.Runtime.InteropServices;

namespace ConnDoctor.Sources.ZkLog;

/// <summary>
/// Lines and bytes of the messages this tool does not interpret, per "Class@line" location: the part of
/// "[thread:Class@line]" after its last ':' (at most <see cref="MaxName"/> bytes of it). A busy log repeats a few
/// dozen locations millions of times, so the last 8 bytes before the ']' pick a remembered location, which is then
/// checked in place; only a miss searches for the ':' and looks the name up.
/// </summary>
internal sealed class ZkLocationCounts
{
    public const int MaxName = 64;
    private const int Slots = 256;
    private readonly List<byte[]> _names = new();
    private readonly List<string> _nameTexts = new();
    private readonly Dictionary<string, int> _byName = new();
    private readonly int[] _slotIndex = new int[Slots];          // location index + 1; 0 = empty
    public long[] Lines = new long[16], Bytes = new long[16];

    public int Count => _names.Count;

    public string Name(int index) => _nameTexts[index];

    /// <summary>The index of the location of the bracket that opens at <paramref name="open"/> ('[') and closes at <paramref name="close"/> (']').</summary>
    public int Find(ReadOnlySpan<byte> line, int open, int close)
    {
        // A timestamped line's bracket closes well past byte 8.
        ulong tail = MemoryMarshal.Read<ulong>(line[(close - 8)..]);
        int slot = (int)((tail * 0x9E3779B97F4A7C15UL) >> 56);
        int known = _slotIndex[slot] - 1;
        if (known >= 0)
        {
            var name = _names[known];
            int q = close - name.Length - 1;                          // where its ':' (or the '[') must be
            // The name holds no ':', so a ':' right before equal bytes is the bracket's last one.
            if (name.Length < MaxName && q >= open && (q == open || line[q] == ':') && line[(q + 1)..close].SequenceEqual(name))
                return known;
        }
        var bracket = line[(open + 1)..close];
        var location = bracket[(bracket.LastIndexOf((byte)':') + 1)..];
        location = location[..Math.Min(location.Length, MaxName)];
        // Looked up by span: a string is made only the first time a location is seen.
        Span<char> chars = stackalloc char[location.Length];
        for (int i = 0; i < location.Length; i++) chars[i] = (char)location[i];
        var lookup = _byName.GetAlternateLookup<ReadOnlySpan<char>>();
        if (!lookup.TryGetValue(chars, out int index))
        {
            index = _names.Count;
            _names.Add(location.ToArray());
            _nameTexts.Add(new string(chars));
            _byName[_nameTexts[index]] = index;
            if (index == Lines.Length)
            {
                Array.Resize(ref Lines, index * 2);
                Array.Resize(ref Bytes, index * 2);
            }
        }
        _slotIndex[slot] = index + 1;
        return index;
    }
}
