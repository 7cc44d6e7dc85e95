using System.Text;
using System.Text.Json;
using ConnDoctor.Model;

namespace ConnDoctor.Sources.ZkPoll;

/// <summary>
/// Pure parsers for the ZooKeeper AdminServer's JSON (3.5+, /commands/NAME), read with JsonDocument (no
/// reflection). Every reply carries "command" and "error"; a non-null error is reported, not parsed.
/// </summary>
public static class AdminServerParser
{
    /// <summary>The reply's "error" field when set (an unknown command, a server not serving), else null. Throws on malformed JSON.</summary>
    public static string? Error(JsonDocument doc) =>
        doc.RootElement.ValueKind == JsonValueKind.Object && doc.RootElement.TryGetProperty("error", out var e) && e.ValueKind == JsonValueKind.String ? e.GetString() : null;

    public static JsonDocument Parse(ReadOnlyMemory<byte> reply)
    {
        try { return JsonDocument.Parse(reply); }
        catch (JsonException ex) { throw new SourceException($"the AdminServer sent something that is not JSON ({ex.Message.Split('.')[0]})"); }
    }

    /// <summary>
    /// ZooKeeper's AdminServer names the command in each reply ("command": "connections") and, for connections, lists them
    /// in an array. Any other JSON service on that port (8080 often hosts an application) would otherwise read as a server
    /// with no connections and nothing wrong.
    /// </summary>
    public static void RequireCommand(JsonDocument doc, string command)
    {
        var root = doc.RootElement;
        bool named = root.ValueKind == JsonValueKind.Object && root.TryGetProperty("command", out var c) && c.ValueKind == JsonValueKind.String && c.GetString() == command;
        bool shaped = command != "connections" || (root.TryGetProperty("connections", out var list) && list.ValueKind == JsonValueKind.Array);
        if (!named || !shaped)
            throw new SourceException($"the reply to '{command}' is JSON but not from ZooKeeper's AdminServer (no \"command\": \"{command}\"{(named ? " with a \"connections\" list" : "")}): is that the right URL?");
    }

    /// <summary>/commands/connections: "connections" (and "secure_connections") arrays of objects.</summary>
    public static List<ZkConnection> ParseConnections(JsonDocument doc, out int malformed)
    {
        var list = new List<ZkConnection>();
        malformed = 0;
        foreach (var name in new[] { "connections", "secure_connections" })
        {
            if (!doc.RootElement.TryGetProperty(name, out var arr) || arr.ValueKind != JsonValueKind.Array) continue;
            foreach (var c in arr.EnumerateArray())
            {
                if (c.ValueKind != JsonValueKind.Object || !c.TryGetProperty("remote_socket_address", out var addr) || addr.ValueKind != JsonValueKind.String
                    || !FourLetterParser.TryParseSocketAddress(Encoding.UTF8.GetBytes(addr.GetString()!), out var ep))
                {
                    malformed++;
                    continue;
                }
                long sid = Long(c, "session_id") ?? 0;
                long? lresp = Long(c, "last_response_time");
                list.Add(new ZkConnection
                {
                    Client = ep,
                    SessionId = sid,
                    Received = Long(c, "packets_received") ?? 0,
                    Sent = Long(c, "packets_sent") ?? 0,
                    Queued = Long(c, "outstanding_requests") ?? 0,
                    LastOperation = c.TryGetProperty("last_operation", out var lop) && lop.ValueKind == JsonValueKind.String ? lop.GetString() : null,
                    // Without a session the AdminServer still prints these with placeholder values (session_timeout the
                    // sessionless expiry, last_response_time 0): keep them only for real sessions, as `cons` does.
                    EstablishedUnixMs = sid != 0 ? Long(c, "established") : null,
                    SessionTimeoutMs = sid != 0 && Long(c, "session_timeout") is long to ? (int)to : null,
                    LastResponseMs = sid != 0 && lresp > 0 ? lresp : null,
                });
            }
        }
        return list;
    }

    /// <summary>/commands/dump: "session_id_to_ephemeral_paths" {"SID": ["/path", ...]} (session ids in decimal).</summary>
    public static Dictionary<long, IReadOnlyList<string>> ParseDumpEphemerals(JsonDocument doc, out int malformed) =>
        BySession(doc, "session_id_to_ephemeral_paths", paths => (IReadOnlyList<string>)paths.EnumerateArray().Where(x => x.ValueKind == JsonValueKind.String).Select(x => x.GetString()!).ToList(), out malformed);

    /// <summary>/commands/watches: "session_id_to_watched_paths" {"SID": ["/path", ...]}.</summary>
    public static Dictionary<long, int> ParseWatches(JsonDocument doc, out int malformed) =>
        BySession(doc, "session_id_to_watched_paths", paths => paths.GetArrayLength(), out malformed);

    // A map from decimal session ids to arrays of paths; an entry with another key or value is counted as malformed.
    private static Dictionary<long, T> BySession<T>(JsonDocument doc, string property, Func<JsonElement, T> value, out int malformed)
    {
        var result = new Dictionary<long, T>();
        malformed = 0;
        if (!doc.RootElement.TryGetProperty(property, out var map) || map.ValueKind != JsonValueKind.Object) return result;
        foreach (var p in map.EnumerateObject())
        {
            if (!long.TryParse(p.Name, out var sid) || p.Value.ValueKind != JsonValueKind.Array) { malformed++; continue; }
            result[sid] = value(p.Value);
        }
        return result;
    }

    /// <summary>/commands/configuration: max_client_cnxns, min/max_session_timeout, tick_time, server_id.</summary>
    public static FourLetterParser.Conf ParseConfiguration(JsonDocument doc)
    {
        var r = doc.RootElement;
        int? tick = Long(r, "tick_time") is long t ? (int)t : null;
        int? min = Long(r, "min_session_timeout") is long mn && mn > 0 ? (int)mn : tick * 2;
        int? max = Long(r, "max_session_timeout") is long mx && mx > 0 ? (int)mx : tick * 20;
        return new FourLetterParser.Conf(Long(r, "max_client_cnxns") is long m ? (int)m : null, min, max, tick, Long(r, "server_id"));
    }

    /// <summary>/commands/monitor: the same counters as mntr, without the zk_ prefix, plus version and server_state.</summary>
    public static (Dictionary<string, long> Counters, string? Version, ZkServerMode Mode) ParseMonitor(JsonDocument doc)
    {
        var counters = new Dictionary<string, long>(StringComparer.Ordinal);
        string? version = null;
        var mode = ZkServerMode.Unknown;
        foreach (var p in doc.RootElement.EnumerateObject())
        {
            if (p.NameEquals("version") && p.Value.ValueKind == JsonValueKind.String) version = p.Value.GetString();
            else if (p.NameEquals("server_state") && p.Value.ValueKind == JsonValueKind.String) mode = ZkServerModes.Parse(p.Value.GetString());
            else if (p.Value.ValueKind == JsonValueKind.Number && p.Value.TryGetInt64(out var v) && FourLetterParser.IsKeptCounter(Encoding.ASCII.GetBytes(p.Name)))
                counters[p.Name] = v;
        }
        return (counters, version, mode);
    }

    private static long? Long(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number && v.TryGetInt64(out var x) ? x : null;
}
