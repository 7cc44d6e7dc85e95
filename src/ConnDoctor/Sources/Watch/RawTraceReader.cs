using ConnDoctor.Native;

namespace ConnDoctor.Sources.Watch;

/// <summary>
/// The instance's per-CPU ring buffers read as pages (per_cpu/cpuN/trace_pipe_raw): the kernel copies its records out
/// instead of formatting a line per event, and <see cref="TracePageDecoder"/> reads them in place. The CPUs' events
/// are merged by time as trace_pipe merges them: each read drains every CPU (a second pass picks up what was written
/// during the first), and when a CPU had more than one read takes, the other CPUs' events after its last one wait for
/// the next read, so a connect is never handled after the transition that follows it on another CPU.
/// </summary>
public sealed class RawTraceReader : TraceReader
{
    private readonly TracePageDecoder _decoder;
    private readonly int[] _fds;
    private readonly string[] _paths;
    private readonly byte[] _page;
    private readonly List<TraceEvent> _events = new(1024);
    private readonly List<TraceEvent> _held = new();
    private readonly double[] _lastOfCpu;

    /// <summary>Pages read from one CPU per pass at most: bounds what one read holds (64 pages: about 3,400 events).</summary>
    private const int PagesPerPass = 64;

    internal RawTraceReader(TracePageDecoder decoder, int[] fds, string[] paths)
    {
        _decoder = decoder;
        _fds = fds;
        _paths = paths;
        _page = new byte[decoder.PageSize];
        _lastOfCpu = new double[fds.Length];
    }

    public override string Format => "binary";

    /// <summary>Events the kernel dropped, as counted on the pages it handed over (the per-CPU stats count them too).</summary>
    public long MissedEvents { get; private set; }

    /// <summary>Pages whose header said events were lost before them.</summary>
    public int PagesAfterLoss { get; private set; }

    public int Cpus => _fds.Length;

    public override int ReadSome(TraceEventHandler handle)
    {
        _events.Clear();
        _events.AddRange(_held);
        _held.Clear();
        int bytes = 0;
        double limit = double.PositiveInfinity;
        for (int pass = 0; pass < 2; pass++)
        {
            bool any = false;
            for (int cpu = 0; cpu < _fds.Length; cpu++)
            {
                int pages = 0;
                int before = _events.Count;
                while (pages < PagesPerPass)
                {
                    int n = ReadFd(_fds[cpu], _page, _paths[cpu]);
                    if (n == 0) break;
                    bytes += n;
                    pages++;
                    var stats = new TracePageDecoder.PageStats();
                    _decoder.Decode(_page.AsSpan(0, n), _events, ref stats);
                    Malformed += stats.Malformed;
                    MissedEvents += stats.Missed;
                    if (stats.MissedSome) PagesAfterLoss++;
                }
                if (_events.Count > before) _lastOfCpu[cpu] = _events[^1].TimestampSec;
                if (pages > 0) any = true;
                // This CPU has more than one pass reads: the others' later events wait until it is read up to them.
                if (pages == PagesPerPass) limit = Math.Min(limit, _lastOfCpu[cpu]);
            }
            if (!any || limit < double.PositiveInfinity) break;
        }
        if (_events.Count == 0) return bytes;
        // Stable by time: records of one CPU keep their order, equal times across CPUs keep the CPUs' order.
        var span = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_events);
        if (!IsSorted(span)) SortStable(span);
        foreach (ref readonly var ev in span)
        {
            if (ev.TimestampSec > limit) _held.Add(ev);
            else handle(ev);
        }
        return Math.Max(bytes, 1);
    }

    private static bool IsSorted(ReadOnlySpan<TraceEvent> s)
    {
        for (int i = 1; i < s.Length; i++) if (s[i].TimestampSec < s[i - 1].TimestampSec) return false;
        return true;
    }

    private int[] _order = [];
    private TraceEvent[] _copy = [];
    private Comparison<int>? _byTimeThenPosition;

    private void SortStable(Span<TraceEvent> s)
    {
        if (_order.Length < s.Length) { _order = new int[Math.Max(s.Length, 1024)]; _copy = new TraceEvent[_order.Length]; }
        var order = _order.AsSpan(0, s.Length);
        for (int i = 0; i < order.Length; i++) order[i] = i;
        s.CopyTo(_copy);
        // Index sort on (time, position): stable; one comparer for the reader's life, reading the current copy.
        _byTimeThenPosition ??= (a, b) => { int c = _copy[a].TimestampSec.CompareTo(_copy[b].TimestampSec); return c != 0 ? c : a.CompareTo(b); };
        order.Sort(_byTimeThenPosition);
        for (int i = 0; i < order.Length; i++) s[i] = _copy[order[i]];
    }

    public override void Dispose()
    {
        for (int i = 0; i < _fds.Length; i++)
            if (_fds[i] >= 0) { Libc.close(_fds[i]); _fds[i] = -1; }
    }
}
