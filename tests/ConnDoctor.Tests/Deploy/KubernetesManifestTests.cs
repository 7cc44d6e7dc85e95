using ConnDoctor.Tests.Infra;

namespace ConnDoctor.Tests.Deploy;

/// <summary>
/// deploy/kubernetes validated offline: tests/k8s-validate/validate.mjs checks every object against the Kubernetes API
/// schema (npm kubernetes-models) or the prometheus-operator CRD schema, then the agent's policy (hostPID, hostNetwork,
/// only the measured capabilities, read-only root and mounts, limits, selectors that find the pods). Each deliberately
/// broken copy must be refused with a line saying what is wrong. The hand-written scrape job passes promtool.
/// </summary>
public class KubernetesManifestTests
{
    private static string ManifestDir => RepoPaths.Of("deploy", "kubernetes");
    private static string ValidatorDir => RepoPaths.Of("tests", "k8s-validate");

    private static (int Code, string Out) Validate(string dir)
    {
        Assert.True(Directory.Exists(Path.Combine(ValidatorDir, "node_modules", "kubernetes-models")),
            "tests/k8s-validate/node_modules is missing: run scripts/setup.sh (npm ci there)");
        var r = Shell.RunFull("node", [Path.Combine(ValidatorDir, "validate.mjs"), dir], check: false);
        return (r.Code, r.Stdout + r.Stderr);
    }

    [Fact]
    public void TheShippedManifestsPassTheSchemaAndThePolicy()
    {
        var (code, output) = Validate(ManifestDir);
        Assert.True(code == 0, output);
        foreach (var kind in new[] { "DaemonSet/conndoctor-agent", "ServiceAccount/conndoctor-agent", "Service/conndoctor-agent", "PodMonitor/conndoctor-agent", "Namespace/conndoctor" })
            Assert.Contains($" {kind} ", output);
        Assert.Contains("5 object(s) valid, 0 problem(s)", output);
    }

    /// <summary>One edit per way a manifest goes wrong, and a fragment of the line that must say so.</summary>
    public static TheoryData<string, string, string, string> Breakages => new()
    {
        { "daemonset.yaml", "containerPort: 9149", "containerPort: \"9149\"", "containerPort must be integer" },
        { "daemonset.yaml", "kind: DaemonSet", "kind: DaemonSett", "unknown apiVersion/kind apps/v1 DaemonSett" },
        { "daemonset.yaml", "hostPID: true", "hostPID: false", "hostPID must be true" },
        { "daemonset.yaml", "readOnlyRootFilesystem: true", "readOnlyRootFileSystem: true", "readOnlyRootFilesystem must be true" },
        { "daemonset.yaml", "                - ALL\n", "                - NET_RAW\n", "capabilities.drop must include ALL" },
        { "daemonset.yaml", "                - NET_ADMIN\n", "                - NET_ADMIN\n                - SYS_MODULE\n", "capability SYS_MODULE is not one the agent needs" },
        { "daemonset.yaml", "              mountPath: /var/log/pods\n              readOnly: true", "              mountPath: /var/log/pods\n              readOnly: false", "hostPath /var/log/pods must be mounted readOnly" },
        { "daemonset.yaml", "              memory: 256Mi", "              memory: lots", "limits/memory" },
        { "daemonset.yaml", "      automountServiceAccountToken: false", "      automountServiceAccountToken: true", "automountServiceAccountToken must be false" },
        { "service.yaml", "  clusterIP: None\n", "", "must be headless" },
        { "podmonitor.yaml", "    - port: metrics", "    - port: web", "endpoint port web is not a port of the DaemonSet" },
        { "podmonitor.yaml", "      interval: 15s", "      interval: 15 seconds", "interval must match pattern" },
        { "podmonitor.yaml", "        - regex: pod|namespace|container|endpoint", "        - regex: namespace|container|endpoint", "would clash with the agent's own `pod` label" },
        { "prometheus-scrape.yml", "label: app.kubernetes.io/name=conndoctor-agent", "label: app.kubernetes.io/name=node-exporter", "does not select the DaemonSet's pods" },
        { "prometheus-scrape.yml", "        target_label: agent_pod", "        target_label: pod", "relabels into `pod`" },
    };

    [Theory]
    [MemberData(nameof(Breakages))]
    public void ABrokenManifestIsRefusedWithALineSayingWhy(string file, string find, string replace, string expected)
    {
        var dir = Directory.CreateTempSubdirectory("cd-k8s-broken").FullName;
        try
        {
            foreach (var f in Directory.GetFiles(ManifestDir)) File.Copy(f, Path.Combine(dir, Path.GetFileName(f)));
            string path = Path.Combine(dir, file), text = File.ReadAllText(path);
            Assert.True(text.Contains(find), $"'{find}' is no longer in {file}: update this breakage");
            File.WriteAllText(path, text.Replace(find, replace));
            var (code, output) = Validate(dir);
            Assert.True(code == 1, $"the validator accepted {file} with '{replace}':\n{output}");
            Assert.Contains(output.Split('\n'), l => l.StartsWith("error ") && l.Contains(expected));
        }
        finally { Directory.Delete(dir, true); }
    }

    [Fact]
    public void TheScrapeJobsRelabellingPassesPromtool()
    {
        // Debian's Prometheus is built without Kubernetes discovery: promtool checks the job with its discovery block
        // swapped for a static target, which still checks every relabel rule; validate.mjs checks the discovery block.
        string text = File.ReadAllText(Path.Combine(ManifestDir, "prometheus-scrape.yml"));
        int start = text.IndexOf("    kubernetes_sd_configs:\n", StringComparison.Ordinal), end = text.IndexOf("    relabel_configs:\n", StringComparison.Ordinal);
        Assert.True(start > 0 && end > start, "prometheus-scrape.yml: no kubernetes_sd_configs block before relabel_configs");
        var file = Path.Combine(Directory.CreateTempSubdirectory("cd-scrape").FullName, "prometheus.yml");
        File.WriteAllText(file, text[..start] + "    static_configs:\n      - targets: ['127.0.0.1:9149']\n" + text[end..]);
        var r = Shell.RunFull("/usr/bin/promtool", ["check", "config", file], check: false);
        Directory.Delete(Path.GetDirectoryName(file)!, true);
        Assert.True(r.Code == 0, r.Stdout + r.Stderr);
    }
}
