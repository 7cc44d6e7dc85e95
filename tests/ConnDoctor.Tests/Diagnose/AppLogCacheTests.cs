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
}
