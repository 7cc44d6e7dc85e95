using System.Diagnostics;
using ConnDoctor.Model;

namespace ConnDoctor.Sources.Watch;

/// <summary>
/// One tracepoint session that runs for the agent's whole life on a thread of its own, its bookkeeping cut into
/// segments: <see cref="Rotate"/> hands over the segment so far (a <see cref="WatchEvidence"/> on its own clock) and
/// starts the next one in the same trace, so nothing goes untraced while the socket tables, polls and rules run. A
/// connection open across a cut is carried into the next segment as already open (<see cref="ConnectionTracker.Rotate"/>):
/// counted opened once, closed once. Everything touching the tracker and its world runs on the trace thread; the cut
/// is made there too, between two reads.
/// </summary>
public sealed class ContinuousWatch : IDisposable
{
    private readonly TracefsSession _session;
    private readonly LiveWorld _world;
    private readonly ConnectionTracker _tracker;
    private readonly CollectOptions _collect;
    private readonly int _keep;
    private readonly Thread _thread;
    private readonly CancellationTokenSource _stop = new();
    private readonly Stopwatch _segment = Stopwatch.StartNew();
    private WatchBook _book;
    private DateTimeOffset _segmentStart;
    private long _eventsAtStart, _lostAtStart;
    private int _malformedAtStart, _guessedAtStart;
    private TaskCompletionSource<WatchEvidence>? _request;
    private Exception? _failure;

    private ContinuousWatch(TracefsSession session, CollectOptions collect, int keep)
    {
        _session = session;
        _collect = collect;
        _keep = keep;
        _book = new WatchBook(keep);
        _world = new LiveWorld(collect) { SavedTgid = session.SavedTgid, SavedComm = session.SavedComm };
        // After tracing is on: a connection is either in this table or its events are traced.
        _world.Refresh(full: true);
        _tracker = new ConnectionTracker(_world, _book) { StartOffsetMs = 0 };
        _segmentStart = DateTimeOffset.UtcNow;
        _lostAtStart = session.LostEvents();
        _thread = new Thread(Run) { IsBackground = true, Name = "agent-trace" /* /proc comm keeps 15 characters: distinct per thread */ };
    }

    /// <summary>A running watch, or null with the reason tracefs cannot be used.</summary>
    public static ContinuousWatch? TryStart(CollectOptions collect, int keepConnections, out string? reason)
    {
        reason = null;
        TracefsSession session;
        try { session = TracefsSession.Open(); }
        catch (SourceException ex) { reason = ex.Message; return null; }
        try
        {
            var w = new ContinuousWatch(session, collect, keepConnections);
            w._thread.Start();
            return w;
        }
        catch (Exception ex) { session.Dispose(); reason = ex.Message; return null; }
    }

    public bool RecordsTgid => _session.RecordsTgid;

    /// <summary>"binary" (the per-CPU ring-buffer pages) or "text" (trace_pipe); <see cref="TextReason"/> says why text.</summary>
    public string ReadFormat => _session.Reader.Format;

    /// <summary>Why the trace is read as text, not binary; null when binary.</summary>
    public string? TextReason => _session.TextReason;

    /// <summary>
    /// Ends the current segment and starts the next without a gap; the segment's CLOSE_WAIT trends are left to the
    /// caller (it has the socket tables). Throws SourceException when the trace thread failed or did not answer.
    /// </summary>
    public WatchEvidence Rotate(TimeSpan timeout)
    {
        if (_failure is { } f) throw new SourceException($"trace: {f.Message}");
        var req = new TaskCompletionSource<WatchEvidence>(TaskCreationOptions.RunContinuationsAsynchronously);
        Volatile.Write(ref _request, req);
        if (req.Task.Wait(timeout)) return req.Task.Result;
        // Withdrawn before the trace thread took it: that segment goes on into the next cut, nothing is thrown away.
        if (Interlocked.CompareExchange(ref _request, null, req) == req)
            throw new SourceException("trace: the trace thread did not hand over its segment in time (the segment goes on into the next interval)");
        // Taken: the thread is cutting (a bounded drain and the book's bookkeeping); its segment is not left unclaimed.
        if (!req.Task.Wait(timeout)) throw new SourceException("trace: the trace thread did not finish cutting its segment in time");
        return req.Task.Result;
    }

    /// <summary>How long a cut may keep reading what the kernel holds before it hands the segment over.</summary>
    private const int DrainLimitMs = 500;

    /// <summary>How often the listeners' owners are read again when nothing else asks for a table read.</summary>
    private const int ListenerRefreshMs = 15_000;

    private void Run()
    {
        var cancel = _stop.Token;
        bool first = true;
        var reader = _session.Reader;
        TraceEventHandler handle = (in TraceEvent ev) =>
        {
            if (first) { first = false; _tracker.StartOffsetMs = _segment.Elapsed.TotalMilliseconds; }
            _tracker.Handle(ev);
        };
        long nextRefresh = Environment.TickCount64 + 5000, nextListeners = Environment.TickCount64 + ListenerRefreshMs;
        try
        {
            while (!cancel.IsCancellationRequested)
            {
                int n = reader.ReadSome(handle);
                if (Volatile.Read(ref _request) is { } pending && Interlocked.CompareExchange(ref _request, null, pending) is { } req && req == pending)
                {
                    // What the kernel already holds belongs to this segment, but bounded: under a storm events arrive as fast
                    // as they are read and an unbounded drain never ends. The rest is read into the next segment.
                    long drainUntil = Environment.TickCount64 + DrainLimitMs;
                    try { while (Environment.TickCount64 < drainUntil && reader.ReadSome(handle) > 0) { } }
                    catch (Exception ex) { req.TrySetException(ex); throw; } // the trace failed: the thread ends, as below
                    try { req.SetResult(Cut()); }
                    catch (Exception ex) { req.SetException(ex); }
                    continue;
                }
                if (Environment.TickCount64 >= nextRefresh)
                {
                    // Guesses to check, and the listeners (who owns an accepted connection; a new one is read when it shows
                    // up, Listener()): a full read checks both, else the listeners alone every 15 s. Closed connections and
                    // stale connects forgotten.
                    if (_tracker.HasUnverified) { _world.Refresh(full: true); _tracker.Verify(_world.Existing); nextListeners = Environment.TickCount64 + ListenerRefreshMs; }
                    else if (Environment.TickCount64 >= nextListeners) { _world.Refresh(full: false); nextListeners = Environment.TickCount64 + ListenerRefreshMs; }
                    _tracker.Prune(_segment.Elapsed.TotalMilliseconds);
                    nextRefresh = Environment.TickCount64 + 5000;
                }
                // Read in batches: a wake-up per event costs more than the event (the kernel holds seconds of them).
                if (n < TraceReader.BacklogBytes) cancel.WaitHandle.WaitOne(TraceReader.PollMs);
            }
        }
        catch (Exception ex)
        {
            _failure = ex;
            if (Interlocked.Exchange(ref _request, null) is { } req) req.TrySetException(ex);
        }
    }

    /// <summary>On the trace thread: the segment so far, then a fresh book for the next one.</summary>
    private WatchEvidence Cut()
    {
        if (_tracker.HasUnverified) { _world.Refresh(full: true); _tracker.Verify(_world.Existing); }
        double ms = _segment.Elapsed.TotalMilliseconds, seconds = ms / 1000;
        long lost = _session.LostEvents();
        _book.Tick();
        var seg = new WatchEvidence
        {
            Mode = WatchMode.Trace,
            ModeReason = _session.TextReason is { } why ? $"trace read as text: {why}" : null,
            StartedAt = _segmentStart,
            Seconds = seconds,
            IntervalSeconds = seconds,
            Connections = _book.RecentConnections,
            Rows = _book.Rows(ms, seconds),
            EventsRead = _tracker.Events - _eventsAtStart,
            EventsLost = lost - _lostAtStart,
            MalformedLines = _session.Reader.Malformed - _malformedAtStart,
            GuessedOwners = Math.Max(0, _tracker.Guessed - _tracker.Corrected - _guessedAtStart),
            AttributedShare = _book.AttributedShare,
            AllNetns = _collect.AllNetns,
            Samples = [_book.Sample(ms)],
        };
        _tracker.Prune(ms);
        _book = new WatchBook(_keep);
        _tracker.Rotate(_book, ms);
        _segment.Restart();
        _segmentStart = _segmentStart.AddMilliseconds(ms);
        _eventsAtStart = _tracker.Events;
        _lostAtStart = lost;
        _malformedAtStart = _session.Reader.Malformed;
        _guessedAtStart = _tracker.Guessed - _tracker.Corrected;
        return seg;
    }

    public void Dispose()
    {
        _stop.Cancel();
        _thread.Join(TimeSpan.FromSeconds(5));
        _session.Dispose();
        _stop.Dispose();
    }
}
