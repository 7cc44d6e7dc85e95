using System.Text.RegularExpressions;
using ConnDoctor.Model;

namespace ConnDoctor.Sources.AppLog;

/// <summary>A place a process writes its log: a file (as readable from here) or its systemd unit's journal.</summary>
public sealed record AppLogTarget(string Path, string FoundBy, string? JournalUnit = null);

/// <summary>
/// Where a process writes its log: its stdout and stderr when they are files (nohup, a service script's redirect),
/// the log-like files it has open (log4j, logback, java.util.logging appenders), the files its log4j/logback
/// configuration in its working directory (or named on its command line) writes to, and the systemd journal of
/// its unit when journald runs.
/// </summary>
public static partial class AppLogLocator
{
    public static (List<AppLogTarget> Targets, List<string> Problems) Locate(string procRoot, ProcessRecord process, string journalSocket = "/run/systemd/journal/socket")
    {
        var targets = new List<AppLogTarget>();
        var problems = new List<string>();
        var fs = new ProcessFiles(procRoot, process.Pid);
        var seen = new HashSet<string>();
        void Add(string processPath, string by)
        {
            var readable = fs.Readable(processPath);
            if (seen.Add(readable)) targets.Add(new AppLogTarget(readable, by));
        }

        if (fs.StandardStream(1) is { } stdout) Add(stdout, "stdout");
        if (fs.StandardStream(2) is { } stderr) Add(stderr, "stderr");
        var open = fs.OpenLogFiles(AppLogNames.IsLogName, out bool truncated);
        if (open.Denied) problems.Add($"the open files of {process.Label} cannot be listed: it belongs to another user (run as root)");
        if (truncated) problems.Add($"{process.Label} has more than {ProcessFiles.MaxDescriptors} descriptors: only the first {ProcessFiles.MaxDescriptors} were looked at for log files");
        foreach (var (_, path) in open.Files) Add(path, "open descriptor");

        foreach (var target in ConfiguredTargets(fs, process.CommandLine))
            if (fs.Exists(target)) Add(target, "log4j/logback configuration");

        // The journal of its systemd unit, when its stdout or stderr goes there (a socket: journald's stream), not when the
        // process merely runs inside some unit's cgroup.
        if (File.Exists(journalSocket) && Unit(process.Cgroup) is { } unit && (fs.IsSocket(1) || fs.IsSocket(2)))
            targets.Add(new AppLogTarget($"journal:{unit}", "systemd journal", unit));
        return (targets, problems);
    }

    /// <summary>The systemd unit from a cgroup path (/system.slice/app.service, .../app.service/payload), null when none.</summary>
    internal static string? Unit(string? cgroup)
    {
        if (cgroup == null) return null;
        foreach (var part in cgroup.Split('/', StringSplitOptions.RemoveEmptyEntries).Reverse())
            if (part.EndsWith(".service", StringComparison.Ordinal) && !part.StartsWith("user@", StringComparison.Ordinal)) return part;
        return null;
    }

    /// <summary>
    /// Files the process's log4j 1/2 or logback configuration writes to: the file named by -Dlog4j.configuration,
    /// -Dlog4j2.configurationFile/-Dlog4j.configurationFile or -Dlogback.configurationFile, else those in its working directory.
    /// </summary>
    private static IEnumerable<string> ConfiguredTargets(ProcessFiles fs, string commandLine)
    {
        var configs = new List<string>();
        foreach (Match m in ConfigProperty().Matches(commandLine))
        {
            var v = m.Groups[1].Value;
            if (v.StartsWith("file:", StringComparison.Ordinal)) v = v[5..].TrimStart('/').Insert(0, "/");
            if (!v.StartsWith("classpath:", StringComparison.Ordinal)) configs.Add(fs.Absolute(v));
        }
        if (fs.WorkingDirectory is { } cwd)
            foreach (var name in (string[])["log4j.properties", "log4j2.xml", "log4j2.properties", "logback.xml"])
                configs.Add(Path.Combine(cwd, name));
        foreach (var config in configs.Distinct())
        {
            string text;
            try
            {
                var info = new FileInfo(fs.Readable(config));
                if (!info.Exists || info.Length > 1 << 20) continue;
                text = File.ReadAllText(info.FullName);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { continue; }
            foreach (Match m in FileSetting().Matches(text))
            {
                var v = m.Groups[1].Success ? m.Groups[1].Value : m.Groups[2].Success ? m.Groups[2].Value : m.Groups[3].Value;
                v = v.Trim();
                if (v.Length == 0 || v.Contains("${")) continue;   // a variable we cannot resolve from here
                yield return fs.Absolute(v);
            }
        }
    }

    [GeneratedRegex(@"-D(?:log4j\.configuration|log4j2?\.configurationFile|logback\.configurationFile)=(\S+)")]
    private static partial Regex ConfigProperty();

    // log4j 1: appender.X.File=path; logback: <file>path</file>; log4j2: fileName="path".
    [GeneratedRegex(@"(?m)^\s*log4j\.appender\.[^=\s]+\.File\s*[=:]\s*(\S+)|<file>\s*([^<]+?)\s*</file>|\bfileName\s*=\s*""([^""]+)""")]
    private static partial Regex FileSetting();
}
