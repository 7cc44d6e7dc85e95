using System.Text;

namespace ConnDoctor.Tests.ZkLog;

/// <summary>One event a ZooKeeper server logs: its time, level, thread, class, source line, message and stack lines.</summary>
public sealed record ZkEvent(DateTime Time, string Level, string Thread, string Class, int SourceLine, string Message, string[] Trace);

/// <summary>
/// One incident, written as events (not as text), so that it can be rendered in every layout people run ZooKeeper
/// with: a reconnect storm from one IP (3.4 message forms, as in incident 000), refusals of another at
/// maxClientCnxns, and a few sessions, one of them expiring. The message texts are ZooKeeper's own (3.4's
/// NIOServerCnxn, NIOServerCnxnFactory and ZooKeeperServer; see fixtures/zklog/README.md).
/// </summary>
public static class ZkIncident
{
    public static readonly DateTime Start = new(2016, 9, 19, 22, 48, 0);
    private const string Nio = "NIOServerCxn.Factory:0.0.0.0/0.0.0.0:2181";

    public static List<ZkEvent> Events()
    {
        var e = new List<ZkEvent>();
        var t = Start;
        // The storm: 10.0.20.141 connects, hangs up before a session, 150 times a minute for 4 minutes.
        for (int i = 0; i < 600; i++)
        {
            t = Start.AddMilliseconds(i * 400);
            int port = 37000 + i;
            e.Add(new(t, "INFO", Nio, "NIOServerCnxnFactory", 197, $"Accepted socket connection from /10.0.20.141:{port}", []));
            e.Add(new(t.AddMilliseconds(2), "WARN", Nio, "NIOServerCnxn", 357, "caught end of stream exception",
                ["EndOfStreamException: Unable to read additional data from client sessionid 0x0, likely client has closed socket",
                 "\tat org.apache.zookeeper.server.NIOServerCnxn.doIO(NIOServerCnxn.java:228)",
                 "\tat org.apache.zookeeper.server.NIOServerCnxnFactory.run(NIOServerCnxnFactory.java:208)",
                 "\tat java.lang.Thread.run(Thread.java:745)"]));
            e.Add(new(t.AddMilliseconds(3), "INFO", Nio, "NIOServerCnxn", 1007, $"Closed socket connection for client /10.0.20.141:{port} (no session established for client)", []));
        }
        // Refusals: 10.0.20.9 at maxClientCnxns=60, 40 times in the second minute.
        for (int i = 0; i < 40; i++)
            e.Add(new(Start.AddMinutes(1).AddMilliseconds(i * 1100 + 7), "WARN", Nio, "NIOServerCnxnFactory", 193, "Too many connections from /10.0.20.9 - max is 60", []));
        // Sessions: 10.0.20.7 opens three; closes one, one client crashes (end of stream with its session), one expires.
        for (int s = 0; s < 3; s++)
        {
            var at = Start.AddSeconds(10 + s * 50);
            string id = $"0x157434bfd9a000{s + 1}";
            int port = 51000 + s;
            e.Add(new(at, "INFO", Nio, "NIOServerCnxnFactory", 197, $"Accepted socket connection from /10.0.20.7:{port}", []));
            e.Add(new(at.AddMilliseconds(5), "INFO", Nio, "ZooKeeperServer", 868, $"Client attempting to establish new session at /10.0.20.7:{port}", []));
            e.Add(new(at.AddMilliseconds(9), "INFO", "SyncThread:0", "ZooKeeperServer", 617, $"Established session {id} with negotiated timeout 30000 for client /10.0.20.7:{port}", []));
            var end = at.AddSeconds(40);
            if (s == 0) e.Add(new(end, "INFO", Nio, "NIOServerCnxn", 1007, $"Closed socket connection for client /10.0.20.7:{port} which had sessionid {id}", []));
            if (s == 1)
            {
                e.Add(new(end, "WARN", Nio, "NIOServerCnxn", 357, "caught end of stream exception",
                    [$"EndOfStreamException: Unable to read additional data from client sessionid {id}, likely client has closed socket",
                     "\tat org.apache.zookeeper.server.NIOServerCnxn.doIO(NIOServerCnxn.java:228)"]));
                e.Add(new(end.AddMilliseconds(1), "INFO", Nio, "NIOServerCnxn", 1007, $"Closed socket connection for client /10.0.20.7:{port} which had sessionid {id}", []));
                e.Add(new(end.AddSeconds(31), "INFO", "SessionTracker", "ZooKeeperServer", 347, $"Expiring session {id}, timeout of 30000ms exceeded", []));
            }
        }
        // Monitoring and noise.
        for (int i = 0; i < 4; i++)
        {
            var at = Start.AddMinutes(i).AddSeconds(30);
            e.Add(new(at, "INFO", Nio, "NIOServerCnxnFactory", 197, $"Accepted socket connection from /10.0.20.200:{60000 + i}", []));
            e.Add(new(at.AddMilliseconds(1), "INFO", Nio, "NIOServerCnxn", 827, $"Processing mntr command from /10.0.20.200:{60000 + i}", []));
            e.Add(new(at.AddMilliseconds(2), "INFO", Nio, "NIOServerCnxn", 1007, $"Closed socket connection for client /10.0.20.200:{60000 + i} (no session established for client)", []));
            e.Add(new(at.AddMilliseconds(3), "INFO", "ProcessThread(sid:0 cport:-1):", "PrepRequestProcessor", 494, "Processed session termination for sessionid: 0x157434bfd9a0001", []));
        }
        return e.OrderBy(x => x.Time).ToList();
    }

    /// <summary>The layouts and prefixes an incident is written in (name: what it imitates; see the README).</summary>
    public static readonly string[] Layouts =
    [
        "stock34", "stock38", "kafka", "strimzi", "cloudera", "hadoop", "logback-time", "log4j2-iso-t", "iso-zone",
        "json-logback", "json-logstash", "compose", "compose-kafka", "swarm", "kubectl", "docker-desktop", "journald-short",
        "journald-iso", "tai64n", "stern", "kibana-tabs", "crlf-bom",
    ];

    private static string D(DateTime t) => t.ToString("yyyy-MM-dd HH:mm:ss,fff");

    /// <summary>The message line of an event in a layout (the stack lines follow, prefixed as the layout prefixes them).</summary>
    public static string Line(ZkEvent e, string layout)
    {
        string stock = $"{D(e.Time)} [myid:] - {e.Level,-5} [{e.Thread}:{e.Class}@{e.SourceLine}] - {e.Message}";
        string fqcn = "org.apache.zookeeper.server." + e.Class;
        return layout switch
        {
            "stock34" or "crlf-bom" => stock,
            "stock38" => $"{D(e.Time)} - {e.Level,-5} [{e.Thread}:{e.Class}@{e.SourceLine}] - {e.Message}",
            "kafka" => $"[{D(e.Time)}] {e.Level} {e.Message} ({fqcn})",
            "strimzi" => $"{D(e.Time)} {e.Level} {e.Message} ({fqcn}) [{e.Thread}]",
            "cloudera" => $"{D(e.Time)} {e.Level} {fqcn}: {e.Message}",
            "hadoop" => $"{e.Time:yy/MM/dd HH:mm:ss} {e.Level} server.{e.Class}: {e.Message}",
            "logback-time" => $"{e.Time:HH:mm:ss.fff} [{e.Thread}] {e.Level,-5} o.a.z.server.{e.Class} - {e.Message}",
            "log4j2-iso-t" => $"{e.Time:yyyy-MM-ddTHH:mm:ss.fff} [{e.Thread}] {e.Level,-5} {fqcn} - {e.Message}",
            "iso-zone" => $"{e.Time:yyyy-MM-ddTHH:mm:ss,fff}+0000 [myid:1] - {e.Level,-5} [{e.Thread}:{e.Class}@{e.SourceLine}] - {e.Message}",
            "json-logback" => "{" + $"\"sequenceNumber\":0,\"timestamp\":{(long)(e.Time - DateTime.UnixEpoch).TotalMilliseconds},\"nanoseconds\":0,\"level\":\"{e.Level}\",\"threadName\":{Js(e.Thread)},\"loggerName\":\"{fqcn}\",\"context\":{{\"name\":\"default\"}},\"mdc\": {{}},\"message\":{Js(e.Message)},\"throwable\":" +
                                (e.Trace.Length > 0 ? "{\"className\":\"org.apache.zookeeper.server.ServerCnxn$EndOfStreamException\",\"message\":" + Js(e.Trace[0][(e.Trace[0].IndexOf(": ") + 2)..]) + "}" : "null") + "}",
            "json-logstash" => "{" + $"\"@timestamp\":\"{e.Time:yyyy-MM-ddTHH:mm:ss.fff}Z\",\"@version\":\"1\",\"message\":{Js(e.Message)},\"logger_name\":\"{fqcn}\",\"thread_name\":{Js(e.Thread)},\"level\":\"{e.Level}\",\"level_value\":20000" +
                                 (e.Trace.Length > 0 ? ",\"stack_trace\":" + Js(string.Join("\n", e.Trace)) : "") + "}",
            "compose" => "zookeeper-1  | " + stock,
            "compose-kafka" => "zookeeper    | " + $"[{D(e.Time)}] {e.Level} {e.Message} ({fqcn})",
            "swarm" => "solr_zookeeper.2.h0iehfydr7kh@node1    | " + stock,
            "kubectl" => $"{e.Time.AddHours(-2):yyyy-MM-ddTHH:mm:ss.fff}{(e.Time.Millisecond % 7 == 0 ? "" : "123")}Z " + stock,
            "docker-desktop" => $"{e.Time.AddHours(-4):yyyy-MM-dd HH:mm:ss} " + stock,
            "journald-short" => $"{e.Time:MMM dd HH:mm:ss} zk1 zookeeper[1234]: " + stock,
            "journald-iso" => $"{e.Time.AddHours(1):yyyy-MM-ddTHH:mm:ss}+0100 zk1 zookeeper[1234]: " + stock,
            "tai64n" => "@4000000057e06b5a2d0b1c34 " + stock,
            "stern" => "zookeeper-0 zookeeper " + stock,
            "kibana-tabs" => $"{e.Time:MMM d, yyyy @ HH:mm:ss.fff}\tzookeeper-0\t" + stock,
            _ => throw new ArgumentException(layout),
        };
    }

    /// <summary>The prefix a layout puts before each stack line (container runtimes prefix every line).</summary>
    public static string TracePrefix(ZkEvent e, string layout) => layout switch
    {
        "compose" => "zookeeper-1  | ",
        "compose-kafka" => "zookeeper    | ",
        "swarm" => "solr_zookeeper.2.h0iehfydr7kh@node1    | ",
        "kubectl" => $"{e.Time.AddHours(-2):yyyy-MM-ddTHH:mm:ss.fff}456Z ",
        "docker-desktop" => $"{e.Time.AddHours(-4):yyyy-MM-dd HH:mm:ss} ",
        "journald-short" => $"{e.Time:MMM dd HH:mm:ss} zk1 zookeeper[1234]: ",
        "journald-iso" => $"{e.Time.AddHours(1):yyyy-MM-ddTHH:mm:ss}+0100 zk1 zookeeper[1234]: ",
        "tai64n" => "@4000000057e06b5a2d0b1c35 ",
        "stern" => "zookeeper-0 zookeeper ",
        "kibana-tabs" => $"{e.Time:MMM d, yyyy @ HH:mm:ss.fff}\tzookeeper-0\t",
        _ => "",
    };

    private static string Js(string s) => System.Text.Json.JsonSerializer.Serialize(s);

    /// <summary>The incident as a file's text in <paramref name="layout"/>.</summary>
    public static byte[] Render(IEnumerable<ZkEvent> events, string layout)
    {
        var sb = new StringBuilder();
        string nl = layout == "crlf-bom" ? "\r\n" : "\n";
        foreach (var e in events)
        {
            sb.Append(Line(e, layout)).Append(nl);
            if (layout.StartsWith("json")) continue;              // the trace is a field of the object
            foreach (var t in e.Trace) sb.Append(TracePrefix(e, layout)).Append(t).Append(nl);
        }
        var bytes = Encoding.UTF8.GetBytes(sb.ToString());
        return layout == "crlf-bom" ? [0xEF, 0xBB, 0xBF, .. bytes] : bytes;
    }
}
