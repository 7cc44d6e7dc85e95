using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.InteropServices;
using ConnDoctor.Analysis;
using ConnDoctor.Model;

namespace ConnDoctor.Sources.Pcap;

/// <summary>Which packets to keep, like a BPF "host ADDR and port PORT" but applied after reading.</summary>
public sealed record CaptureFilter
{
    public NetAddress? Host { get; init; }
    public ushort? Port { get; init; }

    public override string? ToString() =>
        Host is null && Port is null ? null : string.Join(" and ", new[] { Host is { } h ? $"host {h}" : null, Port is { } p ? $"port {p}" : null }.OfType<string>());
}

/// <summary>Reads a capture file into evidence: reader -> decoder -> tracker -> summaries.</summary>
public static class CaptureSource
{
    public const string SourceName = "capture";
    private const int BatchSize = 4096;

    public static Evidence Collect(string path, CaptureFilter filter)
    {
        var sw = Stopwatch.StartNew();
        // Checked first: the NativeAOT binary carries no exception message texts, only their resource keys.
        if (path != "-" && Directory.Exists(path)) throw new UserException($"{path} is a directory, not a capture file");
        if (path != "-" && !File.Exists(path)) throw new UserException($"cannot read {path}: no such file");
        Stream stream;
        try
        {
            stream = path == "-" ? Console.OpenStandardInput() : new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1, FileOptions.SequentialScan);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new UserException($"cannot read {path}: {(ex is UnauthorizedAccessException ? "permission denied" : ex.Message)}");
        }
        using var reader = new PcapReader(stream, path);
        var unknownLinks = reader.LinkTypes.Where(l => !PacketDecoder.IsKnownLink(l)).ToList();
        if (reader.LinkTypes.Count > 0 && unknownLinks.Count == reader.LinkTypes.Count)
            throw new UserException($"{path}: unsupported link type {Unsupported(unknownLinks)} (supported: {Supported}); capture with tcpdump -i ANY_INTERFACE");

        var skipped = new long[Enum.GetValues<DecodeResult>().Length + 1];
        int filteredOut = skipped.Length - 1;
        long tcp = 0, first = long.MaxValue, last = long.MinValue;
        (ulong Hi, ulong Lo) host = default;
        if (filter.Host is NetAddress h)
        {
            Span<byte> b = stackalloc byte[16];
            h.WriteBytes(b);
            host = (BinaryPrimitives.ReadUInt64BigEndian(b), h.IsV6 ? BinaryPrimitives.ReadUInt64BigEndian(b[8..]) : 0);
        }
        // Reading and decoding is cheap; following connections is not. This thread reads and decodes, and
        // hands batches to one tracker per core, each owning the flows whose hash falls to it.
        var lanes = Enumerable.Range(0, Math.Clamp(Environment.ProcessorCount, 1, 4)).Select(_ => new Lane()).ToArray();
        var tunnels = new Dictionary<TunnelKey, long>();
        try
        {
            while (reader.Next(out var raw))
            {
                var seg = new TcpSegment();
                var tunnel = new TunnelInfo();
                var r = PacketDecoder.Decode(raw.LinkType, raw.Data, ref seg, ref tunnel);
                if (tunnel.Kind != TunnelKind.None) CollectionsMarshal.GetValueRefOrAddDefault(tunnels, TunnelKey.Of(tunnel), out _)++;
                if (r != DecodeResult.Tcp) { skipped[(int)r]++; continue; }
                if ((filter.Port is ushort port && seg.SrcPort != port && seg.DstPort != port) ||
                    (filter.Host is NetAddress ha && (seg.V6 != ha.IsV6 || ((seg.SrcHi, seg.SrcLo) != host && (seg.DstHi, seg.DstLo) != host))))
                {
                    skipped[filteredOut]++;
                    continue;
                }
                seg.TimeNs = raw.TimeNs;
                if (raw.TimeNs < first) first = raw.TimeNs;
                if (raw.TimeNs > last) last = raw.TimeNs;
                tcp++;
                // Symmetric in the two endpoints, so both directions of a flow reach the same lane.
                uint mix = (uint)(seg.SrcPort ^ seg.DstPort) ^ (uint)((seg.SrcHi ^ seg.DstHi ^ seg.SrcLo ^ seg.DstLo) >> 32);
                lanes[(int)((mix * 0x9E3779B1u) >> 16) % lanes.Length].Add(seg);
            }
        }
        finally
        {
            foreach (var lane in lanes) lane.Complete();
        }
        // Concatenated, not sorted: consumers group and order what they show.
        var conns = lanes.Length == 1 ? lanes[0].Connections : new TcpConnection[lanes.Sum(l => l.Connections.Length)];
        if (lanes.Length > 1)
        {
            int at = 0;
            foreach (var lane in lanes) { lane.Connections.CopyTo(conns, at); at += lane.Connections.Length; }
        }
        long rsts = lanes.Sum(l => l.Tracker.RstPackets), copies = lanes.Sum(l => l.Tracker.DuplicatePackets);
        tcp -= copies; // counted once, under skipped
        if (reader.Packets > 0 && skipped[(int)DecodeResult.UnknownLink] == reader.Packets) // a pcapng whose every interface is of a kind we cannot decode
            throw new UserException($"{path}: unsupported link type {Unsupported(reader.LinkTypes.Where(l => !PacketDecoder.IsKnownLink(l)))} on every interface (supported: {Supported})");
        if (tcp == 0) first = last = 0;
        var skippedByName = new Dictionary<string, long>();
        void Skip(string name, long n) { if (n > 0) skippedByName[name] = n; }
        Skip("not IP", skipped[(int)DecodeResult.NotIp]);
        Skip("not TCP", skipped[(int)DecodeResult.NotTcp]);
        Skip("IP fragments", skipped[(int)DecodeResult.Fragment]);
        Skip("cut before the TCP header", skipped[(int)DecodeResult.Truncated]);
        Skip("unknown link type", skipped[(int)DecodeResult.UnknownLink]);
        Skip(EncryptedReason, skipped[(int)DecodeResult.Encrypted]);
        Skip(UnknownEncapsulationReason, skipped[(int)DecodeResult.UnknownEncapsulation]);
        Skip("filtered out", skipped[filteredOut]);
        Skip("second copies of a packet (the same bytes twice: tcpdump -i any on a forwarding host)", copies);
        long hidden = skipped[(int)DecodeResult.Encrypted] + skipped[(int)DecodeResult.UnknownEncapsulation];

        var capture = new CaptureEvidence
        {
            File = path,
            Format = reader.Format,
            LinkTypes = reader.LinkTypes.Select(PacketDecoder.LinkName).ToList(),
            Interfaces = reader.Interfaces,
            Sections = reader.Sections,
            Tunnels = tunnels.OrderByDescending(kv => kv.Value).ThenBy(kv => kv.Key.Kind)
                .Select(kv => new TunnelCount(PacketDecoder.TunnelName(kv.Key.Kind), kv.Key.Path, kv.Value)).ToList(),
            Packets = reader.Packets,
            TcpPackets = tcp,
            RstPackets = rsts,
            Skipped = skippedByName,
            StoppedAt = reader.StoppedAt,
            Filter = filter.ToString(),
            FirstNs = first,
            LastNs = last,
            Connections = conns,
            Pairs = CaptureSummary.Pairs(conns),
            Timeline = CaptureSummary.Timeline(conns, first, last),
        };
        string badTimes = reader.BadTimestamps > 0 ? $"; {reader.BadTimestamps} packet(s) with an impossible timestamp (corrupt) were given the time of the packet before" : "";
        // A capture whose TCP is all out of reach (encrypted, or in an encapsulation this reader cannot open) says so.
        string hiddenNote = tcp == 0 && hidden > 0 ? $"; no TCP readable: {hidden} packet(s) are {string.Join(" or ", new[] { skipped[(int)DecodeResult.Encrypted] > 0 ? EncryptedReason : null, skipped[(int)DecodeResult.UnknownEncapsulation] > 0 ? UnknownEncapsulationReason : null }.OfType<string>())}" : "";
        var status = reader.StoppedAt != null
            ? new SourceStatus(SourceName, SourceState.Partial, $"stopped at {reader.StoppedAt}; what came before was read{badTimes}{hiddenNote}", conns.Length, sw.Elapsed)
            : new SourceStatus(SourceName, badTimes.Length + hiddenNote.Length > 0 ? SourceState.Partial : SourceState.Ok, $"{reader.Packets} packet(s), {conns.Length} connection(s){badTimes}{hiddenNote}", conns.Length, sw.Elapsed);
        return new Evidence { Capture = capture, Statuses = [status], CollectedAt = DateTimeOffset.UtcNow };
    }

    private const string Supported = "Ethernet, Linux cooked SLL/SLL2, raw IP, loopback, PPP, NFLOG, Linux IPoIB";
    private const string EncryptedReason = "inside encrypted tunnels (IPsec ESP, WireGuard)";
    private const string UnknownEncapsulationReason = "inside encapsulations this reader cannot open (GRE version 1, unknown GRE, Geneve or VXLAN-GPE payloads)";

    private static string Unsupported(IEnumerable<int> links) => string.Join(", ", links.Select(l => $"{l} ({PacketDecoder.UnsupportedName(l)})"));

    /// <summary>A tunnel kind and its two outer addresses in a canonical order, so both directions count as one path.</summary>
    private readonly record struct TunnelKey(TunnelKind Kind, bool V6, ulong AHi, ulong ALo, ulong BHi, ulong BLo)
    {
        public static TunnelKey Of(in TunnelInfo t) =>
            (t.SrcHi, t.SrcLo).CompareTo((t.DstHi, t.DstLo)) <= 0
                ? new(t.Kind, t.V6, t.SrcHi, t.SrcLo, t.DstHi, t.DstLo)
                : new(t.Kind, t.V6, t.DstHi, t.DstLo, t.SrcHi, t.SrcLo);

        public string Path => $"{Address(AHi, ALo)} <-> {Address(BHi, BLo)}";

        private string Address(ulong hi, ulong lo)
        {
            Span<byte> b = stackalloc byte[16];
            BinaryPrimitives.WriteUInt64BigEndian(b, hi);
            BinaryPrimitives.WriteUInt64BigEndian(b[8..], lo);
            return new NetAddress(V6 ? b : b[..4]).ToString();
        }
    }

    /// <summary>A tracker on its own thread, fed in batches; batch arrays are recycled, so nothing is allocated per packet.</summary>
    private sealed class Lane
    {
        public readonly TcpTracker Tracker = new();
        public TcpConnection[] Connections { get; private set; } = [];
        private readonly BlockingCollection<(TcpSegment[] Items, int Count)> _full = new(boundedCapacity: 4);
        private readonly BlockingCollection<TcpSegment[]> _free = new();
        private readonly Task _task;
        private TcpSegment[] _batch = new TcpSegment[BatchSize];
        private int _n;

        public Lane()
        {
            for (int i = 0; i < 5; i++) _free.Add(new TcpSegment[BatchSize]);
            _task = Task.Factory.StartNew(() =>
            {
                foreach (var (items, count) in _full.GetConsumingEnumerable())
                {
                    for (int i = 0; i < count; i++) Tracker.Add(items[i]);
                    _free.Add(items);
                }
                Connections = Tracker.Finish(); // on this lane's thread too
            }, TaskCreationOptions.LongRunning);
        }

        public void Add(in TcpSegment s)
        {
            _batch[_n++] = s;
            if (_n < BatchSize) return;
            _full.Add((_batch, _n));
            _batch = _free.Take();
            _n = 0;
        }

        public void Complete()
        {
            _full.Add((_batch, _n));
            _full.CompleteAdding();
            _task.Wait();
        }
    }
}
