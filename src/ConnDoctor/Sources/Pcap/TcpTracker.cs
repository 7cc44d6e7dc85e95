using System.Buffers.Binary;
using System.Runtime.InteropServices;
using ConnDoctor.Model;

namespace ConnDoctor.Sources.Pcap;

/// <summary>
/// Follows TCP connections through their segments: handshake, bytes, retransmissions, zero windows, who
/// closes first and how, and the facts around the first RST that <see cref="ResetClassifier"/> needs. No
/// payload is kept. Flows live in a struct array indexed by a struct-keyed dictionary: a packet allocates
/// nothing, a connection one array slot. A SYN on a 4-tuple whose connection is over starts a new one.
/// </summary>
public sealed class TcpTracker
{
    // Connections live in fixed chunks: growing never copies or re-touches the ones already tracked.
    private const int ChunkBits = 12;
    private readonly Dictionary<FlowKey, int> _index = new(1024);
    private readonly List<Conn[]> _chunks = new();
    private int _count;

    private ref Conn At(int i) => ref _chunks[i >> ChunkBits][i & ((1 << ChunkBits) - 1)];

    public int Connections => _count;
    public long RstPackets { get; private set; }

    /// <summary>Second copies of a packet (the same bytes again, as tcpdump -i any sees a forwarded packet on two interfaces): not counted.</summary>
    public long DuplicatePackets { get; private set; }

    /// <summary>How close a copy follows its original.</summary>
    private const long CopyWindowNs = 1_000_000;

    public void Add(in TcpSegment s)
    {
        var key = FlowKey.Of(s, out int d);
        ref int slot = ref CollectionsMarshal.GetValueRefOrAddDefault(_index, key, out bool exists);
        if (!exists || IsNewIncarnation(ref At(slot), s, d)) slot = Start(key, s, d);
        Update(ref At(slot), s, d);
    }

    /// <summary>A SYN on a tuple whose connection is over, or a SYN with a new initial sequence number: the port was reused.</summary>
    private static bool IsNewIncarnation(ref Conn c, in TcpSegment s, int d)
    {
        if (!s.Has(TcpSegment.Syn) || s.Has(TcpSegment.AckFlag)) return false;
        ref var me = ref c.Dir(d);
        return c.RstSide >= 0 || (c.D0.FinSent && c.D1.FinSent) || (me.SynSent && me.Isn != s.Seq);
    }

    private int Start(in FlowKey key, in TcpSegment s, int d)
    {
        if (_count == _chunks.Count << ChunkBits) _chunks.Add(new Conn[1 << ChunkBits]);
        bool syn = s.Has(TcpSegment.Syn), ack = s.Has(TcpSegment.AckFlag);
        At(_count) = new Conn
        {
            Key = key,
            FirstNs = s.TimeNs,
            RstSide = -1,
            CloseSide = -1,
            // The SYN's sender is the client; mid-connection, guess the side with the higher (ephemeral) port.
            ClientSide = syn ? (ack ? 1 - d : d) : (s.SrcPort > s.DstPort ? d : 1 - d),
            OpenSeen = syn && !ack,
        };
        return _count++;
    }

    private void Update(ref Conn c, in TcpSegment s, int d)
    {
        long t = s.TimeNs;
        ref var me = ref c.Dir(d);
        // `tcpdump -i any` on a host that forwards (a router, a container host, a bridge) sees each packet twice, on the
        // way in and on the way out, microseconds apart. Such a copy repeats the last packet of its direction byte for
        // byte (only the TTL and the IP checksum differ), with nothing from the peer in between. Two packets that merely
        // share sequence numbers (two RSTs with other options or payload, a retransmission) differ in their bytes.
        if (c.LastDir == d + 1 && t - me.LastNs <= CopyWindowNs && s.Digest == me.LastDigest && s.Seq == me.LastSeq)
        {
            DuplicatePackets++;
            return;
        }
        (me.LastSeq, me.LastDigest, me.LastNs, c.LastDir) = (s.Seq, s.Digest, t, d + 1);
        c.LastNs = t;
        c.Packets++;
        ref var peer = ref c.Dir(1 - d);
        peer.TrailingRetrans = 0; // this packet answers whatever the peer retransmitted
        bool syn = s.Has(TcpSegment.Syn), ack = s.Has(TcpSegment.AckFlag), fin = s.Has(TcpSegment.Fin);
        if (c.RstSide >= 0 && d != c.RstSide && s.PayloadLength > 0)
        {
            // Only bytes beyond what the RST acknowledged: a late retransmission of acknowledged data is no news.
            uint end = s.Seq + (uint)s.PayloadLength;
            int beyond = !c.RstHasAck ? s.PayloadLength : Math.Min(s.PayloadLength, (int)(end - c.RstAck));
            if (beyond > 0) c.PeerBytesAfterRst += beyond;
        }
        if (s.Has(TcpSegment.AckFlag) && peer.HasBase && (int)(s.Ack - peer.MaxEnd) > 0) peer.Gap = true; // acknowledges bytes the capture never saw

        if (s.Has(TcpSegment.Rst)) { Reset(ref c, s, d, ref me, ref peer); return; }
        if (syn)
        {
            if (!me.SynSent)
            {
                me.SynSent = me.HasBase = true;
                me.Isn = s.Seq;
                // Data on a SYN or SYN-ACK (TCP Fast Open) counts like any other.
                me.MaxEnd = s.Seq + 1 + (uint)s.PayloadLength;
                if (s.PayloadLength > 0) { me.Bytes += s.PayloadLength; me.Segments++; me.LastDataNs = t; }
                me.SynAck = ack;
                me.Scale = s.WindowScale;
                if (!ack) c.SynNs = t;
            }
            else if (s.Seq == me.Isn)
            {
                if (ack) me.Retrans++; else c.SynRetrans++;
            }
            return;
        }
        if (!me.HasBase) { me.HasBase = true; me.MaxEnd = s.Seq; } // joined mid-connection
        if (ack && d == c.ClientSide && c.OpenSeen && peer.SynAck && c.HandshakeRttNs == 0) c.HandshakeRttNs = Math.Max(1, t - c.SynNs);

        if (s.PayloadLength > 0 || fin)
        {
            uint end = s.Seq + (uint)s.PayloadLength + (fin ? 1u : 0u);
            int ahead = (int)(end - me.MaxEnd);
            if ((int)(s.Seq - me.MaxEnd) > 0) me.Gap = true; // a hole: the capture missed some of these bytes
            if (ahead > 0)
            {
                long fresh = Math.Min(s.PayloadLength, ahead);
                me.Bytes += fresh;
                if (fresh > 0) { me.Segments++; me.LastDataNs = t; }
                if (peer.FinSent) me.BytesAfterPeerFin += fresh;
                me.MaxEnd = end;
            }
            // A keepalive probe re-sends the last byte (or nothing) on purpose: not a retransmission.
            else if (s.PayloadLength > 1 || (s.PayloadLength == 1 && s.Seq != me.MaxEnd - 1))
            {
                me.Retrans++;
                me.TrailingRetrans++;
            }
        }
        if (ack)
        {
            me.LastWindowZero = s.Window == 0;
            (me.LastAckSent, me.LastWindowSent, me.AckSent) = (s.Ack, s.Window, true);
            if (s.Window == 0) me.ZeroWindows++;
        }
        if (fin && !me.FinSent)
        {
            me.FinSent = true;
            if (c.CloseSide < 0) { c.CloseSide = d; c.CloseByRst = false; }
        }
    }

    private void Reset(ref Conn c, in TcpSegment s, int d, ref Dir me, ref Dir peer)
    {
        RstPackets++;
        c.RstPackets++;
        if (c.RstSide >= 0) return; // follow-up resets answer the peer's late segments; the first one tells the story
        c.RstSide = d;
        c.RstNs = s.TimeNs;
        c.RstAck = s.Ack;
        c.RstHasAck = s.Has(TcpSegment.AckFlag);
        if (c.CloseSide < 0) { c.CloseSide = d; c.CloseByRst = true; }
        uint peerDataEnd = peer.MaxEnd - (peer.FinSent ? 1u : 0u); // a FIN is no data
        c.Facts = new ResetFacts
        {
            AnswersSyn = peer.SynSent && !peer.SynAck && !me.SynSent,
            HasAck = s.Has(TcpSegment.AckFlag),
            AfterOwnFin = me.FinSent,
            AfterBothFins = me.FinSent && peer.FinSent,
            // Bytes the peer had sent that this RST does not acknowledge: they were on their way in.
            InFlight = s.Has(TcpSegment.AckFlag) && peer.HasBase && (int)(peerDataEnd - s.Ack) > 0 ? (int)(peerDataEnd - s.Ack) : 0,
            PeerSentData = peer.Bytes > 0 || !peer.SynSent, // joined mid-connection: what came before is unknown
            // The capture missed some of the peer's bytes, or the RST acknowledges bytes it never showed.
            SequenceGap = peer.Gap || (s.Has(TcpSegment.AckFlag) && peer.HasBase && (int)(s.Ack - peer.MaxEnd) > 0),
            AfterZeroWindow = me.LastWindowZero,
            PeerFilledWindow = FilledWindow(ref me, ref peer, peerDataEnd),
            // The peer was in the middle of sending (its data came last, no FIN yet) when this side reset.
            CutPeerTransfer = peer.LastDataNs > 0 && peer.LastDataNs >= me.LastDataNs && !peer.FinSent && s.TimeNs - peer.LastDataNs <= ResetClassifier.MidTransferNs,
            PeerBytesAfterOwnFin = me.FinSent ? peer.BytesAfterPeerFin : 0,
        };
    }

    /// <summary>
    /// The peer's data reached the right edge of the last window this side advertised, and this side never opened it
    /// again: the application read nothing after those bytes came (Linux sends a window update as soon as a read frees
    /// space in a full window), so they sat unread. Needs both SYNs, for the window scale.
    /// </summary>
    private static bool FilledWindow(ref Dir me, ref Dir peer, uint peerDataEnd)
    {
        if (!me.AckSent || !me.SynSent || !peer.SynSent || me.LastWindowZero) return false;
        int scale = me.Scale >= 0 && peer.Scale >= 0 ? me.Scale : 0; // scaling applies only when both offered it
        uint right = me.LastAckSent + ((uint)me.LastWindowSent << scale);
        return (int)(peerDataEnd - right) >= 0 && (int)(peerDataEnd - me.LastAckSent) > 0;
    }

    /// <summary>The connections in the order they started, with their resets classified.</summary>
    public TcpConnection[] Finish()
    {
        var result = new TcpConnection[_count];
        for (int i = 0; i < _count; i++) result[i] = ToConnection(ref At(i));
        return result;
    }

    private static TcpConnection ToConnection(ref Conn c)
    {
        int cs = c.ClientSide, ss = 1 - cs;
        ref var cd = ref c.Dir(cs);
        ref var sd = ref c.Dir(ss);
        var facts = c.Facts with { PeerBytesAfterRst = c.PeerBytesAfterRst };
        var (reset, byTiming) = c.RstSide >= 0 ? ResetClassifier.Classify(facts) : (ResetClass.None, false);
        int unanswered = Math.Max(cd.TrailingRetrans, sd.TrailingRetrans);
        bool closed = c.RstSide >= 0 || (c.D0.FinSent && c.D1.FinSent);
        return new TcpConnection
        {
            Client = c.Key.Endpoint(cs),
            Server = c.Key.Endpoint(ss),
            OpenSeen = c.OpenSeen,
            Accepted = sd.SynAck,
            StartNs = c.FirstNs,
            EndNs = c.LastNs,
            HandshakeRttNs = c.HandshakeRttNs,
            BytesToServer = cd.Bytes,
            BytesToClient = sd.Bytes,
            Packets = c.Packets,
            SegmentsToServer = cd.Segments,
            SegmentsToClient = sd.Segments,
            RetransToServer = cd.Retrans,
            RetransToClient = sd.Retrans,
            SynRetrans = c.SynRetrans,
            ZeroWindowFromClient = cd.ZeroWindows,
            ZeroWindowFromServer = sd.ZeroWindows,
            UnansweredAtEnd = closed ? 0 : unanswered,
            UnansweredByServer = !closed && sd.TrailingRetrans > cd.TrailingRetrans,   // the server is the one whose resends got no answer
            FirstClose = c.CloseSide < 0 ? CloseKind.None : c.CloseByRst ? CloseKind.Rst : CloseKind.Fin,
            ClientClosedFirst = c.CloseSide == cs,
            Closed = closed,
            Reset = reset,
            ResetByClient = c.RstSide == cs,
            ResetNs = c.RstNs,
            RstPackets = c.RstPackets,
            UnreadBytes = reset == ResetClass.UnreadData ? ResetClassifier.UnreadBytes(facts) : 0,
            ResetAfterFullWindow = reset == ResetClass.UnreadData && (facts.AfterZeroWindow || facts.PeerFilledWindow),
            ResetByTiming = byTiming,
        };
    }

    private struct Dir
    {
        public uint Isn, MaxEnd;
        public bool HasBase, SynSent, SynAck, FinSent, LastWindowZero;
        public long Bytes, BytesAfterPeerFin, LastDataNs;
        public int Segments, Retrans, TrailingRetrans, ZeroWindows;
        public bool Gap;                        // the capture missed some of this direction's bytes
        public bool AckSent;
        public sbyte Scale;                     // window scale from this side's SYN, -1 without the option
        public uint LastAckSent;
        public ushort LastWindowSent;
        public uint LastSeq;                    // the direction's last packet, to tell a capture's second copy of it
        public ulong LastDigest;
        public long LastNs;
    }

    private struct Conn
    {
        public FlowKey Key;
        public Dir D0, D1;
        public long FirstNs, LastNs, SynNs, HandshakeRttNs, RstNs, PeerBytesAfterRst;
        public uint RstAck;
        public bool RstHasAck;
        public int Packets, SynRetrans, RstPackets, ClientSide, CloseSide, RstSide;
        public int LastDir;                     // direction of the last packet + 1; 0 before the first
        public bool OpenSeen, CloseByRst;
        public ResetFacts Facts;

        [System.Diagnostics.CodeAnalysis.UnscopedRef] public ref Dir Dir(int d) => ref d == 0 ? ref D0 : ref D1;
    }
}

/// <summary>A 4-tuple in a canonical order (lower endpoint first), so both directions find the same flow.</summary>
internal readonly struct FlowKey : IEquatable<FlowKey>
{
    private readonly ulong _aHi, _aLo, _bHi, _bLo;
    private readonly uint _ports; // a's port in the high half
    private readonly bool _v6;

    private FlowKey(ulong aHi, ulong aLo, ushort aPort, ulong bHi, ulong bLo, ushort bPort, bool v6)
    {
        _aHi = aHi; _aLo = aLo; _bHi = bHi; _bLo = bLo; _ports = (uint)aPort << 16 | bPort; _v6 = v6;
    }

    /// <summary>The key of a segment's flow; d is 0 when the segment goes from endpoint a to b.</summary>
    public static FlowKey Of(in TcpSegment s, out int d)
    {
        bool srcFirst = s.SrcHi != s.DstHi ? s.SrcHi < s.DstHi : s.SrcLo != s.DstLo ? s.SrcLo < s.DstLo : s.SrcPort <= s.DstPort;
        d = srcFirst ? 0 : 1;
        return srcFirst
            ? new FlowKey(s.SrcHi, s.SrcLo, s.SrcPort, s.DstHi, s.DstLo, s.DstPort, s.V6)
            : new FlowKey(s.DstHi, s.DstLo, s.DstPort, s.SrcHi, s.SrcLo, s.SrcPort, s.V6);
    }

    public NetEndpoint Endpoint(int side)
    {
        Span<byte> b = stackalloc byte[16];
        BinaryPrimitives.WriteUInt64BigEndian(b, side == 0 ? _aHi : _bHi);
        BinaryPrimitives.WriteUInt64BigEndian(b[8..], side == 0 ? _aLo : _bLo);
        return new NetEndpoint(new NetAddress(_v6 ? b : b[..4]), (ushort)(side == 0 ? _ports >> 16 : _ports & 0xFFFF));
    }

    public bool Equals(FlowKey o) => _aHi == o._aHi && _aLo == o._aLo && _bHi == o._bHi && _bLo == o._bLo && _ports == o._ports && _v6 == o._v6;
    public override bool Equals(object? obj) => obj is FlowKey k && Equals(k);

    public override int GetHashCode()
    {
        // Cheap multiply-xor mixing: the dictionary needs spread, not cryptographic strength.
        ulong h = _aHi * 0x9E3779B97F4A7C15UL ^ _aLo ^ (_bHi * 0xC2B2AE3D27D4EB4FUL) ^ (_bLo * 31) ^ ((ulong)_ports * 0x165667B19E3779F9UL);
        return (int)(h ^ (h >> 29) ^ (h >> 47));
    }
}
