using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using ConnDoctor.Model;

namespace ConnDoctor.Sources.AppLog;

/// <summary>
/// Finds the errors and exceptions that repeat in a piece of an application's log: each line that names an
/// exception (java.lang.NoClassDefFoundError: ..., Caused by: ...), is logged at ERROR/WARN/SEVERE/FATAL, or says
/// one of the system errors that matter here (Too many open files, Connection refused, Connection reset), keyed by
/// its text with numbers, addresses and ids masked. Stack frames ("at ...") are never counted. Lines carry the
/// time of the last timestamp seen (a stack trace inherits its message's); lines before the window are skipped.
/// </summary>
public sealed partial class AppLogScanner(DateTime since, DateTime fileDate, string file)
{
    private sealed class Acc
    {
        public int Count;
        public string Line = "";
        public DateTime? First, Last;
        public readonly List<DateTime> Times = new();
    }

    private readonly Dictionary<string, Acc> _patterns = new();
    private DateTime? _time;
    private DateTime _lastDate = fileDate.Date;

    public int Lines { get; private set; }

    public void Scan(string text)
    {
        foreach (var range in text.AsSpan().Split('\n'))
        {
            var line = text.AsSpan()[range].TrimEnd('\r');
            Lines++;
            if (line.IsEmpty) continue;
            if (AppLogTime.TryParse(line, fileDate, out var t)) _time = t;
            if (_time is DateTime now && now < since) continue;
            var trimmed = line.TrimStart();
            if (trimmed.StartsWith("at ") || trimmed.StartsWith("...") || trimmed.StartsWith("~[")) continue;   // stack frames
            if (Signature(line) is not { } sig) continue;
            if (!_patterns.TryGetValue(sig, out var acc)) _patterns[sig] = acc = new Acc();
            acc.Count++;
            acc.Line = line.Length > 300 ? line[..297].ToString() + "..." : line.ToString();
            if (_time is DateTime at)
            {
                acc.First ??= at;
                acc.Last = at;
                if (acc.Times.Count < 100_000) acc.Times.Add(at);
            }
        }
    }

    /// <summary>The patterns seen at least <paramref name="min"/> times, most frequent first (exceptions before plain messages on a tie).</summary>
    public IEnumerable<AppLogPattern> Patterns(int min = 2) => _patterns
        .Where(kv => kv.Value.Count >= min)
        .OrderByDescending(kv => kv.Value.Count).ThenBy(kv => IsException(kv.Key) ? 0 : 1).ThenBy(kv => kv.Key, StringComparer.Ordinal)
        .Select(kv => new AppLogPattern
        {
            Signature = kv.Key, Line = Model.PrintableText.Of(kv.Value.Line), Count = kv.Value.Count, First = kv.Value.First, Last = kv.Value.Last,
            File = file, Times = kv.Value.Times, Meaning = AppLogMeanings.Of(kv.Key),
        });

    private static bool IsException(string sig) => sig.Contains("Exception", StringComparison.Ordinal) || sig.Contains("Error", StringComparison.Ordinal);

    /// <summary>What a line is about, masked; null when it is no error.</summary>
    internal static string? Signature(ReadOnlySpan<char> line)
    {
        var s = line.ToString();
        var ex = ExceptionName().Match(s);
        if (ex.Success)
        {
            string rest = ex.Groups[2].Success ? ex.Groups[2].Value.Trim() : "";
            return Cut(ex.Groups[1].Value + (rest.Length > 0 ? ": " + Mask(rest) : ""));
        }
        var level = Level().Match(s);
        if (level.Success) return Cut(level.Groups[1].Value.ToUpperInvariant() + " " + Mask(Message(s, level.Index + level.Length)));
        foreach (var phrase in Phrases)
            if (s.Contains(phrase, StringComparison.OrdinalIgnoreCase)) return Cut(Mask(s[Math.Max(0, s.IndexOf(phrase, StringComparison.OrdinalIgnoreCase))..]));
        return null;
    }

    private static readonly string[] Phrases = ["Too many open files", "Connection refused", "Connection reset", "Broken pipe"];

    /// <summary>The message after a level: past the logger name and its " - " when the layout has one.</summary>
    private static string Message(string s, int from)
    {
        int dash = s.IndexOf(" - ", from, StringComparison.Ordinal);
        return (dash >= 0 && dash - from < 120 ? s[(dash + 3)..] : s[from..]).Trim();
    }

    private static string Cut(string s) => s.Length <= 160 ? s : s[..157] + "...";

    /// <summary>Numbers, hex ids and quoted values become '#': one pattern for every session, port and count.</summary>
    internal static string Mask(string s) => Number().Replace(s, m => m.Value.Length > 1 && m.Value[1] == 'x' ? "0x#" : "#");

    [GeneratedRegex(@"(?<![\w$.])((?:[a-zA-Z_$][\w$]*\.)+[A-Z][\w$]*(?:Exception|Error))\b(?::\s*(.*))?")]
    private static partial Regex ExceptionName();

    [GeneratedRegex(@"(?:^|[\s\[|])(ERROR|WARN|WARNING|SEVERE|FATAL|CRITICAL)(?:[\s\]|:]|$)")]
    private static partial Regex Level();

    [GeneratedRegex(@"0x[0-9a-fA-F]+|\d+")]
    private static partial Regex Number();
}

/// <summary>Timestamps of application log lines: ISO (log4j, logback, journal), time only (logback's default), java.util.logging, Tomcat.</summary>
public static class AppLogTime
{
    private static readonly string[] Months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

    /// <param name="fileDate">The date a time-only line belongs to: its file's last write (a time later than that is the day before).</param>
    public static bool TryParse(ReadOnlySpan<char> line, DateTime fileDate, out DateTime t)
    {
        t = default;
        if (line.Length > 0 && line[0] == '[') line = line[1..];
        if (line.Length >= 19 && D(line, 0, 4) is int y && line[4] == '-' && D(line, 5, 2) is int mo && line[7] == '-' && D(line, 8, 2) is int d
            && line[10] is ' ' or 'T' && Clock(line[11..], out var tod))
        {
            if (mo is < 1 or > 12 || d < 1 || d > DateTime.DaysInMonth(Math.Max(1, y), mo)) return false;
            t = new DateTime(y, mo, d) + tod;
            return true;
        }
        if (Clock(line, out var only) && line.Length >= 8)
        {
            // A time without a date (logback's default "%d{HH:mm:ss.SSS}"): the file's day, or the day before.
            t = fileDate.Date + only;
            if (t > fileDate.AddMinutes(1)) t = t.AddDays(-1);
            return true;
        }
        // Tomcat's "24-Nov-2014 19:32:43.123" and java.util.logging's "Nov 24, 2014 7:32:43 PM".
        if (line.Length >= 20 && D(line, 0, 2) is int td && line[2] == '-' && MonthOf(line[3..6]) is int tm && line[6] == '-' && D(line, 7, 4) is int ty
            && line[11] == ' ' && Clock(line[12..], out var ttod) && td >= 1 && td <= DateTime.DaysInMonth(ty, tm))
        {
            t = new DateTime(ty, tm, td) + ttod;
            return true;
        }
        if (line.Length >= 20 && MonthOf(line[..3]) != null && line[3] == ' ')
        {
            var text = line[..Math.Min(line.Length, 30)].ToString();
            foreach (var f in (string[])["MMM d, yyyy h:mm:ss tt", "MMM dd, yyyy h:mm:ss tt", "MMM d, yyyy hh:mm:ss tt"])
            {
                for (int len = text.Length; len >= 20; len--)
                    if (DateTime.TryParseExact(text[..len], f, CultureInfo.InvariantCulture, DateTimeStyles.None, out t)) return true;
            }
        }
        return false;
    }

    private static int? MonthOf(ReadOnlySpan<char> s)
    {
        for (int i = 0; i < 12; i++) if (s.SequenceEqual(Months[i])) return i + 1;
        return null;
    }

    /// <summary>HH:mm:ss with optional ,SSS or .SSS (more digits are cut to milliseconds).</summary>
    private static bool Clock(ReadOnlySpan<char> s, out TimeSpan tod)
    {
        tod = default;
        if (s.Length < 8 || s[2] != ':' || s[5] != ':' || D(s, 0, 2) is not int h || D(s, 3, 2) is not int m || D(s, 6, 2) is not int sec) return false;
        if (h > 23 || m > 59 || sec > 60) return false;
        int ms = 0;
        if (s.Length >= 12 && s[8] is ',' or '.' && D(s, 9, 3) is int f) ms = f;
        tod = new TimeSpan(0, h, m, Math.Min(sec, 59), ms);
        return true;
    }

    private static int? D(ReadOnlySpan<char> s, int at, int n)
    {
        if (s.Length < at + n) return null;
        int v = 0;
        for (int i = at; i < at + n; i++)
        {
            if ((uint)(s[i] - '0') > 9) return null;
            v = v * 10 + (s[i] - '0');
        }
        return v;
    }
}

/// <summary>What well-known errors mean for a connection problem.</summary>
public static class AppLogMeanings
{
    public static string? Of(string signature)
    {
        bool Has(string s) => signature.Contains(s, StringComparison.OrdinalIgnoreCase);
        if (Has("NoClassDefFoundError") || Has("ClassNotFoundException") || Has("web application instance has been stopped") || Has("Illegal access"))
            return "Class loading fails inside a running process: the classic sign of threads that outlived their application (a web " +
                   "application undeployed or failed to start while its ZooKeeper or connection-pool thread kept running). Its class loader is " +
                   "closed, so every attempt that needs a class not loaded yet fails the same way, and the thread retries forever. Restart the " +
                   "process, and make the application close its clients when it stops (a ServletContextListener's contextDestroyed).";
        if (Has("InterruptedException"))
            return "InterruptedException from a client's close(): close() called from the client's own event thread (a watcher callback) " +
                   "interrupts itself, so the session is never closed; its connection and ephemeral nodes stay until the session expires, and a " +
                   "caller that swallows the exception leaks one session each time. Close clients from another thread.";
        if (Has("Too many open files"))
            return "The process ran out of file descriptors (EMFILE): new connections and files fail. As a rule a leak (sockets never closed: " +
                   "look for CLOSE_WAIT held by it) rather than a limit set too low ('ulimit -n', LimitNOFILE in its unit).";
        if (Has("Connection refused"))
            return "Nothing listens at the address it connects to (the server is down or restarting, or the port is wrong): it retries, and " +
                   "each retry is a connection attempt the server side never sees.";
        if (Has("Connection reset"))
            return "The other side reset the connection: a ZooKeeper server at maxClientCnxns closes new connections at once, a server that " +
                   "restarted or a firewall or NAT that forgot the flow answers with a reset.";
        return null;
    }
}
