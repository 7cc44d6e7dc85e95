using System.Text;
using ConnDoctor.Model;
using ConnDoctor.Render;
using ConnDoctor.Rules;
using ConnDoctor.Sources.ZkLog;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.Render;

/// <summary>`zklog` output for the real 3.8 fixture, at 80 columns, wide, and as JSON.</summary>
public class ZkLogRendererGoldenTests
{
    internal static ZkLogReport Report()
    {
        var (log, status) = ZkLogReader.Read([Path.Combine(Fixtures.Dir("zklog"), "zk38-info.log")], new ZkLogWindow(null, null));
        // Stable across machines: the file name, the host and the time of the run are fixed.
        log = log with { Files = ["zk38-info.log"], Layouts = [.. log.Layouts.Select(l => l with { File = "zk38-info.log" })] };
        status = status with { Duration = TimeSpan.Zero, Reason = status.Reason!.Replace(Fixtures.Dir("zklog") + "/", "") };
        var evidence = new Evidence { Statuses = [status], ZkLog = log, CollectedAt = new DateTimeOffset(2026, 11, 23, 12, 0, 0, TimeSpan.Zero), Host = "zkhost" };
        return new ZkLogReport(log, Diagnosis.Run(evidence, new RuleOptions()));
    }

    [Theory]
    [InlineData(80, "zklog.txt")]
    [InlineData(200, "zklog-wide.txt")]
    public void Terminal(int width, string golden)
    {
        var sw = new StringWriter();
        ZkLogTerminalRenderer.Render(Report(), sw, new OutputOptions { Width = width });
        Assert.All(sw.ToString().Split('\n'), l => Assert.True(l.Length <= width, l));
        Fixtures.AssertGolden(golden, sw.ToString());
    }

    [Fact]
    public void Json()
    {
        var ms = new MemoryStream();
        ZkLogJsonRenderer.Render(Report(), ms);
        Fixtures.AssertGolden("zklog.json", Encoding.UTF8.GetString(ms.ToArray()));
    }
}
