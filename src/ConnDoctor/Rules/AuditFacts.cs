using ConnDoctor.Model;

namespace ConnDoctor.Rules;

/// <summary>The rules `audit` runs, in the order it lists them; they read only SettingsEvidence, so diagnose never runs them.</summary>
public static class AuditRules
{
    public static readonly string[] Ids = ["ephemeral-ports", "time-wait-settings", "dead-peer-detection", "listen-backlog", "zookeeper-config"];
}

/// <summary>What the audit rules share: the shape of a finding about one setting.</summary>
internal static class AuditFacts
{
    /// <summary>
    /// A finding about one setting: subject = the setting, first evidence line = "SETTING = VALUE" (renderers take
    /// the value from it), cause = what it means, remedy = what we recommend. Info means "fine, and this is what it does".
    /// </summary>
    public static Finding Setting(string ruleId, Severity severity, string setting, string value, string summary,
        string meaning, string recommendation, IEnumerable<string>? evidence = null) => new()
    {
        RuleId = ruleId,
        Severity = severity,
        Subject = new FindingSubject { Setting = setting },
        Summary = summary,
        Evidence = [$"{setting} = {value}", .. evidence ?? []],
        Cause = meaning,
        Remedy = recommendation,
    };

    /// <summary>The value part of a setting finding's first evidence line.</summary>
    public static string ValueOf(Finding f) =>
        f.Evidence.Count > 0 && f.Evidence[0].IndexOf(" = ", StringComparison.Ordinal) is int i and >= 0 ? f.Evidence[0][(i + 3)..] : "";

    public static string Show(int? v) => v?.ToString() ?? "unreadable";

    /// <summary>Seconds a connection with unacknowledged data retries before giving up: the kernel's tcp_model_timeout with a 200 ms minimum RTO.</summary>
    public static double RetriesTimeout(int retries)
    {
        const double rtoMin = 0.2, rtoMax = 120;
        const int linear = 9; // ilog2(TCP_RTO_MAX / TCP_RTO_MIN)
        return retries <= linear ? ((2 << retries) - 1) * rtoMin : ((2 << linear) - 1) * rtoMin + (retries - linear) * rtoMax;
    }
}
