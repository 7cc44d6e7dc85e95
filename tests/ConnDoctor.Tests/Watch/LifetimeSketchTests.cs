using ConnDoctor.Model;
using ConnDoctor.Sources.Watch;

namespace ConnDoctor.Tests.Watch;

/// <summary>
/// The agent's window joins each segment's lifetimes in a <see cref="LifetimeSketch"/>: exact while small, then within
/// 1% of the exact nearest-rank percentile (the oracle: all values sorted), and a join of parts equals the sketch of all.
/// Lifetimes drawn log-normal over seven decades (a sub-millisecond refused connect to a pooled connection of minutes).
/// </summary>
public class LifetimeSketchTests
{
    private static double[] Lifetimes(int n, int seed)
    {
        var r = new Random(seed);
        // exp(N(ln 50 ms, 3)): 0.01 ms .. minutes; some exactly 0 (closed in the same microsecond).
        return Enumerable.Range(0, n).Select(_ => r.Next(50) == 0 ? 0 : Math.Exp(Math.Log(50) + 3 * Math.Sqrt(-2 * Math.Log(1 - r.NextDouble())) * Math.Cos(2 * Math.PI * r.NextDouble()))).ToArray();
    }

    private static double Exact(double[] values, double p)
    {
        var f = values.Select(v => (float)v).ToArray();
        Array.Sort(f);
        return LifetimeSketch.NearestRank(f, p);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(37)]
    [InlineData(LifetimeSketch.ExactValues)]
    public void FewValuesAreExact(int n)
    {
        var v = Lifetimes(n, n);
        var s = new LifetimeSketch();
        foreach (var x in v) s.Add(x);
        Assert.True(s.Exact);
        foreach (var p in new[] { 0.01, 0.5, 0.99, 1.0 }) Assert.Equal(Exact(v, p), s.Percentile(p));
    }

    [Fact]
    public void ManyValuesAreWithinOnePercentOfTheExactPercentile()
    {
        var v = Lifetimes(100_000, 7);
        var s = new LifetimeSketch();
        foreach (var x in v) s.Add(x);
        Assert.False(s.Exact);
        Assert.Equal(v.Length, s.Count);
        foreach (var p in new[] { 0.01, 0.1, 0.5, 0.9, 0.99, 0.999 })
        {
            double exact = Exact(v, p), got = s.Percentile(p)!.Value;
            Assert.True(Math.Abs(got - exact) <= LifetimeSketch.RelativeError * exact + 1e-3, $"p{p * 100}: {got} vs exact {exact}");
        }
    }

    [Fact]
    public void JoinedPartsEqualOneSketchOfAllAndStayExactWhileSmall()
    {
        // 20 segments of a busy row: bucketed parts join to what one sketch of every value says.
        var parts = Enumerable.Range(0, 20).Select(i => Lifetimes(3000 + 100 * i, 100 + i)).ToList();
        var all = new LifetimeSketch();
        foreach (var x in parts.SelectMany(p => p)) all.Add(x);
        var joined = new LifetimeSketch();
        foreach (var part in parts)
        {
            var s = new LifetimeSketch();
            foreach (var x in part) s.Add(x);
            joined.Join(s);
        }
        Assert.Equal(all.Count, joined.Count);
        foreach (var p in new[] { 0.01, 0.5, 0.9, 0.99 }) Assert.Equal(all.Percentile(p), joined.Percentile(p));

        // Small parts (a quiet row) join exactly, up to ExactJoined values in all.
        var small = Enumerable.Range(0, 10).Select(i => Lifetimes(200, 500 + i)).ToList();
        var exactJoin = new LifetimeSketch();
        foreach (var part in small)
        {
            var s = new LifetimeSketch();
            foreach (var x in part) s.Add(x);
            exactJoin.Join(s);
        }
        Assert.True(exactJoin.Exact);
        var flat = small.SelectMany(p => p).ToArray();
        foreach (var p in new[] { 0.5, 0.99 }) Assert.Equal(Exact(flat, p), exactJoin.Percentile(p));
    }

    [Fact]
    public void AnEmptySketchHasNoPercentile() => Assert.Null(new LifetimeSketch().Percentile(0.5));
}
