using System.Buffers.Binary;
using ConnDoctor.Model;

namespace ConnDoctor.Sources.Watch;

/// <summary>
/// Decodes the binary records of the three TCP tracepoints from ring-buffer pages (per_cpu/cpuN/trace_pipe_raw) into
/// the same <see cref="TraceEvent"/>s the text parser gives for the lines the kernel would print for them.
/// Pure: a page in, events out. Layouts come from the running kernel's format files (<see cref="Create"/>).
/// <para>
/// A page (kernel/trace/ring_buffer.c, struct buffer_data_page): the time stamp of its first record, a commit word
/// (low 27 bits: bytes of data; bit 31: events were lost before this page; bit 30: their count is stored as a long
/// after the data), then records of a 4-byte header (type_len: 5 bits, time_delta: 27 bits) each: type_len 1..28 is a
/// record of type_len*4 bytes; 0 one whose length (itself included) is in the next 4 bytes; 29 padding (a discarded
/// record, or with a zero delta the end of the page's data); 30 a time extend (delta += next 4 bytes &lt;&lt; 27);
/// 31 an absolute time stamp. A record's time is the page's time plus the deltas so far (padding adds none: the
/// kernel's own reader, rb_update_read_stamp, skips it).
/// </para>
/// </summary>
internal sealed class TracePageDecoder
{
    // Flags of the record's common_flags byte (include/linux/trace_events.h, enum trace_flag_type): the text's third flags
    // column ('Z', 'z', 'H', 'h', 's') is set by NMI, hard and soft interrupt context.
    private const int FlagHardirq = 0x08, FlagSoftirq = 0x10, FlagNmi = 0x40;
    private const uint CommitMask = (1u << 27) - 1, MissedEvents = 1u << 31, MissedStored = 1u << 30;
    private const int AfInet = 2, AfInet6 = 10, IpprotoTcp = 6;

    private readonly RingBufferLayout _page;
    private readonly int _typeOff, _flagsOff, _pidOff;
    private readonly SetStateLayout _set;
    private readonly SendResetLayout _send;
    private readonly FamilyLayout _recv;
    private readonly int _setId, _sendId, _recvId;
    private readonly Dictionary<long, string>? _reasons;

    /// <summary>Protocol is -1 when the event has none; ProtocolSize 2 (5.6+) or 1 (a __u8 on 4.18-5.5).</summary>
    private readonly record struct FamilyLayout(int Family, int Protocol, int ProtocolSize, int Sport, int Dport, int Saddr, int Daddr, int Saddr6, int Daddr6);
    private readonly record struct SetStateLayout(FamilyLayout Ends, int OldState, int NewState);
    /// <summary>
    /// 6.10+: src/dest as struct sockaddr_in6-sized storage (family, big-endian port, address), state and reason. Before
    /// (the tcp_event_sk_skb class up to 6.9): the socket's own ends as family, ports and address fields
    /// (<see cref="Ends"/> set, Saddr/Daddr -1), and the state.
    /// </summary>
    private readonly record struct SendResetLayout(int Saddr, int Daddr, int State, int Reason, FamilyLayout? Ends);

    private TracePageDecoder(RingBufferLayout page, TraceEventFormat set, TraceEventFormat send, TraceEventFormat recv, out string? reason)
    {
        _page = page;
        reason = null;
        _typeOff = set.Fields["common_type"].Offset;
        _flagsOff = Off(set, "common_flags", 1, ref reason);
        _pidOff = Off(set, "common_pid", 4, ref reason);
        foreach (var f in new[] { send, recv })
            if (f.Fields.GetValueOrDefault("common_type") != set.Fields["common_type"] || f.Fields.GetValueOrDefault("common_flags") != set.Fields["common_flags"] ||
                f.Fields.GetValueOrDefault("common_pid") != set.Fields["common_pid"])
                reason ??= $"{f.Name}: its common fields differ from inet_sock_set_state's";
        _set = new SetStateLayout(Family(set, protocol: true, ref reason), Off(set, "oldstate", 4, ref reason), Off(set, "newstate", 4, ref reason));
        _recv = Family(recv, protocol: false, ref reason);
        int sendState = send.Has("state", 4) ? send.Fields["state"].Offset : -1, sendReason = send.Has("reason", 4) ? send.Fields["reason"].Offset : -1;
        _send = send.Has("saddr", 28)
            ? new SendResetLayout(send.Fields["saddr"].Offset, Off(send, "daddr", 28, ref reason), sendState, sendReason, null)
            : new SendResetLayout(-1, -1, sendState, sendReason, Family(send, protocol: false, ref reason));
        if (_send.Reason >= 0)
        {
            if (!send.Symbols.TryGetValue("reason", out _reasons)) reason ??= "tcp_send_reset: no names for its reason values";
        }
        // The state numbers the kernel prints must be ours (include/net/tcp_states.h): checked against set_state's own map.
        if (set.Symbols.TryGetValue("oldstate", out var states))
        {
            foreach (var (v, name) in states)
                if ((long)TraceLineParser.StateOf(System.Text.Encoding.ASCII.GetBytes(name)) != v) reason ??= $"inet_sock_set_state: state {v} is {name} here";
        }
        else reason ??= "inet_sock_set_state: no names for its states";
        _setId = set.Id; _sendId = send.Id; _recvId = recv.Id;
        // Every field must lie within the smallest record the kernel writes for it.
        if (reason == null && (set.Fields.Values.Any(f => f.Offset + f.Size > 4096) || send.Fields.Values.Any(f => f.Offset + f.Size > 4096)))
            reason = "fields beyond a page";
        _setLen = End(set); _sendLen = End(send); _recvLen = End(recv);
    }

    private readonly int _setLen, _sendLen, _recvLen;

    private static int End(TraceEventFormat f) => f.Fields.Values.Max(x => x.Offset + x.Size);

    private static int Off(TraceEventFormat f, string field, int size, ref string? reason)
    {
        if (f.Has(field, size)) return f.Fields[field].Offset;
        reason ??= $"{f.Name}: no {size}-byte field {field}";
        return 0;
    }

    private static FamilyLayout Family(TraceEventFormat f, bool protocol, ref string? reason) => new(
        Off(f, "family", 2, ref reason),
        protocol && f.Fields.TryGetValue("protocol", out var p) && p.Size is 1 or 2 ? p.Offset : -1, protocol && f.Fields.TryGetValue("protocol", out var q) ? q.Size : 0,
        Off(f, "sport", 2, ref reason), Off(f, "dport", 2, ref reason), Off(f, "saddr", 4, ref reason), Off(f, "daddr", 4, ref reason),
        Off(f, "saddr_v6", 16, ref reason), Off(f, "daddr_v6", 16, ref reason));

    /// <summary>A decoder for these formats, or null with the reason they are not what it understands.</summary>
    public static TracePageDecoder? Create(RingBufferLayout page, TraceEventFormat setState, TraceEventFormat sendReset, TraceEventFormat receiveReset, out string? reason)
    {
        var d = new TracePageDecoder(page, setState, sendReset, receiveReset, out reason);
        return reason == null ? d : null;
    }

    public int PageSize => _page.PageSize;

    /// <summary>What one page held beside its events.</summary>
    public struct PageStats
    {
        /// <summary>Records that could not be decoded, or a page whose header or record lengths do not fit (the rest of it skipped).</summary>
        public int Malformed;
        /// <summary>Events the kernel dropped before this page, when it could store their count.</summary>
        public long Missed;
        /// <summary>The kernel dropped events before this page (the count may be unknown).</summary>
        public bool MissedSome;
    }

    /// <summary>Appends the page's events to <paramref name="into"/> (times in seconds, to the microsecond as the text prints them).</summary>
    public void Decode(ReadOnlySpan<byte> page, List<TraceEvent> into, ref PageStats stats)
    {
        if (page.Length < _page.DataOffset) { stats.Malformed++; return; }
        ulong ts = BinaryPrimitives.ReadUInt64LittleEndian(page[_page.TimestampOffset..]);
        uint commit = BinaryPrimitives.ReadUInt32LittleEndian(page[_page.CommitOffset..]); // the flags are in the low word either way
        int len = (int)(commit & CommitMask);
        var data = page[_page.DataOffset..];
        if (len > data.Length || len > _page.DataSize) { stats.Malformed++; return; }
        if ((commit & MissedEvents) != 0)
        {
            stats.MissedSome = true;
            if ((commit & MissedStored) != 0 && len + 8 <= data.Length) stats.Missed += (long)BinaryPrimitives.ReadUInt64LittleEndian(data[len..]);
        }
        data = data[..len];
        int pos = 0;
        while (pos + 4 <= data.Length)
        {
            uint h = BinaryPrimitives.ReadUInt32LittleEndian(data[pos..]);
            int typeLen = (int)(h & 31);
            uint delta = h >> 5;
            switch (typeLen)
            {
                case 29: // padding: the end of the data when its delta is 0, else a discarded record of array[0] more bytes
                    if (delta == 0) return;
                    if (pos + 8 > data.Length) { stats.Malformed++; return; }
                    uint pad = BinaryPrimitives.ReadUInt32LittleEndian(data[(pos + 4)..]);
                    if (pad > (uint)(data.Length - pos - 4)) { stats.Malformed++; return; }
                    pos += 4 + (int)pad;
                    continue;
                case 30: // time extend
                case 31: // absolute time stamp (its 5 high bits dropped: taken from the time so far, as rb_fix_abs_ts does)
                {
                    if (pos + 8 > data.Length) { stats.Malformed++; return; }
                    ulong t = ((ulong)BinaryPrimitives.ReadUInt32LittleEndian(data[(pos + 4)..]) << 27) + delta;
                    if (typeLen == 30) ts += t;
                    else
                    {
                        const ulong Msb = 0xf8UL << 56;
                        if ((ts & Msb) != 0) { t |= ts & Msb; if (t < ts) t += 1UL << 59; }
                        ts = t;
                    }
                    pos += 8;
                    continue;
                }
            }
            int start, size;
            if (typeLen == 0)
            {
                if (pos + 8 > data.Length) { stats.Malformed++; return; }
                uint l = BinaryPrimitives.ReadUInt32LittleEndian(data[(pos + 4)..]);
                if (l < 4 || l > (uint)(data.Length - pos - 4)) { stats.Malformed++; return; }
                start = pos + 8; size = (int)l - 4;
            }
            else { start = pos + 4; size = typeLen * 4; }
            if (start + size > data.Length) { stats.Malformed++; return; }
            pos = start + size;
            ts += delta;
            if (Record(data.Slice(start, size), ts, out var ev)) into.Add(ev);
            else stats.Malformed++;
        }
    }

    /// <summary>One record: false when it is none of the three or does not read (a family or protocol the text would not print as TCP).</summary>
    private bool Record(ReadOnlySpan<byte> r, ulong ns, out TraceEvent ev)
    {
        ev = default;
        if (r.Length < 8) return false;
        int id = BinaryPrimitives.ReadUInt16LittleEndian(r[_typeOff..]);
        int need = id == _setId ? _setLen : id == _sendId ? _sendLen : id == _recvId ? _recvLen : int.MaxValue;
        if (r.Length < need) return false;
        ev.Pid = BinaryPrimitives.ReadInt32LittleEndian(r[_pidOff..]);
        ev.InInterrupt = (r[_flagsOff] & (FlagHardirq | FlagSoftirq | FlagNmi)) != 0;
        ev.Comm = "";
        // The text prints microseconds, rounded (ns2usecs); the same double as parsing "secs.usecs".
        ev.TimestampSec = ((ns + 500) / 1000) / 1e6;
        if (id == _setId)
        {
            ev.Kind = TraceEventKind.SetState;
            if (!Ends(r, _set.Ends, ref ev)) return false;
            ev.OldState = State(BinaryPrimitives.ReadInt32LittleEndian(r[_set.OldState..]));
            ev.NewState = State(BinaryPrimitives.ReadInt32LittleEndian(r[_set.NewState..]));
            return ev.OldState != TcpState.Unknown && ev.NewState != TcpState.Unknown;
        }
        if (id == _recvId)
        {
            ev.Kind = TraceEventKind.ReceiveReset;
            return Ends(r, _recv, ref ev);
        }
        ev.Kind = TraceEventKind.SendReset;
        if (_send.Ends is { } ends) { if (!Ends(r, ends, ref ev)) return false; }
        else if (!SockAddr(r.Slice(_send.Saddr, 28), out ev.Src) || !SockAddr(r.Slice(_send.Daddr, 28), out ev.Dst)) return false;
        ev.NewState = _send.State >= 0 ? State(BinaryPrimitives.ReadInt32LittleEndian(r[_send.State..])) : TcpState.Unknown;
        if (_send.Reason >= 0)
        {
            uint v = BinaryPrimitives.ReadUInt32LittleEndian(r[_send.Reason..]);
            ev.Reason = _reasons!.TryGetValue(v, out var name) ? name : UnknownReason(v);
        }
        return true;
    }

    private static string UnknownReason(uint v) => $"0x{v:x}"; // what __print_symbolic prints for a value without a name

    private static TcpState State(int v) => v is >= 1 and <= 12 ? (TcpState)v : TcpState.Unknown;

    /// <summary>family, sport/dport (host order, as the tracepoint stores them), and the v4 or v6 pair of addresses.</summary>
    private static bool Ends(ReadOnlySpan<byte> r, FamilyLayout l, ref TraceEvent ev)
    {
        int family = BinaryPrimitives.ReadUInt16LittleEndian(r[l.Family..]);
        if (family != AfInet && family != AfInet6) return false;
        if (l.Protocol >= 0 && (l.ProtocolSize == 1 ? r[l.Protocol] : BinaryPrimitives.ReadUInt16LittleEndian(r[l.Protocol..])) != IpprotoTcp)
            return false; // MPTCP/SCTP/DCCP share the tracepoint
        ushort sport = BinaryPrimitives.ReadUInt16LittleEndian(r[l.Sport..]), dport = BinaryPrimitives.ReadUInt16LittleEndian(r[l.Dport..]);
        bool v6 = family == AfInet6;
        ev.Src = new NetEndpoint(new NetAddress(v6 ? r.Slice(l.Saddr6, 16) : r.Slice(l.Saddr, 4)), sport);
        ev.Dst = new NetEndpoint(new NetAddress(v6 ? r.Slice(l.Daddr6, 16) : r.Slice(l.Daddr, 4)), dport);
        return true;
    }

    /// <summary>struct sockaddr_in (family, port, 4 bytes) or sockaddr_in6 (family, port, flow info, 16 bytes), port big-endian.</summary>
    private static bool SockAddr(ReadOnlySpan<byte> s, out NetEndpoint ep)
    {
        ep = default;
        int family = BinaryPrimitives.ReadUInt16LittleEndian(s);
        ushort port = BinaryPrimitives.ReadUInt16BigEndian(s[2..]);
        if (family == AfInet) { ep = new NetEndpoint(new NetAddress(s.Slice(4, 4)), port); return true; }
        if (family == AfInet6) { ep = new NetEndpoint(new NetAddress(s.Slice(8, 16)), port); return true; }
        return false;
    }
}
