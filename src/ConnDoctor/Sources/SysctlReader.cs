using System.Text;
using ConnDoctor.Model;
using ConnDoctor.Native;

namespace ConnDoctor.Sources;

/// <summary>
/// Reads the TCP sysctls of the calling thread's network namespace (they are per namespace), or of a
/// fixture tree under --proc-root.
/// </summary>
public static class SysctlReader
{
    public static Sysctls Read(string procRoot)
    {
        string b = procRoot + "/sys/net/ipv4/";
        var range = ReadInts(b + "ip_local_port_range");
        return new Sysctls
        {
            LocalPortLow = range is { Length: >= 2 } ? range[0] : null,
            LocalPortHigh = range is { Length: >= 2 } ? range[1] : null,
            TcpTwReuse = ReadInt(b + "tcp_tw_reuse"),
            TcpFinTimeout = ReadInt(b + "tcp_fin_timeout"),
            TcpMaxTwBuckets = ReadInt(b + "tcp_max_tw_buckets"),
            KeepaliveTime = ReadInt(b + "tcp_keepalive_time"),
            KeepaliveIntvl = ReadInt(b + "tcp_keepalive_intvl"),
            KeepaliveProbes = ReadInt(b + "tcp_keepalive_probes"),
            TcpTwRecycleExists = File.Exists(b + "tcp_tw_recycle"),
            TcpTwRecycle = ReadInt(b + "tcp_tw_recycle"),
            TcpTimestamps = ReadInt(b + "tcp_timestamps"),
            TcpRetries2 = ReadInt(b + "tcp_retries2"),
            Somaxconn = ReadInt(procRoot + "/sys/net/core/somaxconn"),
        };
    }

    private static int? ReadInt(string path) => ReadInts(path) is { Length: > 0 } v ? v[0] : null;

    private static int[]? ReadInts(string path)
    {
        Span<byte> buf = stackalloc byte[128];
        int n = Libc.ReadSmallFile(Encoding.UTF8.GetBytes(path), buf);
        if (n <= 0) return null;
        var parts = Encoding.ASCII.GetString(buf[..n]).Split((char[])[' ', '\t', '\n'], StringSplitOptions.RemoveEmptyEntries);
        var values = new int[parts.Length];
        for (int i = 0; i < parts.Length; i++)
            if (!int.TryParse(parts[i], out values[i])) return null;
        return values;
    }
}
