using System.Text.Json;
using ConnDoctor.Analysis;
using ConnDoctor.Model;

namespace ConnDoctor.Render;

/// <summary>`pcap --json`: the capture, every client -> server pair, the timeline, rules and findings (docs/pcap.md).</summary>
public static class PcapJsonRenderer
{
    public static void Render(PcapReport r, Stream output)
    {
        using var w = JsonCommon.CreateWriter(output);
        var cap = r.Capture;
        var d = r.Diagnosis;
        w.WriteStartObject();
        JsonCommon.WriteHeader(w, "pcap", d.Host, d.CollectedAt);
        w.WriteStartObject("capture");
        w.WriteString("file", cap.File);
        w.WriteString("format", cap.Format);
        w.WriteStartArray("linkTypes");
        foreach (var l in cap.LinkTypes) w.WriteStringValue(l);
        w.WriteEndArray();
        w.WriteNumber("sections", cap.Sections);
        w.WriteNumber("interfaces", cap.Interfaces);
        w.WriteNumber("packets", cap.Packets);
        w.WriteNumber("tcpPackets", cap.TcpPackets);
        w.WriteNumber("rstPackets", cap.RstPackets);
        w.WriteNumber("connections", cap.Connections.Count);
        if (cap.FirstNs > 0)
        {
            w.WriteString("firstPacket", Iso(cap.FirstNs));
            w.WriteString("lastPacket", Iso(cap.LastNs));
        }
        w.WriteNumber("durationS", Math.Round((cap.LastNs - cap.FirstNs) / 1e9, 6));
        if (cap.Filter != null) w.WriteString("filter", cap.Filter);
        if (cap.StoppedAt != null) w.WriteString("stoppedAt", cap.StoppedAt);
        w.WriteStartObject("skipped");
        foreach (var (k, v) in cap.Skipped) w.WriteNumber(k, v);
        w.WriteEndObject();
        w.WriteStartArray("tunnels");
        foreach (var t in cap.Tunnels)
        {
            w.WriteStartObject();
            w.WriteString("kind", t.Kind);
            w.WriteString("path", t.Path);
            w.WriteNumber("packets", t.Packets);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
        JsonCommon.WriteSources(w, d.Sources);
        w.WriteStartArray("pairs");
        foreach (var p in cap.Pairs)
        {
            WritePair(w, p);
            JsonCommon.FlushEvery64K(w);
        }
        w.WriteEndArray();
        WriteTimeline(w, cap.Timeline);
        DiagnoseJsonRenderer.WriteRulesAndFindings(w, d);
        w.WriteEndObject();
        w.Flush();
    }

    private static string Iso(long ns) => CaptureSummary.Time(ns, "yyyy-MM-ddTHH:mm:ss.ffffffZ");

    private static double Ms(long ns) => Math.Round(ns / 1e6, 3);

    private static void WritePair(Utf8JsonWriter w, PairSummary p)
    {
        w.WriteStartObject();
        w.WriteString("client", p.Client.ToString());
        w.WriteString("server", SocketGrouper.FormatEndpoint(p.Server));
        if (WellKnownPorts.NameOf(p.Server.Port) is { } svc) w.WriteString("service", svc);
        w.WriteNumber("connections", p.Connections);
        w.WriteNumber("opened", p.Opened);
        w.WriteNumber("stillOpen", p.StillOpen);
        w.WriteStartObject("closedFirstBy");
        w.WriteNumber("client", p.ClosedFirstByClient);
        w.WriteNumber("server", p.ClosedFirstByServer);
        w.WriteEndObject();
        w.WriteNumber("closedByRst", p.ClosedByRst);
        w.WriteNumber("rejectedAtOnce", p.RejectedAtOnce);
        w.WriteNumber("short", p.Short);
        w.WriteStartObject("lifetimeMs");
        w.WriteNumber("p50", Ms(p.LifetimeP50Ns));
        w.WriteNumber("p90", Ms(p.LifetimeP90Ns));
        w.WriteNumber("max", Ms(p.LifetimeMaxNs));
        w.WriteEndObject();
        w.WriteNumber("handshakeRttMsP50", Ms(p.HandshakeRttP50Ns));
        w.WriteNumber("bytesToServer", p.BytesToServer);
        w.WriteNumber("bytesToClient", p.BytesToClient);
        w.WriteNumber("dataSegments", p.Segments);
        w.WriteNumber("retransmissions", p.Retransmissions);
        w.WriteNumber("synRetransmissions", p.SynRetransmissions);
        w.WriteNumber("zeroWindows", p.ZeroWindows);
        w.WriteNumber("unansweredAtEnd", p.UnansweredAtEnd);
        WriteResets(w, "resets", p.Resets);
        WriteResets(w, "resetsByClient", p.ResetsByClient);
        w.WriteEndObject();
    }

    private static void WriteResets(Utf8JsonWriter w, string name, int[] resets)
    {
        w.WriteStartObject(name);
        foreach (var c in ResetClasses.All) w.WriteNumber(ResetClasses.Name(c), resets[(int)c]);
        w.WriteEndObject();
    }

    private static void WriteTimeline(Utf8JsonWriter w, CaptureTimeline tl)
    {
        w.WriteStartObject("timeline");
        w.WriteString("start", Iso(tl.StartNs));
        w.WriteNumber("stepMs", Ms(tl.StepNs));
        w.WriteStartArray("steps");
        foreach (var s in tl.Steps)
        {
            w.WriteStartObject();
            w.WriteNumber("opened", s.Opened);
            w.WriteNumber("closed", s.Closed);
            WriteResets(w, "resets", s.Resets);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }
}
