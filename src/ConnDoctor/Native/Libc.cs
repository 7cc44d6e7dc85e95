using System.Runtime.InteropServices;

namespace ConnDoctor.Native;

/// <summary>The few libc calls the sources need. Source-generated marshalling, so NativeAOT needs no reflection.</summary>
internal static unsafe partial class Libc
{
    public const int AF_NETLINK = 16;
    public const int SOCK_RAW = 3;
    public const int SOCK_CLOEXEC = 0x80000;
    public const int NETLINK_SOCK_DIAG = 4;
    public const int O_RDONLY = 0;
    public const int O_DIRECTORY = 0x10000;
    public const int O_CLOEXEC = 0x80000;
    public const int CLONE_NEWNET = 0x40000000;
    public const int SOL_SOCKET = 1;
    public const int SO_RCVBUF = 8;

    public const int ENOENT = 2;
    public const int ESRCH = 3;
    public const int EINTR = 4;
    public const int EACCES = 13;
    public const int EPERM = 1;
    public const int ENOTDIR = 20;
    public const int EINVAL = 22;
    public const int EOPNOTSUPP = 95;
    public const int ESTALE = 116;

    [LibraryImport("libc", SetLastError = true)]
    public static partial int socket(int domain, int type, int protocol);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint send(int fd, byte* buf, nint len, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint recv(int fd, byte* buf, nint len, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int setsockopt(int fd, int level, int name, int* value, int len);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int close(int fd);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int setns(int fd, int nstype);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int open(byte* path, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int openat(int dirfd, byte* path, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint getdents64(int fd, byte* buf, nint count);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint readlinkat(int dirfd, byte* path, byte* buf, nint size);

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint read(int fd, byte* buf, nint count);

    [LibraryImport("libc")]
    public static partial uint geteuid();

    public static int Errno => Marshal.GetLastPInvokeError();

    public static string ErrorText(int errno) => Marshal.GetPInvokeErrorMessage(errno);

    /// <summary>open() with a path given as UTF-8 bytes without the terminating NUL.</summary>
    public static int Open(ReadOnlySpan<byte> path, int flags)
    {
        Span<byte> z = stackalloc byte[path.Length + 1];
        path.CopyTo(z);
        z[^1] = 0;
        fixed (byte* p = z) return open(p, flags | O_CLOEXEC);
    }

    public static int Open(string path, int flags)
    {
        Span<byte> buf = stackalloc byte[System.Text.Encoding.UTF8.GetMaxByteCount(path.Length)];
        int n = System.Text.Encoding.UTF8.GetBytes(path, buf);
        return Open(buf[..n], flags);
    }

    /// <summary>Reads a small file (a /proc entry) into the buffer; returns bytes read, or -errno.</summary>
    public static int ReadSmallFile(ReadOnlySpan<byte> path, Span<byte> buffer)
    {
        int fd = Open(path, O_RDONLY);
        if (fd < 0) return -Errno;
        try
        {
            int total = 0;
            fixed (byte* b = buffer)
            {
                while (total < buffer.Length)
                {
                    nint n = read(fd, b + total, buffer.Length - total);
                    if (n < 0) { int e = Errno; if (e == EINTR) continue; return -e; }
                    if (n == 0) break;
                    total += (int)n;
                }
            }
            return total;
        }
        finally { close(fd); }
    }
}

internal static unsafe partial class LibcStat
{
    [LibraryImport("libc", SetLastError = true)]
    private static partial int fstat(int fd, byte* buf);

    /// <summary>The inode of an open file (st_ino sits at offset 8 on x86-64 and arm64).</summary>
    public static ulong InodeOf(int fd)
    {
        byte* buf = stackalloc byte[256];
        return fstat(fd, buf) == 0 ? *(ulong*)(buf + 8) : 0;
    }
}

internal static partial class LibcLease
{
    private const int F_SETLEASE = 1024, F_RDLCK = 0, F_UNLCK = 2;

    [LibraryImport("libc", SetLastError = true)]
    private static partial int fcntl(int fd, int cmd, int arg);

    /// <summary>
    /// Whether no process has the file open for writing now: the kernel grants a read lease (and it is given back at
    /// once) only then. False also when leases are not allowed (not the owner, no CAP_LEASE) or not supported here.
    /// </summary>
    public static bool NobodyWrites(int fd)
    {
        if (fcntl(fd, F_SETLEASE, F_RDLCK) != 0) return false;
        fcntl(fd, F_SETLEASE, F_UNLCK);
        return true;
    }
}

/// <summary>mmap of a window of a file, read-only; unmapped on Dispose so resident memory stays the window's size.</summary>
internal unsafe sealed partial class MappedWindow : IDisposable
{
    private const int PROT_NONE = 0, PROT_READ = 1, MAP_PRIVATE = 2, MAP_FIXED = 0x10, MAP_ANONYMOUS = 0x20, MAP_POPULATE = 0x8000;

    /// <summary>
    /// A file offset that is a multiple of this is mapped at an address that is too: the page cache keeps a file
    /// read in full in 2 MiB folios, and the kernel maps such a folio with one page-table entry only when address and
    /// offset agree modulo 2 MiB; otherwise it takes 512 small entries (more faults, more TLB misses).
    /// </summary>
    public const long HugeAlignment = 2 << 20;

    private byte* _reserved, _addr;
    private readonly nint _reservedLength, _length;

    [LibraryImport("libc", SetLastError = true)]
    private static partial void* mmap(void* addr, nint length, int prot, int flags, int fd, long offset);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int munmap(void* addr, nint length);

    /// <param name="offset">Must be a multiple of the page size.</param>
    public MappedWindow(int fd, long offset, int length)
    {
        _length = length;
        // An address range with room to slide to a 2 MiB boundary, then the file mapped over it in place.
        _reservedLength = length + (nint)HugeAlignment;
        _reserved = (byte*)mmap(null, _reservedLength, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (_reserved == (byte*)-1) { _reserved = null; throw new IOException($"mmap failed: {Libc.ErrorText(Libc.Errno)}"); }
        long slide = ((long)offset - (long)_reserved) & (HugeAlignment - 1);
        // MAP_POPULATE maps the window's pages up front: one call instead of a fault per page.
        _addr = (byte*)mmap(_reserved + slide, length, PROT_READ, MAP_PRIVATE | MAP_FIXED | MAP_POPULATE, fd, offset);
        if (_addr == (byte*)-1)
        {
            _addr = null;
            string error = Libc.ErrorText(Libc.Errno);
            Dispose();
            throw new IOException($"mmap failed: {error}");
        }
    }

    public ReadOnlySpan<byte> Span => new(_addr, (int)_length);

    public void Dispose()
    {
        if (_reserved != null) { munmap(_reserved, _reservedLength); _reserved = null; _addr = null; }
    }
}
