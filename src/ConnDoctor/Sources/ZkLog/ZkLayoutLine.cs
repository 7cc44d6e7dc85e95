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

    /// <summary>Whether the line starts a message, and its time.</summary>
    public bool TryStart(ReadOnlySpan<byte> line, out DateTime time)
    {
        time = default;
        _json = false;
        if (_form is ZkHeaderForm.Json or ZkHeaderForm.Auto && TryJson(line, out time)) return true;
        if (_form == ZkHeaderForm.Json) return false;
        if (!(_hint >= 0 && _hint < line.Length && ZkTimestamp.TryRead(line, _hint, out LastForm, out LastEnd, out time)
              && (LastForm == layout.Time || layout.Time == ZkTimeForm.None)))
        {
            int at = ZkTimestamp.Find(line, SearchLimit, out LastForm, out LastEnd, out time);
            if (at < 0) return false;
            _hint = at;
        }
        LastAt = _hint;
        if (LastForm == ZkTimeForm.TimeOnly) time = OnDay(time);
        LastTime = time;
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
        // The learned form first; a line of another layout (a collector merging two sources) is read by its own.
        return _form != ZkHeaderForm.Auto && ZkHeader.TryParse(line, LastEnd, _form, out parts) || ZkHeader.TryParse(line, LastEnd, ZkHeaderForm.Auto, out parts);
    }

    /// <summary>The message of the line into <paramref name="r"/>, as <see cref="ZkLogLine"/> classifies ZooKeeper's own.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public void Classify(ReadOnlySpan<byte> text, int length, in ZkHeaderParts parts, ref ZkLine r, ZkAddressMemo? addresses)
    {
        r = new ZkLine { Count = 1, Timestamped = true };
        var line = text[..length];
        if (parts.Form == ZkHeaderForm.Json)
        {
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
        else ZkLogLine.ClassifyMessage(text[parts.Message..], parts.MessageEnd - parts.Message, ref r, addresses);
        (r.LocationOpen, r.LocationClose) = parts.Open >= 0 && parts.Close - 8 >= 0 && parts.Close > parts.Open ? (parts.Open, parts.Close) : (-1, -1);
    }
}
