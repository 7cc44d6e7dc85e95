using System.Diagnostics;
using System.Text;
using ConnDoctor.Model;
using ConnDoctor.Sources;
using ConnDoctor.Sources.Watch;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.Watch;

/// <summary>
/// A connection belongs to a process, not to the thread that called connect(): the trace's tgid column
/// (options/record-tgid, lines captured on this kernel), /proc/TID/status for a live thread, the kernel's tgid map for
/// a gone one, and a task known by nothing else keeps its trace identity, marked.
/// </summary>
[Collection(ConnDoctor.Tests.CrossHost.InProcessTraceCollection.Name)]
public class ThreadOwnerTests
{
    private static List<byte[]> Lines(string file) =>
        File.ReadAllLines(Path.Combine(Fixtures.Dir("trace"), file)).Select(Encoding.UTF8.GetBytes).ToList();

    [Fact]
    public void TheTgidColumnGivesTheProcessOfEveryLine()
    {
        var events = Lines("trace_pipe-6.18-tgid.txt").Select(l => { Assert.True(TraceLineParser.TryParse(l, out var ev), Encoding.UTF8.GetString(l)); return ev; }).ToList();
        var connect = Assert.Single(events, e => e.OldState == TcpState.Close && e.NewState == TcpState.SynSent);
        Assert.Equal(18935, connect.Pid);   // the thread
        Assert.Equal(18887, connect.Tgid);  // its process
        Assert.Equal("python3", connect.Comm);
        Assert.All(events.Where(e => e.Pid == 18887 || e.Pid == 18935), e => Assert.Equal(18887, e.Tgid));
        Assert.Contains(events, e => e.Pid == 24 && e.Tgid == 24 && e.InInterrupt); // ksoftirqd/1
    }

    [Fact]
    public void ATgidNotYetKnownIsZeroAndTheTaskIdStays()
    {
        var line = Assert.Single(Lines("trace_pipe-6.18-tgid-unknown.txt"));
        Assert.True(TraceLineParser.TryParse(line, out var ev));
        Assert.Equal(8556, ev.Pid);
        Assert.Equal(0, ev.Tgid);
        Assert.Equal("<...>", ev.Comm);
    }

    [Theory]
    // Kernels before 5.1 printed five columns; a command name may hold spaces, dashes and parentheses of its own.
    [InlineData("   main-SendThread-4711    (   4700) [000] .....  1.5: ", 4711, 4700, "main-SendThread")]
    [InlineData("            java-4711  (-----) [000] .....  1.5: ", 4711, 0, "java")]
    [InlineData("     worker (2) x-4711  ( 4700) [000] .....  1.5: ", 4711, 4700, "worker (2) x")]
    [InlineData("       pool (12)-4711 [000] .....  1.5: ", 4711, 0, "pool (12)")]
    public void TaskFieldWithAndWithoutTheTgidColumn(string head, int pid, int tgid, string comm)
    {
        var line = Encoding.UTF8.GetBytes(head + "inet_sock_set_state: family=AF_INET protocol=IPPROTO_TCP sport=0 dport=9 saddr=127.0.0.1 daddr=127.0.0.1 saddrv6=::1 daddrv6=::1 oldstate=TCP_CLOSE newstate=TCP_SYN_SENT");
        Assert.True(TraceLineParser.TryParse(line, out var ev));
        Assert.Equal(pid, ev.Pid);
        Assert.Equal(tgid, ev.Tgid);
        Assert.Equal(comm, ev.Comm);
    }

    /// <summary>A world that names processes the way the live one does when the trace carries the tgid.</summary>
    private sealed class TgidWorld : IWatchWorld
    {
        public ConnectionOwner? Task(int tid, int traceTgid, string printedComm) =>
            new() { Pid = traceTgid, Comm = "python3", Uid = 0, NetnsInode = 42, Netns = "test", Tid = tid == traceTgid ? null : tid, Thread = tid == traceTgid ? null : printedComm };
        public ConnectionOwner? Listener(NetEndpoint local) => new() { Pid = 18887, Comm = "python3", Uid = 0, NetnsInode = 42, Netns = "test" };
        public ConnectionOwner? Existing(NetEndpoint local, NetEndpoint remote) => null;
        public bool Watched(ulong netnsInode) => netnsInode == 42;
    }

    [Fact]
    public void AThreadsConnectionIsItsProcesssRowWithTheThreadAsDetail()
    {
        var book = new WatchBook();
        var t = new ConnectionTracker(new TgidWorld(), book);
        foreach (var l in Lines("trace_pipe-6.18-tgid.txt")) { Assert.True(TraceLineParser.TryParse(l, out var ev)); t.Handle(ev); }
        var rows = book.Rows(5000, 5);
        var client = Assert.Single(rows, r => !r.Passive);
        Assert.Equal(18887, client.Pid);
        Assert.Equal(["python3"], client.Threads);
        Assert.Equal(1, client.Opens);
        Assert.Equal(1, client.Closes);
        Assert.Equal(1, t.FromThreads);
        Assert.Equal(0, t.Guessed); // one process: nothing to guess
        var c = Assert.Single(book.RecentConnections, x => !x.Passive);
        Assert.Equal(18935, c.Tid);
        Assert.DoesNotContain(rows, r => r.Pid == 18935);
    }

    [Fact]
    public void ALiveThreadIsResolvedToItsProcessThroughProc()
    {
        int self = Environment.ProcessId;
        int tid = Directory.GetDirectories($"/proc/{self}/task").Select(d => int.Parse(Path.GetFileName(d))).First(x => x != self);
        var info = LiveWorld.Resolve("/proc", tid, 0, "<...>", _ => true, null, _ => "host");
        Assert.NotNull(info);
        Assert.Equal(self, info.Pid);
        Assert.Equal(tid, info.Tid);
        Assert.Equal(File.ReadAllText($"/proc/{self}/comm").TrimEnd('\n'), info.Comm);
        Assert.Equal(File.ReadAllText($"/proc/{self}/task/{tid}/comm").TrimEnd('\n'), info.Thread);
        Assert.False(string.IsNullOrEmpty(info.CommandLine));
        Assert.False(info.Exited);
        // The main thread is the process itself: no thread detail.
        var main = LiveWorld.Resolve("/proc", self, self, "x", _ => true, null, _ => "host")!;
        Assert.Equal(self, main.Pid);
        Assert.Null(main.Tid);
    }

    [Fact]
    public void AGoneTaskKeepsItsTraceIdentityMarked()
    {
        using var p = Process.Start("true")!;
        p.WaitForExit();
        int gone = p.Id;
        Assert.False(Directory.Exists($"/proc/{gone}"));

        // Nothing tells its process: the task id stays, marked as possibly a thread's.
        var unknown = LiveWorld.Resolve("/proc", gone, 0, "main-SendThread", _ => true, null, _ => "host")!;
        Assert.Equal(gone, unknown.Pid);
        Assert.True(unknown.Exited);
        Assert.True(unknown.PidIsTask);
        Assert.Equal("main-SendThread", unknown.Comm);

        // The kernel's tgid map names its process, still alive: the process is read, the thread kept as a detail.
        int self = Environment.ProcessId;
        var mapped = LiveWorld.Resolve("/proc", gone, 0, "main-SendThread", _ => true, tid => tid == gone ? self : 0, _ => "host")!;
        Assert.Equal(self, mapped.Pid);
        Assert.Equal(gone, mapped.Tid);
        Assert.Equal("main-SendThread", mapped.Thread);
        Assert.False(mapped.Exited);

        // The trace's tgid names a process that is gone too: its id, no name (the printed one is the thread's).
        var both = LiveWorld.Resolve("/proc", gone, gone + 1_000_000, "main-SendThread", _ => true, null, _ => "host")!;
        Assert.Equal(gone + 1_000_000, both.Pid);
        Assert.True(both.Exited);
        Assert.False(both.PidIsTask);
        Assert.Null(both.Comm);
        Assert.Equal("main-SendThread", both.Thread);
    }

    [Fact]
    public void StatusAndSavedTgidsParse()
    {
        Assert.Equal(8123, ProcessReader.ParseStatusTgid("Name:\tmain-SendThread\nUmask:\t0022\nState:\tS (sleeping)\nTgid:\t8123\nNgid:\t0\nPid:\t8130\n"u8));
        Assert.Equal(0, ProcessReader.ParseStatusTgid("Name:\tx\n"u8));
        var map = TracefsSession.ParseSavedTgids("8515 8515\n8556 8515\n\ngarbage\n9 0\n"u8);
        Assert.Equal(8515, map[8556]);
        Assert.Equal(2, map.Count);
    }

    [Theory]
    [InlineData("java -Djavax.net.ssl.keyStorePassword=hunter2 -cp a.jar Main", "java -Djavax.net.ssl.keyStorePassword=*** -cp a.jar Main")]
    [InlineData("app --password hunter2 --port 2181", "app --password *** --port 2181")]
    [InlineData("app --db-token=abc --user bob", "app --db-token=*** --user bob")]
    [InlineData("curl https://bob:hunter2@example.com/x", "curl https://bob:***@example.com/x")]
    [InlineData("java -cp /usr/share/java/zookeeper.jar ZkJavaClient 10.0.0.1:2181", "java -cp /usr/share/java/zookeeper.jar ZkJavaClient 10.0.0.1:2181")]
    public void SecretsInCommandLinesAreMasked(string raw, string shown) => Assert.Equal(shown, CommandLineText.Masked(raw));
}

/// <summary>How a watch row's process and thread reach a finding's subject.</summary>
public class ThreadOwnerSubjectTests
{
    [Fact]
    public void TheSubjectNamesTheProcessWithItsThreadAndCommandLine()
    {
        var row = new WatchRow
        {
            Pid = 16607, Process = "java", CommandLine = "java -cp zookeeper.jar ZkJavaClient 10.19.0.1:2181", Threads = ["main-SendThread"],
            Netns = "jzc", Endpoint = "10.19.0.1:2181", RemotePort = 2181,
        };
        var subject = ConnDoctor.Rules.WatchFacts.Subject(row, allNetns: false);
        Assert.Equal("java[16607] thread main-SendThread -> 10.19.0.1:2181 netns jzc", subject.ToString());
        Assert.Equal(row.CommandLine, subject.CommandLine);
        Assert.Equal("java[16607]", ConnDoctor.Rules.WatchFacts.Who(row));
        var gone = row with { Process = "main-SendThread", PidIsTask = true, OwnerExited = true, Threads = [], CommandLine = null };
        Assert.Equal("main-SendThread[16607?]", ConnDoctor.Render.WatchReport.Owner(gone));
        Assert.Contains("possibly a thread's", ConnDoctor.Rules.WatchFacts.Who(gone));
    }
}
