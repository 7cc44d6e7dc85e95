namespace ConnDoctor.Render;

/// <summary>`audit --json`: where the settings came from, a settings table, and every setting as a finding (subject.setting).</summary>
public static class AuditJsonRenderer
{
    public static void Render(AuditReport r, Stream output)
    {
        using var w = JsonCommon.CreateWriter(output);
        var st = r.Settings;
        w.WriteStartObject();
        JsonCommon.WriteHeader(w, "audit", r.Diagnosis.Host, r.Diagnosis.CollectedAt);
        w.WriteString("origin", st.Origin);
        if (st.KernelRelease != null) w.WriteString("kernelRelease", st.KernelRelease);
        if (st.ZooCfg != null) w.WriteString("zooCfg", st.ZooCfg.Path);
        w.WriteBoolean("socketTableRead", st.SocketTableRead);
        JsonCommon.WriteSources(w, r.Diagnosis.Sources);
        w.WriteStartArray("settings");
        foreach (var f in r.InRuleOrder)
        {
            w.WriteStartObject();
            w.WriteString("setting", f.Subject.Setting);
            w.WriteString("value", AuditReport.ValueOf(f));
            w.WriteString("severity", DiagnoseJsonRenderer.SeverityName(f.Severity));
            w.WriteString("ruleId", f.RuleId);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        DiagnoseJsonRenderer.WriteRulesAndFindings(w, r.Diagnosis);
        w.WriteEndObject();
        w.Flush();
    }
}
