using ConnDoctor.Model;

namespace ConnDoctor.Analysis;

/// <summary>
/// Tells the server side of a connection from the client side: a socket whose local port has a listener in
/// the same namespace is an accepted (server) socket. Without a listener (TIME_WAIT after the server
/// stopped), a non-ephemeral local port talking to an ephemeral remote port counts as server side.
/// </summary>
public sealed class SocketRoles
{
    // The address each listener is bound to: a client socket can use the same port number on another local address
    // (bound explicitly, or an ephemeral port equal to a listener's on 127.0.0.2), and it is no accepted socket.
    private readonly Dictionary<(int Netns, ushort Port), List<NetAddress>> _listenAddresses = new();
    private readonly Evidence _evidence;

    public SocketRoles(Evidence evidence)
    {
        _evidence = evidence;
        foreach (var s in evidence.SocketSpan)
        {
            if (s.State != TcpState.Listen) continue;
            if (!_listenAddresses.TryGetValue((s.NetnsIndex, s.Local.Port), out var list)) _listenAddresses[(s.NetnsIndex, s.Local.Port)] = list = new();
            list.Add(s.Local.Address.Unmapped);
        }
    }

    public bool IsListeningPort(int netns, ushort port) => _listenAddresses.ContainsKey((netns, port));

    public bool IsServerSide(SocketRecord s)
    {
        if (s.State == TcpState.Listen) return false;
        if (_listenAddresses.TryGetValue((s.NetnsIndex, s.Local.Port), out var bound))
        {
            var local = s.Local.Address.Unmapped;
            // A wildcard listener (0.0.0.0, ::) accepts on every address; a dual-stack :: one also on IPv4.
            foreach (var a in bound) if (a.IsAny || a == local) return true;
        }
        var sysctls = _evidence.NetnsOf(s).Sysctls;
        return !sysctls.IsEphemeral(s.Local.Port) && sysctls.IsEphemeral(s.Remote.Port);
    }
}
