using System.CommandLine;
using ConnDoctor.Analysis;
using ConnDoctor.Model;
using ConnDoctor.Render;
using ConnDoctor.Sources;

namespace ConnDoctor.Cli;

/// <summary>Options every command has, each declared once with its description (help is generated from these).</summary>
public static class GlobalOptions
{
    public static readonly Option<bool> Json = new("--json") { Description = "Print a JSON document (schema in docs/json.md) instead of text", Recursive = true };
    public static readonly Option<bool> Wide = new("--wide") { Description = "Use the terminal's full width (or 200 columns when piped) instead of 80", Recursive = true };
    public static readonly Option<bool> Verbose = new("--verbose", "-v") { Description = "Show stack traces of errors", Recursive = true };
}

/// <summary>Where the socket evidence comes from: namespaces, backend, fixture roots.</summary>
public static class SourceOptions
{
    public static readonly Option<string> ProcRoot = new("--proc-root")
    { Description = "Read /proc files from this directory (fixtures, a copied bundle); implies --source proc", DefaultValueFactory = _ => "/proc", HelpName = "DIR" };
    public static readonly Option<string?> Netns = new("--netns")
    { Description = "Read the socket table of this network namespace: a name from 'ip netns list' or a /proc/PID/ns/net path", HelpName = "NAME|PATH" };
    public static readonly Option<bool> AllNetns = new("--all-netns")
    { Description = "Read every network namespace a running process is in (each pod on a Kubernetes node), labelling each socket" };
    public static readonly Option<string> Source = new("--source")
    { Description = "Socket table backend: netlink (sock_diag), proc (/proc/net/tcp), or auto (netlink, falling back to proc)", DefaultValueFactory = _ => "auto", HelpName = "auto|netlink|proc" };
    public static readonly Option<string> NodeRoot = new("--node-root")
    { Description = "Where the node's disk is (the kubelet's var/log/pods and var/lib/kubelet name pods): / , or e.g. /host in a container", DefaultValueFactory = _ => "/", HelpName = "DIR" };

    public static void AddTo(Command c)
    {
        Source.AcceptOnlyFromAmong("auto", "netlink", "proc");
        c.Options.Add(ProcRoot);
        c.Options.Add(Netns);
        c.Options.Add(AllNetns);
        c.Options.Add(Source);
        c.Options.Add(NodeRoot);
    }

    public static CollectOptions Read(ParseResult p, SocketFilter filter)
    {
        var procRoot = p.GetValue(ProcRoot)!;
        var backend = p.GetValue(Source) switch { "netlink" => SocketBackend.Netlink, "proc" => SocketBackend.Proc, _ => SocketBackend.Auto };
        var o = new CollectOptions
        {
            ProcRoot = procRoot,
            Netns = p.GetValue(Netns),
            AllNetns = p.GetValue(AllNetns),
            Backend = backend,
            StateMask = filter.KernelStateMask,
            PodLogRoot = Path.Combine(p.GetValue(NodeRoot)!, "var/log/pods"),
            KubeletRoot = Path.Combine(p.GetValue(NodeRoot)!, "var/lib/kubelet"),
        };
        if (o.Netns != null && o.AllNetns) throw new UserException("--netns and --all-netns exclude each other", (int)ExitCode.Usage);
        if (!o.IsLiveProc && backend == SocketBackend.Auto) o = o with { Backend = SocketBackend.Proc };
        return o;
    }
}

/// <summary>The socket filters shared by sockets and diagnose.</summary>
public static partial class FilterOptions
{
    public static readonly Option<string[]> State = new("--state")
    { Description = "Only sockets in these states (established, close-wait, time-wait, listen, syn-sent, ...); repeat or separate with commas", HelpName = "STATE", AllowMultipleArgumentsPerToken = false };
    public static readonly Option<string[]> Port = new("--port")
    { Description = "Only sockets whose local or remote port is this", HelpName = "PORT" };
    public static readonly Option<string[]> Remote = new("--remote")
    { Description = "Only sockets whose peer is this address, ADDR:PORT or :PORT", HelpName = "ADDR[:PORT]" };
    public static readonly Option<string[]> Pid = new("--pid")
    { Description = "Only sockets held by this process (TIME_WAIT sockets have no process and never match)", HelpName = "PID" };
    public static readonly Option<string[]> Local = new("--local")
    { Description = "Only sockets whose local end is this address, ADDR:PORT or :PORT (e.g. :2181 for a server's side)", HelpName = "ADDR[:PORT]" };
    /// <summary>Not in <see cref="AddTo"/>: only commands that read tcp_info (sockets, kill) take it.</summary>
    public static readonly Option<string?> Idle = new("--idle")
    { Description = "Only sockets that received nothing for at least this long (tcp_info last_data_recv; needs netlink): e.g. 90s, 10m, 2h", HelpName = "DURATION" };

    public static void AddTo(Command c)
    {
        c.Options.Add(State);
        c.Options.Add(Port);
        c.Options.Add(Remote);
        c.Options.Add(Local);
        c.Options.Add(Pid);
    }

    public static SocketFilter Read(ParseResult p)
    {
        var states = new List<TcpState>();
        foreach (var item in Split(p.GetValue(State), "--state"))
        {
            if (!TcpStates.TryParse(item, out var s))
                throw new UserException($"unknown TCP state '{item}' (use established, syn-sent, syn-recv, fin-wait-1, fin-wait-2, time-wait, close-wait, last-ack, closing, listen)", (int)ExitCode.Usage);
            states.Add(TcpStates.Normalize(s));
        }
        var ports = new List<int>();
        foreach (var item in Split(p.GetValue(Port), "--port"))
        {
            if (!ushort.TryParse(item, out var port) || port == 0)
                throw new UserException($"bad port '{item}': give a number from 1 to 65535", (int)ExitCode.Usage);
            ports.Add(port);
        }
        var pids = new List<int>();
        foreach (var item in Split(p.GetValue(Pid), "--pid"))
        {
            if (!int.TryParse(item, System.Globalization.NumberStyles.None, null, out var pid) || pid <= 0)
                throw new UserException($"bad pid '{item}': give a process id (a number from 1 up)", (int)ExitCode.Usage);
            pids.Add(pid);
        }
        TimeSpan? idle = p.GetResult(Idle) != null && p.GetValue(Idle) is { } d ? Durations.Parse(d, "--idle") : null;
        // --idle 0 matches every socket with tcp_info: a filter that selects everything must not look like one (kill).
        if (idle == TimeSpan.Zero) throw new UserException("bad duration '0' for --idle: give more than 0, e.g. 90s", (int)ExitCode.Usage);
        return new SocketFilter
        {
            States = states, Ports = ports, Remotes = Endpoints(p.GetValue(Remote), "--remote"), Locals = Endpoints(p.GetValue(Local), "--local"),
            Pids = pids, Idle = idle,
        };
    }

    private static List<(NetEndpoint, bool)> Endpoints(string[]? values, string option)
    {
        var list = new List<(NetEndpoint, bool)>();
        foreach (var item in Split(values, option))
        {
            // IPAddress also takes "10.1.2" or "010.0.0.1" (octal): a typo there would silently select other hosts or none.
            // Port 0 stands for "any port" inside the filter: ":0" would select every socket (kill!), so it is refused.
            if (!NetEndpoint.TryParse(item, out var ep, out bool any) || !any && !ep.Address.IsV6 && !IsDottedQuad(item, ep.Address)
                || ZeroPort().IsMatch(item))
                throw new UserException($"bad address '{item}': give an IP address, ADDR:PORT, [IPv6]:PORT or :PORT (ports 1 to 65535)", (int)ExitCode.Usage);
            list.Add((ep, any));
        }
        return list;
    }

    /// <summary>The IPv4 address in ADDR or ADDR:PORT written as the four decimal parts it parsed to.</summary>
    internal static bool IsDottedQuad(string item, NetAddress parsed)
    {
        var text = item.Trim();
        int colon = text.IndexOf(':');
        return (colon < 0 ? text : text[..colon]) == parsed.ToString();
    }

    // ":0", "1.2.3.4:0", "[::1]:0"; not a bare IPv6 address such as "2001:db8::0".
    [System.Text.RegularExpressions.GeneratedRegex(@"(^|\]|\.\d+):0+$")]
    private static partial System.Text.RegularExpressions.Regex ZeroPort();

    /// <summary>The comma-separated items of an option; an option given with nothing in it ("--port ''") is an error, not "no filter".</summary>
    private static IEnumerable<string> Split(string[]? values, string option)
    {
        var items = (values ?? []).SelectMany(v => v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToList();
        if (values is { Length: > 0 } && items.Count == 0)
            throw new UserException($"{option} '{string.Join(",", values)}' is empty: give a value, or leave {option} out", (int)ExitCode.Usage);
        return items;
    }
}

/// <summary>--fail-on, shared by the commands that report findings.</summary>
public static class FailOnOption
{
    public static readonly Option<string?> Option = new("--fail-on")
    { Description = "Exit with code 3 when a finding is at or above this severity", HelpName = "warning|critical" };

    public static void AddTo(Command c)
    {
        Option.AcceptOnlyFromAmong("warning", "critical");
        c.Options.Add(Option);
    }

    public static int ExitCodeFor(ParseResult p, Severity? worst)
    {
        var failOn = p.GetValue(Option) switch { "warning" => Severity.Warning, "critical" => Severity.Critical, _ => (Severity?)null };
        return failOn is Severity f && worst is Severity w && w >= f ? (int)ExitCode.FindingsAtThreshold : (int)ExitCode.Ok;
    }
}

public static class OutputFor
{
    public static OutputOptions Read(ParseResult p, CliIo io) => new()
    {
        Width = p.GetValue(GlobalOptions.Wide) ? (io.IsTerminal ? Math.Max(io.TerminalWidth, 80) : 200) : 80,
        Color = io.IsTerminal && Environment.GetEnvironmentVariable("NO_COLOR") is null,
        Verbose = p.GetValue(GlobalOptions.Verbose),
    };
}
