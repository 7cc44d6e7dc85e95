using ConnDoctor.Native;

namespace ConnDoctor.Sources.Conntrack;

/// <summary>
/// Dumps the conntrack table of the calling thread's network namespace through ctnetlink (what `conntrack -L` asks
/// for), one family at a time. Needs CAP_NET_ADMIN in the namespace's owner (root): nfnetlink refuses others EPERM.
/// </summary>
public static unsafe class CtNetlinkDump
{
    private const int BufferSize = 256 * 1024;
    private const int EPROTONOSUPPORT = 93;

    /// <param name="family">2 (AF_INET) or 10 (AF_INET6).</param>
    /// <param name="record">When given, each raw recv() buffer is copied here, so tests can replay (and corrupt) real replies.</param>
    public static void Dump(byte family, ConntrackSink sink, List<byte[]>? record = null)
    {
        int fd = Libc.socket(Libc.AF_NETLINK, Libc.SOCK_RAW | Libc.SOCK_CLOEXEC, CtNetlinkParser.NETLINK_NETFILTER);
        if (fd < 0)
        {
            int e = Libc.Errno;
            throw new SourceException(e == EPROTONOSUPPORT
                ? "netlink netfilter socket: this kernel has no nfnetlink (CONFIG_NETFILTER_NETLINK)"
                : $"netlink netfilter socket: {Libc.ErrorText(e)}", e);
        }
        try
        {
            int rcvbuf = 4 << 20;
            Libc.setsockopt(fd, Libc.SOL_SOCKET, Libc.SO_RCVBUF, &rcvbuf, sizeof(int));
            byte* req = stackalloc byte[CtNetlinkParser.RequestLength];
            CtNetlinkParser.BuildDumpRequest(new Span<byte>(req, CtNetlinkParser.RequestLength), family, 1);
            if (Libc.send(fd, req, CtNetlinkParser.RequestLength, 0) != CtNetlinkParser.RequestLength)
            {
                int e = Libc.Errno;
                throw new SourceException($"ctnetlink dump request: {Libc.ErrorText(e)}", e);
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
                        throw new SourceException($"ctnetlink dump reply: {Libc.ErrorText(e)}", e);
                    }
                    if (n == 0) return;
                    record?.Add(buffer.AsSpan(0, (int)n).ToArray());
                    var outcome = CtNetlinkParser.Parse(buffer.AsSpan(0, (int)n), sink, out int errno);
                    if (outcome == CtNetlinkParser.Outcome.Done) return;
                    if (outcome == CtNetlinkParser.Outcome.Error)
                        throw new SourceException(errno switch
                        {
                            Libc.EPERM or Libc.EACCES => "ctnetlink refused the dump: reading conntrack needs CAP_NET_ADMIN (run as root)",
                            Libc.EINVAL or Libc.ENOENT or Libc.EOPNOTSUPP => $"ctnetlink refused the dump ({Libc.ErrorText(errno)}): nf_conntrack_netlink is not loaded, or the reply was malformed",
                            _ => $"ctnetlink refused the dump: {Libc.ErrorText(errno)}",
                        }, errno);
                }
            }
        }
        finally { Libc.close(fd); }
    }
}
