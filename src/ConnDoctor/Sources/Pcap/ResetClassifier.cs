using ConnDoctor.Model;

namespace ConnDoctor.Sources.Pcap;

/// <summary>What the capture showed around a connection's first RST.</summary>
public readonly record struct ResetFacts
{
    /// <summary>The RST answered the peer's SYN and its sender never sent a SYN-ACK.</summary>
    public bool AnswersSyn { get; init; }
    /// <summary>The RST carried the ACK flag. A live socket that aborts always sets it; a host with no socket for the segment does not.</summary>
    public bool HasAck { get; init; }
    public bool AfterOwnFin { get; init; }
    public bool AfterBothFins { get; init; }
    /// <summary>Peer bytes the RST did not acknowledge.</summary>
    public int InFlight { get; init; }
    /// <summary>The sender's last window before the RST was zero: its receive buffer was full, nobody was reading.</summary>
    public bool AfterZeroWindow { get; init; }
    /// <summary>The peer's data came last, without a FIN, shortly before the RST: the reset cut a transfer in the middle.</summary>
    public bool CutPeerTransfer { get; init; }
    /// <summary>Peer payload that arrived after the sender's own FIN.</summary>
    public long PeerBytesAfterOwnFin { get; init; }
    /// <summary>Peer payload that kept coming after the RST.</summary>
    public long PeerBytesAfterRst { get; init; }
}

/// <summary>
/// Names the mechanism behind a reset. Linux sends RST instead of FIN when a socket is closed with received
/// data still unread (tcp_close: "data was unread"), and answers segments for a socket it does not have
/// with a bare RST (no ACK flag); an aborting socket (SO_LINGER 0) sends RST|ACK. Unread data itself is
/// invisible on the wire, so a RST|ACK counts as unread-data when the peer's data was still coming: bytes in
/// flight or arriving after the close, a full receive window, or the peer's transfer cut within a second of
/// its last segment. An abort after a finished exchange stays abortive.
/// </summary>
public static class ResetClassifier
{
    /// <summary>How soon after the peer's last data a reset still counts as cutting that transfer short.</summary>
    public const long MidTransferNs = 1_000_000_000L;

    public static ResetClass Classify(in ResetFacts f)
    {
        if (f.AnswersSyn) return ResetClass.Refused;
        if (f.AfterBothFins) return ResetClass.Late;
        if (!f.HasAck && !f.AfterOwnFin) return ResetClass.Stale;
        if (f.PeerBytesAfterOwnFin > 0 || f.PeerBytesAfterRst > 0 || f.InFlight > 0 || f.AfterZeroWindow || f.CutPeerTransfer) return ResetClass.UnreadData;
        return ResetClass.Abortive;
    }
}
