using System.Text.RegularExpressions;
using ConnDoctor.Model;
using ConnDoctor.Sources.ZkLog;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.ZkLog;

/// <summary>The sample of client ports per IP (the latest connection ends the log named), from the fixtures' real lines.</summary>
public sealed class ZkLogPortSampleTests : IDisposable
{
    private static readonly ZkLogWindow All = new(null, null);
    private static string Fixture(string name) => Path.Combine(Fixtures.Dir("zklog"), name);
    private readonly List<string> _temp = new();

    public void Dispose()
    {
        foreach (var p in _temp) File.Delete(p);
    }

    private static ZkClientStats Client(ZkLogEvidence log, string ip) => Assert.Single(log.Clients, c => c.Ip.ToString() == ip);

    [Fact]
    public void TheFixturesPortsAreSampledFromTheirOwnLines()
    {
        // 3.4: "Closed socket connection for client /10.0.20.141:37713 (no session established for client)".
        var v34 = ZkLogReader.Read([Fixture("zk34.log")], All).Evidence;
        Assert.Contains(Client(v34, "10.0.20.141").Ports, p => p.Port == 37713 && p.Time == new DateTime(2016, 9, 19, 22, 48, 54, 352));
        // 3.8 at INFO: the end of stream's "address = /127.0.0.1:PORT"; the oracle is a regex over the file.
        var path = Fixture("zk38-info.log");
        var named = Regex.Matches(File.ReadAllText(path), @"address = /127\.0\.0\.1:(\d+), session").Select(m => int.Parse(m.Groups[1].Value)).ToList();
        Assert.True(named.Count > 10, $"the fixture names {named.Count} ends");   // fewer than the sample holds: all of them (the cut is the test below's)
        var sample = Client(ZkLogReader.Read([path], All).Evidence, "127.0.0.1").Ports;
        Assert.Equal(Math.Min(ZkClientPort.MaxSample, named.Distinct().Count()), sample.Count);
        Assert.All(sample, p => Assert.Contains(p.Port, named));
        Assert.Equal(named[^1], sample[^1].Port);
        Assert.Equal(sample.OrderBy(p => p.Time).ToList(), sample.ToList());
    }

    [Fact]
    public void TheLatestEndsAreKeptAndAnySplitIntoRegionsGivesTheSameSample()
    {
        // The fixture's 3.8 end of stream (its WARN line and stack trace), 300 times with the port and time rewritten,
        // and the 3.4 close and Netty's close for another client.
        var lines = File.ReadAllLines(Fixture("zk38-info.log"));
        int at = Array.FindIndex(lines, l => l.Contains("address = /127.0.0.1:58150"));
        var eos = lines[(at - 1)..(at + 8)];
        var close34 = File.ReadAllLines(Fixture("zk34.log")).First(l => l.Contains("Closed socket connection for client /10.0.20.141:37713"));
        var netty = File.ReadAllLines(Path.Combine(Fixture("layouts"), "netty-3.8.log")).First(l => l.Contains("Closing connection to /10.1.2.3:40001"));
        var path = Path.Combine(Path.GetTempPath(), $"cd-{Environment.ProcessId}-{Guid.NewGuid():N}-ports.log");
        _temp.Add(path);
        var t0 = new DateTime(2026, 11, 23, 19, 30, 0);
        using (var w = new StreamWriter(path))
            for (int i = 0; i < 300; i++)
            {
                string ts = t0.AddMilliseconds(i * 1001).ToString("yyyy-MM-dd HH:mm:ss,fff");
                foreach (var l in eos) w.WriteLine(l.Length > 23 && char.IsDigit(l[0]) ? ts + l[23..] : l.Replace(":58150,", $":{40000 + i},"));
                w.WriteLine(ts + close34[23..].Replace(":37713 ", $":{50000 + i} "));
                if (i % 3 == 0) w.WriteLine(ts + netty[23..].Replace("/10.1.2.3:40001", $"/10.0.9.9:{60000 + i}"));
            }
        var one = ZkLogReader.Read([path], All, parts: 1).Evidence;
        var loop = Client(one, "127.0.0.1").Ports;
        Assert.Equal(Enumerable.Range(40000 + 300 - 64, 64), loop.Select(p => p.Port));
        Assert.Equal(t0.AddMilliseconds(299 * 1001), loop[^1].Time);
        Assert.Equal(Enumerable.Range(50000 + 300 - 64, 64), Client(one, "10.0.20.141").Ports.Select(p => p.Port));
        Assert.Equal(Enumerable.Range(0, 100).Select(i => 60000 + 3 * i).TakeLast(64), Client(one, "10.0.9.9").Ports.Select(p => p.Port));
        foreach (int parts in new[] { 2, 3, 7, 64 })
        {
            var split = ZkLogReader.Read([path], All, parts: parts).Evidence;
            foreach (var c in one.Clients) Assert.Equal(c.Ports, Client(split, c.Ip.ToString()).Ports);
        }
    }
}
