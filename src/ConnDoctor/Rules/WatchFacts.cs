using ConnDoctor.Model;

namespace ConnDoctor.Rules;

/// <summary>Small helpers the rules share for watch evidence: subjects and lifetimes in words.</summary>
internal static class WatchFacts
{
    public static FindingSubject Subject(WatchRow r, bool allNetns) => new()
    {
        Pid = r.Pid,
        Process = r.Process ?? (r.Pid == null && r.Uid is uint uid ? $"uid {uid}" : null),
        CommandLine = r.CommandLine,
        Thread = r.Threads.Count == 1 ? r.Threads[0] : r.Threads.Count > 1 ? $"{r.Threads[0]} (+{r.Threads.Count - 1} more)" : null,
        RemoteEndpoint = r.Passive ? null : r.Endpoint,
        LocalEndpoint = r.Passive ? $"*:{r.LocalPort}" : null,
        ClientIp = r.Passive ? r.Endpoint.Split(" <- ")[^1] : null,
        Netns = allNetns || (r.Netns != null && r.Netns != "host") ? r.Netns : null,
        Container = r.Pod != null ? $"pod {r.Pod}" : r.Container != null ? $"container {r.Container[..Math.Min(12, r.Container.Length)]}" : null,
    };

    public static string Who(WatchRow r) =>
        r.Process != null && r.Pid is int p ? $"{r.Process}[{p}]{Gone(r)}" : r.Pid is int p2 ? $"pid {p2}{Gone(r)}" : r.Uid is uint u ? $"a process of uid {u}" : "an unidentified process";

    /// <summary>How much of the owner is known when it had exited before /proc could be read.</summary>
    public static string Gone(WatchRow r) =>
        r.PidIsTask ? " (exited before it could be read: the trace's task id, possibly a thread's)" : r.OwnerExited ? " (exited before it could be read)" : "";

    public static string ModeLine(WatchEvidence w) =>
        w.Mode == WatchMode.Trace
            ? $"seen live through kernel tracepoints over {w.Seconds:0.#} s" + (w.EventsLost > 0 ? $" ({w.EventsLost} events lost: counts are lower bounds)" : "")
            : $"seen by socket-table snapshots every {w.IntervalSeconds:0.##} s over {w.Seconds:0.#} s (connections shorter than that are missed)";
}
