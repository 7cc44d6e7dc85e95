using System.Diagnostics;

namespace ConnDoctor.Tests.Infra;

/// <summary>
/// A Kubernetes node in miniature, all in network namespaces the test makes: a "node" namespace with a bridge
/// (cni0-like, <see cref="Gateway"/>) and pod namespaces behind it on veth pairs (pod IPs 10.244.1.11, .12, ...), the
/// node masquerading the pods' traffic (an nft table with a masquerade rule, as kube-proxy's and the CNI's
/// POSTROUTING MASQUERADE do; optionally "masquerade fully-random", iptables' --random-fully) out of its uplink veth to a "server" namespace
/// at <see cref="ServerIp"/>. Each pod can be given a kubepods cgroup (pod uid, container id) and a kubelet-layout
/// directory tree (/var/log/pods, /var/log/containers, /var/lib/kubelet/pods) under <see cref="KubeletTree"/>, so the
/// whole chain server → node:port → pod IP:port → process → pod name can be followed as on a real node.
/// Disposing kills the processes and removes namespaces, cgroups and the tree.
/// </summary>
public sealed class NatNodeLab : IDisposable
{
    public const string NodeIp = "192.168.77.1";
    public const string ServerIp = "192.168.77.2";
    public const string Gateway = "10.244.1.1";

    public TestNetns Node { get; }
    public TestNetns Server { get; }
    public IReadOnlyList<LabPod> Pods => _pods;
    public bool RandomFully { get; }
    /// <summary>A temp directory laid out as a node's disk: var/log/pods, var/log/containers, var/lib/kubelet.</summary>
    public string KubeletTree { get; }
    public string PodLogRoot => Path.Combine(KubeletTree, "var", "log", "pods");
    public string KubeletRoot => Path.Combine(KubeletTree, "var", "lib", "kubelet");

    private readonly List<LabPod> _pods = new();
    private readonly List<string> _cgroups = new();
    private static int _labs;
    private readonly int _id;

    public NatNodeLab(int pods = 2, bool randomFully = false)
    {
        _id = Interlocked.Increment(ref _labs);
        RandomFully = randomFully;
        KubeletTree = Directory.CreateTempSubdirectory("cdt-kubelet-").FullName;
        Node = new TestNetns("node");
        Server = new TestNetns("srv");
        try
        {
            var (uplink, _) = TestNetns.Link(Node, Server, NodeIp, ServerIp);
            string bridge = $"cbr{Environment.ProcessId % 10000}x{_id}";
            Node.Exec("ip", "link", "add", bridge, "type", "bridge");
            Node.Exec("ip", "addr", "add", Gateway + "/24", "dev", bridge);
            Node.Exec("ip", "link", "set", bridge, "up");
            Node.Exec("sysctl", "-qw", "net.ipv4.ip_forward=1");
            // The masquerade a CNI plugin installs for pod traffic leaving the node; nft reads the ruleset from stdin.
            string rule = $"ip saddr 10.244.1.0/24 oifname \"{uplink}\" masquerade{(randomFully ? " fully-random" : "")}";
            RunNft(Node.Name, $"table ip cdtnat {{\n chain postrouting {{\n  type nat hook postrouting priority srcnat; policy accept;\n  {rule}\n }}\n}}\n");
            for (int i = 0; i < pods; i++) AddPod(bridge, i);
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    private static void RunNft(string netns, string ruleset)
    {
        var psi = new ProcessStartInfo("ip") { RedirectStandardInput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in (string[])["netns", "exec", netns, "nft", "-f", "-"]) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        p.StandardInput.Write(ruleset);
        p.StandardInput.Close();
        string err = p.StandardError.ReadToEnd();
        if (!p.WaitForExit(20_000) || p.ExitCode != 0) throw new InvalidOperationException($"nft -f failed: {err}");
    }

    private void AddPod(string bridge, int i)
    {
        var ns = new TestNetns($"pod{i}");
        string ip = $"10.244.1.{11 + i}";
        string inPod = $"eth{_id}p{i}", onNode = $"vp{Environment.ProcessId % 10000}x{_id}p{i}";
        Shell.Run("ip", "link", "add", onNode, "netns", Node.Name, "type", "veth", "peer", "name", inPod, "netns", ns.Name);
        Node.Exec("ip", "link", "set", onNode, "master", bridge);
        Node.Exec("ip", "link", "set", onNode, "up");
        ns.Exec("ip", "addr", "add", ip + "/24", "dev", inPod);
        ns.Exec("ip", "link", "set", inPod, "up");
        ns.Exec("ip", "route", "add", "default", "via", Gateway);
        // A pod's identity as the kubelet and the container runtime would give it.
        string uid = $"{_id:x4}{i:x4}-{Environment.ProcessId % 0x10000:x4}-4{i:x3}-8{_id:x3}-{Random.Shared.NextInt64(1L << 47):x12}";
        string containerId = Convert.ToHexString(System.Security.Cryptography.RandomNumberGenerator.GetBytes(32)).ToLowerInvariant();
        var pod = new LabPod(ns, ip, uid, $"client-{i}-7f9c{_id}d", "zk-apps", "app", containerId);
        _pods.Add(pod);
        WriteKubeletLayout(pod);
    }

    /// <summary>
    /// The kubelet's files for the pod, as on a containerd node: /var/log/pods/NS_NAME_UID/CONTAINER/0.log,
    /// /var/log/containers/NAME_NS_CONTAINER-ID.log linking to it, /var/lib/kubelet/pods/UID/{containers/CONTAINER/,
    /// etc-hosts, volumes/kubernetes.io~projected/kube-api-access-*/namespace}.
    /// </summary>
    private void WriteKubeletLayout(LabPod p)
    {
        string logDir = Path.Combine(PodLogRoot, $"{p.Namespace}_{p.Name}_{p.Uid}", p.Container);
        Directory.CreateDirectory(logDir);
        string log = Path.Combine(logDir, "0.log");
        File.WriteAllText(log, "2026-12-07T11:00:00.000000000Z stdout F started\n");
        string links = Path.Combine(KubeletTree, "var", "log", "containers");
        Directory.CreateDirectory(links);
        File.CreateSymbolicLink(Path.Combine(links, $"{p.Name}_{p.Namespace}_{p.Container}-{p.ContainerId}.log"), log);
        string podDir = Path.Combine(KubeletRoot, "pods", p.Uid);
        Directory.CreateDirectory(Path.Combine(podDir, "containers", p.Container));
        File.WriteAllText(Path.Combine(podDir, "etc-hosts"),
            "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\n" +
            $"fe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n{p.Ip}\t{p.Name}\n");
        string sa = Path.Combine(podDir, "volumes", "kubernetes.io~projected", "kube-api-access-x7k2p");
        Directory.CreateDirectory(sa);
        File.WriteAllText(Path.Combine(sa, "namespace"), p.Namespace);
    }

    /// <summary>
    /// Moves a process into the pod's container cgroup (cgroup v2, systemd driver naming), so /proc/PID/cgroup names
    /// the pod uid and container id as on a node: kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod&lt;uid
    /// with '_'&gt;.slice/cri-containerd-&lt;id&gt;.scope. Returns false where no writable cgroup v2 hierarchy exists.
    /// </summary>
    public bool PutInPod(LabPod pod, int pid)
    {
        string? root = File.Exists("/sys/fs/cgroup/cgroup.procs") ? "/sys/fs/cgroup"
            : File.Exists("/sys/fs/cgroup/unified/cgroup.procs") ? "/sys/fs/cgroup/unified" : null;
        if (root == null) return false;
        string podSlice = Path.Combine(root, "kubepods.slice", "kubepods-besteffort.slice", $"kubepods-besteffort-pod{pod.Uid.Replace('-', '_')}.slice");
        string scope = Path.Combine(podSlice, $"cri-containerd-{pod.ContainerId}.scope");
        try
        {
            Directory.CreateDirectory(scope);
            lock (_cgroups) { if (!_cgroups.Contains(scope)) { _cgroups.Add(scope); _cgroups.Add(podSlice); } }
            File.WriteAllText(Path.Combine(scope, "cgroup.procs"), pid.ToString());
            return true;
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException) { return false; }
    }

    /// <summary>Starts scenario.py in the pod and moves it into the pod's cgroup.</summary>
    public Process StartInPod(LabPod pod, params string[] args)
    {
        var p = pod.Netns.StartScenario(args);
        PutInPod(pod, p.Id);
        return p;
    }

    public void Dispose()
    {
        foreach (var p in _pods) p.Netns.Dispose();
        Node.Dispose();
        Server.Dispose();
        // The processes are gone: the cgroups are empty and can go (leaf first); shared parent slices stay if others use them.
        foreach (var dir in _cgroups)
            for (int tries = 0; tries < 20 && Directory.Exists(dir); tries++)
            {
                try { Directory.Delete(dir); }
                catch (IOException) { Thread.Sleep(50); }
            }
        foreach (var dir in _cgroups.Select(c => Path.GetDirectoryName(Path.GetDirectoryName(c))).Where(d => d != null).Distinct().ToList())
            foreach (var shared in new[] { dir!, Path.GetDirectoryName(dir!)! })
                try { Directory.Delete(shared); } catch (IOException) { }    // still used by another lab: stays
        try { Directory.Delete(KubeletTree, true); } catch (IOException) { }
    }
}

/// <summary>A pod of the lab: its network namespace and IP, and its Kubernetes identity.</summary>
public sealed record LabPod(TestNetns Netns, string Ip, string Uid, string Name, string Namespace, string Container, string ContainerId);
