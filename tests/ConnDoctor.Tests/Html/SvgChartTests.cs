using System.Globalization;
using System.Text.RegularExpressions;
using ConnDoctor.Render.Html;

namespace ConnDoctor.Tests.Html;

/// <summary>The shared chart code on its own: axis ticks from seconds to days, value ticks, empty series, one point, gaps, a day of minutes.</summary>
public class SvgChartTests
{
    private static readonly DateTime T0 = new(2024, 1, 31, 12, 0, 0);

    private static string Svg(SvgChart c)
    {
        var w = new HtmlWriter();
        c.WriteTo(w);
        return w.ToString();
    }

    /// <summary>What a browser would count: the vertices of each series' path (M, L, V per point; H closes a step) or its rects.</summary>
    private static List<(string Name, int DataPoints, int Drawn)> Drawn(string svg)
    {
        var list = new List<(string, int, int)>();
        foreach (Match m in Regex.Matches(svg, "<path class=\"series\" data-series=\"([^\"]*)\" data-kind=\"(\\w+)\" data-points=\"(\\d+)\"[^>]* d=\"([^\"]*)\""))
        {
            string d = m.Groups[4].Value;
            int n = m.Groups[2].Value == "line" ? d.Count(ch => ch is 'M' or 'L') : d.Count(ch => ch == 'H');
            if (d == "M0 0") n = 0;
            list.Add((m.Groups[1].Value, int.Parse(m.Groups[3].Value), n));
        }
        foreach (Match m in Regex.Matches(svg, "<g class=\"series\" data-series=\"([^\"]*)\" data-kind=\"bars\" data-points=\"(\\d+)\"[^>]*>(.*?)</g>"))
            list.Add((m.Groups[1].Value, int.Parse(m.Groups[2].Value), Regex.Matches(m.Groups[3].Value, "<rect ").Count));
        return list;
    }

    [Theory]
    [InlineData(0.3, 0.05, "12:00:00.000")]        // a short capture: fractions of a second
    [InlineData(30, 5, "12:00:00")]
    [InlineData(300, 60, "12:00")]
    [InlineData(3600, 600, "12:00")]
    [InlineData(6 * 3600, 3600, "12:00")]
    [InlineData(86400, 3 * 3600, "01-31 12:00")]   // a day: the date on the first tick
    [InlineData(7 * 86400, 86400, "02-01")]        // a week: ticks on midnights
    public void TimeTicksAreRoundAndFew(double seconds, double step, string firstLabel)
    {
        var axis = new TimeAxis(T0, seconds, "UTC");
        Assert.Equal(step, axis.Step);
        var ticks = axis.Ticks();
        Assert.InRange(ticks.Count, 2, TimeAxis.MaxTicks + 1);
        Assert.Equal(firstLabel, ticks[0].Label);
        Assert.All(ticks, t => Assert.InRange(t.X, 0, seconds + 1e-6));
        for (int i = 1; i < ticks.Count; i++) Assert.Equal(step, ticks[i].X - ticks[i - 1].X, 6);
        // Every tick is on a multiple of the step counted from midnight.
        Assert.All(ticks, t => Assert.Equal(0, Math.Round(((T0 - T0.Date).TotalSeconds + t.X) / step % 1, 6) % 1));
    }

    [Fact]
    public void AnAxisThatDoesNotStartOnARoundTimeStartsItsTicksOnTheNextOne()
    {
        var axis = new TimeAxis(new DateTime(2024, 1, 31, 23, 57, 13), 600, "UTC");   // crosses midnight
        var ticks = axis.Ticks();
        Assert.Equal(120, axis.Step);
        Assert.Equal("01-31 23:58", ticks[0].Label);
        Assert.Equal(47, ticks[0].X, 6);
        Assert.Contains(ticks, t => t.Label == "02-01 00:00");
        Assert.Contains(ticks, t => t.Label == "00:02");
    }

    [Theory]
    [InlineData(0, 1, 2)]
    [InlineData(1, 1, 2)]
    [InlineData(3, 3, 4)]
    [InlineData(7, 8, 5)]
    [InlineData(47, 50, 6)]
    [InlineData(1234, 1250, 6)]
    [InlineData(99_999, 100_000, 6)]
    public void ValueTicksStartAtZeroAndCoverTheMaximum(double max, double top, int count)
    {
        var (t, ticks) = SvgChart.ValueTicks(max);
        Assert.Equal(top, t);
        Assert.Equal(count, ticks.Length);
        Assert.Equal(0, ticks[0]);
        Assert.True(ticks[^1] >= max);
        Assert.All(ticks, v => Assert.Equal(Math.Round(v), v));   // counts: whole numbers only
    }

    [Fact]
    public void AnEmptySeriesDrawsNothingAndSaysSo()
    {
        var c = new SvgChart("c", "empty", new TimeAxis(T0, 60, "UTC"));
        c.Add(new ChartSeries("none", SeriesKind.Step, [], 1)).Add(new ChartSeries("bars", SeriesKind.Bars, [], 1));
        var svg = Svg(c);
        Assert.Contains("No data in this stretch of time.", svg);
        Assert.All(Drawn(svg), d => { Assert.Equal(0, d.DataPoints); Assert.Equal(0, d.Drawn); });
        Assert.Contains("visibility=\"hidden\"", svg);
    }

    [Fact]
    public void OnePointOnALineIsADotAndOneStepIsABin()
    {
        var axis = TimeAxis.Between(T0, T0, "UTC");               // a single moment gets a minute around it
        Assert.Equal(60, axis.Seconds);
        var c = new SvgChart("c", "one", axis);
        c.Add(new ChartSeries("level", SeriesKind.Line, [(30, 5)]));
        c.Add(new ChartSeries("count", SeriesKind.Step, [(30, 2)], 1));
        var svg = Svg(c);
        Assert.Equal([("level", 1, 1), ("count", 1, 1)], Drawn(svg));
        Assert.Single(Regex.Matches(svg, "<circle class=\"dot\""));
    }

    [Fact]
    public void AGapBreaksTheLineAndIsNotCounted()
    {
        var c = new SvgChart("c", "gap", new TimeAxis(T0, 10, "UTC"));
        c.Add(new ChartSeries("level", SeriesKind.Line, [(0, 1), (1, 2), (2, double.NaN), (3, double.NaN), (4, 3), (5, 4)]));
        c.Add(new ChartSeries("count", SeriesKind.Step, [(0, 1), (1, double.NaN), (2, 3)], 1));
        var svg = Svg(c);
        Assert.Equal([("level", 4, 4), ("count", 2, 2)], Drawn(svg));
        var d = Regex.Match(svg, "data-series=\"level\"[^>]* d=\"([^\"]*)\"").Groups[1].Value;
        Assert.Equal(2, d.Count(ch => ch == 'M'));                 // two pieces: the gap is not bridged
        Assert.DoesNotContain("<circle", svg);                       // no lone point: each piece has two
    }

    [Fact]
    public void StackedBarsSitOnEachOtherAndTheAxisCoversTheirSum()
    {
        var c = new SvgChart("c", "bars", new TimeAxis(T0, 3, "UTC"));
        c.Add(new ChartSeries("a", SeriesKind.Bars, [(0, 3), (1, 0), (2, 1)], 1));
        c.Add(new ChartSeries("b", SeriesKind.Bars, [(0, 4), (1, 2), (2, 0)], 1));
        var svg = Svg(c);
        Assert.Equal([("a", 2, 2), ("b", 2, 2)], Drawn(svg));     // zero bars are not drawn
        Assert.Contains(">8</text>", svg);                           // 3 + 4 = 7 at the first bin: the axis goes to 8
    }

    [Fact]
    public void ADayOfMinutesFitsAndALongerSampledLevelIsDownsampledKeepingItsPeak()
    {
        var axis = new TimeAxis(T0, 86400, "UTC");
        Assert.Equal(300, axis.BinFor());                            // 1440 minutes: 5-minute bins give 288 steps
        var minutes = Enumerable.Range(0, 1440).Select(i => ("k", i * 60.0 + 1)).ToList();
        var series = TimeBins.PerKey(minutes, axis.BinFor(), axis.Seconds);
        Assert.Equal(288, Assert.Single(series).Points.Count);
        Assert.All(series[0].Points, p => Assert.Equal(5, p.Y));

        var samples = Enumerable.Range(0, 86400).Select(i => ((double)i, i == 40_000 ? 999.0 : i % 7)).ToList();
        var c = new SvgChart("c", "day", axis).Add(new ChartSeries("level", SeriesKind.Line, samples));
        c.Add(series[0]);
        var svg = Svg(c);
        var drawn = Drawn(svg);
        Assert.Equal(SvgChart.MaxPoints, drawn[0].DataPoints);
        Assert.Equal(SvgChart.MaxPoints, drawn[0].Drawn);
        Assert.Equal(288, drawn[1].Drawn);
        Assert.Contains("86400 samples shown as 720", svg);
        Assert.Contains(SvgChart.Downsample(samples, SvgChart.MaxPoints), p => p.Y == 999);
        Assert.Contains(">1000</text>", svg);                        // the peak sets the scale
        Assert.Equal("01-31 12:00", axis.Ticks()[0].Label);
    }

    [Fact]
    public void TopKeysAndOthers()
    {
        var events = new List<(string, double)>();
        for (int k = 0; k < 8; k++) for (int i = 0; i <= k; i++) events.Add(($"ip{k}", i));
        var series = TimeBins.PerKey(events, 1, 10, top: 3);
        Assert.Equal(["ip7", "ip6", "ip5", "others"], series.Select(s => s.Name));
        Assert.Equal(1 + 2 + 3 + 4 + 5, series[3].Points.Sum(p => p.Y));
        Assert.Equal(8, series[0].Points.Sum(p => p.Y));
    }

    [Fact]
    public void MarkersOutsideTheAxisAreLeftOutAndLabelsAreEscaped()
    {
        var c = new SvgChart("c", "m", new TimeAxis(T0, 60, "UTC"));
        c.Add(new ChartSeries("s", SeriesKind.Line, [(0, 1), (60, 2)]));
        c.Mark(10, "restart <b>&").Mark(-5, "before").Mark(61, "after");
        var svg = Svg(c);
        Assert.Single(Regex.Matches(svg, "class=\"marker\""));
        Assert.Contains("restart &lt;b&gt;&amp;", svg);
        Assert.DoesNotContain("<b>", svg);
        Assert.Equal(Math.Round(56 + 10 / 60.0 * (960 - 56 - 12), 1).ToString(CultureInfo.InvariantCulture), Regex.Match(svg, "class=\"marker\"[^>]*><line x1=\"([\\d.]+)\"").Groups[1].Value);
    }
}
