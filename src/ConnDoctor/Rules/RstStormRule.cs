using ConnDoctor.Analysis;
using ConnDoctor.Model;

namespace ConnDoctor.Rules;

/// <summary>
/// Many connections of one process ended by resets, sent by it or towards it (conndoctor watch). Where the kernel
/// sent the reset because the process closed a socket with data still unread (RFC 2525 2.17), it says so.
/// </summary>
public sealed class RstStormRule : IRule
{
    public string Id => "rst-storm";
    public string Description => "many connections of one process end in resets, sent by it or towards it (closing with data unread, refused peers)";

    public bool Reads(Evidence e) => e.Watch != null;

    public IEnumerable<Finding> Evaluate(RuleContext ctx)
    {
        if (ctx.Evidence.Watch is not { } w) yield break;
        if (w.Rows.Count == 0 && w.Mode == WatchMode.Snapshot)
            ctx.NotEnoughEvidence("snapshot mode cannot see resets: run as root with tracefs for tracepoints");
        if (w.Mode == WatchMode.Snapshot) yield break;
        foreach (var r in w.Rows)
        {
            int sent = r.ResetsSent, received = r.ResetsReceived;
            int count = Math.Max(sent, received);
            if (count < SeverityPolicy.ResetInfoCount && r.UnreadDataResets == 0) continue;   // any unread-data reset is reported, as pcap does
            // Both ends on this host (a loopback loop): the client's finding tells the server's side too, once.
            if (r.Passive && Resetters(w, r).Sum(a => a.ResetsSent) >= received && sent < received) continue;
            double seconds = Math.Max(1.0, w.Seconds);
            double rate = count / seconds;
            bool bySelf = sent >= received;
            bool unread = bySelf && r.UnreadDataResets * 2 >= sent && r.UnreadDataResets > 0;
            // Unread-data resets are judged as a capture judges them (unread-data-reset), by count: same client, same severity.
            var sev = unread
                ? (Severity)Math.Max((int)SeverityPolicy.UnreadResets(r.UnreadDataResets), (int)(SeverityPolicy.Resets(count, rate) ?? Severity.Info))
                : SeverityPolicy.Resets(count, rate) ?? Severity.Info;
            string who = WatchFacts.Who(r);
            string peer = r.Passive ? $"clients at {r.Endpoint.Split(" <- ")[^1]}" : r.Endpoint;
            var evidence = new List<string>
            {
                $"{WatchFacts.ModeLine(w)}: {r.Opens + 0} connection(s) opened" + (r.Passive ? $" to :{r.LocalPort} from {peer}" : $" to {peer}") + $", {r.Closes} closed",
                $"{sent} connection(s) reset by {who} (the kernel sent RST), {received} reset by the peer",
            };
            if (r.UnreadDataResets > 0)
                evidence.Add($"{r.UnreadDataResets} of those resets were sent because {who} closed the socket with received data it never read " +
                             "(tcp_send_reset reason TCP_ABORT_ON_CLOSE: tcp_close() found unread bytes in the receive queue)");
            evidence.Add($"median lifetime {Format.Millis(r.MedianLifetimeMs)}, p99 {Format.Millis(r.P99LifetimeMs)}");
            var servers = r.Passive ? [] : Servers(w, r).Where(s => s.ResetsReceived > 0).ToList();
            if (servers.Count > 0)
                evidence.Add("the other end is on this host: " + string.Join(", ", servers.Select(s => $"{WatchFacts.Who(s)} on :{s.LocalPort} had {s.ResetsReceived} connection(s) reset")) +
                             " ('Connection reset by peer' on its side)");
            string cause = unread
                ? $"{who} closes its connections while data from {peer} is still unread. Linux then does not send a FIN: it discards the unread " +
                  "data and sends RST (RFC 2525 section 2.17), and every segment the peer still sends gets another RST. The peer sees " +
                  "'Connection reset by peer' in the middle of writing. Typical: a client that reads only the headers or the first bytes of a large " +
                  "response and closes (an HTTP client whose body is never consumed, a size limit, a timeout)."
                : bySelf
                    ? $"{who}'s kernel ends these connections with RST instead of FIN: the process aborts them (SO_LINGER with 0, a crash), or segments " +
                      "arrive for connections it no longer has."
                    : r.Passive
                        ? $"The clients reset their connections to {who}: a client that closes while data from this server is still unread in its " +
                          "buffer makes its kernel send RST instead of FIN (RFC 2525 2.17), and a client that aborts (SO_LINGER 0, a crash, a timeout) does too. " +
                          "This server then sees 'Connection reset by peer' while it writes."
                        : $"The peers reset {who}'s connections: the remote side refuses them (nothing listens, a firewall answers RST), aborts them, or " +
                          "closed with data unread on its side.";
            string remedy = unread
                ? "Read the response to the end before closing (or drain the socket until EOF), or ask only for what is needed (HEAD, a Range " +
                  "request, paging). If the client must abandon transfers, expect these resets on the server and do not count them as server errors."
                : bySelf
                    ? "Look for abortive closes (SO_LINGER 0) and crashes in that process; check the peer's logs for the errors these resets cause."
                    : r.Passive
                        ? $"Run conndoctor watch on the client host ({peer}): it names the client process and says whether it closes with data unread. " +
                          "Treat these resets as clients leaving, not as server errors, unless the clients say otherwise."
                    : $"Check that {peer} is up and accepts connections (nothing listening answers SYN with RST), look at its logs for why it resets, " +
                      "and make the client back off instead of reconnecting at once.";
            yield return new Finding
            {
                RuleId = Id,
                Severity = sev,
                Subject = WatchFacts.Subject(r, w.AllNetns),
                Summary = unread
                    ? $"{who} reset {sent} connection(s) {(r.Passive ? "from" : "to")} {peer} by closing them with data unread"
                    : bySelf ? $"{who} reset {sent} connection(s) {(r.Passive ? "from" : "to")} {peer}" : $"{received} connection(s) of {who} {(r.Passive ? "from" : "to")} {peer} were reset by the peer",
                Evidence = evidence,
                Cause = cause,
                Remedy = remedy,
            };
        }
    }

    /// <summary>Active rows of this host towards a passive row's port, from its client address (or both on loopback).</summary>
    private static IEnumerable<WatchRow> Resetters(WatchEvidence w, WatchRow passive) =>
        w.Rows.Where(a => !a.Passive && a.ResetsSent > 0 && a.RemotePort == passive.LocalPort && a.Netns == passive.Netns && SameHost(a, passive));

    /// <summary>Passive rows of this host that an active row connects to.</summary>
    private static IEnumerable<WatchRow> Servers(WatchEvidence w, WatchRow active) =>
        w.Rows.Where(p => p.Passive && p.LocalPort == active.RemotePort && p.Netns == active.Netns && SameHost(active, p));

    private static bool SameHost(WatchRow active, WatchRow passive)
    {
        string client = passive.Endpoint.Split(" <- ")[^1], server = active.Endpoint[..active.Endpoint.LastIndexOf(':')].Trim('[', ']');
        return client == server || (Loopback(client) && Loopback(server));
    }

    private static bool Loopback(string host) => host.StartsWith("127.", StringComparison.Ordinal) || host == "::1";
}
