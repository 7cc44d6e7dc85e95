namespace ConnDoctor.Model;

/// <summary>A network namespace whose socket table was read, with what names it.</summary>
public sealed record NetnsInfo
{
    public required string Label { get; init; }            // the /run/netns name, "host", or net:[inode]
    public ulong Inode { get; init; }
    /// <summary>The file that enters it (/run/netns/NAME, /proc/PID/ns/net); null for the namespace conndoctor runs in.</summary>
    public string? Path { get; init; }
    public string? Container { get; init; }                 // container id from a member process's cgroup
    public string? PodUid { get; init; }                    // Kubernetes pod uid, same origin
    public Sysctls Sysctls { get; init; } = new();          // TCP settings are per namespace
}
