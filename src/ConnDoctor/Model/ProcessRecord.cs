namespace ConnDoctor.Model;

/// <summary>A process as read from /proc/PID: enough to name a culprit and the container it runs in.</summary>
public sealed record ProcessRecord
{
    public required int Pid { get; init; }
    public required string Name { get; init; }            // /proc/PID/comm
    public string CommandLine { get; init; } = "";       // /proc/PID/cmdline, NULs as spaces
    public uint Uid { get; init; }
    public string? Cgroup { get; init; }                  // the cgroup path (v2 unified line, else the first)
    public string? ContainerId { get; init; }             // from the cgroup path: docker, containerd, cri-o, podman
    public string? PodUid { get; init; }                  // Kubernetes pod uid from a kubepods cgroup
    public ulong NetnsInode { get; init; }
    /// <summary>The pod's name and Kubernetes namespace, and the container's name, from the kubelet's pod directory; null when unknown.</summary>
    public string? PodName { get; init; }
    public string? PodNamespace { get; init; }
    public string? ContainerName { get; init; }

    public string Label => $"{Name}[{Pid}]";
}
