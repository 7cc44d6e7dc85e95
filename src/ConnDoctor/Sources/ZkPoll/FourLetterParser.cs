using System.Buffers.Text;
using System.Text;
using ConnDoctor.Model;

namespace ConnDoctor.Sources.ZkPoll;

/// <summary>
/// Pure parsers for ZooKeeper's four-letter-word replies (3.4 to 3.9), over the raw bytes. A line that does not
/// parse is counted and skipped; the rest of the reply still counts.
/// </summary>
public static class FourLetterParser
{
    /// <summary>"cons is not executed because it is not in the whitelist." (3.5+ when the word is not allowed).</summary>
    public static bool IsNotWhitelisted(ReadOnlySpan<byte> reply) => reply.IndexOf("is not in the whitelist"u8) >= 0;

    /// <summary>"This ZooKeeper instance is not currently serving requests": the member is up but has no quorum (or is starting).</summary>
    public static bool IsNotServing(ReadOnlySpan<byte> reply) => reply.IndexOf("not currently serving requests"u8) >= 0;

    public sealed record Srvr(string? Version, ZkServerMode Mode, long? Connections);

    /// <summary>`srvr` / `stat`: "Zookeeper version: 3.8.0-...", "Mode: follower", "Connections: 6".</summary>
    public static Srvr ParseSrvr(ReadOnlySpan<byte> reply)
    {
        string? version = null;
        var mode = ZkServerMode.Unknown;
        long? conns = null;
        foreach (var line in Lines(reply))
        {
            if (line.StartsWith("Zookeeper version:"u8)) version = Text(line["Zookeeper version:"u8.Length..]);
            else if (line.StartsWith("Mode:"u8)) mode = ZkServerModes.Parse(Text(line["Mode:"u8.Length..]));
            else if (line.StartsWith("Connections:"u8) && Long(line["Connections:"u8.Length..].Trim((byte)' '), out var n)) conns = n;
        }
        return new Srvr(version, mode, conns);
    }

    public sealed record Conf(int? MaxClientCnxns, int? MinSessionTimeoutMs, int? MaxSessionTimeoutMs, int? TickTimeMs, long? ServerId);

    /// <summary>`conf`: key=value lines (clientPort=2181, maxClientCnxns=60, minSessionTimeout=4000, ...).</summary>
    public static Conf ParseConf(ReadOnlySpan<byte> reply)
    {
        int? max = null, min = null, maxTo = null, tick = null;
        long? id = null;
        foreach (var line in Lines(reply))
        {
            int eq = line.IndexOf((byte)'=');
            if (eq <= 0) continue;
            var key = line[..eq];
            var value = line[(eq + 1)..].Trim((byte)' ');
            if (!Long(value, out var v)) continue;
            if (key.SequenceEqual("maxClientCnxns"u8)) max = (int)v;
            else if (key.SequenceEqual("minSessionTimeout"u8)) min = (int)v;
            else if (key.SequenceEqual("maxSessionTimeout"u8)) maxTo = (int)v;
            else if (key.SequenceEqual("tickTime"u8)) tick = (int)v;
            else if (key.SequenceEqual("serverId"u8)) id = v;
        }
        // A server started without them uses 2 and 20 ticks.
        if (tick is int t) { min ??= 2 * t; maxTo ??= 20 * t; }
        return new Conf(max, min, maxTo, tick, id);
    }

    /// <summary>
    /// `cons`: one line per connection,
    /// " /127.0.0.1:53702[1](queued=0,recved=5,sent=5,sid=0x100...,lop=PING,est=...,to=30000,lcxid=0x1,lzxid=...,lresp=...,llat=0,minlat=0,avglat=0,maxlat=1)".
    /// Connections without a session have only queued, recved and sent.
    /// </summary>
    public static List<ZkConnection> ParseCons(ReadOnlySpan<byte> reply, out int malformed)
    {
        var list = new List<ZkConnection>();
        malformed = 0;
        foreach (var raw in Lines(reply))
        {
            var line = raw.Trim((byte)' ');
            if (line.Length == 0) continue;
            if (TryParseConsLine(line, out var c)) list.Add(c);
            else malformed++;
        }
        return list;
    }

    internal static bool TryParseConsLine(ReadOnlySpan<byte> line, out ZkConnection connection)
    {
        connection = null!;
        int open = line.IndexOf("]("u8);
        int bracket = open < 0 ? -1 : line[..open].LastIndexOf((byte)'[');
        if (bracket <= 0 || line[^1] != (byte)')') return false;
        if (!TryParseSocketAddress(line[..bracket], out var client)) return false;
        var fields = line[(open + 2)..^1];
        long queued = 0, recved = 0, sent = 0, sid = 0;
        long? est = null, lresp = null;
        int? to = null;
        string? lop = null;
        bool sawRecved = false;
        while (fields.Length > 0)
        {
            int comma = fields.IndexOf((byte)',');
            var kv = comma < 0 ? fields : fields[..comma];
            fields = comma < 0 ? default : fields[(comma + 1)..];
            int eq = kv.IndexOf((byte)'=');
            if (eq <= 0) return false;
            var key = kv[..eq];
            var value = kv[(eq + 1)..];
            switch (key.Length)
            {
                case 6 when key.SequenceEqual("queued"u8): if (!Long(value, out queued)) return false; break;
                case 6 when key.SequenceEqual("recved"u8): if (!Long(value, out recved)) return false; sawRecved = true; break;
                case 4 when key.SequenceEqual("sent"u8): if (!Long(value, out sent)) return false; break;
                case 3 when key.SequenceEqual("sid"u8): if (!Hex(value, out sid)) return false; break;
                case 3 when key.SequenceEqual("lop"u8): lop = Text(value); break;
                case 3 when key.SequenceEqual("est"u8): est = Long(value, out var e) ? e : null; break;
                case 2 when key.SequenceEqual("to"u8): to = Long(value, out var t) ? (int)t : null; break;
                case 5 when key.SequenceEqual("lresp"u8): lresp = Long(value, out var r) ? r : null; break;
            }
        }
        if (!sawRecved) return false;
        connection = new ZkConnection
        {
            Client = client, SessionId = sid, Received = recved, Sent = sent, Queued = queued, LastOperation = lop,
            EstablishedUnixMs = est, SessionTimeoutMs = to, LastResponseMs = lresp,
        };
        return true;
    }

    /// <summary>
    /// `dump` on a leader or standalone server: "Sessions with Ephemerals (N):" then "0xSID:" lines, each followed by
    /// its paths indented with a tab. A follower lists none.
    /// </summary>
    public static Dictionary<long, IReadOnlyList<string>> ParseDumpEphemerals(ReadOnlySpan<byte> reply, out int malformed)
    {
        var result = new Dictionary<long, IReadOnlyList<string>>();
        malformed = 0;
        bool inside = false;
        List<string>? current = null;
        foreach (var line in Lines(reply))
        {
            if (line.StartsWith("Sessions with Ephemerals"u8)) { inside = true; continue; }
            if (!inside) continue;
            if (line.StartsWith("Connections dump"u8)) break;
            if (line.Length == 0) continue;
            if (line[0] == (byte)'\t' || line[0] == (byte)' ')
            {
                var path = line.Trim("\t "u8);
                if (current != null && path.Length > 0 && path[0] == (byte)'/') current.Add(Encoding.UTF8.GetString(path));
                else malformed++;
            }
            else if (line.StartsWith("0x"u8) && line[^1] == (byte)':' && Hex(line[2..^1], out var sid))
            {
                current = new List<string>();
                result[sid] = current;
            }
            else { inside = false; current = null; } // another section began
        }
        return result;
    }

    /// <summary>`wchc`: "0xSID" lines, each followed by the paths it watches indented with a tab.</summary>
    public static Dictionary<long, int> ParseWchc(ReadOnlySpan<byte> reply, out int malformed)
    {
        var result = new Dictionary<long, int>();
        malformed = 0;
        long? current = null;
        foreach (var line in Lines(reply))
        {
            if (line.Length == 0) continue;
            if (line[0] == (byte)'\t')
            {
                if (current is long s) result[s] = result.GetValueOrDefault(s) + 1;
                else malformed++;
            }
            else if (line.StartsWith("0x"u8) && Hex(line[2..].TrimEnd((byte)' '), out var sid))
            {
                current = sid;
                result.TryAdd(sid, 0);
            }
            else malformed++;
        }
        return result;
    }

    /// <summary>`mntr`: "zk_key\tvalue" lines; integer values are kept (without the zk_ prefix), plus version and server_state.</summary>
    public static (Dictionary<string, long> Counters, string? Version, ZkServerMode Mode) ParseMntr(ReadOnlySpan<byte> reply)
    {
        var counters = new Dictionary<string, long>(StringComparer.Ordinal);
        string? version = null;
        var mode = ZkServerMode.Unknown;
        foreach (var line in Lines(reply))
        {
            int tab = line.IndexOf((byte)'\t');
            if (tab <= 0 || !line.StartsWith("zk_"u8)) continue;
            var key = line[3..tab];
            var value = line[(tab + 1)..].Trim((byte)' ');
            if (key.SequenceEqual("version"u8)) version = Text(value);
            else if (key.SequenceEqual("server_state"u8)) mode = ZkServerModes.Parse(Text(value));
            else if (Long(value, out var v) && IsKeptCounter(key)) counters[Encoding.ASCII.GetString(key)] = v;
        }
        return (counters, version, mode);
    }

    /// <summary>The mntr/monitor counters the views and rules read; the hundreds of latency summaries are not kept.</summary>
    internal static bool IsKeptCounter(ReadOnlySpan<byte> key) =>
        key.SequenceEqual("num_alive_connections"u8) || key.SequenceEqual("connection_request_count"u8) ||
        key.SequenceEqual("connection_rejected"u8) || key.SequenceEqual("connection_drop_count"u8) ||
        key.SequenceEqual("sessionless_connections_expired"u8) || key.SequenceEqual("stale_sessions_expired"u8) ||
        key.SequenceEqual("global_sessions"u8) || key.SequenceEqual("local_sessions"u8) ||
        key.SequenceEqual("ephemerals_count"u8) || key.SequenceEqual("watch_count"u8) || key.SequenceEqual("znode_count"u8) ||
        key.SequenceEqual("outstanding_requests"u8) || key.SequenceEqual("max_file_descriptor_count"u8) ||
        key.SequenceEqual("open_file_descriptor_count"u8) || key.SequenceEqual("uptime"u8) ||
        key.SequenceEqual("packets_received"u8) || key.SequenceEqual("packets_sent"u8) ||
        key.SequenceEqual("followers"u8) || key.SequenceEqual("synced_followers"u8);

    /// <summary>"/127.0.0.1:53702", "host/10.0.0.5:53702", "/[0:0:0:0:0:0:0:1]:53702" or "/0:0:0:0:0:0:0:1:53702" (Java before 14).</summary>
    internal static bool TryParseSocketAddress(ReadOnlySpan<byte> text, out NetEndpoint endpoint)
    {
        endpoint = default;
        int slash = text.IndexOf((byte)'/');
        if (slash >= 0) text = text[(slash + 1)..];
        int colon = text.LastIndexOf((byte)':');
        if (colon <= 0 || !Utf8Parser.TryParse(text[(colon + 1)..], out ushort port, out int used) || used != text.Length - colon - 1) return false;
        var host = text[..colon];
        if (host.Length > 2 && host[0] == (byte)'[' && host[^1] == (byte)']') host = host[1..^1];
        Span<char> chars = stackalloc char[64];
        if (host.Length > chars.Length) return false;
        for (int i = 0; i < host.Length; i++) chars[i] = (char)host[i];
        // Drop an IPv6 zone ("%eth0"), as ss does.
        var h = chars[..host.Length];
        int pct = h.IndexOf('%');
        if (pct >= 0) h = h[..pct];
        if (!System.Net.IPAddress.TryParse(h, out var ip)) return false;
        endpoint = new NetEndpoint(NetAddress.FromIPAddress(ip).Unmapped, port);
        return true;
    }

    /// <summary>Lines without their end (\n or \r\n).</summary>
    internal static LineEnumerator Lines(ReadOnlySpan<byte> text) => new(text);

    internal ref struct LineEnumerator(ReadOnlySpan<byte> text)
    {
        private ReadOnlySpan<byte> _rest = text;
        private bool _done = text.Length == 0;
        public ReadOnlySpan<byte> Current { get; private set; }
        public readonly LineEnumerator GetEnumerator() => this;

        public bool MoveNext()
        {
            if (_done) return false;
            int nl = _rest.IndexOf((byte)'\n');
            if (nl < 0) { Current = _rest; _done = true; return Current.Length > 0; }
            var line = _rest[..nl];
            if (line.Length > 0 && line[^1] == (byte)'\r') line = line[..^1];
            Current = line;
            _rest = _rest[(nl + 1)..];
            if (_rest.Length == 0) _done = true;
            return true;
        }
    }

    internal static bool Long(ReadOnlySpan<byte> s, out long value) =>
        Utf8Parser.TryParse(s, out value, out int used) && used == s.Length;

    internal static bool Hex(ReadOnlySpan<byte> s, out long value)
    {
        if (s.StartsWith("0x"u8)) s = s[2..];
        value = 0;
        if (s.Length is 0 or > 16) return false;
        bool ok = Utf8Parser.TryParse(s, out ulong u, out int used, 'x') && used == s.Length;
        value = unchecked((long)u);
        return ok;
    }

    /// <summary>The start of a reply for an error message: "HTTP/1.1 400 Bad Reque..." in quotes, other bytes as dots.</summary>
    public static string Preview(ReadOnlySpan<byte> reply, int max = 24)
    {
        var head = reply[..Math.Min(reply.Length, max)];
        Span<char> chars = stackalloc char[head.Length];
        for (int i = 0; i < head.Length; i++) chars[i] = head[i] is >= 0x20 and < 0x7f ? (char)head[i] : '.';
        return $"\"{chars}{(reply.Length > max ? "..." : "")}\" ({reply.Length} bytes)";
    }

    private static string Text(ReadOnlySpan<byte> s) => Encoding.UTF8.GetString(s.Trim((byte)' '));
}
