using System.Text;
using ConnDoctor.Analysis;
using ConnDoctor.Model;
using ConnDoctor.Render;
using ConnDoctor.Rules;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.Render;

/// <summary>What the renderers print, at a fixed width, compared with reviewed golden files.</summary>
public class RendererGoldenTests
{
    internal static Evidence Scene() => new EvidenceBuilder()
        .Process(4242, "java", "java -cp app.jar com.example.Main").Process(77, "zkServer")
        .Listen("0.0.0.0:2181", 77)
        .Socket(TcpState.CloseWait, "10.0.0.1:40000", "10.0.0.9:8080", 4242, new TcpInfo { LastDataRecvMs = 95_000, LastAckRecvMs = 95_000 }, recvQ: 1, count: 14)
        .Socket(TcpState.Established, "10.0.0.1:41000", "10.0.0.9:8080", 4242, new TcpInfo { LastDataRecvMs = 10, LastAckRecvMs = 10 }, count: 3)
        .Socket(TcpState.TimeWait, "10.0.0.1:2181", "10.0.0.7:50000", expiresMs: 58_000, count: 1200)
        .Build();

    private static string Terminal(Action<TextWriter> render)
    {
        var sw = new StringWriter();
        render(sw);
        return sw.ToString();
    }

    private static string Json(Action<Stream> render)
    {
        var ms = new MemoryStream();
        render(ms);
        return Encoding.UTF8.GetString(ms.ToArray());
    }

    [Fact]
    public void DiagnoseTerminalAt80Columns()
    {
        var report = Diagnosis.Run(Scene(), new RuleOptions());
        var text = Terminal(w => DiagnoseTerminalRenderer.Render(report, w, new OutputOptions { Width = 80 }));
        Assert.All(text.Split('\n'), l => Assert.True(l.Length <= 80, $"line over 80 columns: {l}"));
        Assert.DoesNotContain("\u001b[", text); // no colour codes when not on a terminal
        Fixtures.AssertGolden("diagnose.txt", text);
    }

    [Fact]
    public void DiagnoseJson()
    {
        var report = Diagnosis.Run(Scene(), new RuleOptions());
        Fixtures.AssertGolden("diagnose.json", Json(s => DiagnoseJsonRenderer.Render(report, s)));
    }

    [Fact]
    public void SocketsByProcessTerminalAndJson()
    {
        var report = SocketsReport.Build(Scene(), new SocketFilter(), GroupBy.Process);
        var text = Terminal(w => SocketsTerminalRenderer.Render(report, w, new OutputOptions { Width = 80 }));
        Assert.All(text.Split('\n'), l => Assert.True(l.Length <= 80, $"line over 80 columns: {l}"));
        Fixtures.AssertGolden("sockets-process.txt", text);
        Fixtures.AssertGolden("sockets-process.json", Json(s => SocketsJsonRenderer.Render(report, s)));
    }

    [Fact]
    public void ALongIPv6EndpointWrapsInsteadOfHidingTheCounts()
    {
        var e = new EvidenceBuilder().Process(7, "python3")
            .Socket(TcpState.FinWait2, "[2001:db8:1234:5678:9abc:def0:1234:5678]:7020", "[2001:db8:1234:5678:9abc:def0:1234:5678]:41000", count: 3)
            .Socket(TcpState.CloseWait, "[2001:db8:1234:5678:9abc:def0:1234:5678]:41000", "[2001:db8:1234:5678:9abc:def0:1234:5678]:7020", 7, count: 3)
            .Build();
        foreach (var by in new[] { GroupBy.Process, GroupBy.Remote })
        {
            var text = Terminal(w => SocketsTerminalRenderer.Render(SocketsReport.Build(e, new SocketFilter(), by), w, new OutputOptions { Width = 80 }));
            Assert.All(text.Split('\n'), l => Assert.True(l.Length <= 80, $"line over 80 columns: {l}"));
            Assert.DoesNotContain("…", text);
            foreach (var h in new[] { "ESTAB", "CLOSE-W", "TIME-W", "OTHER" }) Assert.Contains(h, text);
            Assert.Contains(text.Split('\n'), l => l.TrimEnd().EndsWith(" 3") || l.Contains(" 3 "));   // the counts are there
        }
    }

    [Fact]
    public void SocketsOneRowEachLikeSs()
    {
        var report = SocketsReport.Build(Scene(), new SocketFilter { States = [TcpState.CloseWait, TcpState.Listen] }, GroupBy.None);
        Fixtures.AssertGolden("sockets-none.txt", Terminal(w => SocketsTerminalRenderer.Render(report, w, new OutputOptions { Width = 80 })));
    }
}
