using System.Buffers.Binary;
using System.Text;
using ConnDoctor.Model;
using ConnDoctor.Native;

namespace ConnDoctor.Sources;

/// <summary>
/// Who a collection ran on: the hostname, the boot id (/proc/sys/kernel/random/boot_id), and every address of every
/// interface of each namespace whose sockets were read, asked from the kernel inside that namespace with netlink
/// RTM_GETLINK and RTM_GETADDR dumps (what `ip -o addr` shows). Documents are told apart by these addresses.
/// </summary>
public static class HostIdentitySource
{
    private const int NETLINK_ROUTE = 0;
    private const ushort RTM_NEWLINK = 16, RTM_GETLINK = 18, RTM_NEWADDR = 20, RTM_GETADDR = 22;
    private const int BufferSize = 64 * 1024;
    private const ushort IFLA_IFNAME = 3, IFA_ADDRESS = 1, IFA_LOCAL = 2, IFA_LABEL = 3;

    /// <summary>
    /// The identity of a collection over <paramref name="namespaces"/> (each entered by its path; null: ours). With a
    /// copied /proc tree (--proc-root) no kernel is asked: the addresses are left empty.
    /// </summary>
    public static (HostIdentity Identity, SourceStatus Status) Read(string procRoot, IReadOnlyList<NetnsInfo> namespaces, DateTimeOffset start, DateTimeOffset end)
    {
        bool live = procRoot == "/proc";
        string hostname = ReadLine($"{procRoot}/sys/kernel/hostname") ?? Environment.MachineName;
        string? bootId = ReadLine($"{procRoot}/sys/kernel/random/boot_id");
        var list = new List<NamespaceAddresses>();
        var problems = new List<string>();
        if (live)
            foreach (var ns in namespaces)
            {
                try
                {
                    var addresses = ns.Path == null ? Addresses() : NetnsScope.Run(ns.Path, Addresses);
                    list.Add(new NamespaceAddresses { Netns = ns.Label, Inode = ns.Inode, Addresses = addresses });
                }
                catch (SourceException ex) { problems.Add($"{ns.Label}: {ex.Message}"); }
            }
        var identity = new HostIdentity { Hostname = hostname, BootId = bootId, Namespaces = list, CollectionStart = start, CollectionEnd = end, Problems = problems };
        int count = list.Sum(n => n.Addresses.Count);
        var status = !live ? new SourceStatus("identity", SourceState.Partial, "--proc-root: hostname and boot id from the tree, no addresses (no kernel to ask)")
            : problems.Count > 0 ? new SourceStatus("identity", SourceState.Partial, $"{count} address(es); " + string.Join("; ", problems), count)
            : new SourceStatus("identity", SourceState.Ok, $"{hostname}, {count} address(es) in {list.Count} namespace(s)", count);
        return (identity, status);
    }

    private static string? ReadLine(string path)
    {
        Span<byte> buf = stackalloc byte[256];
        int n = Libc.ReadSmallFile(Encoding.UTF8.GetBytes(path), buf);
        return n > 0 ? PrintableText.Of(Encoding.UTF8.GetString(buf[..n]).Trim()) : null;
    }

    /// <summary>Every address of every interface of the calling thread's namespace, as `ip -o addr` lists them.</summary>
    public static List<InterfaceAddress> Addresses()
    {
        var names = new Dictionary<int, string>();
        var result = new List<InterfaceAddress>();
        try
        {
            int fd = NetlinkDump.Open(NETLINK_ROUTE);
            try
            {
                Dump(fd, RTM_GETLINK, (type, _, payload) => ParseLink(type, payload, names));
                var raw = new List<(int Index, InterfaceAddress Address)>();
                Dump(fd, RTM_GETADDR, (type, _, payload) => { if (ParseAddress(type, payload) is { } a) raw.Add(a); });
                foreach (var (index, a) in raw)
                    result.Add(a with { Interface = names.TryGetValue(index, out var n) ? n : a.Interface.Length > 0 ? a.Interface : $"if{index}" });
            }
            finally { Libc.close(fd); }
        }
        catch (NetlinkException ex)
        {
            throw new SourceException(ex.Step == NetlinkStep.Refused ? $"netlink route dump refused: {ex.Message}" : $"netlink route {ex.StepName}: {ex.Message}", ex.Errno);
        }
        return result;
    }

    private static void Dump(int fd, ushort type, NetlinkDump.MessageHandler onMessage)
    {
        // nlmsghdr (16) + ifinfomsg (16) or ifaddrmsg (8): AF_UNSPEC, everything.
        Span<byte> req = stackalloc byte[32];
        int len = type == RTM_GETLINK ? 32 : 24;
        NetlinkDump.WriteHeader(req, len, type, NetlinkDump.NLM_F_REQUEST | NetlinkDump.NLM_F_DUMP, type);
        NetlinkDump.Run(fd, req[..len], onMessage, BufferSize);
    }

    /// <summary>RTM_NEWLINK: ifinfomsg (family, pad, type u16, index i32, flags, change) then attributes; IFLA_IFNAME is the name.</summary>
    internal static void ParseLink(ushort messageType, ReadOnlySpan<byte> msg, Dictionary<int, string> names)
    {
        if (messageType != RTM_NEWLINK || msg.Length < 16) return;
        int index = BinaryPrimitives.ReadInt32LittleEndian(msg[4..]);
        foreach (var (type, value) in Attributes(msg[16..]))
            if (type == IFLA_IFNAME) names[index] = Encoding.UTF8.GetString(value.TrimEnd((byte)0));
    }

    /// <summary>RTM_NEWADDR: ifaddrmsg (family, prefixlen, flags, scope, index u32) then attributes. IFA_LOCAL is the
    /// interface's own address (IFA_ADDRESS is the peer's on point-to-point links), else IFA_ADDRESS; IFA_LABEL names IPv4 ones.</summary>
    internal static (int Index, InterfaceAddress Address)? ParseAddress(ushort messageType, ReadOnlySpan<byte> msg)
    {
        if (messageType != RTM_NEWADDR || msg.Length < 8) return null;
        byte family = msg[0], prefix = msg[1];
        int index = (int)BinaryPrimitives.ReadUInt32LittleEndian(msg[4..]);
        if (family is not (2 or 10)) return null;
        NetAddress? local = null, address = null;
        string label = "";
        foreach (var (type, value) in Attributes(msg[8..]))
        {
            if ((type == IFA_LOCAL || type == IFA_ADDRESS) && value.Length == (family == 2 ? 4 : 16))
            {
                if (type == IFA_LOCAL) local = new NetAddress(value);
                else address = new NetAddress(value);
            }
            else if (type == IFA_LABEL) label = Encoding.UTF8.GetString(value.TrimEnd((byte)0));
        }
        return (local ?? address) is NetAddress a ? (index, new InterfaceAddress(label, a, prefix)) : null;
    }

    private static List<(ushort Type, byte[] Value)> Attributes(ReadOnlySpan<byte> data)
    {
        var list = new List<(ushort, byte[])>();
        while (data.Length >= 4)
        {
            int len = BinaryPrimitives.ReadUInt16LittleEndian(data);
            ushort type = (ushort)(BinaryPrimitives.ReadUInt16LittleEndian(data[2..]) & 0x3FFF);
            if (len < 4 || len > data.Length) break;
            list.Add((type, data[4..len].ToArray()));
            data = data[Math.Min(data.Length, (len + 3) & ~3)..];
        }
        return list;
    }
}
