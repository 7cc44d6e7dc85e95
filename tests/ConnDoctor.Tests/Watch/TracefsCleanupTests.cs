using ConnDoctor.Sources.Watch;

namespace ConnDoctor.Tests.Watch;

/// <summary>
/// The kernel refuses to remove a tracing instance (EBUSY) while any of its files is open anywhere, as in a child being
/// forked by another thread until its exec closes our descriptors. The session waits that out, and says so when it cannot.
/// </summary>
[Collection("watch")]
public class TracefsCleanupTests
{
    [Fact]
    public async Task AnInstanceBusyForAMomentIsStillRemoved()
    {
        var session = TracefsSession.Open(bufferKbPerCpu: 8, binary: true);
        string dir = session.InstanceDir;
        // Another holder of one of the instance's files, let go 300 ms into the removal.
        var held = File.OpenRead(Path.Combine(dir, "trace"));
        var release = Task.Run(async () => { await Task.Delay(300); held.Dispose(); });
        session.Dispose();
        await release;
        Assert.Null(session.NotRemoved);
        Assert.False(Directory.Exists(dir), $"{dir} is still there");
    }

    [Fact]
    public void AnInstanceHeldPastTheWaitIsReportedNotSilentlyLeft()
    {
        var session = TracefsSession.Open(bufferKbPerCpu: 8, binary: true);
        string dir = session.InstanceDir;
        using (File.OpenRead(Path.Combine(dir, "trace")))
        {
            session.Dispose();
            Assert.NotNull(session.NotRemoved);
            Assert.Contains(dir, session.NotRemoved);
            Assert.True(Directory.Exists(dir));
        }
        // What the message tells the operator to do works once the holder is gone.
        Assert.Equal(0, Rmdir(dir));
        Assert.False(Directory.Exists(dir));
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "rmdir", SetLastError = true)]
    private static extern int Rmdir(string path);
}
