using System.Text.Json;
using ConnDoctor.Tests.Cli;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.Kill;

/// <summary>`kill` refuses what it must refuse, with one line and the right exit code; without root it lists but destroys nothing.</summary>
public class KillCliTests
{
    [Fact] public void AnEmptyFilterIsRefused() => CliAssert.OneLineError(CliRunner.Run("kill"), 2, "kill needs a filter");
    [Fact] public void YesAloneIsStillAnEmptyFilter() => CliAssert.OneLineError(CliRunner.Run("kill", "--yes"), 2, "refusing to select every socket");
    [Fact] public void ListenersAreNeverTargets() => CliAssert.OneLineError(CliRunner.Run("kill", "--state", "listen"), 2, "never destroys listening sockets");
    [Fact] public void ABadIdleIsAUsageError() => CliAssert.OneLineError(CliRunner.Run("kill", "--idle", "soon"), 2, "bad duration 'soon' for --idle");
    [Fact] public void ABadLocalIsAUsageError() => CliAssert.OneLineError(CliRunner.Run("kill", "--local", ":99999"), 2, "bad address ':99999'");
    [Fact] public void AMissingNamespaceIsAnError() => CliAssert.OneLineError(CliRunner.Run("kill", "--netns", "no-such-ns-here", "--state", "established"), 1, "no network namespace named 'no-such-ns-here'");
    [Fact] public void NetnsAndAllNetnsExcludeEachOther() => CliAssert.OneLineError(CliRunner.Run("kill", "--netns", "x", "--all-netns", "--port", "1"), 2, "exclude each other");

    [Fact]
    public void WithoutRootTheDryRunListsAndYesIsRefusedInOneLineWithNothingDestroyed()
    {
        using var ns = new TestNetns("knr");
        ns.StartScenario("server", "--listen", "127.0.0.1:9109:hold");
        ns.StartScenario("leaky", "--connect", "127.0.0.1:9109", "--count", "2");
        string[] asNobody = ["netns", "exec", ns.Name, "setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", BinarySmokeTests.Binary(), "kill", "--remote", "127.0.0.1:9109"];
        var before = ns.Exec("ss", "-tanH");

        var dry = Shell.RunFull("ip", [.. asNobody, "--json"], check: false);
        Assert.True(dry.Code == 0, dry.Stderr);
        using (var doc = JsonDocument.Parse(dry.Stdout)) Assert.Equal(2, doc.RootElement.GetProperty("targets").GetArrayLength());

        var yes = Shell.RunFull("ip", [.. asNobody, "--yes"], check: false);
        CliAssert.OneLineError(yes.Code, yes.Stderr, 1, "destroying sockets needs CAP_NET_ADMIN");
        Assert.Contains("nothing was destroyed", yes.Stderr);
        Assert.Equal(before, ns.Exec("ss", "-tanH"));
    }

    [Fact] public void ANonPositivePidIsAUsageError() => CliAssert.OneLineError(CliRunner.Run("kill", "--pid", "0"), 2, "bad pid '0'");
    [Fact] public void ATextPidIsAUsageError() => CliAssert.OneLineError(CliRunner.Run("kill", "--pid", "nginx"), 2, "bad pid 'nginx'");
    [Fact] public void AnAbbreviatedIPv4AddressIsRefused() => CliAssert.OneLineError(CliRunner.Run("kill", "--remote", "10.1.2"), 2, "bad address '10.1.2'");
    [Fact] public void AnOctalLookingIPv4AddressIsRefused() => CliAssert.OneLineError(CliRunner.Run("kill", "--remote", "010.0.0.1:80"), 2, "bad address '010.0.0.1:80'");
    [Fact] public void AnIdleBeyondAnyClockIsAUsageError() => CliAssert.OneLineError(CliRunner.Run("kill", "--idle", "99999999999d"), 2, "bad duration '99999999999d'");
    [Fact] public void ANamespacePathThatIsNoNamespaceIsAnError() => CliAssert.OneLineError(CliRunner.Run("kill", "--netns", "/etc/hostname", "--port", "1"), 1, "network namespace /etc/hostname");

    /// <summary>Long IPv6 endpoints, TIME_WAIT and a matching listener: every line of the table and its notes fits 80 columns.</summary>
    [Fact]
    public void TheTableFitsEightyColumnsEvenWithLongIPv6Endpoints()
    {
        using var ns = new TestNetns("k80");
        const string Long = "2001:db8:aaaa:bbbb:cccc:dddd:eeee:1";
        ns.Exec("ip", "-6", "addr", "add", Long + "/128", "dev", "lo", "nodad");
        ns.StartScenario("server", "--listen", $"[{Long}]:9110:hold", "--listen", "127.0.0.1:9111:drain");
        ns.StartScenario("leaky", "--connect", $"[{Long}]:9110", "--count", "2");
        ns.StartScenario("good", "--connect", "127.0.0.1:9111", "--count", "0", "--churn", "127.0.0.1:9111", "--cycles", "3");
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (ns.Exec("ss", "-tanH", "state", "time-wait").Trim().Length == 0 && DateTime.UtcNow < deadline) Thread.Sleep(100);

        var r = CliRunner.Run("kill", "--netns", ns.Name, "--port", "9110", "--port", "9111");
        Assert.True(r.Code == 0, r.Stderr);
        Assert.All(r.Stdout.Split('\n'), l => Assert.True(l.Length <= 80, $"{l.Length}: {l}"));
        Assert.Contains($"peer [{Long}]:9110", r.Stdout);          // the peer moved under the row, with owner and idle
        Assert.Contains("note: 2 listening socket(s) match too", r.Stdout);
        Assert.Contains("TIME_WAIT sockets", r.Stdout);
        var tw = ns.Exec("ss", "-tanH", "state", "time-wait").Split('\n', StringSplitOptions.RemoveEmptyEntries).Length;
        Assert.Contains($"{4 + tw} socket(s) would be destroyed", r.Stdout); // both ends of the two IPv6 connections, and the TIME_WAIT
    }

    [Fact]
    public void NoMatchIsSaidAndIsNotAnError()
    {
        using var ns = new TestNetns("knm");
        var r = CliRunner.Run("kill", "--netns", ns.Name, "--remote", "192.0.2.1", "--yes");
        Assert.True(r.Code == 0, r.Stderr);
        Assert.Contains("no socket matches the filter", r.Stdout);
    }
}
