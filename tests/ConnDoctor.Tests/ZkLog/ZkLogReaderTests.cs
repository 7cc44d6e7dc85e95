using System.IO.Compression;
using System.Text;
using System.Text.Json;
using ConnDoctor.Sources.ZkLog;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.ZkLog;

/// <summary>Whole files: the fixtures' totals, any split into regions giving the same answer, and bad input.</summary>
public sealed class ZkLogReaderTests : IDisposable
{
    private static string Fixture(string name) => Path.Combine(Fixtures.Dir("zklog"), name);

    // Files a test writes, removed after it.
    private readonly List<string> _temp = new();

    private string Temp(string name)
    {
        var path = Path.Combine(Path.GetTempPath(), $"cd-{Environment.ProcessId}-{Guid.NewGuid():N}-{name}");
        _temp.Add(path);
        return path;
    }

    public void Dispose()
    {
        foreach (var path in _temp) File.Delete(path);
    }
    private static readonly ZkLogWindow All = new(null, null);

    [Fact]
    public void Version34LogJoinsEndsOfStreamToTheCloseAfterThem()
    {
        var (log, status) = ZkLogReader.Read([Fixture("zk34.log")], All);
        Assert.Equal(ConnDoctor.Model.SourceState.Ok, status.State);
        Assert.True(log.AcceptsLogged);
        var storm = log.Clients.Single(c => c.Ip.ToString() == "10.0.20.141");
        Assert.Equal((1, 1, 1), (storm.Accepted, storm.EndOfStreamNoSession, storm.ClosedNoSession));
        var normal = log.Clients.Single(c => c.Ip.ToString() == "10.0.20.7");
        Assert.Equal((1, 1, 1, 1, 1, 1), (normal.Accepted, normal.SessionAttempts, normal.SessionsEstablished, normal.EndOfStreamWithSession, normal.ClosedWithSession, normal.SessionsExpired));
        Assert.Equal((1L, 60), (log.Clients.Single(c => c.Ip.ToString() == "10.0.20.9").Refused, log.Clients.Single(c => c.Ip.ToString() == "10.0.20.9").RefusedLimit ?? 0));
        Assert.Equal(1, log.Clients.Single(c => c.Ip.ToString() == "10.0.20.200").FourLetterWords);
        Assert.Equal(0, log.UnrecognisedLines);
        Assert.Equal(0, log.EndsOfStreamUnattributed);
        Assert.Equal(File.ReadAllBytes(Fixture("zk34.log")).Length, log.Bytes);
    }

    [Fact]
    public void Version38InfoLogCountsRateLimitedRefusalsAndStackTraceBytes()
    {
        var (log, _) = ZkLogReader.Read([Fixture("zk38-info.log")], All);
        var c = log.Clients.Single(x => x.Ip.ToString() == "127.0.0.1");
        Assert.Equal(3, c.Refused);  // "Message:... Value:null" + "[2 times] Message: ..."
        Assert.Equal(File.ReadAllLines(Fixture("zk38-info.log")).Count(l => l.StartsWith("EndOfStreamException")), c.EndsOfStream);
        Assert.Equal(1, c.SessionsExpired); // joined through the session id of an end of stream
        var eos = log.Kinds.Single(k => k.Kind == "end-of-stream");
        Assert.Equal(File.ReadAllLines(Fixture("zk38-info.log")).Where(IsEosMessageOrItsTrace).Sum(l => (long)l.Length + 1), eos.Bytes);
    }

    private static bool IsEosMessageOrItsTrace(string l) => l.Contains("Unexpected exception") || l.StartsWith("EndOfStreamException") || l.StartsWith("\tat ");

    private string BigLog()
    {
        // Real lines of both versions, rewritten with many clients and minutes: about 20 MB.
        var path = Temp("zk-big.log");
        var v34 = File.ReadAllLines(Fixture("zk34.log"));
        using var w = new StreamWriter(path);
        var t = new DateTime(2016, 9, 19, 0, 0, 0);
        for (int i = 0; i < 12000; i++)
        {
            t = t.AddMilliseconds(737);
            string ts = t.ToString("yyyy-MM-dd HH:mm:ss,fff");
            foreach (var line in v34)
            {
                var l = line.Replace("10.0.20.141", $"10.0.{i % 7}.{i % 200}").Replace("10.0.20.7:", $"10.1.0.{i % 50}:")
                            .Replace("0x157434bfd9a0001", $"0x1574{i:x10}");
                w.WriteLine(l.Length > 23 && char.IsDigit(l[0]) ? ts + l[23..] : l);
            }
        }
        return path;
    }

    private static string Canonical(ConnDoctor.Model.ZkLogEvidence log) => JsonSerializer.Serialize(new
    {
        log.Lines, log.Bytes, log.RecognisedLines, log.UnrecognisedLines, log.EndsOfStreamUnattributed, log.SessionsExpiredUnattributed,
        Clients = log.Clients.Select(c => $"{c.Ip} {c.Accepted} {c.EndOfStreamNoSession} {c.EndOfStreamWithSession} {c.ClosedNoSession} {c.ClosedWithSession} {c.Refused} {c.SessionAttempts} {c.SessionsEstablished} {c.SessionsExpired} {c.FourLetterWords} {c.PeakPerMinute} {c.FirstSeen:O} {c.LastSeen:O}").ToList(),
        Kinds = log.Kinds.Select(k => $"{k.Kind} {k.Lines} {k.Bytes}").ToList(),
        Timeline = log.Timeline.Select(m => $"{m.Minute:O} {m.Lines} {m.Bytes} {m.Connections} {m.EndsOfStream} {m.Refused} {m.SessionsEstablished} {m.SessionsExpired}").ToList(),
    });

    [Fact]
    public void AnySplitIntoRegionsGivesTheSameAnswerAsOnePass()
    {
        var path = BigLog();
        var one = Canonical(ZkLogReader.Read([path], All, parts: 1).Evidence);
        foreach (int parts in new[] { 2, 3, 7, 64 })
            Assert.Equal(one, Canonical(ZkLogReader.Read([path], All, parts: parts).Evidence));
        var (log, _) = ZkLogReader.Read([path], All, parts: 1);
        Assert.Equal(0, log.EndsOfStreamUnattributed);
        Assert.Equal(12000 * 2, log.Clients.Sum(c => c.Accepted));
    }

    [Fact]
    public void CrLfLineEndsGiveTheSameAnswerAsLf()
    {
        var path = BigLog();
        var crlf = Temp("zk-big-crlf.log");
        File.WriteAllText(crlf, File.ReadAllText(path).Replace("\n", "\r\n"));
        var lf = ZkLogReader.Read([path], All, parts: 1).Evidence;
        foreach (int parts in new[] { 1, 7 })
        {
            var log = ZkLogReader.Read([crlf], All, parts: parts).Evidence;
            Assert.Equal(new FileInfo(crlf).Length, log.Bytes);
            // A message's bytes leave out the \r of its lines, so everything but the file's size is the same.
            Assert.Equal(Canonical(lf with { Bytes = 0 }), Canonical(log with { Bytes = 0 }));
        }
    }

    private const string Other = "2016-09-19 22:49:00,000 [myid:] - INFO  [ProcessThread(sid:0 cport:-1)::PrepRequestProcessor@494] - Processed session termination for sessionid: 0x1";

    [Fact]
    public void AnEndOfStreamWaitsForItsCloseAcrossRegionsWithoutOne()
    {
        // 3.4: the end of stream names no client; the close after it does, hundreds of lines later.
        var lines = new List<string>
        {
            "2016-09-19 22:48:54,351 [myid:] - WARN  [NIOServerCxn.Factory:0.0.0.0/0.0.0.0:2181:NIOServerCnxn@357] - caught end of stream exception",
            "EndOfStreamException: Unable to read additional data from client sessionid 0x0, likely client has closed socket",
        };
        lines.AddRange(Enumerable.Repeat(Other, 400));
        lines.Add("2016-09-19 22:49:54,352 [myid:] - INFO  [NIOServerCxn.Factory:0.0.0.0/0.0.0.0:2181:NIOServerCnxn@1007] - Closed socket connection for client /10.0.20.141:37713 (no session established for client)");
        var path = Temp("zk-pending.log");
        File.WriteAllLines(path, lines);
        foreach (int parts in new[] { 1, 2, 5, 40 })
        {
            var log = ZkLogReader.Read([path], All, parts: parts).Evidence;
            Assert.Equal(0, log.EndsOfStreamUnattributed);
            Assert.Equal(1, log.Clients.Single(c => c.Ip.ToString() == "10.0.20.141").EndOfStreamNoSession);
        }
    }

    [Fact]
    public void FarMoreClientsThanTheAddressMemoHoldsAreEachCountedApart()
    {
        // 20,000 addresses, each seen several times in shuffled order: the memo's 4,096 slots are overwritten again
        // and again, and a slot must never hand one address's line to the client of another.
        var rnd = new Random(11);
        var expected = new Dictionary<string, (int Accepted, int Closed)>();
        var lines = new List<string>();
        for (int n = 0; n < 60_000; n++)
        {
            int id = n < 20_000 ? n : rnd.Next(20_000);
            // Mostly dotted quads (kept by the memo), some IPv6 and "host/ip" (parsed each time), and lines that name
            // no client in between: none may take a client from the line before.
            string ip = id % 10 == 7 ? $"fd00:0:0:0:0:0:{id >> 8:x}:{id & 255:x}" : $"10.{id >> 16}.{(id >> 8) & 255}.{id & 255}";
            string shown = id % 10 == 8 ? $"zk-client-{id}/{ip}" : "/" + ip;
            if (n % 5 == 0) lines.Add(Other);
            bool accept = rnd.Next(2) == 0;
            lines.Add(accept
                ? $"2016-09-19 22:48:55,020 [myid:] - INFO  [NIOServerCxn.Factory:0.0.0.0/0.0.0.0:2181:NIOServerCnxnFactory@197] - Accepted socket connection from {shown}:{40000 + n % 20000}"
                : $"2016-09-19 22:48:55,021 [myid:] - INFO  [NIOServerCxn.Factory:0.0.0.0/0.0.0.0:2181:NIOServerCnxn@1007] - Closed socket connection for client {shown}:{40000 + n % 20000} (no session established for client)");
            string key = System.Net.IPAddress.Parse(ip).ToString();
            var (a, c) = expected.GetValueOrDefault(key);
            expected[key] = accept ? (a + 1, c) : (a, c + 1);
        }
        var path = Temp("zk-many-clients.log");
        File.WriteAllLines(path, lines);
        foreach (int parts in new[] { 1, 3 })
        {
            var log = ZkLogReader.Read([path], All, parts: parts).Evidence;
            Assert.Equal(expected.Count, log.Clients.Count);
            foreach (var c in log.Clients)
                Assert.Equal(expected[c.Ip.ToString()], ((int)c.Accepted, (int)c.ClosedNoSession));
        }
    }

    [Fact]
    public void Version38EndsOfStreamOfManyClientsAreEachCountedApart()
    {
        // 3.5+ names the client on the exception's line; that address goes through the memo too. IPv6 addresses in
        // between are parsed each time and must not take the client of the line before.
        var rnd = new Random(13);
        var expected = new Dictionary<string, int>();
        var lines = new List<string>();
        for (int n = 0; n < 30_000; n++)
        {
            int id = n < 10_000 ? n : rnd.Next(10_000);
            string ip = id % 10 == 7 ? $"fd00:0:0:0:0:0:{id >> 8:x}:{id & 255:x}" : $"10.{id >> 16}.{(id >> 8) & 255}.{id & 255}";
            lines.Add("2026-11-23 19:30:43,341 - WARN  [NIOWorkerThread-3:NIOServerCnxn@374] - Unexpected exception");
            lines.Add($"EndOfStreamException: Unable to read additional data from client, it probably closed the socket: address = /{ip}:{40000 + n % 20000}, session = 0x0");
            lines.Add("\tat org.apache.zookeeper.server.NIOServerCnxn.handleFailedRead(NIOServerCnxn.java:163)");
            string key = System.Net.IPAddress.Parse(ip).ToString();
            expected[key] = expected.GetValueOrDefault(key) + 1;
        }
        var path = Temp("zk38-many-clients.log");
        File.WriteAllLines(path, lines);
        foreach (int parts in new[] { 1, 3 })
        {
            var log = ZkLogReader.Read([path], All, parts: parts).Evidence;
            Assert.Equal(expected.Count, log.Clients.Count);
            foreach (var c in log.Clients) Assert.Equal(expected[c.Ip.ToString()], (int)c.EndOfStreamNoSession);
        }
    }

    [Fact]
    public void AnEndOfStreamWarningWithoutItsExceptionLineIsStillAnEndOfStream()
    {
        // "caught end of stream exception" (3.4) waits for its next line; a log shipper that drops stack traces leaves
        // it alone, and it is still an end of stream (joined to the close after it, as with its trace). "Unexpected
        // exception" (3.5+) says nothing without its trace: an Other message of its own location, with its bytes.
        const string v34 = "2016-09-19 22:48:54,351 [myid:] - WARN  [NIOServerCxn.Factory:0.0.0.0/0.0.0.0:2181:NIOServerCnxn@357] - caught end of stream exception";
        const string v38 = "2016-09-19 22:48:54,352 - WARN  [NIOWorkerThread-3:NIOServerCnxn@374] - Unexpected exception";
        const string close = "2016-09-19 22:48:54,353 [myid:] - INFO  [NIOServerCxn.Factory:0.0.0.0/0.0.0.0:2181:NIOServerCnxn@1007] - Closed socket connection for client /10.0.20.141:37713 (no session established for client)";
        const string stack = "    at somewhere.else(Unknown Source)";
        foreach (bool newline in new[] { true, false })
        {
            var lines = new List<string>();
            for (int n = 0; n < 200; n++) lines.AddRange([v34, close, Other, v38, Other, v34, stack, close, Other, v38, stack, Other]);
            lines.Add(v38);
            var path = Temp("zk-eos-alone.log");
            File.WriteAllText(path, string.Join("\n", lines) + (newline ? "\n" : ""));
            foreach (int parts in new[] { 1, 3, 16 })
            {
                var log = ZkLogReader.Read([path], All, parts: parts).Evidence;
                var client = log.Clients.Single(c => c.Ip.ToString() == "10.0.20.141");
                Assert.Equal(400, client.EndOfStreamNoSession);
                Assert.Equal(0, log.EndsOfStreamUnattributed);
                Assert.Equal((400L + 200, 400L * (v34.Length + 1) + 200L * (stack.Length + 1)), (log.Kinds.Single(k => k.Kind == "end-of-stream").Lines, log.Kinds.Single(k => k.Kind == "end-of-stream").Bytes));
                var k38 = log.Kinds.Single(x => x.Kind == "other: NIOServerCnxn@374");
                Assert.Equal((401L + 200, 401L * (v38.Length + 1) + 200L * (stack.Length + 1)), (k38.Lines, k38.Bytes));
                Assert.Null(log.Kinds.SingleOrDefault(k => k.Kind == "other: NIOServerCnxn@357"));
            }
        }
    }

    [Theory]
    // Counts worked out by hand from the rule (a quarter of what is left on 2 cores, clamped to 32..256 MB, the last
    // cut at least 32 MB before the end); the 8-core case is checked for its bounds only.
    [InlineData(2L << 30, 2, 15)]         // the benchmark's 2 GiB log on 2 cores: 5 x 256 MB, then 192, 144, ... 32
    [InlineData(6L << 30, 2, 31)]
    [InlineData(2L << 30, 8, null)]
    [InlineData(100L << 20, 2, 3)]        // 32, 32, 36 MB
    [InlineData(63L << 20, 2, 1)]         // under two small regions: whole
    [InlineData(2L << 30, 1, 1)]          // one core: whole
    public void TheDefaultSplitShrinksTowardsTheEndWithinItsBounds(long length, int cores, int? regions)
    {
        var cuts = ZkLogReader.Cuts(length, cores);
        var sizes = cuts.Prepend(0L).Zip(cuts.Append(length), (a, b) => b - a).ToList();
        if (regions is int n) Assert.Equal(n, sizes.Count);
        if (sizes.Count == 1) return;
        Assert.All(sizes, s => Assert.InRange(s, 32L << 20, 256L << 20));
        for (int i = 1; i < sizes.Count - 1; i++) Assert.True(sizes[i] <= sizes[i - 1], $"region {i} ({sizes[i]}) is larger than the one before");
    }

    [Fact]
    public void AnExpiryIsJoinedToTheLastClientOfItsSessionWhateverTheSplit()
    {
        // The session opens from A, moves to B's connection, expires, and expires again: B once, then unattributed.
        const string session = "0x157434bfd9a0001";
        var lines = new List<string> { $"2016-09-19 22:48:55,020 [myid:] - INFO  [SyncThread:0:ZooKeeperServer@617] - Established session {session} with negotiated timeout 30000 for client /10.0.0.1:51000" };
        lines.AddRange(Enumerable.Repeat(Other, 300));
        lines.Add($"2016-09-19 22:50:31,001 [myid:] - INFO  [NIOServerCxn.Factory:0.0.0.0/0.0.0.0:2181:NIOServerCnxn@1007] - Closed socket connection for client /10.0.0.2:51000 which had sessionid {session}");
        lines.AddRange(Enumerable.Repeat(Other, 300));
        lines.Add($"2016-09-19 22:51:02,000 [myid:] - INFO  [SessionTracker:ZooKeeperServer@347] - Expiring session {session}, timeout of 30000ms exceeded");
        lines.AddRange(Enumerable.Repeat(Other, 300));
        lines.Add($"2016-09-19 22:52:02,000 [myid:] - INFO  [SessionTracker:ZooKeeperServer@347] - Expiring session {session}, timeout of 30000ms exceeded");
        var path = Temp("zk-expiry.log");
        File.WriteAllLines(path, lines);
        foreach (int parts in new[] { 1, 2, 3, 4, 9, 50 })
        {
            var log = ZkLogReader.Read([path], All, parts: parts).Evidence;
            Assert.Equal((0L, 1L, 1L), (log.Clients.Single(c => c.Ip.ToString() == "10.0.0.1").SessionsExpired,
                                        log.Clients.Single(c => c.Ip.ToString() == "10.0.0.2").SessionsExpired, log.SessionsExpiredUnattributed));
        }
    }

    [Fact]
    public async Task AFileThatShrinksWhileItIsReadEndsTheReadAndSaysSo()
    {
        var path = BigLog();
        var whole = ZkLogReader.Read([path], All).Evidence;
        // A live log truncated by log rotation (logrotate's copytruncate) while it is read. When the cut lands
        // (before, during or after the read) is up to the scheduler: the read must end cleanly in every case,
        // and say why when it ended early.
        using var writer = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite);
        var cut = Task.Run(async () => { await Task.Delay(5); writer.SetLength(1 << 20); });
        var (log, status) = ZkLogReader.Read([path], All);
        await cut;
        Assert.True(log.Lines > 0);
        // Cut after the file was opened: fewer lines than the whole, and the reason says why.
        if (log.Lines < whole.Lines && log.Bytes > (1 << 20) + 1) Assert.Contains("shrank", status.Reason);
    }

    [Fact]
    public void AFileCutAfterItsSizeWasTakenIsReadUpToTheCutAndSaysSo()
    {
        // The same as above with the cut at a known moment: after the size is taken, before any region is read.
        var path = BigLog();
        var whole = ZkLogReader.Read([path], All).Evidence;
        long size = new FileInfo(path).Length;
        foreach (int? parts in new int?[] { null, 1, 7 })
        {
            var cut = Temp("zk-cut.log");
            File.Copy(path, cut);
            var (log, status) = ZkLogReader.Read([cut], All, parts: parts, sized: f => { using var w = new FileStream(f, FileMode.Open, FileAccess.Write, FileShare.ReadWrite); w.SetLength(1 << 20); });
            Assert.Equal(ConnDoctor.Model.SourceState.Partial, status.State);
            Assert.Contains($"the file shrank from {size} to {1 << 20} bytes while it was read", status.Reason);
            Assert.Equal((1 << 20) + 1, log.Bytes);       // the cut last line counts a newline, as every last line does
            Assert.InRange(log.Lines, 1, whole.Lines - 1);
        }
    }

    [Fact]
    public void ALineLongerThanTheReadBufferStaysOneLine()
    {
        var fixture = File.ReadAllLines(Fixture("zk34.log"));
        var path = Temp("zk-long-line.log");
        File.WriteAllLines(path, fixture.Concat([new string('x', 600_000)]).Concat(fixture));
        var log = ZkLogReader.Read([path], All, parts: 1).Evidence;
        Assert.Equal(2 * fixture.Length + 1, log.Lines);
        Assert.Equal(new FileInfo(path).Length, log.Bytes);
    }

    [Fact]
    public void GzipStdinAndARotatedSetGiveTheSameAnswerAsThePlainFile()
    {
        var path = BigLog();
        var plain = Canonical(ZkLogReader.Read([path], All).Evidence);
        var gz = Temp("zk-big.log.gz");
        using (var o = File.Create(gz)) using (var z = new GZipStream(o, CompressionLevel.Fastest)) using (var i = File.OpenRead(path)) i.CopyTo(z);
        Assert.Equal(plain, Canonical(ZkLogReader.Read([gz], All).Evidence));
        Assert.Equal(plain, Canonical(ZkLogReader.Read(["-"], All, () => File.OpenRead(path)).Evidence));

        // Rotated: the newer half named first, the older half compressed; read in time order all the same.
        var lines = File.ReadAllLines(path);
        int cut = Array.FindIndex(lines, lines.Length / 2, l => char.IsDigit(l[0]));
        var older = Temp("zk-big.log.1.gz");
        var newer = Temp("zk-big.log.current");
        using (var o = File.Create(older)) using (var z = new GZipStream(o, CompressionLevel.Fastest)) using (var sw = new StreamWriter(z)) foreach (var l in lines[..cut]) sw.WriteLine(l);
        File.WriteAllLines(newer, lines[cut..]);
        var rotated = ZkLogReader.Read([newer, older], All).Evidence;
        Assert.Equal([older, newer], rotated.Files);
        Assert.Equal(plain.Replace(path, ""), Canonical(rotated));
    }

    [Fact]
    public void SinceAndUntilKeepOnlyTheWindow()
    {
        var (log, _) = ZkLogReader.Read([Fixture("zk34.log")], new ZkLogWindow(new DateTime(2016, 9, 19, 22, 48, 55), new DateTime(2016, 9, 19, 22, 50, 0)));
        Assert.Equal(["10.0.20.7", "10.0.20.9"], log.Clients.Select(c => c.Ip.ToString()).Order());
        Assert.True(log.OutsideWindowLines > 0);
    }

    [Fact]
    public void TruncatedGzipGivesAPartialResultThatSaysSo()
    {
        var path = BigLog();
        var gz = Temp("zk-trunc.gz");
        using (var o = File.Create(gz)) using (var z = new GZipStream(o, CompressionLevel.Fastest)) using (var i = File.OpenRead(path)) i.CopyTo(z);
        var bytes = File.ReadAllBytes(gz);
        File.WriteAllBytes(gz, bytes[..(bytes.Length / 3)]);
        using var doc = CliAssert.PartialFirstSource(CliRunner.Run("zklog", "--json", gz), "corrupt or truncated");
        Assert.True(doc.RootElement.GetProperty("lines").GetInt64() > 0);
    }

    [Fact]
    public void GzipFilesJoinedWithCatAreReadWholeAsOneStream()
    {
        // `cat a.gz b.gz > c.gz` is valid gzip (zcat reads both); its trailer records only the last stream's size.
        var path = BigLog();
        var lines = File.ReadAllLines(path);
        int cut = Array.FindIndex(lines, lines.Length / 2, l => char.IsDigit(l[0]));
        var joined = Temp("zk-joined.gz");
        using (var o = File.Create(joined))
            foreach (var part in new[] { lines[..cut], lines[cut..] })
                using (var z = new GZipStream(o, CompressionLevel.Fastest, leaveOpen: true)) using (var sw = new StreamWriter(z)) foreach (var l in part) sw.WriteLine(l);
        var (log, status) = ZkLogReader.Read([joined], All);
        Assert.Equal(Canonical(ZkLogReader.Read([path], All).Evidence), Canonical(log));
        // The trailer records the last member's size only; its checksum over the last bytes of text shows the file whole.
        Assert.Equal(ConnDoctor.Model.SourceState.Ok, status.State);
        Assert.DoesNotContain("corrupt", status.Reason);
    }

    [Fact]
    public void GarbageAndOtherProgramsLogsAreOneLineErrors()
    {
        var garbage = Temp("garbage");
        var rnd = new Random(7);
        var data = new byte[3 << 20];
        rnd.NextBytes(data);
        File.WriteAllBytes(garbage, data);
        var r = CliRunner.Run("zklog", garbage);
        Assert.Equal(1, r.Code);
        Assert.Single(r.Stderr.TrimEnd().Split('\n'));
        Assert.Contains("does not look like a ZooKeeper server log", r.Stderr);

        var nginx = Temp("nginx.log");
        File.WriteAllLines(nginx, Enumerable.Repeat("127.0.0.1 - - [19/Sep/2016:22:48:54 +0000] \"GET / HTTP/1.1\" 200 612 \"-\" \"curl/7.88\"", 50));
        r = CliRunner.Run("zklog", nginx);
        Assert.Equal(1, r.Code);
        Assert.Contains("none of its 50 line(s)", r.Stderr);

        r = CliRunner.Run("zklog", "/nonexistent/zookeeper.log");
        Assert.Equal("conndoctor: cannot read /nonexistent/zookeeper.log: no such file\n", r.Stderr);
        Assert.Equal(1, r.Code);
        r = CliRunner.Run("zklog", "--since", "yesterday", Fixture("zk34.log"));
        Assert.Equal(2, r.Code);
    }

    [Fact]
    public void EmptyFileIsAnEmptySummary()
    {
        var empty = Temp("empty.log");
        File.WriteAllText(empty, "");
        var r = CliRunner.Run("zklog", empty);
        Assert.Equal(0, r.Code);
        Assert.Contains("The log is empty.", r.Stdout);
    }

    [Fact]
    public void MixedInputCountsAndShowsUnrecognisedLines()
    {
        var mixed = Temp("mixed.log");
        File.WriteAllLines(mixed, ["some banner printed by a wrapper script", .. File.ReadAllLines(Fixture("zk34.log")), "2016-09-19 23:00:00,000 stray line of another format"]);
        var (log, status) = ZkLogReader.Read([mixed], All);
        Assert.Equal(2, log.UnrecognisedLines);
        Assert.Equal(2, log.UnrecognisedSamples.Count);
        Assert.Contains("some banner", log.UnrecognisedSamples[0]);
        Assert.Equal(ConnDoctor.Model.SourceState.Partial, status.State);
    }
}
