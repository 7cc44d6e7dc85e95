using System.Diagnostics;
using System.Text.Json;

namespace ConnDoctor.Tests.Infra;

/// <summary>
/// A helpers/zkclient.py process (kazoo, a real third-party client) running in the background: its JSON lines
/// collected as they come, ended by closing its stdin (it then closes its sessions) or killed after a bound.
/// </summary>
public sealed class ZkClients : IDisposable
{
    private readonly Process _p;
    private readonly List<string> _lines = new();
    private readonly System.Text.StringBuilder _stderr = new();
    private bool _disposed;

    public ZkClients(ZooKeeperServer zk, params string[] args) : this(zk.Address, args) { }

    /// <param name="server">HOST:PORT of any ZooKeeper server (a member of an ensemble).</param>
    public ZkClients(string server, params string[] args) : this(null, server, args) { }

    /// <param name="netns">The test namespace to run in (null: this one).</param>
    public ZkClients(TestNetns? netns, string server, params string[] args)
    {
        var psi = new ProcessStartInfo(netns == null ? Shell.Python : "ip") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        string[] command = [ZooKeeperServer.Script, .. args, "--server", server];
        foreach (var a in netns == null ? command : ["netns", "exec", netns.Name, Shell.Python, .. command]) psi.ArgumentList.Add(a);
        _p = Process.Start(psi)!;
        _p.OutputDataReceived += (_, e) => { if (e.Data != null) lock (_lines) _lines.Add(e.Data); };
        _p.ErrorDataReceived += (_, e) => { if (e.Data != null) lock (_stderr) _stderr.AppendLine(e.Data); };
        _p.BeginOutputReadLine();
        _p.BeginErrorReadLine();
    }

    public List<string> Lines { get { lock (_lines) return _lines.ToList(); } }

    /// <summary>The helper's pid (python's; ip netns exec execs it).</summary>
    public int Pid => _p.Id;

    /// <summary>Stops the helper as a hung process would stop (SIGSTOP): its sockets stay open, its sessions stop pinging.</summary>
    public void Freeze() => Shell.Run("kill", "-STOP", _p.Id.ToString());

    public void Kill()
    {
        try { _p.Kill(true); _p.WaitForExit(5000); } catch (InvalidOperationException) { }
    }

    /// <summary>The lines that are JSON objects, parsed.</summary>
    public List<JsonElement> JsonLines => Lines.Where(l => l.StartsWith('{')).Select(l =>
    {
        using var d = JsonDocument.Parse(l);
        return d.RootElement.Clone();
    }).ToList();

    /// <summary>The tasks a leak run reported: (task, unix time, session id).</summary>
    public List<(int Task, double Time, long Session)> Tasks =>
        JsonLines.Select(d => (d.GetProperty("task").GetInt32(), d.GetProperty("t").GetDouble(), d.GetProperty("session").GetInt64())).ToList();

    /// <summary>Waits (bounded) until the lines so far satisfy the condition.</summary>
    public void WaitFor(Func<List<string>, bool> done, int seconds = 60)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!done(Lines))
        {
            if (_p.HasExited) { Thread.Sleep(100); if (done(Lines)) return; throw new InvalidOperationException($"zkclient.py exited {_p.ExitCode}: {_stderr}"); }
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"zkclient.py did not get there in {seconds}s: {_stderr}");
            Thread.Sleep(50);
        }
    }

    public void WaitDone(int seconds = 60) => WaitFor(l => l.Contains("done"), seconds);

    /// <summary>Closing stdin makes the helper close its sessions and exit (bounded, then killed).</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        try { _p.StandardInput.Close(); } catch (IOException) { }
        if (!_p.WaitForExit(15_000)) { try { _p.Kill(true); } catch (InvalidOperationException) { } }
        _p.Dispose();
    }
}
