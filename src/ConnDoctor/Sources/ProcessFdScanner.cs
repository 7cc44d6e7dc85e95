using System.Buffers.Text;
using System.Text;
using ConnDoctor.Model;
using ConnDoctor.Native;

namespace ConnDoctor.Sources;

/// <summary>What the /proc/*/fd walk found: socket inode -> owning (pid, fd), and who could not be read.</summary>
public sealed class FdScanResult
{
    public readonly Dictionary<ulong, SocketOwner[]> Owners = new();
    public int Processes;
    public int DeniedProcesses;    // /proc/PID/fd unreadable: another user's process and we are not root
    public int VanishedProcesses;  // exited during the scan: skipped, not an error
    /// <summary>
    /// Every pid listed, in /proc's order, with the inode of its network namespace (0: unreadable, or exited); null
    /// unless the scan was asked to record them (collect: the namespaces' processes that hold no socket).
    /// </summary>
    public List<(int Pid, ulong NetnsInode)>? ProcessNetns;
}

/// <summary>
/// Joins sockets to processes the way ss and lsof do, through the socket:[inode] links in /proc/PID/fd,
/// but with getdents64 and readlinkat into reused buffers and the pids split over the cores.
/// </summary>
public static unsafe class ProcessFdScanner
{
    /// <param name="recordNetns">Also read each pid's ns/net link as it goes (<see cref="FdScanResult.ProcessNetns"/>), even when no socket is wanted.</param>
    public static FdScanResult Scan(string procRoot, HashSet<ulong> wanted, bool recordNetns = false)
    {
        var result = new FdScanResult();
        if (wanted.Count == 0 && !recordNetns) return result;
        var pids = ListPids(procRoot);
        if (wanted.Count > 0) result.Processes = pids.Count;
        Walk(procRoot, pids, wanted, result, recordNetns);
        return result;
    }

    /// <summary>The same walk over the given pids only (<see cref="SocketOwnerCache"/>: the processes whose files changed).</summary>
    public static FdScanResult ScanPids(string procRoot, IReadOnlyList<int> pids, HashSet<ulong> wanted)
    {
        var result = new FdScanResult { Processes = pids.Count };
        if (wanted.Count == 0 || pids.Count == 0) return result;
        Walk(procRoot, pids, wanted, result, recordNetns: false);
        return result;
    }

    /// <summary>The pids split over the cores, each part's finds joined into <paramref name="result"/>.</summary>
    private static void Walk(string procRoot, IReadOnlyList<int> pids, HashSet<ulong> wanted, FdScanResult result, bool recordNetns)
    {
        var netns = recordNetns ? new ulong[pids.Count] : null;
        int parts = Math.Max(1, Math.Min(Environment.ProcessorCount, pids.Count / 64 + 1));
        var partials = new Partial[parts];
        Parallel.For(0, parts, new ParallelOptions { MaxDegreeOfParallelism = parts }, part =>
        {
            var p = partials[part] = new Partial();
            for (int i = part; i < pids.Count; i += parts) ScanPid(procRoot, pids[i], wanted, p, netns, i);
        });
        if (netns != null)
        {
            result.ProcessNetns = new List<(int, ulong)>(pids.Count);
            for (int i = 0; i < pids.Count; i++) result.ProcessNetns.Add((pids[i], netns[i]));
        }
        foreach (var p in partials)
        {
            result.DeniedProcesses += p.Denied;
            result.VanishedProcesses += p.Vanished;
            foreach (var (inode, owner) in p.Found)
                result.Owners[inode] = result.Owners.TryGetValue(inode, out var existing) ? [.. existing, owner] : [owner];
        }
    }

    private sealed class Partial
    {
        public readonly List<(ulong, SocketOwner)> Found = new();
        public int Denied, Vanished;
        public readonly byte[] Dirents = new byte[32 * 1024];
    }

    public static List<int> ListPids(string procRoot)
    {
        var pids = new List<int>(512);
        int fd = Libc.Open(procRoot, Libc.O_RDONLY | Libc.O_DIRECTORY);
        if (fd < 0)
        {
            int e = Libc.Errno;
            throw new SourceException($"cannot read {procRoot}: {Libc.ErrorText(e)}", e);
        }
        try
        {
            Span<byte> buf = stackalloc byte[16 * 1024];
            var dir = new DirectoryReader(fd, buf);
            while (dir.Next(out var name))
                if (DirectoryReader.IsNumber(name, out int pid)) pids.Add(pid);
        }
        finally { Libc.close(fd); }
        return pids;
    }

    /// <summary>One pid's fds (when sockets are wanted) and, when <paramref name="netns"/> is given, its namespace into netns[index].</summary>
    private static void ScanPid(string procRoot, int pid, HashSet<ulong> wanted, Partial acc, ulong[]? netns, int index)
    {
        Span<byte> path = stackalloc byte[procRoot.Length * 3 + 32];
        int len = Encoding.UTF8.GetBytes(procRoot, path);
        path[len++] = (byte)'/';
        pid.TryFormat(path[len..], out int w, default, null);
        len += w;
        if (netns != null)
        {
            "/ns/net\0"u8.CopyTo(path[len..]);
            netns[index] = NetnsScope.InodeFromLink(path);
        }
        if (wanted.Count == 0) return;
        "/fd"u8.CopyTo(path[len..]);
        len += 3;
        int dfd = Libc.Open(path[..len], Libc.O_RDONLY | Libc.O_DIRECTORY);
        if (dfd < 0)
        {
            int e = Libc.Errno;
            if (e is Libc.EACCES or Libc.EPERM) acc.Denied++;
            else acc.Vanished++;
            return;
        }
        try
        {
            var links = new FdLinkReader(dfd, acc.Dirents, stackalloc byte[64]);
            while (links.Next(out int fdNum, out var target))
            {
                // "socket:[12345]"
                if (target.Length < 10 || !target.StartsWith("socket:["u8) || target[^1] != (byte)']') continue;
                if (!Utf8Parser.TryParse(target[8..^1], out ulong inode, out _)) continue;
                if (!wanted.Contains(inode)) continue;
                acc.Found.Add((inode, new SocketOwner(pid, fdNum)));
            }
        }
        finally { Libc.close(dfd); }
    }
}
