using System.Buffers.Binary;
using System.Runtime.InteropServices;

namespace ConnDoctor.Native;

/// <summary>
/// One netlink dump, whatever the family (sock_diag, ctnetlink, rtnetlink): sends the request, receives datagrams
/// into one buffer (retrying EINTR, each recv bounded by SO_RCVTIMEO), walks their nlmsghdr messages and hands each
/// payload to the caller, until NLMSG_DONE or an NLMSG_ERROR. Nothing is allocated per message. A datagram larger
/// than the buffer (MSG_TRUNC) or a message whose length runs past its datagram is an error, never a read past it.
/// The socket belongs to the calling thread's network namespace: callers enter it (NetnsScope) before calling.
/// Failures throw <see cref="NetlinkException"/> naming the step, so each caller words them for its source.
/// </summary>
public static unsafe class NetlinkDump
{
    public const ushort NLMSG_ERROR = 2;
    public const ushort NLMSG_DONE = 3;
    public const ushort NLM_F_REQUEST = 1;
    public const ushort NLM_F_DUMP = 0x300;
    public const ushort NLM_F_ACK = 4;
    public const int HeaderLength = 16;

    /// <summary>A request's nlmsghdr (length, type, flags, sequence number) over <paramref name="length"/> zeroed bytes.</summary>
    public static void WriteHeader(Span<byte> req, int length, ushort type, ushort flags, uint seq)
    {
        req[..length].Clear();
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(req, (uint)length);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(req[4..], type);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(req[6..], flags);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(req[8..], seq);
    }

    /// <summary>
    /// How long one recv() may wait for the kernel's next datagram. The kernel builds each datagram of a dump inside
    /// the recv that asks for it, so the wait is short even for 100k sockets; a dump that never ends stops here.
    /// </summary>
    public const int ReceiveTimeoutSeconds = 10;

    private const int SO_RCVTIMEO = 20;
    private const int MSG_TRUNC = 0x20;
    private const int EAGAIN = 11;
    private const int EMSGSIZE = 90;

    public enum Outcome { More, Done, Error, Malformed }

    /// <summary>One message of a dump: its nlmsg_type, nlmsg_flags and the bytes after the 16-byte header.</summary>
    public delegate void MessageHandler(ushort type, ushort flags, ReadOnlySpan<byte> payload);

    /// <summary>
    /// Opens an AF_NETLINK socket of <paramref name="protocol"/> in the calling thread's namespace, with SO_RCVTIMEO set
    /// (<see cref="ReceiveTimeoutSeconds"/> unless told) and, when <paramref name="receiveBuffer"/> is positive, SO_RCVBUF
    /// asked for (the kernel may grant less).
    /// </summary>
    public static int Open(int protocol, int receiveBuffer = 0, int timeoutSeconds = ReceiveTimeoutSeconds)
    {
        int fd = Libc.socket(Libc.AF_NETLINK, Libc.SOCK_RAW | Libc.SOCK_CLOEXEC, protocol);
        if (fd < 0) throw Failed(NetlinkStep.Socket, Libc.Errno);
        if (receiveBuffer > 0) Libc.setsockopt(fd, Libc.SOL_SOCKET, Libc.SO_RCVBUF, &receiveBuffer, sizeof(int));
        long* timeout = stackalloc long[2] { timeoutSeconds, 0 };            // struct timeval { tv_sec; tv_usec }
        Libc.setsockopt(fd, Libc.SOL_SOCKET, SO_RCVTIMEO, (int*)timeout, 2 * sizeof(long));
        return fd;
    }

    /// <summary>A whole dump on a socket of its own: <see cref="Open"/>, <see cref="Run"/>, close.</summary>
    public static void Dump(int protocol, ReadOnlySpan<byte> request, MessageHandler onMessage, int bufferSize, int receiveBuffer = 0, List<byte[]>? record = null)
    {
        int fd = Open(protocol, receiveBuffer);
        try { Run(fd, request, onMessage, bufferSize, record); }
        finally { Libc.close(fd); }
    }

    /// <summary>
    /// Sends <paramref name="request"/> (a whole nlmsghdr message with NLM_F_DUMP) on <paramref name="fd"/> and hands every
    /// message of the reply to <paramref name="onMessage"/> until the dump ends. <paramref name="bufferSize"/> is the
    /// receive buffer (one datagram must fit). When <paramref name="record"/> is given, each datagram is copied into it,
    /// so tests can replay (and corrupt) real replies.
    /// </summary>
    public static void Run(int fd, ReadOnlySpan<byte> request, MessageHandler onMessage, int bufferSize, List<byte[]>? record = null)
    {
        Send(fd, request);
        byte* buffer = Rent(bufferSize);
        try
        {
            while (true)
            {
                // MSG_TRUNC: the kernel answers a datagram's real length even when it was cut to fit the buffer.
                nint n = Libc.recv(fd, buffer, bufferSize, MSG_TRUNC);
                if (n < 0)
                {
                    int e = Libc.Errno;
                    if (e == Libc.EINTR) continue;
                    throw e == EAGAIN
                        ? new NetlinkException(NetlinkStep.Reply, e, "no answer within the receive timeout: the dump did not end")
                        : Failed(NetlinkStep.Reply, e);
                }
                if (n == 0) return;
                if (n > bufferSize)
                    throw new NetlinkException(NetlinkStep.Reply, EMSGSIZE, $"a {n}-byte datagram did not fit the {bufferSize}-byte receive buffer (truncated)");
                var datagram = new ReadOnlySpan<byte>(buffer, (int)n);
                record?.Add(datagram.ToArray());
                switch (Walk(datagram, onMessage, out int errno))
                {
                    case Outcome.Done: return;
                    case Outcome.Error: throw Failed(NetlinkStep.Refused, errno);
                    case Outcome.Malformed:
                        throw new NetlinkException(NetlinkStep.Reply, errno, "malformed: a message's length runs past its datagram");
                }
            }
        }
        finally { Return(buffer, bufferSize); }
    }

    // One receive buffer of the usual size kept between dumps (the agent dumps every namespace every interval; a fresh
    // 256 KB buffer is an mmap, its pages faulted in, and an munmap each time). A dump that finds it taken (two at once),
    // or asks for another size, allocates its own.
    private const int PooledSize = 256 * 1024;
    private static nint s_spare;

    private static byte* Rent(int size)
    {
        if (size == PooledSize && Interlocked.Exchange(ref s_spare, 0) is var b && b != 0) return (byte*)b;
        return (byte*)NativeMemory.Alloc((nuint)size);
    }

    private static void Return(byte* buffer, int size)
    {
        if (size != PooledSize || Interlocked.CompareExchange(ref s_spare, (nint)buffer, 0) != 0) NativeMemory.Free(buffer);
    }

    private static void Send(int fd, ReadOnlySpan<byte> request)
    {
        fixed (byte* r = request)
            while (true)
            {
                nint sent = Libc.send(fd, r, request.Length, 0);
                if (sent == request.Length) return;
                int e = sent < 0 ? Libc.Errno : EMSGSIZE;
                if (e != Libc.EINTR) throw Failed(NetlinkStep.Request, e);
            }
    }

    /// <summary>
    /// The messages of one datagram, each payload to <paramref name="onMessage"/> (NLMSG_DONE and NLMSG_ERROR are not
    /// handed on). Done at NLMSG_DONE or an NLMSG_ERROR of 0 (an ACK); Error with the kernel's errno at any other
    /// NLMSG_ERROR; Malformed (errno EINVAL) when a message's length is below a header or runs past the datagram;
    /// More when the dump goes on in the next datagram. Pure over bytes, so a recorded reply replays in tests.
    /// </summary>
    public static Outcome Walk(ReadOnlySpan<byte> datagram, MessageHandler onMessage, out int errno)
    {
        errno = 0;
        while (datagram.Length >= HeaderLength)
        {
            uint len = BinaryPrimitives.ReadUInt32LittleEndian(datagram);
            ushort type = BinaryPrimitives.ReadUInt16LittleEndian(datagram[4..]);
            if (len < HeaderLength || len > datagram.Length) { errno = Libc.EINVAL; return Outcome.Malformed; }
            var payload = datagram.Slice(HeaderLength, (int)len - HeaderLength);
            if (type == NLMSG_DONE) return Outcome.Done;
            if (type == NLMSG_ERROR)
            {
                // struct nlmsgerr { int error; struct nlmsghdr msg; }: the negative errno, 0 for an ACK.
                errno = payload.Length >= 4 ? -BinaryPrimitives.ReadInt32LittleEndian(payload) : Libc.EINVAL;
                return errno == 0 ? Outcome.Done : Outcome.Error;
            }
            onMessage(type, BinaryPrimitives.ReadUInt16LittleEndian(datagram[6..]), payload);
            int advance = Align4((int)len);
            if (advance >= datagram.Length) break;
            datagram = datagram[advance..];
        }
        return Outcome.More;
    }

    public static int Align4(int n) => (n + 3) & ~3;

    private static NetlinkException Failed(NetlinkStep step, int errno) => new(step, errno, Libc.ErrorText(errno));
}

/// <summary>Where a netlink dump failed: opening the socket, sending the request, receiving, or the kernel refused it (NLMSG_ERROR).</summary>
public enum NetlinkStep { Socket, Request, Reply, Refused }

/// <summary>
/// A netlink dump that failed, with the step and the errno; the message is the detail only (the errno's text, or what
/// was wrong with the reply), for the caller to put behind the name of its dump.
/// </summary>
public sealed class NetlinkException(NetlinkStep step, int errno, string detail) : Exception(detail)
{
    public NetlinkStep Step { get; } = step;
    public int Errno { get; } = errno;

    /// <summary>"socket", "request" or "reply" (a refusal is a reply too), to follow the dump's name.</summary>
    public string StepName => Step switch { NetlinkStep.Socket => "socket", NetlinkStep.Request => "request", _ => "reply" };
}
