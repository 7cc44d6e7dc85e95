using ConnDoctor.Model;
using ConnDoctor.Sources.Watch;

namespace ConnDoctor.Tests.Watch;

/// <summary>The trace maps' 16-byte connection key: one key per 4-tuple, every distinct tuple of a busy host a distinct key.</summary>
public class ConnKeyTests
{
    private static NetEndpoint Ep(string text) => NetEndpoint.TryParse(text, out var e, out _) ? e : throw new FormatException(text);

    [Fact]
    public void TheSameTupleIsTheSameKeyAndEveryDifferenceCounts()
    {
        Assert.Equal(ConnKey.Of(Ep("127.0.0.1:5000"), Ep("127.0.0.1:2181")), ConnKey.Of(Ep("127.0.0.1:5000"), Ep("127.0.0.1:2181")));
        Assert.Equal(ConnKey.Of(Ep("[::1]:5000"), Ep("[::1]:2181")), ConnKey.Of(Ep("[::1]:5000"), Ep("[::1]:2181")));
        var keys = new[]
        {
            ConnKey.Of(Ep("127.0.0.1:5000"), Ep("127.0.0.1:2181")),
            ConnKey.Of(Ep("127.0.0.1:2181"), Ep("127.0.0.1:5000")),          // the other side of it
            ConnKey.Of(Ep("127.0.0.2:5000"), Ep("127.0.0.1:2181")),
            ConnKey.Of(Ep("[::ffff:127.0.0.1]:5000"), Ep("[::ffff:127.0.0.1]:2181")), // a dual-stack socket's view: another socket
            ConnKey.Of(Ep("[::1]:5000"), Ep("[::1]:2181")),
            ConnKey.Of(Ep("[::1]:2181"), Ep("[::1]:5000")),
            ConnKey.Of(Ep("[::1]:5000"), Ep("[::2]:2181")),
        };
        Assert.Equal(keys.Length, keys.Distinct().Count());
    }

    [Fact]
    public void ABusyHostsTuplesAreAllDistinct()
    {
        // 200k connections of the shapes a host has: many ephemeral ports to a few services, IPv4 and IPv6.
        var set = new HashSet<ConnKey>();
        int n = 0;
        for (int port = 10000; port < 60000; port++)
            foreach (var (l, r) in new[] { ("10.0.0.1", "10.0.0.2:2181"), ("127.0.0.1", "127.0.0.1:80"), ("[fd00::1]", "[fd00::2]:2181"), ("[::1]", "[::1]:443") })
            {
                Assert.True(set.Add(ConnKey.Of(Ep($"{l}:{port}"), Ep(r))));
                n++;
            }
        Assert.Equal(n, set.Count);
        // And their hash codes spread over the table (a Dictionary would otherwise chain).
        Assert.True(set.Select(k => k.GetHashCode()).Distinct().Count() > n * 99 / 100);
    }
}
