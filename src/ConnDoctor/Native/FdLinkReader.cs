namespace ConnDoctor.Native;

/// <summary>
/// The descriptors of an open /proc/PID/fd directory and where each points, read with getdents64 and readlinkat into the
/// caller's buffers: no string per descriptor (a process holding 100k sockets). Used by the socket owners' walk and by
/// the search for a process's open log files.
/// </summary>
internal unsafe ref struct FdLinkReader
{
    private DirectoryReader _dir;
    private readonly int _dfd;
    private readonly Span<byte> _link;

    public FdLinkReader(int fdDirectory, Span<byte> dirents, Span<byte> link)
    {
        _dfd = fdDirectory;
        _dir = new DirectoryReader(fdDirectory, dirents);
        _link = link;
    }

    /// <summary>
    /// The next descriptor and its link's bytes; the target is empty when the link could not be read (the descriptor was
    /// closed meanwhile) or is longer than the link buffer. False at the end of the directory.
    /// </summary>
    public bool Next(out int fd, out ReadOnlySpan<byte> target)
    {
        byte* name = stackalloc byte[16];
        while (_dir.Next(out var entry))
        {
            if (entry.Length > 15 || !DirectoryReader.IsNumber(entry, out fd)) continue;
            entry.CopyTo(new Span<byte>(name, 16));
            name[entry.Length] = 0;
            nint n;
            fixed (byte* l = _link) n = Libc.readlinkat(_dfd, name, l, _link.Length);
            target = n > 0 && n < _link.Length ? _link[..(int)n] : default;
            return true;
        }
        fd = 0;
        target = default;
        return false;
    }
}
