using System.Buffers.Binary;
using ConnDoctor.Actions;
using ConnDoctor.Model;
using ConnDoctor.Sources;

namespace ConnDoctor.Tests.Kill;

/// <summary>The pure parts: the SOCK_DESTROY request's layout, kernel versions, zoo.cfg syntax, the retry model.</summary>
public class KillUnitTests
{
    [Fact]
    public void TheDestroyRequestNamesOneSocketByTupleInterfaceAndCookie()
    {
        var s = new SocketRecord
        {
            Family = 6, State = TcpState.Established, Interface = 7, Cookie = 0x1122334455667788,
            Local = NetEndpoint.TryParse("[::ffff:10.0.0.2]:2181", out var l, out _) ? l : default,
            Remote = NetEndpoint.TryParse("[2001:db8::9]:41000", out var r, out _) ? r : default,
        };
        var req = new byte[SockDiagParser.DestroyRequestLength];
        SockDiagParser.BuildDestroyRequest(req, s, 5);
        Assert.Equal(72u, BinaryPrimitives.ReadUInt32LittleEndian(req));
        Assert.Equal(21, BinaryPrimitives.ReadUInt16LittleEndian(req.AsSpan(4)));          // SOCK_DESTROY
        Assert.Equal(0x5, BinaryPrimitives.ReadUInt16LittleEndian(req.AsSpan(6)));         // REQUEST | ACK
        Assert.Equal(5u, BinaryPrimitives.ReadUInt32LittleEndian(req.AsSpan(8)));
        Assert.Equal((10, 6), (req[16], req[17]));                                          // AF_INET6, TCP
        Assert.Equal(2181, BinaryPrimitives.ReadUInt16BigEndian(req.AsSpan(24)));
        Assert.Equal(41000, BinaryPrimitives.ReadUInt16BigEndian(req.AsSpan(26)));
        Assert.Equal(new byte[] { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 10, 0, 0, 2 }, req[28..44]);
        Assert.Equal(0x20, req[44]);
        Assert.Equal(0x09, req[59]);
        Assert.Equal(7u, BinaryPrimitives.ReadUInt32LittleEndian(req.AsSpan(60)));
        Assert.Equal(0x1122334455667788UL, BinaryPrimitives.ReadUInt64LittleEndian(req.AsSpan(64)));
    }

    [Theory]
    [InlineData("6.18.44-fc-v782", 6, 18, true)]
    [InlineData("6.0.0", 6, 0, true)]
    [InlineData("5.15.0-91-generic", 5, 15, false)]
    [InlineData("4.9.0-13-amd64", 4, 9, false)]
    public void KernelsBeforeSixCannotDestroyTimeWait(string release, int major, int minor, bool tw)
    {
        Assert.Equal((major, minor), SocketKill.KernelVersion(release));
        Assert.Equal(tw, SocketKill.DestroysTimeWait(release));
    }

    [Fact]
    public void NoDestroySupportIsSaidPlainly()
    {
        var msg = SocketKill.FatalMessage(Native.Libc.EOPNOTSUPP, "5.10.0");
        Assert.Contains("CONFIG_INET_DIAG_DESTROY", msg);
        Assert.Contains("nothing was destroyed", msg);
        var tw = new SocketRecord { Family = 4, State = TcpState.TimeWait, Local = default, Remote = default };
        Assert.Contains("cannot destroy TIME_WAIT sockets (Linux 6.0 and later can)", SocketKill.Describe(Native.Libc.EOPNOTSUPP, tw, "5.10.0"));
    }

    [Fact]
    public void ZooCfgIsReadAsJavaPropertiesAre()
    {
        var cfg = ZooCfgReader.Parse("# c\n! also a comment\n  tickTime = 2000\nmaxClientCnxns: 10\nclientPort 2181\n" +
                                     "4lw.commands.whitelist=srvr,\\\n    mntr\nmaxClientCnxns=20\r\n\n", "t.cfg");
        Assert.Equal(2000, cfg.Int("tickTime"));
        Assert.Equal(2181, cfg.Int("clientPort"));
        Assert.Equal("srvr,mntr", cfg["4lw.commands.whitelist"]!.Value);
        Assert.Equal((20, 8), (cfg.Int("maxClientCnxns")!.Value, cfg["maxClientCnxns"]!.Line)); // the last one wins
        Assert.Equal("t.cfg:2: 'x' has no value (KEY=VALUE expected)",
            Assert.Throws<UserException>(() => ZooCfgReader.Parse("a=1\nx\n", "t.cfg")).Message);
        Assert.Contains("t.cfg:1: '=5' has no key", Assert.Throws<UserException>(() => ZooCfgReader.Parse("=5\n", "t.cfg")).Message);
        Assert.Contains("binary data", Assert.Throws<UserException>(() => ZooCfgReader.Parse("a=1\n\0\0\n", "t.cfg")).Message);
    }

    [Theory]
    [InlineData(15, 924.6)]
    [InlineData(8, 102.2)]
    [InlineData(3, 3.0)]
    public void RetriesTimeoutFollowsTheKernelsModel(int retries, double seconds) =>
        Assert.Equal(seconds, ConnDoctor.Rules.AuditFacts.RetriesTimeout(retries), 1);
}
