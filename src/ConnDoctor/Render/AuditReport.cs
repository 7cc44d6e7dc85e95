using ConnDoctor.Model;
using ConnDoctor.Rules;

namespace ConnDoctor.Render;

/// <summary>What `audit` shows: where the settings came from, and one finding per setting (info = fine, with what it means).</summary>
public sealed record AuditReport(SettingsEvidence Settings, DiagnoseReport Diagnosis)
{
    /// <summary>The value a setting finding carries in its first evidence line.</summary>
    public static string ValueOf(Finding f) => AuditFacts.ValueOf(f);

    public static string Verdict(Severity s) => s switch { Severity.Critical => "CRITICAL", Severity.Warning => "WARNING", _ => "ok" };

    /// <summary>Findings in the order the rules wrote them (kernel first, then zoo.cfg), which reads better than worst-first for a checklist.</summary>
    public IReadOnlyList<Finding> InRuleOrder => Diagnosis.Findings
        .OrderBy(f => Array.IndexOf(AuditRules.Ids, f.RuleId)).ThenBy(f => f.Subject.Setting, StringComparer.Ordinal).ToList();
}
