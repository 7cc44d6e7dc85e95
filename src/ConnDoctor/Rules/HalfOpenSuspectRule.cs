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

    public bool Reads(Evidence e) => e.Namespaces.Count > 0 || e.Capture != null || e.Zk != null; // a socket table, a capture or a ZooKeeper poll

    public bool ReadsWatch => false;

    public IEnumerable<Finding> Evaluate(RuleContext ctx) => FromSockets(ctx).Concat(FromCapture(ctx)).Concat(FromZkPoll(ctx));

    private IEnumerable<Finding> FromSockets(RuleContext ctx)
    {
        var e = ctx.Evidence;
        uint idleMs = (uint)Math.Min(uint.MaxValue, ctx.Options.Idle.TotalMilliseconds);
        // The suspects grouped by namespace, holder and peer host as the table is read, each group keeping only what its finding
        // says (counts, the quotes, the peer's ports, what a kill command needs): 100k idle pooled connections past the
        // threshold, every interval in the agent, are read once and never listed.
        var groups = new OrderedGroups<(int NetnsIndex, int Pid, NetAddress Peer), Suspects>(_ => new Suspects());
        bool anyEstablished = false, anyInfo = false;
        foreach (var s in e.SocketSpan)
        {
            if (s.State != TcpState.Established) continue;
            anyEstablished = true;
            if (s.Info is not TcpInfo i) continue;
            anyInfo = true;
            if (Classify(s, i, idleMs) is not Kind k) continue;
            groups.For((s.NetnsIndex, s.OwnerPid ?? 0, s.Remote.Address.Unmapped)).Add(s, k, i);
        }
        if (anyEstablished && !anyInfo)
        {
            ctx.NotEnoughEvidence("no tcp_info (the /proc/net/tcp fallback has no silence times); run as root on a kernel with sock_diag");
            yield break;
        }

        // Contrast: a process busy with other peers while one is silent. Its active connections per peer, in one pass, for
        // the holders of a group only.
        var active = new Dictionary<(int Netns, int Pid), Dictionary<NetAddress, int>>();
        foreach (var (key, _) in groups) if (key.Pid != 0) active.TryAdd((key.NetnsIndex, key.Pid), new());
        if (active.Count > 0)
            foreach (var s in e.SocketSpan)
                if (s.State == TcpState.Established && s.Info is TcpInfo ai && ai.SilentMs < idleMs && s.OwnerPid is int holder // the owners array last: another object to read
                    && active.TryGetValue((s.NetnsIndex, holder), out var byPeer))
                {
                    var peerAddress = s.Remote.Address.Unmapped;
                    byPeer[peerAddress] = byPeer.GetValueOrDefault(peerAddress) + 1;
                }

        // The kill commands of all groups at once: one pass over the table finds the sockets of the holders they name.
        var kills = KillCommand.For(e, groups.Select(x => x.Group.Kill).ToList());
        int index = 0;
        foreach (var (key, g) in groups)
        {
            string? kill = kills[index++];
            int strong = g.Strong;
            int? pid = key.Pid == 0 ? null : key.Pid;
            int activeElsewhere = pid is int ap && active.TryGetValue((key.NetnsIndex, ap), out var peers)
                ? peers.Where(kv => kv.Key != key.Peer).Sum(kv => kv.Value) : 0;
            uint maxSilent = g.MaxSilentMs;
            var sev = strong >= 10 ? Severity.Critical
                : strong > 0 ? Severity.Warning
                : maxSilent >= LongSilence.TotalMilliseconds || (g.Count >= ContrastCount && activeElsewhere > 0) ? Severity.Warning
                : Severity.Info;
            var who = pid is int p ? (e.Processes.TryGetValue(p, out var pr) ? pr.Label : $"pid {p}") : "an unknown process";
            string peer = SocketGrouper.FormatHost(key.Peer);
            var evidence = g.Quoted.ConvertAll(q => Describe(q.S, q.Kind));
            if (g.Count > Quotes) evidence.Add($"... and {g.Count - Quotes} more");
            if (activeElsewhere > 0) evidence.Add($"meanwhile {who} has {activeElsewhere} active connection(s) with other peers");
            // Seen from the peer, these sockets go to our local addresses (a group can span several) from its ports.
            var byLocalHost = g.PeerPorts.OrderBy(h => h.Key.ToString(), StringComparer.Ordinal)
                .Select(h => (Host: SocketGrouper.FormatHost(h.Key), Ports: h.Group.Order().ToList())).ToList();
            string proveWithSs = "ss -tn '" + string.Join(" or ", byLocalHost.Select(h => byLocalHost.Count == 1 ? SsClause(h.Host, h.Ports) : $"( {SsClause(h.Host, h.Ports)} )")) + "'";
            string proveWithUs = "conndoctor sockets --remote " + string.Join(",", byLocalHost.Select(h => h.Host));
            string clear = kill != null
                ? $"Clear exactly these with \"{kill}\": it lists them (a dry run); add --yes as root to destroy them and check that nothing else was touched"
                : "No single filter selects exactly these and nothing else: clear each with \"conndoctor kill --local LOCAL --remote PEER\" " +
                  "for the ends listed above (a dry run; add --yes as root)";
            yield return new Finding
            {
                RuleId = Id,
                Severity = sev,
                Subject = ctx.SubjectFor(key.NetnsIndex, pid) with
                {
                    LocalEndpoint = g.OneLocal ? SocketGrouper.FormatEndpoint(g.FirstLocal) : null,
                    RemoteEndpoint = peer,
                },
                Summary = strong > 0
                    ? $"{who}: {strong} connection(s) to {peer} get no answer to retransmits or keepalive probes"
                    : $"{who}: {g.Count} connection(s) with {peer} silent for up to {Format.Ms(maxSilent)}, no keepalive",
                Evidence = evidence,
                Cause = strong > 0
                    ? "Data or keepalive probes sent on these connections go unacknowledged: the peer host is down, unreachable, or rebooted " +
                      "and no longer knows the connection. The kernel keeps retrying (net.ipv4.tcp_retries2, about 15 min by default) before it gives up."
                    : "Nothing has arrived on these connections for a long time and no keepalive timer runs on them, so if the peer vanished " +
                      "(crash, power loss, a cut link, a NAT or firewall that forgot the flow) this side will never notice: the connection stays " +
                      "ESTABLISHED forever and keeps its slot (for ZooKeeper, a place in maxClientCnxns for that client IP). It may also simply be an " +
                      "idle pooled connection; only the peer host can tell.",
                Remedy = $"Prove it on {peer}: \"{proveWithSs}\" (or {proveWithUs}) " +
                         $"there shows whether the other end still exists (no socket there = half-open). {clear}, or restart {who}. " +
                         "Prevent it: enable SO_KEEPALIVE on these sockets and lower " +
                         "net.ipv4.tcp_keepalive_time (7200 s by default: a dead peer is found only after more than two hours), or use an application heartbeat.",
            };
        }
    }

    /// <summary>Sockets quoted per finding at most (the worst ones).</summary>
    private const int Quotes = 8;

    /// <summary>The suspects of one holder with one peer host: what the finding says of them, gathered as the table is read.</summary>
    private sealed class Suspects
    {
        public int Count;
        public int Strong;            // retransmitting or probing
        public uint MaxSilentMs;
        /// <summary>The <see cref="Quotes"/> to quote: retransmitting or probing first, then the longest silent; ties in table order.</summary>
        public readonly List<(SocketRecord S, Kind Kind, uint Silent)> Quoted = new(Quotes + 1);
        /// <summary>The peer's ports per local host (unmapped), each set holding at most one port past <see cref="MaxPortsListed"/> (enough to say the clause lists none).</summary>
        public readonly OrderedGroups<NetAddress, HashSet<ushort>> PeerPorts = new(_ => new HashSet<ushort>());
        public readonly KillSelection Kill = new();
        public NetEndpoint FirstLocal;
        public bool OneLocal = true;

        public void Add(SocketRecord s, Kind kind, TcpInfo info)
        {
            if (Count++ == 0) FirstLocal = s.Local;
            else if (OneLocal && s.Local != FirstLocal) OneLocal = false;
            bool strong = kind != Kind.Silent;
            if (strong) Strong++;
            uint silent = info.SilentMs;
            MaxSilentMs = Math.Max(MaxSilentMs, silent);
            Quote(s, kind, strong, silent);
            var ports = PeerPorts.For(s.Local.Address.Unmapped);
            if (ports.Count <= MaxPortsListed) ports.Add(s.Remote.Port);
            Kill.Add(s);
        }

        /// <summary>Keeps the worst <see cref="Quotes"/>: a selection as they come, not a sort of the group.</summary>
        private void Quote(SocketRecord s, Kind kind, bool strong, uint silent)
        {
            static bool Before(bool aStrong, uint aSilent, (SocketRecord S, Kind Kind, uint Silent) b) =>
                aStrong != (b.Kind != Kind.Silent) ? aStrong : aSilent > b.Silent;
            if (Quoted.Count == Quotes && !Before(strong, silent, Quoted[^1])) return;
            int at = Quoted.Count;
            while (at > 0 && Before(strong, silent, Quoted[at - 1])) at--;
            Quoted.Insert(at, (s, kind, silent));
            if (Quoted.Count > Quotes) Quoted.RemoveAt(Quotes);
        }
    }

    /// <summary>Why an ESTABLISHED socket is a suspect, or null when it is not one.</summary>
    private static Kind? Classify(SocketRecord s, TcpInfo i, uint idleMs) =>
        i.Unacked > 0 && (i.Retransmits >= RetransmitsStrong || (s.Timer == TimerKind.Retransmit && s.TimerRetransmits >= RetransmitsStrong)) ? Kind.Retransmitting
        : s.Timer == TimerKind.Keepalive && i.Probes >= ProbesStrong ? Kind.Probing
        : s.Timer == TimerKind.None && i.Unacked == 0 && i.SilentMs >= idleMs ? Kind.Silent
        : null;

    /// <summary>Ports listed in the proof command at most: beyond, the peer lists all its connections to that host (a pool of 10k idle connections is not a command line).</summary>
    internal const int MaxPortsListed = 8;

    // ss filter syntax: dport/sport compare against ":PORT"; several ports are or-ed in parentheses.
    private static string SsClause(string host, List<ushort> ports) =>
        ports.Count > MaxPortsListed ? $"dst {host}"
        : $"dst {host} and " + (ports.Count == 1 ? $"sport = :{ports[0]}" : "( " + string.Join(" or ", ports.Select(p => $"sport = :{p}")) + " )");

    /// <summary>
    /// From a capture: a side that answers its peer's segments with a bare RST no longer has the connection (the
    /// peer held it half-open), and retransmissions that nothing answers until the capture ends point at a vanished peer.
    /// </summary>
    private IEnumerable<Finding> FromCapture(RuleContext ctx)
    {
        if (ctx.Evidence.Capture is not { } cap) yield break;
        // The holder is the server's endpoint, or a client host (its connections come from many ephemeral ports: one finding).
        foreach (var g in cap.Connections.Where(c => c.Reset == ResetClass.Stale)
                     .GroupBy(c => (Gone: c.ResetBy.Address, Holder: c.ResetByClient ? SocketGrouper.FormatEndpoint(c.Server) : SocketGrouper.FormatHost(c.Client.Address))))
        {
            var list = g.OrderBy(c => c.ResetNs).ToList();
            string gone = SocketGrouper.FormatHost(g.Key.Gone), holder = g.Key.Holder;
            var evidence = list.Take(CaptureFacts.MaxExamples).Select(c =>
                $"{CaptureFacts.Conn(c)} at {CaptureFacts.At(c.ResetNs)}: {gone} answered with a bare RST (no ACK: no socket for it), " +
                (c.OpenSeen ? "after the connection had been quiet" : "a connection already open when the capture began")).ToList();
            if (list.Count > CaptureFacts.MaxExamples) evidence.Add($"... and {list.Count - CaptureFacts.MaxExamples} more");
            yield return new Finding
            {
                RuleId = Id,
                Severity = Severity.Warning,
                Subject = new FindingSubject { LocalEndpoint = holder, RemoteEndpoint = gone },
                Summary = $"{gone} no longer knew {list.Count} connection(s) that {holder} still used: they were half-open",
                Evidence = evidence,
                Cause = $"{gone} answered segments of these connections with a RST carrying no ACK, which is what a host sends for a connection it has no socket for: " +
                        "it crashed or rebooted, its process was killed while the network was cut, or a NAT or firewall between them lost the flow. " +
                        $"Until this RST, {holder} held the connection open (for ZooKeeper, a slot in maxClientCnxns for that client IP).",
                Remedy = "Enable TCP keepalive on these sockets (SO_KEEPALIVE with a net.ipv4.tcp_keepalive_time far below the 7200 s default) or an " +
                         "application heartbeat, so that a vanished peer is found in minutes instead of when the next write happens. Check why the other " +
                         "host lost its state (a reboot, a crash, a NAT or conntrack timeout shorter than the idle time).",
            };
        }
        foreach (var g in cap.Connections.Where(c => c.UnansweredAtEnd > 0).GroupBy(c => (Sender: c.UnansweredByServer ? c.Server.Address : c.Client.Address,
                     Silent: c.UnansweredByServer ? c.Client : c.Server)))
        {
            var list = g.ToList();
            string silent = SocketGrouper.FormatEndpoint(g.Key.Silent), sender = SocketGrouper.FormatHost(g.Key.Sender);
            var evidence = list.Take(CaptureFacts.MaxExamples).Select(c =>
                $"{CaptureFacts.Conn(c)}: {c.UnansweredAtEnd} retransmission(s) at the end with no answer, last packet at {CaptureFacts.At(c.EndNs)}").ToList();
            if (list.Count > CaptureFacts.MaxExamples) evidence.Add($"... and {list.Count - CaptureFacts.MaxExamples} more");
            bool strong = list.Max(c => c.UnansweredAtEnd) >= RetransmitsStrong;
            yield return new Finding
            {
                RuleId = Id,
                Severity = strong ? Severity.Warning : Severity.Info,
                Subject = new FindingSubject { LocalEndpoint = sender, RemoteEndpoint = silent },
                Summary = $"{sender} retransmitted to {silent} on {list.Count} connection(s) and got no answer before the capture ended",
                Evidence = evidence,
                Cause = $"Segments sent to {silent} were sent again and nothing came back until the end of the capture: the peer host is down or unreachable, " +
                        "or it no longer knows the connection and its RSTs are lost. A capture that ends just after a single retransmission proves little.",
                Remedy = $"Check whether {silent} is reachable and still has these connections (ss -tn on that host); capture longer to see whether the " +
                         "sender gives up (net.ipv4.tcp_retries2, about 15 min) or the peer answers.",
            };
        }
    }

    /// <summary>
    /// From a ZooKeeper server's side (conndoctor zk): a client IP whose session connections have not been answered
    /// for most of their session timeout (a live client pings every third of it) while clients from elsewhere are active.
    /// </summary>
    private IEnumerable<Finding> FromZkPoll(RuleContext ctx)
    {
        if (ctx.Evidence.Zk is not { } zk) yield break;
        foreach (var server in zk.Servers.Where(s => s.Connections != null))
        {
            var sessions = server.Connections!.Where(c => c.HasSession).ToList();
            if (sessions.Count == 0) continue;
            if (sessions.All(c => c.LastResponseAgeMs == null))
            {
                ctx.NotEnoughEvidence($"{server.Member} did not list when it last answered each client (lresp)");
                continue;
            }
            foreach (var g in sessions.Where(c => c.Idle).GroupBy(c => c.Client.Address))
            {
                var list = g.OrderByDescending(c => c.LastResponseAgeMs).ToList();
                int activeElsewhere = sessions.Count(c => c.Client.Address != g.Key && Analysis.ZkViews.IsActive(c));
                int activeSameIp = sessions.Count(c => c.Client.Address == g.Key && Analysis.ZkViews.IsActive(c));
                var evidence = list.Take(8).Select(c =>
                    $"{c.Client} session 0x{c.SessionId:x}: last answered {Format.Ms(c.LastResponseAgeMs ?? 0)} ago, session timeout {Format.Ms(c.SessionTimeoutMs ?? 0)}, " +
                    $"{c.Received} packet(s) received, last operation {c.LastOperation ?? "?"}").ToList();
                if (list.Count > 8) evidence.Add($"... and {list.Count - 8} more");
                evidence.Add($"meanwhile {activeElsewhere} session connection(s) from other addresses are active on {server.Member}" +
                             (activeSameIp > 0 ? $", and {activeSameIp} from {g.Key} itself" : ""));
                evidence.Add($"only {g.Key} can prove its end is gone: 'ss -tn dst {server.Member}' there (no socket = half-open)");
                yield return new Finding
                {
                    RuleId = Id,
                    Severity = activeElsewhere > 0 && activeSameIp == 0 ? Severity.Warning : Severity.Info,
                    Subject = new FindingSubject { ClientIp = g.Key.ToString(), LocalEndpoint = server.Member },
                    Summary = $"client {g.Key}: {list.Count} session connection(s) to {server.Member} silent for up to {Format.Ms(list[0].LastResponseAgeMs ?? 0)}, " +
                              "no pings: the client may be gone",
                    Evidence = evidence,
                    Cause = "A live ZooKeeper client pings its server every third of the session timeout. These connections have not been heard " +
                            "from for two thirds of it: the client process hangs (a long GC pause, a stopped VM), or its host vanished without closing " +
                            "(crash, power loss, a cut link, a NAT or firewall that forgot the flow). The server keeps counting the connections " +
                            "against maxClientCnxns for that IP until the session expires; a client behind a connection that is only half-open can " +
                            "never tell the server it is gone.",
                    Remedy = $"On {g.Key}, check whether the client still exists ('ss -tnp dst {server.Member}', 'conndoctor sockets --remote {server.Member}'). " +
                             "A hung process: look for GC pauses or a stopped container. A host that is gone: the sessions expire after their timeout; " +
                             $"connections that outlive it can be cut on {server.Member}'s host: " +
                             $"\"{KillCommand.ForZkClient(g.Key, server.Member, KillCommand.FloorIdle((uint)Math.Min(uint.MaxValue, list.Min(c => c.LastResponseAgeMs ?? 0))))}\" " +
                             "lists them (a dry run; --yes as root destroys them). Keep session timeouts short and " +
                             "enable TCP keepalive across NATs and firewalls with idle timeouts.",
                };
            }
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
