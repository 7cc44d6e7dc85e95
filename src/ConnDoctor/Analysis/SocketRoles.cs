using ConnDoctor.Model;

namespace ConnDoctor.Analysis;

/// <summary>
/// Tells the server side of a connection from the client side: a socket whose local port has a listener in
/// the same namespace is an accepted (server) socket. Without a listener (TIME_WAIT after the server
/// stopped), a non-ephemeral local port talking to an ephemeral remote port counts as server side.
/// </summary>
public sealed class SocketRoles
{
    private readonly HashSet<(int Netns, ushort Port)> _listening = new();
    private readonly Evidence _evidence;

    public SocketRoles(Evidence evidence)
    {
        _evidence = evidence;
        foreach (var s in evidence.Sockets)
            if (s.State == TcpState.Listen) _listening.Add((s.NetnsIndex, s.Local.Port));
    }

    public bool IsListeningPort(int netns, ushort port) => _listening.Contains((netns, port));

    public bool IsServerSide(SocketRecord s)
    {
        if (s.State == TcpState.Listen) return false;
        if (_listening.Contains((s.NetnsIndex, s.Local.Port))) return true;
        var sysctls = _evidence.NetnsOf(s).Sysctls;
        return !sysctls.IsEphemeral(s.Local.Port) && sysctls.IsEphemeral(s.Remote.Port);
    }
}
