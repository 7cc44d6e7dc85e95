using System.Globalization;
using System.Text;

namespace ConnDoctor.Render.Html;

public enum SeriesKind
{
    /// <summary>A level sampled at moments (sockets in TIME_WAIT at each tick): a polyline through the points.</summary>
    Line,
    /// <summary>A count per bin (connections per minute): flat across each bin, drawn as a step line.</summary>
    Step,
    /// <summary>A count per bin drawn as bars; several bar series in one chart are stacked.</summary>
    Bars,
}

/// <summary>One series: X in seconds from the axis origin (for a bin, its start); a NaN Y is a gap (no data there).</summary>
public sealed record ChartSeries(string Name, SeriesKind Kind, IReadOnlyList<(double X, double Y)> Points, double BinSeconds = 0);

/// <summary>A moment that matters, drawn as a dashed vertical line with its label (server restart, first refusal).</summary>
public sealed record ChartMarker(double X, string Label);

/// <summary>
/// The time axis a whole report shares: an origin (a wall-clock time) and a length in seconds. Ticks fall on round
/// times (every 1, 2, 5, 10, 15 or 30 s, 1, 2, 5, 10, 15 or 30 min, 1, 2, 3, 6 or 12 h, 1, 2 or 7 days, or a fraction
/// of a second for a short capture), at most <see cref="MaxTicks"/> of them.
/// </summary>
public sealed record TimeAxis(DateTime Origin, double Seconds, string Zone)
{
    public const int MaxTicks = 8;

    private static readonly double[] Steps =
    [
        0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5,
        1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200,
        86400, 172800, 604800, 1209600, 2592000,
    ];

    /// <summary>An axis from the first to the last time; a single moment (or none) gets a minute around it.</summary>
    public static TimeAxis Between(DateTime first, DateTime last, string zone)
    {
        if (last < first) (first, last) = (last, first);
        double s = (last - first).TotalSeconds;
        return s <= 0 ? new TimeAxis(first.AddSeconds(-30), 60, zone) : new TimeAxis(first, s, zone);
    }

    public double X(DateTime t) => (t - Origin).TotalSeconds;

    /// <summary>The tick step: the smallest round step that gives at most <see cref="MaxTicks"/> ticks.</summary>
    public double Step
    {
        get
        {
            foreach (var s in Steps) if (Seconds / s <= MaxTicks) return s;
            return Steps[^1] * Math.Ceiling(Seconds / (Steps[^1] * MaxTicks));
        }
    }

    /// <summary>The ticks: X in seconds from the origin and a label; the date is shown on the first tick and where it changes.</summary>
    public IReadOnlyList<(double X, string Label)> Ticks()
    {
        double step = Step;
        var list = new List<(double, string)>();
        // Round times: count from the origin's midnight, so that ticks land on 12:00, 12:15 ... (steps over a day on midnights).
        var midnight = Origin.Date;
        double from = (Origin - midnight).TotalSeconds;
        double first = Math.Ceiling(from / step - 1e-9) * step;
        DateTime? previous = null;
        for (int i = 0; i <= MaxTicks + 1; i++)
        {
            double at = first + i * step;
            double x = at - from;
            if (x > Seconds + 1e-9) break;
            var t = midnight.AddTicks((long)Math.Round(at * TimeSpan.TicksPerSecond));
            string format = step < 1 ? "HH:mm:ss.fff" : step < 60 ? "HH:mm:ss" : "HH:mm";
            bool newDay = previous == null || previous.Value.Date != t.Date;
            string label = step >= 86400 ? t.ToString("MM-dd", CultureInfo.InvariantCulture)
                : newDay && (Seconds >= 86400 || Origin.Date != Origin.AddSeconds(Seconds).Date) ? t.ToString("MM-dd " + format, CultureInfo.InvariantCulture)
                : t.ToString(format, CultureInfo.InvariantCulture);
            list.Add((x, label));
            previous = t;
        }
        return list;
    }

    /// <summary>A bin width for counts over this axis: the smallest of 1 s, 10 s, 1 min, 5 min, 15 min, 1 h, 6 h, 1 day that gives at most <paramref name="maxBins"/> bins.</summary>
    public double BinFor(int maxBins = SvgChart.MaxPoints, double atLeast = 0)
    {
        foreach (var b in (double[])[1, 10, 60, 300, 900, 3600, 21600, 86400])
            if (b >= atLeast && Seconds / b <= maxBins) return b;
        return 86400 * Math.Ceiling(Seconds / 86400 / maxBins);
    }

    /// <summary>"second", "minute", "hour" for those bins, else "10 s", "5 min": what "per ..." reads best with.</summary>
    public static string Per(double seconds) => seconds switch { 1 => "second", 60 => "minute", 3600 => "hour", 86400 => "day", _ => BinName(seconds) };

    public static string BinName(double seconds) => seconds switch
    {
        < 1 => $"{seconds * 1000:0.###} ms",
        < 60 => $"{seconds:0.###} s",
        < 3600 => $"{seconds / 60:0.##} min",
        < 86400 => $"{seconds / 3600:0.##} h",
        _ => $"{seconds / 86400:0.##} day(s)",
    };
}

/// <summary>
/// An inline SVG chart on a report's shared <see cref="TimeAxis"/>: a value axis with round ticks from zero, line,
/// step and stacked bar series, dashed markers for moments, and an HTML legend. Each series is one element carrying
/// data-series, data-kind and data-points (the points drawn), so a test (or a reader of the source) can count them.
/// A line series of more than <see cref="MaxPoints"/> points is downsampled: equal time buckets, each keeping its
/// highest value (a peak is never lost); the chart then says so.
/// </summary>
public sealed class SvgChart(string id, string title, TimeAxis axis)
{
    public const int MaxPoints = 720;
    public const int Width = 960, Height = 200;
    private const double Left = 56, Right = 12, Top = 18, Bottom = 24;

    public static readonly string[] Palette = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf"];
    public const string OthersColour = "#8c8c8c";

    public string Id { get; } = id;
    public string Title { get; } = title;
    public TimeAxis Axis { get; } = axis;
    /// <summary>What the values count ("connections per minute").</summary>
    public string? Unit { get; init; }
    public List<ChartSeries> Series { get; } = new();
    public List<ChartMarker> Markers { get; } = new();
    /// <summary>A sentence under the chart (how the bins were chosen, what is left out).</summary>
    public string? Note { get; init; }

    public SvgChart Add(ChartSeries s) { Series.Add(s); return this; }
    public SvgChart Mark(double x, string label) { Markers.Add(new ChartMarker(x, label)); return this; }

    /// <summary>Round value-axis ticks from 0: a step of 1, 2, 2.5 or 5 times a power of ten, at most 6 ticks; integers when <paramref name="integer"/>.</summary>
    public static (double Top, double[] Ticks) ValueTicks(double max, bool integer = true)
    {
        if (!(max > 0) || double.IsInfinity(max)) return (1, [0, 1]);
        double raw = max / 5, pow = Math.Pow(10, Math.Floor(Math.Log10(raw)));
        double step = pow * 10;
        foreach (var m in (double[])[1, 2, 2.5, 5, 10])
            if (pow * m >= raw) { step = pow * m; break; }
        if (integer) step = Math.Max(1, Math.Ceiling(step));
        double top = Math.Ceiling(max / step - 1e-9) * step;
        var ticks = new List<double>();
        for (int i = 0; i * step <= top + step * 1e-9; i++) ticks.Add(i * step);
        return (top, ticks.ToArray());
    }

    /// <summary>At most <paramref name="max"/> points: equal time buckets, each point the highest of its bucket at the bucket's first X; gaps kept when a whole bucket is a gap.</summary>
    public static IReadOnlyList<(double X, double Y)> Downsample(IReadOnlyList<(double X, double Y)> points, int max)
    {
        if (points.Count <= max) return points;
        double x0 = points[0].X, x1 = points[^1].X, width = (x1 - x0) / max;
        if (width <= 0) return points.Take(max).ToList();
        var result = new List<(double, double)>(max);
        int i = 0;
        for (int b = 0; b < max && i < points.Count; b++)
        {
            double end = b == max - 1 ? double.PositiveInfinity : x0 + (b + 1) * width;
            double best = double.NaN, x = double.NaN;
            for (; i < points.Count && points[i].X < end; i++)
            {
                if (double.IsNaN(x)) x = points[i].X;
                if (!double.IsNaN(points[i].Y) && (double.IsNaN(best) || points[i].Y > best)) best = points[i].Y;
            }
            if (!double.IsNaN(x)) result.Add((x, best));
        }
        return result;
    }

    private static string N(double v) => Math.Round(v, 1).ToString("0.#", CultureInfo.InvariantCulture);

    public static string Colour(int index, string name) => name == "others" ? OthersColour : Palette[index % Palette.Length];

    /// <summary>The figure: caption, SVG, legend and notes.</summary>
    public void WriteTo(HtmlWriter w)
    {
        double plotW = Width - Left - Right, plotH = Height - Top - Bottom;
        double span = Axis.Seconds > 0 ? Axis.Seconds : 1;
        double Px(double x) => Left + Math.Clamp(x / span, 0, 1) * plotW;

        var notes = new List<string>();
        var drawn = new List<ChartSeries>();
        foreach (var s in Series)
        {
            if (s.Kind == SeriesKind.Line && s.Points.Count > MaxPoints)
            {
                drawn.Add(s with { Points = Downsample(s.Points, MaxPoints) });
                notes.Add($"{s.Name}: {s.Points.Count} samples shown as {MaxPoints} (each point the highest of its stretch)");
            }
            else drawn.Add(s);
        }

        // Stacked bars: each bar series sits on the ones before it.
        var stackBase = new Dictionary<double, double>();
        var bars = new List<(int Series, double X, double Y0, double Y1)>();
        double max = 0;
        for (int i = 0; i < drawn.Count; i++)
        {
            var s = drawn[i];
            foreach (var (x, y) in s.Points)
            {
                if (double.IsNaN(y)) continue;
                if (s.Kind == SeriesKind.Bars)
                {
                    double b0 = stackBase.GetValueOrDefault(x);
                    if (y > 0) bars.Add((i, x, b0, b0 + y));
                    stackBase[x] = b0 + y;
                    max = Math.Max(max, b0 + y);
                }
                else max = Math.Max(max, y);
            }
        }
        var (top, ticks) = ValueTicks(max);
        double Py(double y) => Top + plotH - y / top * plotH;

        w.Open("figure", ("class", "chart"), ("id", Id));
        w.El("figcaption", Title);
        w.Raw($"<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {Width} {Height}\" role=\"img\" aria-label=\"{HtmlWriter.Escape(Title)}\" data-chart=\"{HtmlWriter.Escape(Id)}\">");
        // Value axis: grid lines and labels.
        foreach (var t in ticks)
        {
            string y = N(Py(t));
            w.Raw($"<line class=\"grid\" x1=\"{N(Left)}\" x2=\"{N(Width - Right)}\" y1=\"{y}\" y2=\"{y}\"/>");
            w.Raw($"<text class=\"ylab\" x=\"{N(Left - 6)}\" y=\"{N(Py(t) + 4)}\">{HtmlWriter.Escape(ValueLabel(t))}</text>");
        }
        if (Unit != null) w.Raw($"<text class=\"unit\" x=\"{N(Left)}\" y=\"11\">").Text(Unit).Raw("</text>");
        // Time axis.
        w.Raw($"<line class=\"axis\" x1=\"{N(Left)}\" x2=\"{N(Width - Right)}\" y1=\"{N(Top + plotH)}\" y2=\"{N(Top + plotH)}\"/>");
        foreach (var (x, label) in Axis.Ticks())
        {
            string px = N(Px(x));
            w.Raw($"<line class=\"tick\" x1=\"{px}\" x2=\"{px}\" y1=\"{N(Top + plotH)}\" y2=\"{N(Top + plotH + 4)}\"/>");
            string anchor = Px(x) > Width - Right - 30 ? " text-anchor=\"end\"" : " text-anchor=\"middle\"";
            w.Raw($"<text class=\"xlab\" x=\"{px}\" y=\"{N(Height - 6)}\"{anchor}>").Text(label).Raw("</text>");
        }
        // Series.
        for (int i = 0; i < drawn.Count; i++)
        {
            var s = drawn[i];
            string colour = Colour(i, s.Name);
            if (s.Kind == SeriesKind.Bars)
            {
                var mine = bars.Where(b => b.Series == i).ToList();
                double bw = Math.Max(1, (s.BinSeconds > 0 ? s.BinSeconds / span * plotW : 2) - 0.5);
                w.Raw($"<g class=\"series\" data-series=\"{HtmlWriter.Escape(s.Name)}\" data-kind=\"bars\" data-points=\"{mine.Count}\" fill=\"{colour}\">");
                w.Raw("<title>").Text(s.Name).Raw("</title>");
                foreach (var b in mine)
                    w.Raw($"<rect x=\"{N(Px(b.X))}\" y=\"{N(Py(b.Y1))}\" width=\"{N(bw)}\" height=\"{N(Math.Max(0.5, Py(b.Y0) - Py(b.Y1)))}\"/>");
                w.Raw("</g>");
                continue;
            }
            var d = new StringBuilder();
            int count = 0;
            bool pen = false;
            foreach (var (x, y) in s.Points)
            {
                if (double.IsNaN(y)) { pen = false; continue; }
                count++;
                if (s.Kind == SeriesKind.Line)
                    d.Append(pen ? 'L' : 'M').Append(N(Px(x))).Append(' ').Append(N(Py(y)));
                else
                {
                    // A bin: up or down to its value at its start, flat to its end.
                    d.Append(pen ? 'V' : 'M');
                    if (!pen) d.Append(N(Px(x))).Append(' ');
                    d.Append(N(Py(y))).Append('H').Append(N(Px(x + s.BinSeconds)));
                }
                pen = true;
            }
            // One lone point of a line would draw nothing: a dot shows it.
            w.Raw($"<path class=\"series\" data-series=\"{HtmlWriter.Escape(s.Name)}\" data-kind=\"{(s.Kind == SeriesKind.Line ? "line" : "step")}\" data-points=\"{count}\" " +
                  $"stroke=\"{colour}\" d=\"{(d.Length == 0 ? "M0 0" : d.ToString())}\"{(d.Length == 0 ? " visibility=\"hidden\"" : "")}><title>").Text(s.Name).Raw("</title></path>");
            if (s.Kind == SeriesKind.Line)
                foreach (var lone in LonePoints(s.Points))
                    w.Raw($"<circle class=\"dot\" cx=\"{N(Px(lone.X))}\" cy=\"{N(Py(lone.Y))}\" r=\"2.5\" fill=\"{colour}\"/>");
        }
        // Markers last, over the series.
        int m = 0;
        foreach (var mk in Markers.OrderBy(k => k.X))
        {
            if (mk.X < -1e-9 || mk.X > span + 1e-9) continue;
            string px = N(Px(mk.X));
            bool right = Px(mk.X) > Width - 200;
            w.Raw($"<g class=\"marker\" data-marker=\"{HtmlWriter.Escape(mk.Label)}\"><line x1=\"{px}\" x2=\"{px}\" y1=\"{N(Top - 4)}\" y2=\"{N(Top + plotH)}\"/>" +
                  $"<text x=\"{N(Px(mk.X) + (right ? -3 : 3))}\" y=\"{N(Top + 8 + (m % 3) * 11)}\"{(right ? " text-anchor=\"end\"" : "")}>").Text(mk.Label).Raw("</text></g>");
            m++;
        }
        w.Raw("</svg>");
        if (drawn.Count > 0)
        {
            w.Raw("<ul class=\"legend\">");
            for (int i = 0; i < drawn.Count; i++)
            {
                double total = drawn[i].Kind == SeriesKind.Line ? double.NaN : Series[i].Points.Where(p => !double.IsNaN(p.Y)).Sum(p => p.Y);
                w.Raw($"<li><span class=\"swatch\" style=\"background:{Colour(i, drawn[i].Name)}\"></span>").Text(drawn[i].Name);
                if (!double.IsNaN(total)) w.Raw(" <span class=\"dim\">(").Text(ValueLabel(total)).Raw(")</span>");
                w.Raw("</li>");
            }
            w.Raw("</ul>");
        }
        if (drawn.All(s => s.Points.All(p => double.IsNaN(p.Y)))) w.El("p", "No data in this stretch of time.", "note");
        foreach (var n in notes) w.El("p", n, "note");
        if (Note != null) w.El("p", Note, "note");
        w.Close("figure");
    }

    private static IEnumerable<(double X, double Y)> LonePoints(IReadOnlyList<(double X, double Y)> points)
    {
        for (int i = 0; i < points.Count; i++)
        {
            if (double.IsNaN(points[i].Y)) continue;
            bool before = i > 0 && !double.IsNaN(points[i - 1].Y), after = i + 1 < points.Count && !double.IsNaN(points[i + 1].Y);
            if (!before && !after) yield return points[i];
        }
    }

    public static string ValueLabel(double v) =>
        v >= 1_000_000 ? (v / 1_000_000).ToString("0.##", CultureInfo.InvariantCulture) + "M"
        : v >= 10_000 ? (v / 1000).ToString("0.#", CultureInfo.InvariantCulture) + "k"
        : v.ToString("0.##", CultureInfo.InvariantCulture);
}

/// <summary>Counts of events per bin on a time axis, for the top few keys (by total) and "others".</summary>
public static class TimeBins
{
    /// <summary>Bins every event by its X (seconds from the axis origin): one step series per key, the top <paramref name="top"/> by count, the rest as "others".</summary>
    public static List<ChartSeries> PerKey(IEnumerable<(string Key, double X)> events, double bin, double seconds, int top = 5, SeriesKind kind = SeriesKind.Step) =>
        PerKey(events.Select(e => (e.Key, e.X, 1.0)), bin, seconds, top, kind);

    /// <summary>As <see cref="PerKey(IEnumerable{ValueTuple{string, double}}, double, double, int, SeriesKind)"/> with a count per event (a minute's count re-binned).</summary>
    public static List<ChartSeries> PerKey(IEnumerable<(string Key, double X, double Weight)> events, double bin, double seconds, int top = 5, SeriesKind kind = SeriesKind.Step)
    {
        int n = Math.Max(1, (int)Math.Ceiling(seconds / bin - 1e-9));
        var counts = new Dictionary<string, double[]>(StringComparer.Ordinal);
        foreach (var (key, x, weight) in events)
        {
            if (x < -1e-9 || double.IsNaN(x) || weight == 0) continue;
            int i = Math.Clamp((int)(x / bin), 0, n - 1);
            if (!counts.TryGetValue(key, out var arr)) counts[key] = arr = new double[n];
            arr[i] += weight;
        }
        var ranked = counts.OrderByDescending(kv => kv.Value.Sum()).ThenBy(kv => kv.Key, StringComparer.Ordinal).ToList();
        var list = ranked.Take(top).Select(kv => Series(kv.Key, kv.Value, bin, kind)).ToList();
        if (ranked.Count > top)
        {
            var others = new double[n];
            foreach (var kv in ranked.Skip(top)) for (int i = 0; i < n; i++) others[i] += kv.Value[i];
            list.Add(Series("others", others, bin, kind));
        }
        return list;
    }

    public static ChartSeries Series(string name, double[] counts, double bin, SeriesKind kind = SeriesKind.Step) =>
        new(name, kind, counts.Select((c, i) => (i * bin, c)).ToList(), bin);
}
