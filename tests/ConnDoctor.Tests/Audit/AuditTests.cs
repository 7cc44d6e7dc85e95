using System.Text.Json;
using ConnDoctor.Tests.Cli;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.Audit;

/// <summary>`audit` on fixture trees captured from real namespaces (and a hand-written pre-4.12 one), zoo.cfg files, and a live namespace.</summary>
public class AuditTests
{
    private static string Dir(string name) => Path.Combine(Fixtures.Dir("audit"), name);
    private static string Cfg(string name) => Path.Combine(Fixtures.Dir("audit"), "zoo", name);

    private static Dictionary<string, (string Value, string Severity)> Settings(JsonDocument doc) =>
        doc.RootElement.GetProperty("settings").EnumerateArray().ToDictionary(
            s => s.GetProperty("setting").GetString()!, s => (s.GetProperty("value").GetString()!, s.GetProperty("severity").GetString()!));

    private static JsonElement Finding(JsonDocument doc, string setting) =>
        doc.RootElement.GetProperty("findings").EnumerateArray().Single(f => f.GetProperty("subject").GetProperty("setting").GetString() == setting);

    private static string Sysctl(string tree, string path) => File.ReadAllText(Path.Combine(Dir(tree), "sys", "net", path)).Trim();

    [Fact]
    public void ASaneHostAndConfigHaveNothingToFix()
    {
        var r = CliRunner.Run("audit", "--proc-root", Dir("sane"), "--zoo-cfg", Cfg("sane.cfg"), "--json", "--fail-on", "warning");
        Assert.True(r.Code == 0, r.Stdout + r.Stderr);
        using var doc = r.Json();
        var s = Settings(doc);
        Assert.All(s, kv => Assert.Equal("info", kv.Value.Severity));
        // The values are the files' (read back from a real kernel when the fixture was made).
        Assert.Equal(string.Join(' ', Sysctl("sane", "ipv4/ip_local_port_range").Split('\t', ' ')), s["net.ipv4.ip_local_port_range"].Value);
        Assert.Equal($"{Sysctl("sane", "ipv4/tcp_keepalive_time")} {Sysctl("sane", "ipv4/tcp_keepalive_intvl")} {Sysctl("sane", "ipv4/tcp_keepalive_probes")}", s["net.ipv4.tcp_keepalive_*"].Value);
        Assert.Equal(Sysctl("sane", "core/somaxconn"), s["net.core.somaxconn"].Value);
        Assert.Equal("60", s["zoo.cfg maxClientCnxns"].Value);
        Assert.Equal("srvr, ruok, mntr, cons", s["zoo.cfg 4lw.commands.whitelist"].Value);
        Assert.Equal(14, s.Count); // 8 kernel settings, 6 zoo.cfg ones
        Assert.False(doc.RootElement.GetProperty("socketTableRead").GetBoolean());
        Assert.Contains(doc.RootElement.GetProperty("sources").EnumerateArray(), x => x.GetProperty("source").GetString() == "sockets" && x.GetProperty("state").GetString() == "skipped");
    }

    [Fact]
    public void ADangerousHostIsCalledOutSettingBySettingWithTheRealTimeWaitCounts()
    {
        var r = CliRunner.Run("audit", "--proc-root", Dir("dangerous"), "--zoo-cfg", Cfg("dangerous.cfg"), "--json", "--fail-on", "warning");
        Assert.Equal(3, r.Code);
        using var doc = r.Json();
        var s = Settings(doc);
        Assert.Equal(("40000 41000", "critical"), s["net.ipv4.ip_local_port_range"]);
        int tw = int.Parse(File.ReadAllText(Path.Combine(Dir("dangerous"), "ss-time-wait-count.txt")).Trim()); // ss's count when the table was captured
        var ports = Finding(doc, "net.ipv4.ip_local_port_range").GetProperty("evidence").EnumerateArray().Select(e => e.GetString()!).ToList();
        Assert.Contains(ports, e => e.StartsWith($"now: {tw} TIME_WAIT towards 127.0.0.1:2181 = {tw * 100.0 / 1001:0}% of the range"));
        Assert.Contains(ports, e => e.Contains("clientPort = 40500 lies inside the range"));
        Assert.Equal("warning", s["net.ipv4.tcp_keepalive_*"].Severity);
        Assert.Contains("2h11m", Finding(doc, "net.ipv4.tcp_keepalive_*").GetProperty("summary").GetString());
        Assert.Equal(("3", "warning"), s["net.ipv4.tcp_retries2"]);
        Assert.Equal(("128", "warning"), s["net.core.somaxconn"]);
        Assert.Equal(("4096", "warning"), s["net.ipv4.tcp_max_tw_buckets"]);
        Assert.Equal(("0", "warning"), s["zoo.cfg maxClientCnxns"]);
        Assert.Equal(("*", "warning"), s["zoo.cfg 4lw.commands.whitelist"]);
        Assert.Equal(("NettyServerCnxnFactory", "warning"), s["zoo.cfg serverCnxnFactory"]);
        Assert.Equal("critical", s["zoo.cfg session timeouts"].Severity); // "key: value" and "key value" lines were read
        Assert.Contains("refuses to start", Finding(doc, "zoo.cfg session timeouts").GetProperty("summary").GetString());
        Assert.Contains("not TIME_WAIT", Finding(doc, "net.ipv4.tcp_fin_timeout").GetProperty("summary").GetString());
        // Netty asks the kernel for somaxconn as its backlog and never sets SO_KEEPALIVE on client connections.
        Assert.Contains(Finding(doc, "net.core.somaxconn").GetProperty("evidence").EnumerateArray(),
            e => e.GetString()!.Contains("uses Netty, which asks for net.core.somaxconn: its client port queue is 128"));
        Assert.Equal("warning", s["zoo.cfg clientTcpKeepAlive"].Severity);
        Assert.Contains(Finding(doc, "net.ipv4.tcp_keepalive_*").GetProperty("evidence").EnumerateArray(),
            e => e.GetString()!.Contains("Netty factory, which sets no SO_KEEPALIVE"));
    }

    [Fact]
    public void ClientTcpKeepAliveIsNamedUselessUnderNetty()
    {
        var cfg = Path.Combine(Directory.CreateTempSubdirectory("cd-audit-netty").FullName, "zoo.cfg");
        File.WriteAllText(cfg, "tickTime=2000\nclientPort=2181\nserverCnxnFactory=org.apache.zookeeper.server.NettyServerCnxnFactory\nclientTcpKeepAlive=true\n");
        using var netty = CliRunner.Run("audit", "--proc-root", Dir("sane"), "--zoo-cfg", cfg, "--json").Json();
        Assert.Equal(("true", "warning"), Settings(netty)["zoo.cfg clientTcpKeepAlive"]);
        Assert.Contains("no effect with the Netty factory", Finding(netty, "zoo.cfg clientTcpKeepAlive").GetProperty("summary").GetString());

        File.WriteAllText(cfg, "tickTime=2000\nclientPort=2181\nclientTcpKeepAlive=true\n"); // the default NIO factory reads it
        using var nio = CliRunner.Run("audit", "--proc-root", Dir("sane"), "--zoo-cfg", cfg, "--json").Json();
        Assert.Equal(("true", "info"), Settings(nio)["zoo.cfg clientTcpKeepAlive"]);
        Assert.Contains(Finding(nio, "net.core.somaxconn").GetProperty("evidence").EnumerateArray(), e => e.GetString()!.Contains("Java's default of 50"));
        Directory.Delete(Path.GetDirectoryName(cfg)!, true);
    }

    [Fact]
    public void ObsoleteSettingsOnAnOldKernelAreNamedObsoleteAndHarmful()
    {
        var r = CliRunner.Run("audit", "--proc-root", Dir("obsolete"), "--json");
        Assert.True(r.Code == 0, r.Stderr);
        using var doc = r.Json();
        Assert.Equal("4.9.0-13-amd64", doc.RootElement.GetProperty("kernelRelease").GetString());
        var recycle = Finding(doc, "net.ipv4.tcp_tw_recycle");
        Assert.Equal("critical", recycle.GetProperty("severity").GetString());
        Assert.Contains("NAT", recycle.GetProperty("summary").GetString());
        Assert.Contains("removed in Linux 4.12", recycle.GetProperty("cause").GetString());
        Assert.Contains("kernel 4.9.0-13-amd64", recycle.GetProperty("evidence").EnumerateArray().Select(e => e.GetString()));
        var fin = Finding(doc, "net.ipv4.tcp_fin_timeout");
        Assert.Contains("changed from the default 60", fin.GetProperty("summary").GetString());
        Assert.Contains("did not", fin.GetProperty("remedy").GetString());
        Assert.Equal(("1", "info"), Settings(doc)["net.ipv4.tcp_tw_reuse"]);
        Assert.DoesNotContain(Settings(doc).Keys, k => k.StartsWith("zoo.cfg"));

        // Where the file is gone (4.12 and later), the advice is still named obsolete.
        using var modern = CliRunner.Run("audit", "--proc-root", Dir("sane"), "--json").Json();
        Assert.Equal(("absent", "info"), Settings(modern)["net.ipv4.tcp_tw_recycle"]);
    }

    [Fact]
    public void LongSessionsAContinuedLineAndTheAdminServerAddress()
    {
        var r = CliRunner.Run("audit", "--proc-root", Dir("sane"), "--zoo-cfg", Cfg("long-sessions.cfg"), "--json");
        using var doc = r.Json();
        var s = Settings(doc);
        Assert.Equal(("tick 3000 6000-600000 ms", "warning"), s["zoo.cfg session timeouts"]);
        Assert.Equal("srvr,mntr", s["zoo.cfg 4lw.commands.whitelist"].Value);
        Assert.Contains("127.0.0.1:9876", Finding(doc, "zoo.cfg admin.enableServer").GetProperty("summary").GetString());
        Assert.Contains("min(1024, 4096) = 1024", string.Join('\n', Finding(doc, "net.core.somaxconn").GetProperty("evidence").EnumerateArray().Select(e => e.GetString())));
    }

    [Fact]
    public void TheTerminalReportFitsEightyColumnsAndListsEverySetting()
    {
        var r = CliRunner.Run("audit", "--proc-root", Dir("dangerous"), "--zoo-cfg", Cfg("dangerous.cfg"));
        Assert.True(r.Code == 0, r.Stderr);
        Assert.All(r.Stdout.Split('\n'), l => Assert.True(l.Length <= 80, l));
        Assert.Contains("net.ipv4.ip_local_port_range       40000 41000              CRITICAL", r.Stdout);
        Assert.Contains("14 setting(s): 2 critical, 8 warning, 4 ok", r.Stdout);
    }

    [Fact]
    public void ALiveNamespaceIsAuditedWithItsOwnSysctlsAndTable()
    {
        using var ns = new TestNetns("aud");
        ns.Exec("sysctl", "-qw", "net.ipv4.ip_local_port_range=50000 50999", "net.ipv4.tcp_keepalive_time=600");
        ns.StartScenario("server", "--listen", "127.0.0.1:7000:drain");
        ns.StartScenario("good", "--connect", "127.0.0.1:7000", "--count", "0", "--churn", "127.0.0.1:7000", "--cycles", "150");
        int tw = ns.Exec("ss", "-tanH", "state", "time-wait", "dst", "127.0.0.1:7000").Split('\n', StringSplitOptions.RemoveEmptyEntries).Length;
        var r = CliRunner.Run("audit", "--netns", ns.Name, "--json");
        Assert.True(r.Code == 0, r.Stderr);
        using var doc = r.Json();
        Assert.True(doc.RootElement.GetProperty("socketTableRead").GetBoolean());
        var s = Settings(doc);
        Assert.Equal(("50000 50999", "warning"), s["net.ipv4.ip_local_port_range"]);
        Assert.StartsWith("600 ", s["net.ipv4.tcp_keepalive_*"].Value);
        Assert.Contains(Finding(doc, "net.ipv4.ip_local_port_range").GetProperty("evidence").EnumerateArray(),
            e => e.GetString()!.StartsWith($"now: {tw} TIME_WAIT towards 127.0.0.1:7000 = "));
    }

    [Fact]
    public void TwReuseIsNotCreditedWhenTimestampsAreOff()
    {
        using var ns = new TestNetns("audts");
        ns.Exec("sysctl", "-qw", "net.ipv4.tcp_tw_reuse=1", "net.ipv4.tcp_timestamps=0");
        using var doc = CliRunner.Run("audit", "--netns", ns.Name, "--json").Json();
        var ports = Finding(doc, "net.ipv4.ip_local_port_range").GetProperty("evidence").EnumerateArray().Select(e => e.GetString()!).ToList();
        Assert.DoesNotContain(ports, e => e.Contains("tcp_tw_reuse=1 lets"));     // reuse needs timestamps
        ns.Exec("sysctl", "-qw", "net.ipv4.tcp_timestamps=1");
        using var on = CliRunner.Run("audit", "--netns", ns.Name, "--json").Json();
        Assert.Contains(Finding(on, "net.ipv4.ip_local_port_range").GetProperty("evidence").EnumerateArray(), e => e.GetString()!.Contains("tcp_tw_reuse=1 lets"));
    }

    /// <summary>`audit --json` on the sane fixture host with a zoo.cfg of this text, written to a directory of its own.</summary>
    private static JsonDocument AuditWithZooCfg(string text)
    {
        var dir = Directory.CreateTempSubdirectory("cd-audit-cfg");
        try
        {
            var cfg = Path.Combine(dir.FullName, "zoo.cfg");
            File.WriteAllText(cfg, text);
            return CliRunner.Run("audit", "--proc-root", Dir("sane"), "--zoo-cfg", cfg, "--json").Json();
        }
        finally { dir.Delete(true); }
    }

    [Fact]
    public void SecureAndDynamicConfigClientPortsAreCheckedAgainstTheEphemeralRange()
    {
        using var doc = AuditWithZooCfg("tickTime=2000\nclientPort=2181\nsecureClientPort=45001\nserver.1=zk1:2888:3888:participant;0.0.0.0:45002\n");
        var ports = Finding(doc, "net.ipv4.ip_local_port_range").GetProperty("evidence").EnumerateArray().Select(e => e.GetString()!).ToList();
        Assert.Contains(ports, e => e.Contains("secureClientPort = 45001 lies inside the range"));
        Assert.Contains(ports, e => e.Contains("server.1 client port = 45002 lies inside the range"));
        Assert.DoesNotContain(ports, e => e.Contains("clientPort = 2181"));
    }

    [Fact]
    public void MinusOneSessionTimeoutsAreZooKeepersDefaults()
    {
        using var doc = AuditWithZooCfg("tickTime=2000\nclientPort=2181\nminSessionTimeout=-1\nmaxSessionTimeout=-1\n");
        Assert.Equal("tick 2000 4000-40000 ms", Settings(doc)["zoo.cfg session timeouts"].Value);   // what a real 3.8 answers in conf
    }

    [Fact] public void AMissingZooCfgIsAnError() => CliAssert.OneLineError(CliRunner.Run("audit", "--proc-root", Dir("sane"), "--zoo-cfg", "/nonexistent/zoo.cfg"), 1, "zoo.cfg /nonexistent/zoo.cfg does not exist");
    [Fact] public void ANonNumberWhereZooKeeperWantsOneIsAnError() => CliAssert.OneLineError(CliRunner.Run("audit", "--proc-root", Dir("sane"), "--zoo-cfg", Cfg("bad-number.cfg")), 1, "bad-number.cfg:3: maxClientCnxns=sixty is not a number");
    [Fact] public void ALineWithoutValueIsAnError() => CliAssert.OneLineError(CliRunner.Run("audit", "--proc-root", Dir("sane"), "--zoo-cfg", Cfg("no-value.cfg")), 1, "no-value.cfg:3: 'dataDir' has no value");
    [Fact] public void ADirectoryIsNotAZooCfg() => CliAssert.OneLineError(CliRunner.Run("audit", "--proc-root", Dir("sane"), "--zoo-cfg", Fixtures.Dir("audit")), 1, "is a directory, not a zoo.cfg");
    [Fact] public void AnEmptyZooCfgIsAnError() => CliAssert.OneLineError(CliRunner.Run("audit", "--proc-root", Dir("sane"), "--zoo-cfg", Cfg("empty.cfg")), 1, "empty.cfg is empty or not a regular file");
    [Fact] public void AnEmptyZooCfgPathIsAnError() => CliAssert.OneLineError(CliRunner.Run("audit", "--proc-root", Dir("sane"), "--zoo-cfg", ""), 1, "--zoo-cfg needs a path");
    [Fact]
    public void ADeviceIsNotReadAsAZooCfg()
    {
        var r = Shell.RunFull("timeout", ["20", BinarySmokeTests.Binary(), "audit", "--proc-root", Dir("sane"), "--zoo-cfg", "/dev/zero"], check: false);
        CliAssert.OneLineError(r, 1, "/dev/zero is empty or not a regular file");
    }
    [Fact] public void AFileAsProcRootIsAnError() => CliAssert.OneLineError(CliRunner.Run("audit", "--proc-root", Cfg("sane.cfg")), 1, "is a file, not a directory");
    [Fact] public void ProcRootAndNetnsExcludeEachOther() => CliAssert.OneLineError(CliRunner.Run("audit", "--proc-root", Dir("sane"), "--netns", "x"), 2, "--proc-root and --netns exclude each other");
    [Fact] public void AMissingNamespaceIsAnError() => CliAssert.OneLineError(CliRunner.Run("audit", "--netns", "no-such-ns-here"), 1, "no network namespace named 'no-such-ns-here'");

    /// <summary>A named pipe nobody writes to would block a plain read forever; a binary file would print garbage.</summary>
    [Fact]
    public void APipeOrBinaryDataIsAOneLineErrorNotAHang()
    {
        var dir = Directory.CreateTempSubdirectory("cd-audit-odd");
        try
        {
            var fifo = Path.Combine(dir.FullName, "zoo.cfg");
            Shell.Run("mkfifo", fifo);
            // The binary, bounded by timeout(1): were the pipe opened, this would block, not fail the test process.
            var piped = Shell.RunFull("timeout", ["20", BinarySmokeTests.Binary(), "audit", "--proc-root", Dir("sane"), "--zoo-cfg", fifo], check: false);
            CliAssert.OneLineError(piped, 1, "is empty or not a regular file");
            var binary = Path.Combine(dir.FullName, "binary.cfg");
            File.WriteAllBytes(binary, [.. "tickTime=2000\n"u8, 0x7f, 0x45, 0x4c, 0x46, 0x02, 0x01, 0x01, 0xff, 0xfe, (byte)'\n']);
            var r = CliRunner.Run("audit", "--proc-root", Dir("sane"), "--zoo-cfg", binary);
            CliAssert.OneLineError(r, 1, "binary.cfg:2: binary data: this is not a zoo.cfg");
            Assert.DoesNotContain('\uFFFD', r.Stderr);
        }
        finally { dir.Delete(true); }
    }

    [Fact] public void AMissingProcRootIsAnError() => CliAssert.OneLineError(CliRunner.Run("audit", "--proc-root", "/nonexistent/proc"), 1, "proc root /nonexistent/proc does not exist");

    [Fact]
    public void AProcRootWithoutSettingsIsAnError()
    {
        var empty = Directory.CreateTempSubdirectory("cd-audit");
        try { CliAssert.OneLineError(CliRunner.Run("audit", "--proc-root", empty.FullName), 1, "no TCP settings readable under"); }
        finally { empty.Delete(true); }
    }

    [Fact]
    public void AnUnreadableProcRootIsAOneLineError()
    {
        var dir = Directory.CreateTempSubdirectory("cd-audit-locked");
        try
        {
            Shell.Run("cp", "-r", Path.Combine(Dir("sane"), "sys"), dir.FullName);
            Shell.Run("chmod", "700", dir.FullName);
            var r = Shell.RunFull("setpriv", ["--reuid=65534", "--regid=65534", "--clear-groups", BinarySmokeTests.Binary(), "audit", "--proc-root", dir.FullName], check: false);
            Assert.Equal(1, r.Code);
            Assert.Equal($"conndoctor: no TCP settings readable under {dir.FullName}/sys/net/ipv4 (not a proc tree, or no permission)\n", r.Stderr);
        }
        finally { dir.Delete(true); }
    }
}
