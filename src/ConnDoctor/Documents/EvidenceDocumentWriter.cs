using System.IO.Compression;
using System.Reflection;
using System.Text.Json;
using ConnDoctor.Model;

namespace ConnDoctor.Documents;

/// <summary>
/// Writes one host's <see cref="Evidence"/> as an evidence document (docs/collect.md): versioned JSON, every part that
/// `diagnose` reads, so that the same rules run on it elsewhere. Raw facts, never payload bytes. Streamed with
/// <see cref="Utf8JsonWriter"/> (NativeAOT, no reflection); the socket table is written as rows of values in a fixed
/// column order (the <c>socketColumns</c> header names them) to keep 100k sockets small and fast to read back.
/// </summary>
public static class EvidenceDocumentWriter
{
    public const string Kind = "conndoctor-evidence";
    /// <summary>Bumped when a field changes meaning or disappears; a reader refuses other versions with one line.</summary>
    public const int SchemaVersion = 1;

    /// <summary>The socket row's columns, in order (written into every document, read by position).</summary>
    public static readonly string[] SocketColumns =
        ["family", "state", "local", "remote", "recvQ", "sendQ", "timer", "timerMs", "timerRetransmits", "uid", "inode",
         "cookie", "interface", "netns", "owners", "tcpInfo"];

    /// <summary>The tcp_info array's fields, in order.</summary>
    public static readonly string[] TcpInfoColumns =
        ["caState", "retransmits", "probes", "backoff", "options", "rtoUs", "unacked", "lost", "retrans", "lastDataSentMs",
         "lastDataRecvMs", "lastAckRecvMs", "rttUs", "rttVarUs", "totalRetrans", "bytesAcked", "bytesReceived", "bytesSent"];

    public static string ToolVersion { get; } =
        typeof(EvidenceDocumentWriter).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "unknown";

    /// <summary>Writes the document to a file: gzip'd when the name ends in .gz.</summary>
    public static void WriteFile(Evidence evidence, string path, bool redact = true)
    {
        using var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 16);
        if (path.EndsWith(".gz", StringComparison.OrdinalIgnoreCase))
        {
            using var gz = new GZipStream(file, CompressionLevel.Fastest, leaveOpen: true);
            Write(evidence, gz, redact);
        }
        else Write(evidence, file, redact);
    }

    /// <summary>
    /// The document of <paramref name="evidence"/> into <paramref name="output"/> (left open). <paramref name="redact"/>:
    /// every command line passes through <see cref="CommandLineText.Masked"/> again (the sources mask already; this
    /// also covers evidence built elsewhere); false writes them as the evidence holds them.
    /// </summary>
    public static void Write(Evidence evidence, Stream output, bool redact = true)
    {
        using var w = new Utf8JsonWriter(output, new JsonWriterOptions { SkipValidation = true });
        string Cmd(string c) => redact ? CommandLineText.Masked(c) : c;
        string? CmdN(string? c) => c == null ? null : Cmd(c);

        w.WriteStartObject();
        w.WriteString("kind", Kind);
        w.WriteNumber("schemaVersion", SchemaVersion);
        w.WriteString("tool", "conndoctor");
        w.WriteString("toolVersion", ToolVersion);
        w.WriteBoolean("redacted", redact);
        w.WriteString("host", evidence.Host);
        w.WriteString("collectedAt", evidence.CollectedAt);
        w.WriteBoolean("ownersIncomplete", evidence.OwnersIncomplete);
        if (evidence.Identity is { } id) WriteIdentity(w, id);

        w.WriteStartArray("statuses");
        foreach (var s in evidence.Statuses) WriteStatus(w, s);
        w.WriteEndArray();

        w.WriteStartArray("namespaces");
        foreach (var n in evidence.Namespaces)
        {
            w.WriteStartObject();
            w.WriteString("label", n.Label);
            w.WriteNumber("inode", n.Inode);
            Str(w, "path", n.Path);
            Str(w, "container", n.Container);
            Str(w, "podUid", n.PodUid);
            WriteSysctls(w, "sysctls", n.Sysctls);
            w.WriteEndObject();
        }
        w.WriteEndArray();

        w.WriteStartArray("processes");
        foreach (var p in evidence.Processes.Values.OrderBy(p => p.Pid))
        {
            w.WriteStartObject();
            w.WriteNumber("pid", p.Pid);
            w.WriteString("name", p.Name);
            w.WriteString("commandLine", Cmd(p.CommandLine));
            w.WriteNumber("uid", p.Uid);
            Str(w, "cgroup", p.Cgroup);
            Str(w, "containerId", p.ContainerId);
            Str(w, "podUid", p.PodUid);
            w.WriteNumber("netnsInode", p.NetnsInode);
            Str(w, "podName", p.PodName);
            Str(w, "podNamespace", p.PodNamespace);
            Str(w, "containerName", p.ContainerName);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.Flush();

        WriteSockets(w, evidence.Sockets);

        if (evidence.Settings is { } st) WriteSettings(w, st);
        if (evidence.Discovery is { } d) WriteDiscovery(w, d, CmdN);
        if (evidence.Watch is { } watch) WriteWatch(w, watch, CmdN);
        if (evidence.ZkLog is { } zl) WriteZkLog(w, zl);
        if (evidence.Zk is { } zk) WriteZk(w, zk);
        if (evidence.AppLogs is { } al) WriteAppLogs(w, al);
        if (evidence.Conntrack is { } ct) WriteConntrack(w, ct);
        w.WriteEndObject();
        w.Flush();
    }

    private static void Flush64K(Utf8JsonWriter w)
    {
        if (w.BytesPending > 64 * 1024) w.Flush();
    }

    internal static void Str(Utf8JsonWriter w, string name, string? value)
    {
        if (value != null) w.WriteString(name, value);
    }

    private static void Num(Utf8JsonWriter w, string name, int? value)
    {
        if (value is int v) w.WriteNumber(name, v);
    }

    private static void Num(Utf8JsonWriter w, string name, long? value)
    {
        if (value is long v) w.WriteNumber(name, v);
    }

    private static void Num(Utf8JsonWriter w, string name, double? value)
    {
        if (value is double v) Dbl(w, name, v);
    }

    /// <summary>JSON has no NaN or infinity (a rate over zero seconds): such a value is written as null, read back as 0.</summary>
    private static void Dbl(Utf8JsonWriter w, string name, double value)
    {
        if (double.IsFinite(value)) w.WriteNumber(name, value);
        else w.WriteNull(name);
    }

    private static void Time(Utf8JsonWriter w, string name, DateTime? value)
    {
        if (value is DateTime v) w.WriteString(name, v);
    }

    private static void Strings(Utf8JsonWriter w, string name, IEnumerable<string> values)
    {
        w.WriteStartArray(name);
        foreach (var v in values) w.WriteStringValue(v);
        w.WriteEndArray();
    }

    /// <summary>"10.0.0.1:2181" or "[fe80::1]:2181", written without a string in between.</summary>
    internal static void Endpoint(Utf8JsonWriter w, NetEndpoint ep)
    {
        Span<char> buf = stackalloc char[72];
        int n = 0;
        if (ep.Address.IsV6) buf[n++] = '[';
        ep.Address.TryFormat(buf[n..], out int a);
        n += a;
        if (ep.Address.IsV6) buf[n++] = ']';
        buf[n++] = ':';
        ep.Port.TryFormat(buf[n..], out int p);
        w.WriteStringValue(buf[..(n + p)]);
    }

    private static void Endpoint(Utf8JsonWriter w, string name, NetEndpoint ep)
    {
        w.WritePropertyName(name);
        Endpoint(w, ep);
    }

    private static void WriteStatus(Utf8JsonWriter w, SourceStatus s)
    {
        w.WriteStartObject();
        w.WriteString("source", s.Source);
        w.WriteString("state", SourceStatus.StateName(s.State));
        Str(w, "reason", s.Reason);
        w.WriteNumber("items", s.Items);
        w.WriteNumber("durationTicks", s.Duration.Ticks);
        w.WriteEndObject();
    }

    private static void WriteIdentity(Utf8JsonWriter w, HostIdentity id)
    {
        w.WriteStartObject("identity");
        w.WriteString("hostname", id.Hostname);
        Str(w, "bootId", id.BootId);
        w.WriteString("collectionStart", id.CollectionStart);
        w.WriteString("collectionEnd", id.CollectionEnd);
        Strings(w, "problems", id.Problems);
        w.WriteStartArray("namespaces");
        foreach (var n in id.Namespaces)
        {
            w.WriteStartObject();
            w.WriteString("netns", n.Netns);
            w.WriteNumber("inode", n.Inode);
            w.WriteStartArray("addresses");
            foreach (var a in n.Addresses)
            {
                w.WriteStartObject();
                w.WriteString("interface", a.Interface);
                w.WriteString("address", a.Address.ToString());
                w.WriteNumber("prefixLength", a.PrefixLength);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static void WriteSysctls(Utf8JsonWriter w, string name, Sysctls s)
    {
        w.WriteStartObject(name);
        Num(w, "localPortLow", s.LocalPortLow);
        Num(w, "localPortHigh", s.LocalPortHigh);
        Num(w, "tcpTwReuse", s.TcpTwReuse);
        Num(w, "tcpFinTimeout", s.TcpFinTimeout);
        Num(w, "tcpMaxTwBuckets", s.TcpMaxTwBuckets);
        Num(w, "keepaliveTime", s.KeepaliveTime);
        Num(w, "keepaliveIntvl", s.KeepaliveIntvl);
        Num(w, "keepaliveProbes", s.KeepaliveProbes);
        w.WriteBoolean("tcpTwRecycleExists", s.TcpTwRecycleExists);
        Num(w, "tcpTwRecycle", s.TcpTwRecycle);
        Num(w, "tcpTimestamps", s.TcpTimestamps);
        Num(w, "tcpRetries2", s.TcpRetries2);
        Num(w, "somaxconn", s.Somaxconn);
        w.WriteEndObject();
    }

    private static void WriteSockets(Utf8JsonWriter w, IReadOnlyList<SocketRecord> sockets)
    {
        Strings(w, "socketColumns", SocketColumns);
        Strings(w, "tcpInfoColumns", TcpInfoColumns);
        w.WriteStartArray("sockets");
        // A row is formatted straight into bytes and handed over whole: a tenth of the writer's per-value cost, and
        // the table is most of the document.
        var row = new byte[1024];
        foreach (var s in sockets)
        {
            // At most ~700 bytes without owners (two IPv6 endpoints, every number at its longest), 23 per owner.
            int need = 768 + 24 * s.Owners.Length;
            if (row.Length < need) row = new byte[need];
            int n = SocketRow(s, row);
            w.WriteRawValue(row.AsSpan(0, n), skipInputValidation: true);
            Flush64K(w);
        }
        w.WriteEndArray();
    }

    /// <summary>One socket as a JSON array in <see cref="SocketColumns"/> order; returns the bytes written.</summary>
    internal static int SocketRow(SocketRecord s, Span<byte> b)
    {
        int n = 0;
        void Put(byte c, Span<byte> b) => b[n++] = c;
        void U(ulong v, Span<byte> b) { System.Buffers.Text.Utf8Formatter.TryFormat(v, b[n..], out int k); n += k; }
        void Ep(NetEndpoint ep, Span<byte> b)
        {
            b[n++] = (byte)'"';
            if (ep.Address.IsV6) b[n++] = (byte)'[';
            Span<char> chars = stackalloc char[64];
            ep.Address.TryFormat(chars, out int a);
            for (int i = 0; i < a; i++) b[n++] = (byte)chars[i];
            if (ep.Address.IsV6) b[n++] = (byte)']';
            b[n++] = (byte)':';
            U(ep.Port, b);
            b[n++] = (byte)'"';
        }
        Put((byte)'[', b);
        U((ulong)s.Family, b); Put((byte)',', b);
        U((ulong)s.State, b); Put((byte)',', b);
        Ep(s.Local, b); Put((byte)',', b);
        Ep(s.Remote, b); Put((byte)',', b);
        U(s.RecvQueue, b); Put((byte)',', b);
        U(s.SendQueue, b); Put((byte)',', b);
        U((ulong)s.Timer, b); Put((byte)',', b);
        U(s.TimerExpiresMs, b); Put((byte)',', b);
        U(s.TimerRetransmits, b); Put((byte)',', b);
        U(s.Uid, b); Put((byte)',', b);
        U(s.Inode, b); Put((byte)',', b);
        U(s.Cookie, b); Put((byte)',', b);
        U(s.Interface, b); Put((byte)',', b);
        U((ulong)s.NetnsIndex, b); Put((byte)',', b);
        Put((byte)'[', b);
        for (int i = 0; i < s.Owners.Length; i++)
        {
            if (i > 0) Put((byte)',', b);
            U((ulong)s.Owners[i].Pid, b); Put((byte)',', b);
            U((ulong)s.Owners[i].Fd, b);
        }
        Put((byte)']', b); Put((byte)',', b);
        if (s.Info is TcpInfo t)
        {
            Put((byte)'[', b);
            Span<ulong> v = [t.CaState, t.Retransmits, t.Probes, t.Backoff, t.Options, t.RtoUs, t.Unacked, t.Lost, t.Retrans,
                         t.LastDataSentMs, t.LastDataRecvMs, t.LastAckRecvMs, t.RttUs, t.RttVarUs, t.TotalRetrans,
                         t.BytesAcked, t.BytesReceived, t.BytesSent];
            for (int i = 0; i < v.Length; i++)
            {
                if (i > 0) Put((byte)',', b);
                U(v[i], b);
            }
            Put((byte)']', b);
        }
        else { Put((byte)'n', b); Put((byte)'u', b); Put((byte)'l', b); Put((byte)'l', b); }
        Put((byte)']', b);
        return n;
    }

    private static void WriteSettings(Utf8JsonWriter w, SettingsEvidence s)
    {
        w.WriteStartObject("settings");
        w.WriteString("origin", s.Origin);
        WriteSysctls(w, "sysctls", s.Sysctls);
        Str(w, "kernelRelease", s.KernelRelease);
        if (s.ZooCfg != null) WriteZooCfg(w, "zooCfg", s.ZooCfg);
        w.WriteBoolean("socketTableRead", s.SocketTableRead);
        w.WriteEndObject();
    }

    private static void WriteZooCfg(Utf8JsonWriter w, string name, ZooCfg c)
    {
        w.WriteStartObject(name);
        w.WriteString("path", c.Path);
        w.WriteStartArray("entries");
        foreach (var e in c.Entries.Values.OrderBy(e => e.Line))
        {
            w.WriteStartObject();
            w.WriteString("key", e.Key);
            w.WriteString("value", e.Value);
            w.WriteNumber("line", e.Line);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static void WriteDiscovery(Utf8JsonWriter w, DiscoveryEvidence d, Func<string?, string?> cmd)
    {
        w.WriteStartObject("discovery");
        w.WriteStartArray("servers");
        foreach (var s in d.Servers)
        {
            w.WriteStartObject();
            w.WriteNumber("pid", s.Pid);
            w.WriteString("mainClass", s.MainClass);
            Str(w, "launcher", s.Launcher);
            Str(w, "netns", s.Netns);
            Str(w, "configPath", s.ConfigPath);
            Str(w, "configFoundBy", s.ConfigFoundBy);
            Str(w, "dynamicConfigPath", s.DynamicConfigPath);
            if (s.Config != null) WriteZooCfg(w, "config", s.Config);
            w.WriteNumber("netnsInode", s.NetnsInode);
            w.WriteStartArray("configuredClientPorts");
            foreach (var p in s.ConfiguredClientPorts)
            {
                w.WriteStartObject();
                Str(w, "address", p.Address);
                w.WriteNumber("port", p.Port);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartArray("clientEndpoints");
            foreach (var e in s.ClientEndpoints) Endpoint(w, e);
            w.WriteEndArray();
            Str(w, "clientEndpointsFoundBy", s.ClientEndpointsFoundBy);
            if (s.AdminEndpoint is NetEndpoint admin) Endpoint(w, "adminEndpoint", admin);
            Str(w, "logFile", s.LogFile);
            Str(w, "logFoundBy", s.LogFoundBy);
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
            w.WriteString("commandLine", cmd(c.CommandLine));
            Str(w, "netns", c.Netns);
            Strings(w, "servers", c.Servers);
            w.WriteNumber("connections", c.Connections);
            w.WriteBoolean("toLocalServer", c.ToLocalServer);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartArray("listeners");
        foreach (var l in d.Listeners)
        {
            w.WriteStartObject();
            w.WriteString("local", l.Local);
            Num(w, "pid", l.Pid);
            Str(w, "process", l.Process);
            Str(w, "netns", l.Netns);
            w.WriteNumber("connections", l.Connections);
            w.WriteStartArray("busiestPeers");
            foreach (var (peer, n) in l.BusiestPeers)
            {
                w.WriteStartObject();
                w.WriteString("peer", peer);
                w.WriteNumber("connections", n);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        w.WriteEndArray();
        Strings(w, "problems", d.Problems);
        w.WriteEndObject();
    }

    private static void WriteLoop(Utf8JsonWriter w, string name, LoopStats? l)
    {
        if (l == null) return;
        w.WriteStartObject(name);
        w.WriteNumber("count", l.Count);
        Dbl(w, "firstMs", l.FirstMs);
        Dbl(w, "lastMs", l.LastMs);
        w.WriteBoolean("ongoing", l.Ongoing);
        w.WriteNumber("total", l.Total);
        w.WriteNumber("failed", l.Failed);
        w.WriteNumber("gapsMeasured", l.GapsMeasured);
        Dbl(w, "medianGapMs", l.MedianGapMs);
        Dbl(w, "p10GapMs", l.P10GapMs);
        Dbl(w, "p90GapMs", l.P90GapMs);
        Num(w, "periodMs", l.PeriodMs);
        w.WriteNumber("probes", l.Probes);
        w.WriteEndObject();
    }

    private static void WriteWatch(Utf8JsonWriter w, WatchEvidence x, Func<string?, string?> cmd)
    {
        w.WriteStartObject("watch");
        w.WriteString("mode", x.Mode.ToString());
        Str(w, "modeReason", x.ModeReason);
        w.WriteString("startedAt", x.StartedAt);
        Dbl(w, "seconds", x.Seconds);
        Dbl(w, "intervalSeconds", x.IntervalSeconds);
        w.WriteNumber("eventsRead", x.EventsRead);
        Num(w, "eventsLost", x.EventsLost);
        w.WriteNumber("malformedLines", x.MalformedLines);
        w.WriteNumber("guessedOwners", x.GuessedOwners);
        Dbl(w, "attributedShare", x.AttributedShare);
        w.WriteBoolean("allNetns", x.AllNetns);
        w.WriteStartArray("connections");
        foreach (var c in x.Connections)
        {
            w.WriteStartObject();
            Endpoint(w, "local", c.Local);
            Endpoint(w, "remote", c.Remote);
            w.WriteBoolean("passive", c.Passive);
            Num(w, "pid", c.Pid);
            Str(w, "comm", c.Comm);
            Str(w, "commandLine", cmd(c.CommandLine));
            Num(w, "tid", c.Tid);
            Str(w, "thread", c.Thread);
            w.WriteBoolean("ownerExited", c.OwnerExited);
            w.WriteBoolean("pidIsTask", c.PidIsTask);
            if (c.Uid is uint uid) w.WriteNumber("uid", uid);
            w.WriteNumber("netnsInode", c.NetnsInode);
            Str(w, "netns", c.Netns);
            Str(w, "container", c.Container);
            Str(w, "pod", c.Pod);
            Num(w, "openedMs", c.OpenedMs);
            Dbl(w, "firstSeenMs", c.FirstSeenMs);
            Num(w, "closedMs", c.ClosedMs);
            w.WriteString("closedBy", c.ClosedBy.ToString());
            w.WriteNumber("state", (int)c.State);
            w.WriteNumber("resetsSent", c.ResetsSent);
            w.WriteNumber("resetsReceived", c.ResetsReceived);
            w.WriteString("resetCause", c.ResetCause.ToString());
            w.WriteNumber("lastRecvQueue", c.LastRecvQueue);
            w.WriteEndObject();
            Flush64K(w);
        }
        w.WriteEndArray();
        w.WriteStartArray("rows");
        foreach (var r in x.Rows)
        {
            w.WriteStartObject();
            Num(w, "pid", r.Pid);
            Str(w, "process", r.Process);
            Str(w, "commandLine", cmd(r.CommandLine));
            Strings(w, "threads", r.Threads);
            w.WriteBoolean("ownerExited", r.OwnerExited);
            w.WriteBoolean("pidIsTask", r.PidIsTask);
            if (r.Uid is uint uid) w.WriteNumber("uid", uid);
            Str(w, "netns", r.Netns);
            Str(w, "container", r.Container);
            Str(w, "pod", r.Pod);
            w.WriteBoolean("passive", r.Passive);
            w.WriteString("endpoint", r.Endpoint);
            w.WriteNumber("remotePort", r.RemotePort);
            w.WriteNumber("localPort", r.LocalPort);
            w.WriteNumber("opens", r.Opens);
            w.WriteNumber("closes", r.Closes);
            Dbl(w, "opensPerSec", r.OpensPerSec);
            Dbl(w, "closesPerSec", r.ClosesPerSec);
            Num(w, "medianLifetimeMs", r.MedianLifetimeMs);
            Num(w, "p99LifetimeMs", r.P99LifetimeMs);
            w.WriteNumber("closedByLocal", r.ClosedByLocal);
            w.WriteNumber("closedByPeer", r.ClosedByPeer);
            w.WriteNumber("resetsSent", r.ResetsSent);
            w.WriteNumber("resetsReceived", r.ResetsReceived);
            w.WriteNumber("unreadDataResets", r.UnreadDataResets);
            w.WriteStartObject("statesNow");
            foreach (var (state, n) in r.StatesNow) w.WriteNumber(((int)state).ToString(System.Globalization.CultureInfo.InvariantCulture), n);
            w.WriteEndObject();
            WriteLoop(w, "loop", r.Loop);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartArray("closeWait");
        foreach (var t in x.CloseWait)
        {
            w.WriteStartObject();
            Num(w, "pid", t.Pid);
            Str(w, "process", t.Process);
            Str(w, "netns", t.Netns);
            w.WriteNumber("atStart", t.AtStart);
            w.WriteNumber("atEnd", t.AtEnd);
            Dbl(w, "seconds", t.Seconds);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static void WriteZkLog(Utf8JsonWriter w, ZkLogEvidence z)
    {
        w.WriteStartObject("zkLog");
        Strings(w, "files", z.Files);
        w.WriteNumber("lines", z.Lines);
        w.WriteNumber("bytes", z.Bytes);
        w.WriteNumber("recognisedLines", z.RecognisedLines);
        w.WriteNumber("unrecognisedLines", z.UnrecognisedLines);
        Strings(w, "unrecognisedSamples", z.UnrecognisedSamples);
        w.WriteNumber("outsideWindowLines", z.OutsideWindowLines);
        w.WriteBoolean("acceptsLogged", z.AcceptsLogged);
        Time(w, "first", z.First);
        Time(w, "last", z.Last);
        w.WriteNumber("sessionsExpiredUnattributed", z.SessionsExpiredUnattributed);
        w.WriteNumber("endsOfStreamUnattributed", z.EndsOfStreamUnattributed);
        w.WriteNumber("leadingTraceLines", z.LeadingTraceLines);
        w.WriteNumber("timeStepsBack", z.TimeStepsBack);
        w.WriteBoolean("timeOnly", z.TimeOnly);
        w.WriteStartArray("clients");
        foreach (var c in z.Clients)
        {
            w.WriteStartObject();
            w.WriteString("ip", c.Ip.ToString());
            w.WriteNumber("accepted", c.Accepted);
            w.WriteNumber("endOfStreamNoSession", c.EndOfStreamNoSession);
            w.WriteNumber("endOfStreamWithSession", c.EndOfStreamWithSession);
            w.WriteNumber("closedNoSession", c.ClosedNoSession);
            w.WriteNumber("closedWithSession", c.ClosedWithSession);
            w.WriteNumber("refused", c.Refused);
            Num(w, "refusedLimit", c.RefusedLimit);
            w.WriteNumber("sessionAttempts", c.SessionAttempts);
            w.WriteNumber("sessionsEstablished", c.SessionsEstablished);
            w.WriteNumber("sessionsExpired", c.SessionsExpired);
            w.WriteNumber("fourLetterWords", c.FourLetterWords);
            w.WriteNumber("peakPerMinute", c.PeakPerMinute);
            w.WriteString("firstSeen", c.FirstSeen);
            w.WriteString("lastSeen", c.LastSeen);
            Time(w, "firstRefused", c.FirstRefused);
            Time(w, "lastRefused", c.LastRefused);
            WriteLoop(w, "loop", c.Loop);
            if (c.Ports.Count > 0)
            {
                w.WriteStartArray("ports");
                foreach (var p in c.Ports)
                {
                    w.WriteStartObject();
                    w.WriteNumber("port", p.Port);
                    w.WriteString("time", p.Time);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
            }
            w.WriteEndObject();
            Flush64K(w);
        }
        w.WriteEndArray();
        w.WriteStartArray("kinds");
        foreach (var k in z.Kinds)
        {
            w.WriteStartObject();
            w.WriteString("kind", k.Kind);
            w.WriteNumber("lines", k.Lines);
            w.WriteNumber("bytes", k.Bytes);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartArray("timeline");
        foreach (var m in z.Timeline)
        {
            w.WriteStartObject();
            w.WriteString("minute", m.Minute);
            w.WriteNumber("lines", m.Lines);
            w.WriteNumber("bytes", m.Bytes);
            w.WriteNumber("connections", m.Connections);
            w.WriteNumber("endsOfStream", m.EndsOfStream);
            w.WriteNumber("refused", m.Refused);
            w.WriteNumber("sessionsEstablished", m.SessionsEstablished);
            w.WriteNumber("sessionsExpired", m.SessionsExpired);
            w.WriteEndObject();
            Flush64K(w);
        }
        w.WriteEndArray();
        w.WriteStartArray("layouts");
        foreach (var l in z.Layouts)
        {
            w.WriteStartObject();
            w.WriteString("file", l.File);
            w.WriteString("layout", l.Layout);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartArray("servers");
        foreach (var s in z.Servers)
        {
            w.WriteStartObject();
            w.WriteString("server", s.Server);
            w.WriteNumber("lines", s.Lines);
            Time(w, "first", s.First);
            Time(w, "last", s.Last);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static void WriteZk(Utf8JsonWriter w, ZkEnsembleEvidence z)
    {
        w.WriteStartObject("zk");
        Strings(w, "members", z.Members);
        w.WriteBoolean("watched", z.Watched);
        Dbl(w, "seconds", z.Seconds);
        Dbl(w, "intervalSeconds", z.IntervalSeconds);
        w.WriteNumber("polls", z.Polls);
        Str(w, "path", z.Path);
        w.WriteBoolean("ephemeralsKnown", z.EphemeralsKnown);
        w.WriteStartArray("servers");
        foreach (var s in z.Servers)
        {
            w.WriteStartObject();
            w.WriteString("member", s.Member);
            w.WriteString("state", SourceStatus.StateName(s.State));
            Str(w, "reason", s.Reason);
            w.WriteString("channel", s.Channel);
            w.WriteString("mode", s.Mode.ToString());
            Str(w, "version", s.Version);
            Num(w, "maxClientCnxns", s.MaxClientCnxns);
            Num(w, "minSessionTimeoutMs", s.MinSessionTimeoutMs);
            Num(w, "maxSessionTimeoutMs", s.MaxSessionTimeoutMs);
            Num(w, "tickTimeMs", s.TickTimeMs);
            Num(w, "serverId", s.ServerId);
            if (s.Connections != null)
            {
                w.WriteStartArray("connections");
                foreach (var c in s.Connections)
                {
                    w.WriteStartObject();
                    Endpoint(w, "client", c.Client);
                    w.WriteNumber("sessionId", c.SessionId);
                    w.WriteNumber("received", c.Received);
                    w.WriteNumber("sent", c.Sent);
                    w.WriteNumber("queued", c.Queued);
                    Str(w, "lastOperation", c.LastOperation);
                    Num(w, "establishedUnixMs", c.EstablishedUnixMs);
                    Num(w, "sessionTimeoutMs", c.SessionTimeoutMs);
                    Num(w, "lastResponseMs", c.LastResponseMs);
                    Num(w, "lastResponseAgeMs", c.LastResponseAgeMs);
                    w.WriteEndObject();
                    Flush64K(w);
                }
                w.WriteEndArray();
            }
            if (s.Ephemerals != null)
            {
                w.WriteStartArray("ephemerals");
                foreach (var (session, paths) in s.Ephemerals)
                {
                    w.WriteStartObject();
                    w.WriteNumber("session", session);
                    Strings(w, "paths", paths);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
            }
            if (s.WatchesBySession != null)
            {
                w.WriteStartArray("watchesBySession");
                foreach (var (session, n) in s.WatchesBySession)
                {
                    w.WriteStartObject();
                    w.WriteNumber("session", session);
                    w.WriteNumber("watches", n);
                    w.WriteEndObject();
                }
                w.WriteEndArray();
            }
            w.WriteStartObject("counters");
            foreach (var (k, v) in s.Counters) w.WriteNumber(k, v);
            w.WriteEndObject();
            Strings(w, "refusedWords", s.RefusedWords);
            Str(w, "whitelistHint", s.WhitelistHint);
            w.WriteNumber("malformedLines", s.MalformedLines);
            w.WriteString("polledAt", s.PolledAt);
            w.WriteNumber("durationTicks", s.Duration.Ticks);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartArray("clients");
        foreach (var c in z.Clients)
        {
            w.WriteStartObject();
            w.WriteString("member", c.Member);
            w.WriteString("ip", c.Ip.ToString());
            w.WriteNumber("connections", c.Connections);
            Num(w, "limit", c.Limit);
            w.WriteNumber("withSession", c.WithSession);
            w.WriteNumber("withoutSession", c.WithoutSession);
            w.WriteNumber("idle", c.Idle);
            w.WriteNumber("neverSpoke", c.NeverSpoke);
            w.WriteNumber("active", c.Active);
            Num(w, "ephemerals", c.Ephemerals);
            Num(w, "watches", c.Watches);
            Num(w, "oldestEstablishedUnixMs", c.OldestEstablishedUnixMs);
            Num(w, "oldestSessionAgeMs", c.OldestSessionAgeMs);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartArray("growth");
        foreach (var g in z.Growth)
        {
            w.WriteStartObject();
            w.WriteString("ip", g.Ip.ToString());
            w.WriteNumber("sessionsAtStart", g.SessionsAtStart);
            w.WriteNumber("sessionsAtEnd", g.SessionsAtEnd);
            w.WriteNumber("sessionsOpened", g.SessionsOpened);
            w.WriteNumber("sessionsClosed", g.SessionsClosed);
            w.WriteNumber("ephemeralsAtStart", g.EphemeralsAtStart);
            w.WriteNumber("ephemeralsAtEnd", g.EphemeralsAtEnd);
            w.WriteNumber("connectionsAtStart", g.ConnectionsAtStart);
            w.WriteNumber("connectionsAtEnd", g.ConnectionsAtEnd);
            w.WriteNumber("connectionsOpened", g.ConnectionsOpened);
            w.WriteNumber("connectionsClosed", g.ConnectionsClosed);
            Dbl(w, "sessionsPerMinute", g.SessionsPerMinute);
            Dbl(w, "ephemeralsPerMinute", g.EphemeralsPerMinute);
            w.WriteStartArray("ephemeralPatterns");
            foreach (var (pattern, n) in g.EphemeralPatterns)
            {
                w.WriteStartObject();
                w.WriteString("pattern", pattern);
                w.WriteNumber("count", n);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            Num(w, "oldestSessionAgeMs", g.OldestSessionAgeMs);
            Dbl(w, "monotoneShare", g.MonotoneShare);
            WriteLoop(w, "loop", g.Loop);
            w.WriteStartArray("samples");
            foreach (var s in g.Samples)
            {
                w.WriteStartArray();
                if (double.IsFinite(s.Seconds)) w.WriteNumberValue(s.Seconds); else w.WriteNumberValue(0);
                w.WriteNumberValue(s.Sessions);
                w.WriteNumberValue(s.Ephemerals);
                w.WriteNumberValue(s.Connections);
                w.WriteEndArray();
            }
            w.WriteEndArray();
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartArray("counterDeltas");
        foreach (var c in z.CounterDeltas)
        {
            w.WriteStartObject();
            w.WriteString("member", c.Member);
            w.WriteString("name", c.Name);
            w.WriteNumber("start", c.Start);
            w.WriteNumber("end", c.End);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartArray("memberChurn");
        foreach (var c in z.MemberChurn)
        {
            w.WriteStartObject();
            w.WriteString("member", c.Member);
            w.WriteNumber("connectionsOpened", c.ConnectionsOpened);
            w.WriteNumber("connectionsClosed", c.ConnectionsClosed);
            w.WriteNumber("sessionsOpened", c.SessionsOpened);
            w.WriteNumber("sessionsClosed", c.SessionsClosed);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteStartArray("pathNodes");
        foreach (var p in z.PathNodes)
        {
            w.WriteStartObject();
            w.WriteString("path", p.Path);
            w.WriteNumber("owner", p.Owner);
            w.WriteNumber("createdUnixMs", p.CreatedUnixMs);
            if (p.Client is NetEndpoint c) Endpoint(w, "client", c);
            Str(w, "member", p.Member);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static void WriteAppLogs(Utf8JsonWriter w, AppLogEvidence a)
    {
        w.WriteStartObject("appLogs");
        w.WriteString("since", a.Since);
        w.WriteStartArray("processes");
        foreach (var x in a.Processes)
        {
            w.WriteStartObject();
            w.WriteNumber("pid", x.Pid);
            w.WriteString("process", x.Process);
            w.WriteStartArray("files");
            foreach (var f in x.Files)
            {
                w.WriteStartObject();
                w.WriteString("path", f.Path);
                w.WriteString("foundBy", f.FoundBy);
                w.WriteNumber("size", f.Size);
                w.WriteNumber("bytesRead", f.BytesRead);
                Str(w, "problem", f.Problem);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            w.WriteStartArray("patterns");
            foreach (var p in x.Patterns)
            {
                w.WriteStartObject();
                w.WriteString("signature", p.Signature);
                w.WriteString("line", p.Line);
                w.WriteNumber("count", p.Count);
                Time(w, "first", p.First);
                Time(w, "last", p.Last);
                w.WriteString("file", p.File);
                w.WriteStartArray("times");
                foreach (var t in p.Times) w.WriteStringValue(t);
                w.WriteEndArray();
                Str(w, "meaning", p.Meaning);
                w.WriteEndObject();
            }
            w.WriteEndArray();
            Strings(w, "problems", x.Problems);
            w.WriteEndObject();
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }

    private static void WriteConntrack(Utf8JsonWriter w, ConntrackEvidence c)
    {
        w.WriteStartObject("conntrack");
        w.WriteString("via", c.Via);
        w.WriteNumber("tableSize", c.TableSize);
        w.WriteStartArray("ports");
        foreach (var p in c.Ports) w.WriteNumberValue(p);
        w.WriteEndArray();
        w.WriteStartArray("entries");
        foreach (var e in c.Entries)
        {
            w.WriteStartObject();
            w.WriteStartArray("original");
            Endpoint(w, e.Original.Source);
            Endpoint(w, e.Original.Destination);
            w.WriteEndArray();
            w.WriteStartArray("reply");
            Endpoint(w, e.Reply.Source);
            Endpoint(w, e.Reply.Destination);
            w.WriteEndArray();
            Str(w, "tcpState", e.TcpState);
            w.WriteNumber("timeoutSeconds", e.TimeoutSeconds);
            w.WriteBoolean("assured", e.Assured);
            w.WriteNumber("zone", e.Zone);
            w.WriteNumber("status", e.Status);
            w.WriteNumber("mark", e.Mark);
            w.WriteNumber("netns", e.NetnsIndex);
            w.WriteEndObject();
            Flush64K(w);
        }
        w.WriteEndArray();
        w.WriteEndObject();
    }
}
