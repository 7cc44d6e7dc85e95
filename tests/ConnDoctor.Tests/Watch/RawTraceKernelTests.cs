using System.Text;
using ConnDoctor.Sources.Watch;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.Watch;

/// <summary>
/// The binary reader against the kernel's own text, on real loopback traffic in a test namespace: normal closes, a
/// server closing with data unread (RST, TCP_ABORT_ON_CLOSE), SO_LINGER 0 closes, refused connects (RST, NO_SOCKET),
/// over IPv4 and IPv6. Two instances traced together, one read as text from trace_pipe, one in binary from its
/// per-CPU pages; and the binary instance's records also as the kernel prints them from its `trace` file, which
/// reads them without consuming them: the same records, so the timestamps must agree to the microsecond.
/// </summary>
[Collection("watch")]
public class RawTraceKernelTests
{
    private const string Churn = """
import socket, struct, sys, time
p4, p6, closed, rounds = (int(x) for x in sys.argv[1:5])
ls4 = socket.socket(); ls4.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); ls4.bind(("127.0.0.1", p4)); ls4.listen(64)
ls6 = socket.socket(socket.AF_INET6); ls6.bind(("::1", p6)); ls6.listen(64)
for i in range(rounds):
    for ls, host, port in ((ls4, "127.0.0.1", p4), (ls6, "::1", p6)):
        c = socket.create_connection((host, port)); s, _ = ls.accept(); c.close(); s.close()
        c = socket.create_connection((host, port)); s, _ = ls.accept(); c.sendall(b"x" * 100); time.sleep(0.002); s.close()
        try:
            c.recv(10); c.send(b"y")
        except OSError:
            pass
        c.close()
        c = socket.create_connection((host, port)); s, _ = ls.accept()
        c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)); c.close(); s.close()
        try:
            socket.create_connection((host, closed), timeout=1)
        except OSError:
            pass
print("done")
""";

    private static List<TraceEvent> Drain(TraceReader r)
    {
        var list = new List<TraceEvent>();
        int idle = 0;
        var until = DateTime.UtcNow.AddSeconds(20);
        while (idle < 3 && DateTime.UtcNow < until)
        {
            if (r.ReadSome((in TraceEvent ev) => list.Add(ev)) == 0) { idle++; Thread.Sleep(30); }
            else idle = 0;
        }
        return list;
    }

    private static (int P4, int P6, int Closed) Run(TestNetns ns, int rounds)
    {
        int p4 = Random.Shared.Next(20000, 30000), p6 = p4 + 1, closed = p4 + 2;
        var output = ns.Exec("python3", "-c", Churn, p4.ToString(), p6.ToString(), closed.ToString(), rounds.ToString());
        Assert.Contains("done", output);
        return (p4, p6, closed);
    }

    private static bool Ours(TraceEvent e, (int P4, int P6, int Closed) p) =>
        e.Src.Port is var s && (s == p.P4 || s == p.P6 || s == p.Closed) || e.Dst.Port is var d && (d == p.P4 || d == p.P6 || d == p.Closed);

    private static string Key(TraceEvent e) => $"{e.Kind} {e.Src} {e.Dst} {e.OldState} {e.NewState} {e.Pid} {e.Reason} {e.InInterrupt}";

    [Fact]
    public void BinaryPagesAgreeWithTheTextFieldByField()
    {
        using var ns = new TestNetns("rawtrace");
        using var text = TracefsSession.Open(binary: false);
        using var raw = TracefsSession.Open(binary: true);
        Assert.Equal("text", text.Reader.Format);
        Assert.True(raw.Reader.Format == "binary", raw.TextReason);
        Assert.Null(raw.TextReason);
        Drain(text.Reader);
        Drain(raw.Reader);

        var ports = Run(ns, rounds: 20);
        Thread.Sleep(300);
        // The binary instance's records as the kernel prints them, before they are consumed.
        var printed = File.ReadAllLines(Path.Combine(raw.InstanceDir, "trace")).Where(l => !l.StartsWith('#'))
            .Select(l => TraceLineParser.TryParse(Encoding.UTF8.GetBytes(l), out var ev) ? ev : throw new FormatException(l)).ToList();
        var binary = Drain(raw.Reader);
        var lines = Drain(text.Reader);
        Assert.Equal(0, raw.Reader.Malformed);

        // In time order across the CPUs, as trace_pipe hands them over.
        for (int i = 1; i < binary.Count; i++) Assert.True(binary[i].TimestampSec >= binary[i - 1].TimestampSec, $"event {i} goes back in time");

        // 1. The same records: each one the `trace` file showed is among the binary ones, every field equal, the time to
        // the microsecond. (Under load the `trace` iterator may show only part of the buffer: what it shows must match.)
        Assert.NotEmpty(printed);
        var exact = binary.ToLookup(e => (e.TimestampSec, Key(e)));
        Assert.All(printed, p => Assert.True(exact.Contains((p.TimestampSec, Key(p))), $"not in the binary read: {Key(p)} at {p.TimestampSec:F6}"));

        // 2. The other instance, read as text from trace_pipe: the same events of our exchange, field by field. Each
        // instance stamps its own copy of an event, a few microseconds apart: the times agree within a millisecond.
        var t = lines.Where(e => Ours(e, ports)).OrderBy(Key, StringComparer.Ordinal).ThenBy(e => e.TimestampSec).ToList();
        var r = binary.Where(e => Ours(e, ports)).OrderBy(Key, StringComparer.Ordinal).ThenBy(e => e.TimestampSec).ToList();
        Assert.Equal(t.Count, r.Count);
        for (int i = 0; i < t.Count; i++)
        {
            RawTracePageTests.AssertSame(t[i], r[i], exactTime: false);
            Assert.True(Math.Abs(t[i].TimestampSec - r[i].TimestampSec) < 0.001, $"{Key(t[i])}: {t[i].TimestampSec:F6} vs {r[i].TimestampSec:F6}");
        }
        // What the exchange holds: 20 rounds x 2 families x 3 connections (each an active and a passive side).
        Assert.True(r.Count(e => e.Kind == TraceEventKind.SetState && e.OldState == Model.TcpState.Close && e.NewState == Model.TcpState.SynSent) >= 160, $"{r.Count} events");
        Assert.Contains(r, e => e.Kind == TraceEventKind.SendReset && e.Reason == "TCP_ABORT_ON_CLOSE" && e.Src.Address.IsV6);
        Assert.Contains(r, e => e.Kind == TraceEventKind.SendReset && e.Reason == "TCP_ABORT_ON_CLOSE" && !e.Src.Address.IsV6);
        Assert.Contains(r, e => e.Kind == TraceEventKind.SendReset && e.Reason == "NO_SOCKET" && e.Dst.Address.IsV6);
        Assert.Contains(r, e => e.Kind == TraceEventKind.ReceiveReset && e.Src.Address.IsV6);
        Assert.Contains(r, e => e.InInterrupt);
        Assert.Contains(r, e => !e.InInterrupt);
    }

    [Fact]
    public void ATaskGoneBeforeItsRecordIsReadIsNamedFromTheKernelsMaps()
    {
        using var ns = new TestNetns("rawname");
        using var raw = TracefsSession.Open(binary: true);
        var pids = ns.Exec("bash", "-c", "for i in 1 2 3; do bash -c 'echo $$; exec 3<>/dev/tcp/127.0.0.1/1 || true' 2>/dev/null; done").Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(int.Parse).ToList();
        Thread.Sleep(100);
        Assert.Equal(3, pids.Count);
        Assert.All(pids, p => Assert.False(Directory.Exists($"/proc/{p}")));
        Assert.All(pids, p => Assert.Equal("bash", raw.SavedComm(p)));
        Assert.True(raw.RecordsTgid);
        Assert.All(pids, p => Assert.Equal(p, raw.SavedTgid(p)));
    }

    [Fact]
    public void AnOverrunIsCountedFromThePagesAndTheStats()
    {
        using var ns = new TestNetns("rawlost");
        // Two pages per CPU and nobody reading while 100 rounds of exchanges are traced: the oldest pages are overwritten.
        using var raw = TracefsSession.Open(bufferKbPerCpu: 8, binary: true);
        var reader = Assert.IsType<RawTraceReader>(raw.Reader);
        Run(ns, rounds: 50);
        var events = Drain(reader);
        Assert.NotEmpty(events);
        Assert.True(raw.LostEvents() > 0, "the kernel's stats count no overrun");
        Assert.True(reader.PagesAfterLoss > 0, "no page said events were lost before it");
        Assert.True(reader.MissedEvents > 0, $"{reader.PagesAfterLoss} page(s) after a loss, no count");
        Assert.Equal(0, reader.Malformed);
    }
}
