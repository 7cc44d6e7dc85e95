using ConnDoctor.Analysis;
using ConnDoctor.Model;

namespace ConnDoctor.Render;

/// <summary>What `sockets` shows: the filtered table, grouped or one row per socket.</summary>
public sealed record SocketsReport
{
    public required Evidence Evidence { get; init; }
    public required GroupBy GroupBy { get; init; }
    public required IReadOnlyList<SocketRecord> Sockets { get; init; }       // after the filter
    public IReadOnlyList<SocketGroup> Groups { get; init; } = [];           // empty for GroupBy.None

    public static SocketsReport Build(Evidence evidence, SocketFilter filter, GroupBy by)
    {
        var sockets = filter.Apply(evidence.Sockets).ToList();
        return new SocketsReport
        {
            Evidence = evidence,
            GroupBy = by,
            Sockets = sockets,
            Groups = by == GroupBy.None ? [] : SocketGrouper.Group(evidence, sockets, by),
        };
    }

    /// <summary>Sockets per state, in the order ss lists states.</summary>
    public IReadOnlyList<(TcpState State, int Count)> StateCounts()
    {
        var counts = new int[16];
        foreach (var s in Sockets) counts[(int)s.DisplayState]++;
        var list = new List<(TcpState, int)>();
        for (int i = 1; i < counts.Length; i++) if (counts[i] > 0) list.Add(((TcpState)i, counts[i]));
        return list;
    }
}
