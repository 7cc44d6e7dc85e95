using ConnDoctor.Analysis;

namespace ConnDoctor.Tests.Rules;

public class OrderedGroupsTests
{
    [Fact]
    public void GroupsComeInTheOrderOfTheirFirstMemberWhateverComesBetween()
    {
        var groups = new OrderedGroups<string, List<int>>(_ => new List<int>());
        // Runs of one key (the shortcut), keys coming back after others (the lookup), and more keys than the first arrays hold.
        string[] keys = ["b", "b", "a", "b", "c", "a", "d", "e", "f", "c", "b", "g"];
        for (int i = 0; i < keys.Length; i++) groups.For(keys[i]).Add(i);
        Assert.Equal(["b", "a", "c", "d", "e", "f", "g"], groups.Select(g => g.Key));
        Assert.Equal([0, 1, 3, 10], groups.Single(g => g.Key == "b").Group);
        Assert.Equal([4, 9], groups.Single(g => g.Key == "c").Group);
        Assert.Equal(7, groups.Count);
        Assert.True(groups.TryGetValue("a", out var a));
        Assert.Equal([2, 5], a);
        Assert.False(groups.TryGetValue("z", out _));
    }

    [Fact]
    public void AValueGroupIsCountedInPlace()
    {
        var counts = new OrderedGroups<(int, int), int>();
        foreach (var key in new[] { (1, 2), (1, 2), (3, 4), (1, 2), (5, 6), (3, 4) }) counts.For(key)++;
        Assert.Equal([((1, 2), 3), ((3, 4), 2), ((5, 6), 1)], counts.ToList());
    }
}
