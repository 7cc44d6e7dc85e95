using System.Text.Json;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.Html;

/// <summary>
/// Reports from real runs (a real ZooKeeper 3.8 server's log of a client refused at maxClientCnxns, a tcpdump
/// capture with an unread-data reset and a refused connect, a traced watch of a process churning connections in a
/// namespace made here) loaded by headless Chromium, one browser for all: no request leaves the page, no console
/// error, the culprit is in the page's text, and every chart's series has as many points in the SVG as the report
/// has for it. Screenshots go to a temporary folder, or to CONNDOCTOR_DOCS_IMG when set (docs/img).
/// </summary>
[Collection("watch")]
public class HtmlBrowserTests
{
    private const string Probe = """
        JSON.stringify({
          text: document.body.innerText,
          svgs: document.querySelectorAll("svg").length,
          svgNamespace: Array.from(document.querySelectorAll("svg")).every(function(s){ return s instanceof SVGSVGElement; }),
          series: Array.from(document.querySelectorAll("[data-series]")).map(function(s){
            var kind = s.getAttribute("data-kind"), d = s.getAttribute("d") || "";
            var drawn = kind === "bars" ? s.querySelectorAll("rect").length : d === "M0 0" ? 0 : (d.match(kind === "line" ? /[ML]/g : /H/g) || []).length;
            return { chart: s.closest("figure").id, name: s.getAttribute("data-series"), kind: kind, points: +s.getAttribute("data-points"), drawn: drawn,
                     width: s.getBBox().width };
          }),
          sorted: (function(){
            var t = document.querySelector("table.sortable"); if (!t) return null;
            var th = Array.from(t.querySelectorAll("th")).find(function(h){ return h.classList.contains("n"); }); if (!th) return null;
            var col = Array.prototype.indexOf.call(th.parentNode.children, th);
            th.click(); th.click();
            var v = Array.from(t.tBodies[0].rows).map(function(r){ return parseFloat(r.cells[col].getAttribute("data-v") || "0"); });
            return v.every(function(x, i){ return i === 0 || v[i-1] >= x; });
          })()
        })
        """;

    private sealed record Series(string Chart, string Name, string Kind, int Points, int Drawn);

    private static string ImageDir(string work)
    {
        var dir = Environment.GetEnvironmentVariable("CONNDOCTOR_DOCS_IMG");
        if (string.IsNullOrEmpty(dir)) return work;
        Directory.CreateDirectory(dir);
        return dir;
    }

    private static (string Text, List<Series> Series, bool? Sorted) Check(Chromium.Visit v, string png)
    {
        Assert.Empty(v.Requests);
        Assert.Empty(v.Problems);
        using var doc = JsonDocument.Parse(v.Value);
        var root = doc.RootElement;
        Assert.True(root.GetProperty("svgNamespace").GetBoolean());
        var series = root.GetProperty("series").EnumerateArray().Select(s => new Series(s.GetProperty("chart").GetString()!, s.GetProperty("name").GetString()!,
            s.GetProperty("kind").GetString()!, s.GetProperty("points").GetInt32(), s.GetProperty("drawn").GetInt32())).ToList();
        Assert.NotEmpty(series);
        Assert.All(series, s => Assert.True(s.Points == s.Drawn, $"{s.Chart} {s.Name}: {s.Points} points said, {s.Drawn} drawn"));
        var bytes = File.ReadAllBytes(png);
        Assert.True(bytes.Length > 10_000, "screenshot too small");
        Assert.Equal(1280, System.Buffers.Binary.BinaryPrimitives.ReadInt32BigEndian(bytes.AsSpan(16, 4)));   // PNG IHDR width
        bool? sorted = root.GetProperty("sorted").ValueKind == JsonValueKind.Null ? null : root.GetProperty("sorted").GetBoolean();
        return (root.GetProperty("text").GetString()!, series, sorted);
    }

    [Fact]
    public async Task RealReportsLoadOfflineWithoutErrorsAndDrawEveryPoint()
    {
        Assert.True(Chromium.Available, $"{Chromium.Binary} is not installed (scripts/setup.sh installs it)");
        string work = Directory.CreateTempSubdirectory("conndoctor-html-run-").FullName;
        try { await Run(work, ImageDir(work)); }
        finally { Directory.Delete(work, recursive: true); }
    }

    private static async Task Run(string work, string dir)
    {

        // A real ZooKeeper 3.8 log: one client IP refused at maxClientCnxns.
        string zklogHtml = Path.Combine(work, "zklog.html");
        var zklog = CliRunner.Run("zklog", Path.Combine(Fixtures.Dir("zklog"), "zk38-info.log"), "--json", "--html", zklogHtml);
        Assert.True(zklog.Code is 0 or 1, zklog.Stderr);
        using var zj = zklog.Json();
        var minutes = zj.RootElement.GetProperty("timeline").EnumerateArray().Select(m => DateTime.Parse(m.GetProperty("minute").GetString()!)).ToList();
        string culprit = zj.RootElement.GetProperty("clients")[0].GetProperty("ip").GetString()!;

        // A tcpdump capture between two namespaces: an unread-data reset and a refused connect.
        string pcapHtml = Path.Combine(work, "pcap.html");
        var pcap = CliRunner.Run("pcap", Path.Combine(Fixtures.Dir("pcap"), "eth.pcap"), "--json", "--html", pcapHtml);
        Assert.True(pcap.Code is 0 or 1, pcap.Stderr);
        using var pj = pcap.Json();
        int steps = pj.RootElement.GetProperty("timeline").GetProperty("steps").GetArrayLength();
        string resetClient = pj.RootElement.GetProperty("pairs").EnumerateArray().First(p => p.GetProperty("resets").EnumerateObject().Any(r => r.Value.GetInt32() > 0)).GetProperty("client").GetString()!;

        // A traced watch of real churn: a process connecting 20 times a second to a server in a namespace made here.
        string watchHtml = Path.Combine(work, "watch.html");
        using var ns = new TestNetns("html");
        ns.StartScenario("server", "--listen", "127.0.0.1:2181:drain");
        var churner = ns.StartScenario("pace", "--connect", "127.0.0.1:2181", "--rate", "20", "--seconds", "30", "--start-after", "0.5");
        var watch = CliRunner.Run("watch", "--json", "--mode", "trace", "--netns", ns.Name, "--duration", "6s", "--interval", "1s", "--html", watchHtml);
        Assert.True(watch.Code is 0 or 1, watch.Stderr);
        using var wj = watch.Json();
        double seconds = wj.RootElement.GetProperty("watch").GetProperty("seconds").GetDouble();

        await using var browser = await Chromium.Start();

        var z = Check(await browser.Open(zklogHtml, Probe, Path.Combine(dir, "zklog-report.png")), Path.Combine(dir, "zklog-report.png"));
        Assert.Contains(culprit, z.Text);
        Assert.Contains("first refusal", z.Text);
        int minuteBins = (int)(minutes[^1] - minutes[0]).TotalMinutes + 1;    // one step a minute from the first to the last minute of the log
        Assert.All(z.Series.Where(s => s.Chart == "chart-per-minute"), s => Assert.Equal(minuteBins, s.Points));
        Assert.Equal(minuteBins, z.Series.Single(s => s.Chart == "chart-ends-per-ip" && s.Name == culprit).Points);
        Assert.True(z.Sorted);

        var p = Check(await browser.Open(pcapHtml, Probe, Path.Combine(dir, "pcap-report.png")), Path.Combine(dir, "pcap-report.png"));
        Assert.Contains(resetClient, p.Text);
        Assert.Equal(steps, p.Series.Single(s => s.Chart == "chart-opened-closed" && s.Name == "opened").Points);
        Assert.Contains(p.Series, s => s.Chart == "chart-resets" && s.Name == "unread-data" && s.Points > 0);

        // The checks can fail: a page that fetches an image and logs an error is caught by both.
        string bad = Path.Combine(work, "bad.html");
        File.WriteAllText(bad, "<!DOCTYPE html><html><body><img src=\"http://conndoctor.invalid/x.png\"><script>console.error('broken')</script></body></html>");
        var b = await browser.Open(bad, "'{}'", null);
        Assert.Contains(b.Requests, u => u.StartsWith("http://conndoctor.invalid/"));
        Assert.Contains(b.Problems, m => m.Contains("broken"));

        var w = Check(await browser.Open(watchHtml, Probe, Path.Combine(dir, "watch-report.png")), Path.Combine(dir, "watch-report.png"));
        string owner = $"python3[{churner.Id}]";
        Assert.Contains(owner, w.Text);
        Assert.Contains("reconnect-storm", w.Text);
        int secondBins = (int)Math.Ceiling(seconds - 1e-9);
        Assert.Equal(secondBins, w.Series.Single(s => s.Chart == "chart-opened-per-owner" && s.Name == owner).Points);
        var ticks = w.Series.Single(s => s.Chart == "chart-states" && s.Name == "TIME_WAIT").Points;
        Assert.InRange(ticks, (int)seconds - 1, (int)seconds + 1);         // one sample a tick, every second
    }
}
