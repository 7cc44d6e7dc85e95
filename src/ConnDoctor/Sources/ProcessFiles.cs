using ConnDoctor.Native;

namespace ConnDoctor.Sources;

/// <summary>
/// One process's view of the file system: its working directory, its open files (/proc/PID/fd) and paths as it
/// names them, read through /proc/PID/root when that is readable (a container's own files), else as they are here.
/// </summary>
public sealed class ProcessFiles
{
    private readonly string _dir;
    private readonly string _root;
    private string? _cwd;

    public int Pid { get; }

    public ProcessFiles(string procRoot, int pid)
    {
        Pid = pid;
        _dir = $"{procRoot}/{pid}";
        // /proc/PID/root is "/" for a process in our mount namespace: reading through it costs nothing and covers containers.
        _root = Readlink($"{_dir}/root") is { } r && r != "/" && Directory.Exists($"{_dir}/root/") ? $"{_dir}/root" : "";
    }

    /// <summary>The path as the process would resolve it (relative to its working directory).</summary>
    public string Absolute(string path)
    {
        if (path.StartsWith('/')) return path;
        _cwd ??= Readlink($"{_dir}/cwd") ?? "/";
        return Path.GetFullPath(Path.Combine(_cwd, path));
    }

    /// <summary>Where this process's path can be opened from here.</summary>
    public string Readable(string path) => _root + Absolute(path);

    public bool Exists(string path) => File.Exists(Readable(path));

    public long Size(string path)
    {
        try { return new FileInfo(Readable(path)).Length; }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { return -1; }
    }

    public string? WorkingDirectory => _cwd ??= Readlink($"{_dir}/cwd");

    /// <summary>
    /// Descriptors looked at per process: logs are opened at start-up, among the first descriptors (/proc lists them in
    /// order), and a server holding 20,000 sockets would otherwise cost 20,000 readlinks.
    /// </summary>
    public const int MaxDescriptors = 4096;

    /// <summary>
    /// Open regular files whose path satisfies <paramref name="isLog"/>: (fd, path as the process names it), among its first
    /// <see cref="MaxDescriptors"/> descriptors (Truncated: it has more). Denied: the fds cannot be listed.
    /// </summary>
    public (List<(int Fd, string Path)> Files, bool Denied) OpenLogFiles(Func<string, bool> isLog) => OpenLogFiles(isLog, out _);

    public (List<(int Fd, string Path)> Files, bool Denied) OpenLogFiles(Func<string, bool> isLog, out bool truncated)
    {
        var list = new List<(int, string)>();
        truncated = false;
        int dfd = Libc.Open($"{_dir}/fd", Libc.O_RDONLY | Libc.O_DIRECTORY);
        if (dfd < 0) return (list, Libc.Errno is Libc.EACCES or Libc.EPERM);
        try
        {
            // Only a path ("/...") becomes a string, not the thousands of "socket:[...]" links of a process holding many
            // connections (the agent reads its blamed holders' logs).
            var links = new FdLinkReader(dfd, stackalloc byte[16 * 1024], stackalloc byte[4096]);
            var seen = new HashSet<string>();
            int looked = 0;
            while (links.Next(out int fd, out var target))
            {
                if (++looked > MaxDescriptors) { truncated = true; break; }
                if (target.IsEmpty || target[0] != (byte)'/' || target.EndsWith(" (deleted)"u8)) continue;
                if (target.StartsWith("/proc/"u8) || target.StartsWith("/dev/"u8) || target.StartsWith("/sys/"u8)) continue;
                string path = System.Text.Encoding.UTF8.GetString(target);
                if (!isLog(path) || !seen.Add(path)) continue;
                list.Add((fd, path));
            }
        }
        finally { Libc.close(dfd); }
        return (list.OrderBy(x => x.Item1).ToList(), false);
    }

    /// <summary>Where fd 1 or 2 points, when it is a regular file (not a pipe, socket or terminal).</summary>
    public string? StandardStream(int fd)
    {
        var t = Readlink($"{_dir}/fd/{fd}");
        return t != null && t.StartsWith('/') && !t.StartsWith("/dev/", StringComparison.Ordinal) && !t.EndsWith(" (deleted)", StringComparison.Ordinal) ? t : null;
    }

    /// <summary>Whether fd 1 or 2 is a socket (a service's stdout connected to journald's stream socket).</summary>
    public bool IsSocket(int fd) => Readlink($"{_dir}/fd/{fd}") is { } t && t.StartsWith("socket:", StringComparison.Ordinal);

    internal static string? Readlink(string path)
    {
        try { return new FileInfo(path).LinkTarget; }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { return null; }
    }
}
