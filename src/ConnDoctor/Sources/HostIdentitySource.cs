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
public static unsafe class HostIdentitySource
{
    private const int NETLINK_ROUTE = 0;
    private const ushort RTM_NEWLINK = 16, RTM_GETLINK = 18, RTM_NEWADDR = 20, RTM_GETADDR = 22;
    private const ushort NLMSG_ERROR = 2, NLMSG_DONE = 3;
    private const ushort NLM_F_REQUEST = 1, NLM_F_DUMP = 0x300;
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
        int fd = Libc.socket(Libc.AF_NETLINK, Libc.SOCK_RAW | Libc.SOCK_CLOEXEC, NETLINK_ROUTE);
        if (fd < 0)
        {
            int e = Libc.Errno;
            throw new SourceException($"netlink route socket: {Libc.ErrorText(e)}", e);
        }
        try
        {
            Dump(fd, RTM_GETLINK, msg => ParseLink(msg, names));
            var raw = new List<(int Index, InterfaceAddress Address)>();
            Dump(fd, RTM_GETADDR, msg => { if (ParseAddress(msg) is { } a) raw.Add(a); });
            foreach (var (index, a) in raw)
                result.Add(a with { Interface = names.TryGetValue(index, out var n) ? n : a.Interface.Length > 0 ? a.Interface : $"if{index}" });
        }
        finally { Libc.close(fd); }
        return result;
    }

    private delegate void MessageHandler(ReadOnlySpan<byte> message);

    private static void Dump(int fd, ushort type, MessageHandler onMessage)
    {
        // nlmsghdr (16) + ifinfomsg (16) or ifaddrmsg (8, padded): AF_UNSPEC, everything.
        byte* req = stackalloc byte[32];
        new Span<byte>(req, 32).Clear();
        int len = type == RTM_GETLINK ? 32 : 24;
        BinaryPrimitives.WriteUInt32LittleEndian(new Span<byte>(req, 4), (uint)len);
        BinaryPrimitives.WriteUInt16LittleEndian(new Span<byte>(req + 4, 2), type);
        BinaryPrimitives.WriteUInt16LittleEndian(new Span<byte>(req + 6, 2), NLM_F_REQUEST | NLM_F_DUMP);
        BinaryPrimitives.WriteUInt32LittleEndian(new Span<byte>(req + 8, 4), type);
        if (Libc.send(fd, req, len, 0) != len)
        {
            int e = Libc.Errno;
            throw new SourceException($"netlink route request: {Libc.ErrorText(e)}", e);
        }
        var buffer = new byte[64 * 1024];
        fixed (byte* b = buffer)
        {
            while (true)
            {
                nint n = Libc.recv(fd, b, buffer.Length, 0);
                if (n < 0)
                {
                    int e = Libc.Errno;
                    if (e == Libc.EINTR) continue;
                    throw new SourceException($"netlink route reply: {Libc.ErrorText(e)}", e);
                }
                if (n == 0) return;
                if (Walk(buffer.AsSpan(0, (int)n), onMessage)) return;
            }
        }
    }

    /// <summary>The messages of one netlink datagram; true at NLMSG_DONE. An error reply throws.</summary>
    private static bool Walk(ReadOnlySpan<byte> data, MessageHandler onMessage)
    {
        while (data.Length >= 16)
        {
            int len = (int)BinaryPrimitives.ReadUInt32LittleEndian(data);
            ushort type = BinaryPrimitives.ReadUInt16LittleEndian(data[4..]);
            if (len < 16 || len > data.Length) return false;
            if (type == NLMSG_DONE) return true;
            if (type == NLMSG_ERROR)
            {
                int errno = data.Length >= 20 ? -BinaryPrimitives.ReadInt32LittleEndian(data[16..]) : 0;
                if (errno == 0) return true;
                throw new SourceException($"netlink route dump refused: {Libc.ErrorText(errno)}", errno);
            }
            onMessage(data[..len]);
            data = data[Math.Min(data.Length, (len + 3) & ~3)..];
        }
        return false;
    }

    /// <summary>RTM_NEWLINK: ifinfomsg (family, pad, type u16, index i32, flags, change) then attributes; IFLA_IFNAME is the name.</summary>
    internal static void ParseLink(ReadOnlySpan<byte> msg, Dictionary<int, string> names)
    {
        if (BinaryPrimitives.ReadUInt16LittleEndian(msg[4..]) != RTM_NEWLINK || msg.Length < 32) return;
        int index = BinaryPrimitives.ReadInt32LittleEndian(msg[20..]);
        foreach (var (type, value) in Attributes(msg[32..]))
            if (type == IFLA_IFNAME) names[index] = Encoding.UTF8.GetString(value.TrimEnd((byte)0));
    }

    /// <summary>RTM_NEWADDR: ifaddrmsg (family, prefixlen, flags, scope, index u32) then attributes. IFA_LOCAL is the
    /// interface's own address (IFA_ADDRESS is the peer's on point-to-point links), else IFA_ADDRESS; IFA_LABEL names IPv4 ones.</summary>
    internal static (int Index, InterfaceAddress Address)? ParseAddress(ReadOnlySpan<byte> msg)
    {
        if (BinaryPrimitives.ReadUInt16LittleEndian(msg[4..]) != RTM_NEWADDR || msg.Length < 24) return null;
        byte family = msg[16], prefix = msg[17];
        int index = (int)BinaryPrimitives.ReadUInt32LittleEndian(msg[20..]);
        if (family is not (2 or 10)) return null;
        NetAddress? local = null, address = null;
        string label = "";
        foreach (var (type, value) in Attributes(msg[24..]))
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
