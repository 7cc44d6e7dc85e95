using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace ConnDoctor.Tests.Infra;

/// <summary>
/// A real Apache ZooKeeper 3.8 (Debian's zookeeper package) started by the test on loopback with a small heap,
/// its own data directory and two logs of the same run: info.log (the default level) and debug.log.
/// Options: the four-letter-word whitelist, the AdminServer on a free port, maxClientCnxns; or one member of a
/// <see cref="ZooKeeperEnsemble"/> on its own loopback address.
/// </summary>
public sealed class ZooKeeperServer : IDisposable
{
    private readonly Process _java = null!;
    public string Dir { get; private set; } = "";
    public int Port { get; private set; }
    /// <summary>The address the client port is bound to (127.0.0.1 standalone, 127.0.0.N for ensemble member N).</summary>
    public string Host { get; } = "127.0.0.1";
    /// <summary>The test namespace the server runs in (null: this one).</summary>
    public TestNetns? Netns { get; }
    /// <summary>The AdminServer's port, 0 when it is off.</summary>
    public int AdminPort { get; private set; }
    public string AdminUrl => $"http://{Host}:{AdminPort}/commands";
    public string InfoLog => Path.Combine(Dir, "info.log");
    public string DebugLog => Path.Combine(Dir, "debug.log");
    public string Address => $"{Host}:{Port}";

    /// <param name="maxClientCnxns">Connections allowed per client IP (0: no limit).</param>
    /// <param name="fourLetterWords">4lw.commands.whitelist: "*" for all, "srvr" for 3.5+'s default, "" for none.</param>
    /// <param name="adminServer">Start the AdminServer (Jetty) on a free port, see <see cref="AdminUrl"/>.</param>
    /// <param name="netns">Run the server in this test namespace, reached at <paramref name="host"/> (an address of it).</param>
    /// <param name="maxSessionTimeoutMs">The longest session timeout a client may negotiate (6000 by default: expiries come fast).</param>
    public ZooKeeperServer(int maxClientCnxns = 60, string fourLetterWords = "*", bool adminServer = false, TestNetns? netns = null, string? host = null,
        int maxSessionTimeoutMs = 6000)
    {
        _maxSessionTimeoutMs = maxSessionTimeoutMs;
        Netns = netns;
        Host = host ?? Host;
        Assert.True(File.Exists("/usr/share/java/zookeeper.jar"), "Debian's zookeeper package is missing: run scripts/setup.sh");
        for (int attempt = 1; ; attempt++)
        {
            Dir = Directory.CreateTempSubdirectory("cd-zk").FullName;
            var ports = Ports.Free(2);
            Port = ports[0];
            AdminPort = adminServer ? ports[1] : 0;
            try
            {
                _java = Start(Config(maxClientCnxns, fourLetterWords, null));
                WaitServing(TimeSpan.FromSeconds(60));
                return;
            }
            catch (InvalidOperationException) when (attempt < 3) { Cleanup(); } // a port taken between our check and Java's bind
        }
    }

    /// <summary>Member <paramref name="myid"/> of a <see cref="ZooKeeperEnsemble"/>: started, not waited for (a member alone has no quorum).</summary>
    internal ZooKeeperServer(string dir, string host, int port, int myid, string servers, bool readOnlyMode, bool localSessions)
    {
        Dir = dir;
        Host = host;
        Port = port;
        Directory.CreateDirectory(Path.Combine(Dir, "data"));
        File.WriteAllText(Path.Combine(Dir, "data", "myid"), myid.ToString());
        _java = Start(Config(60, "*", $"localSessionsEnabled={(localSessions ? "true" : "false")}\n{servers}"), readOnlyMode);
    }

    private readonly int _maxSessionTimeoutMs = 6000;

    private string Config(int maxClientCnxns, string fourLetterWords, string? servers) => $"""
        tickTime=2000
        initLimit=10
        syncLimit=5
        dataDir={Dir}/data
        clientPort={Port}
        clientPortAddress={(servers == null ? "0.0.0.0" : Host)}
        maxClientCnxns={maxClientCnxns}
        4lw.commands.whitelist={fourLetterWords}
        admin.enableServer={(AdminPort > 0 ? "true" : "false")}
        admin.serverAddress={Host}
        admin.serverPort={(AdminPort > 0 ? AdminPort : 8080)}
        minSessionTimeout=4000
        maxSessionTimeout={_maxSessionTimeoutMs}
        {servers ?? ""}
        """;

    /// <param name="readOnlyMode">readonlymode.enabled (a JVM property, not a zoo.cfg key): a member cut off from its quorum serves read-only sessions.</param>
    private Process Start(string config, bool readOnlyMode = false)
    {
        Directory.CreateDirectory(Path.Combine(Dir, "data"));
        File.WriteAllText(Path.Combine(Dir, "zoo.cfg"), config);
        // Debian's layout (no [myid]) for both appenders; the same events at two levels.
        File.WriteAllText(Path.Combine(Dir, "log4j.properties"), $"""
            log4j.rootLogger=DEBUG, INFOFILE, DEBUGFILE
            log4j.appender.INFOFILE=org.apache.log4j.FileAppender
            log4j.appender.INFOFILE.Threshold=INFO
            log4j.appender.INFOFILE.File={InfoLog}
            log4j.appender.INFOFILE.layout=org.apache.log4j.PatternLayout
            log4j.appender.INFOFILE.layout.ConversionPattern=%d{"{"}ISO8601{"}"} - %-5p [%t:%C{"{"}1{"}"}@%L] - %m%n
            log4j.appender.DEBUGFILE=org.apache.log4j.FileAppender
            log4j.appender.DEBUGFILE.Threshold=DEBUG
            log4j.appender.DEBUGFILE.File={DebugLog}
            log4j.appender.DEBUGFILE.layout=org.apache.log4j.PatternLayout
            log4j.appender.DEBUGFILE.layout.ConversionPattern=%d{"{"}ISO8601{"}"} - %-5p [%t:%C{"{"}1{"}"}@%L] - %m%n
            """);
        var psi = new ProcessStartInfo(Netns == null ? "java" : "ip") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        if (Netns != null) foreach (var a in (string[])["netns", "exec", Netns.Name, "java"]) psi.ArgumentList.Add(a);
        // servlet-api: the AdminServer's Jetty needs it and Debian's zookeeper.jar manifest does not name it.
        foreach (var a in (string[])["-Xmx96m", "-Xms16m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xss512k", $"-Dreadonlymode.enabled={(readOnlyMode ? "true" : "false")}",
                     "-cp", "/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-log4j12.jar:/usr/share/java/log4j-1.2.jar:/usr/share/java/servlet-api.jar",
                     $"-Dlog4j.configuration=file:{Dir}/log4j.properties", "org.apache.zookeeper.server.quorum.QuorumPeerMain", $"{Dir}/zoo.cfg"])
            psi.ArgumentList.Add(a);
        var java = Process.Start(psi)!;
        java.OutputDataReceived += (_, e) => { if (e.Data != null) lock (_stderr) _stderr.AppendLine(e.Data); };
        java.ErrorDataReceived += (_, e) => { if (e.Data != null) lock (_stderr) _stderr.AppendLine(e.Data); };
        java.BeginOutputReadLine();
        java.BeginErrorReadLine();
        return java;
    }

    private readonly System.Text.StringBuilder _stderr = new();

    /// <summary>
    /// Waits (bounded) until the server serves sessions: its srvr names a mode. ruok's imok is not enough: 3.8
    /// answers it while it still loads its database and hangs up on a ConnectRequest until it serves. Where srvr
    /// is not whitelisted, a session our own client opens says it serves. Kills the server and throws when it
    /// does not serve in time.
    /// </summary>
    internal void WaitServing(TimeSpan limit)
    {
        var deadline = DateTime.UtcNow + limit;
        while (FourLetter("srvr") is not string r || !(r.Contains("Mode: ") || (r.Contains("whitelist") && CanOpenSession())))
        {
            if (_java.HasExited || DateTime.UtcNow > deadline)
            {
                try { _java.Kill(true); } catch (InvalidOperationException) { }
                string log = File.Exists(InfoLog) ? string.Join('\n', File.ReadLines(InfoLog).TakeLast(5)) : "";
                throw new InvalidOperationException($"ZooKeeper did not serve on {Address} within {limit.TotalSeconds:0}s: {_stderr} {log}");
            }
            Thread.Sleep(200);
        }
    }

    /// <summary>Polls a four-letter word until its reply satisfies the condition (bounded), returning the last reply ("" when none).</summary>
    public string AwaitFourLetter(string word, Func<string, bool> done, int seconds = 10)
    {
        var deadline = DateTime.UtcNow.AddSeconds(seconds);
        string reply;
        while (!done(reply = FourLetter(word) ?? "") && DateTime.UtcNow < deadline) Thread.Sleep(100);
        return reply;
    }

    private bool CanOpenSession() => InNetns(() =>
    {
        try
        {
            using var c = ConnDoctor.Sources.ZkWire.ZkClient.Connect(Host, Port, TimeSpan.FromSeconds(2), 4000);
            c.Close();
            return true;
        }
        catch (ConnDoctor.Sources.SourceException) { return false; }
    });

    /// <summary>Work of the test process that talks to the server: inside its namespace when it runs in one.</summary>
    private T InNetns<T>(Func<T> work) => Netns == null ? work() : ConnDoctor.Sources.NetnsScope.Run($"/run/netns/{Netns.Name}", work);

    public string? FourLetter(string word) => FourLetterFrom(null, word);

    /// <summary>leader, follower, read-only or standalone from srvr; null while the server does not serve.</summary>
    public string? Mode() =>
        FourLetter("srvr")?.Split('\n').FirstOrDefault(l => l.StartsWith("Mode: "))?[6..].Trim();

    /// <summary>A four-letter word sent from a chosen loopback source address (another "host"); null when the connection fails.</summary>
    public string? FourLetterFrom(string? source, string word) => InNetns(() =>
    {
        try
        {
            using var c = source == null ? new TcpClient() : new TcpClient(new IPEndPoint(IPAddress.Parse(source), 0));
            c.Connect(IPAddress.Parse(Host), Port);
            using var s = c.GetStream();
            s.ReadTimeout = 2000;
            s.Write(System.Text.Encoding.ASCII.GetBytes(word));
            return new StreamReader(s).ReadToEnd();
        }
        catch (SocketException) { return null; }
        catch (IOException) { return null; }
    });

    /// <summary>Runs helpers/zkclient.py against this server and waits for it (bounded).</summary>
    public void Client(params string[] args)
    {
        Shell.RunFull(Shell.Python, [Script, .. args, "--server", Address], timeoutMs: 120_000);
    }

    /// <summary>helpers/zkclient.py: kazoo clients with a chosen source address.</summary>
    public static string Script => Path.Combine(AppContext.BaseDirectory, "helpers", "zkclient.py");

    /// <summary>Stops the server (the members of an ensemble one by one, to make one unreachable).</summary>
    public void Stop()
    {
        try { if (!_java.HasExited) { _java.Kill(true); _java.WaitForExit(10_000); } } catch (InvalidOperationException) { }
    }

    public void Dispose()
    {
        Stop();
        _java.Dispose();
        Cleanup();
    }

    private void Cleanup()
    {
        try { Directory.Delete(Dir, true); } catch (IOException) { }
    }
}

/// <summary>
/// A three-server ZooKeeper 3.8 ensemble on loopback: member N on 127.0.0.N with its own client, quorum and election
/// ports and myid N (small heaps, C1 only). Start all three for a leader and two followers, ready when every
/// member's srvr names its mode; or only the first with read-only mode enabled: cut off from any quorum, it then
/// serves clients that ask for read-only sessions (3.8 opens new sessions in that mode only with local sessions
/// enabled; without, it refuses them). Starting takes seconds: share one per test class or collection.
/// </summary>
public sealed class ZooKeeperEnsemble : IDisposable
{
    /// <summary>The members started, member N at index N-1.</summary>
    public IReadOnlyList<ZooKeeperServer> Members { get; }
    public string Connect => string.Join(',', Members.Select(m => m.Address));

    public ZooKeeperEnsemble(int started = 3, bool readOnlyMode = false, bool localSessions = false)
    {
        Assert.True(File.Exists("/usr/share/java/zookeeper.jar"), "Debian's zookeeper package is missing: run scripts/setup.sh");
        var hosts = new[] { "127.0.0.1", "127.0.0.2", "127.0.0.3" };
        var ports = Ports.Free(hosts.Length * 3);
        string servers = string.Join('\n', hosts.Select((h, i) => $"server.{i + 1}={h}:{ports[3 * i + 1]}:{ports[3 * i + 2]}"));
        var members = new List<ZooKeeperServer>();
        try
        {
            for (int i = 0; i < started; i++)
                members.Add(new ZooKeeperServer(Directory.CreateTempSubdirectory("cd-zke").FullName, hosts[i], ports[3 * i], i + 1, servers, readOnlyMode, localSessions));
            // Bounded: 90 s for the JVMs to start and elect (two cores shared with the rest of the suite).
            foreach (var m in members) m.WaitServing(TimeSpan.FromSeconds(90));
        }
        catch
        {
            foreach (var m in members) m.Dispose();
            throw;
        }
        Members = members;
    }

    /// <summary>The first member whose srvr says this mode (leader, follower, read-only).</summary>
    public ZooKeeperServer MemberIn(string mode) => Members.First(m => m.Mode() == mode);

    public void Dispose()
    {
        foreach (var m in Members) m.Dispose();
    }
}

/// <summary>
/// One three-server ensemble (127.0.0.1/.2/.3) for every test class in the "zk-ensemble" collection: it takes three
/// JVMs and seconds to start, so the classes that need one share it (and run one after the other).
/// </summary>
public sealed class EnsembleFixture : IDisposable
{
    public const string Collection = "zk-ensemble";
    public ZooKeeperEnsemble Ensemble { get; } = new();
    public void Dispose() => Ensemble.Dispose();
}

[CollectionDefinition(EnsembleFixture.Collection)]
public sealed class EnsembleCollection : ICollectionFixture<EnsembleFixture>;

/// <summary>A standalone server with the defaults, for test classes whose tests can share one (each in its own znodes).</summary>
public sealed class StandaloneFixture : IDisposable
{
    public ZooKeeperServer Zk { get; } = new();
    public void Dispose() => Zk.Dispose();
}
