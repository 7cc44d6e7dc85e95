using System.Text;
using ConnDoctor.Model;

namespace ConnDoctor.Analysis;

/// <summary>
/// Writes the `conndoctor kill` command line that clears what a finding is about, in the syntax the kill command
/// parses (the same filter options as `sockets`). One builder, so every remedy offers a command that really runs.
/// </summary>
public static class KillCommand
{
    /// <summary>Sockets a command names one by one at most (--remote/--local per end).</summary>
    public const int MaxEndsListed = 16;

    /// <summary>
    /// The command that selects exactly these sockets of the table (same namespace, no listener): the broadest
    /// natural filter (state, peer, local port, owner, idle) when it selects exactly them, else one --remote per
    /// peer endpoint, else one --local and --remote per end (up to <see cref="MaxEndsListed"/> sockets); null when no filter would
    /// select exactly them.
    /// </summary>
    public static string? ForSockets(Evidence e, IReadOnlyCollection<SocketRecord> sockets)
    {
        var selection = new KillSelection();
        var seen = new HashSet<SocketRecord>(ReferenceEqualityComparer.Instance);
        foreach (var s in sockets) if (seen.Add(s)) selection.Add(s);
        return For(e, selection);
    }

    /// <summary>The command that selects exactly the sockets gathered (as <see cref="ForSockets"/>), from what they share.</summary>
    public static string? For(Evidence e, KillSelection selection) => For(e, [selection])[0];

    /// <summary>
    /// The command of each selection of one table (the groups of one finding rule): the sockets of the owners their filters
    /// name are found in one pass over the table for all of them.
    /// </summary>
    public static string?[] For(Evidence e, IReadOnlyList<KillSelection> selections)
    {
        var naturals = new SocketFilter?[selections.Count];
        for (int i = 0; i < naturals.Length; i++)
            if (selections[i] is { Count: > 0, Unselectable: false } sel) naturals[i] = sel.NaturalFilter();
        // Every filter below names the owner of its natural filter, if any: the only owners whose sockets are counted.
        var owners = new SocketsByOwner(e.Sockets, naturals.Where(f => f?.Pids.Count == 1).Select(f => f!.Pids[0]));
        var commands = new string?[naturals.Length];
        for (int i = 0; i < naturals.Length; i++)
            if (naturals[i] is { } natural) commands[i] = Choose(e, selections[i], natural, owners);
        return commands;
    }

    private static string? Choose(Evidence e, KillSelection selection, SocketFilter natural, SocketsByOwner owners)
    {
        int ns = selection.NetnsIndex;
        int count = selection.Count;
        // The filter selects exactly these when it matches each of them and no more sockets of the table than there are of them:
        // counted, not a set of the table's matches per filter (a group of 14k idle connections, every interval in the agent).
        bool Exact(SocketFilter f, bool matchesEach)
        {
            if (!matchesEach) foreach (var s in selection.Few!) if (!f.Matches(s)) return false;
            // A filter naming one owner can only match that owner's sockets: those are counted, not the whole table.
            var candidates = f.Pids.Count == 1 ? owners.Of(f.Pids[0]) : e.Sockets;
            int matched = 0;
            for (int i = 0; i < candidates.Count; i++)
            {
                var s = candidates[i];
                if (s.NetnsIndex == ns && s.State != TcpState.Listen && f.Matches(s) && ++matched > count) return false;
            }
            return matched == count;
        }
        // The natural filter is made of what they share: each of them matches it.
        var chosen = Exact(natural, matchesEach: true) ? natural : null;
        // Naming each end is a command for a handful of sockets, not for a pool of thousands (nor a check of each against the table).
        if (chosen == null && selection.Few is { } few)
        {
            var precise = natural with { Remotes = Each(few.Select(s => s.Remote)) };
            // A client's connections share the peer endpoint and differ in their local ports: name each local end too.
            var exact = precise with { Locals = Each(few.Select(s => s.Local)) };
            chosen = Exact(precise, false) ? precise : Exact(exact, false) ? exact : null;
        }
        return chosen == null ? null : Line(chosen, NetnsArgument(e.Namespaces[ns]));
    }

    private static List<(NetEndpoint, bool)> Each(IEnumerable<NetEndpoint> endpoints) =>
        endpoints.Distinct().OrderBy(r => r.ToString(), StringComparer.Ordinal).Select(r => (r, false)).ToList();

    /// <summary>For a host this run did not read (a server log): connections from one client to a local port, silent for at least idle.</summary>
    public static string ForClient(NetAddress client, int localPort, TimeSpan idle) => Line(new SocketFilter
    {
        States = [TcpState.Established],
        Remotes = [(new NetEndpoint(client.Unmapped, 0), false)],
        Locals = [(new NetEndpoint(default, (ushort)localPort), true)],
        Idle = idle,
    }, null);

    /// <summary>
    /// For connections a ZooKeeper member (HOST:PORT, as `conndoctor zk` names it) holds from one client: to run on that
    /// member's host, on its client port.
    /// </summary>
    public static string ForZkClient(NetAddress client, string member, TimeSpan idle) => ForClient(client, ZkViews.ClientPort(member), idle);

    /// <summary>"conndoctor kill --state established --remote 10.0.0.5 --local :2181 --idle 10m [--netns NAME]".</summary>
    public static string Line(SocketFilter f, string? netns) =>
        "conndoctor kill " + string.Join(' ', Arguments(f, netns).Select(Quote));

    /// <summary>The filter as the options `sockets` and `kill` parse (FilterOptions), in a fixed order.</summary>
    public static List<string> Arguments(SocketFilter f, string? netns = null)
    {
        var args = new List<string>();
        if (f.States.Count > 0) { args.Add("--state"); args.Add(string.Join(',', f.States.Select(StateWord))); }
        foreach (var (ep, any) in f.Locals) { args.Add("--local"); args.Add(EndpointText(ep, any)); }
        foreach (var (ep, any) in f.Remotes) { args.Add("--remote"); args.Add(EndpointText(ep, any)); }
        foreach (var p in f.Ports) { args.Add("--port"); args.Add(p.ToString()); }
        foreach (var p in f.Pids) { args.Add("--pid"); args.Add(p.ToString()); }
        if (f.Idle is TimeSpan idle) { args.Add("--idle"); args.Add(IdleText(idle)); }
        if (netns != null) { args.Add("--netns"); args.Add(netns); }
        return args;
    }

    private static string EndpointText(NetEndpoint ep, bool anyAddress)
    {
        if (anyAddress) return ":" + ep.Port;
        string host = SocketGrouper.FormatHost(ep.Address);
        return ep.Port == 0 ? host.Trim('[', ']') : $"{host}:{ep.Port}";
    }

    /// <summary>The state as the filter option spells it (lower case, dashes): established, close-wait, time-wait.</summary>
    private static string StateWord(TcpState s) => s switch
    {
        TcpState.Established => "established",
        TcpState.SynRecv or TcpState.NewSynRecv => "syn-recv",
        _ => TcpStates.Name(s).ToLowerInvariant(),
    };

    /// <summary>A silence rounded down to a whole second, minute or hour, so a command built from it still selects that socket.</summary>
    public static TimeSpan FloorIdle(uint ms)
    {
        var t = TimeSpan.FromMilliseconds(ms);
        if (t >= TimeSpan.FromHours(2)) return TimeSpan.FromHours(Math.Floor(t.TotalHours));
        if (t >= TimeSpan.FromMinutes(2)) return TimeSpan.FromMinutes(Math.Floor(t.TotalMinutes));
        return TimeSpan.FromSeconds(Math.Floor(t.TotalSeconds));
    }

    /// <summary>A duration as --idle takes it: 10m, 90s, 2h.</summary>
    public static string IdleText(TimeSpan t) =>
        t.TotalHours >= 1 && t.TotalHours == Math.Floor(t.TotalHours) ? $"{(long)t.TotalHours}h"
        : t.TotalMinutes >= 1 && t.TotalMinutes == Math.Floor(t.TotalMinutes) ? $"{(long)t.TotalMinutes}m"
        : t.TotalSeconds == Math.Floor(t.TotalSeconds) ? $"{(long)t.TotalSeconds}s"
        : $"{(long)t.TotalMilliseconds}ms";

    /// <summary>The namespace as --netns takes it: its /run/netns name when it has one, else its path; null for our own.</summary>
    private static string? NetnsArgument(NetnsInfo ns) =>
        ns.Path == null ? null : Path.GetFileName(ns.Path) == ns.Label && ns.Path.StartsWith("/run/netns/", StringComparison.Ordinal) ? ns.Label : ns.Path;

    /// <summary>Single quotes around anything a POSIX shell would treat specially (IPv6 brackets glob).</summary>
    private static string Quote(string arg)
    {
        foreach (char c in arg)
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '.' or ':' or '/' or ',' or '=' or '@' or '%' or '+'))
                return "'" + arg.Replace("'", "'\\''") + "'";
        return arg;
    }
}
