using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.ZkWire;

/// <summary>
/// A real third-party client (kazoo, helpers/zkclient.py tree) holding one session with ephemeral and persistent
/// nodes under a path and under path/sub, until disposed (which closes its session) or at most a minute.
/// </summary>
public sealed class KazooTree : IDisposable
{
    private readonly ZkClients _kazoo;
    public long SessionId { get; }
    public IReadOnlyList<string> Nodes { get; }

    public KazooTree(ZooKeeperServer zk, string path, int ephemerals, int persistents, string data)
        : this(zk.Address, path, ephemerals, persistents, data) { }

    public KazooTree(string address, string path, int ephemerals, int persistents, string data)
    {
        _kazoo = new ZkClients(address, "tree", "--path", path, "--count", ephemerals.ToString(),
            "--persistent", persistents.ToString(), "--data", data, "--hold", "60");
        try { _kazoo.WaitFor(l => l.Any(x => x.StartsWith('{'))); }
        catch { _kazoo.Dispose(); throw; }
        var tree = _kazoo.JsonLines[0];
        SessionId = tree.GetProperty("session").GetInt64();
        Nodes = tree.GetProperty("nodes").EnumerateArray().Select(n => n.GetString()!).ToList();
    }

    /// <summary>kazoo's view of a node's children: name -> (ephemeralOwner, data as hex).</summary>
    public static Dictionary<string, (long Owner, string DataHex)> List(ZooKeeperServer zk, string path)
    {
        var output = Shell.RunFull(Shell.Python, [ZooKeeperServer.Script, "list", "--server", zk.Address, "--path", path], timeoutMs: 60_000).Stdout;
        using var doc = System.Text.Json.JsonDocument.Parse(output);
        return doc.RootElement.GetProperty("children").EnumerateArray().ToDictionary(
            c => c.GetProperty("name").GetString()!,
            c => (c.GetProperty("ephemeralOwner").GetInt64(), c.GetProperty("data").GetString()!));
    }

    /// <summary>Closes stdin: kazoo closes its session and exits (bounded).</summary>
    public void Dispose() => _kazoo.Dispose();
}
