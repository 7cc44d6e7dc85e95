using System.Text.Json;
using ConnDoctor.Model;

namespace ConnDoctor.Render;

/// <summary>`watch --json`: the watch (mode, rows, CLOSE_WAIT trends, recent connections), sources, rules and findings.</summary>
public static class WatchJsonRenderer
{
    public const int MaxConnections = 1000;

    public static void Render(WatchReport r, Stream output)
    {
        var w = r.Watch;
        using var j = JsonCommon.CreateWriter(output);
        j.WriteStartObject();
        JsonCommon.WriteHeader(j, "watch", r.Diagnosis.Host, r.Diagnosis.CollectedAt);
        j.WriteStartObject("watch");
        j.WriteString("mode", w.Mode == WatchMode.Trace ? "trace" : "snapshot");
        if (w.ModeReason != null) j.WriteString("modeReason", w.ModeReason);
        j.WriteString("startedAt", w.StartedAt.ToString("yyyy-MM-ddTHH:mm:ss.fffZ"));
        j.WriteNumber("seconds", Math.Round(w.Seconds, 3));
        j.WriteNumber("intervalSeconds", w.IntervalSeconds);
        j.WriteNumber("eventsRead", w.EventsRead);
        if (w.EventsLost is long lost) j.WriteNumber("eventsLost", lost); else j.WriteNull("eventsLost");
        j.WriteNumber("attributedShare", Math.Round(w.AttributedShare, 4));
        j.WriteNumber("guessedOwners", w.GuessedOwners);
        j.WriteNumber("malformedLines", w.MalformedLines);
        j.WriteStartArray("rows");
        foreach (var x in w.Rows)
        {
            j.WriteStartObject();
            if (x.Pid is int pid) j.WriteNumber("pid", pid);
            if (x.Process != null) j.WriteString("process", x.Process);
            if (x.CommandLine != null) j.WriteString("commandLine", x.CommandLine);
            if (x.Threads.Count > 0)
            {
                j.WriteStartArray("threads");
                foreach (var t in x.Threads) j.WriteStringValue(t);
                j.WriteEndArray();
            }
            if (x.OwnerExited) j.WriteBoolean("ownerExited", true);
            if (x.PidIsTask) j.WriteBoolean("pidIsTask", true);
            if (x.Uid is uint uid) j.WriteNumber("uid", uid);
            if (x.Netns != null) j.WriteString("netns", x.Netns);
            if (x.Container != null) j.WriteString("container", x.Container);
            if (x.Pod != null) j.WriteString("pod", x.Pod);
            j.WriteString("direction", x.Passive ? "inbound" : "outbound");
            j.WriteString("endpoint", x.Endpoint);
            j.WriteNumber("opened", x.Opens);
            j.WriteNumber("closed", x.Closes);
            j.WriteNumber("opensPerSec", Math.Round(x.OpensPerSec, 2));
            j.WriteNumber("closesPerSec", Math.Round(x.ClosesPerSec, 2));
            if (x.MedianLifetimeMs is double m) j.WriteNumber("medianLifetimeMs", Math.Round(m, 3));
            if (x.P99LifetimeMs is double p) j.WriteNumber("p99LifetimeMs", Math.Round(p, 3));
            j.WriteNumber("closedFirstByThisSide", x.ClosedByLocal);
            j.WriteNumber("closedFirstByPeer", x.ClosedByPeer);
            j.WriteNumber("resetBySelf", x.ResetsSent);
            j.WriteNumber("resetByPeer", x.ResetsReceived);
            j.WriteNumber("unreadDataResets", x.UnreadDataResets);
            j.WriteStartObject("statesNow");
            foreach (var (s, n) in x.StatesNow.OrderBy(kv => kv.Key)) j.WriteNumber(TcpStates.Name(s), n);
            j.WriteEndObject();
            j.WriteEndObject();
        }
        j.WriteEndArray();
        j.WriteStartArray("closeWait");
        foreach (var t in w.CloseWait)
        {
            j.WriteStartObject();
            if (t.Pid is int pid) j.WriteNumber("pid", pid);
            if (t.Process != null) j.WriteString("process", t.Process);
            if (t.Netns != null) j.WriteString("netns", t.Netns);
            j.WriteNumber("atStart", t.AtStart);
            j.WriteNumber("atEnd", t.AtEnd);
            j.WriteNumber("perMinute", Math.Round(t.PerMinute, 2));
            j.WriteEndObject();
        }
        j.WriteEndArray();
        j.WriteNumber("connectionsTotal", w.Rows.Sum(x => x.Opens));
        j.WriteStartArray("connections"); // the most recent ones, at most MaxConnections
        foreach (var c in w.Connections.Skip(Math.Max(0, w.Connections.Count - MaxConnections)))
        {
            j.WriteStartObject();
            if (c.Pid is int pid) j.WriteNumber("pid", pid);
            if (c.Comm != null) j.WriteString("process", c.Comm);
            if (c.Tid is int tid) j.WriteNumber("tid", tid);
            if (c.Thread != null) j.WriteString("thread", c.Thread);
            if (c.OwnerExited) j.WriteBoolean("ownerExited", true);
            if (c.PidIsTask) j.WriteBoolean("pidIsTask", true);
            if (c.Netns != null) j.WriteString("netns", c.Netns);
            j.WriteString("local", c.Local.ToString());
            j.WriteString("remote", c.Remote.ToString());
            j.WriteString("direction", c.Passive ? "inbound" : "outbound");
            if (c.OpenedMs is double o) j.WriteNumber("openedMs", Math.Round(o, 3)); else j.WriteNumber("firstSeenMs", Math.Round(c.FirstSeenMs, 3));
            if (c.ClosedMs is double cl) j.WriteNumber("closedMs", Math.Round(cl, 3));
            if (c.LifetimeMs is double l && c.OpenedMs != null) j.WriteNumber("lifetimeMs", Math.Round(l, 3));
            j.WriteString("closedFirstBy", c.ClosedBy switch
            {
                ClosedBy.Local => "self", ClosedBy.Peer => "peer", ClosedBy.LocalReset => "self-reset", ClosedBy.PeerReset => "peer-reset", _ => "unknown",
            });
            j.WriteString("state", TcpStates.Name(c.State));
            if (c.ResetsSent > 0) j.WriteNumber("resetsSent", c.ResetsSent);
            if (c.ResetsReceived > 0) j.WriteNumber("resetsReceived", c.ResetsReceived);
            if (c.ResetCause != ResetCause.None)
                j.WriteString("resetCause", c.ResetCause switch { ResetCause.UnreadData => "unread-data", ResetCause.NoSocket => "no-socket", _ => "other" });
            j.WriteEndObject();
        }
        j.WriteEndArray();
        j.WriteEndObject();
        JsonCommon.WriteSources(j, r.Diagnosis.Sources);
        JsonCommon.WriteNamespaces(j, r.Diagnosis.Namespaces);
        DiagnoseJsonRenderer.WriteRulesAndFindings(j, r.Diagnosis);
        j.WriteEndObject();
        j.Flush();
    }
}
