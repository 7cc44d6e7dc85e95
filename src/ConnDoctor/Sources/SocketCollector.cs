using System.Diagnostics;
using ConnDoctor.Model;
using ConnDoctor.Native;

namespace ConnDoctor.Sources;

public enum SocketBackend { Auto, Netlink, Proc }

/// <summary>Where and how to read. Roots are settable so tests can point the sources at fixture trees.</summary>
public sealed record CollectOptions
{
    public string ProcRoot { get; init; } = "/proc";
    /// <summary>A name under /run/netns, or a path such as /proc/PID/ns/net.</summary>
    public string? Netns { get; init; }
    public bool AllNetns { get; init; }
    public SocketBackend Backend { get; init; } = SocketBackend.Auto;
    public uint StateMask { get; init; } = TcpStates.AllMask;
    public bool JoinProcesses { get; init; } = true;
    /// <summary>Owners kept from the last walk of /proc/*/fd (a caller that reads the table every few seconds); null: walk every process.</summary>
    public SocketOwnerCache? OwnerCache { get; init; }
    /// <summary>Blamed processes' log excerpts kept between diagnoses (a caller that diagnoses every few seconds); null: read each time.</summary>
    public ConnDoctor.Sources.AppLog.AppLogCache? AppLogCache { get; init; }
    public string NetnsRunDir { get; init; } = "/run/netns";
    /// <summary>The kubelet's pod log root (namespace_name_uid directories) and its state directory: pod names from a pod uid.</summary>
    public string PodLogRoot { get; init; } = "/var/log/pods";
    public string KubeletRoot { get; init; } = "/var/lib/kubelet";
    /// <summary>Record every process's network namespace during the fd scan (<see cref="Evidence.ProcessNetns"/>): collect carries the namespaces' processes that hold no socket.</summary>
    public bool RecordProcessNetns { get; init; }

    public bool IsLiveProc => Path.GetFullPath(ProcRoot).TrimEnd('/') == "/proc";
}

/// <summary>
/// Reads the kernel socket table of one or several network namespaces (sock_diag first, /proc/net/tcp as
/// the fallback), joins sockets to processes and reads the TCP sysctls: the socket evidence.
/// </summary>
public static class SocketCollector
{
    private sealed record Target(string Label, string? NsPath, ulong Inode, string? Container, string? Pod);

    public static Evidence Collect(CollectOptions o)
    {
        if (!o.IsLiveProc && (o.Netns != null || o.AllNetns))
            throw new UserException("--netns and --all-netns read the live kernel; they cannot be combined with --proc-root");
        if (!o.IsLiveProc && o.Backend == SocketBackend.Netlink)
            throw new UserException("--proc-root points at files; the netlink backend reads the live kernel");
        if (!Directory.Exists(o.ProcRoot))
            throw new UserException($"proc root {o.ProcRoot} does not exist");

        var statuses = new List<SourceStatus>();
        var targets = ResolveTargets(o, statuses);
        // The agent reads a table of about the same size every interval: one array of that size, not a doubling chain of them.
        var sockets = new List<SocketRecord>(o.OwnerCache is { TableSize: > 0 } c ? c.TableSize + c.TableSize / 8 : 1024);
        var namespaces = new List<NetnsInfo>();
        var sw = Stopwatch.StartNew();
        var backendsUsed = new HashSet<string>();
        var problems = new List<string>();
        int malformed = 0;
        foreach (var t in targets)
        {
            int index = namespaces.Count;
            TableRead read;
            int start = sockets.Count;
            try
            {
                read = t.NsPath == null ? ReadTable(o, index, sockets) : NetnsScope.Run(t.NsPath, () => ReadTable(o, index, sockets));
            }
            catch (SourceException ex) when (o.AllNetns)
            {
                sockets.RemoveRange(start, sockets.Count - start);
                problems.Add($"{t.Label}: {ex.Message}"); // a namespace that vanished or refused us is reported, the rest still read
                continue;
            }
            catch (SourceException ex)
            {
                throw new UserException(ex.Message);
            }
            backendsUsed.Add(read.Backend);
            if (read.FallbackReason != null) problems.Add($"{t.Label}: netlink unavailable ({read.FallbackReason}), read /proc/net/tcp instead");
            malformed += read.Malformed;
            namespaces.Add(new NetnsInfo { Label = t.Label, Inode = t.Inode, Path = t.NsPath, Container = t.Container, PodUid = t.Pod, Sysctls = read.Sysctls });
        }
        if (malformed > 0) problems.Add($"{malformed} malformed line(s) in /proc/net/tcp* skipped");
        statuses.Add(new SourceStatus("sockets:" + string.Join('+', backendsUsed.Order()),
            namespaces.Count == 0 ? SourceState.Failed : problems.Count > 0 ? SourceState.Partial : SourceState.Ok,
            problems.Count > 0 ? string.Join("; ", problems) : $"{namespaces.Count} network namespace(s)",
            sockets.Count, sw.Elapsed));

        var processes = new Dictionary<int, ProcessRecord>();
        bool ownersIncomplete = false;
        List<(int, ulong)>? processNetns = null;
        if (o.JoinProcesses) ownersIncomplete = JoinProcesses(o, sockets, processes, statuses, out processNetns);
        else statuses.Add(new SourceStatus("processes", SourceState.Skipped, "not asked for"));

        return new Evidence
        {
            Sockets = sockets,
            Processes = processes,
            Namespaces = namespaces,
            Statuses = statuses,
            CollectedAt = DateTimeOffset.UtcNow,
            OwnersIncomplete = ownersIncomplete,
            ProcessNetns = processNetns,
        };
    }

    private sealed record TableRead(Sysctls Sysctls, string Backend, string? FallbackReason, int Malformed);

    /// <summary>Runs in the target namespace's thread: everything opened here belongs to that namespace. Appends to <paramref name="list"/>.</summary>
    private static TableRead ReadTable(CollectOptions o, int netnsIndex, List<SocketRecord> list)
    {
        int start = list.Count;
        string? fallback = null;
        if (o.IsLiveProc && o.Backend != SocketBackend.Proc)
        {
            try
            {
                NetlinkSocketDump.DumpBothFamilies(o.StateMask, netnsIndex, list);
                return new TableRead(SysctlReader.Read("/proc"), "netlink", null, 0);
            }
            catch (SourceException ex) when (o.Backend == SocketBackend.Auto)
            {
                list.RemoveRange(start, list.Count - start);
                fallback = ex.Message;
            }
            catch (SourceException ex)
            {
                throw new UserException(ex.Message);
            }
        }
        // /proc/thread-self/net follows this thread's namespace; /proc/net follows the main thread's.
        string netDir = o.IsLiveProc ? "/proc/thread-self/net" : Path.Combine(o.ProcRoot, "net");
        var stats = new ParseStats();
        bool any = false;
        foreach (var (file, family) in new[] { ("tcp", 4), ("tcp6", 6) })
        {
            string path = Path.Combine(netDir, file);
            var content = Libc.ReadAll(path, out int errno);
            if (content == null)
            {
                if (errno is Libc.ENOENT or Libc.ENOTDIR) continue;       // no IPv6 on this host: fine
                throw new SourceException($"cannot read {path}: {Libc.ErrorText(errno)}", errno);
            }
            any = true;
            ProcNetTcpParser.Parse(content, family, o.StateMask, netnsIndex, list, stats);
        }
        if (!any) throw new SourceException($"no socket table: neither {netDir}/tcp nor tcp6 is readable", Libc.ENOENT);
        return new TableRead(SysctlReader.Read(o.IsLiveProc ? "/proc" : o.ProcRoot), "proc", fallback, stats.Malformed);
    }

    /// <summary>
    /// The inodes of the namespaces <see cref="Collect"/> will read, known before it reads them (null: every namespace,
    /// --all-netns), so that other sources can start meanwhile. Empty when it cannot be told (a fixture tree).
    /// </summary>
    public static HashSet<ulong>? NamespaceInodes(CollectOptions o)
    {
        if (o.AllNetns) return null;
        if (!o.IsLiveProc) return [];
        ulong ino = o.Netns != null ? NetnsScope.InodeOf(o.Netns.Contains('/') ? o.Netns : Path.Combine(o.NetnsRunDir, o.Netns))
            : NetnsScope.InodeOf("/proc/thread-self/ns/net");
        return ino == 0 ? [] : [ino];
    }

    private static List<Target> ResolveTargets(CollectOptions o, List<SourceStatus> statuses)
    {
        var names = NamedNamespaces(o.NetnsRunDir);
        ulong hostIno = o.IsLiveProc ? NetnsScope.InodeFromLink(o.ProcRoot, 1) : 0;
        string LabelFor(ulong ino) =>
            names.FirstOrDefault(n => n.Inode == ino).Name ?? (ino != 0 && ino == hostIno ? "host" : ino != 0 ? $"net:[{ino}]" : "host");

        if (!o.IsLiveProc) return [new Target("fixture", null, 0, null, null)];
        if (o.Netns != null)
        {
            string path = o.Netns.Contains('/') ? o.Netns : Path.Combine(o.NetnsRunDir, o.Netns);
            if (!File.Exists(path))
                throw new UserException(o.Netns.Contains('/')
                    ? $"network namespace {o.Netns} does not exist"
                    : $"no network namespace named '{o.Netns}' in {o.NetnsRunDir} (give a name from 'ip netns list' or a /proc/PID/ns/net path)");
            ulong ino = NetnsScope.InodeOf(path);
            return [new Target(o.Netns.Contains('/') ? LabelFor(ino) : o.Netns, path, ino, null, null)];
        }
        ulong own = NetnsScope.InodeOf("/proc/thread-self/ns/net");
        if (!o.AllNetns) return [new Target(LabelFor(own), null, own, null, null)];

        // Every distinct namespace a running process is in, plus named ones that may hold only orphans.
        var byInode = new Dictionary<ulong, int>();
        foreach (var pid in ProcessFdScanner.ListPids(o.ProcRoot))
        {
            ulong ino = NetnsScope.InodeFromLink(o.ProcRoot, pid);
            if (ino != 0) byInode.TryAdd(ino, pid); // pids come in ascending order: the first is the namespace's oldest
        }
        var targets = new List<Target>();
        var seen = new HashSet<ulong>();
        foreach (var (name, ino, path) in names)
        {
            if (ino == 0 || !seen.Add(ino)) continue;
            var (c, p) = byInode.TryGetValue(ino, out var pid0) ? ContainerOfPid(o.ProcRoot, pid0) : (null, null);
            targets.Add(new Target(name, ino == own ? null : path, ino, c, p));
        }
        foreach (var (ino, pid) in byInode)
        {
            if (!seen.Add(ino)) continue;
            var (c, p) = ContainerOfPid(o.ProcRoot, pid);
            targets.Add(new Target(LabelFor(ino), ino == own ? null : $"{o.ProcRoot}/{pid}/ns/net", ino, c, p));
        }
        if (byInode.Count == 0 && Libc.geteuid() != 0)
            statuses.Add(new SourceStatus("netns", SourceState.Denied, "cannot see other processes' namespaces without root"));
        // The namespace we run in first, then the rest in a stable order.
        return targets.OrderBy(t => t.NsPath == null ? 0 : 1).ThenBy(t => t.Label, StringComparer.Ordinal).ToList();
    }

    private static (string?, string?) ContainerOfPid(string procRoot, int pid)
    {
        try
        {
            var text = File.ReadAllText($"{procRoot}/{pid}/cgroup");
            return ProcessReader.ContainerOf(ProcessReader.ParseCgroupPath(text));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { return (null, null); }
    }

    private static List<(string Name, ulong Inode, string Path)> NamedNamespaces(string runDir)
    {
        var list = new List<(string, ulong, string)>();
        if (!Directory.Exists(runDir)) return list;
        try
        {
            foreach (var path in Directory.EnumerateFiles(runDir).Order(StringComparer.Ordinal))
                list.Add((Path.GetFileName(path), NetnsScope.InodeOf(path), path));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { }
        return list;
    }

    /// <summary>Joins owners into the sockets; returns true when some processes could not be inspected.</summary>
    private static bool JoinProcesses(CollectOptions o, List<SocketRecord> sockets, Dictionary<int, ProcessRecord> processes, List<SourceStatus> statuses,
        out List<(int, ulong)>? processNetns)
    {
        var sw = Stopwatch.StartNew();
        if (o.OwnerCache != null) o.OwnerCache.TableSize = sockets.Count;
        var wanted = o.OwnerCache?.RentWanted(sockets.Count) ?? new HashSet<ulong>(sockets.Count);
        foreach (var s in sockets) if (s.Inode != 0) wanted.Add(s.Inode);
        FdScanResult scan;
        processNetns = null;
        // The cache keeps owners, not every process's namespace: a read that records those walks every process.
        bool recordNetns = o.RecordProcessNetns && o.IsLiveProc;
        try { scan = o.OwnerCache != null && !recordNetns ? o.OwnerCache.Scan(o.ProcRoot, wanted) : ProcessFdScanner.Scan(o.ProcRoot, wanted, recordNetns); }
        catch (SourceException ex)
        {
            statuses.Add(new SourceStatus("processes", SourceState.Failed, ex.Message, 0, sw.Elapsed));
            return true;
        }
        finally { o.OwnerCache?.ReturnWanted(wanted); }
        processNetns = scan.ProcessNetns;
        var owning = new HashSet<int>();
        foreach (var s in sockets)
        {
            if (s.Inode == 0 || !scan.Owners.TryGetValue(s.Inode, out var owners)) continue;
            // A socket shared after fork() has several holders, found in whatever order /proc lists them: the lowest pid (as a
            // rule the parent that opened it) comes first, so every view names the same holder run after run.
            if (owners.Length > 1) Array.Sort(owners, (a, b) => a.Pid != b.Pid ? a.Pid.CompareTo(b.Pid) : a.Fd.CompareTo(b.Fd));
            s.Owners = owners;
            foreach (var ow in owners) owning.Add(ow.Pid);
        }
        var pods = new KubeletPods(o.PodLogRoot, o.KubeletRoot);
        foreach (var pid in owning)
            if (ProcessReader.Read(o.ProcRoot, pid) is { } p) processes[pid] = pods.Fill(p);

        bool denied = scan.DeniedProcesses > 0;
        string reason = denied
            ? $"{scan.DeniedProcesses} of {scan.Processes} processes belong to other users and could not be inspected (run as root): their sockets show no owner"
            : $"{scan.Processes} processes scanned, {owning.Count} hold sockets" +
              (o.OwnerCache is { } cache ? $" ({cache.Walked} walked, {cache.Reused} with the same files as at the last read{(cache.FullWalk ? ": a full walk" : "")})" : "");
        statuses.Add(new SourceStatus("processes", denied ? SourceState.Partial : SourceState.Ok, reason, processes.Count, sw.Elapsed));
        return denied;
    }
}
