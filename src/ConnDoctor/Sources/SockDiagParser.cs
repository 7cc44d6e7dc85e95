using System.Buffers.Binary;
using ConnDoctor.Model;
using ConnDoctor.Native;

namespace ConnDoctor.Sources;

/// <summary>
/// Decodes sock_diag (NETLINK_SOCK_DIAG) dump replies: a buffer of netlink messages, each an inet_diag_msg
/// followed by attributes. Pure over bytes, so recorded replies can be replayed in tests.
/// </summary>
public static class SockDiagParser
{
    public const ushort NLMSG_ERROR = NetlinkDump.NLMSG_ERROR;
    public const ushort NLMSG_DONE = NetlinkDump.NLMSG_DONE;
    public const ushort SOCK_DIAG_BY_FAMILY = 20;
    public const ushort SOCK_DESTROY = 21;
    public const int DestroyRequestLength = 72;
    public const ushort INET_DIAG_INFO = 2;
    private const int DiagMsgLength = 72;

    /// <summary>
    /// Decodes the messages in one recv() buffer, appending sockets. Returns Done at NLMSG_DONE, Error with
    /// the kernel's errno at NLMSG_ERROR, Malformed for a cut message, More when the dump continues in the next buffer.
    /// </summary>
    public static NetlinkDump.Outcome Parse(ReadOnlySpan<byte> buffer, int netnsIndex, List<SocketRecord> into, out int errno) =>
        NetlinkDump.Walk(buffer, Collector(netnsIndex, into), out errno);

    /// <summary>The dump's message handler: each SOCK_DIAG_BY_FAMILY message becomes a socket in <paramref name="into"/>.</summary>
    internal static NetlinkDump.MessageHandler Collector(int netnsIndex, List<SocketRecord> into) => (type, _, payload) =>
    {
        if (type == SOCK_DIAG_BY_FAMILY && payload.Length >= DiagMsgLength) into.Add(ParseDiagMessage(payload, netnsIndex));
    };

    /// <summary>
    /// The handler of a dump of both families (<see cref="BuildCompatRequest"/>, replies of type TCPDIAG_GETSOCK): IPv4
    /// sockets to <paramref name="v4"/>, IPv6 to <paramref name="v6"/>, each in the kernel's order, so that v4 then v6 is
    /// the table two per-family dumps give.
    /// </summary>
    internal static NetlinkDump.MessageHandler FamilyCollector(int netnsIndex, List<SocketRecord> v4, List<SocketRecord> v6) => (type, _, payload) =>
    {
        if (type is SOCK_DIAG_BY_FAMILY or TCPDIAG_GETSOCK && payload.Length >= DiagMsgLength)
            (payload[0] == 10 ? v6 : v4).Add(ParseDiagMessage(payload, netnsIndex));
    };

    private static int Align4(int n) => NetlinkDump.Align4(n);

    internal static SocketRecord ParseDiagMessage(ReadOnlySpan<byte> m, int netnsIndex)
    {
        byte family = m[0];
        bool v6 = family == 10;
        int alen = v6 ? 16 : 4;
        var local = new NetEndpoint(new NetAddress(m.Slice(8, alen)), BinaryPrimitives.ReadUInt16BigEndian(m[4..]));
        var remote = new NetEndpoint(new NetAddress(m.Slice(24, alen)), BinaryPrimitives.ReadUInt16BigEndian(m[6..]));
        TcpInfo? info = null;
        var attrs = m[DiagMsgLength..];
        while (attrs.Length >= 4)
        {
            ushort alenAttr = BinaryPrimitives.ReadUInt16LittleEndian(attrs);
            ushort atype = BinaryPrimitives.ReadUInt16LittleEndian(attrs[2..]);
            if (alenAttr < 4 || alenAttr > attrs.Length) break;
            if (atype == INET_DIAG_INFO) info = ParseTcpInfo(attrs.Slice(4, alenAttr - 4));
            int adv = Align4(alenAttr);
            if (adv >= attrs.Length) break;
            attrs = attrs[adv..];
        }
        return new SocketRecord
        {
            Family = v6 ? 6 : 4,
            State = (TcpState)m[1],
            Timer = (TimerKind)m[2],
            TimerRetransmits = m[3],
            Local = local,
            Remote = remote,
            TimerExpiresMs = BinaryPrimitives.ReadUInt32LittleEndian(m[52..]),
            RecvQueue = BinaryPrimitives.ReadUInt32LittleEndian(m[56..]),
            SendQueue = BinaryPrimitives.ReadUInt32LittleEndian(m[60..]),
            Uid = BinaryPrimitives.ReadUInt32LittleEndian(m[64..]),
            Inode = BinaryPrimitives.ReadUInt32LittleEndian(m[68..]),
            Interface = BinaryPrimitives.ReadUInt32LittleEndian(m[40..]),
            Cookie = BinaryPrimitives.ReadUInt64LittleEndian(m[44..]),   // idiag_cookie[2], low word first, host order
            Info = info,
            NetnsIndex = netnsIndex,
        };
    }

    /// <summary>struct tcp_info from linux/tcp.h. Older kernels send a shorter struct: read what is there.</summary>
    internal static TcpInfo? ParseTcpInfo(ReadOnlySpan<byte> t)
    {
        if (t.Length < 104) return null; // everything up to total_retrans has been there since 2.6
        static uint U32(ReadOnlySpan<byte> s, int o) => BinaryPrimitives.ReadUInt32LittleEndian(s[o..]);
        static ulong U64(ReadOnlySpan<byte> s, int o) => s.Length >= o + 8 ? BinaryPrimitives.ReadUInt64LittleEndian(s[o..]) : 0;
        return new TcpInfo
        {
            CaState = t[1],
            Retransmits = t[2],
            Probes = t[3],
            Backoff = t[4],
            Options = t[5],
            RtoUs = U32(t, 8),
            Unacked = U32(t, 24),
            Lost = U32(t, 32),
            Retrans = U32(t, 36),
            LastDataSentMs = U32(t, 44),
            LastDataRecvMs = U32(t, 52),
            LastAckRecvMs = U32(t, 56),
            RttUs = U32(t, 68),
            RttVarUs = U32(t, 72),
            TotalRetrans = U32(t, 100),
            BytesAcked = U64(t, 120),
            BytesReceived = U64(t, 128),
            BytesSent = U64(t, 200),
        };
    }

    /// <summary>The 72-byte dump request: nlmsghdr + inet_diag_req_v2 with the state mask and tcp_info asked for.</summary>
    public static void BuildRequest(Span<byte> req, byte family, uint stateMask, uint seq)
    {
        NetlinkDump.WriteHeader(req, 72, SOCK_DIAG_BY_FAMILY, NetlinkDump.NLM_F_REQUEST | NetlinkDump.NLM_F_DUMP, seq);
        req[16] = family;
        req[17] = 6;                                   // IPPROTO_TCP
        req[18] = 1 << (INET_DIAG_INFO - 1);           // idiag_ext: ask for tcp_info
        BinaryPrimitives.WriteUInt32LittleEndian(req[20..], stateMask);
    }


    /// <summary>The old request type (TCPDIAG_GETSOCK): its dump is of both families at once.</summary>
    public const ushort TCPDIAG_GETSOCK = 18;
    public const int CompatRequestLength = 76;

    /// <summary>
    /// The 76-byte dump request of the older interface: nlmsghdr of type TCPDIAG_GETSOCK + struct inet_diag_req (family, the
    /// address lengths, idiag_ext, the socket id, the state mask, idiag_dbs). The kernel turns it into a v2 request whose
    /// family is AF_UNSPEC (net/ipv4/inet_diag.c, inet_diag_dump_compat), so one walk of the TCP hash tables answers IPv4 and
    /// IPv6 sockets both, where two v2 dumps walk every socket of the host twice. The replies are the same inet_diag_msg.
    /// </summary>
    public static void BuildCompatRequest(Span<byte> req, uint stateMask, uint seq)
    {
        NetlinkDump.WriteHeader(req, CompatRequestLength, TCPDIAG_GETSOCK, NetlinkDump.NLM_F_REQUEST | NetlinkDump.NLM_F_DUMP, seq);
        req[16] = 2;                                   // idiag_family: not read by the dump (AF_UNSPEC there)
        req[19] = 1 << (INET_DIAG_INFO - 1);           // idiag_ext: ask for tcp_info
        BinaryPrimitives.WriteUInt32LittleEndian(req[68..], stateMask);
    }

    /// <summary>
    /// The 72-byte SOCK_DESTROY request for one socket: nlmsghdr (with an ACK asked for, so success is answered
    /// too) + inet_diag_req_v2 naming it exactly: family, TCP, the 4-tuple, the bound interface and the cookie
    /// from the dump, so the kernel finds nothing (ENOENT) if the tuple now belongs to another socket.
    /// </summary>
    public static void BuildDestroyRequest(Span<byte> req, SocketRecord s, uint seq)
    {
        NetlinkDump.WriteHeader(req, DestroyRequestLength, SOCK_DESTROY, NetlinkDump.NLM_F_REQUEST | NetlinkDump.NLM_F_ACK, seq);
        req[16] = (byte)(s.Family == 6 ? 10 : 2);
        req[17] = 6;                                                            // IPPROTO_TCP
        BinaryPrimitives.WriteUInt32LittleEndian(req[20..], TcpStates.AllMask);  // the lookup is by id; the state may have moved on
        BinaryPrimitives.WriteUInt16BigEndian(req[24..], s.Local.Port);
        BinaryPrimitives.WriteUInt16BigEndian(req[26..], s.Remote.Port);
        s.Local.Address.WriteBytes(req[28..44]);
        s.Remote.Address.WriteBytes(req[44..60]);
        BinaryPrimitives.WriteUInt32LittleEndian(req[60..], s.Interface);
        BinaryPrimitives.WriteUInt64LittleEndian(req[64..], s.Cookie);
    }
}
