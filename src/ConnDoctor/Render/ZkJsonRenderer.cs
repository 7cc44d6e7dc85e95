using System.Text.Json;
using ConnDoctor.Model;

namespace ConnDoctor.Render;

/// <summary>`zk --json`: every member with its connections, the per-IP view, growth over a --watch, --path nodes, sources, rules and findings.</summary>
public static class ZkJsonRenderer
{
    public static void Render(ZkReport r, Stream output)
    {
        var zk = r.Zk;
        using var j = JsonCommon.CreateWriter(output);
        j.WriteStartObject();
        JsonCommon.WriteHeader(j, "zk", r.Diagnosis.Host, r.Diagnosis.CollectedAt);
        j.WriteStartArray("members");
        foreach (var m in zk.Members) j.WriteStringValue(m);
        j.WriteEndArray();
        if (zk.Watched)
        {
            j.WriteStartObject("watch");
            j.WriteNumber("seconds", Math.Round(zk.Seconds, 3));
            j.WriteNumber("intervalSeconds", zk.IntervalSeconds);
            j.WriteNumber("polls", zk.Polls);
            j.WriteEndObject();
        }
        else j.WriteNull("watch");
        j.WriteBoolean("ephemeralsKnown", zk.EphemeralsKnown);

        j.WriteStartArray("servers");
        foreach (var s in zk.Servers) WriteServer(j, s);
        j.WriteEndArray();

        j.WriteStartArray("clients");
        foreach (var c in zk.Clients)
        {
            j.WriteStartObject();
            j.WriteString("ip", c.Ip.ToString());
            j.WriteString("server", c.Member);
            j.WriteNumber("connections", c.Connections);
            if (c.Limit is int l) j.WriteNumber("maxClientCnxns", l); else j.WriteNull("maxClientCnxns");
            if (c.Headroom is int h) j.WriteNumber("headroom", h); else j.WriteNull("headroom");
            j.WriteNumber("withSession", c.WithSession);
            j.WriteNumber("withoutSession", c.WithoutSession);
            j.WriteNumber("idle", c.Idle);
            j.WriteNumber("neverSpoke", c.NeverSpoke);
            j.WriteNumber("active", c.Active);
            if (c.Ephemerals is int eph) j.WriteNumber("ephemerals", eph); else j.WriteNull("ephemerals");
            if (c.Watches is int wch) j.WriteNumber("watches", wch); else j.WriteNull("watches");
            if (c.OldestEstablishedUnixMs is long e) j.WriteNumber("oldestEstablishedUnixMs", e);
            if (c.OldestSessionAgeMs is long age) j.WriteNumber("oldestSessionAgeMs", age);
            j.WriteEndObject();
        }
        j.WriteEndArray();

        j.WriteStartArray("growth");
        foreach (var g in zk.Growth)
        {
            j.WriteStartObject();
            j.WriteString("ip", g.Ip.ToString());
            j.WriteNumber("sessionsAtStart", g.SessionsAtStart);
            j.WriteNumber("sessionsAtEnd", g.SessionsAtEnd);
            j.WriteNumber("sessionsOpened", g.SessionsOpened);
            j.WriteNumber("sessionsClosed", g.SessionsClosed);
            j.WriteNumber("sessionsPerMinute", Math.Round(g.SessionsPerMinute, 2));
            j.WriteNumber("ephemeralsAtStart", g.EphemeralsAtStart);
            j.WriteNumber("ephemeralsAtEnd", g.EphemeralsAtEnd);
            j.WriteNumber("ephemeralsPerMinute", Math.Round(g.EphemeralsPerMinute, 2));
            j.WriteNumber("connectionsAtStart", g.ConnectionsAtStart);
            j.WriteNumber("connectionsAtEnd", g.ConnectionsAtEnd);
            j.WriteNumber("connectionsOpened", g.ConnectionsOpened);
            j.WriteNumber("connectionsClosed", g.ConnectionsClosed);
            if (g.OldestSessionAgeMs is long age) j.WriteNumber("oldestSessionAgeMs", age);
            j.WriteNumber("monotoneShare", Math.Round(g.MonotoneShare, 3));
            j.WriteStartArray("ephemeralPatterns");
            foreach (var (pattern, count) in g.EphemeralPatterns)
            {
                j.WriteStartObject();
                j.WriteString("pattern", pattern);
                j.WriteNumber("count", count);
                j.WriteEndObject();
            }
            j.WriteEndArray();
            j.WriteStartArray("samples"); // [seconds, sessions, ephemerals, connections] per poll
            foreach (var p in g.Samples)
            {
                j.WriteStartArray();
                j.WriteNumberValue(Math.Round(p.Seconds, 3));
                j.WriteNumberValue(p.Sessions);
                j.WriteNumberValue(p.Ephemerals);
                j.WriteNumberValue(p.Connections);
                j.WriteEndArray();
            }
            j.WriteEndArray();
            j.WriteEndObject();
        }
        j.WriteEndArray();

        j.WriteStartArray("counterDeltas");
        foreach (var d in zk.CounterDeltas)
        {
            j.WriteStartObject();
            j.WriteString("server", d.Member);
            j.WriteString("name", d.Name);
            j.WriteNumber("start", d.Start);
            j.WriteNumber("end", d.End);
            j.WriteEndObject();
        }
        j.WriteEndArray();
        j.WriteStartArray("memberChurn");
        foreach (var m in zk.MemberChurn)
        {
            j.WriteStartObject();
            j.WriteString("server", m.Member);
            j.WriteNumber("connectionsOpened", m.ConnectionsOpened);
            j.WriteNumber("connectionsClosed", m.ConnectionsClosed);
            j.WriteNumber("sessionsOpened", m.SessionsOpened);
            j.WriteNumber("sessionsClosed", m.SessionsClosed);
            j.WriteEndObject();
        }
        j.WriteEndArray();

        if (zk.Path != null) j.WriteString("path", zk.Path); else j.WriteNull("path");
        j.WriteStartArray("pathNodes");
        foreach (var n in zk.PathNodes)
        {
            j.WriteStartObject();
            j.WriteString("path", n.Path);
            j.WriteString("ownerSession", $"0x{n.Owner:x}");
            if (n.CreatedUnixMs > 0) j.WriteNumber("createdUnixMs", n.CreatedUnixMs);
            if (n.Client is NetEndpoint ep) j.WriteString("client", ep.ToString()); else j.WriteNull("client");
            if (n.Member != null) j.WriteString("server", n.Member); else j.WriteNull("server");
            j.WriteEndObject();
        }
        j.WriteEndArray();

        JsonCommon.WriteSources(j, r.Diagnosis.Sources);
        DiagnoseJsonRenderer.WriteRulesAndFindings(j, r.Diagnosis);
        j.WriteEndObject();
        j.Flush();
    }

    private static void WriteServer(Utf8JsonWriter j, ZkServerInfo s)
    {
        j.WriteStartObject();
        j.WriteString("member", s.Member);
        j.WriteString("state", SourceStatus.StateName(s.State));
        if (s.Reason != null) j.WriteString("reason", s.Reason);
        j.WriteString("via", s.Channel);
        j.WriteString("mode", ZkServerModes.Name(s.Mode));
        if (s.Version != null) j.WriteString("version", s.Version); else j.WriteNull("version");
        Opt(j, "maxClientCnxns", s.MaxClientCnxns);
        Opt(j, "minSessionTimeoutMs", s.MinSessionTimeoutMs);
        Opt(j, "maxSessionTimeoutMs", s.MaxSessionTimeoutMs);
        Opt(j, "tickTimeMs", s.TickTimeMs);
        if (s.ServerId is long id) j.WriteNumber("serverId", id); else j.WriteNull("serverId");
        j.WriteStartArray("refusedWords");
        foreach (var w in s.RefusedWords) j.WriteStringValue(w);
        j.WriteEndArray();
        if (s.WhitelistHint != null) j.WriteString("whitelistHint", s.WhitelistHint); else j.WriteNull("whitelistHint");
        j.WriteNumber("malformedLines", s.MalformedLines);
        j.WriteStartObject("counters");
        foreach (var (k, v) in s.Counters.OrderBy(kv => kv.Key, StringComparer.Ordinal)) j.WriteNumber(k, v);
        j.WriteEndObject();
        if (s.Connections == null) j.WriteNull("connections");
        else
        {
            j.WriteStartArray("connections");
            foreach (var c in s.Connections)
            {
                j.WriteStartObject();
                j.WriteString("client", c.Client.ToString());
                if (c.HasSession) j.WriteString("sessionId", $"0x{c.SessionId:x}"); else j.WriteNull("sessionId");
                j.WriteNumber("received", c.Received);
                j.WriteNumber("sent", c.Sent);
                j.WriteNumber("queued", c.Queued);
                if (c.LastOperation != null) j.WriteString("lastOperation", c.LastOperation);
                if (c.EstablishedUnixMs is long e) j.WriteNumber("establishedUnixMs", e);
                Opt(j, "sessionTimeoutMs", c.SessionTimeoutMs);
                if (c.LastResponseAgeMs is long a) j.WriteNumber("lastResponseAgeMs", a);
                j.WriteBoolean("idle", c.Idle);
                j.WriteEndObject();
            }
            j.WriteEndArray();
        }
        if (s.Ephemerals == null) j.WriteNull("ephemeralsBySession");
        else
        {
            j.WriteStartObject("ephemeralsBySession");
            foreach (var (sid, paths) in s.Ephemerals.OrderBy(kv => kv.Key))
            {
                j.WriteStartArray($"0x{sid:x}");
                foreach (var p in paths) j.WriteStringValue(p);
                j.WriteEndArray();
            }
            j.WriteEndObject();
        }
        j.WriteEndObject();
    }

    private static void Opt(Utf8JsonWriter j, string name, int? v) { if (v is int x) j.WriteNumber(name, x); else j.WriteNull(name); }
}
