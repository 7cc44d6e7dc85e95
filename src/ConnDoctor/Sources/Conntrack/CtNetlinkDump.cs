using ConnDoctor.Native;

namespace ConnDoctor.Sources.Conntrack;

/// <summary>
/// Dumps the conntrack table of the calling thread's network namespace through ctnetlink (what `conntrack -L` asks
/// for), one family at a time. Needs CAP_NET_ADMIN in the namespace's owner (root): nfnetlink refuses others EPERM.
/// </summary>
public static class CtNetlinkDump
{
    private const int BufferSize = 256 * 1024;
    private const int ReceiveBuffer = 4 << 20;
    private const int EPROTONOSUPPORT = 93;

    /// <param name="family">2 (AF_INET) or 10 (AF_INET6).</param>
    /// <param name="record">When given, each raw recv() buffer is copied here, so tests can replay (and corrupt) real replies.</param>
    public static void Dump(byte family, ConntrackSink sink, List<byte[]>? record = null)
    {
        Span<byte> req = stackalloc byte[CtNetlinkParser.RequestLength];
        CtNetlinkParser.BuildDumpRequest(req, family, 1);
        try
        {
            NetlinkDump.Dump(CtNetlinkParser.NETLINK_NETFILTER, req, CtNetlinkParser.Collector(sink), BufferSize, ReceiveBuffer, record);
        }
        catch (NetlinkException ex)
        {
            throw new SourceException(ex.Step switch
            {
                NetlinkStep.Socket when ex.Errno == EPROTONOSUPPORT => "netlink netfilter socket: this kernel has no nfnetlink (CONFIG_NETFILTER_NETLINK)",
                NetlinkStep.Socket => $"netlink netfilter socket: {ex.Message}",
                NetlinkStep.Refused => ex.Errno switch
                {
                    Libc.EPERM or Libc.EACCES => "ctnetlink refused the dump: reading conntrack needs CAP_NET_ADMIN (run as root)",
                    Libc.EINVAL or Libc.ENOENT or Libc.EOPNOTSUPP => $"ctnetlink refused the dump ({ex.Message}): nf_conntrack_netlink is not loaded, or the reply was malformed",
                    _ => $"ctnetlink refused the dump: {ex.Message}",
                },
                _ => $"ctnetlink dump {ex.StepName}: {ex.Message}",
            }, ex.Errno);
        }
    }
}
