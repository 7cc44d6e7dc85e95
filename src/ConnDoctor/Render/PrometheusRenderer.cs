using System.Globalization;
using System.Text;
using ConnDoctor.Agent;

namespace ConnDoctor.Render;

/// <summary>
/// Metric families in the Prometheus text exposition format 0.0.4, or OpenMetrics 1.0 (counter families named without
/// _total in HELP and TYPE, "# EOF" at the end). Families sorted by name, samples by their label values (ordinal), so
/// the same state always prints the same bytes. Label values escape backslash, double quote and newline; HELP text
/// backslash and newline.
/// </summary>
public static class PrometheusRenderer
{
    public const string TextContentType = "text/plain; version=0.0.4; charset=utf-8";
    public const string OpenMetricsContentType = "application/openmetrics-text; version=1.0.0; charset=utf-8";

    /// <summary>True when an Accept header asks for OpenMetrics (as Prometheus does when it may).</summary>
    public static bool WantsOpenMetrics(string? accept) =>
        accept != null && accept.Contains("application/openmetrics-text", StringComparison.OrdinalIgnoreCase);

    public static string Render(IEnumerable<MetricFamily> families, bool openMetrics)
    {
        var sb = new StringBuilder(64 * 1024);
        foreach (var f in families.OrderBy(f => f.Name, StringComparer.Ordinal))
        {
            string baseName = openMetrics && f.Type == MetricType.Counter && f.Name.EndsWith("_total", StringComparison.Ordinal)
                ? f.Name[..^"_total".Length] : f.Name;
            sb.Append("# HELP ").Append(baseName).Append(' ');
            AppendEscaped(sb, f.Help, help: true);
            sb.Append('\n');
            sb.Append("# TYPE ").Append(baseName).Append(' ').Append(f.Type == MetricType.Counter ? "counter" : "gauge").Append('\n');
            var samples = f.Samples.ToArray();
            Array.Sort(samples, CompareLabels);
            foreach (var s in samples)
            {
                sb.Append(f.Name);
                if (f.LabelNames.Length > 0)
                {
                    sb.Append('{');
                    for (int i = 0; i < f.LabelNames.Length; i++)
                    {
                        if (i > 0) sb.Append(',');
                        sb.Append(f.LabelNames[i]).Append("=\"");
                        AppendEscaped(sb, s.Values[i], help: false);
                        sb.Append('"');
                    }
                    sb.Append('}');
                }
                sb.Append(' ').Append(FormatValue(s.Value)).Append('\n');
            }
        }
        if (openMetrics) sb.Append("# EOF\n");
        return sb.ToString();
    }

    private static int CompareLabels(MetricSample a, MetricSample b)
    {
        for (int i = 0; i < a.Values.Length && i < b.Values.Length; i++)
        {
            int c = string.CompareOrdinal(a.Values[i], b.Values[i]);
            if (c != 0) return c;
        }
        return a.Values.Length.CompareTo(b.Values.Length);
    }

    private static void AppendEscaped(StringBuilder sb, string text, bool help)
    {
        foreach (char ch in text)
        {
            switch (ch)
            {
                case '\\': sb.Append(@"\\"); break;
                case '\n': sb.Append(@"\n"); break;
                case '"' when !help: sb.Append("\\\""); break;
                default: sb.Append(ch); break;
            }
        }
    }

    internal static string FormatValue(double v) =>
        double.IsNaN(v) ? "NaN" : double.IsPositiveInfinity(v) ? "+Inf" : double.IsNegativeInfinity(v) ? "-Inf"
        : v == Math.Floor(v) && Math.Abs(v) < 1e15 ? ((long)v).ToString(CultureInfo.InvariantCulture)
        : v.ToString("R", CultureInfo.InvariantCulture);
}
