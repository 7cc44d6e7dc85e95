using ConnDoctor.Model;
using static ConnDoctor.Rules.CaptureFacts;

namespace ConnDoctor.Rules;

/// <summary>Connection attempts answered with RST: nothing listens on the port, and a client that keeps retrying.</summary>
public sealed class RefusedStormRule : IRule
{
    public string Id => "refused-storm";
    public string Description => "connection attempts refused with RST (nothing listening), above all a client retrying in a loop";

    private const int WarnCount = 10, CriticalCount = 100;
    private const double CriticalRate = 10; // per second

    public bool Reads(Evidence e) => e.Capture != null;

    public bool ReadsWatch => false;

    public IEnumerable<Finding> Evaluate(RuleContext ctx)
    {
        if (ctx.Evidence.Capture is not { } cap) yield break;
        foreach (var p in cap.Pairs.Where(p => p.ResetCount(ResetClass.Refused) > 0))
        {
            var list = cap.ConnectionsOf(p).Where(c => c.Reset == ResetClass.Refused).OrderBy(c => c.StartNs).ToList();
            var (client, server) = (p.Client, p.Server);
            string serverText = Analysis.SocketGrouper.FormatEndpoint(server);
            double rate = Rate(list.Count, list[0].StartNs, list[^1].StartNs);
            int accepted = cap.Pairs.Where(x => x.Server == server).Sum(x => x.Connections - x.ResetCount(ResetClass.Refused));
            var evidence = new List<string>
            {
                $"{list.Count} SYN(s) from {Analysis.SocketGrouper.FormatHost(client)} to {serverText} answered with RST " +
                (list.Count > 1 ? $"between {At(list[0].StartNs)} and {At(list[^1].StartNs)}, about {rate:0.#}/s" : $"at {At(list[0].StartNs)}"),
                accepted > 0
                    ? $"the same port had {accepted} other connection(s) in this capture: it was not always closed"
                    : $"no connection to {serverText} was accepted in this capture",
            };
            evidence.AddRange(Examples(list, list.Count, c => $"{Conn(c)} at {At(c.StartNs)}: refused"));
            yield return new Finding
            {
                RuleId = Id,
                Severity = list.Count >= CriticalCount && rate >= CriticalRate ? Severity.Critical : list.Count >= WarnCount ? Severity.Warning : Severity.Info,
                Subject = Subject(client, server),
                Summary = $"{list.Count} connection attempt(s) to {serverText} refused" + (list.Count >= WarnCount ? $", about {rate:0.#}/s: the client keeps retrying" : ""),
                Evidence = evidence,
                Cause = $"When these SYNs arrived, nothing listened on {serverText}, so its kernel answered each with RST and connect() failed with ECONNREFUSED " +
                        "('Connection refused'). " +
                        (accepted > 0
                            ? "Since the port accepted other connections, the service was restarting or went down during the capture, or its listen queue " +
                              "overflowed with net.ipv4.tcp_abort_on_overflow=1. "
                            : "The service is down, listens on another address or port, or the client is configured with the wrong one. ") +
                        "A client that retries at once turns each failure into a burst of refused attempts.",
                Remedy = $"On the server, check that the service runs and listens there: ss -ltn 'sport = :{server.Port}'. Fix the client's address or port if it is wrong, " +
                         "and make it back off between retries (exponential, with jitter) instead of retrying in a tight loop.",
            };
        }
    }
}
