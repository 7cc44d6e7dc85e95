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
        WriteBody(w, r);
        w.WriteEndObject();
        w.Flush();
    }

    /// <summary>Everything of a report after its header: one host's part of `diagnose --from`'s hosts list too.</summary>
    public static void WriteBody(Utf8JsonWriter w, DiagnoseReport r)
    {
        w.WriteNumber("socketsExamined", r.SocketsExamined);
        if (r.Overview != null) w.WriteString("overview", r.Overview);
        if (r.Notes.Count > 0)
        {
            w.WriteStartArray("notes");
            foreach (var n in r.Notes) w.WriteStringValue(n);
            w.WriteEndArray();
        }
        JsonCommon.WriteSources(w, r.Sources);
        JsonCommon.WriteNamespaces(w, r.Namespaces);
        if (r.Discovery != null) WriteDiscovery(w, r.Discovery);
        if (r.AppLogs != null) WriteAppLogs(w, r.AppLogs);
        WriteRulesAndFindings(w, r);
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
        if (s.Host != null) w.WriteString("host", s.Host);
        w.WriteEndObject();
        w.WriteString("summary", f.Summary);
        w.WriteStartArray("evidence");
        foreach (var line in f.Evidence) w.WriteStringValue(line);
        w.WriteEndArray();
        w.WriteString("cause", f.Cause);
        w.WriteString("remedy", f.Remedy);
        if (f.Source != null) w.WriteString("source", f.Source);
        if (f.Parts.Count > 0)
        {
            w.WriteStartArray("parts");
            foreach (var part in f.Parts)
            {
                w.WriteStartObject();
                w.WriteString("source", part.Source);
                if (part.Host != null) w.WriteString("host", part.Host);
                w.WriteString("summary", part.Summary);
                w.WriteStartArray("evidence");
                foreach (var line in part.Evidence) w.WriteStringValue(line);
                w.WriteEndArray();
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }
        w.WriteEndObject();
    }

    private static void WriteDiscovery(Utf8JsonWriter w, DiscoveryEvidence d)
    {
        w.WriteStartObject("discovery");
        w.WriteStartArray("servers");
        foreach (var s in d.Servers)
        {
            w.WriteStartObject();
            w.WriteNumber("pid", s.Pid);
            w.WriteString("mainClass", s.MainClass);
            if (s.Launcher != null) w.WriteString("launcher", s.Launcher);
            if (s.Netns != null) w.WriteString("netns", s.Netns);
            if (s.ConfigPath != null) { w.WriteString("config", s.ConfigPath); w.WriteString("configFoundBy", s.ConfigFoundBy); }
            if (s.DynamicConfigPath != null) w.WriteString("dynamicConfig", s.DynamicConfigPath);
            w.WriteStartArray("clientEndpoints");
            foreach (var e in s.ClientEndpoints) w.WriteStringValue(e.ToString());
            w.WriteEndArray();
            if (s.AdminEndpoint is { } a) w.WriteString("adminServer", a.ToString());
            if (s.LogFile != null) { w.WriteString("log", s.LogFile); w.WriteString("logFoundBy", s.LogFoundBy); }
            Strings(w, "rotatedLogs", s.RotatedLogs);
            Strings(w, "otherLogs", s.OtherLogs);
            Strings(w, "problems", s.Problems);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartArray("clients");
        foreach (var c in d.Clients)
        {
            w.WriteStartObject();
            w.WriteNumber("pid", c.Pid);
            w.WriteString("process", c.Process);
            if (c.Netns != null) w.WriteString("netns", c.Netns);
            w.WriteNumber("connections", c.Connections);
            Strings(w, "servers", c.Servers);
            w.WriteBoolean("toLocalServer", c.ToLocalServer);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartArray("listeners");
        foreach (var l in d.Listeners)
        {
            w.WriteStartObject();
            w.WriteString("local", l.Local);
            if (l.Pid is int pid) w.WriteNumber("pid", pid);
            if (l.Process != null) w.WriteString("process", l.Process);
            if (l.Netns != null) w.WriteString("netns", l.Netns);
            w.WriteNumber("connections", l.Connections);
            w.WriteStartArray("busiestPeers");
            foreach (var (peer, n) in l.BusiestPeers) { w.WriteStartObject(); w.WriteString("peer", peer); w.WriteNumber("connections", n); w.WriteEndObject(); }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        w.WriteEndArray();
        Strings(w, "problems", d.Problems);
        w.WriteEndObject();
    }

    /// <summary>appLogs: per blamed process, every file asked for (read or not, and why) and the repeating lines found.</summary>
    private static void WriteAppLogs(Utf8JsonWriter w, AppLogEvidence logs)
    {
        w.WriteStartObject("appLogs");
        w.WriteString("since", logs.Since.ToString("yyyy-MM-ddTHH:mm:ss"));
        w.WriteStartArray("processes");
        foreach (var p in logs.Processes)
        {
            w.WriteStartObject();
            w.WriteNumber("pid", p.Pid);
            w.WriteString("process", p.Process);
            w.WriteStartArray("files");
            foreach (var f in p.Files)
            {
                w.WriteStartObject();
                w.WriteString("path", f.Path);
                w.WriteString("foundBy", f.FoundBy);
                w.WriteNumber("size", f.Size);
                w.WriteNumber("bytesRead", f.BytesRead);
                if (f.Problem != null) w.WriteString("problem", f.Problem);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartArray("patterns");
            foreach (var x in p.Patterns)
            {
                w.WriteStartObject();
                w.WriteString("signature", x.Signature);
                w.WriteNumber("count", x.Count);
                if (x.First is DateTime a) w.WriteString("first", a.ToString("yyyy-MM-ddTHH:mm:ss.fff"));
                if (x.Last is DateTime b) w.WriteString("last", b.ToString("yyyy-MM-ddTHH:mm:ss.fff"));
                w.WriteString("file", x.File);
                w.WriteString("line", x.Line);
                if (x.Meaning != null) w.WriteString("meaning", x.Meaning);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            Strings(w, "problems", p.Problems);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static void Strings(Utf8JsonWriter w, string name, IEnumerable<string> values)
    {
        w.WriteStartArray(name);
        foreach (var v in values) w.WriteStringValue(v);
        w.WriteEndArray();
    }

    public static string SeverityName(Severity s) => s switch
    {
        Severity.Critical => "critical",
        Severity.Warning => "warning",
        _ => "info",
    };
}
