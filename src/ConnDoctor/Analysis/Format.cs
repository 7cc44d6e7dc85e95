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

    public static string Percent(double ratio) => ratio >= 0.1 ? $"{ratio * 100:0}%" : $"{ratio * 100:0.0}%";
}
