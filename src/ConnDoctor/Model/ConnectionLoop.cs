namespace ConnDoctor.Model;

/// <summary>
/// A client's failing connections to one endpoint, as a run: the connections that never got a session (or never
/// carried the server's data) since the last one that did. Each source says per connection when it started (or
/// ended) and whether it failed; <see cref="LoopTracker"/> keeps the run and this is what it shows at the end.
/// </summary>
public sealed record LoopStats
{
    /// <summary>Connections in the run; none got a session / data.</summary>
    public long Count { get; init; }
    /// <summary>Times of the run's first and last connection, in the source's milliseconds.</summary>
    public double FirstMs { get; init; }
    public double LastMs { get; init; }
    /// <summary>The run reaches the end of the evidence: no successful connection came after it.</summary>
    public bool Ongoing { get; init; }
    /// <summary>Every connection the source counted for this client and endpoint, and those that failed.</summary>
    public long Total { get; init; }
    public long Failed { get; init; }
    /// <summary>Gaps between consecutive connections of the run (its last <see cref="LoopTracker.KeptGaps"/>): how many, and their spread.</summary>
    public int GapsMeasured { get; init; }
    public double MedianGapMs { get; init; }
    public double P10GapMs { get; init; }
    public double P90GapMs { get; init; }
    /// <summary>The connections come at a fixed period (± a few percent): a monitor's rhythm. Null: irregular, or too few gaps to tell.</summary>
    public double? PeriodMs { get; init; }
    /// <summary>Connections in each period: 1 for one monitor; more for probes interleaved (liveness and readiness probes of one port, two monitors with different periods, whose pattern repeats every common multiple).</summary>
    public int Probes { get; init; } = 1;

    public double SpanSeconds => Math.Max(0, LastMs - FirstMs) / 1000.0;
    /// <summary>Connections per second while the run lasted (n-1 gaps over its span).</summary>
    public double RatePerSecond => Count > 1 && LastMs > FirstMs ? (Count - 1) / ((LastMs - FirstMs) / 1000.0) : 0;
    public double FailedShare => Total == 0 ? 0 : (double)Failed / Total;
}

/// <summary>
/// Follows one client's connections to one endpoint in time order: the current run of failed connections (bounded:
/// count, first, last and a ring of its last <see cref="KeptGaps"/> gaps), the longest run that a success ended, and
/// the run before the first success, so that trackers of consecutive parts of the evidence (regions of a log) join
/// into the tracker of the whole. Adding a connection allocates nothing after the ring exists.
/// </summary>
public sealed class LoopTracker
{
    public const int KeptGaps = 256;

    private sealed class Run
    {
        public long Count, Gaps;
        public double First, Last;
        public float[]? Ring;

        public void Add(double ms)
        {
            if (Count++ == 0) { First = Last = ms; return; }
            // Threads log slightly out of order: a connection before the last one counts as a gap of zero.
            double gap = Math.Max(0, ms - Last);
            Ring ??= new float[KeptGaps];
            Ring[Gaps++ % KeptGaps] = (float)gap;
            if (ms > Last) Last = ms;
        }

        /// <summary>The kept gaps, oldest first.</summary>
        public float[] Ordered()
        {
            int n = (int)Math.Min(Gaps, KeptGaps);
            var r = new float[n];
            for (int i = 0; i < n; i++) r[i] = Ring![(Gaps - n + i) % KeptGaps];
            return r;
        }

        public Run Shifted(double ms) => new() { Count = Count, Gaps = Gaps, First = First + ms, Last = Last + ms, Ring = (float[]?)Ring?.Clone() };

        /// <summary><paramref name="a"/> then <paramref name="b"/>: the gap between them joins the rings (gap number g sits at g % KeptGaps).</summary>
        public static Run Join(Run a, Run b)
        {
            if (a.Count == 0) return b;
            if (b.Count == 0) return a;
            var all = a.Ordered().Append((float)Math.Max(0, b.First - a.Last)).Concat(b.Ordered()).ToArray();
            var j = new Run { Count = a.Count + b.Count, First = a.First, Last = Math.Max(a.Last, b.Last), Gaps = a.Gaps + 1 + b.Gaps, Ring = new float[KeptGaps] };
            int m = Math.Min(all.Length, KeptGaps);
            for (int i = 0; i < m; i++) j.Ring[(j.Gaps - m + i) % KeptGaps] = all[all.Length - m + i];
            return j;
        }
    }

    private Run _current = new(), _lead = new();
    private bool _sawSuccess;
    private LoopStats? _longest;
    public long Total { get; private set; }
    public long Failed { get; private set; }

    /// <summary>One connection at <paramref name="ms"/>; <paramref name="failed"/>: it never got a session (or the server's data).</summary>
    public void Add(double ms, bool failed)
    {
        Total++;
        if (failed) { Failed++; _current.Add(ms); return; }
        Succeeded();
    }

    private void Succeeded()
    {
        if (!_sawSuccess) { _lead = _current; _sawSuccess = true; }
        Keep(_current);
        _current = new Run();
    }

    private void Keep(Run r)
    {
        if (r.Count < 2) return;
        if (_longest == null || r.Count > _longest.Count) _longest = Summary(r, ongoing: false, 0, 0);
    }

    /// <summary>A copy whose times are <paramref name="ms"/> later (a part of the evidence on another clock: a segment of the agent's trace).</summary>
    public LoopTracker Shifted(double ms) => new()
    {
        _current = _current.Shifted(ms), _lead = _lead.Shifted(ms), _sawSuccess = _sawSuccess, Total = Total, Failed = Failed,
        _longest = _longest == null ? null : _longest with { FirstMs = _longest.FirstMs + ms, LastMs = _longest.LastMs + ms },
    };

    public LoopTracker Clone() => Shifted(0);

    /// <summary>Appends the tracker of the part of the evidence that comes right after this one.</summary>
    public void Append(LoopTracker later)
    {
        Total += later.Total;
        Failed += later.Failed;
        var joined = Run.Join(_current, later._sawSuccess ? later._lead : later._current);
        if (!later._sawSuccess) { _current = joined; return; }
        if (!_sawSuccess) { _lead = joined; _sawSuccess = true; }
        Keep(joined);
        if (later._longest != null && (_longest == null || later._longest.Count > _longest.Count)) _longest = later._longest;
        _current = later._current;
    }

    /// <summary>The run that matters: the one going on at the end of the evidence, unless an earlier one (ended by a success) was longer.</summary>
    public LoopStats? Stats()
    {
        var now = _current.Count >= 2 ? Summary(_current, ongoing: true, Total, Failed) : null;
        var best = _longest != null && (now == null || _longest.Count > now.Count) ? _longest with { Total = Total, Failed = Failed } : now;
        return best;
    }

    private static LoopStats Summary(Run r, bool ongoing, long total, long failed)
    {
        var gaps = r.Ordered();
        var sorted = (float[])gaps.Clone();
        Array.Sort(sorted);
        var (period, probes) = Period(gaps);
        return new LoopStats
        {
            Count = r.Count, FirstMs = r.First, LastMs = r.Last, Ongoing = ongoing, Total = total, Failed = failed,
            GapsMeasured = gaps.Length,
            MedianGapMs = Pct(sorted, 0.5), P10GapMs = Pct(sorted, 0.1), P90GapMs = Pct(sorted, 0.9),
            PeriodMs = period, Probes = probes,
        };
    }

    /// <summary>Nearest-rank percentile of sorted gaps; 0 when there are none.</summary>
    private static double Pct(float[] s, double p) => s.Length == 0 ? 0 : s[Math.Clamp((int)Math.Ceiling(p * s.Length) - 1, 0, s.Length - 1)];
    private static double Pct(double[] s, double p) => s.Length == 0 ? 0 : s[Math.Clamp((int)Math.Ceiling(p * s.Length) - 1, 0, s.Length - 1)];

    /// <summary>Fewest gaps from which a fixed period is claimed.</summary>
    public const int MinGapsForPeriod = 8;
    /// <summary>
    /// A period is regular when the middle 80% of the gaps (p10..p90) lie within this share of the median, or within
    /// <see cref="RegularFloorMs"/> for short periods. Monitors: Kubernetes probes and load balancers tick at a fixed
    /// period (± a few ms); HAProxy's spread-checks (2-5% advised) spreads them by ±that share, p10..p90 = 0.8 x 2 x share.
    /// Backoff with jitter: the ZooKeeper Java client sleeps a uniform 0-1 s (3.4), 1-2 s with one server (3.5+: spin
    /// delay plus jitter), giving p10..p90 of 50-160% of the median; sums of several such sleeps (several servers) stay
    /// above 40%. 20% lies between the two, but a short run of random gaps lands within 20% by chance (about one run
    /// of 10 to 12 in 500): below <see cref="LooseMinGaps"/> gaps the spread must stay within <see cref="TightShare"/>,
    /// which a monitor's few ms (or HAProxy's 2-5%) still meet and a backoff's draws about never do.
    /// </summary>
    public const double RegularShare = 0.20;
    public const double TightShare = 0.10;
    public const int LooseMinGaps = 20;
    public const double RegularFloorMs = 20;
    /// <summary>
    /// Interleaved probes (a liveness and a readiness probe of one port): gap i and gap i+k may differ by at most this
    /// share of the period at p90. Kubelets and load balancers keep their own period to a few ms; two independent random
    /// sleeps of 1-2 s land within 3% of a 3 s sum of each other only one time in five, nine times in ten about never.
    /// </summary>
    public const double InterleavedShare = 0.03;
    /// <summary>
    /// Monitors with different periods from one address (a readiness probe every 2 s and a liveness probe every 10 s, a
    /// load balancer every 2 s beside a kubelet every 5 s) repeat their pattern of gaps every least common multiple of
    /// their periods: 4 to <see cref="MaxInterleaved"/> connections a cycle. A cycle is 4 or more gaps, so its sum is long;
    /// the probes' own jitter (a few ms) does not grow with it: gap i and gap i+k must agree within this share of the
    /// cycle (100 ms of a 10 s cycle), where two random backoff sleeps of 1-2 s agree one time in five.
    /// </summary>
    public const double MixedShare = 0.01;
    public const int MaxInterleaved = 8;

    /// <summary>
    /// The fixed period of the gaps, if any: first of single gaps; then probes interleaved (two or three of one port with
    /// the same period and different phases, or monitors with different periods), whose gaps repeat: gap i and gap i+k
    /// are then the same but for the probes' jitter, and k consecutive gaps add up to the period. Sums alone would not do: adding k random backoff sleeps
    /// narrows their spread by about the square root of k, so a client's 1-2 s jitter summed three at a time would
    /// pass for a monitor's fixed period.
    /// </summary>
    internal static (double? Period, int Probes) Period(float[] gaps)
    {
        if (gaps.Length < MinGapsForPeriod) return (null, 1);
        var single = gaps.Select(g => (double)g).ToArray();
        Array.Sort(single);
        double median1 = Pct(single, 0.5);
        double share1 = gaps.Length >= LooseMinGaps ? RegularShare : TightShare;
        if (median1 > 0 && Pct(single, 0.9) - Pct(single, 0.1) <= Math.Max(RegularFloorMs, share1 * median1)) return (median1, 1);
        // Times to the second (Hadoop's console layout has no milliseconds): whole-second gaps repeat in a pattern of
        // the clock's making (a loop every 400 ms reads 0, 0, 1 s, 0, 1 s, again and again), so no interleaving is claimed.
        if (Array.TrueForAll(single, g => g % 1000 == 0)) return (null, 1);
        for (int k = 2; k <= MaxInterleaved; k++)
        {
            int n = gaps.Length - k;
            if (n < MinGapsForPeriod) break;
            var diffs = new double[n];
            var sums = new double[n];
            for (int i = 0; i < n; i++)
            {
                diffs[i] = Math.Abs(gaps[i + k] - gaps[i]);
                for (int j = 0; j < k; j++) sums[i] += gaps[i + j];
            }
            Array.Sort(diffs);
            Array.Sort(sums);
            double period = Pct(sums, 0.5);
            double share = k <= 3 ? InterleavedShare : MixedShare;
            if (period > 0 && Pct(diffs, 0.9) <= Math.Max(RegularFloorMs, share * period)) return (period, k);
        }
        return (null, 1);
    }
}
