using ConnDoctor.Model;
using ConnDoctor.Rules;

namespace ConnDoctor.Render;

/// <summary>What `zk` shows: the ensemble as its members listed it (and its growth over a --watch), and the findings.</summary>
public sealed record ZkReport(ZkEnsembleEvidence Zk, DiagnoseReport Diagnosis)
{
    public static ZkReport Build(Evidence e, RuleOptions options) => new(e.Zk!, Rules.Diagnosis.Run(e, options));

    /// <summary>"3.8.0-${mvngit.commit.id}, built on 2024-12-29 17:54 UTC" -> "3.8.0".</summary>
    public static string ShortVersion(string? v)
    {
        if (string.IsNullOrEmpty(v)) return "-";
        int end = v.IndexOfAny(['-', ',', ' ']);
        return end > 0 ? v[..end] : v;
    }

    public static string Timeouts(ZkServerInfo s) =>
        s.MinSessionTimeoutMs is int min && s.MaxSessionTimeoutMs is int max ? $"{Analysis.Format.Ms(min)}-{Analysis.Format.Ms(max)}" : "-";
}
