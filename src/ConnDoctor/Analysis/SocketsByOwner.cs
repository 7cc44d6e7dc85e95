using System.Runtime.CompilerServices;
using ConnDoctor.Model;

namespace ConnDoctor.Analysis;

/// <summary>
/// The sockets of a table each process holds (through any of its descriptors), built in one pass the first time a table
/// is asked and kept with that table: a filter that names an owner is checked against that owner's sockets, not against
/// every socket of the table (a kill command per half-open group, 7 groups of a 125k-socket table every interval in the
/// agent).
/// </summary>
public sealed class SocketsByOwner
{
    private static readonly ConditionalWeakTable<IReadOnlyList<SocketRecord>, SocketsByOwner> Built = new();
    private readonly Dictionary<int, List<SocketRecord>> _byPid = new();

    private SocketsByOwner(IReadOnlyList<SocketRecord> sockets)
    {
        for (int i = 0; i < sockets.Count; i++)
        {
            var s = sockets[i];
            var owners = s.Owners;
            for (int k = 0; k < owners.Length; k++)
            {
                // A socket shared by two descriptors of one process is that process's once.
                if (k > 0 && Array.FindIndex(owners, 0, k, o => o.Pid == owners[k].Pid) >= 0) continue;
                if (!_byPid.TryGetValue(owners[k].Pid, out var list)) _byPid[owners[k].Pid] = list = new List<SocketRecord>();
                list.Add(s);
            }
        }
    }

    /// <summary>The index of this table (the same list object: a table copied into another list is another table).</summary>
    public static SocketsByOwner Of(IReadOnlyList<SocketRecord> table) => Built.GetValue(table, t => new SocketsByOwner(t));

    /// <summary>The sockets the process holds, in table order; empty when none.</summary>
    public IReadOnlyList<SocketRecord> Of(int pid) => _byPid.TryGetValue(pid, out var list) ? list : [];
}
