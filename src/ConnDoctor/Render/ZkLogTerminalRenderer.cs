using ConnDoctor.Analysis;
using ConnDoctor.Model;
using Spectre.Console;

namespace ConnDoctor.Render;

/// <summary>`zklog` on a terminal: clients, a timeline sparkline, bytes by message kind, then the findings.</summary>
public static class ZkLogTerminalRenderer
{
    private const int MaxClients = 20;
    private static readonly char[] Spark = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

    public static void Render(ZkLogReport r, TextWriter output, OutputOptions o)
    {
        var log = r.Log;
        var c = ConsoleFactory.Create(output, o);
        string period = log.First is DateTime f && log.Last is DateTime l ? $", {f:yyyy-MM-dd HH:mm:ss} to {l:yyyy-MM-dd HH:mm:ss}" : "";
        c.WriteLine($"conndoctor zklog: {log.Files.Count} file(s), {log.Lines} line(s), {Format.Bytes(log.Bytes)}{period}");
        SourceNotes.Write(c, r.Diagnosis.Sources);
        if (log.Lines == 0) { c.WriteLine("The log is empty."); return; }
        foreach (var group in log.Layouts.GroupBy(l => l.Layout))
            c.WriteLine($"layout: {group.Key}" + (log.Files.Count > 1 ? $" ({string.Join(", ", group.Select(g => Path.GetFileName(g.File)))})" : ""));
        if (log.Servers.Count > 1)
            c.WriteLine($"the log mixes {log.Servers.Count} servers' lines: " +
                string.Join(", ", log.Servers.Select(x => $"{x.Server} {x.Lines} line(s) {x.First:HH:mm:ss}-{x.Last:HH:mm:ss}")) +
                "; the counts below are for all of them together");
        if (log.TimeStepsBack > 0)
            c.WriteLine($"the time steps back by over a minute {log.TimeStepsBack} time(s) (logs concatenated or interleaved, rotated files out of order): " +
                        "per-minute counts use each line's own time");
        c.WriteLine(log.AcceptsLogged
            ? "accept and close lines are logged (3.4, or 3.5+ at DEBUG): connections are counted from accepts"
            : "accept lines are not logged (3.5+ at INFO): connections are counted from their ends of stream");
        if (log.OutsideWindowLines > 0) c.WriteLine($"{log.OutsideWindowLines} line(s) outside --since/--until skipped");

        var clients = log.Clients.Where(x => x.Connections(log.AcceptsLogged) > 0 || x.SessionsEstablished > 0 || x.SessionsExpired > 0).ToList();
        if (clients.Count > 0)
        {
            c.WriteLine();
            // 80 columns hold the counts; --wide adds accepts, closes with a session and first/last seen.
            bool wide = o.Width >= 140;
            var t = new Table().Border(TableBorder.Simple);
            t.AddColumn(new TableColumn("CLIENT").NoWrap().Padding(0, 0, 1, 0));
            string[] headers = wide
                ? ["CONNS", "ACCEPTED", "PEAK/M", "EOS-0X0", "EOS-SES", "NO-SES", "CL-SES", "REFUSED", "SESS", "EXPIRED", "FIRST SEEN", "LAST SEEN"]
                : ["CONNS", "PEAK/M", "EOS-0X0", "EOS-SES", "NO-SES", "REFUSED", "SESS", "EXPIRED"];
            foreach (var h in headers) t.AddColumn(new TableColumn(h).RightAligned().Padding(1, 0, 0, 0));
            foreach (var x in clients.Take(MaxClients))
            {
                var row = new List<string> { Client(x.Ip), N(x.Connections(log.AcceptsLogged)) };
                if (wide) row.Add(N(x.Accepted));
                row.AddRange([N(x.PeakPerMinute), N(x.EndOfStreamNoSession), N(x.EndOfStreamWithSession), N(x.ClosedNoSession)]);
                if (wide) row.Add(N(x.ClosedWithSession));
                row.AddRange([N(x.Refused), N(x.SessionsEstablished), N(x.SessionsExpired)]);
                if (wide) row.AddRange([$"{x.FirstSeen:yyyy-MM-dd HH:mm:ss}", $"{x.LastSeen:yyyy-MM-dd HH:mm:ss}"]);
                t.AddRow(row.ToArray());
            }
            c.Write(t);
            if (clients.Count > MaxClients) c.WriteLine($"... and {clients.Count - MaxClients} more client(s) (--json lists all)");
            if (!wide) c.WriteLine("(--wide adds accepts, closes with a session, first and last seen)");
        }
        var monitors = log.Clients.Where(x => x.FourLetterWords > 0).ToDictionary(x => Client(x.Ip), x => (int)Math.Min(int.MaxValue, x.FourLetterWords));
        if (monitors.Count > 0) c.WriteLine($"monitoring (four-letter words, never blamed): {Format.Top(monitors, 4, k => k)}");
        if (log.Clients.Any(x => x.Ip == ConnDoctor.Sources.ZkLog.ZkLogLine.MaskedClient))
            c.WriteLine("addresses masked in the log (such as /10.x.x.x) are counted as one client, 'masked'");
        if (log.EndsOfStreamUnattributed > 0) c.WriteLine($"{log.EndsOfStreamUnattributed} end(s) of stream could not be joined to a client address");

        if (log.Timeline.Count > 1)
        {
            c.WriteLine();
            var (spark, max, perBucket) = Sparkline(log.Timeline, Math.Min(60, o.Width - 20));
            c.WriteLine($"connections per minute, {log.Timeline[0].Minute:MM-dd HH:mm} to {log.Timeline[^1].Minute:MM-dd HH:mm}" +
                        (perBucket > 1 ? $" ({perBucket} min per mark)" : "") + $", peak {max}/min:");
            c.WriteLine("  " + spark);
        }

        c.WriteLine();
        var k = new Table().Border(TableBorder.Simple);
        k.AddColumn(new TableColumn("MESSAGE KIND").NoWrap().Padding(0, 0, 1, 0));
        foreach (var h in new[] { "LINES", "BYTES", "SHARE" }) k.AddColumn(new TableColumn(h).RightAligned().Padding(1, 0, 0, 0));
        foreach (var kind in log.Kinds.Take(8))
            k.AddRow(Markup.Escape(kind.Kind.Length > 40 ? kind.Kind[..40] : kind.Kind), N(kind.Lines), kind.Kind == "unrecognised" ? "-" : Format.Bytes(kind.Bytes),
                kind.Kind == "unrecognised" ? "-" : Format.Percent((double)kind.Bytes / log.Bytes));
        c.Write(k);
        if (log.UnrecognisedLines > 0)
        {
            c.WriteLine($"{log.UnrecognisedLines} line(s) not recognised, for example:");
            foreach (var s in log.UnrecognisedSamples) c.WriteLine("  " + Markup.Escape(s.Length > o.Width - 2 ? s[..(o.Width - 5)] + "..." : s));
        }
        DiagnoseTerminalRenderer.WriteFindings(c, r.Diagnosis, o.Width);
    }

    /// <summary>Connections per minute as block characters, several minutes per mark (their maximum) when the log is long.</summary>
    internal static (string Spark, long Max, int PerBucket) Sparkline(IReadOnlyList<ZkMinute> timeline, int width)
    {
        var first = timeline[0].Minute;
        int minutes = (int)(timeline[^1].Minute - first).TotalMinutes + 1;
        int per = Math.Max(1, (minutes + width - 1) / width);
        var buckets = new long[(minutes + per - 1) / per];
        foreach (var m in timeline)
        {
            int i = (int)(m.Minute - first).TotalMinutes / per;
            buckets[i] = Math.Max(buckets[i], m.Connections);
        }
        long max = Math.Max(1, buckets.Max());
        var chars = buckets.Select(b => b == 0 ? ' ' : Spark[(int)Math.Min(Spark.Length - 1, b * Spark.Length / (max + 1))]).ToArray();
        return (new string(chars), buckets.Max(), per);
    }

    private static string N(long v) => v == 0 ? "-" : v.ToString();

    /// <summary>A client's address, or "masked" for the one client that addresses masked in the log (10.x.x.x) are counted under.</summary>
    internal static string Client(NetAddress ip) => ip == ConnDoctor.Sources.ZkLog.ZkLogLine.MaskedClient ? "masked" : ip.ToString();

}
