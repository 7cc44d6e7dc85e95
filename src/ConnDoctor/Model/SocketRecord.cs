namespace ConnDoctor.Model;

/// <summary>Which kernel timer is armed on a socket (inet_diag_msg.idiag_timer, the "tr" column of /proc/net/tcp).</summary>
public enum TimerKind : byte
{
    None = 0,
    Retransmit = 1,
    Keepalive = 2,
    TimeWait = 3,
    ZeroWindowProbe = 4,
}

/// <summary>A process that holds a socket through one of its file descriptors.</summary>
public readonly record struct SocketOwner(int Pid, int Fd);

/// <summary>
/// One TCP socket as the kernel reports it. Everything sock_diag gives is kept: a diagnosis needs the
/// queues, timers, uid and tcp_info that simpler tables drop.
/// </summary>
public sealed class SocketRecord
{
    // A table holds 100k of these (one collection of the agent): 192 bytes each. The family is kept in a byte.
    private readonly byte _family;
    public required int Family { get => _family; init => _family = (byte)value; }  // 4 or 6
    public required TcpState State { get; init; }
    public required NetEndpoint Local { get; init; }
    public required NetEndpoint Remote { get; init; }
    public uint RecvQueue { get; init; }                   // bytes not yet read by the process (LISTEN: accept backlog)
    public uint SendQueue { get; init; }                   // bytes not yet acknowledged by the peer (LISTEN: backlog limit)
    public TimerKind Timer { get; init; }
    public uint TimerExpiresMs { get; init; }              // time until the timer fires
    public byte TimerRetransmits { get; init; }            // retransmits or keepalive probes counted by the timer
    public uint Uid { get; init; }
    public ulong Inode { get; init; }                      // 0 for TIME_WAIT and orphaned sockets: no owner can be found
    public TcpInfo? Info { get; init; }                    // only from netlink, only for full sockets
    /// <summary>The kernel's unique id for this socket (sock_diag only; 0 from /proc/net/tcp): a reused 4-tuple gets a new one.</summary>
    public ulong Cookie { get; init; }
    /// <summary>The interface the socket is bound to (SO_BINDTODEVICE), 0 when none; part of its identity for sock_diag.</summary>
    public uint Interface { get; init; }

    /// <summary>The network namespace the socket lives in (index into Evidence.Namespaces).</summary>
    public int NetnsIndex { get; init; }

    /// <summary>Processes holding this socket; set once by the process join, empty when none was found.</summary>
    public SocketOwner[] Owners { get; internal set; } = [];

    /// <summary>The first holder, the one every view names (a socket shared after fork() has more); null when none was found.</summary>
    public int? OwnerPid => Owners.Length > 0 ? Owners[0].Pid : null;

    public TcpState DisplayState => TcpStates.Normalize(State);
}

/// <summary>The part of the kernel's struct tcp_info a diagnosis needs. Times are in milliseconds, RTT in microseconds.</summary>
/// <remarks>Packed to 4 bytes, so that a socket record's optional copy is 76 bytes, not 80.</remarks>
[System.Runtime.InteropServices.StructLayout(System.Runtime.InteropServices.LayoutKind.Sequential, Pack = 4)]
public readonly record struct TcpInfo
{
    public byte CaState { get; init; }
    public byte Retransmits { get; init; }       // consecutive retransmits of the current segment
    public byte Probes { get; init; }            // unanswered keepalive or zero-window probes
    public byte Backoff { get; init; }
    public byte Options { get; init; }
    public uint RtoUs { get; init; }
    public uint Unacked { get; init; }           // segments sent and not yet acknowledged
    public uint Lost { get; init; }
    public uint Retrans { get; init; }
    public uint LastDataSentMs { get; init; }
    public uint LastDataRecvMs { get; init; }
    public uint LastAckRecvMs { get; init; }
    public uint RttUs { get; init; }
    public uint RttVarUs { get; init; }
    public uint TotalRetrans { get; init; }
    public ulong BytesAcked { get; init; }
    public ulong BytesReceived { get; init; }
    public ulong BytesSent { get; init; }

    /// <summary>Milliseconds since anything at all (data or a bare ACK) came from the peer.</summary>
    public uint SilentMs => Math.Min(LastDataRecvMs, LastAckRecvMs);
}
