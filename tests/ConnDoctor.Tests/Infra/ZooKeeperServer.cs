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
    private readonly Process _java = null!;
    public string Dir { get; private set; } = "";
    public int Port { get; private set; }
    public string InfoLog => Path.Combine(Dir, "info.log");
    public string DebugLog => Path.Combine(Dir, "debug.log");
    public string Address => $"127.0.0.1:{Port}";

    public ZooKeeperServer(int maxClientCnxns = 60)
    {
        Assert.True(File.Exists("/usr/share/java/zookeeper.jar"), "Debian's zookeeper package is missing: run scripts/setup.sh");
        for (int attempt = 1; ; attempt++)
        {
            Dir = Directory.CreateTempSubdirectory("cd-zk").FullName;
            Port = FreePort();
            try { _java = Start(maxClientCnxns); return; }
            catch (InvalidOperationException) when (attempt < 3) { Cleanup(); } // a port taken between our check and Java's bind
        }
    }

    private Process Start(int maxClientCnxns)
    {
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
        var java = Process.Start(psi)!;
        var stderr = new System.Text.StringBuilder();
        java.OutputDataReceived += (_, e) => { if (e.Data != null) lock (stderr) stderr.AppendLine(e.Data); };
        java.ErrorDataReceived += (_, e) => { if (e.Data != null) lock (stderr) stderr.AppendLine(e.Data); };
        java.BeginOutputReadLine();
        java.BeginErrorReadLine();
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (FourLetter("ruok") != "imok")
        {
            if (java.HasExited || DateTime.UtcNow > deadline)
            {
                try { java.Kill(true); } catch (InvalidOperationException) { }
                string log = File.Exists(InfoLog) ? string.Join('\n', File.ReadLines(InfoLog).TakeLast(5)) : "";
                throw new InvalidOperationException($"ZooKeeper did not start on port {Port}: {stderr} {log}");
            }
            Thread.Sleep(200);
        }
        return java;
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

    /// <summary>A free port below the ephemeral range (32768+), so no outgoing connection takes it before Java binds it.</summary>
    private static int FreePort()
    {
        for (int i = 0; i < 200; i++)
        {
            int port = Random.Shared.Next(20000, 32000);
            try
            {
                var l = new TcpListener(IPAddress.Any, port);
                l.Start();
                l.Stop();
                return port;
            }
            catch (SocketException) { }
        }
        throw new InvalidOperationException("no free port in 20000-32000");
    }

    public void Dispose()
    {
        try { if (!_java.HasExited) { _java.Kill(true); _java.WaitForExit(10_000); } } catch (InvalidOperationException) { }
        _java.Dispose();
        Cleanup();
    }

    private void Cleanup()
    {
        try { Directory.Delete(Dir, true); } catch (IOException) { }
    }
}
