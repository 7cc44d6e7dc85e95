using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace ConnDoctor.Tests.Infra;

/// <summary>
/// A real Apache ZooKeeper 3.8 (Debian's zookeeper package) started by the test on loopback with a small heap,
/// its own data directory and two logs of the same run: info.log (the default level) and debug.log.
/// </summary>
public sealed class ZooKeeperServer : IDisposable
{
    private readonly Process _java;
    public string Dir { get; }
    public int Port { get; }
    public string InfoLog => Path.Combine(Dir, "info.log");
    public string DebugLog => Path.Combine(Dir, "debug.log");
    public string Address => $"127.0.0.1:{Port}";

    public ZooKeeperServer(int maxClientCnxns = 60)
    {
        Assert.True(File.Exists("/usr/share/java/zookeeper.jar"), "Debian's zookeeper package is missing: run scripts/setup.sh");
        Dir = Directory.CreateTempSubdirectory("cd-zk").FullName;
        Port = FreePort();
        Directory.CreateDirectory(Path.Combine(Dir, "data"));
        File.WriteAllText(Path.Combine(Dir, "zoo.cfg"), $"""
            tickTime=2000
            dataDir={Dir}/data
            clientPort={Port}
            clientPortAddress=0.0.0.0
            maxClientCnxns={maxClientCnxns}
            4lw.commands.whitelist=*
            admin.enableServer=false
            minSessionTimeout=4000
            maxSessionTimeout=6000
            """);
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
        var psi = new ProcessStartInfo("java") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in (string[])["-Xmx96m", "-Xms16m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                     "-cp", "/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-log4j12.jar:/usr/share/java/log4j-1.2.jar",
                     $"-Dlog4j.configuration=file:{Dir}/log4j.properties", "org.apache.zookeeper.server.quorum.QuorumPeerMain", $"{Dir}/zoo.cfg"])
            psi.ArgumentList.Add(a);
        _java = Process.Start(psi)!;
        _java.OutputDataReceived += (_, _) => { };
        _java.ErrorDataReceived += (_, _) => { };
        _java.BeginOutputReadLine();
        _java.BeginErrorReadLine();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (FourLetter("ruok") != "imok")
        {
            if (_java.HasExited || DateTime.UtcNow > deadline) { Dispose(); throw new InvalidOperationException("ZooKeeper did not start"); }
            Thread.Sleep(200);
        }
    }

    public string? FourLetter(string word)
    {
        try
        {
            using var c = new TcpClient();
            c.Connect(IPAddress.Loopback, Port);
            using var s = c.GetStream();
            s.ReadTimeout = 2000;
            s.Write(System.Text.Encoding.ASCII.GetBytes(word));
            return new StreamReader(s).ReadToEnd();
        }
        catch (SocketException) { return null; }
        catch (IOException) { return null; }
    }

    /// <summary>Runs helpers/zkclient.py against this server and waits for it (bounded).</summary>
    public void Client(params string[] args)
    {
        var script = Path.Combine(AppContext.BaseDirectory, "helpers", "zkclient.py");
        Shell.RunFull("/usr/bin/python3", [script, .. args, "--server", Address], timeoutMs: 120_000);
    }

    private static int FreePort()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }

    public void Dispose()
    {
        try { if (!_java.HasExited) { _java.Kill(true); _java.WaitForExit(10_000); } } catch (InvalidOperationException) { }
        _java.Dispose();
        try { Directory.Delete(Dir, true); } catch (IOException) { }
    }
}
