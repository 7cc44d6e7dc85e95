using System.Diagnostics;
using System.Text.Json;
using ConnDoctor.Tests.Cli;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.Watch;

/// <summary>The NativeAOT binary: Ctrl-C (SIGINT) ends a watch normally, with findings, and removes the trace instance; --all-netns labels namespaces.</summary>
[Collection("watch")]
public class WatchBinaryTests
{
    private static List<string> InstancesOf(int pid) =>
        WatchTraceFixture.TracefsMounts().Where(m => Directory.Exists(Path.Combine(m, "instances")))
            .SelectMany(m => Directory.GetDirectories(Path.Combine(m, "instances"), $"conndoctor-{pid}")).ToList();

    [Fact]
    public async Task SigintStopsTheWatchPrintsTheFindingsAndRemovesTheInstance()
    {
        using var ns = new TestNetns("wsig");
        ns.StartScenario("server", "--listen", "127.0.0.1:2181:drain");
        var churner = ns.StartScenario("pace", "--connect", "127.0.0.1:2181", "--rate", "40", "--seconds", "30", "--start-after", "0.1");
        bool mountedBefore = WatchTraceFixture.TracefsMounts().Count > 0;
        var psi = new ProcessStartInfo(BinarySmokeTests.Binary()) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { "watch", "--json", "--mode", "trace", "--netns", ns.Name }) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var sw = Stopwatch.StartNew();
        while (InstancesOf(p.Id).Count == 0 && sw.Elapsed < TimeSpan.FromSeconds(10) && !p.HasExited) Thread.Sleep(20);
        Assert.NotEmpty(InstancesOf(p.Id));
        Thread.Sleep(2500);
        Shell.Run("kill", "-INT", p.Id.ToString());
        Assert.True(p.WaitForExit(10_000), "watch did not stop on SIGINT");
        Assert.True(p.ExitCode == 0, p.StandardError.ReadToEnd());
        Assert.Empty(InstancesOf(p.Id));
        if (!mountedBefore) Assert.Empty(WatchTraceFixture.TracefsMounts());
        using var doc = JsonDocument.Parse(await stdout);
        Assert.Contains(doc.RootElement.GetProperty("findings").EnumerateArray(),
            f => f.GetProperty("ruleId").GetString() == "reconnect-storm" && f.GetProperty("subject").GetProperty("pid").GetInt32() == churner.Id);
    }

    [Fact]
    public void AllNetnsLabelsEachConnectionWithItsNamespace()
    {
        using var ns = new TestNetns("wall");
        ns.StartScenario("server", "--listen", "127.0.0.1:2181:drain");
        var churner = ns.StartScenario("pace", "--connect", "127.0.0.1:2181", "--rate", "20", "--seconds", "30", "--start-after", "0.1");
        var (code, stdout, stderr) = Shell.RunFull(BinarySmokeTests.Binary(), ["watch", "--json", "--all-netns", "--duration", "2s"], check: false);
        Assert.True(code == 0, stderr);
        using var doc = JsonDocument.Parse(stdout);
        var row = Assert.Single(doc.RootElement.GetProperty("watch").GetProperty("rows").EnumerateArray(),
            r => r.TryGetProperty("pid", out var pid) && pid.GetInt32() == churner.Id);
        Assert.Equal(ns.Name, row.GetProperty("netns").GetString());
        Assert.True(row.GetProperty("opened").GetInt32() >= 20);
    }
}
