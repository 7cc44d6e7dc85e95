using ConnDoctor.Model;
using ConnDoctor.Sources.ZkLog;

namespace ConnDoctor.Tests.ZkLog;

/// <summary>The session map is a hand-written blocked hash table: checked against a Dictionary on random work.</summary>
public class SessionMapTests
{
    [Theory]
    [InlineData(1, 0x157434bfd9a0000UL, 1UL, 40_000)]        // one server's ids, one after the other
    [InlineData(2, 0x157434bfd9a0000UL, 7UL, 40_000)]        // spaced ids
    [InlineData(3, 0x0UL, 0x9E3779B97F4A7C15UL, 12_000)]     // ids all over the key space: a block each, fewer fit a generation
    public void Agrees_with_a_dictionary_within_a_generation(int seed, ulong start, ulong step, int count)
    {
        var rng = new Random(seed);
        var map = new SessionMap();
        var truth = new Dictionary<ulong, int>();
        var ids = Enumerable.Range(0, count).Select(i => start + (ulong)i * step).Where(id => id != 0).ToArray();
        for (int op = 0; op < 200_000; op++)
        {
            ulong id = ids[rng.Next(ids.Length)];
            switch (rng.Next(3))
            {
                case 0:
                    int c = rng.Next(50);
                    map.Set(id, c);
                    truth[id] = c;
                    break;
                case 1:
                    map.Remove(id);
                    truth.Remove(id);
                    break;
                default:
                    bool found = map.TryGet(id, out var got);
                    Assert.Equal(truth.TryGetValue(id, out var want), found);
                    if (found) Assert.Equal(want, got);
                    break;
            }
        }
        foreach (ulong id in ids)
        {
            Assert.Equal(truth.TryGetValue(id, out var want), map.TryGet(id, out var got));
            if (truth.ContainsKey(id)) Assert.Equal(want, got);
        }
    }

    [Fact]
    public void Keeps_two_generations_and_the_newest_client_of_an_id()
    {
        const int a = 0, b = 1;
        var map = new SessionMap();
        map.Set(0, a);                                                   // "no session" is never stored
        Assert.False(map.TryGet(0, out _));
        for (ulong id = 1; id <= SessionMap.Generation + 10; id++) map.Set(id, a);
        Assert.True(map.TryGet(1, out _));                               // still in the previous generation
        map.Set(1, b);                                                   // the same id again, later
        Assert.True(map.TryGet(1, out var now));
        Assert.Equal(b, now);
        for (ulong id = 1; id <= SessionMap.Generation; id++) map.Set(10_000_000 + id, a);
        Assert.False(map.TryGet(2, out _));                              // two generations on: forgotten, not guessed
    }
}
