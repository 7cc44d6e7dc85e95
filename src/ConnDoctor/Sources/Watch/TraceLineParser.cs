using System.Buffers.Text;
using System.Net;
using System.Text;
using ConnDoctor.Model;

namespace ConnDoctor.Sources.Watch;

public enum TraceEventKind : byte { SetState, SendReset, ReceiveReset }

/// <summary>
/// One tracepoint line. Addresses are as the kernel printed them: for set_state and receive_reset Src is the
/// socket's own side (sport/saddr); for send_reset Src is the side sending the reset.
/// </summary>
public struct TraceEvent
{
    public TraceEventKind Kind;
    /// <summary>The task (thread) id the trace prints: in a multi-threaded program a thread's, not the process's.</summary>
    public int Pid;
    /// <summary>
    /// Its thread group id (the process) when the instance records them (options/record-tgid) and the kernel's tgid map
    /// held it when the line was formatted; 0 when unknown ("(-------)", or no such column).
    /// </summary>
    public int Tgid;
    /// <summary>The task's command name: a thread's own name (Java's "main-SendThread") in a multi-threaded program.</summary>
    public string Comm;
    /// <summary>The event ran in softirq or hardirq context: the pid is whatever task was on the CPU.</summary>
    public bool InInterrupt;
    public double TimestampSec;
    public NetEndpoint Src;
    public NetEndpoint Dst;
    public TcpState OldState;
    public TcpState NewState;   // for resets: the socket's state, Unknown if none
    public string? Reason;      // tcp_send_reset's reason (kernels 6.10+), else null
}

/// <summary>
/// Parses the text lines of trace_pipe for sock/inet_sock_set_state, tcp/tcp_send_reset and tcp/tcp_receive_reset
/// (formats as in /sys/kernel/tracing/events/*/format on 6.x kernels). Pure: bytes in, an event out.
/// </summary>
public static class TraceLineParser
{
    private static readonly byte[] SetStateTag = ": inet_sock_set_state: "u8.ToArray();
    private static readonly byte[] SendResetTag = ": tcp_send_reset: "u8.ToArray();
    private static readonly byte[] ReceiveResetTag = ": tcp_receive_reset: "u8.ToArray();

    /// <summary>False for a line that is not one of the three events or is cut (counted as malformed by the caller).</summary>
    public static bool TryParse(ReadOnlySpan<byte> line, out TraceEvent ev)
    {
        ev = default;
        TraceEventKind kind;
        int tag;
        if ((tag = line.IndexOf(SetStateTag)) >= 0) { kind = TraceEventKind.SetState; }
        else if ((tag = line.IndexOf(SendResetTag)) >= 0) { kind = TraceEventKind.SendReset; }
        else if ((tag = line.IndexOf(ReceiveResetTag)) >= 0) { kind = TraceEventKind.ReceiveReset; }
        else return false;
        int tagLen = kind switch { TraceEventKind.SetState => SetStateTag.Length, TraceEventKind.SendReset => SendResetTag.Length, _ => ReceiveResetTag.Length };
        ev.Kind = kind;
        if (!ParseHead(line[..tag], ref ev, out var task)) return false;
        var fields = line[(tag + tagLen)..];
        bool ok = kind == TraceEventKind.SendReset ? ParseSendReset(fields, ref ev) : ParseFamilyFields(fields, ref ev, kind == TraceEventKind.SetState);
        // The command is a string only where someone reads it (connect() and resets): most events never need one.
        ev.Comm = ok && (kind != TraceEventKind.SetState || ev.NewState == TcpState.SynSent) ? PrintableText.Of(Encoding.UTF8.GetString(task)) : "";
        return ok;
    }

    /// <summary>
    /// "          python3-29338   [001] .Ns2.  5210.323721", or with options/record-tgid
    /// "  main-SendThread-8130    (   8123) [001] .....  5210.323721" ("(-------)" when the tgid is not known yet).
    /// </summary>
    private static bool ParseHead(ReadOnlySpan<byte> head, ref TraceEvent ev, out ReadOnlySpan<byte> comm)
    {
        comm = default;
        head = head.TrimEnd((byte)' ');
        int sp = head.LastIndexOf((byte)' ');
        if (sp < 0 || !Utf8Parser.TryParse(head[(sp + 1)..], out double ts, out int used) || used != head.Length - sp - 1) return false;
        ev.TimestampSec = ts;
        var rest = head[..sp].TrimEnd((byte)' ');
        int sp2 = rest.LastIndexOf((byte)' ');
        if (sp2 < 0) return false;
        var flags = rest[(sp2 + 1)..];
        ev.InInterrupt = flags.Length >= 3 && flags[2] != (byte)'.';
        rest = rest[..sp2];
        int cpu = rest.LastIndexOf(" ["u8);
        if (cpu < 0) return false;
        var task = rest[..cpu].Trim((byte)' ');
        ev.Tgid = 0;
        if (task.Length > 0 && task[^1] == (byte)')')
        {
            // The tgid column: the last " (" of the task field (a command name may hold parentheses and spaces too).
            int open = task.LastIndexOf(" ("u8);
            if (open > 0)
            {
                var col = task[(open + 2)..^1].Trim((byte)' ');
                if (col.Length > 0 && col.IndexOfAnyExcept((byte)'-') < 0) task = task[..open].TrimEnd((byte)' ');
                else if (Utf8Parser.TryParse(col, out int tgid, out int usedTgid) && usedTgid == col.Length && tgid > 0)
                {
                    ev.Tgid = tgid;
                    task = task[..open].TrimEnd((byte)' ');
                }
            }
        }
        int dash = task.LastIndexOf((byte)'-');
        if (dash < 0 || !Utf8Parser.TryParse(task[(dash + 1)..], out int pid, out _)) return false;
        ev.Pid = pid;
        comm = task[..dash];
        return true;
    }

    /// <summary>family=AF_INET protocol=IPPROTO_TCP sport=.. dport=.. saddr=.. daddr=.. saddrv6=.. daddrv6=.. oldstate=.. newstate=..</summary>
    private static bool ParseFamilyFields(ReadOnlySpan<byte> f, ref TraceEvent ev, bool states)
    {
        var family = Field(f, "family="u8);
        bool v6 = family.SequenceEqual("AF_INET6"u8);
        if (!v6 && !family.SequenceEqual("AF_INET"u8)) return false;
        var proto = Field(f, "protocol="u8);
        if (proto.Length > 0 && !proto.SequenceEqual("IPPROTO_TCP"u8)) return false; // MPTCP/SCTP share the tracepoint
        if (!Utf8Parser.TryParse(Field(f, "sport="u8), out ushort sport, out _) || !Utf8Parser.TryParse(Field(f, "dport="u8), out ushort dport, out _)) return false;
        if (!TryAddress(Field(f, v6 ? "saddrv6="u8 : "saddr="u8), out var sa) || !TryAddress(Field(f, v6 ? "daddrv6="u8 : "daddr="u8), out var da)) return false;
        ev.Src = new NetEndpoint(sa, sport);
        ev.Dst = new NetEndpoint(da, dport);
        if (states)
        {
            ev.OldState = StateOf(Field(f, "oldstate="u8));
            ev.NewState = StateOf(Field(f, "newstate="u8));
            if (ev.OldState == TcpState.Unknown || ev.NewState == TcpState.Unknown) return false;
        }
        return true;
    }

    /// <summary>
    /// 6.10+: "skbaddr=.. skaddr=.. src=127.0.0.1:55816 dest=[::1]:5556 state=TCP_CLOSE reason=TCP_ABORT_ON_CLOSE".
    /// Before (the tcp_event_sk_skb class, include/trace/events/tcp.h up to 6.9): the socket's own ends,
    /// "skbaddr=.. skaddr=.. family=AF_INET sport=.. dport=.. saddr=.. daddr=.. saddrv6=.. daddrv6=.. state=..", and
    /// before family was added to it, the same without "family=" (the IPv6 pair then holds IPv4 ends as ::ffff:a.b.c.d).
    /// </summary>
    private static bool ParseSendReset(ReadOnlySpan<byte> f, ref TraceEvent ev)
    {
        if (Field(f, "src="u8) is { Length: > 0 } src)
        {
            if (!TryEndpoint(src, out ev.Src) || !TryEndpoint(Field(f, "dest="u8), out ev.Dst)) return false;
        }
        else if (Field(f, "family="u8).Length > 0)
        {
            if (!ParseFamilyFields(f, ref ev, states: false)) return false;
        }
        else
        {
            if (!Utf8Parser.TryParse(Field(f, "sport="u8), out ushort sport, out _) || !Utf8Parser.TryParse(Field(f, "dport="u8), out ushort dport, out _)) return false;
            if (!TryAddress(Field(f, "saddrv6="u8), out var sa) || !TryAddress(Field(f, "daddrv6="u8), out var da)) return false;
            ev.Src = new NetEndpoint(sa.Unmapped, sport);
            ev.Dst = new NetEndpoint(da.Unmapped, dport);
        }
        ev.NewState = StateOf(Field(f, "state="u8));
        var reason = Field(f, "reason="u8);
        ev.Reason = reason.Length > 0 ? Encoding.ASCII.GetString(reason) : null;
        return true;
    }

    /// <summary>The value after " key" (or at the start), up to the next space.</summary>
    internal static ReadOnlySpan<byte> Field(ReadOnlySpan<byte> fields, ReadOnlySpan<byte> key)
    {
        int i = 0;
        while (true)
        {
            int at = fields[i..].IndexOf(key);
            if (at < 0) return default;
            at += i;
            if (at == 0 || fields[at - 1] == (byte)' ')
            {
                var v = fields[(at + key.Length)..];
                int end = v.IndexOfAny((byte)' ', (byte)'\n');
                return end < 0 ? v : v[..end];
            }
            i = at + 1;
        }
    }

    internal static TcpState StateOf(ReadOnlySpan<byte> name)
    {
        if (!name.StartsWith("TCP_"u8)) return TcpState.Unknown;
        return name[4..] switch
        {
            var n when n.SequenceEqual("ESTABLISHED"u8) => TcpState.Established,
            var n when n.SequenceEqual("SYN_SENT"u8) => TcpState.SynSent,
            var n when n.SequenceEqual("SYN_RECV"u8) => TcpState.SynRecv,
            var n when n.SequenceEqual("FIN_WAIT1"u8) => TcpState.FinWait1,
            var n when n.SequenceEqual("FIN_WAIT2"u8) => TcpState.FinWait2,
            var n when n.SequenceEqual("TIME_WAIT"u8) => TcpState.TimeWait,
            var n when n.SequenceEqual("CLOSE"u8) => TcpState.Close,
            var n when n.SequenceEqual("CLOSE_WAIT"u8) => TcpState.CloseWait,
            var n when n.SequenceEqual("LAST_ACK"u8) => TcpState.LastAck,
            var n when n.SequenceEqual("LISTEN"u8) => TcpState.Listen,
            var n when n.SequenceEqual("CLOSING"u8) => TcpState.Closing,
            var n when n.SequenceEqual("NEW_SYN_RECV"u8) => TcpState.NewSynRecv,
            _ => TcpState.Unknown,
        };
    }

    internal static bool TryAddress(ReadOnlySpan<byte> text, out NetAddress address)
    {
        address = default;
        if (text.Length == 0 || text.Length > 64) return false;
        if (text.Length <= 15 && text.IndexOf((byte)':') < 0)
        {
            uint v = 0;
            var rest = text;
            for (int i = 0; i < 4; i++)
            {
                if (!Utf8Parser.TryParse(rest, out byte b, out int used) || used == 0) return false;
                v = (v << 8) | b;
                rest = rest[used..];
                if (i < 3) { if (rest.Length == 0 || rest[0] != (byte)'.') return false; rest = rest[1..]; }
            }
            if (rest.Length != 0) return false;
            address = NetAddress.FromIPv4(v);
            return true;
        }
        Span<char> chars = stackalloc char[text.Length];
        for (int i = 0; i < text.Length; i++) chars[i] = (char)text[i];
        if (!IPAddress.TryParse(chars, out var ip)) return false;
        address = NetAddress.FromIPAddress(ip);
        return true;
    }

    /// <summary>"127.0.0.1:55816" or "[::1]:5556" (%pISpc).</summary>
    internal static bool TryEndpoint(ReadOnlySpan<byte> text, out NetEndpoint ep)
    {
        ep = default;
        int colon = text.LastIndexOf((byte)':');
        if (colon <= 0 || !Utf8Parser.TryParse(text[(colon + 1)..], out ushort port, out int used) || used != text.Length - colon - 1) return false;
        var addr = text[..colon];
        if (addr.Length >= 2 && addr[0] == (byte)'[' && addr[^1] == (byte)']') addr = addr[1..^1];
        if (!TryAddress(addr, out var a)) return false;
        ep = new NetEndpoint(a, port);
        return true;
    }
}
