using System.Globalization;
using System.Text.RegularExpressions;
using ConnDoctor.Model;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.ZkLog;

/// <summary>
/// `zklog --json`'s `clients[].ports`: the client ports the log's connection ends named, per IP, as the real fixtures'
/// lines say. The expectation is a plain regex reading of each file (its own time stamps, every line that names an end),
/// not the parser's: the latest <see cref="ZkClientPort.MaxSample"/> ends in file order, a port named twice kept once
/// at its latest time, oldest first.
/// </summary>
public sealed class ZkLogJsonPortsTests
{
    private static readonly Regex Stamp = new(@"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}) ", RegexOptions.Compiled);
    // The connection ends that name the client's port: 3.4+ close, Netty's close, 3.5+ end of stream ("address = ").
    private static readonly Regex End = new(@"(?:Closed socket connection for client |Closing connection to |probably closed the socket: address = )/([^\s,]+):(\d+)", RegexOptions.Compiled);

    private static Dictionary<string, List<(int Port, string Time)>> Expected(string path)
    {
        var ends = new Dictionary<string, List<(int Port, DateTime Time)>>();
        DateTime at = default;
        foreach (var line in File.ReadLines(path))
        {
            var s = Stamp.Match(line);
            if (s.Success) at = DateTime.ParseExact(s.Groups[1].Value, "yyyy-MM-dd HH:mm:ss,fff", CultureInfo.InvariantCulture);
            var e = End.Match(line);
            if (!e.Success) continue;
            if (!ends.TryGetValue(e.Groups[1].Value, out var list)) ends[e.Groups[1].Value] = list = new();
            list.Add((int.Parse(e.Groups[2].Value, CultureInfo.InvariantCulture), at));
        }
        return ends.ToDictionary(kv => kv.Key, kv => kv.Value.TakeLast(ZkClientPort.MaxSample)
            .GroupBy(p => p.Port).Select(g => (Port: g.Key, Time: g.Max(p => p.Time)))
            .OrderBy(p => p.Time).ThenBy(p => p.Port)
            .Select(p => (p.Port, p.Time.ToString("yyyy-MM-ddTHH:mm:ss.fff", CultureInfo.InvariantCulture))).ToList());
    }

    [Theory]
    [InlineData("zk38-info.log")]          // 3.8 at INFO: the end of stream's "address = /127.0.0.1:PORT" on its trace's first line
    [InlineData("zk38-debug.log")]         // 3.8 at DEBUG: the end of stream, then the close, name one port twice
    [InlineData("zk34.log")]               // 3.4: "Closed socket connection for client /IP:PORT"
    [InlineData("layouts/netty-3.8.log")]  // Netty: "Closing connection to /IP:PORT"
    [InlineData("layouts/v36-info.log")]   // 3.6.4+ one-line end of stream at INFO
    public void EachClientsPortsAreTheOnesItsLinesName(string fixture)
    {
        string path = Path.Combine(Fixtures.Dir("zklog"), fixture);
        var expected = Expected(path);
        Assert.NotEmpty(expected);
        var r = CliRunner.Run("zklog", "--json", path);
        Assert.True(r.Code is 0 or 3 && r.Stderr == "", r.Stderr);
        using var d = r.Json();
        var clients = d.RootElement.GetProperty("clients").EnumerateArray().ToList();
        foreach (var c in clients)
        {
            string ip = c.GetProperty("ip").GetString()!;
            var ports = c.GetProperty("ports").EnumerateArray().Select(p => (p.GetProperty("port").GetInt32(), p.GetProperty("time").GetString()!)).ToList();
            Assert.Equal(expected.GetValueOrDefault(ip) ?? [], ports);
            // Added after every field the object had, which stay as they were.
            Assert.Equal("ports", c.EnumerateObject().Last().Name);
        }
        Assert.Equal(expected.Keys.Order(), clients.Select(c => c.GetProperty("ip").GetString()!).Where(expected.ContainsKey).Order());
    }

    [Fact]
    public void TheLatestEndsOfALongLoopAreKept()
    {
        // The 3.4 fixture's close line 200 times, a port and a millisecond apart each: the last 64 are kept.
        var close = File.ReadAllLines(Path.Combine(Fixtures.Dir("zklog"), "zk34.log")).First(l => l.Contains("Closed socket connection for client /10.0.20.141:"));
        string path = Path.Combine(Path.GetTempPath(), $"cd-ports-{Environment.ProcessId}-{Guid.NewGuid():N}.log");
        var t0 = DateTime.ParseExact(close[..23], "yyyy-MM-dd HH:mm:ss,fff", CultureInfo.InvariantCulture);
        var port0 = int.Parse(Regex.Match(close, @"/10\.0\.20\.141:(\d+)").Groups[1].Value, CultureInfo.InvariantCulture);
        try
        {
            File.WriteAllLines(path, Enumerable.Range(0, 200).Select(i =>
                t0.AddMilliseconds(i).ToString("yyyy-MM-dd HH:mm:ss,fff", CultureInfo.InvariantCulture) + close[23..].Replace($":{port0} ", $":{port0 + i} ")));
            var expected = Expected(path);
            Assert.Equal(ZkClientPort.MaxSample, Assert.Single(expected).Value.Count);
            var r = CliRunner.Run("zklog", "--json", path);
            using var d = r.Json();
            var c = Assert.Single(d.RootElement.GetProperty("clients").EnumerateArray());
            Assert.Equal(expected["10.0.20.141"], c.GetProperty("ports").EnumerateArray().Select(p => (p.GetProperty("port").GetInt32(), p.GetProperty("time").GetString()!)).ToList());
        }
        finally
        {
            File.Delete(path);
        }
    }
}
