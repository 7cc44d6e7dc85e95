using System.Diagnostics;
using ConnDoctor.Model;
using ConnDoctor.Pipeline;
using ConnDoctor.Sources;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.Collect;

/// <summary>
/// collect carries every process of the namespaces it reads, also those that hold no socket. Their namespaces come from
/// the socket table's fd scan, which reads each pid's ns/net link as it goes; /proc is listed again only where that scan
/// did not record them (a watch's table). Both ways give the same processes.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class NamespaceProcessesTests
{
    /// <summary>Processes in the namespace that hold no socket (killed on dispose).</summary>
    private sealed class Sleepers : IDisposable
    {
        public readonly List<Process> All;

        public Sleepers(TestNetns ns, int count)
        {
            All = Enumerable.Range(0, count).Select(_ => Process.Start("ip", ["netns", "exec", ns.Name, "sleep", "300"])).ToList();
            // `ip netns exec` enters the namespace, then execs sleep in the same pid: wait until each is sleep.
            var until = DateTime.UtcNow.AddSeconds(30);
            while (!All.All(p => File.ReadAllText($"/proc/{p.Id}/comm").Trim() == "sleep"))
            {
                Assert.True(DateTime.UtcNow < until, "the sleepers did not start");
                Thread.Sleep(20);
            }
        }

        public void Dispose()
        {
            foreach (var p in All)
            {
                try { p.Kill(); p.WaitForExit(5000); } catch (InvalidOperationException) { }
                p.Dispose();
            }
        }
    }

    private static HostDiagnosisOptions Options(TestNetns ns, TimeSpan? watch = null) => new()
    {
        Host = new HostOptions { Collect = new CollectOptions { Netns = ns.Name }, Since = DateTime.Now.AddHours(-1), Watch = watch },
        AppLogs = false,
    };

    [Fact]
    public void TheFdScanRecordsEveryPidsNamespaceAsTheNsLinkReadsIt()
    {
        using var ns = new TestNetns("cnp");
        using var sleepers = new Sleepers(ns, 3);
        ulong inode = NetnsScope.InodeOf($"/run/netns/{ns.Name}");
        // No socket wanted: the fds are not read (nothing is counted as scanned), the namespaces are.
        var scan = ProcessFdScanner.Scan("/proc", [], recordNetns: true);
        Assert.Equal((0, 0), (scan.Processes, scan.DeniedProcesses));
        var recorded = scan.ProcessNetns!.ToDictionary(x => x.Pid, x => x.NetnsInode);
        foreach (var p in sleepers.All) Assert.Equal(inode, recorded[p.Id]);
        Assert.Equal(NetnsScope.InodeFromLink("/proc", Environment.ProcessId), recorded[Environment.ProcessId]);
        Assert.NotEqual(inode, recorded[Environment.ProcessId]);
        // Not asked: nothing recorded, and no socket wanted means no scan at all.
        Assert.Null(ProcessFdScanner.Scan("/proc", []).ProcessNetns);
    }

    [Fact]
    public void CollectCarriesTheNamespacesProcessesThatHoldNoSocketFromTheScanOrFromAListingAlike()
    {
        using var ns = new TestNetns("cnp");
        ns.StartScenario("server", "--listen", "127.0.0.1:9001:close");
        using var sleepers = new Sleepers(ns, 3);
        ulong inode = NetnsScope.InodeOf($"/run/netns/{ns.Name}");

        var fromScan = HostCollection.Collect(Options(ns), redact: true);
        Assert.NotNull(fromScan.ProcessNetns);
        foreach (var p in sleepers.All)
            Assert.Equal((p.Id, "sleep", inode), (fromScan.Processes[p.Id].Pid, fromScan.Processes[p.Id].Name, fromScan.Processes[p.Id].NetnsInode));
        Assert.DoesNotContain(Environment.ProcessId, fromScan.Processes.Keys);     // another namespace's process

        // A watch's table comes without the scan's record: the namespaces' processes are found by listing /proc again.
        var fromListing = HostCollection.Collect(Options(ns, TimeSpan.FromSeconds(1)), redact: true);
        Assert.Null(fromListing.ProcessNetns);
        Assert.Equal(fromScan.Processes.Keys.Order(), fromListing.Processes.Keys.Order());
        Assert.Equal(fromScan.Processes.Values.Where(p => p.NetnsInode == inode).Select(p => p.Pid).Order(),
                     fromListing.Processes.Values.Where(p => p.NetnsInode == inode).Select(p => p.Pid).Order());
    }
}
