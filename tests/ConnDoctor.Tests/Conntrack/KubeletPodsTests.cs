using ConnDoctor.Model;
using ConnDoctor.Rules;
using ConnDoctor.Sources;

namespace ConnDoctor.Tests.Conntrack;

/// <summary>
/// Pod names from the kubelet's directories, on a temp tree laid out as the kubelet lays out a node's disk:
/// /var/log/pods/NAMESPACE_NAME_UID/CONTAINER/N.log (kuberuntime BuildPodLogsDirectory, BuildContainerLogsDirectory),
/// /var/log/containers/NAME_NAMESPACE_CONTAINER-ID.log (legacyLogSymlink), /var/lib/kubelet/pods/UID/{containers/NAME/,
/// etc-hosts (kubernetes.io "Adding entries to Pod /etc/hosts with HostAliases" shows its content),
/// volumes/kubernetes.io~projected/kube-api-access-*/namespace}.
/// </summary>
public sealed class KubeletPodsTests : IDisposable
{
    private readonly string _root = Directory.CreateTempSubdirectory("cdt-kubelet-").FullName;
    private string Logs => Path.Combine(_root, "var/log/pods");
    private string Kubelet => Path.Combine(_root, "var/lib/kubelet");
    private const string Uid = "7e0f1a2b-3c4d-4e5f-8a9b-0c1d2e3f4a5b";
    private const string Cid = "0f3c2a1b9d8e7f6a5b4c3d2e1f0a9b8c7d6e5f4a3b2c1d0e9f8a7b6c5d4e3f2a";

    public void Dispose() => Directory.Delete(_root, true);

    private void LogDir(string ns, string name, string uid, params string[] containers)
    {
        foreach (var c in containers)
        {
            var d = Path.Combine(Logs, $"{ns}_{name}_{uid}", c);
            Directory.CreateDirectory(d);
            File.WriteAllText(Path.Combine(d, "0.log"), "");
        }
    }

    private static ProcessRecord Proc(string? cgroup)
    {
        var (container, pod) = ProcessReader.ContainerOf(cgroup);
        return new ProcessRecord { Pid = 4242, Name = "java", Cgroup = cgroup, ContainerId = container, PodUid = pod };
    }

    // cgroup v2 with the systemd driver: the uid's dashes become underscores, the container a cri-containerd scope.
    private static string SystemdCgroup(string uid, string cid) =>
        $"/kubepods.slice/kubepods-burstable.slice/kubepods-burstable-pod{uid.Replace('-', '_')}.slice/cri-containerd-{cid}.scope";

    [Fact]
    public void APodWithSeveralContainersIsNamedFromItsLogDirectoryAndTheContainerFromTheKubeletsLink()
    {
        LogDir("zk-apps", "orders-5d9c7b8f4-x2x7q", Uid, "app", "istio-proxy");
        var links = Path.Combine(_root, "var/log/containers");
        Directory.CreateDirectory(links);
        File.CreateSymbolicLink(Path.Combine(links, $"orders-5d9c7b8f4-x2x7q_zk-apps_app-{Cid}.log"), Path.Combine(Logs, $"zk-apps_orders-5d9c7b8f4-x2x7q_{Uid}/app/0.log"));
        File.CreateSymbolicLink(Path.Combine(links, $"orders-5d9c7b8f4-x2x7q_zk-apps_istio-proxy-{new string('b', 64)}.log"), "/nonexistent");

        var p = new KubeletPods(Logs, Kubelet).Fill(Proc(SystemdCgroup(Uid, Cid)));
        Assert.Equal("orders-5d9c7b8f4-x2x7q", p.PodName);
        Assert.Equal("zk-apps", p.PodNamespace);
        Assert.Equal("app", p.ContainerName);
    }

    [Fact]
    public void APodWithOneContainerAndNoLinksStillNamesTheContainer()
    {
        LogDir("default", "zk-client", Uid, "client");
        // cgroupfs driver: kubepods/besteffort/pod<uid>/<id>
        var p = new KubeletPods(Logs, Kubelet).Fill(Proc($"/kubepods/besteffort/pod{Uid}/{Cid}"));
        Assert.Equal(("zk-client", "default", "client"), (p.PodName, p.PodNamespace, p.ContainerName));
    }

    [Fact]
    public void WithoutLogDirectoriesTheKubeletPodDirectoryNamesThePod()
    {
        var dir = Path.Combine(Kubelet, "pods", Uid);
        Directory.CreateDirectory(Path.Combine(dir, "containers", "worker"));
        File.WriteAllText(Path.Combine(dir, "etc-hosts"),
            "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n10.200.0.4\tnginx\n\n# Entries added by HostAliases.\n127.0.0.1\tfoo.local\tbar.local\n");
        var sa = Path.Combine(dir, "volumes", "kubernetes.io~projected", "kube-api-access-9zq4d");
        Directory.CreateDirectory(sa);
        File.WriteAllText(Path.Combine(sa, "namespace"), "web");
        var p = new KubeletPods(Logs, Kubelet).Fill(Proc(SystemdCgroup(Uid, Cid)));
        Assert.Equal(("nginx", "web", "worker"), (p.PodName, p.PodNamespace, p.ContainerName));
    }

    [Fact]
    public void AnUnknownPodOrForeignDirectoriesLeaveTheRecordAsItWas()
    {
        Directory.CreateDirectory(Path.Combine(Logs, "not-a-pod-directory"));
        Directory.CreateDirectory(Path.Combine(Logs, "a_b_c_d"));
        LogDir("default", "other", "11111111-2222-4333-8444-555555555555", "c");
        var before = Proc(SystemdCgroup(Uid, Cid));
        Assert.Equal(before, new KubeletPods(Logs, Kubelet).Fill(before));
        var notInPod = Proc("/user.slice/user-0.slice/session-1.scope");
        Assert.Same(notInPod, new KubeletPods(Logs, Kubelet).Fill(notInPod));
        // Roots that do not exist at all: nothing to say, nothing thrown.
        Assert.Equal(before, new KubeletPods("/nonexistent/pods", "/nonexistent/kubelet").Fill(before));
    }

    [Fact]
    public void AFindingSubjectNamesThePodByNamespaceAndName()
    {
        LogDir("zk-apps", "orders-5d9c7b8f4-x2x7q", Uid, "app");
        var p = new KubeletPods(Logs, Kubelet).Fill(Proc(SystemdCgroup(Uid, Cid)));
        var ev = new Evidence
        {
            Namespaces = [new NetnsInfo { Label = "host" }],
            Processes = new Dictionary<int, ProcessRecord> { [p.Pid] = p },
            Statuses = [],
            CollectedAt = DateTimeOffset.UtcNow,
        };
        var subject = new RuleContext(ev, new RuleOptions()).SubjectFor(0, p.Pid);
        Assert.Equal("pod zk-apps/orders-5d9c7b8f4-x2x7q container app", subject.Container);
    }
}
