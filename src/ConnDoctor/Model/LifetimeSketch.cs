namespace ConnDoctor.Model;

/// <summary>
/// Connection lifetimes (ms) of one row in one segment, in a summary that joins with other segments' and stays small
/// whatever the churn: the values themselves while there are at most <see cref="ExactValues"/>, then counts in
/// logarithmic buckets (a bucket spans a factor of <see cref="Gamma"/>, so a percentile read from them is within
/// <see cref="RelativeError"/> of a value of that rank: the DDSketch idea). About 20 buckets cover one decade: a row's
/// lifetimes from 1 ms to a day fit in under 200 of them.
/// </summary>
public sealed class LifetimeSketch
{
    /// <summary>Values kept as they are before the buckets take over (a join stays exact while all parts are and their sum is below <see cref="ExactJoined"/>).</summary>
    public const int ExactValues = 256;
    public const int ExactJoined = 4096;
    public const double RelativeError = 0.01;
    private static readonly double Gamma = (1 + RelativeError) / (1 - RelativeError);
    private static readonly double LogGamma = Math.Log(Gamma);
    /// <summary>Lifetimes at or below this (ms) share one bucket read as 0.</summary>
    private const double Floor = 0.001;
    private const int ZeroBucket = int.MinValue;

    private List<double>? _values = new();
    private Dictionary<int, long>? _buckets;

    public long Count { get; private set; }
    public bool Exact => _values != null;

    public void Add(double ms)
    {
        Count++;
        if (_values != null)
        {
            _values.Add(ms);
            if (_values.Count > ExactValues) ToBuckets();
            return;
        }
        AddBucket(ms, 1);
    }

    private static int Bucket(double ms) => ms <= Floor ? ZeroBucket : (int)Math.Ceiling(Math.Log(ms) / LogGamma);

    private void AddBucket(double ms, long n)
    {
        _buckets ??= new();
        int b = Bucket(ms);
        _buckets[b] = _buckets.GetValueOrDefault(b) + n;
    }

    private void ToBuckets()
    {
        _buckets ??= new();
        foreach (var v in _values!) AddBucket(v, 1);
        _values = null;
    }

    public LifetimeSketch Clone()
    {
        var c = new LifetimeSketch { Count = Count, _values = _values == null ? null : new List<double>(_values) };
        if (_buckets != null) c._buckets = new Dictionary<int, long>(_buckets);
        return c;
    }

    /// <summary>Adds another part's lifetimes; exact while both are and the sum stays within <see cref="ExactJoined"/>.</summary>
    public void Join(LifetimeSketch other)
    {
        if (other.Count == 0) return;
        Count += other.Count;
        if (_values != null && other._values != null && _values.Count + other._values.Count <= ExactJoined)
        {
            _values.AddRange(other._values);
            return;
        }
        if (_values != null) ToBuckets();
        if (other._values != null) foreach (var v in other._values) AddBucket(v, 1);
        else foreach (var (b, n) in other._buckets!) _buckets![b] = _buckets.GetValueOrDefault(b) + n;
    }

    /// <summary>The nearest-rank percentile (as <see cref="NearestRank"/> of the values); null when empty.</summary>
    public double? Percentile(double p)
    {
        if (Count == 0) return null;
        if (_values != null)
        {
            // As the book's own percentiles: its lifetimes are floats.
            var sorted = _values.Select(v => (float)v).ToArray();
            Array.Sort(sorted);
            return NearestRank(sorted, p);
        }
        long rank = Math.Clamp((long)Math.Ceiling(p * Count) - 1, 0, Count - 1), seen = 0;
        foreach (var b in _buckets!.Keys.Order())
        {
            seen += _buckets[b];
            if (seen > rank) return b == ZeroBucket ? 0 : 2 * Math.Pow(Gamma, b) / (Gamma + 1);
        }
        return null;
    }

    /// <summary>The nearest-rank percentile of sorted values: the value at rank ceil(p * n).</summary>
    public static double NearestRank(float[] sorted, double p) => sorted[Math.Clamp((int)Math.Ceiling(p * sorted.Length) - 1, 0, sorted.Length - 1)];
}
