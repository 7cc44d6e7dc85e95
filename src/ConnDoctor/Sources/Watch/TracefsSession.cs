using System.Runtime.InteropServices;
using System.Text;
using ConnDoctor.Model;
using ConnDoctor.Native;

namespace ConnDoctor.Sources.Watch;

/// <summary>
/// A trace instance of our own (instances/conndoctor-PID) with only the three TCP events enabled, read in binary from
/// its per-CPU ring buffers (per_cpu/cpuN/trace_pipe_raw), or as text from its trace_pipe (<see cref="Reader"/>). Mounts tracefs if nobody has, and undoes everything it did on Dispose: the instance is
/// removed (also after Ctrl-C or an error, as the caller disposes in a finally) and tracefs unmounted if we mounted it.
/// </summary>
public sealed partial class TracefsSession : IDisposable
{
    public static readonly string[] Events = ["sock/inet_sock_set_state", "tcp/tcp_send_reset", "tcp/tcp_receive_reset"];

    public string Root { get; }
    public string InstanceDir { get; }
    public bool MountedByUs { get; }
    /// <summary>
    /// The instance records thread group ids (options/record-tgid): each line then carries its task's tgid, "(  8123)",
    /// once the kernel's tgid map holds it, and saved_tgids maps a task to its tgid after the task is gone.
    /// </summary>
    public bool RecordsTgid { get; private set; }
    private bool _disposed;

    private TracefsSession(string root, bool mounted, string instance)
    {
        Root = root;
        MountedByUs = mounted;
        InstanceDir = instance;
    }

    /// <summary>How the events are read: the binary per-CPU pages, or the text of trace_pipe when those cannot be.</summary>
    public TraceReader Reader { get; private set; } = null!;

    /// <summary>Why the text is read instead of the binary pages (a format this reader does not know); null when binary.</summary>
    public string? TextReason { get; private set; }

    /// <summary>After Dispose: why the instance directory is still there (null when it was removed).</summary>
    public string? NotRemoved { get; private set; }

    private static readonly object InstanceLock = new();

    /// <summary>
    /// Opens a session or throws SourceException with the reason tracefs cannot be used. <paramref name="binary"/>: read
    /// the per-CPU ring-buffer pages (the text of trace_pipe when their layout is not understood, <see cref="TextReason"/>).
    /// </summary>
    public static TracefsSession Open(int bufferKbPerCpu = 4096, bool binary = true)
    {
        if (Libc.geteuid() != 0) throw new SourceException("tracefs needs root", Libc.EPERM);
        var (root, mounted) = FindOrMount();
        TracefsSession? s = null;
        try
        {
            foreach (var e in Events)
                if (!File.Exists(Path.Combine(root, "events", e, "format")))
                    throw new SourceException($"this kernel has no tracepoint {e}");
            RemoveStaleInstances(root);
            // One instance per session: "conndoctor-PID", or "conndoctor-PID-2"... while another session of this process has that.
            string inst;
            lock (InstanceLock)
            {
                inst = Path.Combine(root, "instances", $"conndoctor-{Environment.ProcessId}");
                for (int nth = 2; Directory.Exists(inst) && nth < 1000; nth++) inst = Path.Combine(root, "instances", $"conndoctor-{Environment.ProcessId}-{nth}");
                Directory.CreateDirectory(inst);
            }
            s = new TracefsSession(root, mounted, inst);
            mounted = false; // the session owns the unmount now
            TryWrite(Path.Combine(inst, "buffer_size_kb"), bufferKbPerCpu.ToString());
            // A thread connects (a Java client's send thread): its process is the thread group. Older kernels have no such option.
            s.RecordsTgid = TryWrite(Path.Combine(inst, "options", "record-tgid"), "1");
            // Only the transitions the tracker uses, filtered in the kernel: the text formatting of each event is paid
            // by our read(), and skipping SYN_RECV->ESTABLISHED, FIN_WAIT1->FIN_WAIT2, CLOSE_WAIT->LAST_ACK and LISTEN
            // changes saves about a third of them. A kernel that refuses the filter gets every event (the tracker copes).
            TryWrite(Path.Combine(inst, "events", Events[0], "filter"), SetStateFilter);
            foreach (var e in Events) File.WriteAllText(Path.Combine(inst, "events", e, "enable"), "1");
            string? why = null;
            if (binary && s.TryRaw(out why) is { } raw) s.Reader = raw;
            else
            {
                s.TextReason = binary ? why : "text asked for";
                int pipe = Libc.Open(Path.Combine(inst, "trace_pipe"), Libc.O_RDONLY | O_NONBLOCK | Libc.O_CLOEXEC);
                if (pipe < 0) throw new SourceException($"cannot open {inst}/trace_pipe: {Libc.ErrorText(Libc.Errno)}", Libc.Errno);
                s.Reader = new TextTraceReader(pipe);
            }
            return s;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            s?.Dispose();
            if (mounted) Umount(root);
            throw new SourceException($"tracefs: {ex.Message}", Libc.EACCES);
        }
        catch
        {
            s?.Dispose();
            if (mounted) Umount(root);
            throw;
        }
    }

    private const int O_NONBLOCK = 0x800;

    /// <summary>
    /// The binary reader over every CPU's trace_pipe_raw, or null with the reason it cannot be: the page and record
    /// headers or one of the events' formats are not what <see cref="TracePageDecoder"/> reads, or a CPU's pipe does not open.
    /// </summary>
    private RawTraceReader? TryRaw(out string? reason)
    {
        reason = null;
        if (!BitConverter.IsLittleEndian) { reason = "a big-endian kernel"; return null; }
        string Text(string rel)
        {
            string p = Path.Combine(InstanceDir, rel);
            return File.Exists(p) ? File.ReadAllText(p) : File.ReadAllText(Path.Combine(Root, rel));
        }
        TraceEventFormat? Format(string e, ref string? why)
        {
            var f = TraceEventFormat.Parse(Text(Path.Combine("events", e, "format")), out string? r);
            if (f == null) why ??= $"{e}/format: {r}";
            return f;
        }
        try
        {
            var page = RingBufferLayout.Parse(Text("events/header_page"), Text("events/header_event"), out reason);
            if (page == null) return null;
            var set = Format(Events[0], ref reason);
            var send = Format(Events[1], ref reason);
            var recv = Format(Events[2], ref reason);
            if (set == null || send == null || recv == null) return null;
            var decoder = TracePageDecoder.Create(page, set, send, recv, out reason);
            if (decoder == null) return null;
            var cpus = Directory.EnumerateDirectories(Path.Combine(InstanceDir, "per_cpu"), "cpu*")
                .Select(d => (Dir: d, N: int.TryParse(Path.GetFileName(d)[3..], out int n) ? n : -1)).Where(c => c.N >= 0).OrderBy(c => c.N).ToList();
            if (cpus.Count == 0) { reason = "no per_cpu directories"; return null; }
            // per_cpu has a directory for every possible CPU; one that is offline may refuse the open: skipped, but
            // every online CPU must open (its events would be missed otherwise).
            var online = OnlineCpus();
            var fds = new List<int>();
            var paths = new List<string>();
            foreach (var (dir, n) in cpus)
            {
                string path = Path.Combine(dir, "trace_pipe_raw");
                int fd = Libc.Open(path, Libc.O_RDONLY | O_NONBLOCK | Libc.O_CLOEXEC);
                if (fd >= 0) { fds.Add(fd); paths.Add(path); continue; }
                if (online != null && !online.Contains(n)) continue;
                reason = $"cannot open {path}: {Libc.ErrorText(Libc.Errno)}";
                foreach (int f in fds) Libc.close(f);
                return null;
            }
            if (fds.Count == 0) { reason = "no per-CPU pipe opened"; return null; }
            return new RawTraceReader(decoder, fds.ToArray(), paths.ToArray());
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            reason = ex.Message;
            return null;
        }
    }

    /// <summary>TCP only; connect (CLOSE->SYN_SENT), its outcome (SYN_SENT->*), passive open (LISTEN->SYN_RECV), who closes first (ESTABLISHED->FIN_WAIT1 or CLOSE_WAIT), the end (*->CLOSE but a listener's).</summary>
    public const string SetStateFilter =
        "protocol == 6 && ((oldstate == 7 && newstate == 2) || oldstate == 2 || (oldstate == 10 && newstate == 3) || " +
        "(oldstate == 1 && (newstate == 4 || newstate == 8)) || (newstate == 7 && oldstate != 10))";

    /// <summary>Events the kernel could not store because the buffer was full (overrun) or dropped, summed over the CPUs.</summary>
    public long LostEvents()
    {
        long lost = 0;
        try
        {
            foreach (var dir in Directory.EnumerateDirectories(Path.Combine(InstanceDir, "per_cpu")))
            {
                string stats;
                try { stats = File.ReadAllText(Path.Combine(dir, "stats")); } catch (IOException) { continue; }
                lost += StatValue(stats, "overrun:") + StatValue(stats, "dropped events:");
            }
        }
        catch (IOException) { }
        return lost;
    }

    internal static long StatValue(string stats, string key)
    {
        foreach (var line in stats.Split('\n'))
            if (line.StartsWith(key) && long.TryParse(line[key.Length..].Trim(), out long v)) return v;
        return 0;
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        Reader?.Dispose();
        foreach (var e in Events) TryWrite(Path.Combine(InstanceDir, "events", e, "enable"), "0");
        int errno = RemoveInstance(InstanceDir);
        if (errno != 0) NotRemoved = $"the tracing instance {InstanceDir} could not be removed ({Libc.ErrorText(errno)}): remove it with rmdir";
        if (MountedByUs) Umount(Root);
    }

    /// <summary>The online CPUs (/sys/devices/system/cpu/online: "0-3,6"); null when unreadable.</summary>
    internal static HashSet<int>? OnlineCpus(string file = "/sys/devices/system/cpu/online")
    {
        try { return ParseCpuList(File.ReadAllText(file)); }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { return null; }
    }

    internal static HashSet<int>? ParseCpuList(string text)
    {
        var set = new HashSet<int>();
        foreach (var part in text.Trim().Split(',', StringSplitOptions.RemoveEmptyEntries))
        {
            var ab = part.Split('-');
            if (!int.TryParse(ab[0], out int a)) return null;
            int b = a;
            if (ab.Length > 1 && !int.TryParse(ab[1], out b)) return null;
            for (int i = a; i <= b && i - a < 65536; i++) set.Add(i);
        }
        return set;
    }

    private static (string Root, bool Mounted) FindOrMount()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/self/mounts"))
            {
                var f = line.Split(' ');
                if (f.Length > 2 && f[2] == "tracefs" && Directory.Exists(Path.Combine(f[1], "instances"))) return (f[1].Replace("\\040", " "), false);
            }
        }
        catch (IOException) { }
        string target = Directory.Exists("/sys/kernel/tracing") ? "/sys/kernel/tracing" : Directory.CreateTempSubdirectory("conndoctor-tracefs-").FullName;
        if (mount("nodev", target, "tracefs", 0, 0) != 0)
            throw new SourceException($"tracefs is not mounted and mounting it on {target} failed: {Libc.ErrorText(Marshal.GetLastPInvokeError())}", Marshal.GetLastPInvokeError());
        return (target, true);
    }

    private static void Umount(string root)
    {
        umount2(root, 0);
        if (root.Contains("conndoctor-tracefs-")) { try { Directory.Delete(root); } catch (IOException) { } }
    }

    /// <summary>Instances left by a conndoctor that was killed (-9): their pid is gone.</summary>
    private static void RemoveStaleInstances(string root)
    {
        try
        {
            foreach (var dir in Directory.EnumerateDirectories(Path.Combine(root, "instances"), "conndoctor-*"))
                if (int.TryParse(Path.GetFileName(dir)["conndoctor-".Length..].Split('-')[0], out int pid) && pid != Environment.ProcessId && !Directory.Exists($"/proc/{pid}"))
                    Rmdir(dir);
        }
        catch (IOException) { }
    }

    /// <summary>rmdir(2): 0 or the errno. An instance directory is removed so while its files still "exist" (Directory.Delete would recurse).</summary>
    private static int Rmdir(string dir) => rmdir(dir) == 0 ? 0 : Marshal.GetLastPInvokeError();

    /// <summary>
    /// rmdir(2) of our instance, 0 or the errno. The kernel refuses (EBUSY) while any file of the instance is open anywhere:
    /// a child that another thread of this process is forking holds our descriptors until its exec closes them (O_CLOEXEC),
    /// so a refusal is retried for up to 2 s before the instance (and its ring buffers) would be left behind.
    /// </summary>
    private static int RemoveInstance(string dir)
    {
        var sw = System.Diagnostics.Stopwatch.StartNew();
        while (true)
        {
            int errno = Rmdir(dir);
            if (errno is 0 or Libc.ENOENT) return 0;
            if (errno != Libc.EBUSY || sw.ElapsedMilliseconds >= 2000) return errno;
            Thread.Sleep(20);
        }
    }

    private static bool TryWrite(string path, string text)
    {
        try { File.WriteAllText(path, text); return true; } catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { return false; }
    }

    /// <summary>
    /// One of the kernel's per-task maps of the tracefs root ("PID VALUE" per line), as a snapshot read again when it is
    /// older than <see cref="SavedMapMinAgeMs"/>, hit or miss: an entry is kept by pid number, and once pids wrap (pid_max
    /// is 32768 on many hosts) an old snapshot answers for a new task with the entry of an earlier task of the same number
    /// (another process's thread).
    /// </summary>
    internal sealed class SavedMap<T>(string path, Func<ReadOnlySpan<byte>, Dictionary<int, T>> parse)
    {
        private Dictionary<int, T> _map = new();
        private long _readAt = long.MinValue / 2; // not MinValue: now - MinValue overflows to a negative age

        public bool TryGet(int tid, out T value)
        {
            long now = Environment.TickCount64;
            if (now - _readAt >= SavedMapMinAgeMs)
            {
                _readAt = now;
                _map = Libc.ReadAll(path, out _) is { } text ? parse(text) : new();
            }
            return _map.TryGetValue(tid, out value!);
        }
    }

    private SavedMap<int>? _savedTgids;
    private SavedMap<string>? _savedComms;

    /// <summary>
    /// A task's thread group id from the kernel's tgid map (saved_tgids, one map for all instances, filled when a traced
    /// task is scheduled out): the map outlives the task. Read again at most every 20 ms; 0 when not there.
    /// </summary>
    public int SavedTgid(int tid) =>
        RecordsTgid && (_savedTgids ??= new(Path.Combine(Root, "saved_tgids"), ParseSavedTgids)).TryGet(tid, out int tgid) ? tgid : 0;

    /// <summary>
    /// A missing task sends us to the kernel's map again at most this often: a burst of short-lived tasks (a health check
    /// run from a shell loop) is named from one read, and the binary records, which carry no names, need the map soon
    /// after the task ran (the map keeps a fixed number of tasks, saved_cmdlines_size).
    /// </summary>
    internal const int SavedMapMinAgeMs = 20;

    /// <summary>
    /// A task's command name from the kernel's map (saved_cmdlines, filled as traced tasks run; the text reader gets its
    /// names from there too): the binary records carry none, and a task gone before it was read is named from here.
    /// Read again at most every 20 ms; null when not there.
    /// </summary>
    public string? SavedComm(int tid) =>
        (_savedComms ??= new(Path.Combine(Root, "saved_cmdlines"), ParseSavedComms)).TryGet(tid, out var comm) ? comm : null;

    /// <summary>saved_cmdlines: "PID COMM" per line (a name may hold spaces).</summary>
    internal static Dictionary<int, string> ParseSavedComms(ReadOnlySpan<byte> text) =>
        ParsePidLines(text, (ReadOnlySpan<byte> v, out string comm) => (comm = v.Length > 0 ? PrintableText.Of(Encoding.UTF8.GetString(v)) : "").Length > 0);

    /// <summary>saved_tgids: "PID TGID" per line.</summary>
    internal static Dictionary<int, int> ParseSavedTgids(ReadOnlySpan<byte> text) =>
        ParsePidLines(text, (ReadOnlySpan<byte> v, out int tgid) => System.Buffers.Text.Utf8Parser.TryParse(v.Trim((byte)' '), out tgid, out _) && tgid > 0);

    private delegate bool TryValue<T>(ReadOnlySpan<byte> text, out T value);

    /// <summary>"PID VALUE" lines: the pid up to the first space, the value after it; a line whose value does not read is skipped.</summary>
    private static Dictionary<int, T> ParsePidLines<T>(ReadOnlySpan<byte> text, TryValue<T> value)
    {
        var map = new Dictionary<int, T>();
        foreach (var range in text.Split((byte)'\n'))
        {
            var line = text[range];
            int sp = line.IndexOf((byte)' ');
            if (sp > 0 && System.Buffers.Text.Utf8Parser.TryParse(line[..sp], out int pid, out int used) && used == sp && value(line[(sp + 1)..], out var v))
                map[pid] = v;
        }
        return map;
    }

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int mount(string source, string target, string fstype, ulong flags, nint data);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int umount2(string target, int flags);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int rmdir(string path);
}
