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
    public const int O_NONBLOCK = 0x800;
    public const int CLONE_NEWNET = 0x40000000;
    public const int SOL_SOCKET = 1;
    public const int SO_RCVBUF = 8;

    public const int ENOENT = 2;
    public const int EBUSY = 16;
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

    /// <summary>
    /// open() with a path given as UTF-8 bytes without the terminating NUL. Always O_NONBLOCK: the paths come from the
    /// user (--netns, --proc-root), and a FIFO put where a file belongs would otherwise block the open forever; regular
    /// files, /proc, nsfs and directories ignore the flag.
    /// </summary>
    public static int Open(ReadOnlySpan<byte> path, int flags)
    {
        Span<byte> z = stackalloc byte[path.Length + 1];
        path.CopyTo(z);
        z[^1] = 0;
        fixed (byte* p = z) return open(p, flags | O_CLOEXEC | O_NONBLOCK);
    }

    public static int Open(string path, int flags)
    {
        Span<byte> buf = stackalloc byte[System.Text.Encoding.UTF8.GetMaxByteCount(path.Length)];
        int n = System.Text.Encoding.UTF8.GetBytes(path, buf);
        return Open(buf[..n], flags);
    }

    /// <summary>Reads a whole file through <see cref="Open(string, int)"/> (so a FIFO cannot block it); null with errno set on failure.</summary>
    public static byte[]? ReadAll(string path, out int errno)
    {
        errno = 0;
        int fd = Open(path, O_RDONLY);
        if (fd < 0) { errno = Errno; return null; }
        try
        {
            var buffer = new byte[64 * 1024];
            int total = 0;
            while (true)
            {
                int n = Fill(fd, buffer.AsSpan(total));
                if (n < 0) { errno = -n; return null; }
                total += n;
                if (total < buffer.Length) return buffer[..total];     // the end of the file came first
                Array.Resize(ref buffer, buffer.Length * 2);
            }
        }
        finally { close(fd); }
    }

    /// <summary>Reads a small file (a /proc entry) into the buffer; returns bytes read, or -errno.</summary>
    public static int ReadSmallFile(ReadOnlySpan<byte> path, Span<byte> buffer)
    {
        int fd = Open(path, O_RDONLY);
        if (fd < 0) return -Errno;
        try { return Fill(fd, buffer); }
        finally { close(fd); }
    }

    /// <summary>Reads until the buffer is full or the file ends (retrying EINTR); returns bytes read, or -errno.</summary>
    private static int Fill(int fd, Span<byte> buffer)
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

    /// <summary>st_size of an open file (offset 48 on x86-64 and arm64); -1 when fstat fails.</summary>
    public static long SizeOf(int fd)
    {
        byte* buf = stackalloc byte[256];
        return fstat(fd, buf) == 0 ? *(long*)(buf + 48) : -1;
    }
}
