using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.ZkLog;

/// <summary>`zklog -` reads the log from stdin (in-process through CliIo's stdin, and the published binary through a pipe): the same per-IP table, ports and kinds as the file.</summary>
public sealed class ZkLogStdinTests
{
    [Fact]
    public void ALogOnStdinGivesTheTableOfTheFile()
    {
        string path = Path.Combine(Fixtures.Dir("zklog"), "zk38-debug.log");
        var file = CliRunner.Run("zklog", "--json", path);
        Assert.True(file.Code is 0 or 3, file.Stderr);
        using var f = file.Json();
        Assert.NotEqual(0, f.RootElement.GetProperty("clients").GetArrayLength());
        foreach (var piped in new[] { CliRunner.RunWithStdin(File.ReadAllBytes(path), "zklog", "--json", "-"), CliRunner.RunBinary(File.ReadAllBytes(path), ["zklog", "--json", "-"]) })
        {
            Assert.True(piped.Code == file.Code, piped.Stderr);
            using var p = piped.Json();
            Assert.Equal("-", Assert.Single(p.RootElement.GetProperty("files").EnumerateArray()).GetString());
            Assert.Equal("stdin", Assert.Single(p.RootElement.GetProperty("layouts").EnumerateArray()).GetProperty("file").GetString());
            foreach (var part in new[] { "clients", "kinds", "timeline", "findings" })
                Assert.Equal(f.RootElement.GetProperty(part).ToString(), p.RootElement.GetProperty(part).ToString());
        }
    }
}
