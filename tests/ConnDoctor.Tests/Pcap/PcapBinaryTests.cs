using ConnDoctor.Tests.Cli;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.Pcap;

/// <summary>The NativeAOT binary on captures: the same document as the library, and errors still in words (no resource keys).</summary>
public class PcapBinaryTests
{
    private static IEnumerable<string> Stable(string json) => json.Split('\n').Where(l => !l.Contains("collectedAt") && !l.Contains("durationMs"));

    [Fact]
    public void NativeBinaryReadsACaptureLikeTheLibrary()
    {
        var file = Path.Combine(Fixtures.Dir("pcap"), "multi-if.pcapng");
        var (code, stdout, _) = Shell.RunFull(BinarySmokeTests.Binary(), ["pcap", file, "--json"]);
        Assert.Equal(0, code);
        Assert.Equal(Stable(CliRunner.Run("pcap", file, "--json").Stdout), Stable(stdout));
    }

    [Theory]
    [InlineData("/nonexistent/x.pcap", "conndoctor: cannot read /nonexistent/x.pcap: no such file\n")]
    [InlineData("/", "conndoctor: / is a directory, not a capture file\n")]
    [InlineData("/etc/hostname", "not a pcap or pcapng capture")]
    public void NativeBinaryErrorsAreOneReadableLine(string path, string expected)
    {
        var (code, _, stderr) = Shell.RunFull(BinarySmokeTests.Binary(), ["pcap", path], check: false);
        Assert.Equal(1, code);
        Assert.Contains(expected, stderr);
        Assert.Single(stderr.TrimEnd('\n').Split('\n'));
    }
}
