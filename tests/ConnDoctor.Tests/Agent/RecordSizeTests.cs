using ConnDoctor.Model;

namespace ConnDoctor.Tests.Agent;

/// <summary>
/// The agent holds a socket record per socket of the table (125k on the benchmark's host, every interval) and a connection
/// record per connection closed in the last seconds (2k a second at 1k connections/s, both ends): their size is its memory
/// budget (docs/agent.md, Overhead). Measured as the bytes the runtime allocates for a thousand of each, so a field added
/// without thought shows here, not first in a 12-minute benchmark.
/// </summary>
public class RecordSizeTests
{
    private static long BytesEach(Func<object> make)
    {
        var keep = new object[1000];
        make(); // type loaded, statics built
        long before = GC.GetAllocatedBytesForCurrentThread();
        for (int i = 0; i < keep.Length; i++) keep[i] = make();
        long after = GC.GetAllocatedBytesForCurrentThread();
        GC.KeepAlive(keep);
        return (after - before) / keep.Length;
    }

    private static readonly NetEndpoint V6 = new(NetAddress.FromIPAddress(System.Net.IPAddress.Parse("2001:db8::1")), 2181);

    [Fact]
    public void ASocketRecordWithTcpInfoIs192BytesAtMost()
    {
        long size = BytesEach(() => new SocketRecord
        {
            Family = 6, State = TcpState.Established, Local = V6, Remote = V6, Inode = 1, Cookie = 2,
            Info = new TcpInfo { RttUs = 1, BytesAcked = 3 }, Owners = [],
        });
        Assert.InRange(size, 1, 192);
    }

    [Fact]
    public void AnEndpointIs24Bytes()
    {
        Assert.Equal(24, System.Runtime.CompilerServices.Unsafe.SizeOf<NetEndpoint>());
        Assert.Equal(20, System.Runtime.CompilerServices.Unsafe.SizeOf<NetAddress>());
    }

    [Fact]
    public void ConnectionRecordsShareTheirOwnerAndAre144BytesAtMost()
    {
        var owner = new ConnectionOwner { Pid = 42, Comm = "java", CommandLine = "java -jar app.jar", Tid = 43, Thread = "main-SendThread", Uid = 1000, NetnsInode = 7, Netns = "host" };
        long size = BytesEach(() => new WatchConnection { Local = V6, Remote = V6, Owner = owner, OpenedMs = 1, ClosedMs = 2, FirstSeenMs = 1 });
        Assert.InRange(size, 1, 144);

        // A copy shares the owner; setting one of its fields gives that copy its own, the first keeps the old one.
        var c = new WatchConnection { Local = V6, Remote = V6, Owner = owner };
        var copy = c.Copy();
        Assert.Same(c.Owner, copy.Owner);
        copy.CommandLine = "java -jar other.jar";
        Assert.Equal("java -jar app.jar", c.CommandLine);
        Assert.Equal("java -jar other.jar", copy.CommandLine);
        Assert.Equal(42, copy.Pid);
        Assert.Same(owner, c.Owner);
    }
}
