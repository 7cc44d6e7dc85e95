using ConnDoctor.Model;

namespace ConnDoctor.Analysis;

public enum GroupBy { Process, Remote, State, None }

/// <summary>One row of a grouped socket view: who, towards what, and how many sockets in each state.</summary>
public sealed record SocketGroup
{
    public required string Process { get; init; }          // "java[1234]" or "(no owner)"
    public int? Pid { get; init; }
    public required string Local { get; init; }            // server side: "*:2181"; client side: "*"
    public required string Remote { get; init; }           // client side: "10.0.0.5:2181"; server side: "10.0.0.7:*"
    public string? Service { get; init; }                  // well-known name of the service port
    public string? Netns { get; init; }
    public required IReadOnlyDictionary<TcpState, int> Counts { get; init; }
    public int Total { get; init; }
    public int Processes { get; init; }                    // distinct owners in the row (remote/state views)
}

/// <summary>Groups a socket table the way an operator reads it: process x remote endpoint, ranked by count.</summary>
public static class SocketGrouper
{
    public const string NoOwner = "(no owner)";

    public static List<SocketGroup> Group(Evidence e, IEnumerable<SocketRecord> sockets, GroupBy by)
    {
        var roles = new SocketRoles(e);
        bool multiNs = e.Namespaces.Count > 1;
        var acc = new Dictionary<(string Proc, int Pid, string Local, string Remote, int Port, int Ns), Acc>();
        foreach (var s in sockets)
        {
            var owner = e.OwnerOf(s);
            string proc = owner?.Label ?? (s.OwnerPid is int first ? $"pid {first}" : NoOwner);
            int pid = s.OwnerPid ?? 0;
            string local, remote;
            int servicePort;
            if (s.State == TcpState.Listen)
            {
                local = s.Local.ToString(); remote = "*"; servicePort = s.Local.Port;
            }
            else if (roles.IsServerSide(s))
            {
                local = "*:" + s.Local.Port; remote = FormatHost(s.Remote.Address) + ":*"; servicePort = s.Local.Port;
            }
            else
            {
                local = "*"; remote = FormatEndpoint(s.Remote); servicePort = s.Remote.Port;
            }
            var key = by switch
            {
                GroupBy.Process => (proc, pid, local, remote, servicePort, multiNs ? s.NetnsIndex : 0),
                GroupBy.Remote => ("", 0, local, remote, servicePort, multiNs ? s.NetnsIndex : 0),
                GroupBy.State => ("", 0, TcpStates.Name(s.DisplayState), "", 0, 0),
                _ => throw new ArgumentException("GroupBy.None lists sockets; it does not group"),
            };
            if (!acc.TryGetValue(key, out var a)) acc[key] = a = new Acc();
            a.Counts[s.DisplayState] = a.Counts.GetValueOrDefault(s.DisplayState) + 1;
            a.Total++;
            if (pid != 0) a.Pids.Add(pid);
            else if (owner == null) a.Unowned = true;
        }
        return acc.Select(kv => new SocketGroup
            {
                Process = by == GroupBy.Process ? kv.Key.Proc : $"{kv.Value.Pids.Count} process(es)" + (kv.Value.Unowned ? " + no owner" : ""),
                Pid = kv.Key.Pid == 0 ? null : kv.Key.Pid,
                Local = kv.Key.Local,
                Remote = kv.Key.Remote,
                Service = WellKnownPorts.NameOf(kv.Key.Port),
                Netns = multiNs && by != GroupBy.State ? e.Namespaces[kv.Key.Ns].Label : null,
                Counts = kv.Value.Counts,
                Total = kv.Value.Total,
                Processes = kv.Value.Pids.Count,
            })
            .OrderByDescending(g => g.Total)
            .ThenBy(g => g.Process, StringComparer.Ordinal)
            .ThenBy(g => g.Remote, StringComparer.Ordinal)
            .ThenBy(g => g.Local, StringComparer.Ordinal)
            .ToList();
    }

    private sealed class Acc
    {
        public readonly Dictionary<TcpState, int> Counts = new();
        public readonly HashSet<int> Pids = new();
        public bool Unowned;
        public int Total;
    }

    public static string FormatHost(NetAddress a) => a.IsV6 && !a.IsV4Mapped ? $"[{a}]" : a.Unmapped.ToString();

    /// <summary>Endpoints print as ss does, except IPv4-mapped IPv6 peers read as plain IPv4: it is the same host.</summary>
    public static string FormatEndpoint(NetEndpoint ep) => $"{FormatHost(ep.Address)}:{ep.Port}";
}
