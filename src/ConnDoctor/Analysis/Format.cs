namespace ConnDoctor.Analysis;

/// <summary>Short human forms for durations and counts used in evidence lines.</summary>
public static class Format
{
    public static string Duration(TimeSpan t)
    {
        if (t.TotalSeconds < 1) return $"{(int)t.TotalMilliseconds}ms";
        if (t.TotalMinutes < 1) return $"{(int)t.TotalSeconds}s";
        if (t.TotalHours < 1) return $"{(int)t.TotalMinutes}m{t.Seconds:00}s";
        if (t.TotalDays < 1) return $"{(int)t.TotalHours}h{t.Minutes:00}m";
        return $"{(int)t.TotalDays}d{t.Hours:00}h";
    }

    public static string Ms(long ms) => Duration(TimeSpan.FromMilliseconds(ms));

    /// <summary>"a:3, b:2, +4 more" for the top entries of a count table.</summary>
    public static string Top<T>(IEnumerable<KeyValuePair<T, int>> counts, int max, Func<T, string> name)
    {
        var ordered = counts.OrderByDescending(kv => kv.Value).ThenBy(kv => name(kv.Key), StringComparer.Ordinal).ToList();
        var shown = string.Join(", ", ordered.Take(max).Select(kv => $"{name(kv.Key)} x{kv.Value}"));
        return ordered.Count > max ? $"{shown}, +{ordered.Count - max} more" : shown;
    }

    /// <summary>Bytes in IEC units: exact below 10,000, then KiB, MiB, GiB with one decimal at most.</summary>
    public static string Bytes(long b) => b switch
    {
        < 10_000 => $"{b} B",
        < 10_000_000 => $"{b / 1024.0:0.#} KiB",
        < 10_000_000_000 => $"{b / 1048576.0:0.#} MiB",
        _ => $"{b / 1073741824.0:0.#} GiB",
    };

    /// <summary>A lifetime in milliseconds, compact for tables and text: 140us, 3.4ms, 12.5ms, 1.2s; "-" when unknown.</summary>
    public static string Millis(double? ms) => ms switch
    {
        null => "-",
        < 1 => $"{ms * 1000:0}us",
        < 1000 => $"{ms:0.#}ms",
        _ => $"{ms / 1000:0.#}s",
    };

    /// <summary>Cuts text to a table column: at most n characters, the last one '~' when something was cut.</summary>
    public static string Cut(string s, int n) => s.Length <= n ? s : s[..(n - 1)] + "~";

    public static string Percent(double ratio) => ratio >= 0.1 ? $"{ratio * 100:0}%" : $"{ratio * 100:0.0}%";
}
