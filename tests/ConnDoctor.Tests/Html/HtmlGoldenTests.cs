using System.Text.RegularExpressions;
using ConnDoctor.Render;
using ConnDoctor.Render.Html;
using ConnDoctor.Tests.Infra;
using ConnDoctor.Tests.Render;

namespace ConnDoctor.Tests.Html;

/// <summary>
/// The HTML of fixed reports against reviewed golden files (UPDATE_GOLDEN=1 rewrites them), each page first read by
/// the strict <see cref="HtmlStructure"/> reader: ids unique, every chart's series drawn with as many points as it says,
/// no reference to anything outside the page.
/// </summary>
public class HtmlGoldenTests
{
    /// <summary>The checks every page passes, whatever its report; returns its elements.</summary>
    internal static List<HtmlStructure.Element> CheckPage(string page)
    {
        var elements = HtmlStructure.Parse(page);
        var ids = elements.Select(e => e.Attr("id")).Where(id => id != null).ToList();
        Assert.Equal(ids.Count, ids.Distinct().Count());
        // Every in-page link points at an id of the page.
        foreach (var href in elements.Select(e => e.Attr("href")).Where(h => h != null)) Assert.Contains(href![1..], ids);
        // Self-contained: no attribute names anything outside (URLs in the text, such as a command line's, are text).
        Assert.DoesNotMatch(new Regex("(src|href)=\"(?!#)"), page);
        Assert.DoesNotContain("url(", page);
        Assert.DoesNotContain("@import", page);
        Assert.DoesNotContain(elements.SelectMany(e => e.Attributes), a => a.Key != "xmlns" && a.Key != "aria-label" && a.Key.StartsWith("data-") == false && a.Value.Contains("://"));
        Assert.Contains("Content-Security-Policy", page);
        foreach (var s in elements.Where(e => e.Attr("data-points") != null))
        {
            int n = int.Parse(s.Attr("data-points")!);
            int drawn = s.Tag == "g" ? elements.SkipWhile(e => !ReferenceEquals(e, s)).Skip(1).TakeWhile(e => e.Depth > s.Depth).Count(e => e.Tag == "rect")
                : s.Attr("d") == "M0 0" ? 0 : s.Attr("data-kind") == "line" ? s.Attr("d")!.Count(c => c is 'M' or 'L') : s.Attr("d")!.Count(c => c == 'H');
            Assert.Equal(n, drawn);
        }
        return elements;
    }

    private static void Golden(string name, string page)
    {
        CheckPage(page);
        Fixtures.AssertGolden(name, page);
    }

    [Fact]
    public void ZkLog()
    {
        var page = ZkLogHtmlRenderer.Page(ZkLogRendererGoldenTests.Report());
        Golden("zklog.html", page);
        var elements = HtmlStructure.Parse(page);
        // The storm's client, its refusal marked on each chart, and the per-IP series adding up to the log's counts.
        var log = ZkLogRendererGoldenTests.Report().Log;
        var client = Assert.Single(log.Clients);
        Assert.Equal(client.EndsOfStream, client.Minutes.Sum(m => m.EndsOfStream));
        Assert.Equal(client.Refused, client.Minutes.Sum(m => m.Refused));
        Assert.Equal(3, elements.Count(e => e.Attr("class") == "marker" && e.Attr("data-marker")!.StartsWith("first refusal: 127.0.0.1")));
        Assert.Equal(["chart-per-minute", "chart-ends-per-ip", "chart-refused-per-ip"], elements.Where(e => e.Tag == "figure").Select(e => e.Attr("id")));
        Assert.Equal(2, elements.Count(e => e.Attr("data-series") == "127.0.0.1"));   // its ends and its refusals
    }

    [Fact]
    public void Pcap() => Golden("pcap.html", PcapHtmlRenderer.Page(HtmlReports.Pcap()));

    [Fact]
    public void Zk() => Golden("zk.html", ZkHtmlRenderer.Page(ZkRendererGoldenTests.Watched().Report));

    [Fact]
    public void Watch()
    {
        var r = HtmlReports.Watch();
        var page = WatchHtmlRenderer.Page(r);
        Golden("watch.html", page);
        var elements = HtmlStructure.Parse(page);
        var java = Assert.Single(elements, e => e.Attr("data-series") == "java[4242]" && e.Tag == "path" && elements.IndexOf(e) < elements.FindIndex(x => x.Attr("id") == "chart-closed-per-owner"));
        Assert.Equal("30", java.Attr("data-points"));                     // one step per second of the 30 s watch
        var tw = Assert.Single(elements, e => e.Attr("data-series") == "TIME_WAIT");
        Assert.Equal(r.Watch.Samples.Count.ToString(), tw.Attr("data-points"));
        Assert.Equal(r.Watch.Samples.Max(s => s.TimeWait), r.Watch.Rows.Where(x => x.Process == "java").Sum(x => x.StatesNow.GetValueOrDefault(Model.TcpState.TimeWait)));
        Assert.Contains(elements, e => e.Tag == "section" && e.Attr("data-rule") == "reconnect-storm" && e.Text.ToString().Contains("java[4242]"));
    }

    [Fact]
    public void Diagnose() => Golden("diagnose.html", DiagnoseHtmlRenderer.Page(DiagnoseHostGoldenTests.Report(), null));

    [Fact]
    public void FleetDrawsEachChainAsBoxesAndArrows()
    {
        var page = FleetHtmlRenderer.Page(HtmlReports.Fleet());
        Golden("fleet.html", page);
        var elements = HtmlStructure.Parse(page);
        var chain = elements.Single(e => e.Attr("id") == "chain-1");
        var links = elements.SkipWhile(e => e != chain).TakeWhile(e => e == chain || e.Depth > chain.Depth).Where(e => e.Attr("data-link") != null).ToList();
        Assert.Equal(["server", "client-host", "via", "process", "cause"], links.Select(e => e.Attr("data-link")));
        Assert.Contains("NoClassDefFoundError", links[^1].Text.ToString());
        // The second chain has no client host, NAT, process or cause: dashed boxes say so, and no NAT box is drawn.
        var second = elements.Single(e => e.Attr("id") == "chain-2");
        var missing = elements.SkipWhile(e => e != second).TakeWhile(e => e == second || e.Depth > second.Depth).Where(e => e.Attr("data-link") != null).ToList();
        Assert.Equal(["server", "client-host", "process", "cause"], missing.Select(e => e.Attr("data-link")));
        Assert.All(missing.Skip(1), e => Assert.Equal("box missing", e.Attr("class")));
        // Each host's own report is there, its ids apart from the other's.
        Assert.Contains(elements, e => e.Attr("id") == "host-1-finding-1");
        Assert.Contains(elements, e => e.Attr("id") == "host-2-finding-1");
        Assert.Contains(elements, e => e.Attr("id") == "x-finding-1" && e.Attr("data-rule") == "connection-limit");
    }

    [Fact]
    public void HtmlReportOfPicksTheRendererByTheReport()
    {
        Assert.Equal(FleetHtmlRenderer.Page(HtmlReports.Fleet()), HtmlReport.Of(HtmlReports.Fleet()));
        var d = DiagnoseHostGoldenTests.Report();
        Assert.Equal(DiagnoseHtmlRenderer.Page(d, null), HtmlReport.Of(d));
    }
}
