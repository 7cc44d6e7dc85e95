using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace ConnDoctor.Tests.ZkWire;

/// <summary>
/// A real ZooKeeper 3.8 member of a three-server ensemble whose two peers never start, with read-only mode
/// enabled: cut off from any quorum, it serves clients that asked for read-only sessions (and only those).
/// ZooKeeper 3.8 opens new sessions in that mode only with local sessions enabled; without, it refuses them.
/// </summary>
public sealed class ReadOnlyMember : IDisposable
{
    private readonly Process _java;
    private readonly string _dir = Directory.CreateTempSubdirectory("cd-zkro").FullName;
    public int Port { get; }

    public ReadOnlyMember(bool localSessions)
    {
        var ports = FreePorts(7);
        Port = ports[0];
        Directory.CreateDirectory(Path.Combine(_dir, "data"));
        File.WriteAllText(Path.Combine(_dir, "data", "myid"), "1");
        File.WriteAllText(Path.Combine(_dir, "zoo.cfg"), $"""
            tickTime=500
            initLimit=10
            syncLimit=5
            dataDir={_dir}/data
            clientPort={Port}
            clientPortAddress=127.0.0.1
            4lw.commands.whitelist=*
            admin.enableServer=false
            localSessionsEnabled={(localSessions ? "true" : "false")}
            server.1=127.0.0.1:{ports[1]}:{ports[2]}
            server.2=127.0.0.1:{ports[3]}:{ports[4]}
            server.3=127.0.0.1:{ports[5]}:{ports[6]}
            """);
        File.WriteAllText(Path.Combine(_dir, "log4j.properties"), $"""
            log4j.rootLogger=INFO, FILE
            log4j.appender.FILE=org.apache.log4j.FileAppender
            log4j.appender.FILE.File={_dir}/info.log
            log4j.appender.FILE.layout=org.apache.log4j.PatternLayout
            log4j.appender.FILE.layout.ConversionPattern=%d - %-5p [%t] - %m%n
            """);
        var psi = new ProcessStartInfo("java") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in (string[])["-Xmx96m", "-Xms16m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Dreadonlymode.enabled=true",
                     "-cp", "/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-log4j12.jar:/usr/share/java/log4j-1.2.jar",
                     $"-Dlog4j.configuration=file:{_dir}/log4j.properties", "org.apache.zookeeper.server.quorum.QuorumPeerMain", $"{_dir}/zoo.cfg"])
            psi.ArgumentList.Add(a);
        _java = Process.Start(psi)!;
        _java.OutputDataReceived += (_, _) => { };
        _java.ErrorDataReceived += (_, _) => { };
        _java.BeginOutputReadLine();
        _java.BeginErrorReadLine();
        for (int i = 0; i < 300 && !FourLetter("srvr").Contains("Mode: read-only"); i++)
        {
            if (_java.HasExited) break;
            Thread.Sleep(200);
        }
        string srvr = FourLetter("srvr");
        if (!srvr.Contains("Mode: read-only"))
        {
            Dispose();
            throw new InvalidOperationException($"the lone member did not enter read-only mode: {srvr}");
        }
    }

    public string FourLetter(string word)
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
        catch (SocketException) { return ""; }
        catch (IOException) { return ""; }
    }

    /// <summary>Distinct free ports below the ephemeral range, so no outgoing connection takes one before Java binds it.</summary>
    private static int[] FreePorts(int count)
    {
        var ports = new HashSet<int>();
        for (int i = 0; i < 1000 && ports.Count < count; i++)
        {
            int port = Random.Shared.Next(20000, 32000);
            try
            {
                var l = new TcpListener(IPAddress.Loopback, port);
                l.Start();
                l.Stop();
                ports.Add(port);
            }
            catch (SocketException) { }
        }
        return [.. ports];
    }

    public void Dispose()
    {
        try { if (!_java.HasExited) { _java.Kill(true); _java.WaitForExit(10_000); } } catch (InvalidOperationException) { }
        _java.Dispose();
        try { Directory.Delete(_dir, true); } catch (IOException) { }
    }
}
