// bench/conntrack: ConnDoctor's conntrack readers against `conntrack -L` and `cat /proc/net/nf_conntrack` on the same
// table, in the network namespace this runs in (run.sh runs it with `ip netns exec`). Prints medians and ratios.
using System.Diagnostics;
using ConnDoctor.Model;
using ConnDoctor.Sources;
using ConnDoctor.Sources.Conntrack;

int rounds = args.Length > 0 ? int.Parse(args[0]) : 5;
var here = new NetnsInfo { Label = "bench" };

double Median(List<double> xs) { xs.Sort(); return xs[xs.Count / 2]; }

(double Ms, string Note) Ours(ConntrackOptions o)
{
    var times = new List<double>();
    string note = "";
    ConntrackSource.Read([here], o);                                   // warm-up (JIT), not timed
    for (int i = 0; i < rounds; i++)
    {
        var sw = Stopwatch.StartNew();
        var (ev, status) = ConntrackSource.Read([here], o);
        times.Add(sw.Elapsed.TotalMilliseconds);
        note = $"{status.Source}: {ev?.Entries.Count ?? 0} kept of {ev?.TableSize ?? 0}";
    }
    return (Median(times), note);
}

(double Ms, string Note) Peer(string file, params string[] a)
{
    var times = new List<double>();
    long lines = 0;
    for (int i = 0; i <= rounds; i++)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var x in a) psi.ArgumentList.Add(x);
        var sw = Stopwatch.StartNew();
        using var p = Process.Start(psi)!;
        var err = p.StandardError.ReadToEndAsync();
        long n = 0;
        var buf = new char[1 << 16];
        int r;
        while ((r = p.StandardOutput.Read(buf, 0, buf.Length)) > 0) for (int k = 0; k < r; k++) if (buf[k] == '\n') n++;
        p.WaitForExit();
        err.Wait();
        if (i > 0) times.Add(sw.Elapsed.TotalMilliseconds);   // the first run warms the page cache and the binary
        lines = n;
    }
    return (Median(times), $"{lines} lines");
}

var ports = new[] { 2181 };
var rows = new List<(string Name, double Ms, string Note)>();
void Row(string name, (double Ms, string Note) r) { rows.Add((name, r.Ms, r.Note)); }
Row("conndoctor netlink, every TCP entry", Ours(new ConntrackOptions { Backend = SocketBackend.Netlink }));
Row("conndoctor netlink, --port 2181", Ours(new ConntrackOptions { Backend = SocketBackend.Netlink, Ports = ports }));
Row("conndoctor /proc, --port 2181", Ours(new ConntrackOptions { Backend = SocketBackend.Proc, Ports = ports }));
Row("conntrack -L", Peer("conntrack", "-L"));
Row("conntrack -L -p tcp --dport 2181", Peer("conntrack", "-L", "-p", "tcp", "--dport", "2181"));
Row("cat /proc/net/nf_conntrack", Peer("cat", "/proc/net/nf_conntrack"));

// Where the time goes: the kernel's side (the dump's recv() calls, the file's read()) against our parsing of the same bytes.
{
    var record = new List<byte[]>();
    var sw = Stopwatch.StartNew();
    CtNetlinkDump.Dump(2, new ConntrackSink(ports), record);
    double dump = sw.Elapsed.TotalMilliseconds;
    var parse = new List<double>();
    for (int i = 0; i < rounds; i++)
    {
        sw.Restart();
        var sink = new ConntrackSink(ports);
        foreach (var b in record) CtNetlinkParser.Parse(b, sink, out _);
        parse.Add(sw.Elapsed.TotalMilliseconds);
    }
    sw.Restart();
    var content = File.ReadAllBytes("/proc/thread-self/net/nf_conntrack");
    double read = sw.Elapsed.TotalMilliseconds;
    var parseProc = new List<double>();
    for (int i = 0; i < rounds; i++)
    {
        sw.Restart();
        ProcConntrackParser.Parse(content, new ConntrackSink(ports));
        parseProc.Add(sw.Elapsed.TotalMilliseconds);
    }
    Console.WriteLine($"breakdown: netlink dump (recv, parse included) {dump:F0} ms in {record.Count} buffers of {record.Sum(b => (long)b.Length) / 1024} KiB; parsing those buffers alone {Median(parse):F1} ms");
    Console.WriteLine($"breakdown: reading /proc/net/nf_conntrack ({content.Length / 1024} KiB) {read:F0} ms; parsing it alone {Median(parseProc):F1} ms");
    Console.WriteLine();
}
Console.WriteLine($"{"reader",-36} {"median ms",10}  note");
foreach (var (name, ms, note) in rows) Console.WriteLine($"{name,-36} {ms,10:F1}  {note}");
double peer = rows[3].Ms;
Console.WriteLine();
Console.WriteLine($"conntrack -L / conndoctor netlink (every TCP entry): {peer / rows[0].Ms:F1}x");
Console.WriteLine($"conntrack -L / conndoctor netlink (--port 2181):     {peer / rows[1].Ms:F1}x");
Console.WriteLine($"conntrack -L -p tcp --dport 2181 / conndoctor netlink (--port 2181): {rows[4].Ms / rows[1].Ms:F1}x");
Console.WriteLine($"cat /proc/net/nf_conntrack / conndoctor /proc (--port 2181): {rows[5].Ms / rows[2].Ms:F2}x");
