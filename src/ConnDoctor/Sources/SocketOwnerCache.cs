using ConnDoctor.Model;

namespace ConnDoctor.Sources;

/// <summary>
/// The socket owners found by the last /proc/*/fd walk, kept between the reads of a caller that reads the table again
/// and again (the agent, every interval; its trace thread, every 5 s). On a host with 100k sockets nearly all of a
/// collection's time is one readlink per open file. A process is walked again unless both its number of open files (the
/// size of /proc/PID/fd, kernels 6.2+; a kernel that reports 0 gets every process walked, as without the cache) and its
/// CPU time (utime + stime, in clock ticks) are what they were at the last read: an idle holder of many sockets is not
/// walked, a client that swaps connections is. A socket left without owner is, as a rule, one opened and closed between
/// the table read and the walk; when one is still there at the next read, every process is walked (what a scan without
/// the cache does): a process that swapped one socket for another within one clock tick of CPU gets it named one read late. Sockets no walk finds an owner for twice in a row
/// (the kernel's own) are not chased again while they live. One cache per caller and state mask.
/// </summary>
public sealed class SocketOwnerCache
{
    // Each socket with the owners array the walk made for it (one owner: this process): a socket of a process that is not
    // walked again gets the same array as then, so 100k idle sockets cost no new objects and no map of the last scan's owners.
    private sealed record PidEntry(long Files, long Cpu, (ulong Inode, SocketOwner[] Owners)[] Sockets);

    private Dictionary<int, PidEntry> _pids = new();
    private readonly HashSet<ulong> _unowned = new();
    private HashSet<ulong> _missing = new();
    // The caller's set of inodes, kept between scans.
    private HashSet<ulong>? _spareWanted = new();
    private readonly object _lock = new();

    /// <summary>Processes walked, reused from the cache, and whether every process was walked, in the last scan.</summary>
    public int Walked { get; private set; }
    public int Reused { get; private set; }
    public bool FullWalk { get; private set; }
    /// <summary>Sockets in the caller's last table (its next list is made that large at once).</summary>
    public int TableSize { get; set; }

    public FdScanResult Scan(string procRoot, HashSet<ulong> wanted)
    {
        lock (_lock) return ScanLocked(procRoot, wanted);
    }

    private FdScanResult ScanLocked(string procRoot, HashSet<ulong> wanted)
    {
        var result = new FdScanResult();
        if (wanted.Count == 0) return result;
        var pids = ProcessFdScanner.ListPids(procRoot);
        result.Processes = pids.Count;
        var next = new Dictionary<int, PidEntry>(pids.Count);
        var files = new Dictionary<int, (long, long)>(pids.Count);
        var walk = new List<int>();
        var kept = new List<int>();
        foreach (int pid in pids)
        {
            var (n, cpu) = ProcessActivity.Read(procRoot, pid);
            files[pid] = (n, cpu);
            // A process that ran no CPU since the last read opened and closed nothing (an idle holder of many sockets).
            if (_pids.TryGetValue(pid, out var e) && ProcessActivity.Same((n, cpu), (e.Files, e.Cpu)))
            {
                kept.Add(pid);
                next[pid] = e;
            }
            else walk.Add(pid);
        }
        var walked = ProcessFdScanner.ScanPids(procRoot, walk, wanted);
        result.DeniedProcesses = walked.DeniedProcesses;
        result.VanishedProcesses = walked.VanishedProcesses;
        Remember(walk, walked, files, next);
        // The owners: the walked processes' as found, the kept ones' from their entries (the arrays of the scan that walked them).
        var owners = result.Owners;
        owners.EnsureCapacity(wanted.Count);
        foreach (var (inode, list) in walked.Owners) owners[inode] = list;
        foreach (int pid in kept)
            foreach (var (inode, own) in next[pid].Sockets)
                if (wanted.Contains(inode)) Add(owners, inode, own);
        // Sockets left without owner: most were opened and closed between the table read and the walk (churn). One still
        // there at the next read was swapped in by a process whose count of files did not change: walk every process then.
        if (_unowned.Count > 0) _unowned.RemoveWhere(i => !wanted.Contains(i));
        var missing = new HashSet<ulong>();
        foreach (ulong inode in wanted)
            if (!owners.ContainsKey(inode) && !_unowned.Contains(inode)) missing.Add(inode);
        FullWalk = walk.Count == pids.Count;
        if (!FullWalk && missing.Overlaps(_missing))
        {
            var again = ProcessFdScanner.ScanPids(procRoot, kept, wanted);
            result.DeniedProcesses += again.DeniedProcesses;
            result.VanishedProcesses += again.VanishedProcesses;
            // The kept processes' owners as this walk found them, in place of their entries'.
            owners.Clear();
            foreach (var (inode, list) in walked.Owners) owners[inode] = list;
            foreach (var (inode, list) in again.Owners)
                foreach (var o in list) Add(owners, inode, [o]);
            Remember(kept, again, files, next);
            walk.AddRange(kept);
            kept.Clear();
            FullWalk = true;
            missing.RemoveWhere(owners.ContainsKey);
        }
        if (FullWalk)
        {
            // Still without owner after every process was walked, twice in a row: the kernel's own, or unreadable; not chased again.
            foreach (ulong inode in missing)
                if (_missing.Contains(inode)) _unowned.Add(inode);
            missing.RemoveWhere(_unowned.Contains);
        }
        _missing = missing;
        _pids = next;
        Walked = walk.Count;
        Reused = kept.Count;
        return result;
    }

    /// <summary>
    /// The set of socket inodes a caller fills before <see cref="Scan"/>: one kept between scans, cleared (a table of 100k
    /// sockets would otherwise build a 2.5 MB set every read); given back with <see cref="ReturnWanted"/>. A second caller
    /// while it is out gets a set of its own.
    /// </summary>
    public HashSet<ulong> RentWanted(int capacity)
    {
        var w = Interlocked.Exchange(ref _spareWanted, null) ?? new HashSet<ulong>();
        w.Clear();
        w.EnsureCapacity(capacity);
        return w;
    }

    public void ReturnWanted(HashSet<ulong> wanted) => Volatile.Write(ref _spareWanted, wanted);

    /// <summary>One process's owner of a socket (<paramref name="one"/>: a one-element array, handed out as is when it is the only one).</summary>
    private static void Add(Dictionary<ulong, SocketOwner[]> owners, ulong inode, SocketOwner[] one)
    {
        if (owners.TryGetValue(inode, out var existing)) owners[inode] = [.. existing, one[0]];
        else owners[inode] = one;
    }

    /// <summary>The walked processes' sockets, for the next scan (a process the walk could not read is not kept).</summary>
    private static void Remember(List<int> walked, FdScanResult scan, Dictionary<int, (long Files, long Cpu)> files, Dictionary<int, PidEntry> next)
    {
        var byPid = new Dictionary<int, List<(ulong, SocketOwner[])>>();
        foreach (var (inode, list) in scan.Owners)
            foreach (var o in list)
            {
                if (!byPid.TryGetValue(o.Pid, out var l)) byPid[o.Pid] = l = new List<(ulong, SocketOwner[])>();
                l.Add((inode, list.Length == 1 ? list : [o]));
            }
        foreach (int pid in walked)
        {
            var (n, cpu) = files.GetValueOrDefault(pid);
            if (n > 0) next[pid] = new PidEntry(n, cpu, byPid.TryGetValue(pid, out var l) ? [.. l] : []);
            else next.Remove(pid);
        }
    }
}
