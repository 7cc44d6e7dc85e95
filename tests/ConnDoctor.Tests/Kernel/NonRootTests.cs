using System.Text.Json;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.Kernel;

/// <summary>The binary run as an unprivileged user (setpriv to nobody): it says what it cannot see and carries on.</summary>
public class NonRootTests
{
    private static string Binary => Path.Combine(FindRoot(), "artifacts", "conndoctor");

    private static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (!File.Exists(Path.Combine(dir!.FullName, "ConnDoctor.slnx"))) dir = dir.Parent;
        return dir.FullName;
    }

    private static string[] AsNobody(params string[] args) => ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", Binary, .. args];

    [Fact]
    public void WithoutRootOwnersAreMissingAndTheReportSaysSoButTheLeakIsStillFound()
    {
        using var ns = new TestNetns("nr");
        ns.StartScenario("server", "--listen", "127.0.0.1:9001:close");
        ns.StartScenario("leaky", "--connect", "127.0.0.1:9001", "--count", "15");
        var r = Shell.RunFull("ip", ["netns", "exec", ns.Name, .. AsNobody("diagnose", "--json")], check: false);
        Assert.True(r.Code == 0, r.Stderr);
        using var doc = JsonDocument.Parse(r.Stdout);
        var processes = doc.RootElement.GetProperty("sources").EnumerateArray().Single(s => s.GetProperty("source").GetString() == "processes");
        Assert.Equal("partial", processes.GetProperty("state").GetString());
        Assert.Contains("belong to other users", processes.GetProperty("reason").GetString());
        var leak = doc.RootElement.GetProperty("findings").EnumerateArray().Single(f => f.GetProperty("ruleId").GetString() == "close-wait-leak");
        Assert.False(leak.GetProperty("subject").TryGetProperty("pid", out _));
        Assert.Contains("uid 0 (owner not visible: run as root)", leak.GetProperty("summary").GetString());
    }

    [Fact]
    public void WatchWithoutRootStillTellsAcceptedConnectionsFromOutgoingOnes()
    {
        // Root's listener and clients; nobody cannot see the listener's owner, but the listener is there.
        using var ns = new TestNetns("nrw");
        ns.StartScenario("server", "--listen", "127.0.0.1:9002:drain");
        ns.StartScenario("good", "--connect", "127.0.0.1:9002", "--count", "3");
        Thread.Sleep(500);
        var r = Shell.RunFull("ip", ["netns", "exec", ns.Name, .. AsNobody("watch", "--json", "--duration", "1s", "--interval", "250ms")], check: false);
        Assert.True(r.Code == 0, r.Stderr);
        using var doc = JsonDocument.Parse(r.Stdout);
        var rows = doc.RootElement.GetProperty("watch").GetProperty("rows").EnumerateArray().ToList();
        Assert.Contains(rows, x => x.GetProperty("direction").GetString() == "inbound");
        Assert.All(rows.Where(x => x.GetProperty("direction").GetString() == "outbound"),
            x => Assert.Equal("127.0.0.1:9002", x.GetProperty("endpoint").GetString()));
    }

    [Fact]
    public void EnteringANamespaceWithoutRootIsAOneLineError()
    {
        using var ns = new TestNetns("nr2");
        var r = Shell.RunFull(AsNobody()[0], [.. AsNobody("sockets", "--netns", ns.Name)[1..]], check: false);
        Assert.Equal(1, r.Code);
        Assert.Equal($"conndoctor: entering network namespace /run/netns/{ns.Name} needs root (CAP_SYS_ADMIN)\n", r.Stderr);
    }
}
