using System.Text.RegularExpressions;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.Deploy;

/// <summary>
/// deploy/systemd/conndoctor-agent.service checked by systemd's own `systemd-analyze verify` (every key known and
/// parsed, the command executable) and `systemd-analyze security` (its exposure score); deploy/container/Containerfile
/// checked against the repository it builds from (no container engine runs here: see docs/fleet.md).
/// </summary>
public class ServiceUnitTests
{
    private static string Unit => RepoPaths.Of("deploy", "systemd", "conndoctor-agent.service");

    private static string SystemdAnalyze
    {
        get
        {
            Assert.True(File.Exists("/usr/bin/systemd-analyze"), "systemd-analyze is missing (Debian's systemd package)");
            return "/usr/bin/systemd-analyze";
        }
    }

    /// <summary>The unit in a temporary directory, its binary path pointed at an executable that exists here.</summary>
    private static string Staged(string text)
    {
        var dir = Directory.CreateTempSubdirectory("cd-unit").FullName;
        var path = Path.Combine(dir, "conndoctor-agent.service");
        Assert.Contains("ExecStart=/usr/local/bin/conndoctor agent", text);
        File.WriteAllText(path, text.Replace("/usr/local/bin/conndoctor", "/usr/bin/true"));
        return path;
    }

    private static (int Code, string Out) Verify(string text)
    {
        var path = Staged(text);
        try
        {
            var r = Shell.RunFull(SystemdAnalyze, ["verify", path], check: false);
            return (r.Code, (r.Stdout + r.Stderr).Trim());
        }
        finally { Directory.Delete(Path.GetDirectoryName(path)!, true); }
    }

    [Fact]
    public void SystemdVerifiesTheUnitWithoutAWord()
    {
        var (code, output) = Verify(File.ReadAllText(Unit));
        Assert.True(code == 0 && output == "", $"exit {code}: {output}");
    }

    [Theory]
    [InlineData("ProtectSystem=strict", "ProtectSystm=strict", "Unknown key")]
    [InlineData("ProtectSystem=strict", "ProtectSystem=stricter", "Failed to parse")]
    [InlineData("MemoryMax=256M", "MemoryMax=256Q", "Invalid memory limit")]
    public void AMistakeInTheUnitIsReported(string find, string replace, string expected)
    {
        string text = File.ReadAllText(Unit);
        Assert.Contains(find, text);
        var (_, output) = Verify(text.Replace(find, replace));
        Assert.Contains(expected, output, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public void TheUnitIsHardenedAndKeepsOnlyTheMeasuredCapabilities()
    {
        string text = File.ReadAllText(Unit);
        var caps = Regex.Match(text, @"(?m)^CapabilityBoundingSet=(.+)$").Groups[1].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["CAP_DAC_READ_SEARCH", "CAP_NET_ADMIN", "CAP_SYS_ADMIN", "CAP_SYS_PTRACE"], caps.Order());
        foreach (var line in new[] { "NoNewPrivileges=yes", "ProtectSystem=strict", "ReadWritePaths=/sys/kernel/tracing", "PrivateTmp=yes", "PrivateDevices=yes" })
            Assert.Contains(line + "\n", text);

        // systemd's own score of the sandbox (0 = locked down, 10 = exposed): "OK" is below 5.
        var path = Staged(text);
        try
        {
            var r = Shell.RunFull(SystemdAnalyze, ["security", "--offline=yes", path], check: false);
            var m = Regex.Match(r.Stdout, @"Overall exposure level for \S+: (\d+\.\d)");
            Assert.True(m.Success, r.Stdout + r.Stderr);
            double exposure = double.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            Assert.True(exposure < 5.0, $"exposure {exposure}: {r.Stdout}");
        }
        finally { Directory.Delete(Path.GetDirectoryName(path)!, true); }
    }

    [Fact]
    public void TheContainerfileBuildsWhatScriptsBuildShBuildsFromFilesThatExist()
    {
        string file = File.ReadAllText(RepoPaths.Of("deploy", "container", "Containerfile"));
        string build = File.ReadAllText(RepoPaths.Of("scripts", "build.sh"));
        var publish = Regex.Match(build, @"dotnet publish (\S+) -c (\S+) -r (\S+)");
        Assert.True(publish.Success, build);
        Assert.Contains($"dotnet publish {publish.Groups[1].Value} -c {publish.Groups[2].Value} -r {publish.Groups[3].Value}", file);
        foreach (Match m in Regex.Matches(file, @"(?m)^COPY (?!--from)(.+) (\S+)$"))
            foreach (var src in m.Groups[1].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries))
                Assert.True(File.Exists(RepoPaths.Of(src)) || Directory.Exists(RepoPaths.Of(src)), $"Containerfile copies {src}, which is not in the repository");
        Assert.Matches(@"(?m)^FROM \S+ AS build$", file);
        Assert.Matches(@"(?m)^ENTRYPOINT \[""/usr/local/bin/conndoctor""\]$", file);
        Assert.Contains("EXPOSE 9149", file);
        // deploy/container/try-runtime-stage.sh builds the runtime stage on a local base by rewriting these two lines.
        Assert.Matches(@"(?m)^FROM \S+ AS runtime$", file);
        Assert.Matches(@"(?m)^COPY --from=build /out/conndoctor /usr/local/bin/conndoctor$", file);
    }
}
