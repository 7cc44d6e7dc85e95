using System.Diagnostics;
using System.Text.Json;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.Zk;

/// <summary>
/// A helpers/zkclient.py process (kazoo, a real third-party client) running in the background: its JSON lines
/// collected as they come, ended by closing its stdin (it then closes its sessions) or killed on Dispose.
/// </summary>
public sealed class ZkClients : IDisposable
{
    private readonly Process _p;
    private readonly List<string> _lines = new();
    private readonly System.Text.StringBuilder _stderr = new();

    public ZkClients(ZooKeeperServer zk, params string[] args)
    {
        _p = zk.StartClient(args);
        _p.OutputDataReceived += (_, e) => { if (e.Data != null) lock (_lines) _lines.Add(e.Data); };
        _p.ErrorDataReceived += (_, e) => { if (e.Data != null) lock (_stderr) _stderr.AppendLine(e.Data); };
        _p.BeginOutputReadLine();
        _p.BeginErrorReadLine();
    }

    public List<string> Lines { get { lock (_lines) return _lines.ToList(); } }

    /// <summary>The tasks a leak run reported: (task, unix time, session id).</summary>
    public List<(int Task, double Time, long Session)> Tasks =>
        Lines.Where(l => l.StartsWith('{')).Select(l =>
        {
            using var d = JsonDocument.Parse(l);
            return (d.RootElement.GetProperty("task").GetInt32(), d.RootElement.GetProperty("t").GetDouble(), d.RootElement.GetProperty("session").GetInt64());
        }).ToList();

    /// <summary>Waits (bounded) until a line satisfies the condition.</summary>
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

    /// <summary>Closing stdin makes the helper close its sessions and exit (bounded).</summary>
    public void Dispose()
    {
        try { _p.StandardInput.Close(); } catch (IOException) { }
        if (!_p.WaitForExit(15_000)) { try { _p.Kill(true); } catch (InvalidOperationException) { } }
    }
}
