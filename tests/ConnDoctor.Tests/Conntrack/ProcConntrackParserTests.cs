using System.Text;
using ConnDoctor.Model;
using ConnDoctor.Sources;
using ConnDoctor.Sources.Conntrack;
using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.Conntrack;

/// <summary>The /proc/net/nf_conntrack parser on lines real users and kernel developers published (fixtures/conntrack/README.md).</summary>
public class ProcConntrackParserTests
{
    private static string ProcFixture => Path.Combine(Fixtures.Dir("conntrack"), "proc-public");

    private static ConntrackSink ParseFile(string path, params int[] ports)
    {
        var sink = new ConntrackSink(ports);
        ProcConntrackParser.Parse(File.ReadAllBytes(path), sink);
        return sink;
    }

    private static NetEndpoint Ep(string text)
    {
        Assert.True(NetEndpoint.TryParse(text, out var ep, out _), text);
        return ep;
    }

    [Fact]
    public void EveryPublishedProcLineIsReadWithItsTuplesStateAndFlags()
    {
        var sink = ParseFile(Path.Combine(ProcFixture, "net", "nf_conntrack"));
        Assert.Equal(6, sink.Total);          // the UDP line is counted, not kept
        Assert.Equal(0, sink.Malformed);
        Assert.Equal(5, sink.Kept.Count);

        var v6 = sink.Kept[0];                 // the full %pI6 form
        Assert.Equal(Ep("[2001:db8:ffff:21::2]:59488"), v6.Original.Source);
        Assert.Equal(Ep("[2001:db8:ffff:22::1]:10001"), v6.Original.Destination);
        Assert.Equal(Ep("[2001:db8:ffff:22::1]:10001"), v6.Reply.Source);
        Assert.Equal("ESTABLISHED", v6.TcpState);
        Assert.Equal(86392, v6.TimeoutSeconds);
        Assert.True(v6.Assured);
        Assert.False(v6.Unreplied);
        Assert.False(v6.SourceTranslated);

        var dnat = sink.Kept[1];                // SYN_SENT, unanswered, DNAT with a port change, secctx=
        Assert.Equal("SYN_SENT", dnat.TcpState);
        Assert.True(dnat.Unreplied);
        Assert.False(dnat.Assured);
        Assert.Equal(119, dnat.TimeoutSeconds);
        Assert.Equal(Ep("20.0.0.1:10"), dnat.Reply.Source);
        Assert.Equal(Ep("10.0.0.10:58203"), dnat.Reply.Destination);
        Assert.True(dnat.SourceTranslated);     // the reply comes back to another port than the one that sent

        var offload = sink.Kept[3];             // no timeout and no state: an offloaded flow
        Assert.Null(offload.TcpState);
        Assert.Equal(0, offload.TimeoutSeconds);
        Assert.NotEqual(0u, offload.Status & ConntrackStates.IPS_HW_OFFLOAD);
        Assert.Equal(Ep("172.0.0.3:34018"), offload.Original.Source);

        var snat = sink.Kept[4];                // single spaces, no zone=
        Assert.Equal(Ep("1.1.1.2:2000"), snat.Original.Source);
        Assert.Equal(Ep("1.1.1.1:12000"), snat.Reply.Destination);
        Assert.True(snat.SourceTranslated);
        Assert.Equal(300, snat.TimeoutSeconds);
    }

    [Fact]
    public void ConntrackToolLinesWithoutTheFamilyColumnAreReadAndItsSummaryLineIsCountedMalformed()
    {
        var sink = ParseFile(Path.Combine(Fixtures.Dir("conntrack"), "conntrack-L-public.txt"));
        Assert.Equal(6, sink.Kept.Count);
        Assert.Equal(1, sink.Malformed);
        Assert.Equal([7], sink.MalformedAt);    // "onntrack v1.4.3 (conntrack-tools): 364 flow entries have been shown."
        Assert.Equal("CLOSE_WAIT", sink.Kept[2].TcpState);
        Assert.Equal(Ep("10.244.1.7:27017"), sink.Kept[4].Reply.Source);   // the Service's DNAT to the pod
    }

    [Fact]
    public void ThePortFilterKeepsTheOriginalDestinationOrTheReplySourceAfterDnat()
    {
        // 27017 is the pod's port behind the Service 10.0.223.224:27017; 17652 only an original destination.
        Assert.Equal(2, ParseFile(Path.Combine(Fixtures.Dir("conntrack"), "conntrack-L-public.txt"), 27017).Kept.Count);
        Assert.Equal(2, ParseFile(Path.Combine(Fixtures.Dir("conntrack"), "conntrack-L-public.txt"), 17652).Kept.Count);
        // DNAT 10.0.0.20:10 -> 20.0.0.1:10: the reply source port matches.
        Assert.Equal(2, ParseFile(Path.Combine(ProcFixture, "net", "nf_conntrack"), 10).Kept.Count);
        Assert.Empty(ParseFile(Path.Combine(ProcFixture, "net", "nf_conntrack"), 2181).Kept);
    }

    [Theory]
    [InlineData("ipv4     2 tcp      6 119 SYN_SENT src=10.0.0.10 dst=10.0.0.20 sport=5000 dport=10 [UNREPLIED] src=20.0.0.1 dst=10.0.0.10 sport=10")] // cut short
    [InlineData("ipv4     2 tcp      6 119 SYN_SENT src=10.0.0.10 dst=10.0.0.20 sport=5000 dport=99999 src=20.0.0.1 dst=10.0.0.10 sport=10 dport=5000 use=2")] // port out of range
    [InlineData("ipv4     2 tcp      6 119 NOT_A_STATE src=10.0.0.10 dst=10.0.0.20 sport=5000 dport=10 src=20.0.0.1 dst=10.0.0.10 sport=10 dport=5000 use=2")]
    [InlineData("ipv4     2 tcp      6 119 SYN_SENT src=10.0.0.300 dst=10.0.0.20 sport=5000 dport=10 src=20.0.0.1 dst=10.0.0.10 sport=10 dport=5000 use=2")]   // bad address
    [InlineData("ipv4     2 tcp      6 119 SYN_SENT src=::1 dst=10.0.0.20 sport=5000 dport=10 src=20.0.0.1 dst=10.0.0.10 sport=10 dport=5000 use=2")]          // v6 in an ipv4 line
    [InlineData("\u0000\u0001\u00ff garbage")]
    [InlineData("ipv4     2")]
    public void AMalformedLineIsCountedWithItsNumberAndTheRestIsRead(string bad)
    {
        var good = File.ReadAllLines(Path.Combine(ProcFixture, "net", "nf_conntrack"))[1];
        var sink = new ConntrackSink([]);
        ProcConntrackParser.Parse(Encoding.Latin1.GetBytes($"{good}\n{bad}\n{good}\n"), sink);
        Assert.Equal(2, sink.Kept.Count);
        Assert.Equal(1, sink.Malformed);
        Assert.Equal([2], sink.MalformedAt);
    }

    [Fact]
    public void AFixtureProcRootIsReadThroughTheSourceWithAStatusSayingWhatWasKept()
    {
        var (ev, status) = ConntrackSource.Read([], new ConntrackOptions { ProcRoot = ProcFixture, Ports = [10001, 2181] });
        Assert.Equal(SourceState.Ok, status.State);
        Assert.Equal("conntrack:proc", status.Source);
        Assert.Equal("1 of 6 tracked entries towards port(s) 2181, 10001 in 1 namespace(s)", status.Reason);
        Assert.Equal("proc", ev!.Via);
        Assert.Equal(6, ev.TableSize);
        Assert.Single(ev.Entries);
    }

    [Fact]
    public void AProcRootWithoutTheFileIsSkippedSayingConntrackIsNotLoaded()
    {
        var (ev, status) = ConntrackSource.Read([], new ConntrackOptions { ProcRoot = Fixtures.Dir("proc-empty") });
        Assert.Null(ev);
        Assert.Equal(SourceState.Skipped, status.State);
        Assert.Contains("nf_conntrack is not loaded here", status.Reason);
    }

    [Fact]
    public void AHostWithoutTheModuleIsSkippedWithoutAskingTheKernel()
    {
        var empty = Directory.CreateTempSubdirectory("cdt-sysmodule-").FullName;
        try
        {
            var (ev, status) = ConntrackSource.Read([], new ConntrackOptions { SysModuleRoot = empty });
            Assert.Null(ev);
            Assert.Equal(SourceState.Skipped, status.State);
            Assert.Equal("nf_conntrack is not loaded: this host tracks no connections (no NAT)", status.Reason);
        }
        finally { Directory.Delete(empty); }
    }
}
