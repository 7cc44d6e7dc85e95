using System.Buffers.Binary;
using System.Text;
using ConnDoctor.Sources.Watch;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.Watch;

/// <summary>
/// The binary reader's page decoding on a real page of kernel 6.18 (fixtures/trace/raw-6.18, README there): the page
/// decodes to the very events the kernel printed for the same records, and cut, corrupt or foreign pages are counted,
/// never thrown.
/// </summary>
public class RawTracePageTests
{
    private static string Dir => Path.Combine(Fixtures.Dir("trace"), "raw-6.18");
    private static string Text(string f) => File.ReadAllText(Path.Combine(Dir, f));

    internal static TracePageDecoder Decoder(Func<string, string>? edit = null)
    {
        edit ??= s => s;
        var page = RingBufferLayout.Parse(Text("header_page"), Text("header_event"), out var why) ?? throw new InvalidOperationException(why);
        var set = TraceEventFormat.Parse(edit(Text("inet_sock_set_state.format")), out why) ?? throw new InvalidOperationException(why);
        var send = TraceEventFormat.Parse(Text("tcp_send_reset.format"), out why) ?? throw new InvalidOperationException(why);
        var recv = TraceEventFormat.Parse(Text("tcp_receive_reset.format"), out why) ?? throw new InvalidOperationException(why);
        return TracePageDecoder.Create(page, set, send, recv, out why) ?? throw new InvalidOperationException(why);
    }

    private static byte[] Page() => File.ReadAllBytes(Path.Combine(Dir, "cpu0-page0.bin"));

    private static List<TraceEvent> Decode(byte[] page, out TracePageDecoder.PageStats stats)
    {
        var list = new List<TraceEvent>();
        stats = default;
        Decoder().Decode(page, list, ref stats);
        return list;
    }

    internal static void AssertSame(TraceEvent text, TraceEvent raw, bool exactTime = true, string? where = null)
    {
        where ??= $"{text.Kind} {text.Src}->{text.Dst} at {text.TimestampSec:F6}";
        Assert.True(text.Kind == raw.Kind, $"kind: {where}");
        Assert.True(text.Pid == raw.Pid, $"pid {text.Pid} != {raw.Pid}: {where}");
        Assert.True(text.Src == raw.Src, $"src {raw.Src}: {where}");
        Assert.True(text.Dst == raw.Dst, $"dst {raw.Dst}: {where}");
        Assert.True(text.OldState == raw.OldState && text.NewState == raw.NewState, $"states {raw.OldState}->{raw.NewState}: {where}");
        Assert.True(text.Reason == raw.Reason, $"reason {raw.Reason}: {where}");
        Assert.True(text.InInterrupt == raw.InInterrupt, $"interrupt {raw.InInterrupt}: {where}");
        if (exactTime) Assert.True(text.TimestampSec == raw.TimestampSec, $"time {raw.TimestampSec:F6}: {where}");
    }

    [Fact]
    public void ThePageDecodesToTheEventsTheKernelPrintedForIt()
    {
        var expected = File.ReadAllLines(Path.Combine(Dir, "trace.txt"))
            .Select(l => TraceLineParser.TryParse(Encoding.UTF8.GetBytes(l), out var ev) ? ev : throw new FormatException(l)).ToList();
        var got = Decode(Page(), out var stats);
        Assert.Equal(0, stats.Malformed);
        Assert.False(stats.MissedSome);
        Assert.Equal(expected.Count, got.Count);
        for (int i = 0; i < got.Count; i++) AssertSame(expected[i], got[i]);
        // What the exchange holds: both families, resets both ways with their reasons, and softirq context.
        Assert.Contains(got, e => e.Src.Address.IsV6 && e.Kind == TraceEventKind.SetState);
        Assert.Contains(got, e => e.Kind == TraceEventKind.SendReset && e.Reason == "TCP_ABORT_ON_CLOSE" && e.Src.Address.IsV6);
        Assert.Contains(got, e => e.Kind == TraceEventKind.SendReset && e.Reason == "NO_SOCKET" && e.NewState == Model.TcpState.Unknown);
        Assert.Contains(got, e => e.Kind == TraceEventKind.ReceiveReset);
        Assert.Contains(got, e => e.InInterrupt);
    }

    [Fact]
    public void ACutPageIsCountedAndWhatItHeldBeforeTheCutStays()
    {
        var full = Decode(Page(), out _);
        // The commit word says 2632 bytes of data; a read that returned fewer is one malformed page, nothing decoded.
        var cut = Decode(Page()[..200], out var s1);
        Assert.Empty(cut);
        Assert.Equal(1, s1.Malformed);
        // A record whose length runs past the data: the records before it stay, the rest of the page is skipped.
        var page = Page();
        int off = 16 + 76 * 3; // set_state records are 4 + 72 bytes: the fourth record's header
        BinaryPrimitives.WriteUInt32LittleEndian(page.AsSpan(off), 0);      // type_len 0: the length follows
        BinaryPrimitives.WriteUInt32LittleEndian(page.AsSpan(off + 4), 60_000);
        var partial = Decode(page, out var s2);
        Assert.Equal(3, partial.Count);
        Assert.Equal(1, s2.Malformed);
        for (int i = 0; i < 3; i++) AssertSame(full[i], partial[i]);
        // A record of an event id that is none of ours (another event or a marker written into the instance): counted.
        page = Page();
        BinaryPrimitives.WriteUInt16LittleEndian(page.AsSpan(16 + 4), 1);
        var foreign = Decode(page, out var s3);
        Assert.Equal(full.Count - 1, foreign.Count);
        Assert.Equal(1, s3.Malformed);
    }

    [Fact]
    public void GarbagePagesNeverThrow()
    {
        var rnd = new Random(23);
        var decoder = Decoder();
        var list = new List<TraceEvent>();
        int malformed = 0;
        for (int i = 0; i < 2000; i++)
        {
            var page = new byte[i % 3 == 0 ? rnd.Next(0, 4096) : 4096];
            rnd.NextBytes(page);
            if (i % 2 == 0 && page.Length >= 16) BinaryPrimitives.WriteUInt32LittleEndian(page.AsSpan(8), (uint)rnd.Next(0, 4080)); // a plausible commit
            var stats = new TracePageDecoder.PageStats();
            decoder.Decode(page, list, ref stats);
            malformed += stats.Malformed;
        }
        Assert.True(malformed > 1000, $"{malformed} malformed");
    }

    [Fact]
    public void EventsLostBeforeAPageAreCountedFromItsHeader()
    {
        var page = Page();
        uint commit = BinaryPrimitives.ReadUInt32LittleEndian(page.AsSpan(8));
        int len = (int)(commit & ((1u << 27) - 1));
        // What ring_buffer_read_page does after an overrun: the count after the data, bits 31 (lost) and 30 (count stored).
        BinaryPrimitives.WriteUInt64LittleEndian(page.AsSpan(16 + len), 4711);
        BinaryPrimitives.WriteUInt32LittleEndian(page.AsSpan(8), commit | (1u << 31) | (1u << 30));
        var got = Decode(page, out var stats);
        Assert.True(stats.MissedSome);
        Assert.Equal(4711, stats.Missed);
        Assert.Equal(Decode(Page(), out _).Count, got.Count);
        // Lost, count not stored (no room after the data): flagged, counted as unknown.
        BinaryPrimitives.WriteUInt32LittleEndian(page.AsSpan(8), commit | (1u << 31));
        Decode(page, out stats);
        Assert.True(stats.MissedSome);
        Assert.Equal(0, stats.Missed);
    }

    [Fact]
    public void AFormatWithoutAFieldTheReaderNeedsIsRefusedWithItsName()
    {
        var page = RingBufferLayout.Parse(Text("header_page"), Text("header_event"), out _)!;
        var set = TraceEventFormat.Parse(string.Join('\n', Text("inet_sock_set_state.format").Split('\n').Where(l => !l.Contains("newstate;"))), out _)!;
        var send = TraceEventFormat.Parse(Text("tcp_send_reset.format"), out _)!;
        var recv = TraceEventFormat.Parse(Text("tcp_receive_reset.format"), out _)!;
        Assert.Null(TracePageDecoder.Create(page, set, send, recv, out var why));
        Assert.Contains("newstate", why);
        // A record header of another shape (a future kernel): refused before any page is read.
        Assert.Null(RingBufferLayout.Parse(Text("header_page"), Text("header_event").Replace("27 bits", "26 bits"), out why));
        Assert.Contains("time_delta", why);
        Assert.Null(TraceEventFormat.Parse("garbage", out why));
    }

    [Fact]
    public void FieldOffsetsComeFromTheFormatFile()
    {
        // The same page with inet_sock_set_state's sport and dport described swapped: the reader follows the file.
        var swapped = Decoder(f => f.Replace("offset:24;", "offset:XX;").Replace("offset:26;", "offset:24;").Replace("offset:XX;", "offset:26;"));
        var list = new List<TraceEvent>();
        var stats = new TracePageDecoder.PageStats();
        swapped.Decode(Page(), list, ref stats);
        var normal = Decode(Page(), out _);
        var a = normal.First(e => e.Kind == TraceEventKind.SetState && e.Src.Port != 0 && e.Dst.Port != 0);
        var b = list[normal.IndexOf(a)];
        Assert.Equal(a.Src.Port, b.Dst.Port);
        Assert.Equal(a.Dst.Port, b.Src.Port);
    }

    /// <summary>
    /// Kernels before 6.10 (tcp_send_reset of the tcp_event_sk_skb class: family, ports, address fields) and 4.18-5.5
    /// (inet_sock_set_state's protocol a __u8): fixtures/trace/older, README there. Records written at the offsets those
    /// files give decode to the same events; an SCTP transition (protocol 132 in the one byte) is not TCP.
    /// </summary>
    [Fact]
    public void OlderKernelsLayoutsAreReadInBinary()
    {
        string Older(string f) => File.ReadAllText(Path.Combine(Fixtures.Dir("trace"), "older", f));
        var page = RingBufferLayout.Parse(Text("header_page"), Text("header_event"), out _)!;
        var set = TraceEventFormat.Parse(Older("inet_sock_set_state-4.18.format"), out _)!;
        var send = TraceEventFormat.Parse(Older("tcp_send_reset-6.9.format"), out _)!;
        var recv = TraceEventFormat.Parse(Text("tcp_receive_reset.format"), out _)!;
        var decoder = TracePageDecoder.Create(page, set, send, recv, out var why);
        Assert.True(decoder != null, why);

        byte[] Record(TraceEventFormat f, int pid, Action<byte[], Func<string, int>> fill)
        {
            var r = new byte[(f.Fields.Values.Max(x => x.Offset + x.Size) + 3) / 4 * 4];
            BinaryPrimitives.WriteUInt16LittleEndian(r, (ushort)f.Id);
            BinaryPrimitives.WriteInt32LittleEndian(r.AsSpan(f.Fields["common_pid"].Offset), pid);
            fill(r, name => f.Fields[name].Offset);
            return r;
        }
        void Ends(byte[] r, Func<string, int> at, ushort family, ushort sport, ushort dport, byte[] sa, byte[] da)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(r.AsSpan(at("family")), family);
            BinaryPrimitives.WriteUInt16LittleEndian(r.AsSpan(at("sport")), sport);
            BinaryPrimitives.WriteUInt16LittleEndian(r.AsSpan(at("dport")), dport);
            sa.CopyTo(r, at(sa.Length == 4 ? "saddr" : "saddr_v6"));
            da.CopyTo(r, at(da.Length == 4 ? "daddr" : "daddr_v6"));
        }
        byte[] lo = [127, 0, 0, 1], peer = [10, 0, 0, 2];
        var v6 = System.Net.IPAddress.Parse("fd00::5").GetAddressBytes();
        var records = new[]
        {
            Record(set, 4711, (r, at) => { Ends(r, at, 2, 41234, 2181, lo, peer); r[at("protocol")] = 6; r[at("oldstate")] = 7; r[at("newstate")] = 2; }),
            Record(set, 4711, (r, at) => { Ends(r, at, 2, 41235, 2181, lo, peer); r[at("protocol")] = 132; r[at("oldstate")] = 7; r[at("newstate")] = 2; }),
            Record(send, 4712, (r, at) => { Ends(r, at, 2, 5555, 41236, lo, peer); r[at("state")] = 1; }),
            Record(send, 4712, (r, at) => { Ends(r, at, 10, 5556, 41237, v6, v6); r[at("state")] = 7; }),
        };
        // One page: time stamp, commit (bytes of data), then each record behind a header of type_len = its words, delta 1000 ns.
        var buf = new byte[page.PageSize];
        BinaryPrimitives.WriteUInt64LittleEndian(buf.AsSpan(page.TimestampOffset), 5_000_000_000);
        int pos = page.DataOffset;
        foreach (var r in records)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(buf.AsSpan(pos), (uint)(r.Length / 4) | 1000u << 5);
            r.CopyTo(buf, pos + 4);
            pos += 4 + r.Length;
        }
        BinaryPrimitives.WriteUInt32LittleEndian(buf.AsSpan(page.CommitOffset), (uint)(pos - page.DataOffset));
        var list = new List<TraceEvent>();
        var stats = new TracePageDecoder.PageStats();
        decoder!.Decode(buf, list, ref stats);

        Assert.Equal(3, list.Count);
        Assert.Equal(1, stats.Malformed); // the SCTP one
        Assert.Equal((TraceEventKind.SetState, "127.0.0.1:41234", "10.0.0.2:2181", ConnDoctor.Model.TcpState.Close, ConnDoctor.Model.TcpState.SynSent, 4711),
            (list[0].Kind, list[0].Src.ToString(), list[0].Dst.ToString(), list[0].OldState, list[0].NewState, list[0].Pid));
        Assert.Equal((TraceEventKind.SendReset, "127.0.0.1:5555", "10.0.0.2:41236", ConnDoctor.Model.TcpState.Established, (string?)null),
            (list[1].Kind, list[1].Src.ToString(), list[1].Dst.ToString(), list[1].NewState, list[1].Reason));
        Assert.Equal(("[fd00::5]:5556", "[fd00::5]:41237"), (list[2].Src.ToString(), list[2].Dst.ToString()));
        Assert.Equal(5.000004, list[2].TimestampSec, 6); // four records, 1 µs apart (the SCTP one too)
    }

    [Theory]
    [InlineData("0-1\n", "0,1")]
    [InlineData("0,2-4,7\n", "0,2,3,4,7")]
    [InlineData("0\n", "0")]
    [InlineData("x-1", null)]
    public void OnlineCpuListsParse(string text, string? cpus) =>
        Assert.Equal(cpus, TracefsSession.ParseCpuList(text) is { } set ? string.Join(',', set.Order()) : null);

    [Fact]
    public void SavedCommandNamesParse()
    {
        var map = TracefsSession.ParseSavedComms("31682 .NET Long Runni\n16515 bash\n\ngarbage\n7 \n"u8);
        Assert.Equal(".NET Long Runni", map[31682]);
        Assert.Equal("bash", map[16515]);
        Assert.Equal(2, map.Count);
    }
}
