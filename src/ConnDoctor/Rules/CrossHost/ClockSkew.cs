using ConnDoctor.Model;

namespace ConnDoctor.Rules.CrossHost;

/// <summary>
/// How far one host's clock is ahead of another's, from connections both saw open: the client's watch saw it open at
/// one time, and the server saw the same 4-tuple open (its watch) or its session established (ZooKeeper's `cons`,
/// a round trip later) at another. The median over every such connection, with the spread.
/// </summary>
public sealed record ClockSkew(TimeSpan Offset, int Connections, TimeSpan Spread)
{
    /// <summary>A skew smaller than this is not worth a note (the same host's clock, or NTP-synced hosts).</summary>
    public static readonly TimeSpan Negligible = TimeSpan.FromMilliseconds(100);

    /// <summary>"+1.250 s (median of 12 connections both saw open, spread 8 ms)".</summary>
    public override string ToString() =>
        $"{(Offset >= TimeSpan.Zero ? "+" : "-")}{Math.Abs(Offset.TotalSeconds):0.000} s (median of {Connections} connection(s) both saw open, spread {Spread.TotalMilliseconds:0} ms)";

    public static ClockSkew? Estimate(CrossHostHost server, CrossHostHost client)
    {
        if (client.Evidence.Watch is not { } cw || cw.Connections.Count == 0) return null;
        var offsets = new List<double>();
        // The server's ZooKeeper `cons`: when each session's connection was established, on the server's clock.
        foreach (var s in server.Evidence.Zk?.Servers ?? [])
            foreach (var c in s.Connections ?? [])
                if (c.EstablishedUnixMs is long est && Opened(client, cw, c.Client) is double ms)
                    offsets.Add(ms - est);
        // The server's own watch: when it accepted the connection.
        if (server.Evidence.Watch is { } sw)
            foreach (var c in sw.Connections)
                if (c.Passive && c.OpenedMs is double o && Opened(client, cw, c.Remote) is double ms)
                    offsets.Add(ms - (sw.StartedAt.ToUnixTimeMilliseconds() + o));
        if (offsets.Count == 0) return null;
        offsets.Sort();
        double median = offsets[offsets.Count / 2];
        return new ClockSkew(TimeSpan.FromMilliseconds(median), offsets.Count, TimeSpan.FromMilliseconds(offsets[^1] - offsets[0]));
    }

    /// <summary>When the client's watch saw its connection from this local end open (ms since 1970, its clock); null when it did not.</summary>
    private static double? Opened(CrossHostHost client, WatchEvidence w, NetEndpoint local)
    {
        var list = client.WatchedFrom(local);
        for (int i = list.Count - 1; i >= 0; i--)
            if (list[i].OpenedMs is double o && !list[i].Passive) return w.StartedAt.ToUnixTimeMilliseconds() + o;
        return null;
    }
}
