using System.Diagnostics;
using System.Net;
using System.Net.Sockets;

namespace ConnDoctor.Tests.ZkWire;

/// <summary>
/// Real ZooKeeper 3.8 members of one three-server ensemble on 127.0.0.1, each with its own client port, data
/// directory and small heap. Start all three for a leader and two followers, or only the first with read-only
/// mode enabled: cut off from any quorum it then serves clients that asked for read-only sessions (3.8 opens new
/// sessions in that mode only with local sessions enabled; without, it refuses them).
/// </summary>
public sealed class QuorumMembers : IDisposable
{
    private readonly List<Process> _java = [];
    private readonly string _dir = Directory.CreateTempSubdirectory("cd-zkq").FullName;
    public int[] ClientPorts { get; }

    public QuorumMembers(int started, bool readOnlyMode = false, bool localSessions = false)
    {
        var ports = FreePorts(9);
        ClientPorts = ports[..3];
        string servers = string.Join('\n', Enumerable.Range(1, 3).Select(id => $"server.{id}=127.0.0.1:{ports[1 + id * 2]}:{ports[2 + id * 2]}"));
        for (int id = 1; id <= started; id++)
        {
            string dir = Path.Combine(_dir, id.ToString());
            Directory.CreateDirectory(Path.Combine(dir, "data"));
            File.WriteAllText(Path.Combine(dir, "data", "myid"), id.ToString());
            File.WriteAllText(Path.Combine(dir, "zoo.cfg"), $"""
                tickTime=500
                initLimit=20
                syncLimit=10
                dataDir={dir}/data
                clientPort={ClientPorts[id - 1]}
                clientPortAddress=127.0.0.1
                4lw.commands.whitelist=*
                admin.enableServer=false
                localSessionsEnabled={(localSessions ? "true" : "false")}
                {servers}
                """);
            File.WriteAllText(Path.Combine(dir, "log4j.properties"), $"""
                log4j.rootLogger=INFO, FILE
                log4j.appender.FILE=org.apache.log4j.FileAppender
                log4j.appender.FILE.File={dir}/info.log
                log4j.appender.FILE.layout=org.apache.log4j.PatternLayout
                log4j.appender.FILE.layout.ConversionPattern=%d - %-5p [%t] - %m%n
                """);
            var psi = new ProcessStartInfo("java") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var a in (string[])["-Xmx64m", "-Xms16m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", $"-Dreadonlymode.enabled={(readOnlyMode ? "true" : "false")}",
                         "-cp", "/usr/share/java/zookeeper.jar:/usr/share/java/slf4j-log4j12.jar:/usr/share/java/log4j-1.2.jar",
                         $"-Dlog4j.configuration=file:{dir}/log4j.properties", "org.apache.zookeeper.server.quorum.QuorumPeerMain", $"{dir}/zoo.cfg"])
                psi.ArgumentList.Add(a);
            var java = Process.Start(psi)!;
            java.OutputDataReceived += (_, _) => { };
            java.ErrorDataReceived += (_, _) => { };
            java.BeginOutputReadLine();
            java.BeginErrorReadLine();
            _java.Add(java);
        }
        // Bounded: 90 s for the JVMs to start and elect (two cores shared with the rest of the suite).
        for (int i = 0; i < 450 && !Enumerable.Range(0, started).All(m => Mode(m) != null); i++)
        {
            if (_java.Any(j => j.HasExited)) break;
            Thread.Sleep(200);
        }
        var modes = Enumerable.Range(0, started).Select(Mode).ToList();
        if (modes.Any(m => m == null))
        {
            Dispose();
            throw new InvalidOperationException($"the ensemble did not form: {string.Join(", ", modes.Select(m => m ?? "?"))}");
        }
    }

    /// <summary>leader, follower, read-only or standalone from srvr; null while the member does not serve.</summary>
    public string? Mode(int member)
    {
        var srvr = FourLetter(member, "srvr");
        int at = srvr.IndexOf("Mode: ", StringComparison.Ordinal);
        return at < 0 ? null : srvr[(at + 6)..].Split('\n')[0].Trim();
    }

    public int MemberIn(string mode) => Enumerable.Range(0, _java.Count).First(m => Mode(m) == mode);

    public string FourLetter(int member, string word)
    {
        try
        {
            using var c = new TcpClient();
            c.Connect(IPAddress.Loopback, ClientPorts[member]);
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
        var ports = new List<int>();
        for (int i = 0; i < 2000 && ports.Count < count; i++)
        {
            int port = Random.Shared.Next(20000, 32000);
            if (ports.Contains(port)) continue;
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
        foreach (var java in _java)
        {
            try { if (!java.HasExited) { java.Kill(true); java.WaitForExit(10_000); } } catch (InvalidOperationException) { }
            java.Dispose();
        }
        _java.Clear();
        try { Directory.Delete(_dir, true); } catch (IOException) { }
    }
}
