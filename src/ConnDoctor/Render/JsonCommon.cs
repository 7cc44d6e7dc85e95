using System.Text.Json;
using ConnDoctor.Model;

namespace ConnDoctor.Render;

/// <summary>The parts every JSON document shares. The format is documented in docs/json.md.</summary>
public static class JsonCommon
{
    /// <summary>Bumped when a field changes meaning or disappears; new fields do not bump it.</summary>
    public const int SchemaVersion = 1;

    public static Utf8JsonWriter CreateWriter(Stream output) =>
        new(output, new JsonWriterOptions { Indented = true, SkipValidation = true });

    /// <summary>
    /// Hands what is written so far to the stream once it passes 64 KB: the writer otherwise keeps a whole large
    /// document (zklog's clients and minutes) in a buffer that doubles as it grows, copying it each time.
    /// </summary>
    public static void FlushEvery64K(Utf8JsonWriter w)
    {
        if (w.BytesPending > 64 * 1024) w.Flush();
    }

    public static void WriteHeader(Utf8JsonWriter w, string command, string host, DateTimeOffset at)
    {
        w.WriteNumber("schemaVersion", SchemaVersion);
        w.WriteString("tool", "conndoctor");
        w.WriteString("command", command);
        w.WriteString("host", host);
        w.WriteString("collectedAt", at.ToString("yyyy-MM-ddTHH:mm:ss.fffZ"));
    }

    public static void WriteSources(Utf8JsonWriter w, IEnumerable<SourceStatus> sources)
    {
        w.WriteStartArray("sources");
        foreach (var s in sources)
        {
            w.WriteStartObject();
            w.WriteString("source", s.Source);
            w.WriteString("state", SourceStatus.StateName(s.State));
            if (s.Reason != null) w.WriteString("reason", s.Reason);
            w.WriteNumber("items", s.Items);
            w.WriteNumber("durationMs", Math.Round(s.Duration.TotalMilliseconds, 1));
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }

    public static void WriteNamespaces(Utf8JsonWriter w, IEnumerable<NetnsInfo> namespaces)
    {
        w.WriteStartArray("namespaces");
        foreach (var n in namespaces)
        {
            w.WriteStartObject();
            w.WriteString("label", n.Label);
            if (n.Inode != 0) w.WriteNumber("inode", n.Inode);
            if (n.Container != null) w.WriteString("container", n.Container);
            if (n.PodUid != null) w.WriteString("pod", n.PodUid);
            var s = n.Sysctls;
            w.WriteStartObject("sysctls");
            if (s.LocalPortLow is int lo && s.LocalPortHigh is int hi) w.WriteString("ip_local_port_range", $"{lo} {hi}");
            Opt(w, "tcp_tw_reuse", s.TcpTwReuse);
            Opt(w, "tcp_fin_timeout", s.TcpFinTimeout);
            Opt(w, "tcp_max_tw_buckets", s.TcpMaxTwBuckets);
            Opt(w, "tcp_keepalive_time", s.KeepaliveTime);
            Opt(w, "tcp_keepalive_intvl", s.KeepaliveIntvl);
            Opt(w, "tcp_keepalive_probes", s.KeepaliveProbes);
            w.WriteEndObject();
            w.WriteEndObject();
        }
        w.WriteEndArray();
    }

    private static void Opt(Utf8JsonWriter w, string name, int? v) { if (v is int x) w.WriteNumber(name, x); }
}
