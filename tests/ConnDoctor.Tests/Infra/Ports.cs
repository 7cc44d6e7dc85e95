using System.Net;
using System.Net.Sockets;

namespace ConnDoctor.Tests.Infra;

/// <summary>Loopback ports for servers the tests start, and for "nothing listens here".</summary>
public static class Ports
{
    /// <summary>
    /// Distinct free ports below the ephemeral range (32768+), so no outgoing connection takes one before the
    /// server the test starts (Java) binds it.
    /// </summary>
    public static int[] Free(int count)
    {
        var ports = new List<int>();
        for (int i = 0; i < 2000 && ports.Count < count; i++)
        {
            int port = Random.Shared.Next(20000, 32000);
            if (ports.Contains(port)) continue;
            try
            {
                var l = new TcpListener(IPAddress.Any, port);
                l.Start();
                l.Stop();
                ports.Add(port);
            }
            catch (SocketException) { }
        }
        if (ports.Count < count) throw new InvalidOperationException($"only {ports.Count} of {count} free ports in 20000-32000");
        return [.. ports];
    }

    public static int Free() => Free(1)[0];

    /// <summary>A loopback port that was just bound and closed: a connection to it is refused.</summary>
    public static int Closed()
    {
        var l = new TcpListener(IPAddress.Loopback, 0);
        l.Start();
        int port = ((IPEndPoint)l.LocalEndpoint).Port;
        l.Stop();
        return port;
    }
}
