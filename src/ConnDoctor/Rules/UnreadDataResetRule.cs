using ConnDoctor.Analysis;
using ConnDoctor.Model;
using static ConnDoctor.Rules.CaptureFacts;

namespace ConnDoctor.Rules;

/// <summary>
/// A side closed a connection with its peer's data unread, so the kernel reset it instead of closing it: the
/// peer logs "Connection reset by peer". Seen in a capture as a RST that cuts a transfer (data still arriving
/// after the close, bytes in flight, a full receive window).
/// </summary>
public sealed class UnreadDataResetRule : IRule
{
    public string Id => "unread-data-reset";
    public string Description => "connections reset because one side closed with its peer's data unread (the peer sees 'Connection reset by peer')";

    public bool Reads(Evidence e) => e.Capture != null;

    public IEnumerable<Finding> Evaluate(RuleContext ctx)
    {
        if (ctx.Evidence.Capture is not { } cap) yield break;
        foreach (var g in cap.Connections.Where(c => c.Reset == ResetClass.UnreadData).GroupBy(c => (c.Client.Address, c.Server, c.ResetByClient)))
        {
            var list = g.OrderBy(c => c.ResetNs).ToList();
            var (client, server, byClient) = g.Key;
            string clientText = Analysis.SocketGrouper.FormatHost(client), serverText = Analysis.SocketGrouper.FormatEndpoint(server);
            string who = byClient ? $"client {clientText}" : $"server {serverText}";
            string peer = byClient ? $"server {serverText}" : $"client {clientText}";
            int all = cap.Pairs.First(p => p.Client == client && p.Server == server).Connections;
            var evidence = new List<string>
            {
                $"{list.Count} of {all} connection(s) from {clientText} to {serverText} ended with a RST from the {(byClient ? "client" : "server")} while data from the {(byClient ? "server" : "client")} was unread",
            };
            evidence.AddRange(Examples(list, list.Count, c =>
                $"{Conn(c)} at {At(c.ResetNs)}: {(byClient ? "client" : "server")} reset after receiving {Format.Bytes(byClient ? c.BytesToClient : c.BytesToServer)}; " +
                (c.UnreadBytes > 0 ? $"{Format.Bytes(c.UnreadBytes)} more were in flight or kept arriving"
                    : Ambiguous(c, byClient) ? $"all the {(byClient ? "server" : "client")} sent was acknowledged; its short reply had no FIN and came less than a second before"
                    : $"the {(byClient ? "server" : "client")} was still sending")));
            // A short reply, all acknowledged, then RST|ACK: a peer that read everything and closed with SO_LINGER 0 sends the
            // same. Such groups stay informational and say so.
            bool onlyTiming = list.All(c => Ambiguous(c, byClient));
            evidence.Add($"the {peer} sees each of these as ECONNRESET, 'Connection reset by peer', on its next read or write");
            yield return new Finding
            {
                RuleId = Id,
                Severity = SeverityPolicy.UnreadResets(list.Count, onlyTiming),
                Subject = Subject(client, server),
                Summary = $"{who} reset {list.Count} connection(s) {(byClient ? "to" : "from")} the {(byClient ? "server" : "client")} with its data unread",
                Evidence = evidence,
                Cause = $"The {(byClient ? "client" : "server")} closed these connections while data from its peer was still unread in its receive buffer or still on the way. " +
                        "Linux does not send a FIN then: it throws the unread data away and sends RST, and later segments from the peer get more RSTs. " +
                        (byClient
                            ? "Typical: an HTTP client that reads only the headers or the first bytes of a large response and closes (HttpURLConnection whose " +
                              "body is never read, a client that stops at a size limit or a timeout), so the server fails in the middle of writing the response."
                            : "Typical: a server that closes without reading the rest of the request (a body it rejected, a pipelined request), so the client's write fails.") +
                        (onlyTiming
                            ? $" Here every byte was acknowledged, so the wire cannot tell this from a {(byClient ? "client" : "server")} that read everything and " +
                              "closed with SO_LINGER 0 (some pools and load balancers do, to skip TIME_WAIT): check for that before blaming unread data."
                            : ""),
                Remedy = byClient
                    ? "Make the client read the response to the end before closing, or ask for less (HEAD, a Range request, paging) when it only needs the start; " +
                      "if it must abandon transfers, treat these resets on the server as the client leaving rather than a server error. " +
                      "Find the client process on that host with conndoctor sockets --remote " + serverText + "."
                    : "Make the server drain (or shut down writing and then read until EOF) what the client sends before it closes, or reply with " +
                      "'Connection: close' and keep reading until the client closes.",
            };
        }
    }

    /// <summary>Below this, a reply that was all acknowledged before the RST may as well have been read: only timing says otherwise.</summary>
    private const long ShortReply = 16 * 1024;

    private static bool Ambiguous(TcpConnection c, bool byClient) =>
        c.UnreadBytes == 0 && (byClient ? c.BytesToClient : c.BytesToServer) < ShortReply;
}
