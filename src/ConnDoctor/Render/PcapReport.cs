using ConnDoctor.Model;
using ConnDoctor.Rules;

namespace ConnDoctor.Render;

/// <summary>What `pcap` shows: the capture's summaries and the findings of the rules run over it.</summary>
public sealed record PcapReport(CaptureEvidence Capture, DiagnoseReport Diagnosis)
{
    public static PcapReport Build(Evidence evidence, RuleOptions options) =>
        new(evidence.Capture ?? throw new ArgumentException("no capture in the evidence"), Rules.Diagnosis.Run(evidence, options));

    /// <summary>"2 unread-data, 1 refused", or "-" when none.</summary>
    public static string ResetText(int[] resets, bool shortNames = false) =>
        resets.Sum() == 0 ? "-" : string.Join(", ", ResetClasses.All.Where(c => resets[(int)c] > 0)
            .Select(c => $"{resets[(int)c]} {(shortNames ? ResetClasses.ShortName(c) : ResetClasses.Name(c))}"));

    public static string Time(long ns) => Analysis.CaptureSummary.Time(ns, "yyyy-MM-dd HH:mm:ss.fff") + " UTC";

    public static string Ns(long ns) => Analysis.CaptureSummary.Duration(ns);
}
