using System.Text;

namespace ConnDoctor.Sources.ZkLog;

/// <summary>
/// The layout of one log file, learned once from its first lines: where the timestamp starts (after what prefix),
/// how it is written and what stands between it and the message. ZooKeeper's own layout keeps the fast path of
/// <see cref="ZkLogLine"/>; any other is read by <see cref="ZkLayoutLine"/>, which checks the learned places first
/// and searches only when a line differs (a file with several layouts is read line by line).
/// </summary>
public sealed record ZkLayout
{
    public required string Name { get; init; }          // e.g. "kafka [%d] %p %m (%c)"
    public ZkHeaderForm Header { get; init; }
    public ZkTimeForm Time { get; init; }
    public int Prefix { get; init; }                     // bytes before the timestamp on most lines
    public string? PrefixText { get; init; }             // what the prefix looked like on the first line, for the output
    public DateTime? Date { get; init; }                 // time-only layouts: the date of the file's first line
    public string? DateFrom { get; init; }               // where that date came from: "the file name", "the file's modification time"
    public bool Mixed { get; init; }                     // the first lines had several layouts
    public bool Forced { get; init; }                    // --layout: every line is read in this header form only

    public bool IsStock => Header == ZkHeaderForm.Stock && Prefix == 0 && Time == ZkTimeForm.Date && !Mixed;
    public bool TimeOnly => Time == ZkTimeForm.TimeOnly;

    public static readonly ZkLayout Stock = new() { Name = StockName, Header = ZkHeaderForm.Stock, Time = ZkTimeForm.Date };
    internal const string StockName = "zookeeper %d [myid:N] - %-5p [%t:%C{1}@%L] - %m";

    /// <summary>The names --layout takes, each with the header form it forces.</summary>
    public static readonly IReadOnlyList<(string Name, ZkHeaderForm Form, string Pattern)> Named =
    [
        ("stock", ZkHeaderForm.Stock, "%d [myid:N] - %-5p [%t:%C{1}@%L] - %m (ZooKeeper's log4j.properties and logback.xml)"),
        ("kafka", ZkHeaderForm.LevelMessage, "[%d] %p %m (%c) (Kafka and Confluent)"),
        ("strimzi", ZkHeaderForm.LevelMessage, "%d %p %m (%c) [%t] (Strimzi)"),
        ("cloudera", ZkHeaderForm.LevelClass, "%d %p %c: %m (Cloudera Manager)"),
        ("hadoop", ZkHeaderForm.LevelClass, "%d{yy/MM/dd HH:mm:ss} %p %c{2}: %m (Hadoop/HBase console)"),
        ("logback", ZkHeaderForm.LoggerDash, "%d [%thread] %-5level %logger{36} - %msg (logback and log4j2 defaults)"),
        ("json", ZkHeaderForm.Json, "one JSON object per line (logback JsonEncoder, logstash encoder, log4j2 JsonLayout)"),
    ];

    public static ZkHeaderForm? FormOf(string name) =>
        name == "auto" ? ZkHeaderForm.Auto : Named.FirstOrDefault(n => n.Name == name) is { Name: not null } n ? n.Form : null;

    /// <summary>
    /// Learns the layout from <paramref name="head"/>, the first bytes of a file (up to its first 200 lines are read).
    /// <paramref name="forced"/> (--layout) fixes the header form. Null when no line has a timestamp.
    /// </summary>
    public static ZkLayout? Detect(ReadOnlySpan<byte> head, string? path, ZkHeaderForm forced = ZkHeaderForm.Auto, DateTime? modified = null)
    {
        if (head.StartsWith("\uFEFF"u8)) head = head[3..];
        var forms = new Dictionary<(ZkHeaderForm, ZkTimeForm, bool Trailer), int>();
        var prefixes = new Dictionary<int, int>();
        int stock = 0, timestamped = 0, lines = 0;
        string? firstPrefix = null;
        DateTime? firstTime = null;
        foreach (var range in head.Split((byte)'\n'))
        {
            if (++lines > 200) break;
            var line = head[range];
            if (line.Length > 0 && line[^1] == '\r') line = line[..^1];
            if (line.Length == 0) continue;
            if (forced != ZkHeaderForm.Json && ZkLogLine.IsTimestamp(line) && forced is ZkHeaderForm.Auto or ZkHeaderForm.Stock
                && ZkHeader.TryParse(line, 23, ZkHeaderForm.Stock, out _))
            {
                stock++; timestamped++;
                forms[(ZkHeaderForm.Stock, ZkTimeForm.Date, false)] = forms.GetValueOrDefault((ZkHeaderForm.Stock, ZkTimeForm.Date, false)) + 1;
                prefixes[0] = prefixes.GetValueOrDefault(0) + 1;
                firstTime ??= ZkLogLine.Time(line);
                continue;
            }
            var p = new ZkLayoutLine(new ZkLayout { Name = "", Header = forced, Time = ZkTimeForm.None, Prefix = -1, Forced = forced != ZkHeaderForm.Auto });
            if (!p.TryStart(line, out var time)) continue;
            if (!p.TryHeader(line, out var parts)) continue;
            timestamped++;
            firstTime ??= time;
            var key = (parts.Form, p.LastForm, parts.Form == ZkHeaderForm.LevelMessage && line[^1] == ']');
            forms[key] = forms.GetValueOrDefault(key) + 1;
            prefixes[p.LastAt] = prefixes.GetValueOrDefault(p.LastAt) + 1;
            if (p.LastAt > 0) firstPrefix ??= Encoding.UTF8.GetString(line[..p.LastAt]);
        }
        if (timestamped == 0)
            return forced == ZkHeaderForm.Auto ? null   // --layout names a form no line has: every line is read in it (and none is recognised)
                : new ZkLayout { Name = Named.First(n => n.Form == forced).Name, Header = forced, Time = ZkTimeForm.None, Prefix = -1, Forced = true };
        if (stock == timestamped && forced is ZkHeaderForm.Auto or ZkHeaderForm.Stock) return Stock;
        var best = forms.MaxBy(kv => kv.Value).Key;
        int prefix = prefixes.MaxBy(kv => kv.Value).Key;
        var (header, timeForm, trailer) = best;
        string name = (header, timeForm) switch
        {
            (ZkHeaderForm.Stock, _) => "zookeeper %d [myid:N] - %-5p [%t:%C{1}@%L] - %m",
            (ZkHeaderForm.LevelMessage, _) when trailer => "strimzi %d %p %m (%c) [%t]",
            (ZkHeaderForm.LevelMessage, _) => "kafka [%d] %p %m (%c)",
            (ZkHeaderForm.LevelClass, ZkTimeForm.ShortDate) => "hadoop %d{yy/MM/dd HH:mm:ss} %p %c{2}: %m",
            (ZkHeaderForm.LevelClass, _) => "cloudera %d %p %c: %m",
            (ZkHeaderForm.LoggerDash, _) => "logback %d [%thread] %-5level %logger - %msg",
            (ZkHeaderForm.Json, _) => "json (one object per line)",
            _ => "unknown",
        };
        name += timeForm switch
        {
            ZkTimeForm.DateT => ", ISO 8601 time with T",
            ZkTimeForm.TimeOnly => ", time of day only",
            ZkTimeForm.Epoch => ", time in epoch milliseconds",
            _ => "",
        };
        DateTime? date = null;
        string? from = null;
        if (timeForm == ZkTimeForm.TimeOnly)
        {
            // The date: a yyyy-MM-dd (or yyyyMMdd) in the file's name, as rolling appenders write it; else the file's
            // modification time, less the time of day of the first line if that is later (the log was written that day).
            if (DateInName(path) is DateTime d) (date, from) = (d, "the file name");
            else if (modified is DateTime m) (date, from) = (m.Date, "the file's modification time");
            else (date, from) = (DateTime.Today, "today (no file name or modification time)");
        }
        return new ZkLayout
        {
            // Kafka's "[%d]" opens with its own bracket: part of the layout, not a prefix.
            Name = name, Header = header, Time = timeForm, Prefix = prefix, PrefixText = prefix > 0 && firstPrefix != "[" ? firstPrefix : null,
            Date = date, DateFrom = from, Forced = forced != ZkHeaderForm.Auto,
            // A second layout on at least a tenth of the lines: read line by line (a collector merging two sources).
            Mixed = forms.Count > 1 && forms.Values.OrderByDescending(v => v).Skip(1).First() * 10 >= timestamped,
        };
    }

    private static DateTime? DateInName(string? path)
    {
        if (path == null) return null;
        var name = Path.GetFileName(path);
        var m = System.Text.RegularExpressions.Regex.Match(name, @"(20\d\d)-?(\d\d)-?(\d\d)");
        if (m.Success && int.Parse(m.Groups[2].Value) is >= 1 and <= 12 && int.Parse(m.Groups[3].Value) is >= 1 and <= 31)
            try { return new DateTime(int.Parse(m.Groups[1].Value), int.Parse(m.Groups[2].Value), int.Parse(m.Groups[3].Value)); }
            catch (ArgumentOutOfRangeException) { }
        return null;
    }

    /// <summary>One line for the output: the layout, its prefix and where a time-only layout's date comes from.</summary>
    public string Describe()
    {
        var s = Name;
        if (PrefixText != null) s += $", after a prefix ('{Printable(PrefixText)}', {Prefix} bytes on most lines)";
        if (Date is DateTime d) s += $"; date {d:yyyy-MM-dd} from {DateFrom}";
        if (Mixed) s += "; the first lines mix layouts: each line is read by its own";
        return s;
    }

    private static string Printable(string s) => new(s.Select(c => c == '\t' ? '→' : char.IsControl(c) ? '?' : c).ToArray());
}
