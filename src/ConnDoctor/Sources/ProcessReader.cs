using System.Text;
using System.Text.RegularExpressions;
using ConnDoctor.Model;
using ConnDoctor.Native;

namespace ConnDoctor.Sources;

/// <summary>Reads one process's name, command line, uid, cgroup and namespace from /proc/PID.</summary>
public static partial class ProcessReader
{
    /// <summary>Null when the process has gone: a process that exits during a scan is skipped, not fatal.</summary>
    public static ProcessRecord? Read(string procRoot, int pid)
    {
        Span<byte> buf = stackalloc byte[8192];
        string dir = $"{procRoot}/{pid}";
        int n = Libc.ReadSmallFile(Encoding.UTF8.GetBytes(dir + "/comm"), buf);
        if (n < 0) return null;
        string name = PrintableText.Of(Encoding.UTF8.GetString(buf[..n]).TrimEnd('\n'));

        n = Libc.ReadSmallFile(Encoding.UTF8.GetBytes(dir + "/cmdline"), buf);
        string cmdline = n > 0 ? CommandLineText.Masked(PrintableText.Of(Encoding.UTF8.GetString(buf[..n]).TrimEnd('\0').Replace('\0', ' '))) : "";

        uint uid = 0;
        n = Libc.ReadSmallFile(Encoding.UTF8.GetBytes(dir + "/status"), buf);
        if (n > 0) uid = ParseStatusUid(buf[..n]);

        string? cgroup = null;
        n = Libc.ReadSmallFile(Encoding.UTF8.GetBytes(dir + "/cgroup"), buf);
        if (n > 0) cgroup = ParseCgroupPath(Encoding.UTF8.GetString(buf[..n]));
        var (container, pod) = ContainerOf(cgroup);

        return new ProcessRecord
        {
            Pid = pid,
            Name = name,
            CommandLine = cmdline,
            Uid = uid,
            Cgroup = cgroup,
            ContainerId = container,
            PodUid = pod,
            NetnsInode = NetnsScope.InodeFromLink(procRoot, pid),
        };
    }

    /// <summary>
    /// The thread group (process) of a task id, from /proc/TID/status "Tgid:". /proc lists processes only, but any
    /// thread's id opens as /proc/TID too. 0 when the task is gone or the file unreadable.
    /// </summary>
    public static int ReadTgid(string procRoot, int tid)
    {
        Span<byte> buf = stackalloc byte[4096];
        int n = Libc.ReadSmallFile(Encoding.UTF8.GetBytes($"{procRoot}/{tid}/status"), buf);
        return n > 0 ? ParseStatusTgid(buf[..n]) : 0;
    }

    internal static int ParseStatusTgid(ReadOnlySpan<byte> status)
    {
        int i = status.IndexOf("\nTgid:"u8);
        if (i < 0) return 0;
        var rest = status[(i + 6)..].TrimStart("\t "u8);
        return System.Buffers.Text.Utf8Parser.TryParse(rest, out int tgid, out _) && tgid > 0 ? tgid : 0;
    }

    /// <summary>A thread's own name (/proc/PID/task/TID/comm), null when gone.</summary>
    public static string? ThreadName(string procRoot, int pid, int tid)
    {
        Span<byte> buf = stackalloc byte[64];
        int n = Libc.ReadSmallFile(Encoding.UTF8.GetBytes($"{procRoot}/{pid}/task/{tid}/comm"), buf);
        return n > 0 ? PrintableText.Of(Encoding.UTF8.GetString(buf[..n]).TrimEnd('\n')) : null;
    }

    internal static uint ParseStatusUid(ReadOnlySpan<byte> status)
    {
        int i = status.IndexOf("\nUid:"u8);
        if (i < 0) return 0;
        var rest = status[(i + 5)..].TrimStart("\t "u8);
        return System.Buffers.Text.Utf8Parser.TryParse(rest, out uint uid, out _) ? uid : 0;
    }

    /// <summary>The cgroup v2 line ("0::/path") if present, else the first controller's path.</summary>
    internal static string? ParseCgroupPath(string text)
    {
        string? first = null;
        foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            int c1 = line.IndexOf(':'), c2 = c1 < 0 ? -1 : line.IndexOf(':', c1 + 1);
            if (c2 < 0) continue;
            var path = line[(c2 + 1)..];
            if (line.StartsWith("0::")) return path;
            first ??= path;
        }
        return first;
    }

    /// <summary>
    /// Container id (docker, containerd, cri-o, podman: the 64-hex id in the path) and Kubernetes pod uid
    /// (kubepods.../pod&lt;uid&gt;, with '_' for '-' under the systemd cgroup driver).
    /// </summary>
    public static (string? Container, string? Pod) ContainerOf(string? cgroup)
    {
        if (string.IsNullOrEmpty(cgroup)) return (null, null);
        string? container = null;
        foreach (Match m in ContainerIdRegex().Matches(cgroup)) container = m.Groups[1].Value;
        string? pod = null;
        var pm = PodRegex().Match(cgroup);
        if (pm.Success) pod = pm.Groups[1].Value.Replace('_', '-');
        return (container, pod);
    }

    [GeneratedRegex(@"(?:^|[/\-])([0-9a-f]{64})(?:\.scope)?(?=/|$)")]
    private static partial Regex ContainerIdRegex();

    [GeneratedRegex(@"kubepods.*?pod([0-9a-f]{8}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{4}[-_][0-9a-f]{12})")]
    private static partial Regex PodRegex();
}
