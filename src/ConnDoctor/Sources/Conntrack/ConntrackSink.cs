using ConnDoctor.Model;

namespace ConnDoctor.Sources.Conntrack;

/// <summary>One entry as decoded, before the filter: a struct, so the entries the filter drops cost no allocation.</summary>
public struct RawConntrackEntry
{
    public ConntrackTuple Original;
    public ConntrackTuple Reply;
    /// <summary>The layer-4 protocol number (6 = TCP).</summary>
    public byte Protocol;
    /// <summary>The IPS_* status bits (linux/netfilter/nf_conntrack_common.h); from /proc only SEEN_REPLY, ASSURED and OFFLOAD are known.</summary>
    public uint Status;
    public uint TimeoutSeconds;
    /// <summary>False for an offloaded flow, which has no timer (/proc prints none).</summary>
    public bool HasTimeout;
    public uint Mark;
    public ushort Zone;
    /// <summary>The kernel's enum tcp_conntrack value; -1 when the entry carried none.</summary>
    public int TcpState;
}

/// <summary>
/// Where both readers put entries: counts everything, keeps the TCP entries towards the ports of interest (the original
/// destination port, or the reply's source port after a DNAT), allocating only those.
/// </summary>
public sealed class ConntrackSink
{
    private readonly bool[]? _ports;
    public List<ConntrackEntry> Kept { get; } = new();
    /// <summary>Entries seen in all (every protocol), entries that could not be decoded.</summary>
    public int Total;
    public int Malformed;
    /// <summary>Line numbers (proc) or message ordinals (netlink) of the first malformed inputs.</summary>
    public List<int> MalformedAt { get; } = new();
    public int NetnsIndex { get; set; }

    /// <param name="ports">Destination ports to keep; empty keeps every TCP entry.</param>
    public ConntrackSink(IReadOnlyCollection<int> ports)
    {
        if (ports.Count == 0) return;
        _ports = new bool[65536];
        foreach (var p in ports) if (p is > 0 and < 65536) _ports[p] = true;
    }

    public void Offer(in RawConntrackEntry e)
    {
        Total++;
        if (e.Protocol != 6) return;
        if (_ports != null && !_ports[e.Original.Destination.Port] && !_ports[e.Reply.Source.Port]) return;
        Kept.Add(new ConntrackEntry
        {
            Original = e.Original,
            Reply = e.Reply,
            TcpState = ConntrackStates.Name(e.TcpState),
            TimeoutSeconds = (int)Math.Min(e.TimeoutSeconds, int.MaxValue),
            Assured = (e.Status & ConntrackStates.IPS_ASSURED) != 0,
            Zone = e.Zone,
            NetnsIndex = NetnsIndex,
            Status = e.Status,
            Mark = e.Mark,
        });
    }

    public void Bad(int at)
    {
        Malformed++;
        if (MalformedAt.Count < 5) MalformedAt.Add(at);
    }
}

/// <summary>The kernel's names for conntrack's TCP states and status bits.</summary>
public static class ConntrackStates
{
    // enum ip_conntrack_status (include/uapi/linux/netfilter/nf_conntrack_common.h)
    public const uint IPS_EXPECTED = 1 << 0, IPS_SEEN_REPLY = 1 << 1, IPS_ASSURED = 1 << 2, IPS_CONFIRMED = 1 << 3,
        IPS_SRC_NAT = 1 << 4, IPS_DST_NAT = 1 << 5, IPS_SRC_NAT_DONE = 1 << 7, IPS_DST_NAT_DONE = 1 << 8,
        IPS_DYING = 1 << 9, IPS_OFFLOAD = 1 << 14, IPS_HW_OFFLOAD = 1 << 15;

    /// <summary>
    /// enum tcp_conntrack (include/uapi/linux/netfilter/nf_conntrack_tcp.h) as the kernel names it in
    /// /proc/net/nf_conntrack (tcp_conntrack_names in nf_conntrack_proto_tcp.c). conntrack(8) prints LISTEN for 9.
    /// </summary>
    private static readonly string[] Names =
        ["NONE", "SYN_SENT", "SYN_RECV", "ESTABLISHED", "FIN_WAIT", "CLOSE_WAIT", "LAST_ACK", "TIME_WAIT", "CLOSE", "SYN_SENT2"];

    private static readonly byte[][] Utf8Names = Names.Select(n => System.Text.Encoding.ASCII.GetBytes(n)).ToArray();

    public static string? Name(int state) => state < 0 ? null : state < Names.Length ? Names[state] : $"STATE_{state}";

    /// <summary>The enum value of a name as /proc prints it (LISTEN, conntrack(8)'s name for SYN_SENT2, too); -1 if unknown.</summary>
    public static int Parse(ReadOnlySpan<byte> name)
    {
        for (int i = 0; i < Names.Length; i++)
            if (name.SequenceEqual(Utf8Names[i])) return i;
        return name.SequenceEqual("LISTEN"u8) ? 9 : -1;
    }
}
