using ConnDoctor.Model;
using ConnDoctor.Native;

namespace ConnDoctor.Sources;

/// <summary>
/// Dumps the TCP socket table of the calling thread's network namespace through NETLINK_SOCK_DIAG. The
/// state mask goes to the kernel, so unwanted sockets never cross into user space.
/// </summary>
public static unsafe class NetlinkSocketDump
{
    private const int BufferSize = 256 * 1024;

    /// <summary>A NETLINK_SOCK_DIAG socket in the calling thread's namespace (for dumps and for SOCK_DESTROY).</summary>
    internal static int OpenSockDiag()
    {
        int fd = Libc.socket(Libc.AF_NETLINK, Libc.SOCK_RAW | Libc.SOCK_CLOEXEC, Libc.NETLINK_SOCK_DIAG);
        if (fd < 0)
        {
            int e = Libc.Errno;
            throw new SourceException($"netlink sock_diag socket: {Libc.ErrorText(e)}", e);
        }
        return fd;
    }

    public static void Dump(int family, uint stateMask, int netnsIndex, List<SocketRecord> into)
    {
        int fd = OpenSockDiag();
        try
        {
            int rcvbuf = 1 << 20;
            Libc.setsockopt(fd, Libc.SOL_SOCKET, Libc.SO_RCVBUF, &rcvbuf, sizeof(int));
            byte* req = stackalloc byte[72];
            SockDiagParser.BuildRequest(new Span<byte>(req, 72), (byte)(family == 6 ? 10 : 2), stateMask, 1);
            if (Libc.send(fd, req, 72, 0) != 72)
            {
                int e = Libc.Errno;
                throw new SourceException($"netlink sock_diag request: {Libc.ErrorText(e)}", e);
            }
            var buffer = new byte[BufferSize];
            fixed (byte* b = buffer)
            {
                while (true)
                {
                    nint n = Libc.recv(fd, b, BufferSize, 0);
                    if (n < 0)
                    {
                        int e = Libc.Errno;
                        if (e == Libc.EINTR) continue;
                        throw new SourceException($"netlink sock_diag reply: {Libc.ErrorText(e)}", e);
                    }
                    if (n == 0) return;
                    var outcome = SockDiagParser.Parse(buffer.AsSpan(0, (int)n), netnsIndex, into, out int errno);
                    if (outcome == SockDiagParser.Outcome.Done) return;
                    if (outcome == SockDiagParser.Outcome.Error)
                        throw new SourceException($"sock_diag refused the dump: {Libc.ErrorText(errno)}", errno);
                }
            }
        }
        finally { Libc.close(fd); }
    }
}
