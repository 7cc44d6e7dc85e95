using System.Buffers.Binary;

namespace ConnDoctor.Sources.Pcap;

/// <summary>One captured frame, valid until the next call to <see cref="PcapReader.Next"/>.</summary>
public ref struct RawPacket
{
    public ReadOnlySpan<byte> Data;
    public int LinkType;
    public long TimeNs;
    public int OriginalLength;
}

/// <summary>
/// Reads pcap (micro- and nanosecond, either byte order) and pcapng (several sections and interfaces,
/// enhanced, simple and obsolete packet blocks) from a stream in large sequential reads. Frames are spans
/// into one reused buffer: nothing is allocated per packet. A file that is cut short or corrupt ends the
/// packets early and <see cref="StoppedAt"/> says where; a file that is no capture at all is a UserException.
/// </summary>
public sealed class PcapReader : IDisposable
{
    private const uint PcapMagicUs = 0xA1B2C3D4, PcapMagicNs = 0xA1B23C4D, PcapMagicModified = 0xA1B2CD34;
    private const uint NgSection = 0x0A0D0D0A, NgInterface = 1, NgObsoletePacket = 2, NgSimplePacket = 3, NgEnhancedPacket = 6;
    private const uint NgByteOrderMagic = 0x1A2B3C4D;
    private const int MaxRecord = 16 << 20; // no real frame or block is near this: a larger length is corruption

    private readonly Stream _stream;
    private byte[] _buf = new byte[4 << 20];
    private int _pos, _end;
    private long _fileOffset; // file offset of _buf[0]
    private bool _eof;
    private long _lastNs;

    private readonly bool _ng;
    private bool _bigEndian;
    // pcap
    private int _linkType, _recordHeader = 16;
    private long _fracToNs = 1000;
    // pcapng: per interface of the current section
    private readonly List<(int LinkType, int SnapLen, long Mul, long Div, int Pow2)> _ifaces = new();

    public string Format { get; private set; } = "";
    public long Packets { get; private set; }
    /// <summary>Packets whose timestamp cannot be a time (past the year 2262 in nanoseconds: a corrupt block); given the time of the packet before.</summary>
    public long BadTimestamps { get; private set; }
    /// <summary>Where and why reading ended early; null when the file ended cleanly.</summary>
    public string? StoppedAt { get; private set; }
    /// <summary>Every link type seen (one per pcap file, one per pcapng interface).</summary>
    public SortedSet<int> LinkTypes { get; } = new();
    /// <summary>Interfaces described in the whole file (each section describes its own), 1 for pcap.</summary>
    public int Interfaces => _ng ? _interfaces : 1;
    /// <summary>pcapng section headers read so far, 1 for pcap.</summary>
    public int Sections { get; private set; } = 1;
    private int _interfaces;

    public PcapReader(Stream stream, string name)
    {
        _stream = stream;
        Fill(32);
        var head = Available;
        if (head.Length < 4) throw new UserException($"{name}: {(head.Length == 0 ? "empty file" : "too short")}, not a pcap or pcapng capture");
        uint le = BinaryPrimitives.ReadUInt32LittleEndian(head), be = BinaryPrimitives.ReadUInt32BigEndian(head);
        if (le == NgSection)
        {
            _ng = true;
            if (!ReadSectionHeader(out string? why)) throw new UserException($"{name}: not a valid pcapng file ({why})");
            return;
        }
        uint magic = le is PcapMagicUs or PcapMagicNs or PcapMagicModified ? le : be;
        _bigEndian = magic != le;
        if (magic is not (PcapMagicUs or PcapMagicNs or PcapMagicModified))
            throw new UserException((be >> 16) == 0x1F8B
                ? $"{name}: gzip-compressed, not a capture itself: gunzip it first, or zcat {name} | conndoctor pcap -"
                : $"{name}: not a pcap or pcapng capture (starts with 0x{be:x8}); write one with tcpdump -w FILE");
        if (head.Length < 24) throw new UserException($"{name}: pcap file header cut short ({head.Length} of 24 bytes)");
        _fracToNs = magic == PcapMagicNs ? 1 : 1000;
        _recordHeader = magic == PcapMagicModified ? 24 : 16;
        // The upper bits of the link-type field carry FCS information, not the type.
        _linkType = (int)(U32(head[20..]) & 0x03FF_FFFF);
        LinkTypes.Add(_linkType);
        Format = $"pcap ({(magic == PcapMagicNs ? "ns" : "us")}, {(_bigEndian ? "big" : "little")}-endian{(magic == PcapMagicModified ? ", modified" : "")})";
        _pos = 24;
    }

    private ReadOnlySpan<byte> Available => _buf.AsSpan(_pos, _end - _pos);
    private long Offset => _fileOffset + _pos;
    private uint U32(ReadOnlySpan<byte> s) => _bigEndian ? BinaryPrimitives.ReadUInt32BigEndian(s) : BinaryPrimitives.ReadUInt32LittleEndian(s);
    private ushort U16(ReadOnlySpan<byte> s) => _bigEndian ? BinaryPrimitives.ReadUInt16BigEndian(s) : BinaryPrimitives.ReadUInt16LittleEndian(s);

    /// <summary>Makes at least n bytes available from _pos unless the file ends first; returns whether it did.</summary>
    private bool Fill(int n)
    {
        if (_end - _pos >= n) return true;
        if (n > _buf.Length)
        {
            var bigger = new byte[Math.Max(n, _buf.Length * 2)];
            Array.Copy(_buf, _pos, bigger, 0, _end - _pos);
            _buf = bigger;
        }
        else Array.Copy(_buf, _pos, _buf, 0, _end - _pos);
        _fileOffset += _pos;
        _end -= _pos;
        _pos = 0;
        while (_end < n && !_eof)
        {
            int got = _stream.Read(_buf, _end, _buf.Length - _end);
            if (got == 0) _eof = true;
            _end += got;
        }
        return _end - _pos >= n;
    }

    private bool Stop(string why)
    {
        StoppedAt = $"byte {Offset} after {Packets} packet(s): {why}";
        return false;
    }

    /// <summary>The next frame, or false at the end of the file (or where it stopped being readable).</summary>
    public bool Next(out RawPacket p)
    {
        p = default;
        if (StoppedAt != null) return false;
        return _ng ? NextNg(ref p) : NextPcap(ref p);
    }

    private bool NextPcap(ref RawPacket p)
    {
        if (!Fill(_recordHeader)) return _end == _pos ? false : Stop("record header cut short (truncated file)");
        var h = Available;
        uint sec = U32(h), frac = U32(h[4..]), incl = U32(h[8..]), orig = U32(h[12..]);
        if (incl > MaxRecord) return Stop($"record claims {incl} bytes (corrupt)");
        if (!Fill(_recordHeader + (int)incl)) return Stop($"packet cut short: {_end - _pos - _recordHeader} of {incl} bytes (truncated file)");
        p.Data = _buf.AsSpan(_pos + _recordHeader, (int)incl);
        p.LinkType = _linkType;
        p.TimeNs = sec * 1_000_000_000L + frac * _fracToNs;
        p.OriginalLength = (int)Math.Min(orig, int.MaxValue);
        _pos += _recordHeader + (int)incl;
        Packets++;
        return true;
    }

    private bool NextNg(ref RawPacket p)
    {
        while (true)
        {
            if (!Fill(12)) return _end == _pos ? false : Stop("block header cut short (truncated file)");
            var h = Available;
            uint type = U32(h), len = U32(h[4..]);
            if (type == NgSection)
            {
                if (!ReadSectionHeader(out string? why)) return Stop(why!);
                continue;
            }
            if (len < 12 || len % 4 != 0 || len > MaxRecord) return Stop($"block of type {type} claims {len} bytes (corrupt)");
            if (!Fill((int)len)) return Stop($"block cut short: {_end - _pos} of {len} bytes (truncated file)");
            var block = _buf.AsSpan(_pos, (int)len);
            if (U32(block[^4..]) != len) return Stop($"block of type {type}: trailing length {U32(block[^4..])} differs from {len} (corrupt)");
            var body = block[8..^4];
            _pos += (int)len;
            switch (type)
            {
                case NgInterface:
                    if (body.Length < 8) return Stop("interface block too short (corrupt)");
                    AddInterface(body);
                    continue;
                case NgEnhancedPacket or NgObsoletePacket:
                {
                    if (body.Length < 20) return Stop("packet block too short (corrupt)");
                    uint iface = type == NgEnhancedPacket ? U32(body) : U16(body);
                    uint caplen = U32(body[12..]), orig = U32(body[16..]);
                    if (iface >= (uint)_ifaces.Count) return Stop($"packet on interface {iface}, which was never described (corrupt)");
                    if (caplen > body.Length - 20) return Stop($"packet claims {caplen} bytes in a {len}-byte block (corrupt)");
                    ulong ts = ((ulong)U32(body[4..]) << 32) | U32(body[8..]);
                    var f = _ifaces[(int)iface];
                    p.Data = body.Slice(20, (int)caplen);
                    p.LinkType = f.LinkType;
                    if (ToNs(ts, f.Mul, f.Div, f.Pow2) is long ns) p.TimeNs = _lastNs = ns;
                    else { p.TimeNs = _lastNs; BadTimestamps++; }
                    p.OriginalLength = (int)Math.Min(orig, int.MaxValue);
                    Packets++;
                    return true;
                }
                case NgSimplePacket:
                {
                    // No timestamp and no interface id: interface 0, captured length = min(original, snaplen), and
                    // the time of the packet before it (the best guess; 0 would put it in 1970).
                    if (body.Length < 4 || _ifaces.Count == 0) return Stop("simple packet block without an interface (corrupt)");
                    uint orig = U32(body);
                    var f = _ifaces[0];
                    int cap = (int)Math.Min(Math.Min(orig, f.SnapLen == 0 ? uint.MaxValue : (uint)f.SnapLen), (uint)(body.Length - 4));
                    p.Data = body.Slice(4, cap);
                    p.LinkType = f.LinkType;
                    p.TimeNs = _lastNs;
                    p.OriginalLength = (int)Math.Min(orig, int.MaxValue);
                    Packets++;
                    return true;
                }
                default:
                    continue; // statistics, name resolution, custom blocks: nothing for us
            }
        }
    }

    /// <summary>A section header: sets the byte order for what follows and forgets the previous section's interfaces.</summary>
    private bool ReadSectionHeader(out string? why)
    {
        why = null;
        if (!Fill(16)) { why = "section header cut short"; return false; }
        var h = Available;
        uint bom = BinaryPrimitives.ReadUInt32LittleEndian(h[8..]);
        if (bom == NgByteOrderMagic) _bigEndian = false;
        else if (BinaryPrimitives.ReverseEndianness(bom) == NgByteOrderMagic) _bigEndian = true;
        else { why = $"bad byte-order magic 0x{bom:x8}"; return false; }
        uint len = U32(h[4..]);
        if (len < 28 || len % 4 != 0 || len > MaxRecord) { why = $"section header claims {len} bytes"; return false; }
        if (!Fill((int)len)) { why = "section header cut short"; return false; }
        _pos += (int)len;
        if (_ng && Format.Length > 0) Sections++;
        _ifaces.Clear();
        Format = $"pcapng ({(_bigEndian ? "big" : "little")}-endian)";
        return true;
    }

    private void AddInterface(ReadOnlySpan<byte> body)
    {
        int link = U16(body);
        int snap = (int)Math.Min(U32(body[4..]), int.MaxValue);
        byte resol = 6; // if_tsresol: microseconds unless said otherwise
        var opts = body[8..];
        while (opts.Length >= 4)
        {
            ushort code = U16(opts), olen = U16(opts[2..]);
            if (code == 0 || 4 + olen > opts.Length) break;
            if (code == 9 && olen >= 1) resol = opts[4];
            opts = opts[Math.Min(opts.Length, 4 + ((olen + 3) & ~3))..];
        }
        // 10^-k seconds per tick (top bit clear) or 2^-k (top bit set).
        long mul = 1, div = 1;
        int pow2 = -1;
        if ((resol & 0x80) != 0) pow2 = Math.Min(resol & 0x7F, 62);
        else if (resol <= 9) for (int i = resol; i < 9; i++) mul *= 10;
        else for (int i = 9; i < Math.Min((int)resol, 18); i++) div *= 10;
        _ifaces.Add((link, snap, mul, div, pow2));
        _interfaces++;
        LinkTypes.Add(link);
    }

    /// <summary>Nanoseconds since 1970 of a pcapng timestamp; null when they do not fit a long (a corrupt block).</summary>
    private static long? ToNs(ulong ticks, long mul, long div, int pow2)
    {
        UInt128 ns;
        if (pow2 < 0) ns = (UInt128)ticks * (ulong)mul / (ulong)div;
        else
        {
            ulong whole = ticks >> pow2, frac = ticks & ((1UL << pow2) - 1);
            ns = (UInt128)whole * 1_000_000_000UL + (((UInt128)frac * 1_000_000_000UL) >> pow2);
        }
        return ns <= long.MaxValue ? (long)ns : null;
    }

    public void Dispose() => _stream.Dispose();
}
