using System.Diagnostics;
using ConnDoctor.Model;

namespace ConnDoctor.Sources;

/// <summary>
/// The evidence `audit` judges: the TCP sysctls (of a namespace, or a fixture tree under --proc-root), the kernel
/// release, the socket table where there is one (for real TIME_WAIT counts), and a zoo.cfg if given.
/// </summary>
public static class SettingsCollector
{
    public static Evidence Collect(CollectOptions o, string? zooCfgPath)
    {
        if (!Directory.Exists(o.ProcRoot))
            throw new UserException(File.Exists(o.ProcRoot) ? $"proc root {o.ProcRoot} is a file, not a directory" : $"proc root {o.ProcRoot} does not exist");
        var statuses = new List<SourceStatus>();
        Evidence? table = null;
        Sysctls sysctls;
        string origin;
        var sw = Stopwatch.StartNew();
        if (o.IsLiveProc)
        {
            // Sysctls are per namespace: the collector reads them inside the target namespace along with its table.
            table = SocketCollector.Collect(o with { JoinProcesses = false });
            sysctls = table.Namespaces[0].Sysctls;
            origin = o.Netns != null ? $"netns {table.Namespaces[0].Label}" : $"/proc (netns {table.Namespaces[0].Label})";
        }
        else
        {
            sysctls = SysctlReader.Read(o.ProcRoot);
            origin = o.ProcRoot;
            bool hasTable = File.Exists(Path.Combine(o.ProcRoot, "net", "tcp")) || File.Exists(Path.Combine(o.ProcRoot, "net", "tcp6"));
            if (hasTable) table = SocketCollector.Collect(o with { JoinProcesses = false, Backend = SocketBackend.Proc });
            else statuses.Add(new SourceStatus("sockets", SourceState.Skipped, $"no net/tcp under {o.ProcRoot}: rates are not measured"));
        }
        int read = CountRead(sysctls);
        if (read == 0)
            throw new UserException($"no TCP settings readable under {o.ProcRoot}/sys/net/ipv4 (not a proc tree, or no permission)");
        statuses.Insert(0, new SourceStatus("sysctls", read < Expected ? SourceState.Partial : SourceState.Ok,
            read < Expected ? $"{read} of {Expected} settings readable under {o.ProcRoot}/sys" : $"{read} settings from {o.ProcRoot}/sys", read, sw.Elapsed));
        if (table != null) statuses.AddRange(table.Statuses.Where(s => s.State != SourceState.Skipped));

        ZooCfg? cfg = null;
        if (zooCfgPath != null)
        {
            sw.Restart();
            cfg = ZooCfgReader.Read(zooCfgPath);
            statuses.Add(new SourceStatus("zoo.cfg", SourceState.Ok, $"{cfg.Entries.Count} settings from {zooCfgPath}", cfg.Entries.Count, sw.Elapsed));
        }
        else statuses.Add(new SourceStatus("zoo.cfg", SourceState.Skipped, "no --zoo-cfg given"));

        return new Evidence
        {
            Sockets = table?.Sockets ?? [],
            Namespaces = table?.Namespaces ?? [],
            Statuses = statuses,
            CollectedAt = DateTimeOffset.UtcNow,
            Settings = new SettingsEvidence
            {
                Origin = origin,
                Sysctls = sysctls,
                KernelRelease = KernelRelease(o.ProcRoot),
                ZooCfg = cfg,
                SocketTableRead = table != null,
            },
        };
    }

    private const int Expected = 10;

    /// <summary>Settings every kernel has (tcp_tw_recycle only exists before 4.12, so its absence is normal).</summary>
    private static int CountRead(Sysctls s) =>
        new int?[] { s.LocalPortLow, s.TcpTwReuse, s.TcpFinTimeout, s.TcpMaxTwBuckets, s.KeepaliveTime, s.KeepaliveIntvl, s.KeepaliveProbes,
                     s.TcpTimestamps, s.TcpRetries2, s.Somaxconn }.Count(v => v != null);

    /// <summary>The kernel release (sys/kernel/osrelease under a proc root); null when unreadable.</summary>
    internal static string? KernelRelease(string procRoot)
    {
        try { return File.ReadAllText(Path.Combine(procRoot, "sys", "kernel", "osrelease")).Trim(); }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { return null; }
    }
}
