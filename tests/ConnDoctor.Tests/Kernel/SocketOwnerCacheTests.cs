using System.Diagnostics;
using ConnDoctor.Model;
using ConnDoctor.Sources;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.Kernel;

/// <summary>
/// The owner cache (the agent's table reads walk /proc/*/fd only for processes whose files changed) against the
/// uncached walk on the same namespace, read back to back: a real process holds loopback connections, then swaps one
/// connection for another keeping its count of open files (named at once if that cost it CPU time, else one read
/// late), then opens one more.
/// </summary>
public class SocketOwnerCacheTests
{
    private const string Holder = """
        import socket, sys
        ls = socket.socket(); ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); ls.bind(("127.0.0.1", 7300)); ls.listen(64)
        pairs = []
        def pair():
            c = socket.create_connection(("127.0.0.1", 7300)); a, _ = ls.accept(); pairs.append((c, a))
        for _ in range(3): pair()
        print("ready", flush=True)
        for line in sys.stdin:
            if line.strip() == "swap":
                c, a = pairs.pop(0); c.close(); a.close(); pair()
            elif line.strip() == "open":
                pair()
            print("done", flush=True)
        """;

    private static Dictionary<(NetEndpoint, NetEndpoint), string> Owners(Evidence e) =>
        e.Sockets.Where(s => s.State != TcpState.TimeWait && s.Inode != 0)
            .ToDictionary(s => (s.Local, s.Remote), s => string.Join(",", s.Owners.Select(o => $"{o.Pid}/{o.Fd}")));

    /// <summary>The cached read and an uncached one of the same table at rest name the same owners for every socket.</summary>
    private static Evidence AssertSameAsUncached(TestNetns ns, SocketOwnerCache cache)
    {
        var o = new CollectOptions { Netns = ns.Name };
        var cached = SocketCollector.Collect(o with { OwnerCache = cache });
        var plain = SocketCollector.Collect(o);
        Assert.Equal(Owners(plain).OrderBy(kv => kv.Key.ToString()), Owners(cached).OrderBy(kv => kv.Key.ToString()));
        return cached;
    }

    [Fact]
    public void CachedOwnersEqualAFullWalkThroughSwapsAndNewSockets()
    {
        using var ns = new TestNetns("ownercache");
        var psi = new ProcessStartInfo("ip") { RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in (string[])["netns", "exec", ns.Name, Shell.Python, "-c", Holder]) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        try
        {
            string? Say(string? line)
            {
                if (line != null) p.StandardInput.WriteLine(line);
                var read = p.StandardOutput.ReadLineAsync();
                return read.Wait(TimeSpan.FromSeconds(30)) ? read.Result : throw new TimeoutException($"holder: {p.StandardError.ReadToEnd()}");
            }
            Assert.Equal("ready", Say(null));
            var cache = new SocketOwnerCache();

            var first = AssertSameAsUncached(ns, cache);
            Assert.True(cache.FullWalk);
            Assert.Equal(7, first.Sockets.Count(s => s.Owners.Any(o => o.Pid == p.Id))); // the listener and 3 connections, both ends

            // Nothing changed: the holder's sockets come from the cache, no process is walked for them.
            AssertSameAsUncached(ns, cache);
            Assert.False(cache.FullWalk);
            Assert.True(cache.Reused > 0);

            // One connection closed and another opened: the same count of files. The first read walks the holder if the
            // swap cost it a clock tick of CPU, else leaves the two new sockets without owner (never with a wrong one) ...
            Assert.Equal("done", Say("swap"));
            var late = SocketCollector.Collect(new CollectOptions { Netns = ns.Name, OwnerCache = cache });
            var truth = Owners(SocketCollector.Collect(new CollectOptions { Netns = ns.Name }));
            var unnamed = Owners(late).Where(kv => kv.Value != truth[kv.Key]).ToList();
            Assert.True(unnamed.Count is 0 or 2, string.Join("; ", unnamed));
            Assert.All(unnamed, kv => Assert.Equal("", kv.Value));
            // ... the next read names them in any case: the uncached answer again.
            var swapped = AssertSameAsUncached(ns, cache);
            Assert.Equal(7, swapped.Sockets.Count(s => s.State != TcpState.TimeWait && s.Owners.Any(o => o.Pid == p.Id)));
            AssertSameAsUncached(ns, cache);
            Assert.False(cache.FullWalk);

            // One more connection: the count changed, the holder alone is walked again.
            Assert.Equal("done", Say("open"));
            var opened = AssertSameAsUncached(ns, cache);
            Assert.False(cache.FullWalk);
            Assert.Equal(9, opened.Sockets.Count(s => s.State != TcpState.TimeWait && s.Owners.Any(o => o.Pid == p.Id)));
        }
        finally
        {
            if (!p.HasExited) { p.Kill(true); p.WaitForExit(5000); }
        }
    }
}
