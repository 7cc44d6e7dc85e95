using ConnDoctor.Model;
using ConnDoctor.Sources.Watch;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.Html;

/// <summary>`--html FILE` through the CLI: the page is written beside the usual output; a path that cannot be written is one line.</summary>
public class HtmlCliTests
{
    private static string Log => Path.Combine(Fixtures.Dir("zklog"), "zk38-info.log");

    [Fact]
    public void TheTextReportIsPrintedAndThePageWritten()
    {
        string dir = Directory.CreateTempSubdirectory("conndoctor-html-cli-").FullName;
        try
        {
            string file = Path.Combine(dir, "report.html");
            var r = CliRunner.Run("zklog", Log, "--html", file);
            Assert.Equal(0, r.Code);
            Assert.StartsWith("conndoctor zklog: 1 file(s)", r.Stdout);
            var elements = HtmlGoldenTests.CheckPage(File.ReadAllText(file));
            Assert.Contains(elements, e => e.Attr("data-rule") == "connection-limit");
            Assert.Equal(["report.html"], Directory.GetFiles(dir).Select(Path.GetFileName));   // no temporary file left
            // Written again over the old one.
            Assert.Equal(0, CliRunner.Run("pcap", Path.Combine(Fixtures.Dir("pcap"), "eth.pcap"), "--json", "--html", file).Code);
            Assert.Contains("Capture report", File.ReadAllText(file));
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Fact]
    public void AnEmptyLogAndATruncatedCaptureStillGiveWholePages()
    {
        string dir = Directory.CreateTempSubdirectory("conndoctor-html-edge-").FullName;
        try
        {
            string empty = Path.Combine(dir, "empty.log"), cut = Path.Combine(dir, "cut.pcap");
            File.WriteAllText(empty, "");
            File.WriteAllBytes(cut, File.ReadAllBytes(Path.Combine(Fixtures.Dir("pcap"), "eth.pcap"))[..100]);
            Assert.Equal(0, CliRunner.Run("zklog", empty, "--html", Path.Combine(dir, "a.html")).Code);
            Assert.Equal(0, CliRunner.Run("pcap", cut, "--html", Path.Combine(dir, "b.html")).Code);
            var a = File.ReadAllText(Path.Combine(dir, "a.html"));
            HtmlGoldenTests.CheckPage(a);
            Assert.Contains("The log is empty.", a);
            var b = File.ReadAllText(Path.Combine(dir, "b.html"));
            HtmlGoldenTests.CheckPage(b);
            Assert.Contains("reading stopped early", b);
        }
        finally { Directory.Delete(dir, recursive: true); }
    }

    [Theory]
    [InlineData("/nonexistent-conndoctor-dir/x.html", "cannot write --html /nonexistent-conndoctor-dir/x.html")]
    [InlineData("/tmp", "--html /tmp is a directory")]
    public void APathThatCannotBeWrittenIsOneLine(string path, string message)
    {
        var r = CliRunner.Run("zklog", Log, "--html", path);
        Assert.NotEqual(0, r.Code);
        Assert.StartsWith("conndoctor: " + message, r.Stderr);
        Assert.Single(r.Stderr.Trim().Split('\n'));
        Assert.DoesNotContain("   at ", r.Stderr);
    }

    [Fact]
    public void AWatchSampleCountsEveryRowAtTheTick()
    {
        var book = new WatchBook();
        WatchConnection C(int port, TcpState state, double at) => new()
        {
            Local = EvidenceBuilder.Ep($"10.0.0.1:{port}"), Remote = EvidenceBuilder.Ep("10.0.0.5:2181"), Pid = port % 2 == 0 ? 10 : 11, Comm = "p",
            OpenedMs = at, FirstSeenMs = at, State = state,
        };
        for (int i = 0; i < 4; i++) book.Open(C(40000 + i, TcpState.Established, 10));
        for (int i = 0; i < 2; i++) book.Open(C(41000 + i, TcpState.CloseWait, 20));
        var closing = new[] { C(42000, TcpState.Established, 30), C(42001, TcpState.Established, 30), C(42002, TcpState.Established, 30) };
        foreach (var c in closing) { book.Open(c); c.ClosedBy = ClosedBy.Local; book.Close(c, 500); }
        book.Tick();
        Assert.Equal(new WatchSample(1, 9, 3, 4, 3, 2, 0), book.Sample(1000));
        book.Tick();
        Assert.Equal(new WatchSample(2, 0, 0, 4, 3, 2, 0), book.Sample(2000));        // nothing new in the second tick
        Assert.Equal(new WatchSample(61, 0, 0, 4, 0, 2, 0), book.Sample(61_000));      // TIME_WAIT: the local closes of the last minute
    }
}

/// <summary>The per-client, per-minute counts the zklog charts draw: the same whatever the regions a file is read in, and summing to the client's totals.</summary>
public class ZkClientMinutesTests
{
    [Theory]
    [InlineData("zk38-info.log")]
    [InlineData("zk34.log")]
    [InlineData("zk38-debug.log")]
    public void AnySplitGivesTheSameMinutesAndTheyAddUp(string file)
    {
        var path = Path.Combine(Fixtures.Dir("zklog"), file);
        var whole = Sources.ZkLog.ZkLogReader.Read([path], new Sources.ZkLog.ZkLogWindow(null, null), parts: 1).Evidence;
        Assert.NotEmpty(whole.Clients);
        foreach (var c in whole.Clients)
        {
            Assert.Equal(c.EndsOfStream, c.Minutes.Sum(m => m.EndsOfStream));
            Assert.Equal(c.Refused, c.Minutes.Sum(m => m.Refused));
            Assert.Equal(c.Minutes.OrderBy(m => m.Minute), c.Minutes);
        }
        Assert.Equal(whole.Timeline.Sum(m => m.EndsOfStream) - whole.EndsOfStreamUnattributed, whole.Clients.Sum(c => c.Minutes.Sum(m => m.EndsOfStream)));
        foreach (int parts in new[] { 3, 7, 13 })
        {
            var split = Sources.ZkLog.ZkLogReader.Read([path], new Sources.ZkLog.ZkLogWindow(null, null), parts: parts).Evidence;
            foreach (var c in whole.Clients)
                Assert.Equal(c.Minutes, split.Clients.Single(x => x.Ip == c.Ip).Minutes);
        }
    }
}
