using System.Diagnostics;
using System.Text.Json;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.Agent;

/// <summary>
/// Fault test: the kernel's trace buffer overruns under the agent. Its trace instance's buffer is shrunk to the kernel's
/// minimum (the instance's own buffer_size_kb in tracefs, as an operator or another tool could) and the agent is stalled
/// (SIGSTOP, as a descheduled or swapped-out reader is) while a burst of connections runs in a test namespace, then a
/// paced churn runs with the agent reading again. The agent keeps answering /healthz and /metrics, counts the loss in
/// conndoctor_trace_events_lost_total, marks the watch partial in its window document with the reason, stays on
/// tracepoints, and once the buffer is back and nothing is lost counts a later batch of connections exactly. In the
/// "watch" collection: the tracepoints see every TCP state change of the host, so it runs alone, not beside other churn.
/// </summary>
[Collection("watch")]
public class AgentTraceOverrunTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private const string Token = "overrun-test-token-0123456789";

    private static double Lost(string metrics) => AgentProcess.Sum(metrics, "conndoctor_trace_events_lost_total");

    /// <summary>The watch's status in the window document: (state, reason).</summary>
    private static (string State, string Reason)? WatchStatus(AgentProcess agent)
    {
        var (status, body, _) = agent.Get("/evidence", ("Authorization", "Bearer " + Token));
        if (status != 200) return null;
        using var doc = JsonDocument.Parse(body);
        foreach (var s in doc.RootElement.GetProperty("statuses").EnumerateArray())
            if (s.GetProperty("source").GetString() == "watch:tracepoints")
                return (s.GetProperty("state").GetString()!, s.TryGetProperty("reason", out var r) ? r.GetString() ?? "" : "");
        return null;
    }

    private static (string State, string Reason)? AwaitWatchStatus(AgentProcess agent, Func<(string State, string Reason), bool> done, int seconds)
    {
        var sw = Stopwatch.StartNew();
        (string, string)? last = null;
        while (sw.Elapsed < TimeSpan.FromSeconds(seconds))
        {
            Assert.False(agent.Process.HasExited, agent.Stderr);
            if ((last = WatchStatus(agent)) is { } s && done(s)) return s;
            Thread.Sleep(250);
        }
        return last;
    }

    [Fact]
    public void AnOverrunTraceBufferIsCountedAndMarkedPartialWhileTheAgentKeepsServingAndCountsRecover()
    {
        using var ns = new TestNetns("agentovr");
        string dir = Directory.CreateTempSubdirectory("cd-overrun").FullName;
        File.WriteAllText(Path.Combine(dir, "token"), Token + "\n");
        string svc = $"127.0.0.1:{Ports.Free()}";
        ns.StartScenario("server", "--listen", svc + ":drain");
        using var agent = new AgentProcess(["--netns", ns.Name, "--interval", "2s", "--window", "20s", "--serve-evidence", "--token-file", Path.Combine(dir, "token")]);
        string? bufferFile = null, original = null;
        bool stopped = false;
        try
        {
            agent.WaitMetrics(t => t.Contains("conndoctor_source_up{source=\"tracepoints\"} 1") && t.Contains("conndoctor_source_up{source=\"collect\"} 1"));
            // A clean interval first, so that the partial one seen later is the stall's (the trace is system-wide: a busy
            // machine can overrun the agent's first, longer segment on its own).
            var quiet = AwaitWatchStatus(agent, s => s.State == "ok", 60);
            Assert.True(quiet is { State: "ok" }, $"no interval without loss (or failure) within 60 s before the test, the host's churn overruns the agent on its own: {quiet}");
            var before = agent.Get("/metrics").Body;
            string instance = new[] { "/sys/kernel/tracing", "/sys/kernel/debug/tracing" }
                .Select(r => Path.Combine(r, "instances", $"conndoctor-{agent.Process.Id}")).FirstOrDefault(Directory.Exists)
                ?? throw new InvalidOperationException($"the agent's trace instance conndoctor-{agent.Process.Id} is in no tracefs mount");
            bufferFile = Path.Combine(instance, "buffer_size_kb");
            original = File.ReadAllText(bufferFile).Trim();
            File.WriteAllText(bufferFile, "4"); // the kernel keeps its minimum, a page or two per CPU
            output.WriteLine($"{bufferFile}: {original} -> {File.ReadAllText(bufferFile).Trim()} KB per CPU");
            double lost0 = Lost(before);

            // The stall: 1500 connections (each a handful of events) while the agent reads nothing.
            Shell.Run("kill", "-STOP", agent.Process.Id.ToString());
            stopped = true;
            var burst = Stopwatch.StartNew();
            ns.StartScenario("good", "--connect", svc, "--count", "0", "--churn", svc, "--cycles", "1500");
            burst.Stop();
            Shell.Run("kill", "-CONT", agent.Process.Id.ToString());
            stopped = false;

            // Reading again with the buffer still tiny: churn at 300/s for 4 s while /healthz and /metrics are asked.
            var pace = ns.StartScenario("pace", "--connect", svc, "--rate", "300", "--seconds", "4", "--start-after", "0.05");
            // The interval cut after the stall holds the loss: its status is in the window document until the next cut.
            var answers = new List<TimeSpan>();
            (string State, string Reason)? partial = null;
            string? lossy = null;
            var during = Stopwatch.StartNew();
            while (during.Elapsed < TimeSpan.FromSeconds(5) || (partial == null || lossy == null) && during.Elapsed < TimeSpan.FromSeconds(30))
            {
                var one = Stopwatch.StartNew();
                Assert.Equal(200, agent.Get("/healthz").Status);
                var (status, metrics, _) = agent.Get("/metrics");
                Assert.Equal(200, status);
                answers.Add(one.Elapsed);
                if (lossy == null && Lost(metrics) > lost0) lossy = metrics;
                if (partial == null && WatchStatus(agent) is { State: "partial" } p) partial = p;
                Thread.Sleep(100);
            }
            string? paced = null;
            var reader = new Thread(() => paced = pace.StandardOutput.ReadLine()) { IsBackground = true };
            reader.Start();
            Assert.True(reader.Join(TimeSpan.FromSeconds(20)) && paced?.StartsWith("done ") == true, $"the paced churn did not finish: {paced}");
            output.WriteLine($"burst of 1500 in {burst.Elapsed.TotalSeconds:0.0} s while stopped; {paced}; {answers.Count} answers during, slowest {answers.Max().TotalMilliseconds:0} ms");
            // A stall of the whole process aside, answering does not wait on the trace (a scrape reads the last state).
            Assert.All(answers, a => Assert.True(a < TimeSpan.FromSeconds(2), $"/healthz + /metrics took {a}"));

            // The loss: counted, the watch still up and on tracepoints (partial is answered: up 1), its status says what is missing.
            Assert.True(lossy != null, $"conndoctor_trace_events_lost_total stayed {lost0}");
            output.WriteLine($"conndoctor_trace_events_lost_total {lost0} -> {Lost(lossy)}");
            Assert.Equal(1, AgentProcess.Sum(lossy, "conndoctor_source_up", ("source", "watch")));
            Assert.Equal(1, AgentProcess.Sum(lossy, "conndoctor_source_up", ("source", "tracepoints")));
            Assert.True(partial != null, $"no partial watch status after the loss; now: {WatchStatus(agent)}");
            Assert.Matches(@"\d+ lost \(the kernel's buffer overran: counts are lower bounds\)", partial!.Value.Reason);
            output.WriteLine($"watch:tracepoints {partial.Value.State}: {partial.Value.Reason}");

            // Recovery: the buffer back; an interval with nothing lost; then 25 connections counted exactly. The trace is
            // system-wide, so another process's burst on this machine can overrun an interval: up to three tries.
            File.WriteAllText(bufferFile, original);
            bool exact = false;
            for (int attempt = 1; attempt <= 3 && !exact; attempt++)
            {
                var ok = AwaitWatchStatus(agent, s => s.State == "ok", 30);
                Assert.True(ok is { State: "ok" }, $"the watch did not recover: {ok}");
                Assert.Contains("none lost", ok!.Value.Reason);
                // The stall's churn is still being counted for a few intervals after it (the agent catches up): the base is
                // taken once two reads an interval apart agree.
                var baseText = agent.Get("/metrics").Body;
                double opened0 = AgentProcess.Sum(baseText, "conndoctor_tcp_connections_opened_total", ("process", "python3"), ("remote_service", svc));
                for (var settle = Stopwatch.StartNew(); settle.Elapsed < TimeSpan.FromSeconds(40);)
                {
                    Thread.Sleep(2500);
                    var again = agent.Get("/metrics").Body;
                    double o = AgentProcess.Sum(again, "conndoctor_tcp_connections_opened_total", ("process", "python3"), ("remote_service", svc));
                    (baseText, bool same) = (again, o == opened0);
                    opened0 = o;
                    if (same) break;
                }
                ns.StartScenario("good", "--connect", svc, "--count", "0", "--churn", svc, "--cycles", "25");
                var after = agent.WaitMetrics(t => AgentProcess.Sum(t, "conndoctor_tcp_connections_opened_total", ("process", "python3"), ("remote_service", svc)) >= opened0 + 25, seconds: 30);
                Thread.Sleep(2500); // one more interval: nothing further may be counted
                var settled = agent.Get("/metrics").Body;
                double got = AgentProcess.Sum(settled, "conndoctor_tcp_connections_opened_total", ("process", "python3"), ("remote_service", svc)) - opened0;
                bool clean = Lost(settled) == Lost(baseText);
                output.WriteLine($"attempt {attempt}: +{got} opened, lost {Lost(baseText)} -> {Lost(settled)}");
                if (clean) { Assert.Equal(25, got); exact = true; }
                _ = after;
            }
            Assert.True(exact, "every try lost trace events: the machine is too busy for an exact count");
            Assert.Equal(200, agent.Get("/healthz").Status);
            Assert.Contains("conndoctor_source_up{source=\"tracepoints\"} 1", agent.Get("/metrics").Body);
        }
        finally
        {
            if (stopped) Shell.RunFull("kill", ["-CONT", agent.Process.Id.ToString()], check: false);
            if (bufferFile != null && original != null && File.Exists(bufferFile)) File.WriteAllText(bufferFile, original);
            Directory.Delete(dir, true);
        }
    }
}
