namespace ConnDoctor.Native;

/// <summary>
/// Lists a directory with getdents64 into a reused buffer: walking /proc/*/fd for 100k sockets must not
/// allocate a string per entry the way Directory.EnumerateFiles does.
/// </summary>
internal unsafe ref struct DirectoryReader
{
    private readonly int _fd;
    private readonly Span<byte> _buf;
    private int _len;
    private int _pos;

    public DirectoryReader(int fd, Span<byte> buffer) { _fd = fd; _buf = buffer; _len = 0; _pos = 0; }

    public int Fd => _fd;

    /// <summary>Next entry name (not "." or ".."); false at the end or on error.</summary>
    public bool Next(out ReadOnlySpan<byte> name)
    {
        while (true)
        {
            if (_pos >= _len)
            {
                nint n;
                fixed (byte* b = _buf) n = Libc.getdents64(_fd, b, _buf.Length);
                if (n <= 0) { name = default; return false; }
                _len = (int)n;
                _pos = 0;
            }
            // struct linux_dirent64 { u64 d_ino; s64 d_off; u16 d_reclen; u8 d_type; char d_name[]; }
            var rec = _buf.Slice(_pos);
            ushort reclen = System.Buffers.Binary.BinaryPrimitives.ReadUInt16LittleEndian(rec[16..]);
            var raw = rec.Slice(19, reclen - 19);
            int nul = raw.IndexOf((byte)0);
            var n2 = nul >= 0 ? raw[..nul] : raw;
            _pos += reclen;
            if (n2.Length == 1 && n2[0] == (byte)'.') continue;
            if (n2.Length == 2 && n2[0] == (byte)'.' && n2[1] == (byte)'.') continue;
            name = n2;
            return true;
        }
    }

    public static bool IsNumber(ReadOnlySpan<byte> s, out int value)
    {
        value = 0;
        if (s.Length == 0 || s.Length > 9) return false;
        foreach (var c in s)
        {
            if ((uint)(c - '0') > 9) return false;
            value = value * 10 + (c - '0');
        }
        return true;
    }
}
