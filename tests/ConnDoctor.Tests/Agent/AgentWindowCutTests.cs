using System.Text;
using ConnDoctor.Agent;
using ConnDoctor.Model;
using ConnDoctor.Sources.Watch;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.Agent;

/// <summary>
/// The agent cuts its one trace into segments and joins them into a window: whatever the cut, the window must say what
/// one uncut watch of the same events says. Events: trace lines captured on this kernel (fixtures/trace/trace_pipe-6.18.txt:
/// a client that closes first, one that closes with data unread and whose reset (TCP_ABORT_ON_CLOSE) the kernel traces
/// after the close, an IPv6 connect refused), cut between every two lines and at every pair of places.
/// </summary>
public class AgentWindowCutTests
{
    private sealed class World : IWatchWorld
    {
        public ConnectionOwner? Task(int tid, int traceTgid, string printedComm) => new() { Pid = tid, Comm = "python3", Uid = 0, NetnsInode = 42, Netns = "test" };
        public ConnectionOwner? Listener(NetEndpoint local) => new() { Pid = 29338, Comm = "python3", Uid = 0, NetnsInode = 42, Netns = "test" };
        public ConnectionOwner? Existing(NetEndpoint local, NetEndpoint remote) => null;
        public bool Watched(ulong netnsInode) => netnsInode == 42;
    }

    private static readonly DateTimeOffset Start = new(2026, 12, 7, 12, 0, 0, TimeSpan.Zero);

    private static List<TraceEvent> Events() =>
        File.ReadAllLines(Path.Combine(Fixtures.Dir("trace"), "trace_pipe-6.18.txt"))
            .Select(l => TraceLineParser.TryParse(Encoding.UTF8.GetBytes(l), out var ev) ? ev : throw new FormatException(l)).ToList();

    private static WatchEvidence Segment(WatchBook book, DateTimeOffset startedAt, double ms) => new()
    {
        Mode = WatchMode.Trace, StartedAt = startedAt, Seconds = ms / 1000, IntervalSeconds = ms / 1000,
        Connections = book.RecentConnections, Rows = book.Rows(ms, ms / 1000),
    };

    /// <summary>The events through one tracker, cut (a new book, as ContinuousWatch.Cut does) before each event index in <paramref name="cuts"/>.</summary>
    private static List<WatchEvidence> Run(List<TraceEvent> events, params int[] cuts) => RunKeeping(events, 50_000, cuts);

    /// <summary>As above, each segment's book keeping only its <paramref name="keep"/> most recent connections.</summary>
    private static List<WatchEvidence> RunKeeping(List<TraceEvent> events, int keep, params int[] cuts)
    {
        var book = new WatchBook(keep);
        var t = new ConnectionTracker(new World(), book) { StartOffsetMs = 0 };
        var segments = new List<WatchEvidence>();
        var at = Start;
        for (int i = 0; i < events.Count; i++)
        {
            if (cuts.Contains(i))
            {
                // Halfway between the two events, on the tracker's clock of the segment under way.
                double ms = t.NowMs((events[i - 1].TimestampSec + events[i].TimestampSec) / 2);
                segments.Add(Segment(book, at, ms));
                at = at.AddMilliseconds(ms);
                book = new WatchBook(keep);
                t.Rotate(book, ms);
            }
            t.Handle(events[i]);
        }
        double end = t.NowMs(events[^1].TimestampSec + 1);
        segments.Add(Segment(book, at, end));
        return segments;
    }

    private static List<string> RowFacts(WatchEvidence w) => w.Rows.Select(r =>
        $"{r.Endpoint} passive={r.Passive} pid={r.Pid} opens={r.Opens} closes={r.Closes} local={r.ClosedByLocal} peer={r.ClosedByPeer} " +
        $"rstSent={r.ResetsSent} rstRecv={r.ResetsReceived} unread={r.UnreadDataResets} median={r.MedianLifetimeMs:0.###} p99={r.P99LifetimeMs:0.###} " +
        $"opensPerSec={r.OpensPerSec:0.###} closesPerSec={r.ClosesPerSec:0.###} loop={r.Loop?.Total}/{r.Loop?.Failed}/{r.Loop?.Count} " +
        $"states={string.Join(",", r.StatesNow.OrderBy(s => s.Key).Select(s => $"{s.Key}:{s.Value}"))}").Order().ToList();

    private static List<string> ConnectionFacts(WatchEvidence w) => w.Connections.Select(c =>
        $"{c.Local}->{c.Remote} opened={c.OpenedMs:0.###} closed={c.ClosedMs:0.###} by={c.ClosedBy} state={c.State} " +
        $"rstSent={c.ResetsSent} rstRecv={c.ResetsReceived} cause={c.ResetCause}").Order().ToList();

    private static List<string> CounterFacts(IEnumerable<WatchEvidence> segments)
    {
        var counters = new ConnectionCounters(100, TimeSpan.FromHours(1), _ => true);
        foreach (var s in segments) counters.Add(s.Rows, (_, _) => "", Start);
        return counters.Families().SelectMany(f => f.Samples.Select(x => $"{f.Name}{{{string.Join(",", x.Values)}}} {x.Value}")).Order().ToList();
    }

    private static void AssertSameAsUncut(List<TraceEvent> events, WatchEvidence whole, params int[] cuts)
    {
        var segments = Run(events, cuts);
        var window = WindowMerger.Merge(segments, 100_000)!;
        string where = $"cut before event(s) {string.Join(", ", cuts)}";
        Assert.True(RowFacts(whole).SequenceEqual(RowFacts(window)), $"{where}: rows\n{string.Join("\n", RowFacts(whole))}\nvs\n{string.Join("\n", RowFacts(window))}");
        Assert.True(ConnectionFacts(whole).SequenceEqual(ConnectionFacts(window)), $"{where}: connections\n{string.Join("\n", ConnectionFacts(whole))}\nvs\n{string.Join("\n", ConnectionFacts(window))}");
        Assert.True(CounterFacts([whole]).SequenceEqual(CounterFacts(segments)), $"{where}: counters\n{string.Join("\n", CounterFacts([whole]))}\nvs\n{string.Join("\n", CounterFacts(segments))}");
    }

    [Fact]
    public void OneCutAnywhereGivesTheUncutWindow()
    {
        var events = Events();
        var whole = Assert.Single(Run(events));
        Assert.Contains(whole.Connections, c => c.ResetsSent == 1 && c.ResetCause == ResetCause.UnreadData && c.ClosedBy == ClosedBy.LocalReset);
        for (int k = 1; k < events.Count; k++) AssertSameAsUncut(events, whole, k);
    }

    [Fact]
    public void TwoCutsAnywhereGiveTheUncutWindow()
    {
        var events = Events();
        var whole = Assert.Single(Run(events));
        for (int a = 1; a < events.Count; a++)
            for (int b = a + 1; b < events.Count; b++) AssertSameAsUncut(events, whole, a, b);
    }

    [Fact]
    public void SegmentsThatKeepOneConnectionEachStillGiveTheUncutRowsAndCounters()
    {
        // The window's rows and the counters come from the books' tallies, not from the connections the segments kept.
        var events = Events();
        var whole = Assert.Single(Run(events));
        Assert.True(whole.Connections.Count > 2, "the fixture has several connections");
        for (int a = 1; a < events.Count; a++)
            for (int b = a + 1; b < events.Count; b++)
            {
                var segments = RunKeeping(events, 1, a, b);
                Assert.All(segments, s => Assert.True(s.Connections.Count <= 1));
                var window = WindowMerger.Merge(segments, 1)!;
                string where = $"cut before events {a}, {b}, one connection kept";
                Assert.True(RowFacts(whole).SequenceEqual(RowFacts(window)), $"{where}: rows\n{string.Join("\n", RowFacts(whole))}\nvs\n{string.Join("\n", RowFacts(window))}");
                Assert.True(CounterFacts([whole]).SequenceEqual(CounterFacts(segments)), $"{where}: counters");
                Assert.True(window.Connections.Count <= 1);
            }
    }

    [Fact]
    public void AResetTracedAfterTheCloseAcrossACutCountsOnceOnItsConnection()
    {
        var events = Events();
        int reset = events.FindIndex(e => e.Kind == TraceEventKind.SendReset && e.Reason == "TCP_ABORT_ON_CLOSE");
        int close = events.FindIndex(e => e.Kind == TraceEventKind.SetState && e.NewState == TcpState.Close && e.Src == events[reset].Src);
        Assert.True(close >= 0 && reset > close, "the fixture has the abort's reset traced after its close");
        var segments = Run(events, reset);
        // The reset is in the second segment, on a record of the connection closed in the first ...
        var listed = Assert.Single(segments[1].Connections, c => c.ResetsSent > 0);
        Assert.Null(listed.OpenedMs);
        Assert.Null(listed.ClosedMs);
        // ... and the window has it on that one connection, counted once.
        var window = WindowMerger.Merge(segments, 100_000)!;
        var c = Assert.Single(window.Connections, x => x.Remote.Port == listed.Remote.Port && x.Local.Port == listed.Local.Port);
        Assert.Equal(1, c.ResetsSent);
        Assert.Equal(ResetCause.UnreadData, c.ResetCause);
        Assert.NotNull(c.ClosedMs);
        Assert.Equal(1, window.Rows.Where(r => !r.Passive).Sum(r => r.UnreadDataResets));
    }
}
