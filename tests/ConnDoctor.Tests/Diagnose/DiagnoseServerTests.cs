using System.Text.Json;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.Diagnose;

/// <summary>
/// `diagnose` with no paths given, on a ZooKeeper server host (a test namespace running a real ZooKeeper 3.8, its
/// clients on other loopback addresses of that namespace as other hosts): it must find the server, its configuration
/// and log by itself, and tell one story per problem.
/// </summary>
public sealed class DiagnoseServerTests
{
    private static string Script => ZooKeeperServer.Script;

    private static List<JsonElement> Findings(JsonDocument d) => d.RootElement.GetProperty("findings").EnumerateArray().ToList();

    private static bool Mentions(JsonElement f, string text) =>
        f.GetProperty("summary").GetString()!.Contains(text) || f.GetProperty("subject").ToString().Contains(text)
        || f.GetProperty("evidence").EnumerateArray().Any(l => l.GetString()!.Contains(text));

    [Fact]
    public void OnAServerHostInAStormPlainDiagnoseFindsTheServerItsLogAndConfigAndNamesTheClientAndTheMissingWhitelistLine()
    {
        using var ns = new TestNetns("dgs");
        using var zk = new ZooKeeperServer(fourLetterWords: "srvr", netns: ns, host: "127.0.0.1");
        using var healthy = new ZkClients(ns, zk.Address, "keep", "--source", "127.0.0.4", "--count", "1", "--hold", "60");
        healthy.WaitDone(60);
        // The storm: 150 connections from 127.0.0.2 that close before a session exists (a client whose setup fails, looping).
        ns.Exec(Shell.Python, Script, "nosession", "--source", "127.0.0.2", "--count", "150", "--server", zk.Address);

        var r = CliRunner.Run("diagnose", "--json", "--netns", ns.Name);
        Assert.True(r.Code == 0, r.Stderr);
        using var d = r.Json();
        var server = Assert.Single(d.RootElement.GetProperty("discovery").GetProperty("servers").EnumerateArray());
        Assert.Equal(Path.Combine(zk.Dir, "zoo.cfg"), server.GetProperty("config").GetString());
        Assert.Equal("command line", server.GetProperty("configFoundBy").GetString());
        // Two appenders of one run: the more detailed (larger) log is read, the other listed.
        Assert.Equal(zk.DebugLog, server.GetProperty("log").GetString());
        Assert.Equal([zk.InfoLog], server.GetProperty("otherLogs").EnumerateArray().Select(x => x.GetString()));
        Assert.Contains(server.GetProperty("clientEndpoints").EnumerateArray(), e => e.GetString()!.EndsWith($":{zk.Port}"));
        var healthyClient = Assert.Single(d.RootElement.GetProperty("discovery").GetProperty("clients").EnumerateArray(), c => c.GetProperty("pid").GetInt32() == healthy.Pid);
        Assert.True(healthyClient.GetProperty("toLocalServer").GetBoolean());

        // Four-letter words are refused: the report says which line to add, and still reports from the log.
        var note = Assert.Single(d.RootElement.GetProperty("notes").EnumerateArray()).GetString()!;
        Assert.Contains("4lw.commands.whitelist=ruok,srvr,conf,cons,dump,mntr,wchc", note);
        var storm = Assert.Single(Findings(d), f => f.GetProperty("ruleId").GetString() == "reconnect-storm");
        Assert.Equal("127.0.0.2", storm.GetProperty("subject").GetProperty("clientIp").GetString());
        Assert.NotEqual("info", storm.GetProperty("severity").GetString());
        Assert.Contains("zklog", storm.GetProperty("source").GetString());
        Assert.Contains("127.0.0.2", d.RootElement.GetProperty("overview").GetString());
        // Nothing is blamed on the healthy client.
        Assert.DoesNotContain(Findings(d), f => f.GetProperty("severity").GetString() != "info" && (Mentions(f, "127.0.0.4") || Mentions(f, $"[{healthy.Pid}]")));

        var text = CliRunner.Run("diagnose", "--netns", ns.Name).Stdout;
        Assert.Contains($"config {Path.Combine(zk.Dir, "zoo.cfg")} (command line)", text);
        Assert.Contains("4lw.commands.whitelist=ruok,srvr,conf,cons,dump,mntr,wchc", text.Replace("\n", " ").Replace("  ", " "));
    }

    [Fact]
    public void AtMaxClientCnxnsTheHostIsNamedOnceWithTheLogsRefusalsAndThePollsCountInOneFinding()
    {
        using var ns = new TestNetns("dgl");
        using var zk = new ZooKeeperServer(maxClientCnxns: 10, netns: ns, host: "127.0.0.1");
        using var holder = new ZkClients(ns, zk.Address, "hold", "--source", "127.0.0.3", "--count", "10", "--extra", "6", "--gap", "0.1", "--keep-open", "60");
        holder.WaitFor(l => l.Contains("held"));

        var r = CliRunner.Run("diagnose", "--json", "--netns", ns.Name);
        Assert.True(r.Code == 0, r.Stderr);
        using var d = r.Json();
        var about = Findings(d).Where(f => f.GetProperty("severity").GetString() != "info" && Mentions(f, "127.0.0.3")).ToList();
        var limit = Assert.Single(about);
        Assert.Equal("connection-limit", limit.GetProperty("ruleId").GetString());
        Assert.Equal("critical", limit.GetProperty("severity").GetString());
        // 127.0.0.3 is an address of this host: the process holding the connections is named, and its log read.
        Assert.Equal(holder.Pid, limit.GetProperty("subject").GetProperty("pid").GetInt32());
        var parts = limit.GetProperty("parts").EnumerateArray().ToList();
        Assert.Contains(parts, p => p.GetProperty("source").GetString() == "zk"
            && p.GetProperty("evidence").EnumerateArray().Any(l => l.GetString()!.StartsWith("10 connection(s) from 127.0.0.3")));
        Assert.Contains(parts, p => p.GetProperty("source").GetString() == "zklog"
            && p.GetProperty("evidence").EnumerateArray().Any(l => l.GetString()!.Contains("Too many connections from /127.0.0.3 - max is 10")));
        // The holder is this host's process: discovery names it as a client with its ten connections.
        var client = Assert.Single(d.RootElement.GetProperty("discovery").GetProperty("clients").EnumerateArray(), c => c.GetProperty("pid").GetInt32() == holder.Pid);
        Assert.Equal(10, client.GetProperty("connections").GetInt32());
    }
}
