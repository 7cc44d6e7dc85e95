using System.Text.Json;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.Cli;

/// <summary>The command line as a user meets it: exit codes, one-line errors, fixtures through --proc-root.</summary>
public class CliTests
{
    [Fact] public void UnknownOptionIsAUsageError() => CliAssert.OneLineError(CliRunner.Run("sockets", "--bogus"), 2, "--bogus");
    [Fact] public void UnknownCommandIsAUsageError() => CliAssert.OneLineError(CliRunner.Run("frobnicate"), 2, "frobnicate");
    [Fact] public void BadAddressIsAUsageError() => CliAssert.OneLineError(CliRunner.Run("sockets", "--remote", "10.0.0.300"), 2, "bad address '10.0.0.300'");
    [Fact] public void BadStateIsAUsageError() => CliAssert.OneLineError(CliRunner.Run("sockets", "--state", "sleepy"), 2, "unknown TCP state 'sleepy'");
    [Fact] public void BadPortIsAUsageError() => CliAssert.OneLineError(CliRunner.Run("sockets", "--port", "70000"), 2, "bad port");
    [Fact] public void BadGroupByIsAUsageError() => CliAssert.OneLineError(CliRunner.Run("sockets", "--group-by", "color"), 2, "color");
    [Fact] public void BadDurationIsAUsageError() => CliAssert.OneLineError(CliRunner.Run("diagnose", "--idle", "soon"), 2, "bad duration 'soon'");
    [Fact] public void UnknownRuleIsAUsageError() => CliAssert.OneLineError(CliRunner.Run("diagnose", "--rule", "nope"), 2, "unknown rule 'nope'");
    // Port 0 means "any port" inside a filter: ":0" would select every socket on the host, and kill would destroy them all.
    [Fact] public void PortZeroInAnEndpointIsAUsageError() => CliAssert.OneLineError(CliRunner.Run("kill", "--remote", ":0"), 2, "bad address ':0'");
    [Fact] public void PortZeroAfterAnAddressIsAUsageError() => CliAssert.OneLineError(CliRunner.Run("kill", "--local", "127.0.0.1:0"), 2, "bad address '127.0.0.1:0'");
    [Fact] public void IdleZeroIsAUsageError() => CliAssert.OneLineError(CliRunner.Run("kill", "--idle", "0"), 2, "bad duration '0' for --idle");
    [Fact] public void EmptyFilterValueIsAUsageError() => CliAssert.OneLineError(CliRunner.Run("sockets", "--port", ""), 2, "--port '' is empty");

    [Fact]
    public async Task AFifoGivenAsNamespaceIsAnErrorNotAHang()
    {
        var dir = Directory.CreateTempSubdirectory("cd-fifo");
        try
        {
            var fifo = Path.Combine(dir.FullName, "ns");
            Shell.Run("mkfifo", fifo);
            // Opening a FIFO blocks until a writer comes: run it aside so a regression fails the test instead of hanging the suite.
            var run = Task.Run(() => CliRunner.Run("sockets", "--netns", fifo));
            Assert.Same(run, await Task.WhenAny(run, Task.Delay(TimeSpan.FromSeconds(30))));   // else conndoctor hung on the FIFO
            CliAssert.OneLineError(await run, 1, fifo);
        }
        finally { dir.Delete(true); }
    }
    [Fact] public void MissingProcRootIsAnError() => CliAssert.OneLineError(CliRunner.Run("sockets", "--proc-root", "/nonexistent/proc"), 1, "/nonexistent/proc does not exist");
    [Fact] public void MissingNamespaceIsAnError() => CliAssert.OneLineError(CliRunner.Run("sockets", "--netns", "no-such-ns-here"), 1, "no network namespace named 'no-such-ns-here'");
    [Fact] public void NetnsWithProcRootIsRefused() => CliAssert.OneLineError(CliRunner.Run("sockets", "--netns", "x", "--proc-root", Fixtures.Dir("proc-scenario")), 1, "cannot be combined with --proc-root");

    [Fact]
    public void ProcRootWithoutSocketTablesIsAnError()
    {
        var empty = Directory.CreateTempSubdirectory("cd-noproc");
        try { CliAssert.OneLineError(CliRunner.Run("sockets", "--proc-root", empty.FullName), 1, "no socket table"); }
        finally { empty.Delete(true); }
    }

    [Fact]
    public void VerboseShowsTheTrace()
    {
        var r = CliRunner.Run("sockets", "--netns", "no-such-ns-here", "--verbose");
        Assert.Equal(1, r.Code);
        Assert.Contains("UserException", r.Stderr);
    }

    [Fact]
    public void FixtureTableThroughProcRootMatchesSs()
    {
        var r = CliRunner.Run("sockets", "--proc-root", Fixtures.Dir("proc-scenario"), "--json");
        Assert.Equal(0, r.Code);
        using var doc = r.Json();
        var counts = doc.RootElement.GetProperty("counts").EnumerateObject().ToDictionary(p => p.Name, p => p.Value.GetInt32());
        Assert.Equal(Fixtures.SsStateCounts(Path.Combine(Fixtures.Dir("proc-scenario"), "ss-tan.txt")).OrderBy(k => k.Key), counts.OrderBy(k => k.Key));
        Assert.Equal(1, doc.RootElement.GetProperty("schemaVersion").GetInt32());
        Assert.Equal("sockets:proc", doc.RootElement.GetProperty("sources")[0].GetProperty("source").GetString());
    }

    [Fact]
    public void MalformedFixtureIsReadWithAPartialStatus()
    {
        var r = CliRunner.Run("sockets", "--proc-root", Fixtures.Dir("proc-malformed"), "--json");
        Assert.Equal(0, r.Code);
        using var doc = r.Json();
        var src = doc.RootElement.GetProperty("sources")[0];
        Assert.Equal("partial", src.GetProperty("state").GetString());
        Assert.Contains("3 malformed line(s)", src.GetProperty("reason").GetString());
    }

    [Fact]
    public void FiltersApplyToTheFixture()
    {
        var r = CliRunner.Run("sockets", "--proc-root", Fixtures.Dir("proc-scenario"), "--json", "--group-by", "none", "--state", "close-wait", "--remote", "127.0.0.1:9001");
        using var doc = r.Json();
        var sockets = doc.RootElement.GetProperty("sockets").EnumerateArray().ToList();
        Assert.Equal(3, sockets.Count);
        Assert.All(sockets, s => Assert.Equal("CLOSE-WAIT", s.GetProperty("state").GetString()));
        var byPort = CliRunner.Run("sockets", "--proc-root", Fixtures.Dir("proc-scenario"), "--json", "--port", "9004");
        using var d2 = byPort.Json();
        Assert.Equal(5, d2.RootElement.GetProperty("total").GetInt32()); // the listener and two connections, both ends
    }

    [Fact]
    public void DiagnoseHelpListsEveryRuleAndExitsZero()
    {
        var r = CliRunner.Run("diagnose", "--help");
        Assert.Equal(0, r.Code);
        // diagnose reads every source (socket table, ZooKeeper logs and polls, settings, a watch): every rule id is taken.
        foreach (var rule in ConnDoctor.Rules.RuleRegistry.All) Assert.Contains(rule.Id, r.Stdout);
    }
}
