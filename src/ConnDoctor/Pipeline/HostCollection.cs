using System.Runtime.InteropServices;
using System.Text;
using ConnDoctor.Model;
using ConnDoctor.Native;
using ConnDoctor.Rules;
using ConnDoctor.Sources;
using ConnDoctor.Sources.AppLog;
using ConnDoctor.Sources.Watch;

namespace ConnDoctor.Pipeline;

/// <summary>
/// `collect` on a host: the same collection as `diagnose` (<see cref="HostDiagnosis.Run"/>: every source, the rules, the
/// logs of the processes a finding blames at any severity), plus the own logs of the busiest connection churners here
/// (by opens in the watch, or by the TIME_WAIT towards the endpoints they talk to), because the process behind another
/// host's problem is only known once the documents are joined. <see cref="DiagnoseDocument"/> is the other end: the
/// rules over a document, giving the report `diagnose` gave on the live host.
/// </summary>
public static class HostCollection
{
    /// <summary>The churners whose logs a document carries besides the blamed processes'.</summary>
    public const int TopChurners = 5;
    /// <summary>Fewest opens in a watch (or TIME_WAIT towards one endpoint) for a process to count as a churner.</summary>
    public const int MinChurn = 10;

    public static Evidence Collect(HostDiagnosisOptions o, bool redact, Action<WatchTick>? onTick = null, CancellationToken cancel = default)
    {
        // The fd scan records every process's namespace as it goes, for WithNamespaceProcesses.
        var (evidence, _) = HostDiagnosis.Run(o with { Host = o.Host with { Collect = o.Host.Collect with { RecordProcessNetns = true } } }, onTick, cancel);
        if (o.Host.Collect.IsLiveProc) evidence = WithNamespaceProcesses(evidence, o.Host.Collect);
        if (o.AppLogs) evidence = evidence with { AppLogs = WithChurnerLogs(evidence, o.Host.Collect, o.Host.Since) };
        if (!redact && o.Host.Collect.IsLiveProc) evidence = Unmasked(evidence, o.Host.Collect.ProcRoot);
        if (evidence.Identity is { } id) evidence = evidence with { Identity = id with { CollectionEnd = DateTimeOffset.UtcNow } };
        return evidence;
    }

    /// <summary>
    /// The evidence's app logs (the blamed processes') plus the own logs of the busiest churners here (<see cref="Churners"/>)
    /// not among them: what `collect`'s document and the agent's window document carry, because the process behind
    /// another host's problem is only known once the documents are joined. Unchanged without live processes.
    /// </summary>
    public static AppLogEvidence? WithChurnerLogs(Evidence evidence, CollectOptions collect, DateTime since)
    {
        if (!collect.IsLiveProc) return evidence.AppLogs;
        var have = new HashSet<int>(evidence.AppLogs?.Processes.Select(p => p.Pid) ?? []);
        var extra = Churners(evidence).Where(pid => !have.Contains(pid))
            .Select(pid => evidence.Processes.GetValueOrDefault(pid) ?? ProcessReader.Read(collect.ProcRoot, pid))
            .Where(p => p != null).Select(p => p!).ToList();
        if (extra.Count == 0) return evidence.AppLogs;
        var (logs, _) = AppLogSource.Read(collect.ProcRoot, extra, since, collect.AppLogCache);
        return evidence.AppLogs is { } a ? a with { Processes = [.. a.Processes, .. logs.Processes] } : logs;
    }

    /// <summary>
    /// The processes that open the most connections: by opens in the watch (client side), then by the TIME_WAIT sockets
    /// towards the remote endpoints they hold connections to (TIME_WAIT has no owner; its endpoint's holders are the
    /// likely openers). At most <see cref="TopChurners"/>, each with at least <see cref="MinChurn"/>.
    /// </summary>
    public static List<int> Churners(Evidence e)
    {
        var score = new Dictionary<int, long>();
        if (e.Watch is { } w)
            foreach (var g in w.Rows.Where(r => r.Pid is int && !r.Passive && !r.PidIsTask).GroupBy(r => r.Pid!.Value))
            {
                long opens = g.Sum(r => (long)r.Opens);
                if (opens >= MinChurn) score[g.Key] = Math.Max(score.GetValueOrDefault(g.Key), opens);
            }
        var timeWait = new Dictionary<NetEndpoint, long>();
        var timeWaitPerNetns = new Dictionary<int, long>();
        foreach (var s in e.SocketSpan)
            if (s.State == TcpState.TimeWait)
            {
                // One lookup each (25k TIME_WAIT at 1k closes/s, every interval in the agent).
                CollectionsMarshal.GetValueRefOrAddDefault(timeWait, s.Remote, out _)++;
                CollectionsMarshal.GetValueRefOrAddDefault(timeWaitPerNetns, s.NetnsIndex, out _)++;
            }
        // A namespace with many TIME_WAIT and one process (a pod, a container): that process opened them, even when it
        // holds no socket between its attempts (a client in a reconnect loop).
        foreach (var (ns, n) in timeWaitPerNetns)
        {
            if (n < MinChurn || ns >= e.Namespaces.Count || e.Namespaces[ns].Inode == 0) continue;
            var inNs = e.Processes.Values.Where(p => p.NetnsInode == e.Namespaces[ns].Inode).Take(2).ToList();
            if (inNs.Count == 1) score[inNs[0].Pid] = Math.Max(score.GetValueOrDefault(inNs[0].Pid), n);
        }
        if (timeWait.Values.Any(n => n >= MinChurn))
            foreach (var s in e.SocketSpan)
                if (s.Owners.Length > 0 && timeWait.TryGetValue(s.Remote, out long n) && n >= MinChurn)
                    foreach (var o in s.Owners) score[o.Pid] = Math.Max(score.GetValueOrDefault(o.Pid), n);
        return score.OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key).Take(TopChurners).Select(kv => kv.Key).ToList();
    }

    /// <summary>At most this many processes that hold no socket are carried per document.</summary>
    public const int MaxIdleProcesses = 5000;

    /// <summary>
    /// Every process of the namespaces collected, not only those that own a socket now: a client in a reconnect loop
    /// holds none between attempts, and its TIME_WAIT sockets have no owner, so only its namespace names it (a pod's
    /// one process behind a node's NAT). Skipped for the host's namespace when it has more than <see cref="MaxIdleProcesses"/>.
    /// The processes and their namespaces come from the socket table's fd scan (<see cref="Evidence.ProcessNetns"/>); /proc
    /// is listed again only when that scan did not run or did not record them (a watch's table).
    /// </summary>
    private static Evidence WithNamespaceProcesses(Evidence e, CollectOptions o)
    {
        string procRoot = o.ProcRoot;
        var pods = new KubeletPods(o.PodLogRoot, o.KubeletRoot);
        var inodes = e.Namespaces.Select(n => n.Inode).Where(i => i != 0).ToHashSet();
        if (inodes.Count == 0) return e;
        var processes = new Dictionary<int, ProcessRecord>(e.Processes);
        int added = 0;
        var listed = e.ProcessNetns ?? ProcessFdScanner.ListPids(procRoot).Select(pid => (Pid: pid, NetnsInode: NetnsScope.InodeFromLink(procRoot, pid)));
        foreach (var (pid, netns) in listed)
        {
            if (processes.ContainsKey(pid) || !inodes.Contains(netns)) continue;
            if (added == MaxIdleProcesses) break;
            if (ProcessReader.Read(procRoot, pid) is { } p) { processes[pid] = pods.Fill(p); added++; }
        }
        return added == 0 ? e : e with { Processes = processes };
    }

    /// <summary>--no-redact: the command lines as the processes have them (those that still run), not masked.</summary>
    private static Evidence Unmasked(Evidence e, string procRoot)
    {
        var raw = new Dictionary<int, string?>();
        string? Raw(int pid)
        {
            if (!raw.TryGetValue(pid, out var c)) raw[pid] = c = RawCommandLine(procRoot, pid);
            return c;
        }
        var processes = e.Processes.ToDictionary(kv => kv.Key, kv => Raw(kv.Key) is { } c ? kv.Value with { CommandLine = c } : kv.Value);
        var discovery = e.Discovery is { } d
            ? d with { Clients = d.Clients.Select(c => Raw(c.Pid) is { } t ? c with { CommandLine = t } : c).ToList() }
            : null;
        if (e.Watch is { } w)
        {
            foreach (var c in w.Connections)
                if (c.Pid is int pid && !c.OwnerExited && Raw(pid) is { } t) c.CommandLine = t;
            e = e with { Watch = w with { Rows = w.Rows.Select(r => r.Pid is int pid && !r.OwnerExited && Raw(pid) is { } t ? r with { CommandLine = t } : r).ToList() } };
        }
        return e with { Processes = processes, Discovery = discovery };
    }

    private static string? RawCommandLine(string procRoot, int pid)
    {
        var buf = new byte[8192];
        int n = Libc.ReadSmallFile(Encoding.UTF8.GetBytes($"{procRoot}/{pid}/cmdline"), buf);
        return n > 0 ? PrintableText.Of(Encoding.UTF8.GetString(buf, 0, n).TrimEnd('\0').Replace('\0', ' ')) : null;
    }

    /// <summary>
    /// The rules over a document's evidence, as <see cref="HostDiagnosis.Run"/> ran them on the live host: the logs
    /// joined are those of the processes the findings blame (the document also carries the churners'), with the status
    /// the live read gave; ZooKeeper's client ports include every member that was polled (--zk ones too).
    /// </summary>
    public static (Evidence Evidence, DiagnoseReport Report) DiagnoseDocument(Evidence document, RuleOptions rules, IReadOnlyCollection<string> onlyRules)
    {
        var appStatus = document.Statuses.LastOrDefault(s => s.Source == "app-logs");
        var logs = document.AppLogs;
        var evidence = document with
        {
            AppLogs = null,
            Statuses = appStatus == null ? document.Statuses : document.Statuses.Where(s => !ReferenceEquals(s, appStatus)).ToList(),
        };
        var zkPorts = (document.Zk?.Members ?? []).Select(Analysis.ZkViews.ClientPort).ToList();
        return HostDiagnosis.Diagnose(evidence, rules, onlyRules, zkPorts, (blamed, _) =>
        {
            if (appStatus == null) return (null, new SourceStatus("app-logs", SourceState.Skipped, "the document has no app-log status"));
            if (logs == null || appStatus.State == SourceState.Skipped) return (null, appStatus);
            var wanted = blamed.ToHashSet();
            return (logs with { Processes = logs.Processes.Where(p => wanted.Contains(p.Pid)).ToList() }, appStatus);
        });
    }
}
