using ConnDoctor.Analysis;
using ConnDoctor.Model;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.Rules;

/// <summary>Which side of a connection a socket is: accepted by a listener, or opened by a client.</summary>
public class SocketRolesTests
{
    [Fact]
    public void AClientOnAListenersPortNumberButAnotherAddressIsNoAcceptedSocket()
    {
        var e = new EvidenceBuilder().Process(3, "python3")
            .Listen("127.0.0.2:45000", 3)
            .Socket(TcpState.Established, "127.0.0.1:45000", "127.0.0.1:41003", 3)   // bound to 45000 on another address
            .Socket(TcpState.Established, "127.0.0.2:45000", "127.0.0.9:50000", 3)   // accepted by the listener
            .Build();
        var roles = new SocketRoles(e);
        Assert.False(roles.IsServerSide(e.Sockets.Single(s => s.Local.ToString() == "127.0.0.1:45000")));
        Assert.True(roles.IsServerSide(e.Sockets.Single(s => s.State == TcpState.Established && s.Local.ToString() == "127.0.0.2:45000")));
    }

    [Fact]
    public void AWildcardListenerAcceptsOnEveryAddressIPv4MappedIncluded()
    {
        var e = new EvidenceBuilder().Process(1, "java")
            .Listen("[::]:2181", 1)
            .Socket(TcpState.Established, "[::ffff:10.0.0.2]:2181", "[::ffff:10.0.0.7]:40000", 1)
            .Socket(TcpState.Established, "10.0.0.2:2181", "10.0.0.8:40001", 1)
            .Build();
        var roles = new SocketRoles(e);
        Assert.All(e.Sockets.Where(s => s.State == TcpState.Established), s => Assert.True(roles.IsServerSide(s)));
    }
}
