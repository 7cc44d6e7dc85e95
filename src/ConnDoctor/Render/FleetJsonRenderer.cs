using System.Text.Json;
using ConnDoctor.Model;
using ConnDoctor.Pipeline;

namespace ConnDoctor.Render;

/// <summary>
/// `diagnose --from --json`: one object with the cross-host story, the cross-host findings (as diagnose writes a
/// finding), the notes about the documents, and a `hosts` list: each host's identity and its own report as `diagnose
/// --json` writes it. Documented in docs/json.md.
/// </summary>
public static class FleetJsonRenderer
{
    public static void Render(FleetReport r, Stream output)
    {
        using var w = JsonCommon.CreateWriter(output);
        w.WriteStartObject();
        w.WriteNumber("schemaVersion", JsonCommon.SchemaVersion);
        w.WriteString("tool", "conndoctor");
        w.WriteString("command", "diagnose");
        w.WriteNumber("documents", r.Hosts.Count);
        w.WriteStartArray("notes");
        foreach (var n in r.Notes) w.WriteStringValue(n);
        w.WriteEndArray();
        w.WriteStartArray("story");
        foreach (var c in r.Story) WriteChain(w, c);
        w.WriteEndArray();
        w.WriteStartArray("crossHostFindings");
        foreach (var f in r.CrossHostFindings) DiagnoseJsonRenderer.WriteFinding(w, f);
        w.WriteEndArray();
        w.WriteStartArray("hosts");
        foreach (var h in r.Hosts)
        {
            w.WriteStartObject();
            w.WriteString("label", h.Name);
            if (h.Identity is { } id) WriteIdentity(w, id);
            w.WriteString("host", h.Report.Host);
            w.WriteString("collectedAt", h.Report.CollectedAt.ToString("yyyy-MM-ddTHH:mm:ss.fffZ"));
            DiagnoseJsonRenderer.WriteBody(w, h.Report);
            w.WriteEndObject();
            JsonCommon.FlushEvery64K(w);
        }
        w.WriteEndArray();
        w.WriteEndObject();
        w.Flush();
    }

    private static void WriteChain(Utf8JsonWriter w, CrossHostChain c)
    {
        w.WriteStartObject();
        w.WriteString("ruleId", c.RuleId);
        w.WriteString("severity", DiagnoseJsonRenderer.SeverityName(c.Severity));
        w.WriteString("server", c.Server);
        w.WriteString("seen", c.Seen);
        if (c.ClientHost != null) w.WriteString("clientHost", c.ClientHost);
        if (c.Via != null) w.WriteString("via", c.Via);
        if (c.Process != null) w.WriteString("process", c.Process);
        if (c.Pod != null) w.WriteString("pod", c.Pod);
        if (c.Cause != null) w.WriteString("cause", c.Cause);
        w.WriteEndObject();
    }

    private static void WriteIdentity(Utf8JsonWriter w, HostIdentity id)
    {
        w.WriteStartObject("identity");
        w.WriteString("hostname", id.Hostname);
        if (id.BootId != null) w.WriteString("bootId", id.BootId);
        w.WriteString("collectionStart", id.CollectionStart.ToString("yyyy-MM-ddTHH:mm:ss.fffZ"));
        w.WriteString("collectionEnd", id.CollectionEnd.ToString("yyyy-MM-ddTHH:mm:ss.fffZ"));
        w.WriteStartArray("namespaces");
        foreach (var ns in id.Namespaces)
        {
            w.WriteStartObject();
            w.WriteString("netns", ns.Netns);
            if (ns.Inode != 0) w.WriteNumber("inode", ns.Inode);
            w.WriteStartArray("addresses");
            foreach (var a in ns.Addresses) w.WriteStringValue($"{a.Address}/{a.PrefixLength} {a.Interface}");
            w.WriteEndArray();
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }
}
