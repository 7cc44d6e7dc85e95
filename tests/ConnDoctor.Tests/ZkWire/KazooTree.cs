using System.Diagnostics;
using System.Text.Json;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.ZkWire;

/// <summary>
/// A real third-party client (kazoo, helpers/zkclient.py tree) holding one session with ephemeral and persistent
/// nodes under a path and under path/sub, until disposed (which closes its session) or at most a minute.
/// </summary>
public sealed class KazooTree : IDisposable
{
    private readonly Process _python;
    private bool _disposed;
    public long SessionId { get; }
    public IReadOnlyList<string> Nodes { get; }

    public KazooTree(ZooKeeperServer zk, string path, int ephemerals, int persistents, string data)
        : this(zk.Address, path, ephemerals, persistents, data) { }

    public KazooTree(string address, string path, int ephemerals, int persistents, string data)
    {
        var psi = new ProcessStartInfo(Shell.Python)
        {
            UseShellExecute = false, RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true,
        };
        foreach (var a in (string[])[Script, "tree", "--server", address, "--path", path, "--count", ephemerals.ToString(),
                     "--persistent", persistents.ToString(), "--data", data, "--hold", "60"])
            psi.ArgumentList.Add(a);
        _python = Process.Start(psi)!;
        var stderr = _python.StandardError.ReadToEndAsync();
        var line = _python.StandardOutput.ReadLineAsync();
        if (!line.Wait(60_000) || line.Result == null)
        {
            Kill();
            throw new InvalidOperationException($"kazoo tree did not start: {(stderr.Wait(2000) ? stderr.Result : "")}");
        }
        using var doc = JsonDocument.Parse(line.Result);
        SessionId = doc.RootElement.GetProperty("session").GetInt64();
        Nodes = doc.RootElement.GetProperty("nodes").EnumerateArray().Select(n => n.GetString()!).ToList();
    }

    public static string Script => Path.Combine(AppContext.BaseDirectory, "helpers", "zkclient.py");

    /// <summary>kazoo's view of a node's children: name -> (ephemeralOwner, data as hex).</summary>
    public static Dictionary<string, (long Owner, string DataHex)> List(ZooKeeperServer zk, string path)
    {
        var output = Shell.RunFull(Shell.Python, [Script, "list", "--server", zk.Address, "--path", path], timeoutMs: 60_000).Stdout;
        using var doc = JsonDocument.Parse(output);
        return doc.RootElement.GetProperty("children").EnumerateArray().ToDictionary(
            c => c.GetProperty("name").GetString()!,
            c => (c.GetProperty("ephemeralOwner").GetInt64(), c.GetProperty("data").GetString()!));
    }

    /// <summary>Closes stdin: kazoo closes its session and exits (bounded).</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        try { _python.StandardInput.Close(); } catch (IOException) { }
        if (!_python.WaitForExit(30_000)) Kill();
        _python.Dispose();
    }

    private void Kill()
    {
        try { _python.Kill(true); } catch (InvalidOperationException) { }
    }
}
