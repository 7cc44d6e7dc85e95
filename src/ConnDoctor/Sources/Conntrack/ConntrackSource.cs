using System.Diagnostics;
using ConnDoctor.Model;
using ConnDoctor.Native;

namespace ConnDoctor.Sources.Conntrack;

/// <summary>What to read: the ports of interest (empty: every TCP entry) and the backend.</summary>
public sealed record ConntrackOptions
{
    public IReadOnlyCollection<int> Ports { get; init; } = [];
    /// <summary>Auto: ctnetlink, /proc/net/nf_conntrack when netlink fails. Proc: the file only (what --proc-root reads).</summary>
    public SocketBackend Backend { get; init; } = SocketBackend.Auto;
    /// <summary>A /proc root; a copied tree is read from ROOT/net/nf_conntrack.</summary>
    public string ProcRoot { get; init; } = "/proc";
    /// <summary>Where loaded modules are listed (nf_conntrack/ when it is loaded or built in).</summary>
    public string SysModuleRoot { get; init; } = "/sys/module";
}

/// <summary>
/// The conntrack table of every namespace read (each entered with <see cref="NetnsScope"/>): ctnetlink first,
/// /proc/net/nf_conntrack as the fallback, both into one sink that keeps the TCP entries towards the ports of interest.
/// A table that cannot be read (not root, nf_conntrack not loaded) is a status, never an exception.
/// </summary>
public static class ConntrackSource
{
    private sealed record NsRead(string Via, int Total, int Malformed, List<int> MalformedAt, List<ConntrackEntry> Kept, string? Fallback);

    public static (ConntrackEvidence? Evidence, SourceStatus Status) Read(IReadOnlyList<NetnsInfo> namespaces, ConntrackOptions o)
    {
        var sw = Stopwatch.StartNew();
        bool live = Path.GetFullPath(o.ProcRoot).TrimEnd('/') == "/proc";
        // Asking ctnetlink would make the kernel load nf_conntrack (and its netlink part) if it is a module: read-only means
        // not changing the host, and a host without it tracks nothing anyway. Built in, it is listed with its parameters.
        if (live && !Directory.Exists(Path.Combine(o.SysModuleRoot, "nf_conntrack")))
            return (null, new SourceStatus("conntrack", SourceState.Skipped, "nf_conntrack is not loaded: this host tracks no connections (no NAT)", 0, sw.Elapsed));
        var targets = namespaces.Count > 0 ? namespaces : [new NetnsInfo { Label = live ? "host" : "fixture" }];
        var kept = new List<ConntrackEntry>();
        var via = new SortedSet<string>(StringComparer.Ordinal);
        var problems = new List<string>();
        int total = 0, read = 0, denied = 0, absent = 0;
        for (int i = 0; i < targets.Count; i++)
        {
            var ns = targets[i];
            int index = i;
            NsRead r;
            try
            {
                r = !live ? ReadProc(Path.Combine(o.ProcRoot, "net", "nf_conntrack"), o, index, null)
                    : ns.Path == null ? ReadLive(o, index) : NetnsScope.Run(ns.Path, () => ReadLive(o, index));
            }
            catch (SourceException ex)
            {
                if (ex.IsDenied) denied++;
                else if (ex.Errno is Libc.ENOENT or Libc.ENOTDIR) absent++;
                problems.Add(targets.Count > 1 ? $"{ns.Label}: {ex.Message}" : ex.Message);
                continue;
            }
            read++;
            total += r.Total;
            kept.AddRange(r.Kept);
            via.Add(r.Via);
            string prefix = targets.Count > 1 ? $"{ns.Label}: " : "";
            if (r.Fallback != null) problems.Add($"{prefix}netlink unavailable ({r.Fallback}), read /proc/net/nf_conntrack instead");
            if (r.Malformed > 0)
                problems.Add($"{prefix}{r.Malformed} malformed {(r.Via == "proc" ? "line" : "message")}(s) skipped (at {string.Join(", ", r.MalformedAt)})");
        }
        var ports = o.Ports.Where(p => p is > 0 and < 65536).Distinct().Order().ToList();
        string towards = ports.Count == 0 ? "every TCP entry" : "towards port(s) " + string.Join(", ", ports);
        // No table anywhere is not a failure: the host tracks nothing (no NAT), which is what most hosts do.
        var state = read == 0 ? (denied > 0 ? SourceState.Denied : absent == targets.Count ? SourceState.Skipped : SourceState.Failed)
            : problems.Count > 0 ? SourceState.Partial : SourceState.Ok;
        string summary = read == 0 ? string.Join("; ", problems)
            : $"{kept.Count} of {total} tracked entries {towards} in {read} namespace(s)" + (problems.Count > 0 ? "; " + string.Join("; ", problems) : "");
        var status = new SourceStatus("conntrack" + (via.Count > 0 ? ":" + string.Join('+', via) : ""), state, summary, kept.Count, sw.Elapsed);
        if (read == 0) return (null, status);
        var evidence = new ConntrackEvidence { Entries = kept, Via = string.Join('+', via), TableSize = total, Ports = ports };
        return (evidence, status);
    }

    /// <summary>Runs on the namespace's thread: the netlink socket and /proc/thread-self/net belong to it.</summary>
    private static NsRead ReadLive(ConntrackOptions o, int netnsIndex)
    {
        string? fallback = null;
        if (o.Backend != SocketBackend.Proc)
        {
            var sink = new ConntrackSink(o.Ports) { NetnsIndex = netnsIndex };
            try
            {
                CtNetlinkDump.Dump(2, sink);
                CtNetlinkDump.Dump(10, sink);
                return new NsRead("netlink", sink.Total, sink.Malformed, sink.MalformedAt, sink.Kept, null);
            }
            catch (SourceException ex) when (o.Backend == SocketBackend.Auto)
            {
                fallback = ex.Message;
            }
        }
        try { return ReadProc("/proc/thread-self/net/nf_conntrack", o, netnsIndex, fallback); }
        catch (SourceException ex) when (fallback != null)
        {
            // Both failed: say why netlink did, and why the file did.
            throw new SourceException($"{fallback}; {ex.Message}", ex.Errno);
        }
    }

    private static NsRead ReadProc(string path, ConntrackOptions o, int netnsIndex, string? fallback)
    {
        var content = Libc.ReadAll(path, out int errno);
        if (content == null)
            throw new SourceException(errno switch
            {
                Libc.ENOENT or Libc.ENOTDIR => $"no {path}: nf_conntrack is not loaded here (or the kernel lacks CONFIG_NF_CONNTRACK_PROCFS)",
                Libc.EACCES or Libc.EPERM => $"cannot read {path}: it is readable by root only",
                _ => $"cannot read {path}: {Libc.ErrorText(errno)}",
            }, errno);
        var sink = new ConntrackSink(o.Ports) { NetnsIndex = netnsIndex };
        ProcConntrackParser.Parse(content, sink);
        return new NsRead("proc", sink.Total, sink.Malformed, sink.MalformedAt, sink.Kept, fallback);
    }
}
