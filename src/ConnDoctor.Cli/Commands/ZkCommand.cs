using System.CommandLine;
using ConnDoctor.Render;
using ConnDoctor.Render.Html;
using ConnDoctor.Rules;
using ConnDoctor.Sources.ZkPoll;

namespace ConnDoctor.Cli.Commands;

/// <summary>`conndoctor zk HOST:PORT[,HOST:PORT...]`: a live look at a ZooKeeper ensemble's clients, once or over a --watch.</summary>
public static class ZkCommand
{
    private static readonly Argument<string[]> Members = new("HOST:PORT")
    { Description = "The ensemble's members: HOST:PORT (port 2181 when left out), separated by commas or spaces", Arity = ArgumentArity.OneOrMore };
    private static readonly Option<string?> AdminUrl = new("--admin-url")
    {
        Description = "The AdminServer's command URL, asked first (e.g. http://zk1:8080/commands); '{host}' stands for each member's host, " +
                      "or give one URL per member separated by commas. Without it, http://HOST:8080/commands is tried only when a four-letter word is refused",
        HelpName = "URL",
    };
    private static readonly Option<string> Timeout = new("--timeout")
    { Description = "Time allowed per command (one four-letter word, one AdminServer request)", DefaultValueFactory = _ => "3s", HelpName = "DURATION" };
    private static readonly Option<string?> Watch = new("--watch")
    { Description = "Poll again and again for this long (Ctrl-C ends it early) and report growth per client IP, then the findings", HelpName = "DURATION" };
    private static readonly Option<string> Interval = new("--interval")
    { Description = "Time between polls of a --watch", DefaultValueFactory = _ => "5s", HelpName = "DURATION" };
    private static readonly Option<string?> PathOption = new("--path")
    { Description = "List the ephemeral nodes directly under this path with conndoctor's own ZooKeeper client (a short session of its own), with their owning session and client address; works on followers too", HelpName = "ZNODE" };

    public static Command Create(CliIo io)
    {
        var c = new Command("zk", "Ask every member of a ZooKeeper ensemble about its clients: connections per IP against maxClientCnxns, sessions, idle connections, ephemeral nodes, watches; growth over a --watch");
        c.Arguments.Add(Members);
        c.Options.Add(AdminUrl);
        c.Options.Add(Timeout);
        c.Options.Add(Watch);
        c.Options.Add(Interval);
        c.Options.Add(PathOption);
        FailOnOption.AddTo(c);
        HtmlOption.AddTo(c);
        c.SetAction(p => Cli.Guard(io, p, () => Run(p, io)));
        return c;
    }

    private static int Run(ParseResult p, CliIo io)
    {
        var timeout = Durations.Parse(p.GetValue(Timeout)!, "--timeout");
        if (timeout < TimeSpan.FromMilliseconds(50) || timeout > TimeSpan.FromMinutes(5))
            throw new UserException("--timeout must be between 50ms and 5m", (int)ExitCode.Usage);
        TimeSpan? watch = p.GetValue(Watch) is { } w ? Durations.Parse(w, "--watch") : null;
        var interval = Durations.Parse(p.GetValue(Interval)!, "--interval");
        if (interval < TimeSpan.FromMilliseconds(200)) throw new UserException("--interval must be at least 200ms", (int)ExitCode.Usage);
        if (watch is TimeSpan ws && ws <= TimeSpan.Zero) throw new UserException("--watch needs a duration above zero, e.g. 5m", (int)ExitCode.Usage);
        // Options that would otherwise be taken without effect: say so instead.
        if (watch == null && p.GetResult(Interval) is { Implicit: false }) throw new UserException("--interval only applies with --watch", (int)ExitCode.Usage);
        if (p.GetValue(AdminUrl) is { } admin && admin.Trim().Length == 0) throw new UserException("--admin-url is empty: give http://HOST:PORT/commands, or leave it out", (int)ExitCode.Usage);
        string? path = p.GetValue(PathOption);
        if (path != null && (!path.StartsWith('/') || (path.Length > 1 && path.EndsWith('/'))))
            throw new UserException(path.StartsWith('/') ? $"bad --path '{path}': no '/' at the end (ZooKeeper paths have none), e.g. /clients"
                : $"bad --path '{path}': give an absolute znode path such as /clients", (int)ExitCode.Usage);
        var members = ParseMembers(p.GetValue(Members)!, p.GetValue(AdminUrl));
        var options = new ZkOptions { Members = members, Timeout = timeout, Watch = watch, Interval = interval, Path = path };
        bool json = p.GetValue(GlobalOptions.Json);
        var output = OutputFor.Read(p, io);

        // Ctrl-C and SIGTERM end a --watch early with its findings.
        using var stop = new StopSignals();
        Action<ZkTick>? onTick = json || watch == null ? null : t => ZkTerminalRenderer.Tick(t, io.Out, output, io.IsTerminal);
        var evidence = ZkEnsembleSource.Run(options, onTick, stop.Token);
        var report = ZkReport.Build(evidence, new RuleOptions());
        HtmlOption.Write(p, () => HtmlReport.Of(report));
        if (json) ZkJsonRenderer.Render(report, io.OutStream);
        else
        {
            if (watch != null) StopSignals.EndLiveView(io);
            ZkTerminalRenderer.Render(report, io.Out, output);
        }
        if (evidence.Zk!.Servers.All(s => !s.Reachable))
        {
            io.Flush();
            throw new UserException("no member of the ensemble answered: " + string.Join("; ", evidence.Zk.Servers.Select(s => $"{s.Member}: {s.Reason}")));
        }
        return FailOnOption.ExitCodeFor(p, report.Diagnosis.Worst);
    }

    internal static List<ZkMember> ParseMembers(string[] args, string? adminUrl)
    {
        // An application's connect string may end with a chroot ("zk1:2181,zk2:2181/kafka"): it scopes the client's paths, not
        // the servers, and four-letter words are server-wide, so it is dropped.
        var texts = args.Select(a => a.IndexOf('/') is int slash and >= 0 ? a[..slash] : a)
            .SelectMany(a => a.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToList();
        if (texts.Count == 0) throw new UserException("give at least one member, HOST:PORT", (int)ExitCode.Usage);
        var urls = adminUrl?.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries) ?? [];
        if (urls.Length > 1 && urls.Length != texts.Count)
            throw new UserException($"--admin-url has {urls.Length} URLs for {texts.Count} members: give one per member, or one with {{host}}", (int)ExitCode.Usage);
        if (urls.Length == 1 && texts.Count > 1 && !urls[0].Contains("{host}"))
            throw new UserException("--admin-url: with several members, give one URL per member or one containing {host}", (int)ExitCode.Usage);
        var list = new List<ZkMember>();
        for (int i = 0; i < texts.Count; i++)
        {
            var (host, port) = HostPort(texts[i]);
            string? url = urls.Length == 0 ? null : urls.Length == 1 ? urls[0].Replace("{host}", host.Contains(':') ? $"[{host}]" : host) : urls[i];
            if (url != null)
            {
                if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != "http" && uri.Scheme != "https"))
                    throw new UserException($"bad --admin-url '{url}': give http://HOST:PORT/commands", (int)ExitCode.Usage);
                // The command root: http://zk1:8080 means http://zk1:8080/commands.
                if (uri.AbsolutePath is "" or "/") url = url.TrimEnd('/') + "/commands";
            }
            string text = host.Contains(':') ? $"[{host}]:{port}" : $"{host}:{port}";
            list.Add(new ZkMember(text, host, port, url, url != null));
        }
        if (list.Select(m => m.Text).Distinct().Count() != list.Count) throw new UserException("a member is given twice", (int)ExitCode.Usage);
        return list;
    }

    private static (string Host, int Port) HostPort(string text)
    {
        string host = text;
        int port = 2181;
        if (text.StartsWith('['))
        {
            int close = text.IndexOf(']');
            if (close < 0) throw Bad(text);
            host = text[1..close];
            var rest = text[(close + 1)..];
            if (rest.Length > 0 && (!rest.StartsWith(':') || !int.TryParse(rest.AsSpan(1), out port))) throw Bad(text);
        }
        else if (text.Count(ch => ch == ':') == 1)
        {
            int colon = text.IndexOf(':');
            host = text[..colon];
            if (!int.TryParse(text.AsSpan(colon + 1), out port)) throw Bad(text);
        }
        else if (text.Contains(':') && !System.Net.IPAddress.TryParse(text, out _)) throw Bad(text);
        if (port is < 1 or > 65535 || host.Length == 0 || host.Any(char.IsWhiteSpace)) throw Bad(text);
        return (host, port);
    }

    private static UserException Bad(string text) =>
        new($"bad member '{text}': give HOST:PORT, e.g. zk1:2181 or 10.0.0.5:2181 or [fd00::5]:2181", (int)ExitCode.Usage);
}
