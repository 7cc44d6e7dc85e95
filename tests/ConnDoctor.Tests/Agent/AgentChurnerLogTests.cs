using System.Diagnostics;
using System.Text.Json;
using ConnDoctor.Tests.Diagnose;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.Agent;

/// <summary>
/// The agent's window document carries the busiest churners' own logs, as `collect`'s does: a client that opens and
/// closes short connections (no finding blames it) writes to a log file it holds open as its stdout, and /evidence
/// carries that file's repeating error; /findings, like `diagnose`, quotes only the logs of processes a finding blames.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public class AgentChurnerLogTests
{
    private const string Token = "churner-log-token-0123456789";

    [Fact]
    public void TheWindowDocumentCarriesTheChurnersLogAndTheReportDoesNotQuoteIt()
    {
        using var ns = new TestNetns("agentlog");
        string dir = Directory.CreateTempSubdirectory("cd-churnlog").FullName;
        File.WriteAllText(Path.Combine(dir, "token"), Token + "\n");
        string svc = $"127.0.0.1:{Ports.Free()}";
        ns.StartScenario("server", "--listen", svc + ":drain");
        using var agent = new AgentProcess(["--netns", ns.Name, "--interval", "2s", "--window", "30s", "--serve-evidence", "--token-file", Path.Combine(dir, "token")]);
        string log = Path.Combine(dir, "churner.out");
        Process? churner = null;
        try
        {
            agent.WaitMetrics(t => t.Contains("conndoctor_source_up{source=\"tracepoints\"} 1") && t.Contains("conndoctor_source_up{source=\"collect\"} 1"));
            DiagnoseAppLogTests.Preface(log);
            // 40 connections opened and closed by the client (it closes first), one kept open; its stdout is the log.
            (churner, int pid) = DiagnoseAppLogTests.StartWithLogFile(ns, log, null, "good", "--connect", svc, "--count", "1", "--churn", svc, "--cycles", "40");

            var sw = Stopwatch.StartNew();
            JsonElement? excerpt = null;
            string body = "";
            while (excerpt == null && sw.Elapsed < TimeSpan.FromSeconds(45))
            {
                var (status, b, _) = agent.Get("/evidence", ("Authorization", "Bearer " + Token));
                Assert.Equal(200, status);
                body = b;
                using var doc = JsonDocument.Parse(body);
                if (doc.RootElement.TryGetProperty("appLogs", out var logs))
                    foreach (var p in logs.GetProperty("processes").EnumerateArray())
                        if (p.GetProperty("pid").GetInt32() == pid) excerpt = p.Clone();
                if (excerpt == null) Thread.Sleep(500);
            }
            Assert.True(excerpt != null, $"/evidence never carried the churner's ({pid}) log; statuses: {Statuses(body)}\n{agent.Stderr}");
            var file = Assert.Single(excerpt.Value.GetProperty("files").EnumerateArray());
            Assert.Equal(log, file.GetProperty("path").GetString());
            Assert.Equal("stdout", file.GetProperty("foundBy").GetString());
            var pattern = Assert.Single(excerpt.Value.GetProperty("patterns").EnumerateArray(), p => p.GetProperty("line").GetString()!.Contains("Too many open files"));
            Assert.Equal(2, pattern.GetProperty("count").GetInt32());

            // Nothing blames the churner: the report names no finding after it and quotes no log of it.
            var (fs, findings, _) = agent.Get("/findings", ("Authorization", "Bearer " + Token));
            Assert.Equal(200, fs);
            using var report = JsonDocument.Parse(findings);
            Assert.DoesNotContain(report.RootElement.GetProperty("findings").EnumerateArray(),
                f => f.GetProperty("subject").TryGetProperty("pid", out var p) && p.ValueKind == JsonValueKind.Number && p.GetInt32() == pid);
            if (report.RootElement.TryGetProperty("appLogs", out var quoted))
                Assert.DoesNotContain(quoted.GetProperty("processes").EnumerateArray(), p => p.GetProperty("pid").GetInt32() == pid);
        }
        finally
        {
            try { churner?.Kill(true); churner?.WaitForExit(5000); } catch (InvalidOperationException) { }
            Directory.Delete(dir, true);
        }
    }

    private static string Statuses(string evidence)
    {
        if (evidence.Length == 0) return "";
        using var doc = JsonDocument.Parse(evidence);
        return string.Join("; ", doc.RootElement.GetProperty("statuses").EnumerateArray()
            .Select(s => $"{s.GetProperty("source").GetString()} {s.GetProperty("state").GetString()} {(s.TryGetProperty("reason", out var r) ? r.ToString() : "")}"));
    }
}
