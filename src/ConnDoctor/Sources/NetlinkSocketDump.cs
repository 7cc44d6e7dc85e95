using ConnDoctor.Model;
using ConnDoctor.Native;

namespace ConnDoctor.Sources;

/// <summary>
/// Dumps the TCP socket table of the calling thread's network namespace through NETLINK_SOCK_DIAG. The
/// state mask goes to the kernel, so unwanted sockets never cross into user space.
/// </summary>
public static unsafe class NetlinkSocketDump
{
    /// <summary>The receive buffer: large, so a 100k-socket dump takes few recv() calls.</summary>
    private const int BufferSize = 256 * 1024;
    private const int ReceiveBuffer = 1 << 20;

    /// <summary>A NETLINK_SOCK_DIAG socket in the calling thread's namespace (for dumps and for SOCK_DESTROY).</summary>
    internal static int OpenSockDiag(int receiveBuffer = 0)
    {
        try { return NetlinkDump.Open(Libc.NETLINK_SOCK_DIAG, receiveBuffer); }
        catch (NetlinkException ex) { throw Error(ex); }
    }

    /// <summary>
    /// Both families' sockets, IPv4 then IPv6 as two <see cref="Dump(int, uint, int, List{SocketRecord})"/> give them, in one
    /// dump (<see cref="SockDiagParser.BuildCompatRequest"/>): the kernel walks its TCP hash tables (every namespace's
    /// sockets) once instead of twice. A kernel that refuses the older request gets the two v2 dumps.
    /// </summary>
    public static void DumpBothFamilies(uint stateMask, int netnsIndex, List<SocketRecord> into)
    {
        int start = into.Count;
        var v6 = new List<SocketRecord>();
        Span<byte> req = stackalloc byte[SockDiagParser.CompatRequestLength];
        SockDiagParser.BuildCompatRequest(req, stateMask, 1);
        try
        {
            Dump(req, SockDiagParser.FamilyCollector(netnsIndex, into, v6), BufferSize);
            into.AddRange(v6);
            return;
        }
        catch (SourceException)
        {
            into.RemoveRange(start, into.Count - start);
        }
        Dump(4, stateMask, netnsIndex, into);
        Dump(6, stateMask, netnsIndex, into);
    }

    public static void Dump(int family, uint stateMask, int netnsIndex, List<SocketRecord> into)
    {
        Span<byte> req = stackalloc byte[72];
        SockDiagParser.BuildRequest(req, (byte)(family == 6 ? 10 : 2), stateMask, 1);
        Dump(req, SockDiagParser.Collector(netnsIndex, into), BufferSize);
    }

    /// <summary>Any sock_diag dump request, with any receive buffer size (tests: a family the kernel refuses, a tiny buffer).</summary>
    internal static void Dump(ReadOnlySpan<byte> request, NetlinkDump.MessageHandler onMessage, int bufferSize)
    {
        int fd = OpenSockDiag(ReceiveBuffer);
        try { NetlinkDump.Run(fd, request, onMessage, bufferSize); }
        catch (NetlinkException ex) { throw Error(ex); }
        finally { Libc.close(fd); }
    }

    private static SourceException Error(NetlinkException ex) =>
        new(ex.Step == NetlinkStep.Refused ? $"sock_diag refused the dump: {ex.Message}" : $"netlink sock_diag {ex.StepName}: {ex.Message}", ex.Errno);
}
