using System.Buffers.Binary;

namespace ConnDoctor.Sources.ZkWire;

/// <summary>
/// The facts of ZooKeeper's client protocol we use (zookeeper.jute, ZooDefs.OpCode, ClientCnxn's special xids)
/// and the pure parsers of the frames that are not plain jute records.
/// </summary>
internal static class ZkProtocol
{
    // ZooDefs.OpCode
    public const int OpCreate = 1, OpDelete = 2, OpExists = 3, OpGetData = 4, OpGetChildren = 8, OpPing = 11,
        OpGetChildren2 = 12, OpCloseSession = -11;

    // ClientCnxn's xids for messages that are not numbered requests.
    public const int NotificationXid = -1, PingXid = -2;

    public const int ReplyHeaderLength = 16;   // xid int, zxid long, err int

    /// <summary>ZooKeeper's own default limit (jute.maxbuffer) is 1 MiB; far above it is no ZooKeeper reply.</summary>
    public const int MaxFrame = 64 << 20;

    /// <summary>ZooDefs.Perms.ALL for world:anyone (OPEN_ACL_UNSAFE).</summary>
    public const int PermsAll = 31;

    /// <summary>The length in a frame's 4-byte prefix, or a ZkException when no ZooKeeper server would send it.</summary>
    public static int FrameLength(ReadOnlySpan<byte> prefix)
    {
        int len = BinaryPrimitives.ReadInt32BigEndian(prefix);
        if (len is >= 0 and <= MaxFrame) return len;
        throw new ZkException(ZkErrorCode.MarshallingError,
            $"it sent {Hex(prefix[..4])}{Printable(prefix[..4])} where a frame length belongs ({len} bytes; the limit is {MaxFrame >> 20} MiB)");
    }

    /// <summary>ConnectResponse (protocolVersion, timeOut, sessionId, passwd) and the readOnly flag 3.4+ servers append.</summary>
    public static (int TimeoutMs, long SessionId, bool ReadOnly) ParseConnectResponse(ReadOnlySpan<byte> frame)
    {
        var r = new JuteReader(frame);
        int version = r.ReadInt();
        int timeoutMs = r.ReadInt();
        long sessionId = r.ReadLong();
        r.ReadBuffer();
        bool readOnly = r.Remaining > 0 && r.ReadBool();
        if (version != 0)
            throw new ZkException(ZkErrorCode.MarshallingError, $"malformed reply: ConnectResponse with protocol version {version}, ZooKeeper answers 0");
        return (timeoutMs, sessionId, readOnly);
    }

    public static (int Xid, long Zxid, int Err) ReadReplyHeader(ref JuteReader r) => (r.ReadInt(), r.ReadLong(), r.ReadInt());

    private static string Hex(ReadOnlySpan<byte> b) => string.Join(' ', b.ToArray().Select(x => x.ToString("x2")));

    private static string Printable(ReadOnlySpan<byte> b)
    {
        foreach (var x in b) if (x is < 0x20 or > 0x7e) return "";
        return $" (\"{System.Text.Encoding.ASCII.GetString(b)}\")";
    }
}
