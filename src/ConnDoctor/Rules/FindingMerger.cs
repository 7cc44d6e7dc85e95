using ConnDoctor.Model;

namespace ConnDoctor.Rules;

/// <summary>
/// One finding per problem, after the rules: findings of one rule about one subject (a process, a client IP, an
/// endpoint, a setting) from several sources become one, at the worst severity, whose evidence lists each source's
/// part; a reconnect storm of a client IP that is being refused at maxClientCnxns is that refusal's consequence and
/// joins it. Settings that are fine (info from the audit rules) are left out, and settings at risk are listed as
/// info: a setting is a risk on every host that has it, not a problem seen on this one now ('conndoctor audit' judges
/// them on their own). Then the overview: one paragraph, worst first, naming the subjects.
/// </summary>
public static class FindingMerger
{
    /// <summary>Which source's summary speaks for a joined finding when severities tie: the one that sees most directly.</summary>
    private static readonly string[] SourceOrder = ["zk", "watch", "zklog", "sockets", "settings"];

    /// <summary>
    /// Rule B's finding about a subject is explained by rule A's about the same client, and joins it: the TIME_WAIT a
    /// reconnect loop leaves (client side, or server side per client IP), the reconnects of a client refused at the limit.
    /// </summary>
    private static readonly (string Explains, string Joins)[] Consequences = [("reconnect-storm", "time-wait-pressure"), ("connection-limit", "reconnect-storm")];

    /// <summary>The line a finding about a client address gets when this host ran no watch: the next step on the client's host.</summary>
    public const string NoWatchHint = "no watch ran: 'conndoctor diagnose --watch 30s' on the client's host names the process behind these connections";

    /// <param name="zkPorts">The ZooKeeper client ports known on this host: a reconnect storm seen by ZooKeeper explains TIME_WAIT towards them only.</param>
    public static List<Finding> Merge(IEnumerable<Finding> findings, bool watched, IReadOnlySet<int>? zkPorts = null)
    {
        zkPorts ??= new HashSet<int> { 2181 };
        var kept = findings.Where(f => !(f.Severity == Severity.Info && f.Subject.Setting != null))
            .Select(f => f.Subject.Setting == null ? f : f with { Severity = Severity.Info, Summary = $"setting at risk ({DiagnoseSeverity(f.Severity)} in audit): {f.Summary}" })
            .ToList();
        var groups = kept.GroupBy(f => (f.RuleId, Key(f.Subject))).ToList();
        var merged = groups.Select(g => Join(g.ToList())).ToList();

        foreach (var (explains, joins) in Consequences)
            foreach (var cause in merged.Where(f => f.RuleId == explains).ToList())
            {
                var effects = merged.Where(f => f.RuleId == joins && SameSubject(cause.Subject, f.Subject)
                    && (f.Subject.RemoteEndpoint == null || f.Subject.Pid != null && f.Subject.Pid == cause.Subject.Pid || zkPorts.Contains(PortOf(f.Subject.RemoteEndpoint)))).ToList();
                if (effects.Count == 0) continue;
                var parts = PartsOf(cause).Concat(effects.SelectMany(e => PartsOf(e).Select(p => p with { Source = $"{p.Source} ({joins})", Evidence = [p.Summary, .. p.Evidence] })));
                var joined = cause with { Severity = effects.Append(cause).Max(f => f.Severity), Parts = parts.ToList() };
                merged[merged.IndexOf(cause)] = joined with { Evidence = Flatten(joined.Parts) };
                foreach (var e in effects) merged.Remove(e);
            }

        if (!watched)
            for (int i = 0; i < merged.Count; i++)
                if (merged[i] is { Subject.Pid: null, RuleId: "reconnect-storm" or "time-wait-pressure" } f)
                    merged[i] = f with { Evidence = [.. f.Evidence, NoWatchHint] };

        return merged.OrderByDescending(f => f.Severity).ThenBy(f => f.RuleId, StringComparer.Ordinal).ThenBy(f => f.Summary, StringComparer.Ordinal).ToList();
    }

    private static string DiagnoseSeverity(Severity s) => s == Severity.Critical ? "critical" : "warning";

    /// <summary>What a finding is about, for joining: the process when known, else the client address, else the endpoints or setting.</summary>
    private static string Key(FindingSubject s) =>
        s.Pid is int pid ? $"pid {pid}" : s.ClientIp != null ? "ip " + s.ClientIp : $"{s.LocalEndpoint}|{s.RemoteEndpoint}|{s.Setting}|{s.Netns}";

    private static bool SameSubject(FindingSubject cause, FindingSubject effect) =>
        Key(cause) == Key(effect) || (cause.ClientIp != null && (cause.ClientIp == effect.ClientIp || IsAddressOf(cause.ClientIp, effect.LocalEndpoint)));

    private static NetEndpoint? Endpoint(string? text) => text != null && NetEndpoint.TryParse(text, out var ep, out _) ? ep : null;

    private static int PortOf(string endpoint) => Endpoint(endpoint)?.Port ?? 0;

    /// <summary>Whether <paramref name="ip"/> is the address of "10.0.0.5", "10.0.0.5:41000" or "[fd00::5]:41000" (IPv4-mapped or not).</summary>
    private static bool IsAddressOf(string ip, string? endpoint) =>
        Endpoint(endpoint) is { } ep && NetAddress.TryParse(ip, out var a) && a.Unmapped == ep.Address.Unmapped;

    private static Finding Join(List<Finding> g)
    {
        if (g.Count == 1) return g[0];
        var lead = g.OrderByDescending(f => f.Severity).ThenBy(f => Rank(f.Source)).First();
        var parts = g.OrderBy(f => Rank(f.Source)).SelectMany(PartsOf).ToList();
        // The same lines from two views of one table (the socket table, and the watch's table at its end) are one part.
        parts = parts.GroupBy(p => string.Join('\n', p.Evidence)).Select(x => x.Count() == 1 ? x.First() : x.First() with { Source = string.Join("+", x.Select(p => p.Source)) }).ToList();
        var subject = g.Select(f => f.Subject).Aggregate(lead.Subject, (a, b) => a with
        {
            Pid = a.Pid ?? b.Pid, Process = a.Process ?? b.Process, LocalEndpoint = a.LocalEndpoint ?? b.LocalEndpoint,
            RemoteEndpoint = a.RemoteEndpoint ?? b.RemoteEndpoint, ClientIp = a.ClientIp ?? b.ClientIp,
        });
        return lead with { Subject = subject, Parts = parts, Evidence = parts.Count == 1 ? parts[0].Evidence : Flatten(parts), Source = string.Join("+", parts.Select(p => p.Source)) };
    }

    private static IEnumerable<FindingPart> PartsOf(Finding f) => f.Parts.Count > 0 ? f.Parts : [new FindingPart(f.Source ?? "", f.Summary, f.Evidence)];

    /// <summary>Every part's lines, each with its source, for views that print one list.</summary>
    public static List<string> Flatten(IEnumerable<FindingPart> parts) =>
        parts.SelectMany(p => p.Evidence.Select(l => p.Source.Length > 0 ? $"[{p.Source}] {l}" : l)).ToList();

    private static int Rank(string? source)
    {
        int i = Array.IndexOf(SourceOrder, source?.Split('+')[0]);
        return i < 0 ? SourceOrder.Length : i;
    }

    /// <summary>One paragraph for the top of the report: the host, then each problem worst first with its subject.</summary>
    public static string Overview(string host, IReadOnlyList<Finding> findings, DiscoveryEvidence? discovery)
    {
        var found = discovery == null ? "" : discovery.Servers.Count == 0 && discovery.Clients.Count == 0 ? "No ZooKeeper server or client found. "
            : $"Found {Count(discovery.Servers.Count, "ZooKeeper server")}" +
              (discovery.Servers.Count > 0 ? " (" + string.Join(", ", discovery.Servers.Select(s => $"pid {s.Pid}" + (s.ClientEndpoints.Count > 0 ? $" on {s.ClientEndpoints[0]}" : ""))) + ")" : "") +
              $" and {Count(discovery.Clients.Count, "client process", "client processes")}. ";
        var problems = findings.Where(f => f.Severity >= Severity.Warning).ToList();
        if (problems.Count == 0)
            return $"{host}: {found}Nothing is wrong" + (findings.Count > 0 ? $" ({Count(findings.Count, "informational finding")})." : ".");
        var items = problems.Take(5).Select(f => $"{(f.Severity == Severity.Critical ? "critical" : "warning")}: {f.RuleId} {Subject(f.Subject)}");
        string more = problems.Count > 5 ? $"; and {problems.Count - 5} more" : "";
        int info = findings.Count - problems.Count;
        return $"{host}: {found}{Count(problems.Count, "problem")}, worst first: {string.Join("; ", items)}{more}." + (info > 0 ? $" Also {Count(info, "informational finding")}." : "");
    }

    private static string Subject(FindingSubject s)
    {
        string client = s.ClientIp == null ? "" : "client " + s.ClientIp + (s.LocalEndpoint != null ? " on " + s.LocalEndpoint : "");
        if (s.Pid is int pid) return $"{s.Process ?? "pid"}[{pid}]" + (client.Length > 0 ? $" ({client})" : "");
        if (client.Length > 0) return client;
        return s.ToString();
    }

    private static string Count(int n, string one, string? many = null) => n == 1 ? $"1 {one}" : $"{n} {many ?? one + "s"}";
}
