namespace ConnDoctor.Tests.Infra;

/// <summary>What every refusal must look like: the expected exit code and exactly one "conndoctor: ..." line, no trace.</summary>
public static class CliAssert
{
    public static void OneLineError(int code, string stderr, int expected, string contains)
    {
        Assert.Equal(expected, code);
        var lines = stderr.TrimEnd('\n').Split('\n');
        Assert.Single(lines);
        Assert.StartsWith("conndoctor: ", lines[0]);
        Assert.Contains(contains, lines[0]);
        Assert.DoesNotContain("   at ", stderr);
    }

    public static void OneLineError(CliRunner.Result r, int expected, string contains) => OneLineError(r.Code, r.Stderr, expected, contains);

    /// <summary>The same for the NativeAOT binary run as a process (e.g. under timeout(1) or another user).</summary>
    public static void OneLineError((int Code, string Stdout, string Stderr) r, int expected, string contains) => OneLineError(r.Code, r.Stderr, expected, contains);

    /// <summary>A --json run that exited 0 with its first source "partial" for <paramref name="reason"/>; the document, for more checks.</summary>
    public static System.Text.Json.JsonDocument PartialFirstSource(CliRunner.Result r, string reason)
    {
        Assert.True(r.Code == 0, r.Stderr);
        var doc = r.Json();
        var src = doc.RootElement.GetProperty("sources")[0];
        Assert.Equal("partial", src.GetProperty("state").GetString());
        Assert.Contains(reason, src.GetProperty("reason").GetString());
        return doc;
    }
}
