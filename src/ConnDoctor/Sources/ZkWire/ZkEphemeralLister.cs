namespace ConnDoctor.Sources.ZkWire;

/// <summary>
/// Lists the znodes under a path with their Stat, so that ephemeral nodes and their owning sessions can be
/// counted per session. It reads the tree through an ordinary session, so it needs no four-letter word (dump
/// is often not whitelisted) and works on any member, followers, observers and read-only members included;
/// on 3.8 its (owner, path) pairs are exactly dump's "Sessions with Ephemerals" for that subtree.
/// </summary>
public static class ZkEphemeralLister
{
    /// <summary>
    /// Every node up to <paramref name="depth"/> levels below <paramref name="path"/> (not the path itself),
    /// sorted by path. A node that disappears between the listing and its Stat (an ephemeral whose session just
    /// ended) is left out; a missing <paramref name="path"/> is a ZkException with NoNode.
    /// </summary>
    public static IReadOnlyList<ZkNodeInfo> List(ZkClient client, string path, int depth = 1)
    {
        ArgumentNullException.ThrowIfNull(client);
        ArgumentOutOfRangeException.ThrowIfLessThan(depth, 1);
        var found = new List<ZkNodeInfo>();
        var level = new List<string> { path };
        var childrenOf = new Dictionary<string, IReadOnlyList<string>> { [path] = client.GetChildren(path) };
        for (int d = 1; d <= depth && level.Count > 0; d++)
        {
            var next = new List<string>();
            foreach (var parent in level)
            {
                foreach (var child in childrenOf[parent].OrderBy(c => c, StringComparer.Ordinal))
                {
                    string childPath = Join(parent, child);
                    if (!TryStat(client, childPath, descend: d < depth, out var stat, out var grandchildren)) continue;
                    found.Add(new ZkNodeInfo(childPath, stat));
                    if (grandchildren is { Count: > 0 })
                    {
                        childrenOf[childPath] = grandchildren;
                        next.Add(childPath);
                    }
                }
                childrenOf.Remove(parent);
            }
            level = next;
        }
        found.Sort((a, b) => string.CompareOrdinal(a.Path, b.Path));
        return found;
    }

    // One request per node: exists for the last level, getChildren2 (children and Stat together) above it.
    private static bool TryStat(ZkClient client, string path, bool descend, out ZkStat stat, out IReadOnlyList<string>? children)
    {
        children = null;
        if (!descend)
        {
            var s = client.Exists(path);
            stat = s.GetValueOrDefault();
            return s.HasValue;
        }
        try
        {
            (children, stat) = client.GetChildren2(path);
            return true;
        }
        catch (ZkException ex) when (ex.Code == ZkErrorCode.NoNode)
        {
            stat = default;
            return false;
        }
    }

    private static string Join(string parent, string child) => parent == "/" ? "/" + child : parent + "/" + child;
}
