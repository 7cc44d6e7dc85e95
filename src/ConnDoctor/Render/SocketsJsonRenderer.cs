using System.Text.Json;
using ConnDoctor.Analysis;
using ConnDoctor.Model;

namespace ConnDoctor.Render;

/// <summary>`sockets --json`: per-state counts, then groups or every socket with its owners and tcp_info.</summary>
public static class SocketsJsonRenderer
{
    public static void Render(SocketsReport r, Stream output)
    {
        using var w = JsonCommon.CreateWriter(output);
        var e = r.Evidence;
        w.WriteStartObject();
        JsonCommon.WriteHeader(w, "sockets", e.Host, e.CollectedAt);
        w.WriteString("groupBy", r.GroupBy.ToString().ToLowerInvariant());
        JsonCommon.WriteSources(w, e.Statuses);
        JsonCommon.WriteNamespaces(w, e.Namespaces);
        w.WriteNumber("total", r.Sockets.Count);
        w.WriteStartObject("counts");
        foreach (var (state, count) in r.StateCounts()) w.WriteNumber(TcpStates.Name(state), count);
        w.WriteEndObject();
        if (r.GroupBy == GroupBy.None)
        {
            w.WriteStartArray("sockets");
            foreach (var s in r.Sockets)
            {
                WriteSocket(w, e, s);
                JsonCommon.FlushEvery64K(w);
            }
            w.WriteEndArray();
        }
        else
        {
            w.WriteStartArray("groups");
            foreach (var g in r.Groups)
            {
                WriteGroup(w, g);
                JsonCommon.FlushEvery64K(w);
            }
            w.WriteEndArray();
        }
        w.WriteEndObject();
        w.Flush();
    }

    private static void WriteGroup(Utf8JsonWriter w, SocketGroup g)
    {
        w.WriteStartObject();
        w.WriteString("process", g.Process);
        if (g.Pid is int pid) w.WriteNumber("pid", pid);
        w.WriteString("local", g.Local);
        w.WriteString("remote", g.Remote);
        if (g.Service != null) w.WriteString("service", g.Service);
        if (g.Netns != null) w.WriteString("netns", g.Netns);
        w.WriteNumber("total", g.Total);
        w.WriteStartObject("counts");
        foreach (var (state, count) in g.Counts.OrderBy(kv => kv.Key)) w.WriteNumber(TcpStates.Name(state), count);
        w.WriteEndObject();
        w.WriteEndObject();
    }

    private static void WriteSocket(Utf8JsonWriter w, Evidence e, SocketRecord s)
    {
        w.WriteStartObject();
        WriteSocketFields(w, e, s);
        w.WriteEndObject();
    }

    /// <summary>A socket's fields as `sockets --group-by none` writes them, inside an object the caller opened (kill adds its own).</summary>
    public static void WriteSocketFields(Utf8JsonWriter w, Evidence e, SocketRecord s)
    {
        Span<char> buf = stackalloc char[64];
        w.WriteNumber("family", s.Family);
        w.WriteString("state", TcpStates.Name(s.DisplayState));
        WriteEndpoint(w, "local", s.Local, buf);
        WriteEndpoint(w, "remote", s.Remote, buf);
        w.WriteNumber("recvQ", s.RecvQueue);
        w.WriteNumber("sendQ", s.SendQueue);
        if (s.Timer != TimerKind.None)
        {
            w.WriteString("timer", TimerName(s.Timer));
            w.WriteNumber("timerExpiresMs", s.TimerExpiresMs);
            w.WriteNumber("timerRetransmits", s.TimerRetransmits);
        }
        w.WriteNumber("uid", s.Uid);
        w.WriteNumber("inode", s.Inode);
        if (e.Namespaces.Count > 1 || e.Namespaces[s.NetnsIndex].Label != "host") w.WriteString("netns", e.Namespaces[s.NetnsIndex].Label);
        if (s.Owners.Length > 0)
        {
            w.WriteStartArray("owners");
            foreach (var o in s.Owners)
            {
                w.WriteStartObject();
                w.WriteNumber("pid", o.Pid);
                w.WriteNumber("fd", o.Fd);
                if (e.Processes.TryGetValue(o.Pid, out var p))
                {
                    w.WriteString("process", p.Name);
                    if (p.ContainerId != null) w.WriteString("container", p.ContainerId);
                    if (p.PodUid != null) w.WriteString("pod", p.PodUid);
                    if (p.PodName != null) w.WriteString("podName", p.PodName);
                    if (p.PodNamespace != null) w.WriteString("podNamespace", p.PodNamespace);
                    if (p.ContainerName != null) w.WriteString("containerName", p.ContainerName);
                }
                w.WriteEndObject();
            }
            w.WriteEndArray();
        }
        if (s.Info is TcpInfo i)
        {
            w.WriteStartObject("tcpInfo");
            w.WriteNumber("lastDataRecvMs", i.LastDataRecvMs);
            w.WriteNumber("lastDataSentMs", i.LastDataSentMs);
            w.WriteNumber("lastAckRecvMs", i.LastAckRecvMs);
            w.WriteNumber("unacked", i.Unacked);
            w.WriteNumber("retransmits", i.Retransmits);
            w.WriteNumber("totalRetrans", i.TotalRetrans);
            w.WriteNumber("probes", i.Probes);
            w.WriteNumber("backoff", i.Backoff);
            w.WriteNumber("rttUs", i.RttUs);
            w.WriteNumber("rttVarUs", i.RttVarUs);
            w.WriteNumber("bytesReceived", i.BytesReceived);
            w.WriteNumber("bytesAcked", i.BytesAcked);
            w.WriteEndObject();
        }
    }

    private static void WriteEndpoint(Utf8JsonWriter w, string name, NetEndpoint ep, Span<char> buf)
    {
        int n = 0;
        if (ep.Address.IsV6) buf[n++] = '[';
        ep.Address.TryFormat(buf[n..], out int a);
        n += a;
        if (ep.Address.IsV6) buf[n++] = ']';
        buf[n++] = ':';
        ep.Port.TryFormat(buf[n..], out int p);
        w.WriteString(name, buf[..(n + p)]);
    }

    public static string TimerName(TimerKind t) => t switch
    {
        TimerKind.Retransmit => "on",
        TimerKind.Keepalive => "keepalive",
        TimerKind.TimeWait => "timewait",
        TimerKind.ZeroWindowProbe => "persist",
        _ => "off",
    };
}
