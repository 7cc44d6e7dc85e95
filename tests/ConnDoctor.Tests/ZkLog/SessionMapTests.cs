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
        var truth = new Dictionary<ulong, int>();                // client, or -1 once expired
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
                    var before = map.Expire(id, out int was);
                    Assert.Equal(Expected(truth, id), (before, before == SessionState.Open ? was : 0));
                    truth[id] = -1;
                    break;
                default:
                    var state = map.Find(id, out int got);
                    Assert.Equal(Expected(truth, id), (state, state == SessionState.Open ? got : 0));
                    break;
            }
        }
        foreach (ulong id in ids)
        {
            var state = map.Find(id, out int got);
            Assert.Equal(Expected(truth, id), (state, state == SessionState.Open ? got : 0));
        }
    }

    private static (SessionState, int) Expected(Dictionary<ulong, int> truth, ulong id) =>
        !truth.TryGetValue(id, out int c) ? (SessionState.Unknown, 0) : c < 0 ? (SessionState.Expired, 0) : (SessionState.Open, c);

    [Fact]
    public void Keeps_two_generations_and_the_newest_client_of_an_id()
    {
        const int a = 0, b = 1;
        var map = new SessionMap();
        map.Set(0, a);                                                   // "no session" is never stored
        Assert.Equal(SessionState.Unknown, map.Find(0, out _));
        for (ulong id = 1; id <= SessionMap.Generation + 10; id++) map.Set(id, a);
        Assert.Equal(SessionState.Open, map.Find(1, out _));            // still in the previous generation
        map.Set(1, b);                                                   // the same id again, later
        Assert.Equal((SessionState.Open, b), (map.Find(1, out int now), now));
        Assert.Equal(SessionState.Open, map.Expire(1, out _));
        Assert.Equal(SessionState.Expired, map.Find(1, out _));         // the expiry shadows the older generation's entry
        for (ulong id = 1; id <= SessionMap.Generation; id++) map.Set(10_000_000 + id, a);
        Assert.Equal(SessionState.Unknown, map.Find(2, out _));         // two generations on: forgotten, not guessed
    }

    [Fact]
    public void Ids_without_neighbours_end_a_generation_at_its_block_limit()
    {
        var map = new SessionMap();
        ulong Sparse(int i) => 0x1000000UL + (ulong)i * 1000;           // each id in a block of its own
        for (int i = 0; i < SessionMap.MaxBlocks; i++) map.Set(Sparse(i), 7);
        Assert.Equal((SessionState.Open, 7), (map.Find(Sparse(0), out int c), c));   // the first generation is now the previous one
        for (int i = SessionMap.MaxBlocks; i < 2 * SessionMap.MaxBlocks; i++) map.Set(Sparse(i), 8);
        Assert.Equal(SessionState.Unknown, map.Find(Sparse(0), out _));              // two block limits on: forgotten
        Assert.Equal((SessionState.Open, 8), (map.Find(Sparse(2 * SessionMap.MaxBlocks - 1), out c), c));
    }

    [Fact]
    public void A_disposed_map_is_empty_and_maps_its_blocks_again_when_used()
    {
        var map = new SessionMap();
        for (ulong id = 1; id <= 5_000; id++) map.Set(0x157434bfd9a0000UL + id, (int)(id % 13));
        Assert.Equal((SessionState.Open, 5), (map.Find(0x157434bfd9a0000UL + 5, out int c), c));
        map.Dispose();
        Assert.Equal(SessionState.Unknown, map.Find(0x157434bfd9a0000UL + 5, out _));   // no read of unmapped memory
        map.Set(0x157434bfd9a0000UL + 5, 3);                                            // maps its blocks again
        Assert.Equal((SessionState.Open, 3), (map.Find(0x157434bfd9a0000UL + 5, out c), c));
        Assert.Equal(SessionState.Unknown, map.Find(0x157434bfd9a0000UL + 6, out _));
        map.Dispose();
        map.Dispose();                                                                   // twice is harmless
    }
}
