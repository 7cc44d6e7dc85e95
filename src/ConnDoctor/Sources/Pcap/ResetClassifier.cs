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
    /// <summary>Peer bytes sent before the RST that it does not acknowledge.</summary>
    public int InFlight { get; init; }
    /// <summary>The sender's last window before the RST was zero: its receive buffer was full, nobody was reading.</summary>
    public bool AfterZeroWindow { get; init; }
    /// <summary>The peer's data had filled the last window the sender advertised, which it never opened again: the bytes were not read.</summary>
    public bool PeerFilledWindow { get; init; }
    /// <summary>The peer's data came last, without a FIN, shortly before the RST (timing only; used where sequence numbers are missing).</summary>
    public bool CutPeerTransfer { get; init; }
    /// <summary>Peer payload that arrived after the sender's own FIN.</summary>
    public long PeerBytesAfterOwnFin { get; init; }
    /// <summary>Peer payload beyond the RST's acknowledgement that kept coming after the RST.</summary>
    public long PeerBytesAfterRst { get; init; }
    /// <summary>The peer sent payload in this connection (or the capture began after its start, so it may have).</summary>
    public bool PeerSentData { get; init; }
    /// <summary>The capture lacks some of the peer's sequence space (capture loss, a snap length that cut the TCP header, a hole), so the acknowledgement cannot settle what was outstanding.</summary>
    public bool SequenceGap { get; init; }
}

/// <summary>
/// Names the mechanism behind a reset from sequence and acknowledgement numbers. Linux sends RST instead of FIN
/// when a socket is closed with received data still unread (tcp_close: "data was unread"), and answers segments
/// for a socket it does not have with a bare RST (no ACK flag); an aborting socket (SO_LINGER 0) sends RST|ACK.
/// Unread data is certain only when the wire proves it: the peer had sent bytes beyond the RST's acknowledgement,
/// kept sending after it, or the resetting side's window was zero or filled by the peer and never opened again (its
/// buffer held bytes the application did not read: a read would have sent a window update first). A RST|ACK
/// that acknowledges everything the peer sent looks the same whether bytes sat unread in the buffer or the
/// application read them all and closed with SO_LINGER 0: that is its own class. Timing decides only where the
/// capture lacks the sequence numbers, and the connection says so.
/// </summary>
public static class ResetClassifier
{
    /// <summary>How soon after the peer's last data a reset still counts as cutting that transfer short (only where sequence numbers are missing).</summary>
    public const long MidTransferNs = 1_000_000_000L;

    public static (ResetClass Class, bool ByTiming) Classify(in ResetFacts f)
    {
        if (f.AnswersSyn) return (ResetClass.Refused, false);
        if (f.AfterBothFins) return (ResetClass.Late, false);
        if (!f.HasAck && !f.AfterOwnFin) return (ResetClass.Stale, false);
        // The peer's bytes were beyond what the RST acknowledged (a bare RST acknowledges nothing), kept coming
        // after it, or the receive window was shut: data was certainly left unread.
        if (f.InFlight > 0 || f.PeerBytesAfterRst > 0 || f.AfterZeroWindow || f.PeerFilledWindow || (!f.HasAck && f.PeerBytesAfterOwnFin > 0)) return (ResetClass.UnreadData, false);
        if (f.SequenceGap)
            return f.CutPeerTransfer ? (ResetClass.UnreadData, true) : (f.PeerSentData ? ResetClass.UnreadOrLinger : ResetClass.Abortive, true);
        // Everything the peer sent is acknowledged: nothing received means nothing unread, an abort.
        return (f.PeerSentData ? ResetClass.UnreadOrLinger : ResetClass.Abortive, false);
    }

    /// <summary>The peer's bytes the capture shows were left unread: in flight past the RST's acknowledgement, or arriving after the close.</summary>
    public static long UnreadBytes(in ResetFacts f) => f.InFlight + f.PeerBytesAfterRst + (f.HasAck ? 0 : f.PeerBytesAfterOwnFin);
}
