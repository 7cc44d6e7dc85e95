using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.Conntrack;

/// <summary>
/// `conntrack -L` (conntrack-tools, over libnetfilter_conntrack) run in a test namespace, read the simple way: one
/// line per entry, the first src/dst/sport/dport group the original direction, the second the reply. The oracle
/// the readers are checked against; deliberately not our parser.
/// </summary>
public static class ConntrackOracle
{
    public sealed record Line(string Key, string? State, int Timeout, bool Assured, bool Unreplied, int Zone, long Mark);

    /// <summary>Every TCP entry of the namespace, keyed "origSrc:port>origDst:port|replySrc:port>replyDst:port" (compressed IPv6).</summary>
    public static List<Line> List(string netns, string family = "ipv4")
    {
        var r = Shell.RunFull("ip", ["netns", "exec", netns, "conntrack", "-L", "-p", "tcp", "-f", family], check: false);
        Assert.True(r.Code == 0, r.Stderr);
        var lines = new List<Line>();
        foreach (var raw in r.Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries))
        {
            var f = raw.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            var src = f.Where(x => x.StartsWith("src=")).Select(x => x[4..]).ToList();
            var dst = f.Where(x => x.StartsWith("dst=")).Select(x => x[4..]).ToList();
            var sport = f.Where(x => x.StartsWith("sport=")).Select(x => x[6..]).ToList();
            var dport = f.Where(x => x.StartsWith("dport=")).Select(x => x[6..]).ToList();
            string state = f[3];
            lines.Add(new Line(
                Key(src[0], sport[0], dst[0], dport[0], src[1], sport[1], dst[1], dport[1]),
                state == "LISTEN" ? "SYN_SENT2" : state,   // conntrack(8)'s name for the kernel's SYN_SENT2
                int.Parse(f[2]),
                f.Contains("[ASSURED]"),
                f.Contains("[UNREPLIED]"),
                f.FirstOrDefault(x => x.StartsWith("zone=")) is { } z ? int.Parse(z[5..]) : 0,
                f.FirstOrDefault(x => x.StartsWith("mark=")) is { } m ? long.Parse(m[5..]) : 0));
        }
        return lines;
    }

    private static string Ep(string ip, string port) =>
        System.Net.IPAddress.Parse(ip) is { AddressFamily: System.Net.Sockets.AddressFamily.InterNetworkV6 } a ? $"[{a}]:{port}" : $"{ip}:{port}";

    public static string Key(string s0, string sp0, string d0, string dp0, string s1, string sp1, string d1, string dp1) =>
        $"{Ep(s0, sp0)}>{Ep(d0, dp0)}|{Ep(s1, sp1)}>{Ep(d1, dp1)}";

    public static string Key(ConnDoctor.Model.ConntrackEntry e) =>
        $"{e.Original.Source}>{e.Original.Destination}|{e.Reply.Source}>{e.Reply.Destination}";
}
