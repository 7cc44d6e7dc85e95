using System.Text;
using ConnDoctor.Native;

namespace ConnDoctor.Sources;

/// <summary>
/// Runs work inside another network namespace. setns() changes only the calling thread, so the work runs
/// on a thread of its own that switches in, works, and switches back. Sockets and /proc/thread-self/net and
/// /proc/sys/net opened there belong to that namespace.
/// </summary>
public static class NetnsScope
{
    /// <summary>Inode of the namespace a ns file (/run/netns/NAME, /proc/PID/ns/net) refers to; 0 if unreadable.</summary>
    public static ulong InodeOf(string nsPath)
    {
        int fd = Libc.Open(nsPath, Libc.O_RDONLY);
        if (fd < 0) return 0;
        try { return LibcStat.InodeOf(fd); } finally { Libc.close(fd); }
    }

    /// <summary>Inode from a /proc/PID/ns/net link text "net:[4026531840]" without opening it.</summary>
    public static ulong InodeFromLink(string procRoot, int pid) => InodeFromLink(Encoding.UTF8.GetBytes($"{procRoot}/{pid}/ns/net\0"));

    /// <summary>The same for a NUL-terminated path (the fd scan builds it in place); 0 if unreadable.</summary>
    public static unsafe ulong InodeFromLink(ReadOnlySpan<byte> nulTerminatedPath)
    {
        byte* buf = stackalloc byte[64];
        nint n;
        fixed (byte* p = nulTerminatedPath) n = Libc.readlinkat(-100 /* AT_FDCWD */, p, buf, 64);
        if (n <= 0) return 0;
        var s = new ReadOnlySpan<byte>(buf, (int)n);
        int lb = s.IndexOf((byte)'['), rb = s.IndexOf((byte)']');
        return lb > 0 && rb > lb && System.Buffers.Text.Utf8Parser.TryParse(s[(lb + 1)..rb], out ulong ino, out _) ? ino : 0;
    }

    public static T Run<T>(string nsPath, Func<T> work)
    {
        int target = Libc.Open(nsPath, Libc.O_RDONLY);
        if (target < 0)
        {
            int e = Libc.Errno;
            throw new SourceException(e == Libc.ENOENT ? $"network namespace {nsPath} does not exist"
                : $"cannot open network namespace {nsPath}: {Libc.ErrorText(e)}", e);
        }
        try
        {
            ulong targetIno = LibcStat.InodeOf(target);
            if (targetIno != 0 && targetIno == InodeOf("/proc/thread-self/ns/net")) return work();
            T result = default!;
            Exception? failure = null;
            var thread = new Thread(() =>
            {
                int self = Libc.Open("/proc/thread-self/ns/net", Libc.O_RDONLY);
                if (Libc.setns(target, Libc.CLONE_NEWNET) != 0)
                {
                    int e = Libc.Errno;
                    failure = new SourceException(e == Libc.EPERM
                        ? $"entering network namespace {nsPath} needs root (CAP_SYS_ADMIN)"
                        : $"cannot enter network namespace {nsPath}: {Libc.ErrorText(e)}", e);
                    if (self >= 0) Libc.close(self);
                    return;
                }
                try { result = work(); }
                catch (Exception ex) { failure = ex; }
                finally
                {
                    if (self >= 0) { Libc.setns(self, Libc.CLONE_NEWNET); Libc.close(self); }
                }
            }, 1 << 20) { IsBackground = true, Name = "netns" };
            thread.Start();
            thread.Join();
            if (failure != null) System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(failure);
            return result;
        }
        finally { Libc.close(target); }
    }
}

/// <summary>A source could not read what it wanted; carries errno so callers can tell denied from failed.</summary>
public class SourceException(string message, int errno = 0) : Exception(message)
{
    public int Errno { get; } = errno;
    public bool IsDenied => Errno is Libc.EPERM or Libc.EACCES;
}
