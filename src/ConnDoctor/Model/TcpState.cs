namespace ConnDoctor.Model;

/// <summary>TCP states with the kernel's numbering (include/net/tcp_states.h), so masks can be sent as-is.</summary>
public enum TcpState : byte
{
    Unknown = 0,
    Established = 1,
    SynSent = 2,
    SynRecv = 3,
    FinWait1 = 4,
    FinWait2 = 5,
    TimeWait = 6,
    Close = 7,
    CloseWait = 8,
    LastAck = 9,
    Listen = 10,
    Closing = 11,
    NewSynRecv = 12,
}

public static class TcpStates
{
    /// <summary>Every state the kernel can report; NEW_SYN_RECV is a request socket, shown as SYN-RECV like ss does.</summary>
    public const uint AllMask = 0xFFE;

    /// <summary>The names ss prints, so output and filters read the same as the tool operators know.</summary>
    public static string Name(TcpState s) => s switch
    {
        TcpState.Established => "ESTAB",
        TcpState.SynSent => "SYN-SENT",
        TcpState.SynRecv or TcpState.NewSynRecv => "SYN-RECV",
        TcpState.FinWait1 => "FIN-WAIT-1",
        TcpState.FinWait2 => "FIN-WAIT-2",
        TcpState.TimeWait => "TIME-WAIT",
        TcpState.Close => "UNCONN",
        TcpState.CloseWait => "CLOSE-WAIT",
        TcpState.LastAck => "LAST-ACK",
        TcpState.Listen => "LISTEN",
        TcpState.Closing => "CLOSING",
        _ => "UNKNOWN",
    };

    /// <summary>The canonical state for reporting: request sockets count as SYN-RECV.</summary>
    public static TcpState Normalize(TcpState s) => s == TcpState.NewSynRecv ? TcpState.SynRecv : s;

    /// <summary>Parses a state as ss, netstat or the kernel spell it (ESTAB, ESTABLISHED, close-wait, CLOSE_WAIT, time_wait ...).</summary>
    public static bool TryParse(string text, out TcpState state)
    {
        var k = text.Trim().ToUpperInvariant().Replace('_', '-');
        state = k switch
        {
            "ESTAB" or "ESTABLISHED" => TcpState.Established,
            "SYN-SENT" => TcpState.SynSent,
            "SYN-RECV" or "SYN-RECEIVED" => TcpState.SynRecv,
            "FIN-WAIT-1" or "FIN-WAIT1" => TcpState.FinWait1,
            "FIN-WAIT-2" or "FIN-WAIT2" => TcpState.FinWait2,
            "TIME-WAIT" => TcpState.TimeWait,
            "CLOSE" or "CLOSED" or "UNCONN" => TcpState.Close,
            "CLOSE-WAIT" => TcpState.CloseWait,
            "LAST-ACK" => TcpState.LastAck,
            "LISTEN" or "LISTENING" => TcpState.Listen,
            "CLOSING" => TcpState.Closing,
            _ => TcpState.Unknown,
        };
        return state != TcpState.Unknown;
    }

    /// <summary>Kernel state bit for a filter mask; SYN-RECV also selects request sockets.</summary>
    public static uint MaskOf(TcpState s) => s == TcpState.SynRecv
        ? (1u << (int)TcpState.SynRecv) | (1u << (int)TcpState.NewSynRecv)
        : 1u << (int)s;
}
