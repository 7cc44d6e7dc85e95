using ConnDoctor.Model;

namespace ConnDoctor.Sources.Watch;

/// <summary>
/// The tracker's view of the live system: which namespaces are watched, who a task is (read from /proc at once),
/// and who owns the listening sockets and the connections that existed when the watch began (the socket table).
/// </summary>
internal sealed class LiveWorld(CollectOptions collect) : IWatchWorld
{
    private readonly Dictionary<int, (ConnectionOwner? Info, long At)> _tasks = new();
    private Dictionary<(ulong, int), ConnectionOwner> _listeners = new();
    private Dictionary<ConnKey, ConnectionOwner> _existing = new();
    private Dictionary<ulong, NetnsInfo> _namespaces = new();
    private HashSet<ulong> _watched = new();
    // The listeners every 15 s (and on an unknown one): /proc/*/fd walked only for processes whose files or CPU time changed.
    // A full read (snapshot mode, guesses to check) walks every process: a new connection is named at first sight.
    private readonly SocketOwnerCache _listenerOwners = new();

    public Evidence Refresh(bool full)
    {
        var ev = SocketCollector.Collect(collect with { StateMask = full ? TcpStates.AllMask : TcpStates.MaskOf(TcpState.Listen), OwnerCache = full ? null : _listenerOwners });
        _namespaces = ev.Namespaces.ToDictionary(n => n.Inode, n => n);
        _watched = ev.Namespaces.Select(n => n.Inode).ToHashSet();
        var listeners = new Dictionary<(ulong, int), ConnectionOwner>();
        var listening = new HashSet<(ulong, int)>();
        var existing = full ? new Dictionary<ConnKey, ConnectionOwner>() : _existing;
        // One owner record per process, namespace and uid, shared by its sockets (100k sockets are a handful of owners).
        var shared = new Dictionary<(int, ulong, uint?), ConnectionOwner>();
        foreach (var s in ev.Sockets)
        {
            var ns = ev.Namespaces[s.NetnsIndex];
            var p = ev.OwnerOf(s);
            uint? uid = s.State == TcpState.TimeWait ? null : s.Uid;
            if (!shared.TryGetValue((p?.Pid ?? 0, ns.Inode, uid), out var info))
                shared[(p?.Pid ?? 0, ns.Inode, uid)] = info = ConnectionOwner.OfTableSocket(s, p?.Pid, p, ns);
            if (s.State == TcpState.Listen)
            {
                listening.Add((ns.Inode, s.Local.Port));      // owner or not: without root the owner is often unknown
                if (p != null) listeners.TryAdd((ns.Inode, s.Local.Port), info);
            }
            else if (full) existing.TryAdd(ConnKey.Of(s.Local, s.Remote), info);
        }
        _listeners = listeners;
        _listening = listening;
        _existing = existing;
        return ev;
    }

    // A port with a listener, whether its owner could be read or not: it tells accepted connections from outgoing ones.
    private HashSet<(ulong, int)> _listening = new();

    public bool IsListening(ulong netns, int port) => _listening.Contains((netns, port));

    public bool Watched(ulong netnsInode) => _watched.Contains(netnsInode) || (collect.AllNetns && netnsInode != 0);

    public bool KeepsExitedTasks => collect.AllNetns || collect.Netns == null;

    /// <summary>The kernel's tgid map (saved_tgids of the tracefs root), for threads gone before their line was read; null when unavailable.</summary>
    public Func<int, int>? SavedTgid { get; init; }

    /// <summary>The kernel's command-name map (saved_cmdlines), for tasks gone before they were read when the trace gave no name (binary records carry none).</summary>
    public Func<int, string?>? SavedComm { get; init; }

    public ConnectionOwner? Task(int tid, int traceTgid, string printedComm)
    {
        long now = Environment.TickCount64;
        if (_tasks.TryGetValue(tid, out var t) && now - t.At < 2000 && (traceTgid == 0 || t.Info?.Pid == traceTgid)) return t.Info;
        var info = Resolve("/proc", tid, traceTgid, printedComm, Watched, SavedTgid,
            ino => _namespaces.TryGetValue(ino, out var ns) ? ns.Label : $"net:[{ino}]", SavedComm);
        _tasks[tid] = (info, now);
        if (_tasks.Count > 10_000) _tasks.Clear();
        return info;
    }

    /// <summary>
    /// The process behind a traced task. Its thread group id comes from the trace when the line carries one, else from
    /// /proc/TID/status (any live thread's id opens there), else from the kernel's tgid map; the process's name, command
    /// line and cgroup are then read from /proc/TGID, the namespace from the thread itself (setns() is per thread). A
    /// task gone before it could be read keeps the trace's identity and is marked so: the process when its tgid is known,
    /// else the task id itself (<see cref="ConnectionOwner.PidIsTask"/>).
    /// </summary>
    internal static ConnectionOwner? Resolve(string procRoot, int tid, int traceTgid, string printedComm, Func<ulong, bool> watched,
        Func<int, int>? savedTgid, Func<ulong, string> label, Func<int, string?>? savedComm = null)
    {
        if (tid <= 0) return null;
        string? taskName = printedComm == "<...>" || printedComm.Length == 0 ? null : printedComm;
        // The binary trace prints no name: the kernel's map has it, asked only where /proc no longer does.
        string? Name() => taskName ??= savedComm?.Invoke(tid) is { Length: > 0 } saved && saved != "<...>" ? saved : null;
        int tgid = traceTgid > 0 ? traceTgid : ProcessReader.ReadTgid(procRoot, tid);
        if (tgid == 0 && savedTgid != null) tgid = savedTgid(tid);
        int pid = tgid > 0 ? tgid : tid;
        bool thread = tgid > 0 && tgid != tid;
        ulong ino = NetnsScope.InodeFromLink(procRoot, tid);
        if (ino == 0 && thread) ino = NetnsScope.InodeFromLink(procRoot, pid); // the thread ended, its process lives on
        // A task of a namespace not watched: its connection is not kept, so nothing more is read (no name from the kernel's
        // map, no thread name: a busy host's other namespaces connect all the time).
        if (ino != 0 && !watched(ino)) return new ConnectionOwner { Pid = pid, NetnsInode = ino, Tid = thread ? tid : null };
        if (ino != 0)
        {
            // The full record (command line, cgroup: container, pod) for the tasks we keep.
            var p = ProcessReader.Read(procRoot, pid);
            return new ConnectionOwner
            {
                Pid = pid, Comm = p?.Name ?? (thread ? null : Name()), Uid = p?.Uid, NetnsInode = ino, Netns = label(ino),
                Container = p?.ContainerId, Pod = p?.PodUid,
                CommandLine = NullIfEmpty(p?.CommandLine),
                Tid = thread ? tid : null,
                Thread = thread ? taskName ?? ProcessReader.ThreadName(procRoot, pid, tid) ?? Name() : null,
            };
        }
        // Gone already (it connected, closed and exited before its event was read): the trace, or the kernel's map, still names it.
        string? name = Name();
        return new ConnectionOwner
        {
            Pid = pid, Comm = thread ? null : name,
            Exited = true, PidIsTask = tgid == 0, Tid = thread ? tid : null, Thread = thread ? name : null,
        };
    }

    private static string? NullIfEmpty(string? s) => string.IsNullOrEmpty(s) ? null : s;

    private long _lastListenerRefresh;

    public ConnectionOwner? Listener(NetEndpoint local)
    {
        var found = FindListener(local);
        // A server that started listening after the last table read: read the listeners again (at most once a second),
        // but their owners (a walk of /proc) only when one listens on that port now: most misses are accepted
        // connections of namespaces not watched (the tracepoints see every namespace), and a bare dump of the
        // watched namespaces' listeners says so without reading a process.
        if (found == null && Environment.TickCount64 - _lastListenerRefresh > 1000)
        {
            _lastListenerRefresh = Environment.TickCount64;
            if (ListeningNow(local.Port))
            {
                Refresh(full: false);
                found = FindListener(local);
            }
        }
        return found;
    }

    private bool ListeningNow(int port)
    {
        var ev = SocketCollector.Collect(collect with { StateMask = TcpStates.MaskOf(TcpState.Listen), JoinProcesses = false, OwnerCache = null });
        foreach (var s in ev.Sockets)
            if (s.State == TcpState.Listen && s.Local.Port == port) return true;
        return false;
    }

    private ConnectionOwner? FindListener(NetEndpoint local)
    {
        // Tracepoints carry no namespace: a listener on this port in a watched namespace is the owner.
        foreach (var ino in _watched)
            if (_listeners.TryGetValue((ino, local.Port), out var t)) return t;
        if (collect.AllNetns) foreach (var kv in _listeners) if (kv.Key.Item2 == local.Port) return kv.Value;
        return null;
    }

    /// <summary>
    /// Handed over: the tracker asks once per connection (it follows the connection from then on), so the entry goes,
    /// and the map of the table's connections shrinks as they are seen to change or close.
    /// </summary>
    public ConnectionOwner? Existing(NetEndpoint local, NetEndpoint remote) => _existing.Remove(ConnKey.Of(local, remote), out var t) ? t : null;

    /// <summary>Connections of the last full table read not yet handed over.</summary>
    public int ExistingCount => _existing.Count;
}
