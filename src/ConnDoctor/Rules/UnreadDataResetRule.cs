using ConnDoctor.Analysis;
using ConnDoctor.Model;
using static ConnDoctor.Rules.CaptureFacts;

namespace ConnDoctor.Rules;

/// <summary>
/// A side closed a connection with its peer's data unread, so the kernel reset it instead of closing it: the
/// peer logs "Connection reset by peer". Certain in a capture (reset class unread-data) when the peer's bytes
/// went beyond what the RST acknowledged, kept coming after it, or met a zero window. A RST that acknowledged
/// everything (class unread-or-linger) may as well be a SO_LINGER 0 close after reading it all: reported on
/// its own, at info unless it is the pair's pattern.
/// </summary>
public sealed class UnreadDataResetRule : IRule
{
    public string Id => "unread-data-reset";
    public string Description => "connections reset because one side closed with its peer's data unread (the peer sees 'Connection reset by peer')";

    public bool Reads(Evidence e) => e.Capture != null;

    public bool ReadsWatch => false;

    public IEnumerable<Finding> Evaluate(RuleContext ctx)
    {
        if (ctx.Evidence.Capture is not { } cap) yield break;
        foreach (var g in cap.Connections.Where(c => c.Reset is ResetClass.UnreadData or ResetClass.UnreadOrLinger)
                     .GroupBy(c => (c.Client.Address, c.Server, c.ResetByClient, c.Reset)).OrderBy(g => g.Key.Reset))
        {
            var list = g.OrderBy(c => c.ResetNs).ToList();
            var (client, server, byClient, cls) = g.Key;
            var pair = cap.Pairs.First(p => p.Client == client && p.Server == server);
            var s = new Sides(client, server, byClient);
            yield return cls == ResetClass.UnreadData ? Certain(s, list, pair) : AckedAll(s, list, pair);
        }
    }

    private sealed record Sides(NetAddress Client, NetEndpoint Server, bool ByClient)
    {
        public string ClientText => SocketGrouper.FormatHost(Client);
        public string ServerText => SocketGrouper.FormatEndpoint(Server);
        /// <summary>"client 10.0.0.7" or "server 10.0.0.5:80": the side that reset.</summary>
        public string Who => ByClient ? $"client {ClientText}" : $"server {ServerText}";
        public string Peer => ByClient ? $"server {ServerText}" : $"client {ClientText}";
        public string Me => ByClient ? "client" : "server";
        public string Them => ByClient ? "server" : "client";
        public long Received(in TcpConnection c) => ByClient ? c.BytesToClient : c.BytesToServer;
    }

    private Finding Certain(Sides s, List<TcpConnection> list, PairSummary pair)
    {
        var evidence = new List<string>
        {
            $"{list.Count} of {pair.Connections} connection(s) from {s.ClientText} to {s.ServerText} ended with a RST from the {s.Me} while data from the {s.Them} was unread",
        };
        evidence.AddRange(Examples(list, list.Count, c =>
            $"{Conn(c)} at {At(c.ResetNs)}: {s.Me} reset after receiving {Format.Bytes(s.Received(c))}; " +
            (c.ResetByTiming
                ? $"the capture misses some of the {s.Them}'s packets, so sequence numbers cannot settle it: judged by timing, its data (no FIN) came less than a second before the reset"
                : c.UnreadBytes > 0
                    ? $"{Format.Bytes(c.UnreadBytes)} from the {s.Them} went beyond what the reset acknowledged or arrived after it"
                    : $"its receive window was shut (zero, or filled by the {s.Them} and never opened again): it had stopped reading")));
        evidence.Add($"the {s.Peer} sees each of these as ECONNRESET, 'Connection reset by peer', on its next read or write");
        return new Finding
        {
            RuleId = Id,
            Severity = SeverityPolicy.UnreadResets(list.Count),
            Subject = Subject(s.Client, s.Server),
            Summary = $"{s.Who} reset {list.Count} connection(s) {(s.ByClient ? "to" : "from")} the {s.Them} with its data unread",
            Evidence = evidence,
            Cause = $"The {s.Me} closed these connections while data from its peer was still unread in its receive buffer or still on the way. " +
                    "Linux does not send a FIN then: it throws the unread data away and sends RST, and later segments from the peer get more RSTs. " +
                    (s.ByClient
                        ? "Typical: an HTTP client that reads only the headers or the first bytes of a large response and closes (HttpURLConnection whose " +
                          "body is never read, a client that stops at a size limit or a timeout), so the server fails in the middle of writing the response."
                        : "Typical: a server that closes without reading the rest of the request (a body it rejected, a pipelined request), so the client's write fails."),
            Remedy = s.ByClient
                ? "Make the client read the response to the end before closing, or ask for less (HEAD, a Range request, paging) when it only needs the start; " +
                  "if it must abandon transfers, treat these resets on the server as the client leaving rather than a server error. " +
                  "Find the client process on that host with conndoctor sockets --remote " + s.ServerText + "."
                : "Make the server drain (or shut down writing and then read until EOF) what the client sends before it closes, or reply with " +
                  "'Connection: close' and keep reading until the client closes.",
        };
    }

    private Finding AckedAll(Sides s, List<TcpConnection> list, PairSummary pair)
    {
        int closed = pair.Connections - pair.StillOpen;
        bool pattern = SeverityPolicy.IsAckedAllPattern(list.Count, closed);
        var evidence = new List<string>
        {
            $"{list.Count} of {pair.Connections} connection(s) from {s.ClientText} to {s.ServerText} ended with a RST from the {s.Me} that acknowledged every byte the {s.Them} had sent, with nothing more from the {s.Them} after it",
        };
        evidence.AddRange(Examples(list, list.Count, c =>
            $"{Conn(c)} at {At(c.ResetNs)}: {s.Me} reset after receiving {Format.Bytes(s.Received(c))}, all of it acknowledged" +
            (c.ResetByTiming ? $" (the capture misses some of the {s.Them}'s packets)" : "")));
        evidence.Add($"the kernel acknowledges what arrives whether or not the application reads it: unread bytes in the {s.Me}'s buffer and a close with SO_LINGER 0 after reading everything send the same packets");
        if (pattern) evidence.Add($"{list.Count} of the pair's {closed} closed connection(s) end this way: the {s.Me}'s pattern, not a one-off");
        evidence.Add($"the {s.Peer} sees each of these as ECONNRESET, 'Connection reset by peer', if it reads or writes again");
        return new Finding
        {
            RuleId = Id,
            Severity = SeverityPolicy.AckedAllResets(list.Count, closed),
            Subject = Subject(s.Client, s.Server),
            Summary = $"{s.Who} reset {list.Count} connection(s) {(s.ByClient ? "to" : "from")} the {s.Them} after acknowledging all it was sent: data left unread or a SO_LINGER 0 close, the capture cannot tell which",
            Evidence = evidence,
            Cause = $"The {s.Me} ended these connections with RST instead of FIN after its kernel had acknowledged everything the {s.Them} sent. " +
                    "Linux does that in two cases a capture cannot tell apart: the application closed with bytes still unread in its receive buffer " +
                    "(the kernel throws them away and resets), or it set SO_LINGER with a zero timeout and closed after reading everything " +
                    "(some connection pools, proxies and load balancers do, to skip TIME_WAIT).",
            Remedy = $"Check the {s.Me} application on {(s.ByClient ? s.ClientText : s.ServerText)}: if it sets SO_LINGER 0 (Java setSoLinger(true, 0), " +
                     "HAProxy 'option nolinger', a pool's abortive close), these resets are its design and the peer's 'Connection reset by peer' errors are noise; " +
                     $"if it does not, it closes without reading the whole {(s.ByClient ? "reply" : "request")}: make it read to the end before closing. " +
                     "conndoctor watch on that host tells the two apart where the kernel reports why it reset (TCP_ABORT_ON_CLOSE: unread data).",
        };
    }
}
