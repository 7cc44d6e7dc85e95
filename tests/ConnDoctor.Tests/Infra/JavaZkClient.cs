using System.Diagnostics;
using System.IO.Compression;

namespace ConnDoctor.Tests.Infra;

/// <summary>
/// helpers/ZkJavaClient.java on the real ZooKeeper Java client (Debian's zookeeper 3.8 package), compiled once per test
/// run with javac, started as an application starts it: one JVM whose client connects from its own thread
/// "main-SendThread(host:port)". Its stdout (the client's log through slf4j-simple and its own "ready PID 0xSESSION",
/// "state NAME" lines) is collected. Closing stdin makes it close its session and exit; Dispose does that, bounded,
/// then kills it.
///
/// <see cref="WithoutSetWatches"/> reproduces incident 000: the class path has a copy of zookeeper-jute without
/// org/apache/zookeeper/proto/SetWatches*.class. The client opens its session and sets its watch normally; once its
/// connection breaks, every reconnect throws NoClassDefFoundError in ClientCnxn.SendThread.primeConnection (3.8 builds
/// SetWatches to re-register the watch before it queues the ConnectRequest), the send thread closes the socket and
/// tries again after its own backoff (StaticHostProvider.next(1000) with one server: 1 s, then startConnect: a random
/// 0..1 s): a connection every 1 to 2 s, each closed by the client within milliseconds, none with a session.
/// </summary>
public sealed class JavaZkClient : IDisposable
{
    /// <summary>
    /// What the client needs: zookeeper.jar and zookeeper-jute.jar (the wire records), slf4j-api and a binding. Debian's
    /// zookeeper.jar names its dependencies in its manifest's Class-Path, the real zookeeper-jute.jar among them; the
    /// tests use a copy without that manifest so that the class path below is the whole of it.
    /// </summary>
    public const string ZookeeperJar = "/usr/share/java/zookeeper.jar", JuteJar = "/usr/share/java/zookeeper-jute.jar",
        Slf4jApi = "/usr/share/java/slf4j-api.jar", Slf4jSimple = "/usr/share/java/slf4j-simple.jar";

    private sealed record Build(string Dir, string ClassPath, string BrokenClassPath);

    private static readonly Lazy<Build> Built = new(Compile, LazyThreadSafetyMode.ExecutionAndPublication);

    private readonly Process _p;
    private readonly List<string> _lines = new();
    private readonly System.Text.StringBuilder _stderr = new();
    private bool _disposed;
    private readonly bool _looping;

    /// <summary>The JVM's pid (ip netns exec execs it: the same process).</summary>
    public int Pid { get; }
    /// <summary>The session id the client printed once connected ("0x...").</summary>
    public string Session { get; }
    /// <summary>The whole command line the JVM runs with.</summary>
    public IReadOnlyList<string> Arguments { get; }

    /// <param name="netns">The namespace to run in (null: this one).</param>
    /// <param name="server">HOST:PORT.</param>
    /// <param name="withoutSetWatches">The class path of incident 000 (no SetWatches class): every reconnect fails.</param>
    /// <param name="logFile">Where the client's own log goes (slf4j-simple's logFile, opened by the JVM as an application's log
    /// file is); null: its stdout, collected in <see cref="Lines"/>.</param>
    public JavaZkClient(TestNetns? netns, string server, bool withoutSetWatches = false, int holdSeconds = 120, string? logFile = null)
    {
        _looping = withoutSetWatches;
        var b = Built.Value;
        string[] java = ["java", "-Xmx48m", "-Xss512k", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-XX:CICompilerCount=1",
            $"-Dorg.slf4j.simpleLogger.logFile={logFile ?? "System.out"}", "-Dorg.slf4j.simpleLogger.showDateTime=true",
            "-Dorg.slf4j.simpleLogger.dateTimeFormat=HH:mm:ss.SSS",
            "-cp", withoutSetWatches ? b.BrokenClassPath : b.ClassPath, "ZkJavaClient", server, holdSeconds.ToString()];
        Arguments = java;
        var psi = new ProcessStartInfo(netns == null ? "java" : "ip")
        { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var a in netns == null ? java[1..] : ["netns", "exec", netns.Name, .. java]) psi.ArgumentList.Add(a);
        _p = Process.Start(psi)!;
        _p.OutputDataReceived += (_, e) => { if (e.Data != null) lock (_lines) _lines.Add(e.Data); };
        _p.ErrorDataReceived += (_, e) => { if (e.Data != null) lock (_stderr) _stderr.AppendLine(e.Data); };
        _p.BeginOutputReadLine();
        _p.BeginErrorReadLine();
        try
        {
            WaitFor(l => l.Any(x => x.StartsWith("ready ")), 90);
            var ready = Lines.First(x => x.StartsWith("ready ")).Split(' ');
            Pid = int.Parse(ready[1]);
            Session = ready[2];
            Assert.Equal(_p.Id, Pid);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    public List<string> Lines { get { lock (_lines) return _lines.ToList(); } }

    /// <summary>Lines of its log (and its own lines) that contain the text.</summary>
    public int Count(string text) => Lines.Count(l => l.Contains(text, StringComparison.Ordinal));

    /// <summary>The client's threads whose name starts with the prefix ("main-SendThread"): (tid, name) from /proc.</summary>
    public List<(int Tid, string Name)> Threads(string prefix)
    {
        var list = new List<(int, string)>();
        foreach (var dir in Directory.GetDirectories($"/proc/{Pid}/task"))
        {
            try
            {
                string name = File.ReadAllText(Path.Combine(dir, "comm")).TrimEnd('\n');
                if (name.StartsWith(prefix, StringComparison.Ordinal)) list.Add((int.Parse(Path.GetFileName(dir)), name));
            }
            catch (IOException) { }
        }
        return list;
    }

    /// <summary>Waits (bounded) until the output so far satisfies the condition.</summary>
    public void WaitFor(Func<List<string>, bool> done, int seconds = 60)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        while (!done(Lines))
        {
            if (_p.HasExited) { Thread.Sleep(100); if (done(Lines)) return; throw new InvalidOperationException($"ZkJavaClient exited {_p.ExitCode}: {Tail()}"); }
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"ZkJavaClient did not get there in {seconds}s: {Tail()}");
            Thread.Sleep(50);
        }
    }

    private string Tail() => string.Join('\n', Lines.TakeLast(8)) + "\n" + _stderr;

    /// <summary>Closing stdin makes the client close its session and exit (bounded, then killed).</summary>
    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        // A looping client cannot close its session (it has no connection): no use waiting for it.
        if (!_looping) try { _p.StandardInput.Close(); } catch (IOException) { }
        if (_looping || !_p.WaitForExit(5_000)) { try { _p.Kill(true); _p.WaitForExit(5_000); } catch (InvalidOperationException) { } }
        _p.Dispose();
    }

    /// <summary>Compiles the client (once per run) and makes the two class paths, in a temporary directory.</summary>
    private static Build Compile()
    {
        foreach (var jar in (string[])[ZookeeperJar, JuteJar, Slf4jApi, Slf4jSimple])
            Assert.True(File.Exists(jar), $"{jar} is missing: run scripts/setup.sh (packages zookeeper, libslf4j-java)");
        Assert.True(File.Exists("/usr/bin/javac") || Shell.RunFull("sh", ["-c", "command -v javac"], check: false).Code == 0,
            "javac is missing: run scripts/setup.sh (package default-jdk-headless)");
        string dir = Path.Combine(Path.GetTempPath(), $"cd-javazk-{Environment.ProcessId}");
        Directory.CreateDirectory(dir);
        AppDomain.CurrentDomain.ProcessExit += (_, _) => { try { Directory.Delete(dir, true); } catch (IOException) { } };
        string zk = Path.Combine(dir, "zookeeper.jar"), broken = Path.Combine(dir, "zookeeper-jute-without-SetWatches.jar");
        CopyJar(ZookeeperJar, zk, name => name == "META-INF/MANIFEST.MF");
        CopyJar(JuteJar, broken, name => name.StartsWith("org/apache/zookeeper/proto/SetWatches", StringComparison.Ordinal));
        string classes = Path.Combine(dir, "classes");
        Directory.CreateDirectory(classes);
        string source = Path.Combine(AppContext.BaseDirectory, "helpers", "ZkJavaClient.java");
        string cp = string.Join(':', zk, JuteJar, Slf4jApi, Slf4jSimple);
        Shell.RunFull("javac", ["-nowarn", "-cp", cp, "-d", classes, source], timeoutMs: 120_000);
        return new Build(dir, cp + ":" + classes, string.Join(':', zk, broken, Slf4jApi, Slf4jSimple, classes));
    }

    private static void CopyJar(string from, string to, Func<string, bool> drop)
    {
        using var src = ZipFile.OpenRead(from);
        using var dst = ZipFile.Open(to, ZipArchiveMode.Create);
        int dropped = 0;
        foreach (var e in src.Entries)
        {
            if (drop(e.FullName)) { dropped++; continue; }
            var copy = dst.CreateEntry(e.FullName, CompressionLevel.Fastest);
            using var i = e.Open();
            using var o = copy.Open();
            i.CopyTo(o);
        }
        Assert.True(dropped > 0, $"{from}: nothing to leave out");
    }
}
