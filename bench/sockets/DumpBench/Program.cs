// bench/sockets/dump.sh: the sock_diag dump alone (NetlinkSocketDump.Dump, IPv4 then IPv6, every state, tcp_info), as
// the socket source runs it, in the network namespace this runs in. Prints one line: the median and fastest of ROUNDS
// dumps, the sockets per dump, and the bytes allocated per socket (the records themselves, plus the loop's own).
// Uses only the public API that main had before the shared netlink loop, so the same file builds against either tree.
using System.Diagnostics;
using ConnDoctor.Model;
using ConnDoctor.Sources;

int rounds = args.Length > 0 ? int.Parse(args[0]) : 15;
var list = new List<SocketRecord>(200_000);
void Dump()
{
    list.Clear();
    NetlinkSocketDump.Dump(4, TcpStates.AllMask, 0, list);
    NetlinkSocketDump.Dump(6, TcpStates.AllMask, 0, list);
}

Dump();                                                   // warm-up, not timed
var times = new List<double>();
long bytes = 0;
for (int i = 0; i < rounds; i++)
{
    GC.Collect();
    long before = GC.GetAllocatedBytesForCurrentThread();
    var sw = Stopwatch.StartNew();
    Dump();
    times.Add(sw.Elapsed.TotalMilliseconds);
    bytes += GC.GetAllocatedBytesForCurrentThread() - before;
}
times.Sort();
Console.WriteLine($"median {times[times.Count / 2]:0.0} ms, fastest {times[0]:0.0} ms, {list.Count} sockets, " +
                  $"{(double)bytes / rounds / Math.Max(1, list.Count):0.0} bytes allocated per socket");
