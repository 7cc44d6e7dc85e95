using System.Buffers.Binary;
using ConnDoctor.Model;
using ConnDoctor.Native;

namespace ConnDoctor.Sources.Conntrack;

/// <summary>
/// Decodes ctnetlink (NETLINK_NETFILTER, subsystem NFNL_SUBSYS_CTNETLINK) dump replies: each message is an nlmsghdr,
/// an nfgenmsg and nested attributes (include/uapi/linux/netfilter/nfnetlink_conntrack.h). Integers inside the
/// attributes are big-endian, the netlink headers host order. Pure over bytes, so a recorded reply replays in tests.
/// Only TCP entries become records, and only those the filter keeps: the rest are counted, never allocated.
/// </summary>
public static class CtNetlinkParser
{
    public const int NETLINK_NETFILTER = 12;
    public const byte NFNL_SUBSYS_CTNETLINK = 1;
    public const byte IPCTNL_MSG_CT_NEW = 0;
    public const byte IPCTNL_MSG_CT_GET = 1;
    public const int RequestLength = 20;

    // enum ctattr_type
    private const int CTA_TUPLE_ORIG = 1, CTA_TUPLE_REPLY = 2, CTA_STATUS = 3, CTA_PROTOINFO = 4, CTA_TIMEOUT = 7,
        CTA_MARK = 8, CTA_ZONE = 18;
    // enum ctattr_tuple, ctattr_ip, ctattr_l4proto
    private const int CTA_TUPLE_IP = 1, CTA_TUPLE_PROTO = 2;
    private const int CTA_IP_V4_SRC = 1, CTA_IP_V4_DST = 2, CTA_IP_V6_SRC = 3, CTA_IP_V6_DST = 4;
    private const int CTA_PROTO_NUM = 1, CTA_PROTO_SRC_PORT = 2, CTA_PROTO_DST_PORT = 3;
    // enum ctattr_protoinfo, ctattr_protoinfo_tcp
    private const int CTA_PROTOINFO_TCP = 1, CTA_PROTOINFO_TCP_STATE = 1;
    /// <summary>The nlattr type bits: NLA_F_NESTED (0x8000) and NLA_F_NET_BYTEORDER (0x4000) masked off.</summary>
    private const ushort NLA_TYPE_MASK = 0x3FFF;
    private const int NfGenMsg = 4;

    /// <summary>The 20-byte dump request: nlmsghdr (CT_GET, NLM_F_REQUEST | NLM_F_DUMP) + nfgenmsg for one family.</summary>
    public static void BuildDumpRequest(Span<byte> req, byte family, uint seq)
    {
        NetlinkDump.WriteHeader(req, RequestLength, (ushort)((NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_GET), NetlinkDump.NLM_F_REQUEST | NetlinkDump.NLM_F_DUMP, seq);
        req[16] = family;       // nfgen_family: AF_INET or AF_INET6 (AF_UNSPEC would dump both)
        req[17] = 0;            // NFNETLINK_V0; res_id 0
    }

    /// <summary>
    /// Decodes the messages of one recv() buffer into <paramref name="sink"/>. Done at NLMSG_DONE, Error with the
    /// kernel's errno at NLMSG_ERROR, Malformed (EINVAL) for a message whose length does not fit the buffer, More otherwise.
    /// </summary>
    public static NetlinkDump.Outcome Parse(ReadOnlySpan<byte> buffer, ConntrackSink sink, out int errno) =>
        NetlinkDump.Walk(buffer, Collector(sink), out errno);

    /// <summary>The dump's message handler: each CT_NEW message is offered to <paramref name="sink"/> (or counted malformed).</summary>
    internal static NetlinkDump.MessageHandler Collector(ConntrackSink sink) => (type, _, payload) =>
    {
        if (type != ((NFNL_SUBSYS_CTNETLINK << 8) | IPCTNL_MSG_CT_NEW)) return;
        if (payload.Length >= NfGenMsg && TryParseEntry(payload[NfGenMsg..], out var e)) sink.Offer(in e);
        else sink.Malformed++;
    };

    private static int Align4(int n) => NetlinkDump.Align4(n);

    /// <summary>Walks one level of attributes; false when an attribute's length runs past the data.</summary>
    private ref struct Attrs(ReadOnlySpan<byte> data)
    {
        private ReadOnlySpan<byte> _rest = data;
        public int Type;
        public ReadOnlySpan<byte> Value;
        public bool Bad;

        public bool Next()
        {
            if (_rest.Length < 4) { Bad |= _rest.Length != 0; return false; }
            ushort len = BinaryPrimitives.ReadUInt16LittleEndian(_rest);
            if (len < 4 || len > _rest.Length) { Bad = true; return false; }
            Type = BinaryPrimitives.ReadUInt16LittleEndian(_rest[2..]) & NLA_TYPE_MASK;
            Value = _rest.Slice(4, len - 4);
            int adv = Align4(len);
            _rest = adv >= _rest.Length ? default : _rest[adv..];
            return true;
        }
    }

    /// <summary>One entry's attributes (after the nfgenmsg) into a raw entry; false when malformed.</summary>
    internal static bool TryParseEntry(ReadOnlySpan<byte> attrs, out RawConntrackEntry e)
    {
        e = default;
        bool orig = false, reply = false;
        var a = new Attrs(attrs);
        while (a.Next())
        {
            switch (a.Type)
            {
                case CTA_TUPLE_ORIG:
                    if (!ParseTuple(a.Value, out e.Original, out e.Protocol)) return false;
                    orig = true;
                    break;
                case CTA_TUPLE_REPLY:
                    if (!ParseTuple(a.Value, out e.Reply, out _)) return false;
                    reply = true;
                    break;
                case CTA_STATUS when a.Value.Length >= 4:
                    e.Status = BinaryPrimitives.ReadUInt32BigEndian(a.Value);
                    break;
                case CTA_TIMEOUT when a.Value.Length >= 4:
                    e.TimeoutSeconds = BinaryPrimitives.ReadUInt32BigEndian(a.Value);
                    e.HasTimeout = true;
                    break;
                case CTA_MARK when a.Value.Length >= 4:
                    e.Mark = BinaryPrimitives.ReadUInt32BigEndian(a.Value);
                    break;
                case CTA_ZONE when a.Value.Length >= 2:
                    e.Zone = BinaryPrimitives.ReadUInt16BigEndian(a.Value);
                    break;
                case CTA_PROTOINFO:
                    var p = new Attrs(a.Value);
                    while (p.Next())
                    {
                        if (p.Type != CTA_PROTOINFO_TCP) continue;
                        var t = new Attrs(p.Value);
                        while (t.Next())
                            if (t.Type == CTA_PROTOINFO_TCP_STATE && t.Value.Length >= 1) e.TcpState = (sbyte)t.Value[0];
                        if (t.Bad) return false;
                    }
                    if (p.Bad) return false;
                    break;
            }
        }
        return !a.Bad && orig && reply;
    }

    private static bool ParseTuple(ReadOnlySpan<byte> data, out ConntrackTuple tuple, out byte protocol)
    {
        tuple = default;
        protocol = 0;
        NetAddress src = default, dst = default;
        ushort sport = 0, dport = 0;
        bool haveSrc = false, haveDst = false;
        var a = new Attrs(data);
        while (a.Next())
        {
            if (a.Type == CTA_TUPLE_IP)
            {
                var ip = new Attrs(a.Value);
                while (ip.Next())
                {
                    switch (ip.Type)
                    {
                        case CTA_IP_V4_SRC when ip.Value.Length == 4: src = new NetAddress(ip.Value); haveSrc = true; break;
                        case CTA_IP_V4_DST when ip.Value.Length == 4: dst = new NetAddress(ip.Value); haveDst = true; break;
                        case CTA_IP_V6_SRC when ip.Value.Length == 16: src = new NetAddress(ip.Value); haveSrc = true; break;
                        case CTA_IP_V6_DST when ip.Value.Length == 16: dst = new NetAddress(ip.Value); haveDst = true; break;
                    }
                }
                if (ip.Bad) return false;
            }
            else if (a.Type == CTA_TUPLE_PROTO)
            {
                var pr = new Attrs(a.Value);
                while (pr.Next())
                {
                    switch (pr.Type)
                    {
                        case CTA_PROTO_NUM when pr.Value.Length >= 1: protocol = pr.Value[0]; break;
                        case CTA_PROTO_SRC_PORT when pr.Value.Length >= 2: sport = BinaryPrimitives.ReadUInt16BigEndian(pr.Value); break;
                        case CTA_PROTO_DST_PORT when pr.Value.Length >= 2: dport = BinaryPrimitives.ReadUInt16BigEndian(pr.Value); break;
                    }
                }
                if (pr.Bad) return false;
            }
        }
        if (a.Bad || !haveSrc || !haveDst) return false;
        tuple = new ConntrackTuple(new NetEndpoint(src, sport), new NetEndpoint(dst, dport));
        return true;
    }
}
