using System.Text;
using ConnDoctor.Model;
using ConnDoctor.Sources.Watch;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.Watch;

/// <summary>
/// The trace_pipe parser and the connection tracker on lines captured from this kernel (6.18): a client that
/// sends a byte and closes, a client that reads 100 bytes of a large response and closes (RST, TCP_ABORT_ON_CLOSE),
/// and an IPv6 connect refused (RST, NO_SOCKET).
/// </summary>
public class TraceParserTests
{
    private static List<byte[]> Lines() =>
        File.ReadAllLines(Path.Combine(Fixtures.Dir("trace"), "trace_pipe-6.18.txt")).Select(Encoding.UTF8.GetBytes).ToList();

    [Fact]
    public void EveryCapturedLineParses()
    {
        var lines = Lines();
        Assert.Equal(24, lines.Count);
        Assert.All(lines, l => Assert.True(TraceLineParser.TryParse(l, out _), Encoding.UTF8.GetString(l)));
    }

    [Fact]
    public void SetStateLineGivesTaskContextAndTuple()
    {
        var line = "         python3-29338   [001] .N...  5210.323711: inet_sock_set_state: family=AF_INET protocol=IPPROTO_TCP sport=55804 dport=5555 saddr=127.0.0.1 daddr=127.0.0.1 saddrv6=::ffff:127.0.0.1 daddrv6=::ffff:127.0.0.1 oldstate=TCP_SYN_SENT newstate=TCP_ESTABLISHED"u8;
        Assert.True(TraceLineParser.TryParse(line, out var ev));
        Assert.Equal(TraceEventKind.SetState, ev.Kind);
        Assert.Equal(29338, ev.Pid);
        Assert.Equal("", ev.Comm); // only connect() and reset events carry the command as a string
        Assert.False(ev.InInterrupt);
        Assert.Equal(5210.323711, ev.TimestampSec, 6);
        Assert.Equal("127.0.0.1:55804", ev.Src.ToString());
        Assert.Equal("127.0.0.1:5555", ev.Dst.ToString());
        Assert.Equal(TcpState.SynSent, ev.OldState);
        Assert.Equal(TcpState.Established, ev.NewState);
    }

    [Fact]
    public void ConnectLineCarriesTheCommand()
    {
        Assert.True(TraceLineParser.TryParse("         python3-29338   [000] .....  5210.324381: inet_sock_set_state: family=AF_INET protocol=IPPROTO_TCP sport=0 dport=5555 saddr=127.0.0.1 daddr=127.0.0.1 saddrv6=::ffff:127.0.0.1 daddrv6=::ffff:127.0.0.1 oldstate=TCP_CLOSE newstate=TCP_SYN_SENT"u8, out var ev));
        Assert.Equal("python3", ev.Comm);
        Assert.Equal(0, ev.Src.Port);
    }

    [Theory]
    [InlineData("10.0.0.1", true)]
    [InlineData("255.255.255.255", true)]
    [InlineData("256.0.0.1", false)]
    [InlineData("1.2.3", false)]
    [InlineData("1.2.3.4.5", false)]
    [InlineData("::ffff:127.0.0.1", true)]
    public void AddressesParse(string text, bool ok) => Assert.Equal(ok, TraceLineParser.TryAddress(System.Text.Encoding.ASCII.GetBytes(text), out _));

    [Fact]
    public void SoftirqFlagIsSeen()
    {
        var line = "         python3-29338   [001] .Ns2.  5210.323721: inet_sock_set_state: family=AF_INET protocol=IPPROTO_TCP sport=5555 dport=55804 saddr=127.0.0.1 daddr=127.0.0.1 saddrv6=::ffff:127.0.0.1 daddrv6=::ffff:127.0.0.1 oldstate=TCP_LISTEN newstate=TCP_SYN_RECV"u8;
        Assert.True(TraceLineParser.TryParse(line, out var ev));
        Assert.True(ev.InInterrupt);
        Assert.Equal(TcpState.Listen, ev.OldState);
    }

    [Fact]
    public void SendResetLinesGiveReasonAndEndpoints()
    {
        Assert.True(TraceLineParser.TryParse("         python3-29338   [001] .....  5210.325946: tcp_send_reset: skbaddr=0000000000000000 skaddr=000000002e2577b4 src=127.0.0.1:55816 dest=127.0.0.1:5555 state=TCP_CLOSE reason=TCP_ABORT_ON_CLOSE"u8, out var a));
        Assert.Equal(TraceEventKind.SendReset, a.Kind);
        Assert.Equal("127.0.0.1:55816", a.Src.ToString());
        Assert.Equal("TCP_ABORT_ON_CLOSE", a.Reason);
        Assert.Equal(TcpState.Close, a.NewState);
        Assert.True(TraceLineParser.TryParse("         python3-29338   [001] ..s1.  5210.826357: tcp_send_reset: skbaddr=000000000cfdcbb2 skaddr=0000000000000000 src=[::1]:5556 dest=[::1]:36096 state=UNKNOWN reason=NO_SOCKET"u8, out var b));
        Assert.Equal("[::1]:5556", b.Src.ToString());
        Assert.Equal("NO_SOCKET", b.Reason);
        Assert.Equal(TcpState.Unknown, b.NewState);
    }

    [Fact]
    public void Ipv6UsesTheV6Fields()
    {
        Assert.True(TraceLineParser.TryParse("         python3-29338   [001] .....  5210.826372: tcp_receive_reset: family=AF_INET6 sport=36096 dport=5556 saddr=0.0.0.0 daddr=0.0.0.0 saddrv6=::1 daddrv6=::1 sock_cookie=218d2d"u8, out var ev));
        Assert.Equal(TraceEventKind.ReceiveReset, ev.Kind);
        Assert.Equal("[::1]:36096", ev.Src.ToString());
        Assert.Equal("[::1]:5556", ev.Dst.ToString());
    }

    [Theory]
    [InlineData("")]
    [InlineData("# tracer: nop")]
    [InlineData("   python3-1 [000] ..... 1.0: sched_switch: prev_comm=x")]
    [InlineData("   python3-1 [000] ..... 1.0: inet_sock_set_state: family=AF_INET protocol=IPPROTO_TCP sport=1 dport=2 saddr=1.2.3.4")]
    [InlineData("   python3-1 [000] ..... 1.0: inet_sock_set_state: family=AF_INET protocol=IPPROTO_MPTCP sport=1 dport=2 saddr=1.2.3.4 daddr=1.2.3.4 saddrv6=::1 daddrv6=::1 oldstate=TCP_CLOSE newstate=TCP_SYN_SENT")]
    [InlineData("garbage: inet_sock_set_state: family=AF_INET")]
    public void CutOrForeignLinesAreRejected(string line) => Assert.False(TraceLineParser.TryParse(Encoding.UTF8.GetBytes(line), out _));

    [Fact]
    public void CommWithDashesAndSpacesKeepsThePid()
    {
        Assert.True(TraceLineParser.TryParse("   java-pool 1-worker-4711   [000] .....  1.5: tcp_send_reset: skbaddr=0 skaddr=0 src=10.0.0.1:1 dest=10.0.0.2:2 state=TCP_ESTABLISHED reason=NOT_SPECIFIED"u8, out var ev));
        Assert.Equal(4711, ev.Pid);
        Assert.Equal("java-pool 1-worker", ev.Comm);
    }

    private sealed class FakeWorld : IWatchWorld
    {
        public ConnectionOwner? Task(int pid, int traceTgid, string printedComm) => new() { Pid = pid, Comm = printedComm, Uid = 0, NetnsInode = 42, Netns = "test" };
        public ConnectionOwner? Listener(NetEndpoint local) => local.Port == 5555 ? new() { Pid = 29338, Comm = "server", Uid = 0, NetnsInode = 42, Netns = "test" } : null;
        public ConnectionOwner? Existing(NetEndpoint local, NetEndpoint remote) => null;
        public bool Watched(ulong netnsInode) => netnsInode == 42;
    }

    [Fact]
    public void TrackerJoinsTheCapturedSequence()
    {
        var book = new WatchBook();
        var t = new ConnectionTracker(new FakeWorld(), book);
        foreach (var l in Lines()) { Assert.True(TraceLineParser.TryParse(l, out var ev)); t.Handle(ev); }
        var rows = book.Rows(5000, 5);
        var client = Assert.Single(rows, r => !r.Passive && r.Endpoint == "127.0.0.1:5555");
        Assert.Equal(29338, client.Pid);
        Assert.Equal(2, client.Opens);
        Assert.Equal(2, client.Closes);
        Assert.Equal(1, client.UnreadDataResets);  // the one that read 100 bytes of a megabyte
        Assert.Equal(1, client.ResetsSent);
        var server = Assert.Single(rows, r => r.Passive && r.LocalPort == 5555);
        Assert.Equal(2, server.Opens);
        Assert.Equal(1, server.ResetsReceived);
        var first = book.RecentConnections.First(c => !c.Passive);
        Assert.Equal(ClosedBy.Peer, first.ClosedBy); // the server closed the first one first (CLOSE_WAIT on the client)
        Assert.True(first.LifetimeMs < 2, $"lifetime {first.LifetimeMs} ms");
        var refused = Assert.Single(rows, r => r.Endpoint == "[::1]:5556");
        Assert.Equal(1, refused.Closes);
    }

    [Fact]
    public void OtherNamespacesAreDropped()
    {
        var book = new WatchBook();
        var t = new ConnectionTracker(new OtherNsWorld(), book);
        foreach (var l in Lines()) { TraceLineParser.TryParse(l, out var ev); t.Handle(ev); }
        Assert.Empty(book.Rows(5000, 5));
    }

    private sealed class OtherNsWorld : IWatchWorld
    {
        public ConnectionOwner? Task(int pid, int traceTgid, string printedComm) => new() { Pid = pid, Comm = printedComm, Uid = 0, NetnsInode = 7, Netns = "other" };
        public ConnectionOwner? Listener(NetEndpoint local) => null;
        public ConnectionOwner? Existing(NetEndpoint local, NetEndpoint remote) => null;
        public bool Watched(ulong netnsInode) => netnsInode == 42;
    }

    [Fact]
    public void TasksGoneBeforeTheyAreReadAreKeptOnTheOwnNamespaceAndCountedWhenLeftOut()
    {
        var kept = new WatchBook();
        var t = new ConnectionTracker(new ExitedWorld(keep: true), kept);
        foreach (var l in Lines()) { TraceLineParser.TryParse(l, out var ev); t.Handle(ev); }
        var client = Assert.Single(kept.Rows(5000, 5), r => !r.Passive && r.Endpoint == "127.0.0.1:5555");
        Assert.Equal(29338, client.Pid);                                  // the trace's pid
        Assert.True(t.ExitedOwners > 0);

        var limited = new WatchBook();
        var u = new ConnectionTracker(new ExitedWorld(keep: false), limited);   // --netns: their namespace is unknown
        foreach (var l in Lines()) { TraceLineParser.TryParse(l, out var ev); u.Handle(ev); }
        Assert.DoesNotContain(limited.Rows(5000, 5), r => !r.Passive);
        Assert.True(u.ExitedLeftOut > 0);
    }

    private sealed class ExitedWorld(bool keep) : IWatchWorld
    {
        public ConnectionOwner? Task(int pid, int traceTgid, string printedComm) => new() { Pid = pid, Comm = printedComm, Exited = true };
        public ConnectionOwner? Listener(NetEndpoint local) => null;
        public ConnectionOwner? Existing(NetEndpoint local, NetEndpoint remote) => null;
        public bool Watched(ulong netnsInode) => netnsInode == 42;
        public bool KeepsExitedTasks => keep;
    }

    [Fact]
    public void RateIsOverTheActiveSpan()
    {
        Assert.Equal(50, WatchBook.Rate(151, 1000, 4000, 10), 3);
        Assert.Equal(0.5, WatchBook.Rate(5, 0, 100, 10), 3); // too few: over the whole watch
    }

    /// <summary>
    /// tcp_send_reset up to 6.9 prints the socket's own ends (the tcp_event_sk_skb class's TP_printk, include/trace/events/tcp.h;
    /// fixtures/trace/README.md, "older"): with family=, and from before family was added, without it (IPv4 ends in the IPv6 pair).
    /// </summary>
    [Theory]
    [InlineData("          python3-2811    [000] ..s1.   714.094811: tcp_send_reset: skbaddr=00000000a1b2c3d4 skaddr=00000000e5f6a7b8 family=AF_INET sport=5555 dport=41236 saddr=127.0.0.1 daddr=10.0.0.2 saddrv6=::ffff:127.0.0.1 daddrv6=::ffff:10.0.0.2 state=TCP_ESTABLISHED",
        "127.0.0.1:5555", "10.0.0.2:41236", TcpState.Established)]
    [InlineData("          python3-2811    [000] .....   714.094811: tcp_send_reset: skbaddr=00000000a1b2c3d4 skaddr=00000000e5f6a7b8 family=AF_INET6 sport=5556 dport=41237 saddr=0.0.0.0 daddr=0.0.0.0 saddrv6=fd00::5 daddrv6=fd00::9 state=TCP_CLOSE",
        "[fd00::5]:5556", "[fd00::9]:41237", TcpState.Close)]
    [InlineData("          python3-2811    [000] ..s1    714.094811: tcp_send_reset: skbaddr=ffff8800b1b2c3d4 skaddr=ffff8800e5f6a7b8 sport=5555 dport=41236 saddr=127.0.0.1 daddr=10.0.0.2 saddrv6=::ffff:127.0.0.1 daddrv6=::ffff:10.0.0.2 state=TCP_ESTABLISHED",
        "127.0.0.1:5555", "10.0.0.2:41236", TcpState.Established)]
    public void ResetsOfKernelsBefore610AreRead(string line, string src, string dst, TcpState state)
    {
        Assert.True(TraceLineParser.TryParse(System.Text.Encoding.ASCII.GetBytes(line), out var ev));
        Assert.Equal((TraceEventKind.SendReset, src, dst, state, (string?)null, 2811), (ev.Kind, ev.Src.ToString(), ev.Dst.ToString(), ev.NewState, ev.Reason, ev.Pid));
    }
}
