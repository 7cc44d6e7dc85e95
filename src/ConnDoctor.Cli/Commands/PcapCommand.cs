using System.CommandLine;
using ConnDoctor.Model;
using ConnDoctor.Render;
using ConnDoctor.Render.Html;
using ConnDoctor.Rules;
using ConnDoctor.Sources.Pcap;

namespace ConnDoctor.Cli.Commands;

/// <summary>`conndoctor pcap FILE`: every TCP connection in a capture, summed up per client -> server, resets classified, findings.</summary>
public static class PcapCommand
{
    private static readonly Argument<string> File = new("FILE") { Description = "A pcap or pcapng file (tcpdump -w, tshark -w, dumpcap); - reads standard input" };
    private static readonly Option<string?> Host = new("--host") { Description = "Only packets to or from this address", HelpName = "ADDR" };
    private static readonly Option<string?> Port = new("--port") { Description = "Only packets to or from this port", HelpName = "PORT" };

    public static Command Create(CliIo io)
    {
        var c = new Command("pcap", "Read a packet capture: per connection and per client, who opened and closed, how long, resets classified; findings with cause and remedy");
        c.Arguments.Add(File);
        c.Options.Add(Host);
        c.Options.Add(Port);
        FailOnOption.AddTo(c);
        HtmlOption.AddTo(c);
        c.SetAction(p => Cli.Guard(io, p, () => Run(p, io)));
        return c;
    }

    private static int Run(ParseResult p, CliIo io)
    {
        var filter = new CaptureFilter();
        if (p.GetValue(Host) is { } h)
            // "10.2" or "010.0.0.1" parse as other addresses: an IPv4 address must be written as its four decimal parts.
            filter = filter with { Host = NetAddress.TryParse(h, out var a) && (a.IsV6 || FilterOptions.IsDottedQuad(h, a)) ? a : throw new UserException($"bad address '{h}' for --host: give an IPv4 (four decimal parts) or IPv6 address", (int)ExitCode.Usage) };
        if (p.GetValue(Port) is { } pt)
            filter = filter with { Port = ushort.TryParse(pt, out var port) && port > 0 ? port : throw new UserException($"bad port '{pt}': give a number from 1 to 65535", (int)ExitCode.Usage) };
        var evidence = CaptureSource.Collect(p.GetValue(File)!, filter);
        var report = PcapReport.Build(evidence, new RuleOptions());
        HtmlOption.Write(p, () => HtmlReport.Of(report));
        if (p.GetValue(GlobalOptions.Json)) PcapJsonRenderer.Render(report, io.OutStream);
        else PcapTerminalRenderer.Render(report, io.Out, OutputFor.Read(p, io));
        return FailOnOption.ExitCodeFor(p, report.Diagnosis.Worst);
    }
}
