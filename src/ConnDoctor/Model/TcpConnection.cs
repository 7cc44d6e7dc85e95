namespace ConnDoctor.Model;

/// <summary>Why a connection was reset, read from the packets around its first RST.</summary>
public enum ResetClass : byte
{
    None = 0,
    /// <summary>RST answering a SYN: nothing listens on the port (or the listen queue overflowed with tcp_abort_on_overflow).</summary>
    Refused,
    /// <summary>The resetting side closed with data from its peer still unread: Linux then sends RST instead of FIN.</summary>
    UnreadData,
    /// <summary>A bare RST to a live peer from a side that never closed: its host no longer knows the connection (crash, reboot, lost state).</summary>
    Stale,
    /// <summary>RST|ACK from a side that had received nothing from its peer: SO_LINGER 0 or an abort, nothing can have been unread.</summary>
    Abortive,
    /// <summary>A reset after the connection had already closed (answering a stray or late segment).</summary>
    Late,
    /// <summary>RST|ACK that acknowledged every byte the peer sent, with nothing after it: unread bytes in the buffer and a SO_LINGER 0 close after reading everything look the same on the wire.</summary>
    UnreadOrLinger,
}

/// <summary>How the first side to close did it.</summary>
public enum CloseKind : byte { None = 0, Fin, Rst }

/// <summary>
/// One TCP connection as a capture saw it (sequence and acknowledgement bookkeeping, no reassembly). The
/// client is the side that sent the SYN; when the capture began mid-connection it is the side with the
/// higher port and <see cref="OpenSeen"/> is false. Times are nanoseconds since the Unix epoch.
/// </summary>
public readonly record struct TcpConnection
{
    public NetEndpoint Client { get; init; }
    public NetEndpoint Server { get; init; }
    public bool OpenSeen { get; init; }
    /// <summary>The server answered the SYN (SYN-ACK seen).</summary>
    public bool Accepted { get; init; }
    public long StartNs { get; init; }
    public long EndNs { get; init; }
    /// <summary>SYN to the ACK of the SYN-ACK; 0 when the handshake was not seen.</summary>
    public long HandshakeRttNs { get; init; }
    public long BytesToServer { get; init; }
    public long BytesToClient { get; init; }
    public int Packets { get; init; }
    /// <summary>Segments that carried new data (retransmissions not counted).</summary>
    public int SegmentsToServer { get; init; }
    public int SegmentsToClient { get; init; }
    public int RetransToServer { get; init; }
    public int RetransToClient { get; init; }
    /// <summary>The SYN was sent more than once (lost SYNs or SYN-ACKs: drops, a full listen queue, a firewall).</summary>
    public int SynRetrans { get; init; }
    public int ZeroWindowFromClient { get; init; }
    public int ZeroWindowFromServer { get; init; }
    /// <summary>Retransmissions at the end of the capture that the peer never answered (it may have vanished).</summary>
    public int UnansweredAtEnd { get; init; }
    public bool UnansweredByServer { get; init; }
    public CloseKind FirstClose { get; init; }
    /// <summary>True when the client closed (FIN or RST) first.</summary>
    public bool ClientClosedFirst { get; init; }
    /// <summary>Both FINs seen, or a RST: the connection is over.</summary>
    public bool Closed { get; init; }
    public ResetClass Reset { get; init; }
    /// <summary>True when the client sent the (first) RST.</summary>
    public bool ResetByClient { get; init; }
    public long ResetNs { get; init; }
    public int RstPackets { get; init; }
    /// <summary>Peer bytes the capture shows were left unread (reset class unread-data): sent beyond the RST's acknowledgement or arriving after the close.</summary>
    public long UnreadBytes { get; init; }
    /// <summary>Unread-data because the resetting side's receive window was shut just before (zero, or filled by the peer and never opened again): bytes sat unread.</summary>
    public bool ResetAfterFullWindow { get; init; }
    /// <summary>The capture lacked some of the peer's sequence numbers, so the reset class was decided by timing.</summary>
    public bool ResetByTiming { get; init; }

    public long LifetimeNs => EndNs - StartNs;
    public bool Empty => BytesToServer == 0 && BytesToClient == 0;
    /// <summary>The server accepted and closed first at once with nothing exchanged (e.g. ZooKeeper at maxClientCnxns).</summary>
    public bool RejectedAtOnce => Accepted && Empty && FirstClose != CloseKind.None && !ClientClosedFirst;
    public NetEndpoint ResetBy => ResetByClient ? Client : Server;
    public NetEndpoint ResetPeer => ResetByClient ? Server : Client;
}

public static class ResetClasses
{
    public static readonly ResetClass[] All = [ResetClass.Refused, ResetClass.UnreadData, ResetClass.UnreadOrLinger, ResetClass.Stale, ResetClass.Abortive, ResetClass.Late];

    public static string Name(ResetClass c) => c switch
    {
        ResetClass.Refused => "refused",
        ResetClass.UnreadData => "unread-data",
        ResetClass.Stale => "stale",
        ResetClass.Abortive => "abortive",
        ResetClass.Late => "late",
        ResetClass.UnreadOrLinger => "unread-or-linger",
        _ => "none",
    };

    /// <summary>For narrow table columns.</summary>
    public static string ShortName(ResetClass c) => c switch { ResetClass.UnreadData => "unread", ResetClass.UnreadOrLinger => "unread?", ResetClass.Abortive => "abort", _ => Name(c) };
}
