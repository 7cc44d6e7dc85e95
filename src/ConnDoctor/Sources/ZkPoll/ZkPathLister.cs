using System.Diagnostics;
using ConnDoctor.Model;
using ConnDoctor.Sources.ZkWire;

namespace ConnDoctor.Sources.ZkPoll;

/// <summary>
/// --path: lists the ephemeral nodes under a path with conndoctor's own ZooKeeper client (a short session of its
/// own, closed at the end), and joins each owner session to the client connection a member listed for it. Works
/// on followers too, where `dump` shows no ephemerals.
/// </summary>
public static class ZkPathLister
{
    public static (List<ZkPathNode> Nodes, SourceStatus Status) List(ZkOptions o, IReadOnlyList<ZkServerInfo> servers)
    {
        var sw = Stopwatch.StartNew();
        var path = o.Path!;
        var owners = new Dictionary<long, (NetEndpoint Client, string Member)>();
        foreach (var s in servers)
            foreach (var c in s.Connections ?? [])
                if (c.HasSession) owners.TryAdd(c.SessionId, (c.Client, s.Member));
        // Members that answered the poll first: no timeout spent on one known to be down.
        var order = o.Members.OrderBy(m => servers.FirstOrDefault(s => s.Member == m.Text)?.Reachable == true ? 0 : 1).ToList();
        var failures = new List<string>();
        foreach (var m in order)
        {
            ZkClient client;
            try { client = ZkClient.Connect(m.Host, m.Port, o.Timeout); }
            catch (SourceException ex) { failures.Add(ex.Message); continue; }
            using (client)
            {
                try
                {
                    var nodes = ZkEphemeralLister.List(client, path, o.PathDepth)
                        .Where(n => n.Stat.IsEphemeral)
                        .Select(n => new ZkPathNode
                        {
                            Path = n.Path,
                            Owner = n.Stat.EphemeralOwner,
                            CreatedUnixMs = n.Stat.Ctime,
                            Client = owners.TryGetValue(n.Stat.EphemeralOwner, out var o1) ? o1.Client : null,
                            Member = owners.TryGetValue(n.Stat.EphemeralOwner, out var o2) ? o2.Member : null,
                        })
                        // Oldest first: in a leak, the nodes in the order they piled up.
                        .OrderBy(n => n.CreatedUnixMs).ThenBy(n => n.Path, StringComparer.Ordinal).ToList();
                    try { client.Close(); } catch (SourceException) { } // the server expires our session anyway
                    int joined = nodes.Count(n => n.Client != null);
                    return (nodes, new SourceStatus("zk:path", SourceState.Ok,
                        $"{nodes.Count} ephemeral node(s) under {path} read through {m.Text}, {joined} joined to a client connection", nodes.Count, sw.Elapsed));
                }
                catch (ZkException ex) when (ex.Code == ZkErrorCode.NoNode)
                {
                    return ([], new SourceStatus("zk:path", SourceState.Failed, $"{path} does not exist (asked {m.Text})", 0, sw.Elapsed));
                }
                catch (ZkException ex) when (ex.Code == ZkErrorCode.NoAuth)
                {
                    return ([], new SourceStatus("zk:path", SourceState.Denied, $"{path}: not allowed to read (ACL): {ex.Message}", 0, sw.Elapsed));
                }
                catch (SourceException ex) { failures.Add(ex.Message); }
            }
        }
        return ([], new SourceStatus("zk:path", SourceState.Failed, "no member could list " + path + ": " + string.Join("; ", failures), 0, sw.Elapsed));
    }
}
