using System.Runtime.CompilerServices;

namespace ConnDoctor.Sources.ZkLog;

/// <summary>
/// Reads the lines of a file whose layout is not ZooKeeper's own (<see cref="ZkLayout"/>): the timestamp is looked
/// for where the file's first lines had it, and searched for only when it is not there; the header is read in the
/// learned form first, then in the others. One per reader of a region: it keeps the last second decoded and, for a
/// time-only layout, the day.
/// </summary>
internal sealed class ZkLayoutLine(ZkLayout layout)
{
    private const int SearchLimit = 512;            // a prefix plus a timestamp fit in it
    private int _hint = layout.Prefix;
    private ZkHeaderForm _form = layout.Header;
    public int LastAt, LastEnd;                     // the last timestamp found: where it starts and ends
    public ZkTimeForm LastForm;
    public DateTime LastTime;                       // the time of the last line started
    private DateTime _day = layout.Date ?? default;
    private TimeSpan _lastTimeOfDay;
    private bool _json;                             // the last line started was a JSON object
    private int _jsonAt;
    private byte[]? _scratch;                       // a JSON message with escapes, unescaped

    /// <summary>
    /// The file's message lines start with a timestamp at byte 0 (no prefix, one layout): a line that starts with
    /// anything but a digit continues the message before, and the reader's scan counts it without a call, as it does
    /// for ZooKeeper's own layout.
    /// </summary>
    public readonly bool PlainContinuation = layout.Prefix == 0 && !layout.Mixed && layout.Header != ZkHeaderForm.Json;

    // The prefix every message line of the sample had (Kafka's '[', "zookeeper-1  | "): a line with the same prefix and
    // no digit where the timestamp would start continues the message before; checked before any search.
    private readonly byte[]? _fixedPrefix = layout.PrefixText is { Length: > 0 and <= 64 } p && !layout.Mixed && System.Text.Encoding.UTF8.GetByteCount(p) == layout.Prefix
        ? System.Text.Encoding.UTF8.GetBytes(p) : layout.Prefix == 1 && layout.Header == ZkHeaderForm.LevelMessage ? "["u8.ToArray() : null;

    /// <summary>Whether the line, under the file's fixed prefix, cannot start a message (a stack line).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public bool Continues(ReadOnlySpan<byte> line)
    {
        var p = _fixedPrefix;
        if (p == null) return false;
        // Kafka's '[' is the message line's own first byte: a stack line does not start with it.
        if (p.Length == 1) return line.Length == 0 || line[0] != p[0];
        return line.Length > p.Length && (uint)(line[p.Length] - '0') > 9 && line.StartsWith(p);
    }

    /// <summary>Whether the line starts a message, and its time.</summary>
    public bool TryStart(ReadOnlySpan<byte> line, out DateTime time)
    {
        time = default;
        _json = false;
        if (_form is ZkHeaderForm.Json or ZkHeaderForm.Auto && TryJson(line, out time)) return true;
        if (_form == ZkHeaderForm.Json) return false;
        if (_hint >= 0 && SameSecond(line, out time)) { LastAt = _hint; LastTime = time; _found = -1; return true; }
        int at = _hint;
        if (!(_hint >= 0 && _hint < line.Length && ZkTimestamp.TryRead(line, _hint, out LastForm, out LastEnd, out time)
              && (LastForm == layout.Time || layout.Time == ZkTimeForm.None)))
        {
            at = ZkTimestamp.Find(line, SearchLimit, out LastForm, out LastEnd, out time);
            if (at < 0) return false;
        }
        LastAt = at;
        if (LastForm == ZkTimeForm.TimeOnly) time = OnDay(time);
        time = new DateTime(time.Ticks - time.Ticks % TimeSpan.TicksPerSecond);   // to the second, as ZooKeeper's own layout is read
        LastTime = time;
        _found = at;
        return true;
    }

    /// <summary>
    /// The milliseconds of the timestamp TryStart just accepted, which it cut to the second ("...:ss,SSS" or ".SSS");
    /// 0 for a form without them, and for JSON, whose time keeps its own.
    /// </summary>
    public int Milli(ReadOnlySpan<byte> line)
    {
        if (_json || LastAt < 0) return 0;
        int i = LastAt + LastForm switch { ZkTimeForm.Date or ZkTimeForm.DateT => 19, ZkTimeForm.TimeOnly => 8, _ => -LastAt - 1 };
        if (i < 0 || i + 4 > line.Length || line[i] is not ((byte)',' or (byte)'.')) return 0;
        uint a = (uint)(line[i + 1] - '0'), b = (uint)(line[i + 2] - '0'), c = (uint)(line[i + 3] - '0');
        return a <= 9 && b <= 9 && c <= 9 ? (int)(a * 100 + b * 10 + c) : 0;
    }

    // Where TryStart found a timestamp by decoding it (not from the remembered second): kept as the hint, and its
    // second remembered, only once TryHeader has found a header after it; a stack line under a prefix with its own
    // stamp (kubectl, Docker Desktop) must not move the hint to the prefix.
    private int _found = -1;

    private void Commit(ReadOnlySpan<byte> line)
    {
        if (_found < 0) return;
        _hint = _found;
        _found = -1;
        Remember(line);
    }

    // The bytes up to the second of the last timestamp decoded: most lines share their second with the line before,
    // and one whose bytes there are the same (and whose fraction and zone are as long) is not decoded again.
    private ulong _secA, _secB, _secC;
    private int _secLength, _tailLength;          // bytes up to the seconds; bytes of fraction and zone after them
    private DateTime _secTime;
    private ZkTimeForm _secForm;                  // its form: LastForm again on a hit (a line that was no message may have reset it)

    private void Remember(ReadOnlySpan<byte> line)
    {
        _secLength = LastForm switch { ZkTimeForm.Date or ZkTimeForm.DateT => 19, ZkTimeForm.ShortDate => 17, ZkTimeForm.TimeOnly => 8, _ => 0 };
        if (_secLength == 0 || _hint + 24 > line.Length || LastEnd - _hint < _secLength) { _secLength = 0; return; }
        ref byte b = ref Unsafe.Add(ref System.Runtime.InteropServices.MemoryMarshal.GetReference(line), _hint);
        (_secA, _secB, _secC) = (Unsafe.ReadUnaligned<ulong>(ref b), Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref b, 8)), Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref b, 16)));
        _secC &= _secLength switch { 19 => 0xFFFFFFUL, 17 => 0xFFUL, _ => 0UL };
        if (_secLength == 8) _secB = 0;
        _tailLength = LastEnd - _hint - _secLength;
        _secTime = LastTime;
        _secForm = LastForm;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private bool SameSecond(ReadOnlySpan<byte> line, out DateTime time)
    {
        time = default;
        if (_secLength == 0 || _hint + 24 > line.Length) return false;
        ref byte b = ref Unsafe.Add(ref System.Runtime.InteropServices.MemoryMarshal.GetReference(line), _hint);
        ulong a = Unsafe.ReadUnaligned<ulong>(ref b), bb = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref b, 8)), c = Unsafe.ReadUnaligned<ulong>(ref Unsafe.Add(ref b, 16));
        c &= _secLength switch { 19 => 0xFFFFFFUL, 17 => 0xFFUL, _ => 0UL };
        if (_secLength == 8) bb = 0;
        if (a != _secA || bb != _secB || c != _secC) return false;
        // The fraction and zone: as many bytes as last time, all digits, ',' '.' 'Z' '+' '-' ':'.
        int end = _hint + _secLength + _tailLength;
        if (end > line.Length || (end < line.Length && (uint)(line[end] - '0') <= 9)) return false;
        for (int i = _hint + _secLength; i < end; i++)
            if (!((uint)(line[i] - '0') <= 9 || line[i] is (byte)',' or (byte)'.' or (byte)'Z' or (byte)'+' or (byte)'-' or (byte)':')) return false;
        LastEnd = end;
        LastForm = _secForm;
        time = _secTime;
        if (LastForm == ZkTimeForm.TimeOnly) _lastTimeOfDay = time.TimeOfDay;
        return true;
    }

    // A time of day on the layout's date; a step back of more than 12 hours is the next day.
    private DateTime OnDay(DateTime t)
    {
        var tod = t.TimeOfDay;
        if (_lastTimeOfDay - tod > TimeSpan.FromHours(12)) _day = _day.AddDays(1);
        _lastTimeOfDay = tod;
        return _day == default ? t : _day + tod;
    }

    private static ReadOnlySpan<byte> MessageKey => "\"message\""u8;

    private bool TryJson(ReadOnlySpan<byte> line, out DateTime time)
    {
        time = default;
        int brace = line.Length > 0 && line[0] == '{' ? 0 : line[..Math.Min(line.Length, SearchLimit)].IndexOf((byte)'{');
        if (brace < 0 || !ZkHeader.JsonValue(line[brace..], MessageKey, out _, out _, out _)) return false;
        var obj = line[brace..];
        foreach (var key in TimeKeys())
        {
            if (!ZkHeader.JsonValue(obj, key, out int s, out int e, out bool quoted)) continue;
            if (quoted)
            {
                if (!ZkTimestamp.TryRead(obj[..e], s, out LastForm, out _, out time)) continue;
                if (LastForm == ZkTimeForm.TimeOnly) time = OnDay(time);
            }
            else
            {
                if (!System.Buffers.Text.Utf8Parser.TryParse(obj[s..e], out double v, out _)) continue;
                double ms = v > 1e11 ? v : v * 1000;       // milliseconds, or seconds with a fraction
                if (ms is < 0 or > 253402300799000) continue;
                time = DateTime.UnixEpoch.AddMilliseconds(ms);
                time = DateTime.SpecifyKind(time, DateTimeKind.Unspecified);
                LastForm = ZkTimeForm.Epoch;
            }
            (_json, _jsonAt, LastAt, LastEnd, LastTime) = (true, brace, brace, brace, time);
            return true;
        }
        return false;
    }

    private static ReadOnlySpan<byte> K1 => "\"@timestamp\""u8;
    private static ReadOnlySpan<byte> K2 => "\"timestamp\""u8;
    private static ReadOnlySpan<byte> K3 => "\"timeMillis\""u8;
    private static ReadOnlySpan<byte> K4 => "\"time\""u8;
    private static ReadOnlySpan<byte> K5 => "\"date\""u8;

    private static KeyList TimeKeys() => default;

    private ref struct KeyList
    {
        private int _i;
        public KeyList GetEnumerator() => this;
        public ReadOnlySpan<byte> Current => _i switch { 1 => K1, 2 => K2, 3 => K3, 4 => K4, _ => K5 };
        public bool MoveNext() => ++_i <= 5;
    }

    private static ReadOnlySpan<byte> LoggerKeys(int i) => i switch { 0 => "\"logger\""u8, 1 => "\"loggerName\""u8, 2 => "\"logger_name\""u8, _ => "\"log.logger\""u8 };

    /// <summary>The header of the line TryStart just accepted, in the learned form first.</summary>
    public bool TryHeader(ReadOnlySpan<byte> line, out ZkHeaderParts parts)
    {
        if (_json)
        {
            parts = default;
            var obj = line[_jsonAt..];
            ZkHeader.JsonValue(obj, MessageKey, out int s, out int e, out _);
            (parts.Form, parts.Message, parts.MessageEnd, parts.Open, parts.Close) = (ZkHeaderForm.Json, _jsonAt + s, _jsonAt + e, -1, -1);
            for (int i = 0; i < 4; i++)
                if (ZkHeader.JsonValue(obj, LoggerKeys(i), out int ls, out int le, out bool q) && q && le > ls)
                {
                    int dot = obj[ls..le].LastIndexOf((byte)'.');
                    (parts.Open, parts.Close) = (_jsonAt + (dot >= 0 ? ls + dot : ls - 1), _jsonAt + le);
                    break;
                }
            return true;
        }
        parts = default;
        // The learned form first; a line of another layout (a collector merging two sources) is read by its own.
        if (_form != ZkHeaderForm.Auto && ZkHeader.TryParse(line, LastEnd, _form, out parts) || !layout.Forced && ZkHeader.TryParse(line, LastEnd, ZkHeaderForm.Auto, out parts))
        {
            Commit(line);
            return true;
        }
        _found = -1;
        return false;
    }

    /// <summary>The message of the line into <paramref name="r"/>, as <see cref="ZkLogLine"/> classifies ZooKeeper's own.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Classify(ReadOnlySpan<byte> text, int length, in ZkHeaderParts parts, ref ZkLine r, ZkAddressMemo? addresses)
    {
        r = new ZkLine { Count = 1, Timestamped = true };
        if (parts.Form == ZkHeaderForm.Json) ClassifyJson(text, length, parts, ref r, addresses);
        else ZkLogLine.ClassifyMessageInline(text[parts.Message..], parts.MessageEnd - parts.Message, ref r, addresses);
        (r.LocationOpen, r.LocationClose) = parts.Open >= 0 && parts.Close - 8 >= 0 && parts.Close > parts.Open ? (parts.Open, parts.Close) : (-1, -1);
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private void ClassifyJson(ReadOnlySpan<byte> text, int length, in ZkHeaderParts parts, ref ZkLine r, ZkAddressMemo? addresses)
    {
        var line = text[..length];
        var m = line[parts.Message..parts.MessageEnd];
        if (m.IndexOf((byte)'\\') >= 0)
        {
            if (_scratch == null || _scratch.Length < m.Length + 64) _scratch = new byte[Math.Max(4096, m.Length + 64)];
            int n = ZkHeader.Unescape(m, _scratch);
            ZkLogLine.ClassifyMessage(_scratch, n, ref r, null);
        }
        else ZkLogLine.ClassifyMessage(text[parts.Message..], parts.MessageEnd - parts.Message, ref r, addresses);
        if (r.AwaitsEndOfStream)
        {
            // The exception is a field of the same object ("stack_trace", "throwable"): its message names the client.
            if (ZkLogLine.TryEndOfStreamAnywhere(line, ref r, null)) r.AwaitsEndOfStream = false;
        }
    }
}
