using System.Diagnostics;
using System.Text;
using ConnDoctor.Model;

namespace ConnDoctor.Sources.AppLog;

/// <summary>
/// Reads the own logs of the processes a diagnosis blames: the tail of each file within the window (a few MB per
/// process at most, never a whole file), or its unit's journal since the window's start, and finds what repeats.
/// A file that cannot be read is reported with the process, never fatal.
/// </summary>
public static class AppLogSource
{
    /// <summary>What is read of one process's logs at most, all files together.</summary>
    public const long BudgetPerProcess = 4 << 20;
    private const int TopPatterns = 5;

    /// <summary>
    /// The processes' log excerpts, in their order. With a <paramref name="cache"/>, a process read within its MaxAge is
    /// not looked for nor read again: its last excerpt is given.
    /// </summary>
    public static (AppLogEvidence Evidence, SourceStatus Status) Read(string procRoot, IReadOnlyList<ProcessRecord> processes, DateTime since,
        AppLogCache? cache = null)
    {
        var sw = Stopwatch.StartNew();
        long now = Environment.TickCount64;
        // In the processes' order: the cache's excerpts first, then those read now.
        var excerpts = new AppLogExcerpt?[processes.Count];
        int reused = 0;
        if (cache != null)
            for (int i = 0; i < processes.Count; i++)
                if ((excerpts[i] = cache.Fresh(processes[i], now)) != null) reused++;
        // A file or journal several processes write to (forked workers sharing a stdout) is read once.
        var done = new Dictionary<string, (AppLogFile File, List<AppLogPattern> Patterns)>();
        // Finding the files costs a readlink per descriptor: the processes are looked at on every core.
        var located = processes.Select((p, i) => (Process: p, Index: i)).Where(x => excerpts[x.Index] == null).AsParallel().AsOrdered()
            .Select(x => (x.Process, x.Index, Found: Locate(procRoot, x.Process, cache, now))).ToList();
        foreach (var (p, index, (targets, problems)) in located)
        {
            var files = new List<AppLogFile>();
            var patterns = new List<AppLogPattern>();
            long budget = BudgetPerProcess;
            foreach (var t in targets)
            {
                if (budget <= 0) { files.Add(new AppLogFile { Path = t.Path, FoundBy = t.FoundBy, Problem = "not read: this process's budget is spent" }); continue; }
                if (!done.TryGetValue(t.Path, out var got))
                {
                    var (file, scanner) = t.JournalUnit is { } unit ? ReadJournal(t, unit, since, budget) : ReadTail(t, since, budget);
                    done[t.Path] = got = (file, scanner?.Patterns().ToList() ?? []);
                }
                files.Add(got.File);
                budget -= got.File.BytesRead;
                patterns.AddRange(got.Patterns);
            }
            if (targets.Count == 0 && problems.Count == 0) problems.Add("no log found: its stdout and stderr are not files, it has no log file open, and no log4j/logback configuration names one");
            var excerpt = new AppLogExcerpt
            {
                Pid = p.Pid, Process = p.Name, Files = files, Problems = problems,
                Patterns = patterns.OrderByDescending(x => x.Count).ThenBy(x => x.Signature, StringComparer.Ordinal).Take(TopPatterns).ToList(),
            };
            excerpts[index] = excerpt;
            cache?.Store(excerpt, p.Name, now);
        }
        var all = excerpts.Select(x => x!).ToList();
        int read = all.Sum(e => e.Files.Count(f => f.BytesRead > 0));
        int troubled = all.Sum(e => e.Files.Count(f => f.Problem != null) + e.Problems.Count);
        var status = new SourceStatus("app-logs", troubled > 0 ? SourceState.Partial : SourceState.Ok,
            $"{all.Count} process(es), {read} file(s) read" + (reused > 0 ? $" ({reused} process(es) as read within the last {ConnDoctor.Analysis.Format.Duration(cache!.MaxAge)})" : "") + (troubled > 0 ? $", {troubled} problem(s): " + string.Join("; ",
                all.SelectMany(e => e.Problems.Concat(e.Files.Where(f => f.Problem != null).Select(f => $"{f.Path}: {f.Problem}"))).Take(3)) : ""),
            read, sw.Elapsed);
        return (new AppLogEvidence { Since = since, Processes = all }, status);
    }

    /// <summary>The process's logs: those found the last time when it has done nothing since (with a cache), else looked for.</summary>
    private static (List<AppLogTarget> Targets, List<string> Problems) Locate(string procRoot, ProcessRecord p, AppLogCache? cache, long now)
    {
        if (cache == null) return AppLogLocator.Locate(procRoot, p);
        var activity = ProcessActivity.Read(procRoot, p.Pid);
        if (cache.Located(p, activity, now) is { } known) return known;
        var found = AppLogLocator.Locate(procRoot, p);
        cache.StoreLocated(p, activity, found.Targets, found.Problems, now);
        return found;
    }

    /// <summary>The file's last <paramref name="budget"/> bytes (whole lines), when it was written to within the window.</summary>
    private static (AppLogFile, AppLogScanner?) ReadTail(AppLogTarget t, DateTime since, long budget)
    {
        try
        {
            var info = new FileInfo(t.Path);
            if (!info.Exists) return (new AppLogFile { Path = t.Path, FoundBy = t.FoundBy, Problem = "no such file" }, null);
            if (info.LastWriteTime < since)
                return (new AppLogFile { Path = t.Path, FoundBy = t.FoundBy, Size = info.Length, Problem = "not written to within the window" }, null);
            using var h = File.OpenHandle(t.Path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            long length = RandomAccess.GetLength(h);
            int n = (int)Math.Min(length, budget);
            var buf = new byte[n];
            int got = RandomAccess.Read(h, buf, length - n);
            int start = 0;
            if (length > n) { int nl = Array.IndexOf(buf, (byte)'\n', 0, got); start = nl < 0 ? got : nl + 1; }   // a cut first line is dropped
            var scanner = new AppLogScanner(since, info.LastWriteTime, t.Path);
            scanner.Scan(Encoding.UTF8.GetString(buf, start, got - start));
            return (new AppLogFile { Path = t.Path, FoundBy = t.FoundBy, Size = length, BytesRead = got }, scanner);
        }
        catch (UnauthorizedAccessException)
        {
            return (new AppLogFile { Path = t.Path, FoundBy = t.FoundBy, Problem = "permission denied (run as root, or as the process's user)" }, null);
        }
        catch (IOException ex)
        {
            return (new AppLogFile { Path = t.Path, FoundBy = t.FoundBy, Problem = ex.Message }, null);
        }
    }

    /// <summary>The unit's journal since the window's start, at most the budget, through journalctl (bounded in time).</summary>
    private static (AppLogFile, AppLogScanner?) ReadJournal(AppLogTarget t, string unit, DateTime since, long budget)
    {
        var psi = new ProcessStartInfo("journalctl") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in (string[])["-u", unit, "--since", since.ToString("yyyy-MM-dd HH:mm:ss"), "-o", "short-iso-precise", "--no-pager", "-q", "-n", "20000"])
            psi.ArgumentList.Add(a);
        try
        {
            using var p = Process.Start(psi)!;
            var buf = new byte[(int)Math.Min(budget, BudgetPerProcess)];
            var readTask = p.StandardOutput.BaseStream.ReadAtLeastAsync(buf, buf.Length, throwOnEndOfStream: false).AsTask();
            bool done = readTask.Wait(TimeSpan.FromSeconds(3));
            if (!p.HasExited) try { p.Kill(); } catch (InvalidOperationException) { }
            p.WaitForExit(1000);
            if (!done) return (new AppLogFile { Path = t.Path, FoundBy = t.FoundBy, Problem = "journalctl did not answer within 3 s" }, null);
            int got = readTask.Result;
            if (got == 0) return (new AppLogFile { Path = t.Path, FoundBy = t.FoundBy, Problem = "no journal entries within the window" }, null);
            // journal lines: "2024-01-31T12:00:00.123456+0000 host unit[pid]: message": the message's own time, if any, is not needed
            var scanner = new AppLogScanner(since, DateTime.Now, t.Path);
            scanner.Scan(Encoding.UTF8.GetString(buf, 0, got));
            return (new AppLogFile { Path = t.Path, FoundBy = t.FoundBy, BytesRead = got }, scanner);
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return (new AppLogFile { Path = t.Path, FoundBy = t.FoundBy, Problem = "journalctl is not installed" }, null);
        }
    }
}
