namespace ConnDoctor.Tests.Infra;

/// <summary>Files of the repository itself (deploy/, docs/) that tests check as shipped, not copies in bin/.</summary>
public static class RepoPaths
{
    public static string Root { get; } = FindRoot();

    public static string Of(params string[] parts) => Path.Combine([Root, .. parts]);

    private static string FindRoot()
    {
        var dir = new DirectoryInfo(AppContext.BaseDirectory);
        while (dir != null && !File.Exists(Path.Combine(dir.FullName, "ConnDoctor.slnx"))) dir = dir.Parent;
        return dir?.FullName ?? throw new InvalidOperationException($"no ConnDoctor.slnx above {AppContext.BaseDirectory}");
    }
}
