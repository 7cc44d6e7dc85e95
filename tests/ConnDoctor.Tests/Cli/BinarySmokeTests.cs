using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.Cli;

/// <summary>The published NativeAOT binary, artifacts/conndoctor, as users run it (scripts/test.sh builds it first).</summary>
public class BinarySmokeTests
{
    internal static string Binary()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir != null && !File.Exists(Path.Combine(dir.FullName, "ConnDoctor.slnx"))) dir = dir.Parent;
        var path = Path.Combine(dir!.FullName, "artifacts", "conndoctor");
        Assert.True(File.Exists(path), $"{path} is missing: run scripts/build.sh (scripts/test.sh does)");
        return path;
    }

    [Fact]
    public void NativeBinaryReadsAFixtureLikeTheLibrary()
    {
        var (code, stdout, _) = Shell.RunFull(Binary(), ["sockets", "--proc-root", Fixtures.Dir("proc-scenario"), "--json"]);
        Assert.Equal(0, code);
        Assert.Equal(CliRunner.Run("sockets", "--proc-root", Fixtures.Dir("proc-scenario"), "--json").Stdout.Split('\n').Where(l => !l.Contains("collectedAt") && !l.Contains("durationMs")),
            stdout.Split('\n').Where(l => !l.Contains("collectedAt") && !l.Contains("durationMs")));
    }

    [Fact]
    public void NativeBinaryDiagnosesANamespaceAndFailsCleanly()
    {
        using var ns = new TestNetns("bin");
        ns.StartScenario("server", "--listen", "127.0.0.1:9001:close");
        var leaky = ns.StartScenario("leaky", "--connect", "127.0.0.1:9001", "--count", "11");
        var (code, stdout, stderr) = Shell.RunFull(Binary(), ["diagnose", "--netns", ns.Name, "--fail-on", "warning"], check: false);
        Assert.True(code == 3, stderr);
        Assert.Contains($"close-wait-leak  python3[{leaky.Id}]", stdout);

        var bad = Shell.RunFull(Binary(), ["sockets", "--remote", "not-an-ip"], check: false);
        Assert.Equal(2, bad.Code);
        Assert.Equal("conndoctor: bad address 'not-an-ip': give an IP address, ADDR:PORT, [IPv6]:PORT or :PORT (ports 1 to 65535)\n", bad.Stderr);
    }
}
