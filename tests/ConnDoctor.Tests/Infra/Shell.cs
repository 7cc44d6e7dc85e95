using System.Diagnostics;

namespace ConnDoctor.Tests.Infra;

/// <summary>Runs real commands (ip, ss, python3) and returns what they printed; fails the test on a non-zero exit.</summary>
public static class Shell
{
    public static string Run(string file, params string[] args) => RunFull(file, args).Stdout;

    public static (int Code, string Stdout, string Stderr) RunFull(string file, string[] args, bool check = true, int timeoutMs = 60_000)
    {
        var psi = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(timeoutMs)) { p.Kill(true); throw new TimeoutException($"{file} {string.Join(' ', args)} timed out"); }
        p.WaitForExit();
        if (check && p.ExitCode != 0)
            throw new InvalidOperationException($"{file} {string.Join(' ', args)} exited {p.ExitCode}: {stderr.Result}");
        return (p.ExitCode, stdout.Result, stderr.Result);
    }

    public static bool IsRoot => Environment.UserName == "root" || Shell.RunFull("id", ["-u"], false).Stdout.Trim() == "0";

    public static string Python => File.Exists("/usr/bin/python3") ? "/usr/bin/python3" : "python3";
}
