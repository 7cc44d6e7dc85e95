using ConnDoctor.Analysis;
using ConnDoctor.Model;

namespace ConnDoctor.Rules;

/// <summary>
/// An ESTABLISHED socket whose peer may be gone: data or keepalive probes go unanswered, or nothing has come
/// for a long time and no keepalive would ever notice. Only the peer host can prove it is gone; this says
/// which sockets to check and how.
/// </summary>
public sealed class HalfOpenSuspectRule : IRule
{
    public string Id => "half-open-suspect";
    public string Description => "ESTABLISHED sockets whose peer may have vanished: unanswered retransmits or probes, or long silence without keepalive";

    private const int RetransmitsStrong = 3;       // consecutive timeouts of the same segment
    private const int ProbesStrong = 2;            // consecutive unanswered keepalive probes (a live peer answers the first)
    private static readonly TimeSpan LongSilence = TimeSpan.FromHours(1);
    private const int ContrastCount = 3;

    private enum Kind { Retransmitting, Probing, Silent }

    public bool Reads(Evidence e) => e.Namespaces.Count > 0; // a socket table was read

    public IEnumerable<Finding> Evaluate(RuleContext ctx)
    {
        var e = ctx.Evidence;
        var est = e.Sockets.Where(s => s.State == TcpState.Established).ToList();
        if (est.Count > 0 && est.All(s => s.Info == null))
        {
            ctx.NotEnoughEvidence("no tcp_info (the /proc/net/tcp fallback has no silence times); run as root on a kernel with sock_diag");
            yield break;
        }
        uint idleMs = (uint)Math.Min(uint.MaxValue, ctx.Options.Idle.TotalMilliseconds);
        var suspects = new List<(SocketRecord S, Kind K)>();
        foreach (var s in est)
        {
            if (s.Info is not TcpInfo i) continue;
            if (i.Unacked > 0 && (i.Retransmits >= RetransmitsStrong || (s.Timer == TimerKind.Retransmit && s.TimerRetransmits >= RetransmitsStrong)))
                suspects.Add((s, Kind.Retransmitting));
            else if (s.Timer == TimerKind.Keepalive && i.Probes >= ProbesStrong)
                suspects.Add((s, Kind.Probing));
            else if (s.Timer == TimerKind.None && i.Unacked == 0 && i.SilentMs >= idleMs)
                suspects.Add((s, Kind.Silent));
        }

        foreach (var g in suspects.GroupBy(x => (x.S.NetnsIndex, Pid: x.S.Owners.Length > 0 ? x.S.Owners[0].Pid : 0, Peer: x.S.Remote.Address.Unmapped)))
        {
            var list = g.ToList();
            int strong = list.Count(x => x.K != Kind.Silent);
            int? pid = g.Key.Pid == 0 ? null : g.Key.Pid;
            // Contrast: the same process is busy with other peers while this one is silent.
            int activeElsewhere = pid == null ? 0 : est.Count(s => s.NetnsIndex == g.Key.NetnsIndex && s.Owners.Length > 0 && s.Owners[0].Pid == pid
                && s.Remote.Address.Unmapped != g.Key.Peer && s.Info is TcpInfo i && i.SilentMs < idleMs);
            uint maxSilent = list.Max(x => x.S.Info!.Value.SilentMs);
            var sev = strong >= 10 ? Severity.Critical
                : strong > 0 ? Severity.Warning
                : maxSilent >= LongSilence.TotalMilliseconds || (list.Count >= ContrastCount && activeElsewhere > 0) ? Severity.Warning
                : Severity.Info;
            var who = pid is int p ? (e.Processes.TryGetValue(p, out var pr) ? pr.Label : $"pid {p}") : "an unknown process";
            string peer = SocketGrouper.FormatHost(g.Key.Peer);
            var evidence = new List<string>();
            foreach (var x in list.OrderByDescending(x => x.K != Kind.Silent).ThenByDescending(x => x.S.Info!.Value.SilentMs).Take(8))
                evidence.Add(Describe(x.S, x.K));
            if (list.Count > 8) evidence.Add($"... and {list.Count - 8} more");
            if (activeElsewhere > 0) evidence.Add($"meanwhile {who} has {activeElsewhere} active connection(s) with other peers");
            var local = list[0].S.Local;
            var remotePorts = list.Select(x => x.S.Remote.Port).Distinct().Order().ToList();
            string localHost = SocketGrouper.FormatHost(local.Address);
            // ss filter syntax: dport/sport compare against ":PORT"; several ports are or-ed in parentheses.
            string PortExpr(string dir) => remotePorts.Count == 1 ? $"{dir} = :{remotePorts[0]}"
                : "( " + string.Join(" or ", remotePorts.Select(p => $"{dir} = :{p}")) + " )";
            yield return new Finding
            {
                RuleId = Id,
                Severity = sev,
                Subject = ctx.SubjectFor(g.Key.NetnsIndex, pid) with
                {
                    LocalEndpoint = list.Select(x => x.S.Local).Distinct().Count() == 1 ? SocketGrouper.FormatEndpoint(local) : null,
                    RemoteEndpoint = peer,
                },
                Summary = strong > 0
                    ? $"{who}: {strong} connection(s) to {peer} get no answer to retransmits or keepalive probes"
                    : $"{who}: {list.Count} connection(s) with {peer} silent for up to {Format.Ms(maxSilent)}, no keepalive",
                Evidence = evidence,
                Cause = strong > 0
                    ? "Data or keepalive probes sent on these connections go unacknowledged: the peer host is down, unreachable, or rebooted " +
                      "and no longer knows the connection. The kernel keeps retrying (net.ipv4.tcp_retries2, about 15 min by default) before it gives up."
                    : "Nothing has arrived on these connections for a long time and no keepalive timer runs on them, so if the peer vanished " +
                      "(crash, power loss, a cut link, a NAT or firewall that forgot the flow) this side will never notice: the connection stays " +
                      "ESTABLISHED forever and keeps its slot (for ZooKeeper, a place in maxClientCnxns for that client IP). It may also simply be an " +
                      "idle pooled connection; only the peer host can tell.",
                Remedy = $"Prove it on {peer}: \"ss -tn 'dst {localHost} and {PortExpr("sport")}'\" (or conndoctor sockets --remote {localHost} --port {remotePorts[0]}) " +
                         "there shows whether the other end still exists (no socket there = half-open). Clear exactly these with " +
                         $"\"ss -K 'dst {peer} and {PortExpr("dport")}'\" as root (needs kernel CONFIG_INET_DIAG_DESTROY) or by restarting {who}. " +
                         "Prevent it: enable SO_KEEPALIVE on these sockets and lower " +
                         "net.ipv4.tcp_keepalive_time (7200 s by default: a dead peer is found only after more than two hours), or use an application heartbeat.",
            };
        }
    }

    private static string Describe(SocketRecord s, Kind k)
    {
        var i = s.Info!.Value;
        string ep = $"{SocketGrouper.FormatEndpoint(s.Local)} -> {SocketGrouper.FormatEndpoint(s.Remote)}";
        return k switch
        {
            Kind.Retransmitting => $"{ep}: {i.Unacked} segment(s) unacked, retransmitted {Math.Max(i.Retransmits, s.TimerRetransmits)} time(s), backoff {i.Backoff}, last ACK {Format.Ms(i.LastAckRecvMs)} ago",
            Kind.Probing => $"{ep}: {i.Probes} keepalive probe(s) unanswered, silent {Format.Ms(i.SilentMs)}",
            _ => $"{ep}: nothing received for {Format.Ms(i.LastDataRecvMs)}, last ACK {Format.Ms(i.LastAckRecvMs)} ago, no keepalive timer",
        };
    }
}
