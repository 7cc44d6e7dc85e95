using ConnDoctor.Model;

namespace ConnDoctor.Rules;

/// <summary>
/// The TIME_WAIT knobs and the advice about them that is wrong today: tcp_tw_reuse (outgoing only), tcp_fin_timeout
/// (FIN_WAIT_2, not TIME_WAIT), tcp_max_tw_buckets, and tcp_tw_recycle (removed in Linux 4.12 after breaking NAT).
/// </summary>
public sealed class TimeWaitSettingsRule : IRule
{
    public string Id => "time-wait-settings";
    public string Description => "tcp_tw_reuse, tcp_fin_timeout, tcp_max_tw_buckets and the obsolete tcp_tw_recycle: what each really does (audit)";

    public bool Reads(Evidence e) => e.Settings != null;

    public bool ReadsWatch => false;

    public IEnumerable<Finding> Evaluate(RuleContext ctx)
    {
        var st = ctx.Evidence.Settings!;
        var s = st.Sysctls;

        if (s.TcpTwReuse is int reuse)
        {
            bool noTimestamps = reuse >= 1 && s.TcpTimestamps == 0;
            string what = reuse switch { 0 => "off", 1 => "on for all outgoing connections", 2 => "on for loopback only (the default on current kernels)", _ => "an unknown mode" };
            yield return AuditFacts.Setting(Id, noTimestamps ? Severity.Warning : Severity.Info, "net.ipv4.tcp_tw_reuse", reuse.ToString(),
                $"net.ipv4.tcp_tw_reuse = {reuse}: {what}" + (noTimestamps ? ", but TCP timestamps are off, so it never applies" : ""),
                "Lets a new OUTGOING connection take a local port whose previous connection to the same endpoint is still in TIME_WAIT (after 1 s), " +
                "relying on TCP timestamps to tell old segments from new. It does nothing for accepted (server-side) connections and does not shorten TIME_WAIT.",
                noTimestamps ? "Turn net.ipv4.tcp_timestamps back on (1), or tcp_tw_reuse has no effect."
                : reuse == 1 ? "Fine for clients that open many short connections to one endpoint; the real fix is still to reuse connections."
                : "Set it to 1 on a client host that runs out of ports towards one endpoint (conndoctor diagnose shows time-wait-pressure); otherwise leave it.",
                s.TcpTimestamps is int ts ? [$"net.ipv4.tcp_timestamps = {ts}"] : null);
        }

        if (s.TcpFinTimeout is int fin)
            yield return AuditFacts.Setting(Id, Severity.Info, "net.ipv4.tcp_fin_timeout", fin.ToString(),
                $"net.ipv4.tcp_fin_timeout = {fin}: how long an orphaned connection waits in FIN_WAIT_2 for the peer's FIN; not TIME_WAIT" +
                (fin != 60 ? " (changed from the default 60)" : ""),
                "It bounds FIN_WAIT_2 for sockets whose process already closed them (the peer never sent its FIN). TIME_WAIT lasts a fixed 60 s " +
                "whatever this says: advice to lower tcp_fin_timeout to get rid of TIME_WAIT is wrong.",
                fin != 60 ? "Harmless either way; if it was lowered to shorten TIME_WAIT, it did not: find what opens and closes connections so fast instead."
                          : "Leave it.");

        if (s.TcpMaxTwBuckets is int max)
        {
            int tw = ctx.Evidence.Sockets.Count(x => x.State == TcpState.TimeWait);
            bool atLimit = st.SocketTableRead && max > 0 && tw >= max * 0.9;
            var sev = atLimit ? Severity.Critical : max < 16384 ? Severity.Warning : Severity.Info;
            yield return AuditFacts.Setting(Id, sev, "net.ipv4.tcp_max_tw_buckets", max.ToString(),
                $"net.ipv4.tcp_max_tw_buckets = {max}: the most TIME_WAIT sockets kept at once" + (atLimit ? $", and {tw} are in TIME_WAIT now" : ""),
                "Past this many, the kernel skips TIME_WAIT for newly closed connections (it logs 'TCP: time wait bucket table overflow'), losing the " +
                "protection against delayed segments of an old connection being taken for a new one. A low value hides port exhaustion rather than fixing it.",
                atLimit ? "Find what opens and closes connections this fast (conndoctor diagnose: time-wait-pressure) and make it reuse connections."
                : max < 16384 ? "Raise it back towards the kernel's default (it scales with memory, e.g. 131072 or 262144); each TIME_WAIT socket costs a few hundred bytes."
                : "Leave it.",
                st.SocketTableRead ? [$"{tw} socket(s) in TIME_WAIT now"] : null);
        }

        if (s.TcpTwRecycleExists)
        {
            bool on = s.TcpTwRecycle == 1;
            yield return AuditFacts.Setting(Id, on ? Severity.Critical : Severity.Info, "net.ipv4.tcp_tw_recycle", AuditFacts.Show(s.TcpTwRecycle),
                on ? "net.ipv4.tcp_tw_recycle = 1: connections from clients behind NAT are dropped at random"
                   : "net.ipv4.tcp_tw_recycle = 0: present on this old kernel (removed in Linux 4.12), and off, as it must be",
                "tcp_tw_recycle made the kernel drop SYNs whose TCP timestamp was older than the last one seen from the same IP. Hosts behind one NAT " +
                "address (a Kubernetes node, an office, a load balancer) have unrelated timestamp clocks, so their connections failed at random; " +
                "the randomized timestamp offsets of Linux 4.10 broke it further. " +
                "It was removed in Linux 4.12; advice that recommends it is obsolete and harmful.",
                on ? "Set net.ipv4.tcp_tw_recycle=0 now (and remove it from /etc/sysctl.conf and /etc/sysctl.d)." : "Keep it 0; ignore advice that names it.",
                st.KernelRelease != null ? [$"kernel {st.KernelRelease}"] : null);
        }
        else
            yield return AuditFacts.Setting(Id, Severity.Info, "net.ipv4.tcp_tw_recycle", "absent",
                "net.ipv4.tcp_tw_recycle: absent (removed in Linux 4.12): advice that names it is obsolete",
                "tcp_tw_recycle dropped SYNs from clients behind NAT (their TCP timestamps are unrelated) and was removed in Linux 4.12. " +
                "A sysctl.conf line that still sets it fails on this kernel.",
                "Remove any tcp_tw_recycle line from /etc/sysctl.conf and /etc/sysctl.d; ignore advice that names it.",
                st.KernelRelease != null ? [$"kernel {st.KernelRelease}"] : null);
    }
}
