using ConnDoctor.Model;

namespace ConnDoctor.Analysis;

/// <summary>
/// The sockets of a table that the processes asked for hold (through any of their descriptors, a second holder after
/// fork() included), in table order, built in one pass: a filter that names an owner is checked against that owner's
/// sockets, not against every socket of the table (the kill commands of the half-open groups, 7 groups of a 125k-socket
/// table every interval in the agent). Only the owners asked are kept.
/// </summary>
public sealed class SocketsByOwner
{
    private readonly Dictionary<int, List<SocketRecord>> _byPid = new();

    public SocketsByOwner(IReadOnlyList<SocketRecord> table, IEnumerable<int> pids)
    {
        foreach (int pid in pids) _byPid.TryAdd(pid, new List<SocketRecord>());
        if (_byPid.Count == 0) return;
        for (int i = 0; i < table.Count; i++)
        {
            var s = table[i];
            var owners = s.Owners;
            for (int k = 0; k < owners.Length; k++)
            {
                if (!_byPid.TryGetValue(owners[k].Pid, out var list) || HeldBefore(owners, k)) continue;
                list.Add(s);
            }
        }
    }

    /// <summary>
    /// Whether the process of the k-th holder is also an earlier one (a socket shared by two descriptors of one process is
    /// that process's once). A loop, not a predicate: a closure over the array would be made for every socket of the table.
    /// </summary>
    private static bool HeldBefore(SocketOwner[] owners, int k)
    {
        for (int j = 0; j < k; j++) if (owners[j].Pid == owners[k].Pid) return true;
        return false;
    }

    /// <summary>The sockets the process holds, in table order; empty when none, or when it was not asked for.</summary>
    public IReadOnlyList<SocketRecord> Of(int pid) => _byPid.TryGetValue(pid, out var list) ? list : [];
}
