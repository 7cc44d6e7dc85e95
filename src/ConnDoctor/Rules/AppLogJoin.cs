using ConnDoctor.Model;

namespace ConnDoctor.Rules;

/// <summary>
/// Puts the blamed process's own log into its findings: the errors that repeat in the window with count, first and
/// last time and the line as written; how they line up with the connections a watch saw the process close; and, when
/// the error is a well-known cause, what it means, appended to the cause.
/// </summary>
public static class AppLogJoin
{
    /// <summary>How close in time a log line and a connection's end must be to count as one event (clocks of one host).</summary>
    private static readonly TimeSpan Near = TimeSpan.FromMilliseconds(250);

    /// <summary>The processes the findings blame, by pid.</summary>
    public static List<int> Blamed(IEnumerable<Finding> findings) =>
        findings.Where(f => f.Severity >= Severity.Info && f.Subject.Pid is int).Select(f => f.Subject.Pid!.Value).Distinct().ToList();

    public static List<Finding> Attach(IReadOnlyList<Finding> findings, Evidence evidence)
    {
        if (evidence.AppLogs is not { } logs) return findings.ToList();
        var byPid = logs.Processes.ToDictionary(p => p.Pid);
        return findings.Select(f => f.Subject.Pid is int pid && byPid.TryGetValue(pid, out var x) ? With(f, x, evidence) : f).ToList();
    }

    private static Finding With(Finding f, AppLogExcerpt x, Evidence e)
    {
        var lines = new List<string>();
        var closes = ClosesOf(x.Pid, e);
        // What explains comes first (a well-known cause), then what repeats most.
        foreach (var p in x.Patterns.OrderByDescending(p => p.Meaning != null).ThenByDescending(p => p.Count).Take(3))
        {
            string when = p.First is DateTime a && p.Last is DateTime b ? $", first {a:yyyy-MM-dd HH:mm:ss.fff}, last {b:HH:mm:ss.fff}" : "";
            lines.Add($"{p.Count} x '{p.Signature}' in {p.File}{when}");
            if (Alignment(p, closes) is { } aligned) lines.Add(aligned);
            lines.Add("line: " + p.Line);
        }
        if (x.Patterns.Count == 0)
        {
            var read = x.Files.Where(r => r.BytesRead > 0).Select(r => r.Path).ToList();
            lines.Add(read.Count > 0 ? $"no repeating error or exception in {string.Join(", ", read)} within the window" : "its own log was not read");
        }
        foreach (var problem in x.Problems.Concat(x.Files.Where(r => r.Problem != null && r.BytesRead == 0).Select(r => $"{r.Path}: {r.Problem}")))
            lines.Add("not read: " + problem);
        var meaning = x.Patterns.Select(p => p.Meaning).FirstOrDefault(m => m != null);
        var parts = (f.Parts.Count > 0 ? f.Parts : [new FindingPart(f.Source ?? "", f.Summary, f.Evidence)]).ToList();
        parts.Add(new FindingPart("app-log", $"{x.Process}[{x.Pid}]'s own log", lines));
        return f with
        {
            Parts = parts,
            Evidence = FindingMerger.Flatten(parts),
            Cause = meaning == null ? f.Cause : f.Cause + " Its own log: " + meaning,
        };
    }

    /// <summary>When the watch saw the process close connections: their ends in the log's local time.</summary>
    private static List<DateTime> ClosesOf(int pid, Evidence e)
    {
        if (e.Watch is not { } w) return [];
        var start = w.StartedAt.ToLocalTime().DateTime;
        return w.Connections.Where(c => c.Pid == pid && c.ClosedMs is double && !c.Passive)
            .Select(c => start.AddMilliseconds(c.ClosedMs!.Value)).Order().ToList();
    }

    /// <summary>"each of 18 connections it closed ended within 4 ms of this line": how many ends have an occurrence near them.</summary>
    internal static string? Alignment(AppLogPattern p, List<DateTime> closes)
    {
        if (closes.Count == 0 || p.Times.Count == 0) return null;
        var times = p.Times.Order().ToList();
        int near = 0;
        double worst = 0;
        foreach (var c in closes)
        {
            int i = times.BinarySearch(c);
            if (i < 0) i = ~i;
            double best = double.MaxValue;
            if (i < times.Count) best = Math.Abs((times[i] - c).TotalMilliseconds);
            if (i > 0) best = Math.Min(best, Math.Abs((c - times[i - 1]).TotalMilliseconds));
            if (best <= Near.TotalMilliseconds) { near++; worst = Math.Max(worst, best); }
        }
        if (near == 0) return $"none of the {closes.Count} connection(s) it closed during the watch ended within {Near.TotalMilliseconds:0} ms of this line";
        return near == closes.Count
            ? $"each of the {closes.Count} connection(s) it closed during the watch ended within {worst:0} ms of this line"
            : $"{near} of the {closes.Count} connection(s) it closed during the watch ended within {worst:0} ms of this line";
    }
}
