using ConnDoctor.Analysis;
using ConnDoctor.Model;
using ConnDoctor.Native;
using ConnDoctor.Sources;

namespace ConnDoctor.Actions;

/// <summary>A socket the filter selects, with the namespace it lives in and why it matches.</summary>
public sealed record KillTarget(SocketRecord Socket, NetnsInfo Netns, IReadOnlyList<string> Why);

public enum KillOutcome { Destroyed, AlreadyGone, Replaced, NotSupported, Denied, Failed, NotTried }

/// <summary>What happened to one target: the kernel's answer, and whether the socket table still holds it afterwards.</summary>
public sealed record KillResult(KillTarget Target, KillOutcome Outcome, int Errno, string Detail, bool StillThere);

/// <summary>A socket outside the filter that existed before the kill and is gone after it.</summary>
public sealed record VanishedSocket(SocketRecord Socket, NetnsInfo Netns, bool PeerOfTarget);

/// <summary>The plan (dry run) or what was done (--yes), with the check of the table before against after.</summary>
public sealed record KillReport
{
    public required Evidence Before { get; init; }
    /// <summary>The filter as conndoctor options, for the header and for re-running.</summary>
    public required string FilterText { get; init; }
    public required bool DryRun { get; init; }
    public required IReadOnlyList<KillTarget> Targets { get; init; }
    public IReadOnlyList<KillResult> Results { get; init; } = [];
    /// <summary>Listening sockets the filter matched; never destroyed.</summary>
    public int ListenersSkipped { get; init; }
    public string KernelRelease { get; init; } = "";
    /// <summary>False on kernels before 6.0, where tcp_abort answers EOPNOTSUPP for TIME_WAIT sockets.</summary>
    public bool KernelDestroysTimeWait { get; init; }
    /// <summary>After --yes: sockets outside the filter that existed before, and how many of them are still there.</summary>
    public int OthersBefore { get; init; }
    public int OthersStillThere { get; init; }
    public IReadOnlyList<VanishedSocket> OthersGone { get; init; } = [];
    public IReadOnlyList<SourceStatus> After { get; init; } = [];

    public int Destroyed => Results.Count(r => r.Outcome == KillOutcome.Destroyed);
    public int TargetsGone => Results.Count(r => !r.StillThere);
}

/// <summary>
/// `conndoctor kill`: selects sockets with the shared filters, destroys exactly those (each named by its 4-tuple,
/// interface and cookie, inside its own namespace), then reads the table again to prove what happened.
/// </summary>
public static class SocketKill
{
    /// <summary>Refuses what kill must never select: everything (an empty filter), or listeners by state. Exit code 2.</summary>
    public static void RequireNarrowFilter(SocketFilter filter)
    {
        if (filter.IsEmpty) throw new UserException("kill needs a filter (--state, --local, --remote, --port, --pid or --idle): refusing to select every socket", 2);
        if (filter.States.Contains(TcpState.Listen))
            throw new UserException("kill never destroys listening sockets (stop the service instead): drop 'listen' from --state", 2);
    }

    public static KillReport Plan(Evidence before, SocketFilter filter, string filterText)
    {
        RequireNarrowFilter(filter);
        var targets = new List<KillTarget>();
        int listeners = 0;
        foreach (var s in before.Sockets)
        {
            if (!filter.Matches(s)) continue;
            if (s.State == TcpState.Listen) { listeners++; continue; }
            targets.Add(new KillTarget(s, before.NetnsOf(s), filter.Explain(s)));
        }
        var release = KernelRelease();
        return new KillReport
        {
            Before = before,
            FilterText = filterText,
            DryRun = true,
            Targets = targets,
            ListenersSkipped = listeners,
            KernelRelease = release,
            KernelDestroysTimeWait = DestroysTimeWait(release),
        };
    }

    /// <summary>Destroys the plan's targets, then reads the same namespaces again and compares by cookie.</summary>
    public static KillReport Execute(KillReport plan, CollectOptions collect)
    {
        var results = new List<KillResult>(plan.Targets.Count);
        bool anyDestroyed = false;
        foreach (var group in plan.Targets.GroupBy(t => t.Netns))
        {
            // Sockets other than TIME_WAIT first: their answer tells whether this kernel can destroy at all.
            var list = group.OrderBy(t => t.Socket.State == TcpState.TimeWait ? 1 : 0).ToList();
            var sockets = list.Select(t => t.Socket).ToList();
            int[] errnos;
            try
            {
                errnos = group.Key.Path == null
                    ? SocketDestroyer.Destroy(sockets, Fatal)
                    : NetnsScope.Run(group.Key.Path, () => SocketDestroyer.Destroy(sockets, Fatal));
            }
            catch (SourceException ex) { throw new UserException(ex.Message); }
            for (int i = 0; i < list.Count; i++)
            {
                int e = errnos[i];
                if (e == 0) anyDestroyed = true;
                else if (!anyDestroyed && Fatal(list[i].Socket, e))
                    throw new UserException(FatalMessage(e, plan.KernelRelease));
                results.Add(new KillResult(list[i], OutcomeOf(e), e, Describe(e, list[i].Socket, plan.KernelRelease), true));
            }
        }

        var after = SocketCollector.Collect(collect with { JoinProcesses = false });
        var present = new HashSet<(ulong, ulong)>();
        var tuples = new HashSet<(ulong, NetEndpoint, NetEndpoint)>();
        foreach (var s in after.Sockets)
        {
            ulong ns = after.NetnsOf(s).Inode;
            present.Add((ns, s.Cookie));
            tuples.Add((ns, s.Local, s.Remote));
        }
        results = results.Select(r =>
        {
            var t = r.Target;
            var updated = r with { StillThere = present.Contains((t.Netns.Inode, t.Socket.Cookie)) };
            // The kernel answers ENOENT both for a socket that is gone and for a tuple whose cookie no longer matches.
            if (r.Errno == Libc.ENOENT && tuples.Contains((t.Netns.Inode, t.Socket.Local, t.Socket.Remote)) && !updated.StillThere)
                updated = updated with { Outcome = KillOutcome.Replaced, Detail = Describe(Libc.ESTALE, t.Socket, plan.KernelRelease) };
            return updated;
        }).ToList();

        // Both ends of a connection on this host: the destroy of one resets the other, which then answers ENOENT. That is the
        // kill's doing, not a socket that closed by itself between the read and the kill. Endpoints compare unmapped: a
        // dual-stack listener's side reads ::ffff:127.0.0.1 where the client's reads 127.0.0.1.
        var destroyedByKill = results.Where(r => r.Errno == 0)
            .Select(r => (r.Target.Netns.Inode, r.Target.Socket.Local.Unmapped, r.Target.Socket.Remote.Unmapped)).ToHashSet();
        results = results.Select(r => r.Errno == Libc.ENOENT && destroyedByKill.Contains((r.Target.Netns.Inode, r.Target.Socket.Remote.Unmapped, r.Target.Socket.Local.Unmapped))
            ? r with { Detail = "already gone: the other end of a connection this kill destroyed, reset by it" }
            : r).ToList();

        var targetCookies = plan.Targets.Select(t => (t.Netns.Inode, t.Socket.Cookie)).ToHashSet();
        var destroyedTuples = results.Where(r => !r.StillThere)
            .Select(r => (r.Target.Netns.Inode, r.Target.Socket.Local.Unmapped, r.Target.Socket.Remote.Unmapped)).ToHashSet();
        int othersBefore = 0, still = 0;
        var gone = new List<VanishedSocket>();
        foreach (var s in plan.Before.Sockets)
        {
            var ns = plan.Before.NetnsOf(s);
            if (targetCookies.Contains((ns.Inode, s.Cookie))) continue;
            othersBefore++;
            if (present.Contains((ns.Inode, s.Cookie))) { still++; continue; }
            // The other end of a destroyed connection on this same host got its RST: that is the kill's doing, and expected.
            gone.Add(new VanishedSocket(s, ns, destroyedTuples.Contains((ns.Inode, s.Remote.Unmapped, s.Local.Unmapped))));
        }
        return plan with
        {
            DryRun = false,
            Results = results,
            OthersBefore = othersBefore,
            OthersStillThere = still,
            OthersGone = gone,
            After = after.Statuses.Where(s => s.State != SourceState.Skipped).ToList(),
        };
    }

    /// <summary>Answers after which trying the next socket is pointless: no permission, or no destroy support at all.</summary>
    private static bool Fatal(SocketRecord s, int errno) =>
        errno is Libc.EPERM or Libc.EACCES || (errno == Libc.EOPNOTSUPP && s.State != TcpState.TimeWait);

    internal static string FatalMessage(int errno, string release) => errno == Libc.EOPNOTSUPP
        ? $"this kernel ({release}) cannot destroy sockets: it was built without CONFIG_INET_DIAG_DESTROY (where 'ss -K' silently does nothing and exits 0); nothing was destroyed: restart the process that holds them instead"
        : "destroying sockets needs CAP_NET_ADMIN in the socket's network namespace: run as root; nothing was destroyed";

    private static KillOutcome OutcomeOf(int errno) => errno switch
    {
        0 => KillOutcome.Destroyed,
        Libc.ENOENT => KillOutcome.AlreadyGone,
        Libc.ESTALE => KillOutcome.Replaced,
        Libc.EOPNOTSUPP => KillOutcome.NotSupported,
        Libc.EPERM or Libc.EACCES => KillOutcome.Denied,
        -1 => KillOutcome.NotTried,
        _ => KillOutcome.Failed,
    };

    internal static string Describe(int errno, SocketRecord s, string release) => errno switch
    {
        0 => "destroyed",
        Libc.ENOENT => "already gone (closed between the read and the kill)",
        Libc.ESTALE => "not touched: its 4-tuple now belongs to another socket (a different cookie)",
        Libc.EOPNOTSUPP when s.State == TcpState.TimeWait =>
            $"not supported: this kernel ({release}) cannot destroy TIME_WAIT sockets (Linux 6.0 and later can); it expires by itself within 60 s",
        Libc.EOPNOTSUPP => $"not supported: this kernel ({release}) lacks CONFIG_INET_DIAG_DESTROY",
        Libc.EPERM or Libc.EACCES => "denied: needs CAP_NET_ADMIN",
        -1 => "not tried (an earlier answer showed it would fail)",
        _ => $"failed: {Libc.ErrorText(errno)}",
    };

    public static string KernelRelease() => SettingsCollector.KernelRelease("/proc") ?? "unknown";

    /// <summary>TIME_WAIT sockets can be destroyed since Linux 6.0 (tcp_abort learned them); before, the kernel answers EOPNOTSUPP.</summary>
    public static bool DestroysTimeWait(string release) =>
        KernelVersion(release) is not (int major, _) || major >= 6;

    /// <summary>"6.18.44-fc" -> (6, 18); null when unreadable.</summary>
    public static (int Major, int Minor)? KernelVersion(string release)
    {
        var parts = release.Split('.', 3);
        if (parts.Length < 2 || !int.TryParse(parts[0], out int major)) return null;
        int i = 0;
        while (i < parts[1].Length && char.IsAsciiDigit(parts[1][i])) i++;
        return int.TryParse(parts[1].AsSpan(0, i), out int minor) ? (major, minor) : null;
    }
}
