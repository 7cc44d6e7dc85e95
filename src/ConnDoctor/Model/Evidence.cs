namespace ConnDoctor.Model;

/// <summary>
/// Everything the sources gathered, immutable once built. Rules read it; nothing reads the world after this.
/// </summary>
public sealed class Evidence
{
    public required IReadOnlyList<SocketRecord> Sockets { get; init; }
    public required IReadOnlyDictionary<int, ProcessRecord> Processes { get; init; }
    public required IReadOnlyList<NetnsInfo> Namespaces { get; init; }
    public required IReadOnlyList<SourceStatus> Statuses { get; init; }
    public required DateTimeOffset CollectedAt { get; init; }
    public string Host { get; init; } = Environment.MachineName;

    /// <summary>True when other users' processes could not be inspected (not root), so owners may be missing.</summary>
    public bool OwnersIncomplete { get; init; }

    public NetnsInfo NetnsOf(SocketRecord s) => Namespaces[s.NetnsIndex];

    public ProcessRecord? OwnerOf(SocketRecord s) =>
        s.Owners.Length > 0 && Processes.TryGetValue(s.Owners[0].Pid, out var p) ? p : null;
}
