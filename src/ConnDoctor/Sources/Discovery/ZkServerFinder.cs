using System.Text;
using ConnDoctor.Model;
using ConnDoctor.Native;
using ConnDoctor.Sources.AppLog;

namespace ConnDoctor.Sources.Discovery;

/// <summary>
/// Finds ZooKeeper server processes on the host: any process whose command line runs QuorumPeerMain or
/// ZooKeeperServerMain (zkServer.sh, Kafka's zookeeper-server-start.sh, a service unit, a container), then, from its
/// command line, working directory, open descriptors and the socket table: its zoo.cfg (and dynamic configuration),
/// the client endpoints, the AdminServer and the log it writes. Files are read through /proc/PID/root when that is
/// readable, so a server in a container is read in its own file system.
/// </summary>
public static class ZkServerFinder
{
    private static readonly string[] MainClasses = ["QuorumPeerMain", "ZooKeeperServerMain"];

    /// <summary>A process's arguments, split at the NULs of /proc/PID/cmdline; null when it is gone or a kernel thread.</summary>
    internal static string[]? Arguments(string procRoot, int pid)
    {
        var raw = Libc.ReadAll($"{procRoot}/{pid}/cmdline", out _);
        if (raw == null || raw.Length == 0) return null;
        return Encoding.UTF8.GetString(raw).TrimEnd('\0').Split('\0');
    }

    /// <summary>The main class among the arguments (the fully qualified name ends with one of ours), with its index.</summary>
    internal static (string Class, int Index)? MainClass(string[] args)
    {
        for (int i = 1; i < args.Length; i++)
        {
            var a = args[i];
            if (a.StartsWith('-')) { if (a is "-cp" or "-classpath" or "--class-path") i++; continue; }
            foreach (var m in MainClasses)
                if (a == m || a.EndsWith("." + m, StringComparison.Ordinal)) return (m, i);
            return null;   // the first non-option argument is the main class (or -jar's jar): not ZooKeeper's
        }
        return null;
    }

    /// <summary>
    /// The ZooKeeper servers among <paramref name="pids"/> with their configuration and log, before the socket table is
    /// read (so that their logs can be read meanwhile); <see cref="Complete"/> then adds what the table tells.
    /// </summary>
    /// <param name="namespaces">The inodes of the network namespaces to be read (null: all): a server in another one is not this view's.</param>
    public static List<DiscoveredZkServer> Find(string procRoot, IReadOnlyList<int> pids, ISet<ulong>? namespaces)
    {
        var found = new List<DiscoveredZkServer>();
        foreach (var pid in pids)
        {
            var args = Arguments(procRoot, pid);
            if (args == null || args.Length < 2 || MainClass(args) is not var (main, index)) continue;
            ulong ino = NetnsScope.InodeFromLink(procRoot, pid);
            if (ino != 0 && namespaces is { Count: > 0 } && !namespaces.Contains(ino)) continue;
            found.Add(Describe(procRoot, pid, args, main, index) with { NetnsInode = ino });
        }
        return found;
    }

    /// <summary>The client endpoints (configured ports checked against the process's listeners), the AdminServer, the namespace's label.</summary>
    public static DiscoveredZkServer Complete(DiscoveredZkServer s, Evidence table)
    {
        var listens = table.Sockets.Where(x => x.State == TcpState.Listen && x.Owners.Any(o => o.Pid == s.Pid)).Select(x => x.Local).Distinct().ToList();
        var problems = s.Problems.ToList();
        var (clients, by) = ClientEndpoints(s.ConfiguredClientPorts, s.Config != null, listens, problems);
        return s with
        {
            ClientEndpoints = clients, ClientEndpointsFoundBy = by, AdminEndpoint = Admin(s.Config, listens), Problems = problems,
            Netns = table.Namespaces.FirstOrDefault(n => n.Inode == s.NetnsInode)?.Label,
        };
    }

    private static DiscoveredZkServer Describe(string procRoot, int pid, string[] args, string main, int mainIndex)
    {
        var problems = new List<string>();
        var fs = new ProcessFiles(procRoot, pid);
        string? launcher = args.Any(a => a.Contains("kafka", StringComparison.OrdinalIgnoreCase)) ? "kafka" : null;

        // zoo.cfg: QuorumPeerMain and ZooKeeperServerMain take it as their one argument (ZooKeeperServerMain also takes
        // "port dataDir ..."); else zkServer.sh's conf directory, which it puts on the class path.
        string? cfgPath = null, foundBy = null;
        ZooCfg? cfg = null;
        var rest = args[(mainIndex + 1)..];
        if (rest.Length >= 1 && !int.TryParse(rest[0], out _)) { cfgPath = fs.Absolute(rest[0]); foundBy = "command line"; }
        else if (rest.Length == 0)
        {
            foreach (var dir in ClassPath(args))
            {
                var candidate = fs.Absolute(dir.TrimEnd('/') + "/zoo.cfg");
                if (fs.Exists(candidate)) { cfgPath = candidate; foundBy = "conf directory on the class path"; break; }
            }
        }
        if (cfgPath != null)
        {
            try { cfg = ZooCfgReader.Read(fs.Readable(cfgPath)) with { Path = cfgPath }; }
            catch (UserException ex) { problems.Add($"configuration {cfgPath}: {ex.Message}"); }
        }
        else if (rest.Length >= 1) problems.Add("started with a port and data directory, no configuration file");
        else problems.Add("no configuration file on its command line or class path");

        // Dynamic configuration (3.5+): the servers and their client ports move to a file of their own.
        string? dynPath = null;
        ZooCfg? dyn = null;
        if (cfg?["dynamicConfigFile"] is { } d)
        {
            dynPath = fs.Absolute(d.Value);
            try { dyn = ZooCfgReader.Parse(File.ReadAllText(fs.Readable(dynPath)), dynPath); }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or UserException) { problems.Add($"dynamic configuration {dynPath}: {ex.Message}"); }
        }

        var ports = ConfiguredPorts(cfg, dyn, rest);

        var (log, logBy, others, logProblem) = LogFile(fs, args);
        if (logProblem != null) problems.Add(logProblem);
        return new DiscoveredZkServer
        {
            Pid = pid, MainClass = main, Launcher = launcher,
            ConfigPath = cfgPath, ConfigFoundBy = foundBy, Config = cfg, DynamicConfigPath = dynPath, ConfiguredClientPorts = ports,
            LogFile = log, LogFoundBy = logBy, OtherLogs = others, Problems = problems,
        };
    }

    private static IEnumerable<string> ClassPath(string[] args)
    {
        for (int i = 1; i + 1 < args.Length; i++)
            if (args[i] is "-cp" or "-classpath" or "--class-path")
                foreach (var e in args[i + 1].Split(':', StringSplitOptions.RemoveEmptyEntries))
                    if (!e.EndsWith(".jar", StringComparison.Ordinal) && !e.EndsWith('*')) yield return e;
    }

    /// <summary>clientPort/clientPortAddress, or (3.5+ dynamic configuration) the "server.N=...;[ADDR:]PORT" parts; or ZooKeeperServerMain's port argument.</summary>
    private static List<ConfiguredPort> ConfiguredPorts(ZooCfg? cfg, ZooCfg? dyn, string[] rest)
    {
        var ports = new List<ConfiguredPort>();
        if (cfg?.Int("clientPort") is int cp) ports.Add(new(cfg["clientPortAddress"]?.Value, cp));
        foreach (var c in new[] { cfg, dyn })
            if (c != null)
                foreach (var e in c.Entries.Values.Where(e => e.Key.StartsWith("server.", StringComparison.Ordinal)))
                    if (e.Value.IndexOf(';') is int semi and >= 0)
                    {
                        var client = e.Value[(semi + 1)..].Trim();
                        int colon = client.LastIndexOf(':');
                        if (int.TryParse(colon < 0 ? client : client[(colon + 1)..], out int p)) ports.Add(new(colon < 0 ? null : client[..colon], p));
                    }
        if (cfg == null && rest.Length >= 1 && int.TryParse(rest[0], out int argPort)) ports.Add(new(null, argPort));
        return ports;
    }

    /// <summary>
    /// The configured client ports checked against the process's listeners; without a configuration, what the process
    /// listens on that is not the AdminServer.
    /// </summary>
    private static (List<NetEndpoint>, string?) ClientEndpoints(IReadOnlyList<ConfiguredPort> ports, bool fromConfig, List<NetEndpoint> listens, List<string> problems)
    {
        var wanted = ports.Select(p => p.Port).ToHashSet();
        var matched = listens.Where(l => wanted.Contains(l.Port)).OrderBy(l => l.Port).ToList();
        if (matched.Count > 0) return (matched, fromConfig ? "configuration, listening" : "command line, listening");
        if (ports.Count > 0)
        {
            // Configured but not (yet) listening, or its listeners are owned by a user we cannot inspect.
            var (addr, port) = (ports[0].Address, ports[0].Port);
            var ip = addr != null && NetAddress.TryParse(addr, out var a) ? a : NetAddress.FromIPAddress(System.Net.IPAddress.Any);
            if (listens.Count > 0) problems.Add($"configured client port {port} is not among its listeners ({string.Join(", ", listens)})");
            return ([new NetEndpoint(ip, (ushort)port)], "configuration (listener not seen)");
        }
        return (listens.Where(l => l.Port != 8080).OrderBy(l => l.Port).Take(1).ToList(), listens.Count > 0 ? "its listeners (no configuration)" : null);
    }

    /// <summary>The AdminServer (3.5+: on by default, port 8080, every address) when the process listens there.</summary>
    private static NetEndpoint? Admin(ZooCfg? cfg, List<NetEndpoint> listens)
    {
        if (cfg?["admin.enableServer"]?.Value is { } on && on.Equals("false", StringComparison.OrdinalIgnoreCase)) return null;
        int port = cfg?.Int("admin.serverPort") ?? 8080;
        var l = listens.FirstOrDefault(x => x.Port == port);
        if (l.Port == 0) return null;
        return l.Address.IsAny ? new NetEndpoint(NetAddress.FromIPAddress(System.Net.IPAddress.Loopback), l.Port) : l;
    }

    /// <summary>
    /// The log the server writes: of the log-like files it has open (log4j/logback appenders, zookeeper.out as its
    /// stdout), the largest (at two levels, the more detailed); else zookeeper.log.dir/zookeeper.log.file from its
    /// command line (zkServer.sh's), or zookeeper.out in that directory.
    /// </summary>
    private static (string? Log, string? FoundBy, List<string> Others, string? Problem) LogFile(ProcessFiles fs, string[] args)
    {
        var open = fs.OpenLogFiles(AppLogNames.IsServerLogName);
        if (open.Denied) return (null, null, [], "its open files cannot be listed (another user's process: run as root)");
        var files = open.Files.Select(f => (f.Path, Size: fs.Size(f.Path))).OrderByDescending(f => f.Size).ToList();
        if (files.Count > 0)
            return (fs.Readable(files[0].Path), files[0].Path.EndsWith(".out", StringComparison.Ordinal) && open.Files.Any(f => f.Path == files[0].Path && f.Fd is 1 or 2) ? "its standard output" : "an open descriptor",
                files.Skip(1).Select(f => fs.Readable(f.Path)).ToList(), null);
        string? dir = Property(args, "zookeeper.log.dir"), name = Property(args, "zookeeper.log.file") ?? "zookeeper.log";
        if (dir != null)
        {
            foreach (var candidate in new[] { $"{dir.TrimEnd('/')}/{name}", $"{dir.TrimEnd('/')}/zookeeper.out" })
            {
                var abs = fs.Absolute(candidate);
                if (fs.Exists(abs)) return (fs.Readable(abs), "zookeeper.log.dir on its command line", [], null);
            }
            return (null, null, [], $"no log file open, and none in zookeeper.log.dir {dir} (it may log to the console or the journal)");
        }
        return (null, null, [], "no log file open and no zookeeper.log.dir on its command line (it may log to the console or the journal)");
    }

    internal static string? Property(string[] args, string name)
    {
        string prefix = $"-D{name}=";
        var a = args.LastOrDefault(x => x.StartsWith(prefix, StringComparison.Ordinal));
        return a?[prefix.Length..];
    }

    /// <summary>
    /// The rotated files of a log beside it (zookeeper.log.1, zookeeper.log.2.gz, zookeeper.log.2024-01-31, zookeeper-2024-01-31.log.gz),
    /// modified at or after <paramref name="since"/> (an older one holds nothing in the window).
    /// </summary>
    public static List<string> RotatedSiblings(string log, DateTime since)
    {
        var list = new List<string>();
        var dir = Path.GetDirectoryName(log);
        if (dir == null) return list;
        string name = Path.GetFileName(log), stem = Path.GetFileNameWithoutExtension(log);
        try
        {
            foreach (var f in Directory.EnumerateFiles(dir))
            {
                var n = Path.GetFileName(f);
                if (n == name) continue;
                string tail = n.StartsWith(name, StringComparison.Ordinal) ? n[name.Length..] : n.StartsWith(stem, StringComparison.Ordinal) ? n[stem.Length..] : "";
                if (tail.Length < 2 || tail[0] is not ('.' or '-' or '_') || !char.IsDigit(tail[1])) continue;
                if (File.GetLastWriteTime(f) < since) continue;
                list.Add(f);
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { }
        return list.Order(StringComparer.Ordinal).ToList();
    }
}
