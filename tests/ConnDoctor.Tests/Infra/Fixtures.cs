using System.Runtime.CompilerServices;

namespace ConnDoctor.Tests.Infra;

public static class Fixtures
{
    public static string Dir(string name) => Path.Combine(AppContext.BaseDirectory, "fixtures", name);

    /// <summary>Sockets per state from an `ss -tan` output file recorded beside a fixture.</summary>
    public static Dictionary<string, int> SsStateCounts(string file)
    {
        var counts = new Dictionary<string, int>();
        foreach (var line in File.ReadAllLines(file).Skip(1))
        {
            var state = line.Split(' ', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault();
            if (state != null) counts[state] = counts.GetValueOrDefault(state) + 1;
        }
        return counts;
    }

    /// <summary>Compares with a golden file in tests/ConnDoctor.Tests/golden; UPDATE_GOLDEN=1 rewrites it.</summary>
    public static void AssertGolden(string name, string actual, [CallerFilePath] string caller = "")
    {
        var dir = Path.Combine(Path.GetDirectoryName(caller)!, "..", "golden");
        var path = Path.Combine(dir, name);
        if (Environment.GetEnvironmentVariable("UPDATE_GOLDEN") == "1")
        {
            Directory.CreateDirectory(dir);
            File.WriteAllText(path, actual);
        }
        Assert.True(File.Exists(path), $"golden file {path} missing: run the tests once with UPDATE_GOLDEN=1 and review it");
        Assert.Equal(File.ReadAllText(path), actual);
    }
}
