using System.IO.Compression;
using System.Text;
using ConnDoctor.Model;
using ConnDoctor.Rules;
using ConnDoctor.Sources.ZkLog;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.ZkLog;

/// <summary>
/// The logs people really have: one incident written in every layout and prefix gives the stock layout's per-IP
/// table and findings; real lines of each layout and version (fixtures/zklog/layouts, README there) give their
/// counts; order, mixed servers and damaged input.
/// </summary>
public sealed class ZkLogLayoutTests : IDisposable
{
    private static readonly ZkLogWindow All = new(null, null);
    private readonly string _dir = Directory.CreateTempSubdirectory("cd-zklayout-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private string Write(string name, byte[] bytes)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllBytes(path, bytes);
        return path;
    }

    private static string Table(ZkLogEvidence log) => string.Join("\n", log.Clients.Select(c =>
        $"{c.Ip} conns={c.Connections(log.AcceptsLogged)} acc={c.Accepted} eos0={c.EndOfStreamNoSession} eosS={c.EndOfStreamWithSession} " +
        $"clNo={c.ClosedNoSession} clS={c.ClosedWithSession} ref={c.Refused} max={c.RefusedLimit} att={c.SessionAttempts} est={c.SessionsEstablished} " +
        $"exp={c.SessionsExpired} 4lw={c.FourLetterWords} peak={c.PeakPerMinute} first={c.FirstSeen:s} last={c.LastSeen:s}"));

    private static string Findings(ZkLogEvidence log)
    {
        var d = Diagnosis.Run(new Evidence { Statuses = [], ZkLog = log, CollectedAt = DateTimeOffset.UnixEpoch }, new RuleOptions());
        return string.Join("\n", d.Findings.Select(f => $"{f.RuleId} {f.Severity} {f.Summary}"));
    }

    private static string Timeline(ZkLogEvidence log) =>
        string.Join(" ", log.Timeline.Select(m => $"{m.Minute:HH:mm}={m.Connections}/{m.EndsOfStream}/{m.Refused}/{m.SessionsEstablished}/{m.SessionsExpired}"));

    public static TheoryData<string> Layouts() => new(ZkIncident.Layouts.Where(l => l != "stock34"));

    [Theory]
    [MemberData(nameof(Layouts))]
    public void TheSameIncidentInAnyLayoutGivesTheStockTableAndFindings(string layout)
    {
        var events = ZkIncident.Events();
        var stock = ZkLogReader.Read([Write("stock.log", ZkIncident.Render(events, "stock34"))], All).Evidence;
        // A time-only layout takes its date from the file's name, as a rolling appender writes it.
        var path = Write(layout == "logback-time" ? "zookeeper-2016-09-19.log" : $"{layout}.log", ZkIncident.Render(events, layout));
        var (log, status) = ZkLogReader.Read([path], All);

        Assert.Equal(SourceState.Ok, status.State);
        Assert.Equal(0, log.UnrecognisedLines);
        Assert.Equal(Table(stock), Table(log));
        Assert.Equal(Timeline(stock), Timeline(log));
        Assert.Equal(Findings(stock), Findings(log));
        Assert.Contains(ZkLogRules(), Findings(log));     // the incident is found at all: a storm and refusals
        // The storm's gaps to the millisecond, where the layout writes milliseconds (Hadoop's console layout does not):
        // a slow loop is told from a monitor's fixed period by them.
        var loop = log.Clients.Single(c => c.Ip.ToString() == "10.0.20.141").Loop!;
        if (layout == "hadoop") Assert.Equal(0, loop.MedianGapMs % 1000);
        else Assert.Equal(stock.Clients.Single(c => c.Ip.ToString() == "10.0.20.141").Loop, loop);
        Assert.Single(log.Layouts);
        // The same answer whatever the split into regions (layouts other than the stock one check their hints per region).
        Assert.Equal(Table(log), Table(ZkLogReader.Read([path], All, parts: 5).Evidence));
    }

    private static string ZkLogRules() => "reconnect-storm";

    [Theory]
    [InlineData("kafka", "kafka [%d] %p %m (%c)")]
    [InlineData("strimzi", "strimzi %d %p %m (%c) [%t]")]
    [InlineData("cloudera", "cloudera %d %p %c: %m")]
    [InlineData("hadoop", "hadoop %d{yy/MM/dd HH:mm:ss} %p %c{2}: %m")]
    [InlineData("logback-time", "logback %d [%thread] %-5level %logger - %msg, time of day only; date 2016-09-19 from the file name")]
    [InlineData("compose", "after a prefix ('zookeeper-1  | ', 15 bytes on most lines)")]
    [InlineData("json-logstash", "json (one object per line)")]
    public void TheOutputSaysWhichLayoutWasRead(string layout, string expected)
    {
        var path = Write(layout == "logback-time" ? "zookeeper-2016-09-19.log" : $"{layout}.log", ZkIncident.Render(ZkIncident.Events(), layout));
        var r = CliRunner.Run("zklog", "--json", path);
        Assert.Equal(0, r.Code);
        using var doc = System.Text.Json.JsonDocument.Parse(r.Stdout);
        Assert.Contains(expected, doc.RootElement.GetProperty("layouts")[0].GetProperty("layout").GetString());
        Assert.Contains("layout: ", CliRunner.Run("zklog", path).Stdout);
    }

    [Fact]
    public void ATimeOnlyLayoutWithoutADateInItsNameTakesTheFilesModificationDayAndCountsMidnight()
    {
        // 23:59 to 00:01: the day turns once; the date is the file's modification time's.
        var events = new[] { new DateTime(2016, 9, 19, 23, 59, 58), new DateTime(2016, 9, 20, 0, 0, 1) }
            .Select(t => new ZkEvent(t, "INFO", "NIOServerCxn.Factory", "NIOServerCnxnFactory", 197, "Accepted socket connection from /10.0.0.1:1", [])).ToList();
        var path = Write("zookeeper.log", ZkIncident.Render(events, "logback-time"));
        File.SetLastWriteTime(path, new DateTime(2016, 9, 19, 23, 59, 59));
        var log = ZkLogReader.Read([path], All).Evidence;
        Assert.Equal((new DateTime(2016, 9, 19, 23, 59, 58), new DateTime(2016, 9, 20, 0, 0, 1)), (log.First, log.Last));
        Assert.Contains("date 2016-09-19 from the file's modification time", log.Layouts.Single().Layout);
        Assert.True(log.TimeOnly);
    }

    [Fact]
    public void TheLayoutOptionOverridesDetection()
    {
        var path = Write("kafka.log", ZkIncident.Render(ZkIncident.Events(), "kafka"));
        var r = CliRunner.Run("zklog", "--json", "--layout", "kafka", path);
        Assert.Equal(0, r.Code);
        Assert.Contains("kafka [%d] %p %m (%c)", r.Stdout);
        // Forced to a layout the file does not have: nothing is read as it, and the error says so in one line.
        r = CliRunner.Run("zklog", "--layout", "cloudera", path);
        Assert.Equal(1, r.Code);
        Assert.Contains("does not look like a ZooKeeper server log", r.Stderr);
        r = CliRunner.Run("zklog", "--layout", "nonsense", path);
        Assert.Equal(2, r.Code);
        Assert.Contains("unknown layout 'nonsense'", r.Stderr);
    }

    // ---- real lines of each layout and version ---------------------------------------------------------------

    private static string Real(string name) => Path.Combine(Fixtures.Dir("zklog"), "layouts", name);

    // file, layout name contains, then per client: ip=conns/eos/refused/4lw/established
    [Theory]
    [InlineData("kafka-3.4.log", "kafka", "172.20.0.6=2/1/0/0/2", "10.0.0.17=1/0/0/0/0")]
    [InlineData("strimzi-3.4.log", "strimzi", "127.0.0.1=3/0/0/3/0")]
    [InlineData("cloudera-3.4.log", "cloudera", "121.9.240.252=2/1/0/0/0", "10.17.81.144=1/0/0/0/1")]
    [InlineData("hadoop-3.4.log", "hadoop", "127.0.0.1=2/0/0/0/1")]
    [InlineData("compose-kafka.log", "kafka", "172.20.0.6=2/1/0/0/2")]
    [InlineData("swarm-3.5.log", "after a prefix", "10.0.1.59=3/0/0/3/0")]
    [InlineData("docker-desktop-3.9.log", "after a prefix", "172.18.0.4=2/2/0/0/1")]
    [InlineData("netty-3.8.log", "zookeeper", "10.1.2.3=3/3/0/0/0", "10.9.9.9=5/0/5/0/0")]
    [InlineData("v35-oneline.log", "zookeeper", "10.0.0.5=59/0/59/0/0")]
    [InlineData("v36-info.log", "zookeeper", "10.0.0.8=2/2/0/1/0", "10.0.0.9=3/0/3/0/0")]
    [InlineData("logback-json.log", "json", "172.18.0.5=2/1/0/0/1")]
    [InlineData("masked.log", "zookeeper", "masked=3/3/0/0/0")]
    public void RealLinesOfEachLayoutGiveTheirCounts(string file, string layout, params string[] clients)
    {
        var (log, status) = ZkLogReader.Read([Real(file)], All);
        Assert.Equal(0, log.UnrecognisedLines);
        Assert.Equal(SourceState.Ok, status.State);
        Assert.Contains(layout, log.Layouts.Single().Layout);
        foreach (var expected in clients)
        {
            string ip = expected[..expected.IndexOf('=')];
            var c = log.Clients.Single(x => (x.Ip.IsAny && ip == "masked") || x.Ip.ToString() == ip);
            Assert.Equal(expected, $"{ip}={c.Connections(log.AcceptsLogged)}/{c.EndsOfStream}/{c.Refused}/{c.FourLetterWords}/{c.SessionsEstablished}");
        }
    }

    // ---- order and mixed servers -------------------------------------------------------------------------------

    [Fact]
    public void OutOfOrderLogsGiveTheInOrderPeaksAndNeverAnInflatedOne()
    {
        var events = ZkIncident.Events();
        var ordered = ZkLogReader.Read([Write("in-order.log", ZkIncident.Render(events, "stock34"))], All).Evidence;
        // Rotated halves concatenated the wrong way round, and a collector's interleaving (each message whole).
        int half = events.FindIndex(events.Count / 2, e => e.Message.StartsWith("Accepted"));   // a storm's three messages stay together
        var swapped = Write("swapped.log", ZkIncident.Render([.. events[half..], .. events[..half]], "stock34"));
        // An expiry is joined to its client through the session's lines before it: one read before them stays
        // unattributed (counted apart), all else is the same.
        static string NoExpiries(ZkLogEvidence l) => System.Text.RegularExpressions.Regex.Replace(Table(l), " exp=\\d+", "");
        foreach (int parts in new[] { 1, 4 })
        {
            var log = ZkLogReader.Read([swapped], All, parts: parts).Evidence;
            Assert.Equal(NoExpiries(ordered), NoExpiries(log));
            Assert.Equal(ordered.Clients.Sum(c => c.SessionsExpired), log.Clients.Sum(c => c.SessionsExpired) + log.SessionsExpiredUnattributed);
            Assert.Equal(Timeline(ordered), Timeline(log));
            Assert.Equal(1, log.TimeStepsBack);
        }
        // A collector's interleaving, messages in any order: what each line says alone (accepts, refusals, their
        // per-minute peaks and the timeline) is the same; joins that need the next line (3.4's end of stream and the
        // close that names its client) are not asked of it.
        static string Alone(ZkLogEvidence l) => string.Join(" ", l.Clients.Select(c => $"{c.Ip}:{c.Accepted}/{c.Refused}/{c.PeakPerMinute}")) + " | " +
            string.Join(" ", l.Timeline.Select(m => $"{m.Minute:HH:mm}={m.Connections}/{m.Refused}/{m.SessionsEstablished}"));
        var rnd = new Random(3);
        var shuffled = Write("shuffled.log", ZkIncident.Render(events.OrderBy(_ => rnd.Next()).ToList(), "strimzi"));
        foreach (int parts in new[] { 1, 4 })
        {
            var log = ZkLogReader.Read([shuffled], All, parts: parts).Evidence;
            Assert.Equal(Alone(ordered), Alone(log));
            Assert.True(log.TimeStepsBack > 100);
        }
        // The rotated files themselves, given in the wrong order, are put in time order.
        var a = Write("zookeeper.log.1", ZkIncident.Render(events[..half], "kafka"));
        var b = Write("zookeeper.log", ZkIncident.Render(events[half..], "kafka"));
        var rotated = ZkLogReader.Read([b, a], All).Evidence;
        Assert.Equal(Table(ordered), Table(rotated));
        Assert.Equal(0, rotated.TimeStepsBack);
    }

    [Fact]
    public void TwoServersLogsMixedAreSaidAndToldApart()
    {
        var events = ZkIncident.Events();
        string one = Encoding.UTF8.GetString(ZkIncident.Render(events, "stock34")).Replace("[myid:]", "[myid:1]");
        string two = Encoding.UTF8.GetString(ZkIncident.Render(events.Take(300).ToList(), "stock34")).Replace("[myid:]", "[myid:2]");
        var path = Write("both.log", Encoding.UTF8.GetBytes(one + two));
        var log = ZkLogReader.Read([path], All).Evidence;
        Assert.Equal(["myid:1", "myid:2"], log.Servers.Select(s => s.Server));
        Assert.Equal(one.Split('\n').Length - 1, log.Servers[0].Lines);
        Assert.Equal(two.Split('\n').Length - 1, log.Servers[1].Lines);
        Assert.Equal(1, log.TimeStepsBack);
        var r = CliRunner.Run("zklog", path);
        Assert.Contains("the log mixes 2 servers' lines: myid:1", r.Stdout);
        Assert.Contains("the time steps back by over a minute 1 time(s)", r.Stdout);

        // docker compose's prefixes name the services.
        var compose = Write("compose-two.log", Encoding.UTF8.GetBytes(
            Encoding.UTF8.GetString(ZkIncident.Render(events.Take(40).ToList(), "compose")) +
            Encoding.UTF8.GetString(ZkIncident.Render(events.Take(40).ToList(), "compose")).Replace("zookeeper-1  | ", "zookeeper-2  | ")));
        Assert.Equal(["zookeeper-1", "zookeeper-2"], ZkLogReader.Read([compose], All).Evidence.Servers.Select(s => s.Server));
    }

    // ---- damaged input ----------------------------------------------------------------------------------------

    [Fact]
    public void AFileThatStartsInsideAStackTraceCountsItAsSuch()
    {
        var text = Encoding.UTF8.GetString(ZkIncident.Render(ZkIncident.Events(), "stock34"));
        int cut = text.IndexOf("\tat org.apache.zookeeper.server.NIOServerCnxn.doIO", StringComparison.Ordinal);
        var path = Write("cut.log", Encoding.UTF8.GetBytes(text[cut..]));
        var (log, status) = ZkLogReader.Read([path], All);
        Assert.Equal(SourceState.Ok, status.State);
        Assert.Equal((0L, 3L), (log.UnrecognisedLines, log.LeadingTraceLines));
    }

    [Fact]
    public void ATwentyMegabyteLineStaysOneLineAndRaisesNoFlood()
    {
        var events = ZkIncident.Events().Where(e => e.Time < ZkIncident.Start.AddMinutes(4)).ToList();
        var text = Encoding.UTF8.GetString(ZkIncident.Render(events, "stock34"));
        var huge = "2016-09-19 22:49:30,000 [myid:] - INFO  [main:ZooKeeperServer@100] - payload " + new string('x', 20 << 20);
        int at = text.IndexOf("2016-09-19 22:49:30", StringComparison.Ordinal);
        var path = Write("huge.log", Encoding.UTF8.GetBytes(text[..at] + huge + "\n" + text[at..]));
        var log = ZkLogReader.Read([path], All).Evidence;
        Assert.Equal(text.Split('\n').Length, log.Lines);
        Assert.Equal(1, log.Kinds.Single(k => k.Kind == "other: ZooKeeperServer@100").Lines);
        Assert.DoesNotContain("log-flood", Findings(log));
        Assert.Contains("reconnect-storm", Findings(log));
    }

    [Fact]
    public void BinaryGarbageInsideALogIsCountedNotFatal()
    {
        var text = ZkIncident.Render(ZkIncident.Events(), "kafka");
        var garbage = new byte[64 << 10];
        new Random(5).NextBytes(garbage);
        var path = Write("garbage-inside.log", [.. text[..(text.Length / 2)], .. garbage, (byte)'\n', .. text[(text.Length / 2)..]]);
        var (log, status) = ZkLogReader.Read([path], All);
        // Every byte is counted (the garbage as lines of the message it interrupts); the rest is read as before.
        Assert.Equal(new FileInfo(path).Length, log.Bytes);
        Assert.Equal(File.ReadAllBytes(path).Count(b => b == '\n'), log.Lines);
        Assert.True(log.Clients.Single(c => c.Ip.ToString() == "10.0.20.141").Accepted >= 598);
        Assert.Contains("reconnect-storm", Findings(log));
    }

    [Fact]
    public void GzipMembersAreOneStreamAndATruncatedLastMemberIsReported()
    {
        var text = ZkIncident.Render(ZkIncident.Events(), "compose");
        var stock = ZkLogReader.Read([Write("plain.log", text)], All).Evidence;
        int cut = Array.LastIndexOf(text, (byte)'\n', text.Length / 2) + 1;
        var joined = new MemoryStream();
        foreach (var part in new[] { text[..cut], text[cut..] })
            using (var z = new GZipStream(joined, CompressionLevel.Fastest, leaveOpen: true)) z.Write(part);
        var path = Write("members.log.gz", joined.ToArray());
        var (log, status) = ZkLogReader.Read([path], All);
        Assert.Equal(SourceState.Ok, status.State);
        Assert.Equal(Table(stock), Table(log));
        var cutFile = Write("members-cut.log.gz", joined.ToArray()[..(joined.ToArray().Length - 300)]);
        Assert.Contains("corrupt or truncated", ZkLogReader.Read([cutFile], All).Status.Reason);
    }
}
