namespace ConnDoctor.Model;

/// <summary>One line of a zoo.cfg: key, value and where it was (1-based line number).</summary>
public sealed record ZooCfgEntry(string Key, string Value, int Line);

/// <summary>A ZooKeeper configuration file as ZooKeeper reads it (java.util.Properties: the last of a repeated key wins).</summary>
public sealed record ZooCfg
{
    public required string Path { get; init; }
    public required IReadOnlyDictionary<string, ZooCfgEntry> Entries { get; init; }

    public ZooCfgEntry? this[string key] => Entries.TryGetValue(key, out var e) ? e : null;

    public int? Int(string key) => Entries.TryGetValue(key, out var e) && int.TryParse(e.Value, out int v) ? v : null;
}

/// <summary>What `audit` judges: the TCP sysctls of one namespace (or a fixture tree), the kernel release, a zoo.cfg.</summary>
public sealed record SettingsEvidence
{
    /// <summary>Where the sysctls were read: /proc, a namespace's label, or a fixture directory.</summary>
    public required string Origin { get; init; }
    public required Sysctls Sysctls { get; init; }
    /// <summary>/proc/sys/kernel/osrelease under the proc root; null when absent.</summary>
    public string? KernelRelease { get; init; }
    public ZooCfg? ZooCfg { get; init; }
    /// <summary>True when a socket table was read too (Evidence.Sockets), so rates can come from real TIME_WAIT counts.</summary>
    public bool SocketTableRead { get; init; }
}
