using System.Buffers.Binary;
using System.Globalization;
using System.IO.Compression;
using System.Text.Json;
using ConnDoctor.Model;

namespace ConnDoctor.Documents;

/// <summary>A document that cannot be read: one line naming the document and what is wrong with it.</summary>
public sealed class EvidenceDocumentException(string message) : Exception(message);

/// <summary>
/// Reads an evidence document (<see cref="EvidenceDocumentWriter"/>) back into the <see cref="Evidence"/> it was written
/// from. The bytes are gunzipped when they start with gzip's magic, then read with <see cref="Utf8JsonReader"/>: the
/// socket rows directly (the bulk of a document), the small parts through <see cref="JsonDocument"/>. Anything wrong
/// (not JSON, not ours, another schema version, a cut gzip or JSON, a part missing) is one clear line.
/// </summary>
public static class EvidenceDocumentReader
{
    /// <summary>The largest document (after gunzip) read: about ten times a 100k-socket host's.</summary>
    public const long MaxBytes = 2L << 30;

    /// <summary>Reads a document from a file, gzip'd or not.</summary>
    public static Evidence ReadFile(string path)
    {
        byte[] bytes;
        try
        {
            var info = new FileInfo(path);
            if (Directory.Exists(path)) throw new EvidenceDocumentException($"{path} is a directory: give an evidence document (conndoctor collect --output FILE)");
            if (!info.Exists) throw new EvidenceDocumentException($"{path}: no such file");
            if (info.Length > MaxBytes) throw new EvidenceDocumentException($"{path}: {info.Length} bytes is more than the {MaxBytes >> 20} MB a document may have");
            bytes = File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new EvidenceDocumentException($"{path}: {ex.Message}");
        }
        return Read(bytes, path);
    }

    /// <summary>Reads a whole stream (stdin, an HTTP body) up to <see cref="MaxBytes"/>, then the document in it.</summary>
    public static Evidence Read(Stream input, string name)
    {
        var ms = new MemoryStream();
        var buf = new byte[1 << 16];
        int n;
        while ((n = input.Read(buf, 0, buf.Length)) > 0)
        {
            ms.Write(buf, 0, n);
            if (ms.Length > MaxBytes) throw new EvidenceDocumentException($"{name}: more than the {MaxBytes >> 20} MB a document may have");
        }
        return Read(ms.GetBuffer().AsSpan(0, (int)ms.Length).ToArray(), name);
    }

    /// <summary>The document in <paramref name="bytes"/> (gzip'd or not); <paramref name="name"/> names it in errors.</summary>
    public static Evidence Read(byte[] bytes, string name)
    {
        if (bytes.Length == 0) throw new EvidenceDocumentException($"{name}: empty, not an evidence document");
        var json = bytes.Length >= 2 && bytes[0] == 0x1f && bytes[1] == 0x8b ? Gunzip(bytes, name) : bytes;
        try { return Parse(json, name); }
        catch (JsonException ex)
        {
            bool cut = ex.BytePositionInLine is long pos && ex.LineNumber == 0 && pos >= json.Length - 1 || ex.Message.Contains("end of data", StringComparison.OrdinalIgnoreCase)
                       || ex.Message.Contains("incomplete", StringComparison.OrdinalIgnoreCase);
            throw new EvidenceDocumentException(cut
                ? $"{name}: the JSON is cut short (truncated document, {json.Length} bytes): collect it again"
                : $"{name}: not a valid JSON document (line {ex.LineNumber + 1}, byte {ex.BytePositionInLine}): is it an evidence document from conndoctor collect?");
        }
        catch (Exception ex) when (ex is InvalidOperationException or FormatException or KeyNotFoundException or ArgumentException or OverflowException or IndexOutOfRangeException)
        {
            throw new EvidenceDocumentException($"{name}: malformed evidence document: {ex.Message}");
        }
    }

    private static byte[] Gunzip(byte[] bytes, string name)
    {
        var output = new MemoryStream(bytes.Length * 6);
        try
        {
            using var gz = new GZipStream(new MemoryStream(bytes), CompressionMode.Decompress);
            var buf = new byte[1 << 16];
            int n;
            while ((n = gz.Read(buf, 0, buf.Length)) > 0)
            {
                output.Write(buf, 0, n);
                if (output.Length > MaxBytes) throw new EvidenceDocumentException($"{name}: more than the {MaxBytes >> 20} MB a document may have once uncompressed");
            }
        }
        catch (InvalidDataException ex)
        {
            throw new EvidenceDocumentException($"{name}: corrupt gzip data ({ex.Message.TrimEnd('.')})");
        }
        // gzip ends with the uncompressed length mod 2^32: a cut file ends in the middle of its data, not with its own length.
        if (bytes.Length < 18 || BinaryPrimitives.ReadUInt32LittleEndian(bytes.AsSpan(bytes.Length - 4)) != (uint)output.Length)
            throw new EvidenceDocumentException($"{name}: the gzip data is cut short (truncated file, {bytes.Length} bytes; its end does not match what it holds): copy or collect it again");
        return output.GetBuffer().AsSpan(0, (int)output.Length).ToArray();
    }

    private static Evidence Parse(byte[] json, string name)
    {
        var r = new Utf8JsonReader(json, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip, MaxDepth = 64 });
        if (!r.Read() || r.TokenType != JsonTokenType.StartObject)
            throw new EvidenceDocumentException($"{name}: not an evidence document (JSON {Describe(r.TokenType)}, expected an object with kind \"{EvidenceDocumentWriter.Kind}\")");

        var parts = new Dictionary<string, JsonDocument>();
        List<SocketRecord>? sockets = null;
        string? kind = null;
        int? version = null;
        try
        {
            while (r.Read() && r.TokenType == JsonTokenType.PropertyName)
            {
                string prop = r.GetString()!;
                r.Read();
                switch (prop)
                {
                    case "kind":
                        kind = r.TokenType == JsonTokenType.String ? r.GetString() : null;
                        if (kind != EvidenceDocumentWriter.Kind)
                            throw new EvidenceDocumentException($"{name}: not an evidence document (kind '{kind}', expected '{EvidenceDocumentWriter.Kind}')");
                        break;
                    case "schemaVersion":
                        version = r.TokenType == JsonTokenType.Number && r.TryGetInt32(out int v) ? v : -1;
                        CheckVersion(kind, version.Value, name);
                        break;
                    case "sockets":
                        CheckHeader(kind, version, name);
                        sockets = ReadSockets(ref r, name);
                        break;
                    default:
                        parts[prop] = JsonDocument.ParseValue(ref r);
                        break;
                }
            }
            if (r.TokenType != JsonTokenType.EndObject) throw new JsonException("incomplete");
            // Anything after the document's object is not ours (two documents pasted together, a cut and joined file).
            if (r.Read()) throw new JsonException("trailing data");
            CheckHeader(kind, version, name);
            return Build(parts, sockets, name);
        }
        finally
        {
            foreach (var d in parts.Values) d.Dispose();
        }
    }

    private static string Describe(JsonTokenType t) => t switch
    {
        JsonTokenType.StartArray => "array",
        JsonTokenType.String => "string",
        JsonTokenType.Number => "number",
        JsonTokenType.True or JsonTokenType.False => "boolean",
        JsonTokenType.Null => "null",
        _ => "value",
    };

    private static void CheckHeader(string? kind, int? version, string name)
    {
        if (kind == null) throw new EvidenceDocumentException($"{name}: not an evidence document (no \"kind\": \"{EvidenceDocumentWriter.Kind}\" before its parts)");
        if (version == null) throw new EvidenceDocumentException($"{name}: evidence document without a schemaVersion (this build reads version {EvidenceDocumentWriter.SchemaVersion})");
    }

    private static void CheckVersion(string? kind, int version, string name)
    {
        if (kind == null) throw new EvidenceDocumentException($"{name}: not an evidence document (no \"kind\": \"{EvidenceDocumentWriter.Kind}\" before its schemaVersion)");
        if (version == EvidenceDocumentWriter.SchemaVersion) return;
        throw new EvidenceDocumentException(version < EvidenceDocumentWriter.SchemaVersion
            ? $"{name}: evidence document schema version {version} is older than this build reads (version {EvidenceDocumentWriter.SchemaVersion}): collect it again with this conndoctor"
            : $"{name}: evidence document schema version {version} is newer than this build reads (version {EvidenceDocumentWriter.SchemaVersion}): use the conndoctor that collected it, or a newer one");
    }

    private static Exception Missing(string name, string part) =>
        new EvidenceDocumentException($"{name}: evidence document is missing its required part '{part}'");

    private static Evidence Build(Dictionary<string, JsonDocument> parts, List<SocketRecord>? sockets, string name)
    {
        JsonElement Need(string part) => parts.TryGetValue(part, out var d) ? d.RootElement : throw Missing(name, part);
        JsonElement? Maybe(string part) => parts.TryGetValue(part, out var d) && d.RootElement.ValueKind != JsonValueKind.Null ? d.RootElement : null;
        if (sockets == null) throw Missing(name, "sockets");
        var namespaces = Need("namespaces").EnumerateArray().Select(n => new NetnsInfo
        {
            Label = S(n, "label"), Inode = U64(n, "inode"), Path = SN(n, "path"), Container = SN(n, "container"), PodUid = SN(n, "podUid"),
            Sysctls = Sysctls(n.GetProperty("sysctls")),
        }).ToList();
        foreach (var s in sockets)
            if (s.NetnsIndex < 0 || s.NetnsIndex >= Math.Max(1, namespaces.Count))
                throw new EvidenceDocumentException($"{name}: malformed evidence document: a socket names namespace {s.NetnsIndex} of {namespaces.Count}");
        var processes = new Dictionary<int, ProcessRecord>();
        foreach (var p in Need("processes").EnumerateArray())
        {
            var rec = new ProcessRecord
            {
                Pid = I(p, "pid"), Name = S(p, "name"), CommandLine = S(p, "commandLine"), Uid = p.GetProperty("uid").GetUInt32(),
                Cgroup = SN(p, "cgroup"), ContainerId = SN(p, "containerId"), PodUid = SN(p, "podUid"), NetnsInode = U64(p, "netnsInode"),
                PodName = SN(p, "podName"), PodNamespace = SN(p, "podNamespace"), ContainerName = SN(p, "containerName"),
            };
            processes[rec.Pid] = rec;
        }
        return new Evidence
        {
            Host = S(Need("host")),
            CollectedAt = Need("collectedAt").GetDateTimeOffset(),
            OwnersIncomplete = Maybe("ownersIncomplete")?.GetBoolean() ?? false,
            Statuses = Need("statuses").EnumerateArray().Select(Status).ToList(),
            Namespaces = namespaces,
            Processes = processes,
            Sockets = sockets,
            Identity = Maybe("identity") is { } id ? Identity(id) : null,
            Settings = Maybe("settings") is { } st ? Settings(st) : null,
            Discovery = Maybe("discovery") is { } d ? Discovery(d) : null,
            Watch = Maybe("watch") is { } w ? Watch(w) : null,
            ZkLog = Maybe("zkLog") is { } zl ? ZkLog(zl) : null,
            Zk = Maybe("zk") is { } zk ? Zk(zk) : null,
            AppLogs = Maybe("appLogs") is { } al ? AppLogs(al) : null,
            Conntrack = Maybe("conntrack") is { } ct ? Conntrack(ct) : null,
        };
    }

    // ---- socket rows: read straight from the reader, no element tree ----

    private static List<SocketRecord> ReadSockets(ref Utf8JsonReader r, string name)
    {
        if (r.TokenType != JsonTokenType.StartArray) throw new EvidenceDocumentException($"{name}: malformed evidence document: sockets is not an array");
        var list = new List<SocketRecord>();
        var owners = new List<SocketOwner>();
        while (r.Read() && r.TokenType == JsonTokenType.StartArray)
        {
            int family = NextInt(ref r);
            var state = (TcpState)NextInt(ref r);
            var local = NextEndpoint(ref r);
            var remote = NextEndpoint(ref r);
            uint rq = NextUInt(ref r), sq = NextUInt(ref r);
            var timer = (TimerKind)NextInt(ref r);
            uint timerMs = NextUInt(ref r);
            byte retr = (byte)NextUInt(ref r);
            uint uid = NextUInt(ref r);
            ulong inode = NextULong(ref r), cookie = NextULong(ref r);
            uint iface = NextUInt(ref r);
            int netns = NextInt(ref r);
            Next(ref r, JsonTokenType.StartArray);
            owners.Clear();
            while (r.Read() && r.TokenType == JsonTokenType.Number)
            {
                int pid = r.GetInt32();
                owners.Add(new SocketOwner(pid, NextInt(ref r)));
            }
            if (!r.Read()) throw new JsonException("incomplete");
            TcpInfo? info = null;
            if (r.TokenType == JsonTokenType.StartArray)
            {
                info = new TcpInfo
                {
                    CaState = (byte)NextUInt(ref r), Retransmits = (byte)NextUInt(ref r), Probes = (byte)NextUInt(ref r),
                    Backoff = (byte)NextUInt(ref r), Options = (byte)NextUInt(ref r), RtoUs = NextUInt(ref r),
                    Unacked = NextUInt(ref r), Lost = NextUInt(ref r), Retrans = NextUInt(ref r),
                    LastDataSentMs = NextUInt(ref r), LastDataRecvMs = NextUInt(ref r), LastAckRecvMs = NextUInt(ref r),
                    RttUs = NextUInt(ref r), RttVarUs = NextUInt(ref r), TotalRetrans = NextUInt(ref r),
                    BytesAcked = NextULong(ref r), BytesReceived = NextULong(ref r), BytesSent = NextULong(ref r),
                };
                Next(ref r, JsonTokenType.EndArray);
            }
            else if (r.TokenType != JsonTokenType.Null) throw new FormatException("a socket's tcpInfo is neither an array nor null");
            // Columns a later minor writer may append are skipped.
            while (r.Read() && r.TokenType != JsonTokenType.EndArray) r.Skip();
            list.Add(new SocketRecord
            {
                Family = family, State = state, Local = local, Remote = remote, RecvQueue = rq, SendQueue = sq, Timer = timer,
                TimerExpiresMs = timerMs, TimerRetransmits = retr, Uid = uid, Inode = inode, Cookie = cookie, Interface = iface,
                NetnsIndex = netns, Info = info, Owners = owners.Count == 0 ? [] : owners.ToArray(),
            });
        }
        if (r.TokenType != JsonTokenType.EndArray) throw new JsonException("incomplete");
        return list;
    }

    private static void Next(ref Utf8JsonReader r, JsonTokenType expected)
    {
        if (!r.Read()) throw new JsonException("incomplete");
        if (r.TokenType != expected) throw new FormatException($"a socket row has {r.TokenType} where {expected} belongs");
    }

    private static int NextInt(ref Utf8JsonReader r) { Next(ref r, JsonTokenType.Number); return r.GetInt32(); }
    private static uint NextUInt(ref Utf8JsonReader r) { Next(ref r, JsonTokenType.Number); return r.GetUInt32(); }
    private static ulong NextULong(ref Utf8JsonReader r) { Next(ref r, JsonTokenType.Number); return r.GetUInt64(); }

    private static NetEndpoint NextEndpoint(ref Utf8JsonReader r)
    {
        Next(ref r, JsonTokenType.String);
        Span<char> buf = stackalloc char[72];
        int n = r.CopyString(buf);
        return ParseEndpoint(buf[..n]);
    }

    /// <summary>"10.0.0.1:2181" or "[fe80::1]:2181", as the writer writes them; IPv4 parsed without an IPAddress.</summary>
    internal static NetEndpoint ParseEndpoint(ReadOnlySpan<char> text)
    {
        int colon = text.LastIndexOf(':');
        if (colon <= 0 || !ushort.TryParse(text[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out var port))
            throw new FormatException($"bad endpoint '{text}'");
        var host = text[..colon];
        if (host.Length > 2 && host[0] == '[' && host[^1] == ']')
        {
            if (!System.Net.IPAddress.TryParse(host[1..^1], out var ip6)) throw new FormatException($"bad endpoint '{text}'");
            return new NetEndpoint(NetAddress.FromIPAddress(ip6), port);
        }
        return new NetEndpoint(ParseV4(host) ?? throw new FormatException($"bad endpoint '{text}'"), port);
    }

    private static NetAddress? ParseV4(ReadOnlySpan<char> s)
    {
        uint v = 0;
        int parts = 0, digits = 0, octet = 0;
        foreach (char c in s)
        {
            if (c == '.')
            {
                if (digits == 0 || ++parts > 3) return null;
                v = (v << 8) | (uint)octet;
                octet = digits = 0;
            }
            else if (c is >= '0' and <= '9' && digits < 3)
            {
                octet = octet * 10 + (c - '0');
                digits++;
                if (octet > 255) return null;
            }
            else return null;
        }
        if (parts != 3 || digits == 0) return null;
        return NetAddress.FromIPv4((v << 8) | (uint)octet);
    }

    private static NetAddress Address(string text)
    {
        if (ParseV4(text) is NetAddress a) return a;
        return System.Net.IPAddress.TryParse(text, out var ip) ? NetAddress.FromIPAddress(ip) : throw new FormatException($"bad address '{text}'");
    }

    // ---- the small parts, from element trees ----

    private static string S(JsonElement e) => e.GetString() ?? throw new FormatException("a string is null");
    private static string S(JsonElement e, string p) => e.TryGetProperty(p, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : throw new KeyNotFoundException($"'{p}' missing");
    private static string? SN(JsonElement e, string p) => e.TryGetProperty(p, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString() : null;
    private static int I(JsonElement e, string p) => e.TryGetProperty(p, out var v) ? v.GetInt32() : throw new KeyNotFoundException($"'{p}' missing");
    private static int I0(JsonElement e, string p) => e.TryGetProperty(p, out var v) ? v.GetInt32() : 0;
    private static int? IN(JsonElement e, string p) => e.TryGetProperty(p, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetInt32() : null;
    private static long L(JsonElement e, string p) => e.TryGetProperty(p, out var v) ? v.GetInt64() : 0;
    private static long? LN(JsonElement e, string p) => e.TryGetProperty(p, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetInt64() : null;
    private static ulong U64(JsonElement e, string p) => e.TryGetProperty(p, out var v) ? v.GetUInt64() : 0;
    private static double D(JsonElement e, string p) => e.TryGetProperty(p, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : 0;
    private static double? DN(JsonElement e, string p) => e.TryGetProperty(p, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble() : null;
    private static bool B(JsonElement e, string p) => e.TryGetProperty(p, out var v) && v.ValueKind == JsonValueKind.True;
    private static DateTime T(JsonElement e, string p) => e.TryGetProperty(p, out var v) ? v.GetDateTime() : throw new KeyNotFoundException($"'{p}' missing");
    private static DateTime? TN(JsonElement e, string p) => e.TryGetProperty(p, out var v) && v.ValueKind == JsonValueKind.String ? v.GetDateTime() : null;
    private static List<string> Strs(JsonElement e, string p) =>
        e.TryGetProperty(p, out var v) && v.ValueKind == JsonValueKind.Array ? v.EnumerateArray().Select(S).ToList() : [];
    private static IEnumerable<JsonElement> Arr(JsonElement e, string p) =>
        e.TryGetProperty(p, out var v) && v.ValueKind == JsonValueKind.Array ? v.EnumerateArray() : [];
    private static NetEndpoint Ep(JsonElement e) => ParseEndpoint(S(e));
    private static NetEndpoint? EpN(JsonElement e, string p) => e.TryGetProperty(p, out var v) && v.ValueKind == JsonValueKind.String ? Ep(v) : null;
    private static TimeSpan Ticks(JsonElement e, string p) => TimeSpan.FromTicks(L(e, p));
    private static T Enum<T>(JsonElement e, string p) where T : struct, System.Enum =>
        e.TryGetProperty(p, out var v) && System.Enum.TryParse<T>(v.GetString(), out var x) ? x : default;

    private static SourceState State(string? name) => name switch
    {
        "ok" => SourceState.Ok,
        "partial" => SourceState.Partial,
        "denied" => SourceState.Denied,
        "failed" => SourceState.Failed,
        "skipped" => SourceState.Skipped,
        _ => throw new FormatException($"unknown source state '{name}'"),
    };

    private static SourceStatus Status(JsonElement s) =>
        new(S(s, "source"), State(SN(s, "state")), SN(s, "reason"), I0(s, "items"), Ticks(s, "durationTicks"));

    private static HostIdentity Identity(JsonElement e) => new()
    {
        Hostname = S(e, "hostname"),
        BootId = SN(e, "bootId"),
        CollectionStart = e.GetProperty("collectionStart").GetDateTimeOffset(),
        CollectionEnd = e.GetProperty("collectionEnd").GetDateTimeOffset(),
        Problems = Strs(e, "problems"),
        Namespaces = Arr(e, "namespaces").Select(n => new NamespaceAddresses
        {
            Netns = S(n, "netns"), Inode = U64(n, "inode"),
            Addresses = Arr(n, "addresses").Select(a => new InterfaceAddress(S(a, "interface"), Address(S(a, "address")), I(a, "prefixLength"))).ToList(),
        }).ToList(),
    };

    private static Sysctls Sysctls(JsonElement s) => new()
    {
        LocalPortLow = IN(s, "localPortLow"), LocalPortHigh = IN(s, "localPortHigh"), TcpTwReuse = IN(s, "tcpTwReuse"),
        TcpFinTimeout = IN(s, "tcpFinTimeout"), TcpMaxTwBuckets = IN(s, "tcpMaxTwBuckets"), KeepaliveTime = IN(s, "keepaliveTime"),
        KeepaliveIntvl = IN(s, "keepaliveIntvl"), KeepaliveProbes = IN(s, "keepaliveProbes"), TcpTwRecycleExists = B(s, "tcpTwRecycleExists"),
        TcpTwRecycle = IN(s, "tcpTwRecycle"), TcpTimestamps = IN(s, "tcpTimestamps"), TcpRetries2 = IN(s, "tcpRetries2"), Somaxconn = IN(s, "somaxconn"),
    };

    private static ZooCfg ZooCfg(JsonElement c)
    {
        var entries = new Dictionary<string, ZooCfgEntry>();
        foreach (var e in Arr(c, "entries")) entries[S(e, "key")] = new ZooCfgEntry(S(e, "key"), S(e, "value"), I(e, "line"));
        return new ZooCfg { Path = S(c, "path"), Entries = entries };
    }

    private static SettingsEvidence Settings(JsonElement s) => new()
    {
        Origin = S(s, "origin"), Sysctls = Sysctls(s.GetProperty("sysctls")), KernelRelease = SN(s, "kernelRelease"),
        ZooCfg = s.TryGetProperty("zooCfg", out var c) ? ZooCfg(c) : null, SocketTableRead = B(s, "socketTableRead"),
    };

    private static DiscoveryEvidence Discovery(JsonElement d) => new()
    {
        Servers = Arr(d, "servers").Select(s => new DiscoveredZkServer
        {
            Pid = I(s, "pid"), MainClass = S(s, "mainClass"), Launcher = SN(s, "launcher"), Netns = SN(s, "netns"),
            ConfigPath = SN(s, "configPath"), ConfigFoundBy = SN(s, "configFoundBy"), DynamicConfigPath = SN(s, "dynamicConfigPath"),
            Config = s.TryGetProperty("config", out var c) ? ZooCfg(c) : null, NetnsInode = U64(s, "netnsInode"),
            ConfiguredClientPorts = Arr(s, "configuredClientPorts").Select(p => new ConfiguredPort(SN(p, "address"), I(p, "port"))).ToList(),
            ClientEndpoints = Arr(s, "clientEndpoints").Select(Ep).ToList(),
            ClientEndpointsFoundBy = SN(s, "clientEndpointsFoundBy"), AdminEndpoint = EpN(s, "adminEndpoint"),
            LogFile = SN(s, "logFile"), LogFoundBy = SN(s, "logFoundBy"), RotatedLogs = Strs(s, "rotatedLogs"),
            OtherLogs = Strs(s, "otherLogs"), Problems = Strs(s, "problems"),
        }).ToList(),
        Clients = Arr(d, "clients").Select(c => new DiscoveredZkClient
        {
            Pid = I(c, "pid"), Process = S(c, "process"), CommandLine = SN(c, "commandLine") ?? "", Netns = SN(c, "netns"),
            Servers = Strs(c, "servers"), Connections = I0(c, "connections"), ToLocalServer = B(c, "toLocalServer"),
        }).ToList(),
        Listeners = Arr(d, "listeners").Select(l => new DiscoveredListener
        {
            Local = S(l, "local"), Pid = IN(l, "pid"), Process = SN(l, "process"), Netns = SN(l, "netns"), Connections = I0(l, "connections"),
            BusiestPeers = Arr(l, "busiestPeers").Select(p => (S(p, "peer"), I(p, "connections"))).ToList(),
        }).ToList(),
        Problems = Strs(d, "problems"),
    };

    private static LoopStats? Loop(JsonElement e, string p)
    {
        if (!e.TryGetProperty(p, out var l) || l.ValueKind != JsonValueKind.Object) return null;
        return new LoopStats
        {
            Count = L(l, "count"), FirstMs = D(l, "firstMs"), LastMs = D(l, "lastMs"), Ongoing = B(l, "ongoing"), Total = L(l, "total"),
            Failed = L(l, "failed"), GapsMeasured = I0(l, "gapsMeasured"), MedianGapMs = D(l, "medianGapMs"), P10GapMs = D(l, "p10GapMs"),
            P90GapMs = D(l, "p90GapMs"), PeriodMs = DN(l, "periodMs"), Probes = I0(l, "probes"),
        };
    }

    private static uint? UN(JsonElement e, string p) => e.TryGetProperty(p, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetUInt32() : null;

    private static WatchEvidence Watch(JsonElement x) => new()
    {
        Mode = Enum<WatchMode>(x, "mode"), ModeReason = SN(x, "modeReason"), StartedAt = x.GetProperty("startedAt").GetDateTimeOffset(),
        Seconds = D(x, "seconds"), IntervalSeconds = D(x, "intervalSeconds"), EventsRead = L(x, "eventsRead"), EventsLost = LN(x, "eventsLost"),
        MalformedLines = I0(x, "malformedLines"), GuessedOwners = I0(x, "guessedOwners"), AttributedShare = D(x, "attributedShare"),
        AllNetns = B(x, "allNetns"),
        Connections = Arr(x, "connections").Select(c => new WatchConnection
        {
            Local = Ep(c.GetProperty("local")), Remote = Ep(c.GetProperty("remote")), Passive = B(c, "passive"),
            Owner = new ConnectionOwner
            {
                Pid = IN(c, "pid"), Comm = SN(c, "comm"), CommandLine = SN(c, "commandLine"), Tid = IN(c, "tid"), Thread = SN(c, "thread"),
                Exited = B(c, "ownerExited"), PidIsTask = B(c, "pidIsTask"), Uid = UN(c, "uid"), NetnsInode = U64(c, "netnsInode"),
                Netns = SN(c, "netns"), Container = SN(c, "container"), Pod = SN(c, "pod"),
            },
            OpenedMs = DN(c, "openedMs"),
            FirstSeenMs = D(c, "firstSeenMs"), ClosedMs = DN(c, "closedMs"), ClosedBy = Enum<ClosedBy>(c, "closedBy"),
            State = (TcpState)I0(c, "state"), ResetsSent = I0(c, "resetsSent"), ResetsReceived = I0(c, "resetsReceived"),
            ResetCause = Enum<ResetCause>(c, "resetCause"), LastRecvQueue = UN(c, "lastRecvQueue") ?? 0,
        }).ToList(),
        Rows = Arr(x, "rows").Select(r => new WatchRow
        {
            Pid = IN(r, "pid"), Process = SN(r, "process"), CommandLine = SN(r, "commandLine"), Threads = Strs(r, "threads"),
            OwnerExited = B(r, "ownerExited"), PidIsTask = B(r, "pidIsTask"), Uid = UN(r, "uid"), Netns = SN(r, "netns"),
            Container = SN(r, "container"), Pod = SN(r, "pod"), Passive = B(r, "passive"), Endpoint = S(r, "endpoint"),
            RemotePort = I0(r, "remotePort"), LocalPort = I0(r, "localPort"), Opens = I0(r, "opens"), Closes = I0(r, "closes"),
            OpensPerSec = D(r, "opensPerSec"), ClosesPerSec = D(r, "closesPerSec"), MedianLifetimeMs = DN(r, "medianLifetimeMs"),
            P99LifetimeMs = DN(r, "p99LifetimeMs"), ClosedByLocal = I0(r, "closedByLocal"), ClosedByPeer = I0(r, "closedByPeer"),
            ResetsSent = I0(r, "resetsSent"), ResetsReceived = I0(r, "resetsReceived"), UnreadDataResets = I0(r, "unreadDataResets"),
            StatesNow = r.TryGetProperty("statesNow", out var sn) && sn.ValueKind == JsonValueKind.Object
                ? sn.EnumerateObject().ToDictionary(p => (TcpState)int.Parse(p.Name, CultureInfo.InvariantCulture), p => p.Value.GetInt32())
                : new Dictionary<TcpState, int>(),
            Loop = Loop(r, "loop"),
        }).ToList(),
        CloseWait = Arr(x, "closeWait").Select(t => new CloseWaitTrend(IN(t, "pid"), SN(t, "process"), SN(t, "netns"), I0(t, "atStart"), I0(t, "atEnd"), D(t, "seconds"))).ToList(),
    };

    private static ZkLogEvidence ZkLog(JsonElement z) => new()
    {
        Files = Strs(z, "files"), Lines = L(z, "lines"), Bytes = L(z, "bytes"), RecognisedLines = L(z, "recognisedLines"),
        UnrecognisedLines = L(z, "unrecognisedLines"), UnrecognisedSamples = Strs(z, "unrecognisedSamples"),
        OutsideWindowLines = L(z, "outsideWindowLines"), AcceptsLogged = B(z, "acceptsLogged"), First = TN(z, "first"), Last = TN(z, "last"),
        SessionsExpiredUnattributed = L(z, "sessionsExpiredUnattributed"), EndsOfStreamUnattributed = L(z, "endsOfStreamUnattributed"),
        LeadingTraceLines = L(z, "leadingTraceLines"), TimeStepsBack = L(z, "timeStepsBack"), TimeOnly = B(z, "timeOnly"),
        Clients = Arr(z, "clients").Select(c => new ZkClientStats
        {
            Ip = Address(S(c, "ip")), Accepted = L(c, "accepted"), EndOfStreamNoSession = L(c, "endOfStreamNoSession"),
            EndOfStreamWithSession = L(c, "endOfStreamWithSession"), ClosedNoSession = L(c, "closedNoSession"),
            ClosedWithSession = L(c, "closedWithSession"), Refused = L(c, "refused"), RefusedLimit = IN(c, "refusedLimit"),
            SessionAttempts = L(c, "sessionAttempts"), SessionsEstablished = L(c, "sessionsEstablished"), SessionsExpired = L(c, "sessionsExpired"),
            FourLetterWords = L(c, "fourLetterWords"), PeakPerMinute = L(c, "peakPerMinute"), FirstSeen = T(c, "firstSeen"), LastSeen = T(c, "lastSeen"),
            FirstRefused = TN(c, "firstRefused"), LastRefused = TN(c, "lastRefused"), Loop = Loop(c, "loop"),
            Ports = Arr(c, "ports").Select(p => new ZkClientPort(I0(p, "port"), T(p, "time"))).ToList(),
        }).ToList(),
        Kinds = Arr(z, "kinds").Select(k => new ZkKindStats(S(k, "kind"), L(k, "lines"), L(k, "bytes"))).ToList(),
        Timeline = Arr(z, "timeline").Select(m => new ZkMinute
        {
            Minute = T(m, "minute"), Lines = L(m, "lines"), Bytes = L(m, "bytes"), Connections = L(m, "connections"), EndsOfStream = L(m, "endsOfStream"),
            Refused = L(m, "refused"), SessionsEstablished = L(m, "sessionsEstablished"), SessionsExpired = L(m, "sessionsExpired"),
        }).ToList(),
        Layouts = Arr(z, "layouts").Select(l => new ZkFileLayout(S(l, "file"), S(l, "layout"))).ToList(),
        Servers = Arr(z, "servers").Select(s => new ZkServerLines(S(s, "server"), L(s, "lines"), TN(s, "first"), TN(s, "last"))).ToList(),
    };

    private static ZkEnsembleEvidence Zk(JsonElement z) => new()
    {
        Members = Strs(z, "members"), Watched = B(z, "watched"), Seconds = D(z, "seconds"), IntervalSeconds = D(z, "intervalSeconds"),
        Polls = I0(z, "polls"), Path = SN(z, "path"), EphemeralsKnown = B(z, "ephemeralsKnown"),
        Servers = Arr(z, "servers").Select(s => new ZkServerInfo
        {
            Member = S(s, "member"), State = State(SN(s, "state")), Reason = SN(s, "reason"), Channel = SN(s, "channel") ?? "none",
            Mode = Enum<ZkServerMode>(s, "mode"), Version = SN(s, "version"), MaxClientCnxns = IN(s, "maxClientCnxns"),
            MinSessionTimeoutMs = IN(s, "minSessionTimeoutMs"), MaxSessionTimeoutMs = IN(s, "maxSessionTimeoutMs"), TickTimeMs = IN(s, "tickTimeMs"),
            ServerId = LN(s, "serverId"),
            Connections = s.TryGetProperty("connections", out var cs) ? cs.EnumerateArray().Select(c => new ZkConnection
            {
                Client = Ep(c.GetProperty("client")), SessionId = L(c, "sessionId"), Received = L(c, "received"), Sent = L(c, "sent"),
                Queued = L(c, "queued"), LastOperation = SN(c, "lastOperation"), EstablishedUnixMs = LN(c, "establishedUnixMs"),
                SessionTimeoutMs = IN(c, "sessionTimeoutMs"), LastResponseMs = LN(c, "lastResponseMs"), LastResponseAgeMs = LN(c, "lastResponseAgeMs"),
            }).ToList() : null,
            Ephemerals = s.TryGetProperty("ephemerals", out var eph)
                ? eph.EnumerateArray().ToDictionary(x => L(x, "session"), x => (IReadOnlyList<string>)Strs(x, "paths")) : null,
            WatchesBySession = s.TryGetProperty("watchesBySession", out var wb)
                ? wb.EnumerateArray().ToDictionary(x => L(x, "session"), x => I0(x, "watches")) : null,
            Counters = s.TryGetProperty("counters", out var ctr) ? ctr.EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetInt64()) : new Dictionary<string, long>(),
            RefusedWords = Strs(s, "refusedWords"), WhitelistHint = SN(s, "whitelistHint"), MalformedLines = I0(s, "malformedLines"),
            PolledAt = s.GetProperty("polledAt").GetDateTimeOffset(), Duration = Ticks(s, "durationTicks"),
        }).ToList(),
        Clients = Arr(z, "clients").Select(c => new ZkClientOnServer
        {
            Member = S(c, "member"), Ip = Address(S(c, "ip")), Connections = I0(c, "connections"), Limit = IN(c, "limit"),
            WithSession = I0(c, "withSession"), WithoutSession = I0(c, "withoutSession"), Idle = I0(c, "idle"), NeverSpoke = I0(c, "neverSpoke"),
            Active = I0(c, "active"), Ephemerals = IN(c, "ephemerals"), Watches = IN(c, "watches"),
            OldestEstablishedUnixMs = LN(c, "oldestEstablishedUnixMs"), OldestSessionAgeMs = LN(c, "oldestSessionAgeMs"),
        }).ToList(),
        Growth = Arr(z, "growth").Select(g => new ZkClientGrowth
        {
            Ip = Address(S(g, "ip")), SessionsAtStart = I0(g, "sessionsAtStart"), SessionsAtEnd = I0(g, "sessionsAtEnd"),
            SessionsOpened = I0(g, "sessionsOpened"), SessionsClosed = I0(g, "sessionsClosed"), EphemeralsAtStart = I0(g, "ephemeralsAtStart"),
            EphemeralsAtEnd = I0(g, "ephemeralsAtEnd"), ConnectionsAtStart = I0(g, "connectionsAtStart"), ConnectionsAtEnd = I0(g, "connectionsAtEnd"),
            ConnectionsOpened = I0(g, "connectionsOpened"), ConnectionsClosed = I0(g, "connectionsClosed"),
            SessionsPerMinute = D(g, "sessionsPerMinute"), EphemeralsPerMinute = D(g, "ephemeralsPerMinute"),
            EphemeralPatterns = Arr(g, "ephemeralPatterns").Select(p => (S(p, "pattern"), I(p, "count"))).ToList(),
            OldestSessionAgeMs = LN(g, "oldestSessionAgeMs"), MonotoneShare = D(g, "monotoneShare"), Loop = Loop(g, "loop"),
            Samples = Arr(g, "samples").Select(s => new ZkSample(s[0].GetDouble(), s[1].GetInt32(), s[2].GetInt32(), s[3].GetInt32())).ToList(),
        }).ToList(),
        CounterDeltas = Arr(z, "counterDeltas").Select(c => new ZkCounterDelta(S(c, "member"), S(c, "name"), L(c, "start"), L(c, "end"))).ToList(),
        MemberChurn = Arr(z, "memberChurn").Select(c => new ZkMemberChurn(S(c, "member"), I0(c, "connectionsOpened"), I0(c, "connectionsClosed"),
            I0(c, "sessionsOpened"), I0(c, "sessionsClosed"))).ToList(),
        PathNodes = Arr(z, "pathNodes").Select(p => new ZkPathNode
        {
            Path = S(p, "path"), Owner = L(p, "owner"), CreatedUnixMs = L(p, "createdUnixMs"), Client = EpN(p, "client"), Member = SN(p, "member"),
        }).ToList(),
    };

    private static AppLogEvidence AppLogs(JsonElement a) => new()
    {
        Since = T(a, "since"),
        Processes = Arr(a, "processes").Select(x => new AppLogExcerpt
        {
            Pid = I(x, "pid"), Process = S(x, "process"),
            Files = Arr(x, "files").Select(f => new AppLogFile
            {
                Path = S(f, "path"), FoundBy = S(f, "foundBy"), Size = L(f, "size"), BytesRead = L(f, "bytesRead"), Problem = SN(f, "problem"),
            }).ToList(),
            Patterns = Arr(x, "patterns").Select(p => new AppLogPattern
            {
                Signature = S(p, "signature"), Line = S(p, "line"), Count = I(p, "count"), First = TN(p, "first"), Last = TN(p, "last"),
                File = S(p, "file"), Times = Arr(p, "times").Select(t => t.GetDateTime()).ToList(), Meaning = SN(p, "meaning"),
            }).ToList(),
            Problems = Strs(x, "problems"),
        }).ToList(),
    };

    private static ConntrackEvidence Conntrack(JsonElement c) => new()
    {
        Via = S(c, "via"), TableSize = I0(c, "tableSize"),
        Ports = Arr(c, "ports").Select(p => p.GetInt32()).ToList(),
        Entries = Arr(c, "entries").Select(e => new ConntrackEntry
        {
            Original = new ConntrackTuple(Ep(e.GetProperty("original")[0]), Ep(e.GetProperty("original")[1])),
            Reply = new ConntrackTuple(Ep(e.GetProperty("reply")[0]), Ep(e.GetProperty("reply")[1])),
            TcpState = SN(e, "tcpState"), TimeoutSeconds = I0(e, "timeoutSeconds"), Assured = B(e, "assured"),
            Zone = (ushort)I0(e, "zone"), Status = (uint)U64(e, "status"), Mark = (uint)U64(e, "mark"), NetnsIndex = I0(e, "netns"),
        }).ToList(),
    };
}
