using ConnDoctor.Model;
using ConnDoctor.Native;

namespace ConnDoctor.Sources;

/// <summary>
/// Destroys TCP sockets of the calling thread's network namespace through sock_diag's SOCK_DESTROY, one exact
/// socket per request (the kernel's tcp_abort: the owner's next call fails with ECONNABORTED and a RST goes to
/// the peer). Needs CAP_NET_ADMIN and a kernel built with CONFIG_INET_DIAG_DESTROY.
/// </summary>
public static unsafe class SocketDestroyer
{
    /// <summary>
    /// Returns, per socket, 0 when the kernel destroyed it or the errno it answered (ENOENT: already gone, or the tuple
    /// now belongs to another socket whose cookie differs); -1 for those not tried because <paramref name="stopAfter"/> said stop.
    /// </summary>
    public static int[] Destroy(IReadOnlyList<SocketRecord> sockets, Func<SocketRecord, int, bool>? stopAfter = null)
    {
        var results = new int[sockets.Count];
        int fd = NetlinkSocketDump.OpenSockDiag();
        try
        {
            byte* req = stackalloc byte[SockDiagParser.DestroyRequestLength];
            var reply = new byte[8192];
            var ignored = new List<SocketRecord>();
            for (int i = 0; i < sockets.Count; i++)
            {
                SockDiagParser.BuildDestroyRequest(new Span<byte>(req, SockDiagParser.DestroyRequestLength), sockets[i], (uint)(i + 1));
                if (Libc.send(fd, req, SockDiagParser.DestroyRequestLength, 0) != SockDiagParser.DestroyRequestLength)
                {
                    int e = Libc.Errno;
                    throw new SourceException($"netlink SOCK_DESTROY request: {Libc.ErrorText(e)}", e);
                }
                results[i] = ReadAck(fd, reply, ignored);
                if (stopAfter != null && stopAfter(sockets[i], results[i]))
                {
                    for (int j = i + 1; j < results.Length; j++) results[j] = -1; // not tried
                    break;
                }
            }
        }
        finally { Libc.close(fd); }
        return results;
    }

    private static int ReadAck(int fd, byte[] buffer, List<SocketRecord> ignored)
    {
        fixed (byte* b = buffer)
        {
            while (true)
            {
                nint n = Libc.recv(fd, b, buffer.Length, 0);
                if (n < 0)
                {
                    int e = Libc.Errno;
                    if (e == Libc.EINTR) continue;
                    throw new SourceException($"netlink SOCK_DESTROY reply: {Libc.ErrorText(e)}", e);
                }
                if (n == 0) throw new SourceException("netlink SOCK_DESTROY: the kernel closed the socket without an answer");
                // The answer is an NLMSG_ERROR whose error is 0 (the ACK) or -errno.
                var outcome = SockDiagParser.Parse(buffer.AsSpan(0, (int)n), 0, ignored, out int errno);
                if (outcome == NetlinkDump.Outcome.Done) return 0;
                if (outcome is NetlinkDump.Outcome.Error or NetlinkDump.Outcome.Malformed) return errno;
            }
        }
    }
}
