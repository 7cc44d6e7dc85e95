using System.Diagnostics;
using System.Text.Json;
using ConnDoctor.Tests.Cli;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.Diagnose;

/// <summary>
/// The blamed process's own log: a client that leaks CLOSE_WAIT (helpers/scenario.py leaky) whose stdout is a file
/// (as under nohup or a service script's redirect) that already says what went wrong. diagnose finds the file
/// through the process's fd 1, reads its tail and puts the repeating lines into the finding; --no-app-logs reads no
/// file; a log it may not read is reported with the process, and the run still succeeds.
/// </summary>
[System.Runtime.Versioning.SupportedOSPlatform("linux")]
public sealed class DiagnoseAppLogTests
{
    /// <summary>Starts scenario.py in the namespace with stdout and stderr appended to <paramref name="log"/>; returns its pid.</summary>
    internal static (Process Process, int Pid) StartWithLogFile(TestNetns ns, string log, string? user, params string[] args)
    {
        var script = Path.Combine(AppContext.BaseDirectory, "helpers", "scenario.py");
        // The shell (root) opens the file, then the process runs (as the user, when given) with it as its stdout.
        string drop = user == null ? "" : $"setpriv --reuid={user} --regid={user} --clear-groups ";
        var psi = new ProcessStartInfo("ip") { UseShellExecute = false, RedirectStandardInput = true };
        foreach (var a in (string[])["netns", "exec", ns.Name, "sh", "-c", $"exec {drop}{Shell.Python} {script} {string.Join(' ', args)} --lifetime 90 >> {log} 2>&1"])
            psi.ArgumentList.Add(a);
        var p = Process.Start(psi)!;
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (DateTime.UtcNow < deadline)
        {
            var ready = File.ReadAllLines(log).FirstOrDefault(l => l.StartsWith("ready "));
            if (ready != null) return (p, int.Parse(ready[6..]));
            Thread.Sleep(50);
        }
        p.Kill(true);
        throw new TimeoutException($"scenario {string.Join(' ', args)} did not get ready: {File.ReadAllText(log)}");
    }

    /// <summary>Two lines an application logged just before: the same error twice, as logback's default file layout writes it.</summary>
    internal static void Preface(string log)
    {
        var now = DateTime.Now;
        File.WriteAllLines(log,
        [
            $"{now.AddSeconds(-20):yyyy-MM-dd HH:mm:ss,fff} ERROR [pool-1-thread-3] c.e.orders.Poller - poll failed",
            "java.net.SocketException: Too many open files",
            "\tat java.base/sun.nio.ch.Net.socket0(Native Method)",
            $"{now.AddSeconds(-10):yyyy-MM-dd HH:mm:ss,fff} ERROR [pool-1-thread-4] c.e.orders.Poller - poll failed",
            "java.net.SocketException: Too many open files",
            "\tat java.base/sun.nio.ch.Net.socket0(Native Method)",
        ]);
    }

    private static JsonElement Leak(JsonDocument d) =>
        d.RootElement.GetProperty("findings").EnumerateArray().Single(f => f.GetProperty("ruleId").GetString() == "close-wait-leak");

    [Fact]
    public void TheBlamedProcesssStdoutFileIsReadAndQuotedAndNoAppLogsReadsNone()
    {
        using var ns = new TestNetns("dga");
        ns.StartScenario("server", "--listen", "127.0.0.1:9001:close");
        string log = Path.Combine(Path.GetTempPath(), $"cd-applog-{Environment.ProcessId}-{Guid.NewGuid():N}.out");
        Preface(log);
        var (p, pid) = StartWithLogFile(ns, log, null, "leaky", "--connect", "127.0.0.1:9001", "--count", "12");
        try
        {
            var r = CliRunner.Run("diagnose", "--json", "--netns", ns.Name);
            Assert.True(r.Code == 0, r.Stderr);
            using var d = r.Json();
            var leak = Leak(d);
            Assert.Equal(pid, leak.GetProperty("subject").GetProperty("pid").GetInt32());
            var part = Assert.Single(leak.GetProperty("parts").EnumerateArray(), x => x.GetProperty("source").GetString() == "app-log");
            var lines = part.GetProperty("evidence").EnumerateArray().Select(x => x.GetString()!).ToList();
            Assert.Contains(lines, l => l.StartsWith($"2 x 'java.net.SocketException: Too many open files' in {log}"));
            Assert.Contains("line: java.net.SocketException: Too many open files", lines);
            Assert.DoesNotContain(lines, l => l.Contains("Net.socket0"));          // never more than the matched lines
            Assert.Contains("file descriptors", leak.GetProperty("cause").GetString());
            var read = Assert.Single(d.RootElement.GetProperty("appLogs").GetProperty("processes").EnumerateArray(), x => x.GetProperty("pid").GetInt32() == pid);
            var file = Assert.Single(read.GetProperty("files").EnumerateArray());
            Assert.Equal(log, file.GetProperty("path").GetString());
            Assert.Equal("stdout", file.GetProperty("foundBy").GetString());
            Assert.True(file.GetProperty("bytesRead").GetInt64() > 0);

            var off = CliRunner.Run("diagnose", "--json", "--netns", ns.Name, "--no-app-logs");
            using var o = off.Json();
            Assert.False(o.RootElement.TryGetProperty("appLogs", out _));
            var status = o.RootElement.GetProperty("sources").EnumerateArray().Single(s => s.GetProperty("source").GetString() == "app-logs");
            Assert.Equal("skipped", status.GetProperty("state").GetString());
            Assert.DoesNotContain(Leak(o).GetProperty("evidence").EnumerateArray(), l => l.GetString()!.Contains("Too many open files"));
        }
        finally
        {
            try { p.Kill(true); p.WaitForExit(5000); } catch (InvalidOperationException) { }
            File.Delete(log);
        }
    }

    [Fact]
    public void ALogThatCannotBeReadIsReportedWithTheProcessAndTheRunSucceeds()
    {
        using var ns = new TestNetns("dgu");
        ns.StartScenario("server", "--listen", "127.0.0.1:9001:close");
        // The client runs as nobody and writes to a file only root may read; diagnose runs as nobody too.
        string log = Path.Combine(Path.GetTempPath(), $"cd-applog-{Environment.ProcessId}-{Guid.NewGuid():N}.out");
        Preface(log);
        File.SetUnixFileMode(log, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var (p, pid) = StartWithLogFile(ns, log, "65534", "leaky", "--connect", "127.0.0.1:9001", "--count", "12");
        try
        {
            var r = Shell.RunFull("ip", ["netns", "exec", ns.Name, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", BinarySmokeTests.Binary(), "diagnose", "--json"], check: false);
            Assert.True(r.Code == 0, r.Stderr);
            using var d = JsonDocument.Parse(r.Stdout);
            var leak = Leak(d);
            Assert.Equal(pid, leak.GetProperty("subject").GetProperty("pid").GetInt32());
            Assert.Contains(leak.GetProperty("evidence").EnumerateArray(), l => l.GetString()!.Contains($"not read: {log}: permission denied"));
            var status = d.RootElement.GetProperty("sources").EnumerateArray().Single(s => s.GetProperty("source").GetString() == "app-logs");
            Assert.Equal("partial", status.GetProperty("state").GetString());
        }
        finally
        {
            try { p.Kill(true); p.WaitForExit(5000); } catch (InvalidOperationException) { }
            File.Delete(log);
        }
    }
}
