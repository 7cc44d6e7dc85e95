using ConnDoctor.Model;

namespace ConnDoctor.Sources;

/// <summary>What the kubelet's directories say about one pod.</summary>
public sealed record KubeletPod(string Uid, string? Name, string? Namespace, string FoundBy);

/// <summary>
/// Names a pod from its uid (the cgroup's kubepods…pod&lt;uid&gt;) with what the kubelet leaves on the node's disk, no
/// API server needed:
/// <list type="bullet">
/// <item>/var/log/pods/&lt;namespace&gt;_&lt;pod name&gt;_&lt;uid&gt;/&lt;container&gt;/&lt;restart&gt;.log: the CRI log layout
/// (BuildPodLogsDirectory / BuildContainerLogsDirectory in pkg/kubelet/kuberuntime/helpers.go). Namespaces and pod
/// names are DNS names and cannot hold '_', so the three parts split cleanly.</item>
/// <item>/var/log/containers/&lt;pod&gt;_&lt;namespace&gt;_&lt;container&gt;-&lt;container id&gt;.log: the kubelet's symlinks
/// (legacyLogSymlink in kuberuntime/legacy.go), the only place that ties a container id to its name. It is the sibling
/// of the pod log root.</item>
/// <item>/var/lib/kubelet/pods/&lt;uid&gt;/: containers/&lt;name&gt;/ (termination logs), etc-hosts (its last line is the
/// pod IP and hostname, the pod's name unless spec.hostname is set) and the service-account token's projected volume
/// volumes/kubernetes.io~projected/kube-api-access-*/namespace: the fallback when no log directory exists.</item>
/// </list>
/// The roots are settable so tests lay out a tree exactly as the kubelet does. Directories are listed once, lazily.
/// </summary>
public sealed class KubeletPods(string podLogRoot = "/var/log/pods", string kubeletRoot = "/var/lib/kubelet")
{
    private Dictionary<string, (string Dir, string Namespace, string Name)>? _logDirs;
    private List<string>? _containerLinks;
    private readonly Dictionary<string, KubeletPod?> _pods = new(StringComparer.Ordinal);

    public string PodLogRoot { get; } = podLogRoot;
    public string KubeletRoot { get; } = kubeletRoot;

    /// <summary>The record with its pod's name and namespace and its container's name filled in where the kubelet's files tell them.</summary>
    public ProcessRecord Fill(ProcessRecord p)
    {
        if (p.PodUid == null) return p;
        var pod = Find(p.PodUid);
        if (pod == null) return p;
        return p with
        {
            PodName = pod.Name ?? p.PodName,
            PodNamespace = pod.Namespace ?? p.PodNamespace,
            ContainerName = ContainerName(pod, p.ContainerId) ?? p.ContainerName,
        };
    }

    public KubeletPod? Find(string uid)
    {
        if (_pods.TryGetValue(uid, out var known)) return known;
        KubeletPod? pod = null;
        if (LogDirs().TryGetValue(uid, out var d)) pod = new KubeletPod(uid, d.Name, d.Namespace, $"{PodLogRoot}/{Path.GetFileName(d.Dir)}");
        else
        {
            string dir = Path.Combine(KubeletRoot, "pods", uid);
            if (Directory.Exists(dir))
            {
                string? name = HostnameFromEtcHosts(Path.Combine(dir, "etc-hosts"));
                string? ns = ServiceAccountNamespace(dir);
                if (name != null || ns != null) pod = new KubeletPod(uid, name, ns, dir);
            }
        }
        _pods[uid] = pod;
        return pod;
    }

    /// <summary>
    /// The container's name: from the /var/log/containers link that names its id, else the pod's only container (its
    /// one log directory, or its one kubelet containers/ directory). Null when it cannot be told.
    /// </summary>
    public string? ContainerName(KubeletPod pod, string? containerId)
    {
        if (containerId != null && pod.Name != null && pod.Namespace != null)
        {
            string prefix = $"{pod.Name}_{pod.Namespace}_", suffix = $"-{containerId}.log";
            foreach (var link in ContainerLinks())
                if (link.Length > prefix.Length + suffix.Length && link.StartsWith(prefix, StringComparison.Ordinal) && link.EndsWith(suffix, StringComparison.Ordinal))
                    return link[prefix.Length..^suffix.Length];
        }
        if (LogDirs().TryGetValue(pod.Uid, out var d) && Only(d.Dir) is { } fromLogs) return fromLogs;
        return Only(Path.Combine(KubeletRoot, "pods", pod.Uid, "containers"));
    }

    private static string? Only(string dir)
    {
        try
        {
            string? only = null;
            foreach (var sub in Directory.EnumerateDirectories(dir))
            {
                if (only != null) return null;
                only = Path.GetFileName(sub);
            }
            return only;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { return null; }
    }

    private Dictionary<string, (string Dir, string Namespace, string Name)> LogDirs()
    {
        if (_logDirs != null) return _logDirs;
        _logDirs = new(StringComparer.Ordinal);
        try
        {
            if (!Directory.Exists(PodLogRoot)) return _logDirs;
            foreach (var dir in Directory.EnumerateDirectories(PodLogRoot))
            {
                var parts = Path.GetFileName(dir).Split('_');
                if (parts.Length != 3 || parts[0].Length == 0 || parts[1].Length == 0 || parts[2].Length == 0) continue;
                _logDirs.TryAdd(parts[2], (dir, parts[0], parts[1]));
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { }
        return _logDirs;
    }

    private List<string> ContainerLinks()
    {
        if (_containerLinks != null) return _containerLinks;
        _containerLinks = new();
        var parent = Path.GetDirectoryName(Path.GetFullPath(PodLogRoot).TrimEnd('/'));
        if (parent == null) return _containerLinks;
        string dir = Path.Combine(parent, "containers");
        try
        {
            if (Directory.Exists(dir))
                foreach (var f in Directory.EnumerateFileSystemEntries(dir, "*.log")) _containerLinks.Add(Path.GetFileName(f));
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { }
        return _containerLinks;
    }

    /// <summary>The hostname on the last address line of a kubelet-managed hosts file (before any HostAliases block).</summary>
    internal static string? HostnameFromEtcHosts(string path)
    {
        string text;
        try { text = File.ReadAllText(path); }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { return null; }
        if (!text.StartsWith("# Kubernetes-managed hosts file", StringComparison.Ordinal)) return null;
        string? last = null;
        foreach (var raw in text.Split('\n'))
        {
            var line = raw.Trim();
            if (line.StartsWith("# Entries added by HostAliases", StringComparison.Ordinal)) break;
            if (line.Length == 0 || line[0] == '#') continue;
            var f = line.Split(['\t', ' '], StringSplitOptions.RemoveEmptyEntries);
            if (f.Length >= 2 && !f[1].StartsWith("localhost", StringComparison.Ordinal) && !f[1].StartsWith("ip6-", StringComparison.Ordinal))
                last = f[^1];   // "IP\tfqdn\thostname" with a subdomain: the short name is last
        }
        return last;
    }

    /// <summary>The namespace file of the projected service-account volume (kube-api-access-*), when one is mounted.</summary>
    private static string? ServiceAccountNamespace(string podDir)
    {
        string projected = Path.Combine(podDir, "volumes", "kubernetes.io~projected");
        try
        {
            if (!Directory.Exists(projected)) return null;
            foreach (var vol in Directory.EnumerateDirectories(projected).Order(StringComparer.Ordinal))
            {
                string f = Path.Combine(vol, "namespace");
                if (File.Exists(f))
                {
                    var ns = File.ReadAllText(f).Trim();
                    if (ns.Length is > 0 and <= 63 && ns.All(c => char.IsAsciiLetterLower(c) || char.IsAsciiDigit(c) || c == '-')) return ns;
                }
            }
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { }
        return null;
    }
}
