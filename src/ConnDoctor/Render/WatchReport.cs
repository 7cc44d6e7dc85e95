using ConnDoctor.Model;
using ConnDoctor.Rules;

namespace ConnDoctor.Render;

/// <summary>What `watch` prints at the end: the watch evidence, how the sources fared, and the findings.</summary>
public sealed record WatchReport(WatchEvidence Watch, DiagnoseReport Diagnosis)
{
    public static WatchReport Build(Evidence e, RuleOptions options) => new(e.Watch!, Rules.Diagnosis.Run(e, options));

    public static string StatesText(IReadOnlyDictionary<TcpState, int> states) =>
        states.Count == 0 ? "-" : string.Join(' ', states.OrderBy(kv => kv.Key).Select(kv => $"{TcpStates.Name(kv.Key)}:{kv.Value}"));

    public static string Closer(WatchRow r)
    {
        int n = r.ClosedByLocal + r.ClosedByPeer;
        if (n == 0) return "-";
        return r.ClosedByLocal >= r.ClosedByPeer ? $"{(r.Passive ? "server" : "client")} {r.ClosedByLocal * 100 / n}%" : $"{(r.Passive ? "client" : "server")} {r.ClosedByPeer * 100 / n}%";
    }

    /// <summary>What else is known of the owner: "; thread main-SendThread; exited; cmd java -cp ...".</summary>
    public static string OwnerDetail(WatchRow r) =>
        (r.Threads.Count > 0 ? $"; thread {string.Join(", ", r.Threads)}" : "") +
        (r.PidIsTask ? "; exited (task id)" : r.OwnerExited ? "; exited" : "") +
        (r.CommandLine != null ? $"; cmd {r.CommandLine}" : "");

    /// <summary>"java[8123]": the process; "task 8130?" when only an exited task's id is known (it may be a thread's).</summary>
    public static string Owner(WatchRow r) =>
        r.PidIsTask && r.Pid is int t ? (r.Process != null ? $"{r.Process}[{t}?]" : $"task {t}?")
        : r.Process != null && r.Pid is int p ? $"{r.Process}[{p}]" : r.Pid is int p2 ? $"pid {p2}" : r.Uid is uint u ? $"uid {u}" : "(no owner)";

}
