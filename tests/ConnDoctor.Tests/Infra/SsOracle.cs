using System.Text.RegularExpressions;

namespace ConnDoctor.Tests.Infra;

/// <summary>iproute2's ss as the oracle: what it reports for the same namespace is the truth our output must match.</summary>
public static partial class SsOracle
{
    /// <summary>Sockets per state as `ss -tan` prints them (ESTAB, TIME-WAIT, ...).</summary>
    public static Dictionary<string, int> StateCounts(TestNetns ns)
    {
        var counts = new Dictionary<string, int>();
        foreach (var line in ns.Exec("ss", "-tan").Split('\n').Skip(1))
        {
            var state = line.Split(' ', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault();
            if (state == null) continue;
            counts[state] = counts.GetValueOrDefault(state) + 1;
        }
        return counts;
    }

    /// <summary>(local, peer, pid) for every socket `ss -tanp` joins to a process.</summary>
    public static HashSet<(string Local, string Peer, int Pid)> Owners(TestNetns ns)
    {
        var set = new HashSet<(string, string, int)>();
        foreach (var line in ns.Exec("ss", "-tanpH").Split('\n'))
        {
            var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length < 6) continue;
            foreach (Match m in PidRegex().Matches(line)) set.Add((f[3], f[4], int.Parse(m.Groups[1].Value)));
        }
        return set;
    }

    [GeneratedRegex(@"pid=(\d+)")]
    private static partial Regex PidRegex();
}
