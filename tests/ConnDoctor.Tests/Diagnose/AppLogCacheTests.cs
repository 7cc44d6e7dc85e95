using System.Diagnostics;
using ConnDoctor.Sources;
using ConnDoctor.Sources.AppLog;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.Diagnose;

/// <summary>
/// The agent's cache of blamed processes' logs (it diagnoses every 15 s, and a finding about idle connections blames the
/// same holders every time): within its age a process is not looked for nor read again, past it the new lines are read.
/// A real process whose stdout is a file, as in <see cref="DiagnoseAppLogTests"/>.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class AppLogCacheTests
{
    [Fact]
    public void AProcessReadWithinTheCachesAgeIsNotReadAgainAndIsReadOncePastIt()
    {
        using var ns = new TestNetns("alc");
        ns.StartScenario("server", "--listen", "127.0.0.1:9001:close");
        string log = Path.Combine(Path.GetTempPath(), $"alc-{Guid.NewGuid():N}.log");
        DiagnoseAppLogTests.Preface(log);
        var (p, pid) = DiagnoseAppLogTests.StartWithLogFile(ns, log, null, "leaky", "--connect", "127.0.0.1:9001", "--count", "2");
        try
        {
            var process = ProcessReader.Read("/proc", pid)!;
            var since = DateTime.Now.AddMinutes(-5);
            var cache = new AppLogCache(TimeSpan.FromMinutes(1));
            var (first, firstStatus) = AppLogSource.Read("/proc", [process], since, cache);
            var excerpt = Assert.Single(first.Processes);
            Assert.Contains(excerpt.Patterns, x => x.Line.Contains("Too many open files") && x.Count == 2);
            Assert.DoesNotContain("as read within", firstStatus.Reason ?? "");

            // The process logs the error again: within the minute the cache gives what it read, and says so.
            File.AppendAllLines(log, [$"{DateTime.Now:yyyy-MM-dd HH:mm:ss,fff} ERROR [pool-1-thread-5] c.e.orders.Poller - poll failed", "java.net.SocketException: Too many open files"]);
            var (second, secondStatus) = AppLogSource.Read("/proc", [process], since, cache);
            Assert.Same(excerpt, Assert.Single(second.Processes));
            Assert.Contains("1 process(es) as read within the last 1m", secondStatus.Reason);
            Assert.Equal(1, cache.Hits);

            // Past its age (a cache of none), the process is read again: the third error is there.
            var (third, _) = AppLogSource.Read("/proc", [process], since, new AppLogCache(TimeSpan.Zero));
            Assert.Contains(Assert.Single(third.Processes).Patterns, x => x.Line.Contains("Too many open files") && x.Count == 3);
        }
        finally
        {
            p.Kill(true);
            File.Delete(log);
        }
    }
    [Fact]
    public void AnIdleProcessesLogsAreReadAgainWithoutLookingForThemAndAProcessThatOpensAFileIsLookedAtAgain()
    {
        string dir = Path.Combine(Path.GetTempPath(), $"alc-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        string stdout = Path.Combine(dir, "out.log"), second = Path.Combine(dir, "audit.log");
        DiagnoseAppLogTests.Preface(stdout);
        // A process blocked on its stdin (no CPU, no file opened or closed) until told to open a second log.
        const string script = "import sys\nsys.stderr.write('ready\\n'); sys.stderr.flush()\nsys.stdin.readline()\n" +
                              "f = open(sys.argv[1], 'a'); sys.stderr.write('opened\\n'); sys.stderr.flush()\nsys.stdin.readline()\n";
        var psi = new ProcessStartInfo("sh", ["-c", $"exec {Shell.Python} -c \"$0\" \"$1\" >> {stdout}", script, second])
        { UseShellExecute = false, RedirectStandardInput = true, RedirectStandardError = true };
        var p = Process.Start(psi)!;
        try
        {
            Assert.Equal("ready", p.StandardError.ReadLine());
            var process = ProcessReader.Read("/proc", p.Id)!;
            var since = DateTime.Now.AddMinutes(-5);
            var cache = new AppLogCache(TimeSpan.Zero); // every excerpt is read again
            var (first, _) = AppLogSource.Read("/proc", [process], since, cache);
            Assert.Contains(Assert.Single(first.Processes).Files, f => f.Path == stdout);
            Assert.Equal(0, cache.LocatedHits);

            // Idle since: its files are not looked for again, but what it wrote since is read.
            File.AppendAllLines(stdout, [$"{DateTime.Now:yyyy-MM-dd HH:mm:ss,fff} ERROR [pool-1-thread-5] c.e.orders.Poller - poll failed", "java.net.SocketException: Too many open files"]);
            var (again, _) = AppLogSource.Read("/proc", [process], since, cache);
            Assert.Equal(1, cache.LocatedHits);
            Assert.Contains(Assert.Single(again.Processes).Patterns, x => x.Line.Contains("Too many open files") && x.Count == 3);

            // It opens a second log: one more open file, so it is looked at again and the new file is found.
            p.StandardInput.WriteLine("open");
            p.StandardInput.Flush();
            Assert.Equal("opened", p.StandardError.ReadLine());
            File.AppendAllLines(second, [$"{DateTime.Now:yyyy-MM-dd HH:mm:ss,fff} WARN [main] c.e.audit - audit trail rotated"]);
            var (third, _) = AppLogSource.Read("/proc", [process], since, cache);
            Assert.Equal(1, cache.LocatedHits);
            Assert.Contains(Assert.Single(third.Processes).Files, f => f.Path == second);
        }
        finally
        {
            p.Kill(true);
            p.WaitForExit();
            Directory.Delete(dir, true);
        }
    }
}
