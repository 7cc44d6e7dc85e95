using ConnDoctor.Sources.Watch;

namespace ConnDoctor.Tests.Watch;

/// <summary>
/// The kernel's pid maps (saved_tgids, saved_cmdlines) name tasks gone before /proc could be read. They are kept by pid
/// number: once pids wrap, a snapshot read earlier holds the entry of an earlier task with the same number. A lookup
/// must not be answered from a snapshot older than the map's minimum age, even when it holds the number.
/// </summary>
public class SavedMapTests
{
    [Fact]
    public void AnEntryIsReadAgainOnceTheSnapshotIsOlderThanTheMinimumAge()
    {
        string path = Path.Combine(Path.GetTempPath(), $"saved-tgids-{Guid.NewGuid():N}");
        try
        {
            // Task 4242 was a thread of process 3943 (a python3 scenario, say) ...
            File.WriteAllText(path, "4242 3943\n17 17\n");
            var map = new TracefsSession.SavedMap<int>(path, TracefsSession.ParseSavedTgids);
            Assert.True(map.TryGet(4242, out int tgid));
            Assert.Equal(3943, tgid);

            // ... then pids wrapped and 4242 is a bash of its own: the kernel's map says so, and so must the lookup.
            File.WriteAllText(path, "4242 4242\n17 17\n");
            Thread.Sleep(TracefsSession.SavedMapMinAgeMs + 30);
            Assert.True(map.TryGet(4242, out tgid));
            Assert.Equal(4242, tgid);

            // A map that can no longer be read answers nothing, not its last snapshot.
            File.Delete(path);
            Thread.Sleep(TracefsSession.SavedMapMinAgeMs + 30);
            Assert.False(map.TryGet(4242, out _));
        }
        finally
        {
            File.Delete(path);
        }
    }
}
