using System.Text;
using ConnDoctor.Native;

namespace ConnDoctor.Sources;

/// <summary>
/// How much a process has done, cheaply: its number of open files (the size of /proc/PID/fd, kernels 6.2+; 0 before) and
/// its CPU time (utime + stime, clock ticks). Two reads that give the same pair mean a process that ran no CPU and
/// opened or closed nothing in between (as a rule: a close and an open within one clock tick keep both): the callers
/// that walk a process's descriptors (the socket owners, the blamed processes' log files) skip one that is unchanged.
/// </summary>
public static class ProcessActivity
{
    /// <summary>(open files, CPU ticks); -1 for what could not be read.</summary>
    public static (long Files, long Cpu) Read(string procRoot, int pid) => (OpenFiles(procRoot, pid), CpuTicks(procRoot, pid));

    /// <summary>True when both were read and are what <paramref name="before"/> was (a kernel reporting 0 files: never).</summary>
    public static bool Same((long Files, long Cpu) now, (long Files, long Cpu) before) =>
        now.Files > 0 && now.Cpu >= 0 && now == before;

    /// <summary>PROCROOT/PID/LEAF in <paramref name="path"/> (room for procRoot's bytes and 32 more).</summary>
    private static ReadOnlySpan<byte> ProcPath(string procRoot, int pid, ReadOnlySpan<byte> leaf, Span<byte> path)
    {
        int len = Encoding.UTF8.GetBytes(procRoot, path);
        path[len++] = (byte)'/';
        pid.TryFormat(path[len..], out int w, default, null);
        len += w;
        leaf.CopyTo(path[len..]);
        return path[..(len + leaf.Length)];
    }

    /// <summary>utime + stime of the whole process in clock ticks (/proc/PID/stat fields 14 and 15); -1 when unreadable.</summary>
    private static long CpuTicks(string procRoot, int pid)
    {
        Span<byte> path = stackalloc byte[procRoot.Length * 3 + 32];
        Span<byte> buf = stackalloc byte[1024];
        int n = Libc.ReadSmallFile(ProcPath(procRoot, pid, "/stat"u8, path), buf);
        if (n <= 0) return -1;
        var text = buf[..n];
        int close = text.LastIndexOf((byte)')');
        if (close < 0) return -1;
        text = text[(close + 2)..];
        long sum = 0;
        for (int field = 3; field <= 15; field++)
        {
            int sp = text.IndexOf((byte)' ');
            if (sp < 0) return -1;
            if (field >= 14)
            {
                if (!System.Buffers.Text.Utf8Parser.TryParse(text[..sp], out long v, out _)) return -1;
                sum += v;
            }
            text = text[(sp + 1)..];
        }
        return sum;
    }

    /// <summary>How many files the process has open: the size of /proc/PID/fd (0 on kernels before 6.2, -1 when unreadable).</summary>
    private static long OpenFiles(string procRoot, int pid)
    {
        Span<byte> path = stackalloc byte[procRoot.Length * 3 + 32];
        int fd = Libc.Open(ProcPath(procRoot, pid, "/fd"u8, path), Libc.O_RDONLY | Libc.O_DIRECTORY);
        if (fd < 0) return -1;
        try { return LibcStat.SizeOf(fd); }
        finally { Libc.close(fd); }
    }
}
