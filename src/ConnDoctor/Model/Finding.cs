namespace ConnDoctor.Model;

public enum Severity { Info = 0, Warning = 1, Critical = 2 }

/// <summary>What a finding is about. Only the fields that apply are set.</summary>
public sealed record FindingSubject
{
    /// <summary>The process (thread group id), never a thread's id.</summary>
    public int? Pid { get; init; }
    public string? Process { get; init; }
    /// <summary>The process's command line (secrets masked), when the evidence has it.</summary>
    public string? CommandLine { get; init; }
    /// <summary>The thread that made the connections, when not the main one ("main-SendThread"): a detail of the process.</summary>
    public string? Thread { get; init; }
    public string? LocalEndpoint { get; init; }
    public string? RemoteEndpoint { get; init; }
    public string? ClientIp { get; init; }
    public string? Netns { get; init; }
    public string? Container { get; init; }
    /// <summary>The host (by its identity's name and address) when a report covers several; null for one host.</summary>
    public string? Host { get; init; }
    /// <summary>A setting an audit judged: net.ipv4.tcp_keepalive_time, zoo.cfg maxClientCnxns.</summary>
    public string? Setting { get; init; }

    public override string ToString()
    {
        var parts = new List<string>(4);
        if (Process != null) parts.Add(Pid is int p ? $"{Process}[{p}]" : Process);
        else if (Pid is int p2) parts.Add($"pid {p2}");
        if (Thread != null) parts.Add("thread " + Thread);
        if (LocalEndpoint != null) parts.Add(LocalEndpoint);
        if (RemoteEndpoint != null) parts.Add("-> " + RemoteEndpoint);
        if (ClientIp != null) parts.Add("client " + ClientIp);
        if (Netns != null) parts.Add("netns " + Netns);
        if (Container != null) parts.Add(Container);
        if (Host != null) parts.Add("on host " + Host);
        if (Setting != null) parts.Add(Setting);
        return string.Join(' ', parts);
    }
}

/// <summary>A rule's verdict: what is wrong, the evidence, the cause in plain words and the remedy.</summary>
public sealed record Finding
{
    public required string RuleId { get; init; }
    public required Severity Severity { get; init; }
    public required FindingSubject Subject { get; init; }
    public required string Summary { get; init; }
    public IReadOnlyList<string> Evidence { get; init; } = [];
    public required string Cause { get; init; }
    public required string Remedy { get; init; }
    /// <summary>The source whose evidence the rule read (sockets, zklog, zk, watch, settings); set by the diagnosis, null when one source ran.</summary>
    public string? Source { get; init; }
    /// <summary>
    /// Each source's part when several saw this problem (one finding per problem), and the blamed process's own log; empty
    /// when one source saw it. <see cref="Evidence"/> then holds every part's lines, each prefixed with its source.
    /// </summary>
    public IReadOnlyList<FindingPart> Parts { get; init; } = [];
}

/// <summary>What one source contributed to a finding: its own summary and evidence lines, and the host whose evidence it is (cross-host reports).</summary>
public sealed record FindingPart(string Source, string Summary, IReadOnlyList<string> Evidence, string? Host = null);
