namespace ConnDoctor.Cli;

/// <summary>Parses "500ms", "90s", "10m", "2h", "1d"; a bare number means seconds.</summary>
public static class Durations
{
    /// <summary>About 30 years: longer is a typo, and TimeSpan overflows not far beyond.</summary>
    private const double MaxSeconds = 1e9;

    public static TimeSpan Parse(string text, string option)
    {
        var t = text.Trim().ToLowerInvariant();
        (string num, double unit) = t switch
        {
            _ when t.EndsWith("ms") => (t[..^2], 0.001),
            _ when t.EndsWith('s') => (t[..^1], 1),
            _ when t.EndsWith('m') => (t[..^1], 60),
            _ when t.EndsWith('h') => (t[..^1], 3600),
            _ when t.EndsWith('d') => (t[..^1], 86400),
            _ => (t, 1),
        };
        if (!double.TryParse(num, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var v) || v < 0 || double.IsInfinity(v) || v * unit > MaxSeconds)
            throw new UserException($"bad duration '{text}' for {option}: use e.g. 500ms, 90s, 10m, 2h", (int)ExitCode.Usage);
        return TimeSpan.FromSeconds(v * unit);
    }
}
