using System.Diagnostics;

namespace ConnDoctor.Tests.Infra;

/// <summary>
/// A network namespace made by the test (ip netns add + lo up) and the scenario processes started in it.
/// Disposing kills the processes and deletes the namespace. Traffic stays inside it.
/// </summary>
public sealed class TestNetns : IDisposable
{
    private static int _counter;
    private readonly List<Process> _processes = new();
    public string Name { get; }

    public TestNetns(string tag)
    {
        Assert.True(Shell.IsRoot, "kernel tests create network namespaces and need root (CI runs as root)");
        Name = $"cdt-{tag}-{Environment.ProcessId}-{Interlocked.Increment(ref _counter)}";
        Shell.Run("ip", "netns", "add", Name);
        Shell.Run("ip", "-n", Name, "link", "set", "lo", "up");
        // The default (2) lets loopback connects reuse TIME_WAIT ports, so counts would depend on timing.
        Shell.Run("ip", "netns", "exec", Name, "sysctl", "-qw", "net.ipv4.tcp_tw_reuse=0");
    }

    public string Exec(params string[] args) => Shell.Run("ip", ["netns", "exec", Name, .. args]);

    private static int _links;

    /// <summary>
    /// Joins two test namespaces with a veth pair: a gets addressA/24, b gets addressB/24, both up. Returns the
    /// interface names (a's, b's); they vanish with the namespaces.
    /// </summary>
    public static (string A, string B) Link(TestNetns a, TestNetns b, string addressA, string addressB)
    {
        int n = Interlocked.Increment(ref _links);
        string ia = $"va{Environment.ProcessId % 100000}x{n}", ib = $"vb{Environment.ProcessId % 100000}x{n}";
        Shell.Run("ip", "link", "add", ia, "netns", a.Name, "type", "veth", "peer", "name", ib, "netns", b.Name);
        Shell.Run("ip", "-n", a.Name, "addr", "add", addressA + "/24", "dev", ia);
        Shell.Run("ip", "-n", b.Name, "addr", "add", addressB + "/24", "dev", ib);
        Shell.Run("ip", "-n", a.Name, "link", "set", ia, "up");
        Shell.Run("ip", "-n", b.Name, "link", "set", ib, "up");
        return (ia, ib);
    }

    /// <summary>Starts scenario.py in the namespace and waits for its "ready PID" line. Returns the process (its pid is python's).</summary>
    public Process StartScenario(params string[] args) => StartHelper("scenario.py", args);

    /// <summary>Starts a helper script (helpers/NAME: scenario.py, tunnel.py) in the namespace and waits for its "ready PID" line.</summary>
    public Process StartHelper(string name, params string[] args)
    {
        var script = Path.Combine(AppContext.BaseDirectory, "helpers", name);
        var psi = new ProcessStartInfo("ip") { RedirectStandardOutput = true, RedirectStandardInput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in (string[])["netns", "exec", Name, Shell.Python, script, .. args, "--lifetime", "240"]) psi.ArgumentList.Add(a);
        var p = Process.Start(psi)!;
        _processes.Add(p);
        var line = p.StandardOutput.ReadLineAsync();
        if (!line.Wait(TimeSpan.FromSeconds(60)) || line.Result is not { } l || !l.StartsWith("ready "))
            throw new InvalidOperationException($"scenario {string.Join(' ', args)} did not get ready: {p.StandardError.ReadToEnd()}");
        Assert.Equal(p.Id, int.Parse(l[6..])); // ip netns exec execs the command: same pid
        return p;
    }

    public void Dispose()
    {
        foreach (var p in _processes)
        {
            try { if (!p.HasExited) { p.Kill(true); p.WaitForExit(5000); } } catch (InvalidOperationException) { }
            p.Dispose();
        }
        Shell.RunFull("ip", ["netns", "del", Name], check: false);
    }
}
