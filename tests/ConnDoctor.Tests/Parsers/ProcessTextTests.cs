using System.Diagnostics;
using ConnDoctor.Model;
using ConnDoctor.Sources;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.Parsers;

/// <summary>Process names and command lines are chosen by any user: they must reach a report without control characters.</summary>
public class ProcessTextTests
{
    [Fact]
    public void ControlCharactersBecomeVisibleEscapesAndOtherTextIsKept()
    {
        Assert.Equal("java -jar zk.jar", PrintableText.Of("java -jar zk.jar"));
        Assert.Equal("ev\\x1b[31mil", PrintableText.Of("ev\x1b[31mil"));
        Assert.Equal("line1\\nline2\\tx\\r\\x7f\\x9b ünïcode", PrintableText.Of("line1\nline2\tx\r\x7f\x9b ünïcode"));
    }

    [Fact]
    public void AProcessThatNamesItselfWithAnEscapeSequenceIsReadEscaped()
    {
        // A real process: its comm set through prctl(PR_SET_NAME), an argument with a newline and an escape.
        const string script = "import ctypes,sys,time\n" +
                              "ctypes.CDLL(None).prctl(15, b'ev\\x1b[31mil', 0, 0, 0)\n" +
                              "print('ready', flush=True)\n" +
                              "time.sleep(30)\n";
        var psi = new ProcessStartInfo(Shell.Python) { RedirectStandardOutput = true };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(script);
        psi.ArgumentList.Add("line1\nline2 \x1b[32mGREEN");
        using var p = Process.Start(psi)!;
        try
        {
            Assert.Equal("ready", p.StandardOutput.ReadLine());
            var rec = ProcessReader.Read("/proc", p.Id);
            Assert.NotNull(rec);
            Assert.Equal("ev\\x1b[31mil", rec.Name);
            Assert.Contains("line1\\nline2 \\x1b[32mGREEN", rec.CommandLine);
            Assert.DoesNotContain(rec.CommandLine, c => c < ' ');
        }
        finally { p.Kill(); p.WaitForExit(); }
    }
}
