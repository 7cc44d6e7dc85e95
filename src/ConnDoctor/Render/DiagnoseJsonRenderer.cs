using System.Text.Json;
using ConnDoctor.Model;
using ConnDoctor.Rules;

namespace ConnDoctor.Render;

/// <summary>`diagnose --json`: sources, rules and findings with every field of a finding.</summary>
public static class DiagnoseJsonRenderer
{
    public static void Render(DiagnoseReport r, Stream output)
    {
        using var w = JsonCommon.CreateWriter(output);
        w.WriteStartObject();
        JsonCommon.WriteHeader(w, "diagnose", r.Host, r.CollectedAt);
        w.WriteNumber("socketsExamined", r.SocketsExamined);
        JsonCommon.WriteSources(w, r.Sources);
        JsonCommon.WriteNamespaces(w, r.Namespaces);
        WriteRulesAndFindings(w, r);
        w.WriteEndObject();
        w.Flush();
    }

    /// <summary>rules[], summary and findings[]: the part every report shares.</summary>
    public static void WriteRulesAndFindings(Utf8JsonWriter w, DiagnoseReport r)
    {
        w.WriteStartArray("rules");
        foreach (var o in r.Rules)
        {
            w.WriteStartObject();
            w.WriteString("id", o.RuleId);
            w.WriteString("state", o.State switch { RuleState.Ran => "ran", RuleState.NotEnoughEvidence => "not-enough-evidence", _ => "failed" });
            w.WriteNumber("findings", o.Findings);
            if (o.Reason != null) w.WriteString("reason", o.Reason);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartObject("summary");
        foreach (var sev in new[] { Severity.Critical, Severity.Warning, Severity.Info })
            w.WriteNumber(SeverityName(sev), r.Findings.Count(f => f.Severity == sev));
        w.WriteEndObject();
        w.WriteStartArray("findings");
        foreach (var f in r.Findings) WriteFinding(w, f);
        w.WriteEndArray();
    }

    public static void WriteFinding(Utf8JsonWriter w, Finding f)
    {
        w.WriteStartObject();
        w.WriteString("ruleId", f.RuleId);
        w.WriteString("severity", SeverityName(f.Severity));
        w.WriteStartObject("subject");
        var s = f.Subject;
        if (s.Pid is int pid) w.WriteNumber("pid", pid);
        if (s.Process != null) w.WriteString("process", s.Process);
        if (s.CommandLine != null) w.WriteString("commandLine", s.CommandLine);
        if (s.Thread != null) w.WriteString("thread", s.Thread);
        if (s.LocalEndpoint != null) w.WriteString("localEndpoint", s.LocalEndpoint);
        if (s.RemoteEndpoint != null) w.WriteString("remoteEndpoint", s.RemoteEndpoint);
        if (s.ClientIp != null) w.WriteString("clientIp", s.ClientIp);
        if (s.Netns != null) w.WriteString("netns", s.Netns);
        if (s.Container != null) w.WriteString("container", s.Container);
        if (s.Setting != null) w.WriteString("setting", s.Setting);
        w.WriteEndObject();
        w.WriteString("summary", f.Summary);
        w.WriteStartArray("evidence");
        foreach (var line in f.Evidence) w.WriteStringValue(line);
        w.WriteEndArray();
        w.WriteString("cause", f.Cause);
        w.WriteString("remedy", f.Remedy);
        w.WriteEndObject();
    }

    public static string SeverityName(Severity s) => s switch
    {
        Severity.Critical => "critical",
        Severity.Warning => "warning",
        _ => "info",
    };
}
