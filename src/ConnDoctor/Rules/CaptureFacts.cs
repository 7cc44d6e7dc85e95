using ConnDoctor.Analysis;
using ConnDoctor.Model;

namespace ConnDoctor.Rules;

/// <summary>Wording the capture rules share: connections, times, sizes and the subject of a client -> server pair.</summary>
internal static class CaptureFacts
{
    public const int MaxExamples = 5;

    public static string Conn(in TcpConnection c) => $"{SocketGrouper.FormatEndpoint(c.Client)} -> {SocketGrouper.FormatEndpoint(c.Server)}";

    /// <summary>Time of day with milliseconds, as an investigator finds it in tcpdump -r or a log.</summary>
    public static string At(long ns) => CaptureSummary.Time(ns, "HH:mm:ss.fff");

    public static FindingSubject Subject(NetAddress client, NetEndpoint server) =>
        new() { ClientIp = SocketGrouper.FormatHost(client), RemoteEndpoint = SocketGrouper.FormatEndpoint(server) };

    /// <summary>Events per second over the time they span (at least one second, so a burst is not overstated).</summary>
    public static double Rate(int count, long firstNs, long lastNs) => count / Math.Max(1.0, (lastNs - firstNs) / 1e9);

    public static IEnumerable<string> Examples(IEnumerable<TcpConnection> conns, int total, Func<TcpConnection, string> describe)
    {
        foreach (var c in conns.Take(MaxExamples)) yield return describe(c);
        if (total > MaxExamples) yield return $"... and {total - MaxExamples} more";
    }
}
