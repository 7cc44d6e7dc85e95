using ConnDoctor.Model;
using ConnDoctor.Sources;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.Parsers;

/// <summary>/proc/net/tcp and tcp6 taken from a real namespace, with ss's view of the same table recorded beside them.</summary>
public class ProcNetTcpParserTests
{
    private static (List<SocketRecord> Sockets, ParseStats Stats) ParseDir(string fixture, uint mask = TcpStates.AllMask)
    {
        var list = new List<SocketRecord>();
        var stats = new ParseStats();
        var dir = Path.Combine(Fixtures.Dir(fixture), "net");
        ProcNetTcpParser.Parse(File.ReadAllBytes(Path.Combine(dir, "tcp")), 4, mask, 0, list, stats);
        if (File.Exists(Path.Combine(dir, "tcp6")))
            ProcNetTcpParser.Parse(File.ReadAllBytes(Path.Combine(dir, "tcp6")), 6, mask, 0, list, stats);
        return (list, stats);
    }

    [Fact]
    public void StateCountsMatchWhatSsSawOnTheSameTable()
    {
        var (sockets, stats) = ParseDir("proc-scenario");
        var ours = sockets.GroupBy(s => TcpStates.Name(s.DisplayState)).ToDictionary(g => g.Key, g => g.Count());
        Assert.Equal(Fixtures.SsStateCounts(Path.Combine(Fixtures.Dir("proc-scenario"), "ss-tan.txt")).OrderBy(k => k.Key), ours.OrderBy(k => k.Key));
        Assert.Equal(0, stats.Malformed);
    }

    [Fact]
    public void Tcp6WordsAreByteSwappedAndMappedAddressesUnmap()
    {
        var (sockets, _) = ParseDir("proc-scenario");
        var loop6 = sockets.Single(s => s.State == TcpState.Listen && s.Local.Port == 9004);
        Assert.Equal("[::1]:9004", loop6.Local.ToString());
        Assert.True(loop6.Local.Address.IsLoopback);
        var mapped = sockets.Where(s => s.Family == 6 && s.Local.Port == 9005 && s.State == TcpState.Established).ToList();
        Assert.Equal(2, mapped.Count);
        Assert.All(mapped, s =>
        {
            Assert.True(s.Remote.Address.IsV4Mapped);
            Assert.Equal("127.0.0.1", s.Remote.Address.Unmapped.ToString());
            Assert.StartsWith("[::ffff:127.0.0.1]:", s.Remote.ToString());
        });
    }

    [Fact]
    public void TimeWaitHasTimerButNoInodeAndCloseWaitKeepsTheFinInItsQueue()
    {
        var (sockets, _) = ParseDir("proc-scenario");
        var tw = sockets.Where(s => s.State == TcpState.TimeWait).ToList();
        Assert.NotEmpty(tw);
        Assert.All(tw, s => { Assert.Equal(TimerKind.TimeWait, s.Timer); Assert.Equal(0UL, s.Inode); Assert.InRange(s.TimerExpiresMs, 1u, 60_000u); });
        var cw = sockets.Where(s => s.State == TcpState.CloseWait).ToList();
        Assert.Equal(3, cw.Count);
        Assert.All(cw, s => { Assert.Equal(1u, s.RecvQueue); Assert.NotEqual(0UL, s.Inode); Assert.Equal((ushort)9001, s.Remote.Port); });
    }

    [Fact]
    public void MalformedLinesAreCountedWithLineNumbersAndSkipped()
    {
        var (good, _) = ParseDir("proc-scenario");
        var list = new List<SocketRecord>();
        var stats = new ParseStats();
        ProcNetTcpParser.Parse(File.ReadAllBytes(Path.Combine(Fixtures.Dir("proc-malformed"), "net", "tcp")), 4, TcpStates.AllMask, 0, list, stats);
        Assert.Equal(3, stats.Malformed);
        Assert.Equal([4, 5, 6], stats.MalformedLines);
        Assert.Equal(good.Count(s => s.Family == 4), list.Count);
    }

    [Fact]
    public void EmptyTableIsEmptyNotAnError()
    {
        var (sockets, stats) = ParseDir("proc-empty");
        Assert.Empty(sockets);
        Assert.Equal(0, stats.Malformed);
        Assert.Equal(0, stats.Lines);
    }

    [Fact]
    public void StateMaskFiltersWhileParsing()
    {
        var (all, _) = ParseDir("proc-scenario");
        var (cw, _) = ParseDir("proc-scenario", TcpStates.MaskOf(TcpState.CloseWait));
        Assert.Equal(all.Count(s => s.State == TcpState.CloseWait), cw.Count);
        Assert.All(cw, s => Assert.Equal(TcpState.CloseWait, s.State));
    }

    [Theory]
    [InlineData("")]
    [InlineData("   0: 0100007F:1F90")]
    [InlineData("   0: 0100007F:1F90 0100007F:9A0A 01 00000000:00000000 00:00000000 00000000 abc 0 1 1")]
    [InlineData("   0: 0100007F:1F90 0100007F:9A0A 0D 00000000:00000000 00:00000000 00000000 0 0 1 1")]
    [InlineData("   0: 0100007F1F90 0100007F:9A0A 01 00000000:00000000 00:00000000 00000000 0 0 1 1")]
    public void BadLinesAreRejectedNotThrown(string line)
    {
        Assert.False(ProcNetTcpParser.TryParseLine(System.Text.Encoding.ASCII.GetBytes(line), 4, 0, out _));
    }
}
