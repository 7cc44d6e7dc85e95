using System.Diagnostics;

namespace ConnDoctor.Tests.Infra;

/// <summary>
/// tcpdump running in a test namespace, writing to a temporary file. Stop() ends it with SIGINT (so the file
/// is complete); Dispose kills it if a test failed first and deletes the file.
/// </summary>
public sealed class Tcpdump : IDisposable
{
    private readonly Process _p;
    public string File { get; }

    public Tcpdump(TestNetns ns, string iface, params string[] extra)
    {
        File = Path.Combine(Path.GetTempPath(), $"{ns.Name}-{iface}.pcap");
        var psi = new ProcessStartInfo("ip") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (var a in (string[])["netns", "exec", ns.Name, "tcpdump", "-i", iface, "--immediate-mode", "-U", "-B", "16384", "-Z", "root", "-w", File, .. extra]) psi.ArgumentList.Add(a);
        _p = Process.Start(psi)!;
        // tcpdump says "listening on IFACE" once the capture runs; traffic before that would be lost. Immediate
        // mode hands every packet over at once: otherwise the last ones wait in the ring buffer and SIGINT loses them.
        // A 16 MiB ring (-B, KiB) instead of 2 MiB: with both cores busy running other tests, tcpdump falls behind a
        // bulk transfer and the kernel drops packets from a small ring (a capture missing a reset failed a test).
        var line = _p.StandardError.ReadLineAsync();
        if (!line.Wait(TimeSpan.FromSeconds(15)) || line.Result?.Contains("listening on") != true)
            throw new InvalidOperationException($"tcpdump did not start: {line.Result}");
        _ = _p.StandardError.ReadToEndAsync();
    }

    /// <summary>Stops the capture and returns the file.</summary>
    public string Stop()
    {
        Thread.Sleep(300); // let the last packets (final ACKs, RSTs) of the scenario cross the wire
        Shell.RunFull("kill", ["-INT", _p.Id.ToString()], check: false);
        if (!_p.WaitForExit(10_000)) _p.Kill(true);
        return File;
    }

    public static int Packets(string file) =>
        int.Parse(Shell.Run("capinfos", "-c", "-M", file).Split('\n').First(l => l.StartsWith("Number of packets")).Split(':')[1].Trim());

    public void Dispose()
    {
        try { if (!_p.HasExited) { _p.Kill(true); _p.WaitForExit(5000); } } catch (InvalidOperationException) { }
        _p.Dispose();
        try { System.IO.File.Delete(File); } catch (IOException) { }
    }
}

/// <summary>tshark as the oracle for a capture: its TCP conversation table and its count of RST packets.</summary>
public static class TsharkOracle
{
    /// <summary>extra: tshark options such as "-d", "udp.port==8472,vxlan" (tshark decodes VXLAN on 4789 only by default).</summary>
    public static int Conversations(string file, params string[] extra) =>
        Shell.Run("tshark", ["-n", "-q", "-z", "conv,tcp", "-r", file, .. extra]).Split('\n').Count(l => l.Contains("<->"));

    public static int Resets(string file, params string[] extra) =>
        Shell.Run("tshark", ["-n", "-r", file, "-Y", "tcp.flags.reset == 1", "-T", "fields", "-e", "frame.number", .. extra]).Split('\n', StringSplitOptions.RemoveEmptyEntries).Length;
}
