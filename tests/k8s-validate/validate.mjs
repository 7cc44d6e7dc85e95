// Validates the Kubernetes manifests in a directory offline: every object against the Kubernetes API schema
// (kubernetes-models, generated from the API's OpenAPI spec) or the prometheus-operator CRD schema, then the
// agent's own policy: the privileges docs/kubernetes.md documents and nothing more, read-only mounts, limits, and
// that the Service, PodMonitor and scrape job select the DaemonSet's pods and port.
// Usage: node validate.mjs DIR   Exit 0 when all is well; 1 with one line per problem.
import { readFileSync, readdirSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";

const dir = process.argv[2];
if (!dir) { console.error("usage: node validate.mjs DIR"); process.exit(2); }

// apiVersion/kind -> the module of its model
function modulePath(apiVersion, kind) {
  if (apiVersion.startsWith("monitoring.coreos.com/")) return `@kubernetes-models/prometheus-operator/${apiVersion}/${kind}`;
  return `kubernetes-models/${apiVersion}/${kind}`;
}

const problems = [];
const objects = [];
let scrape = null;
for (const file of readdirSync(dir).filter(f => /\.ya?ml$/.test(f)).sort()) {
  const text = readFileSync(join(dir, file), "utf8");
  const docs = parseAllDocuments(text);
  for (const doc of docs) {
    if (doc.errors.length) { problems.push(`${file}: YAML: ${doc.errors[0].message.split("\n")[0]}`); continue; }
    const obj = doc.toJS();
    if (obj == null) continue;
    if (obj.scrape_configs) { scrape = { file, obj }; continue; }   // a Prometheus scrape config, not a Kubernetes object
    if (!obj.apiVersion || !obj.kind) { problems.push(`${file}: an object without apiVersion and kind`); continue; }
    const name = `${obj.kind}/${obj.metadata?.name ?? "?"}`;
    let Model;
    try { Model = (await import(modulePath(obj.apiVersion, obj.kind)))[obj.kind]; }
    catch { problems.push(`${file}: ${name}: unknown apiVersion/kind ${obj.apiVersion} ${obj.kind}`); continue; }
    try { new Model(obj).validate(); }
    catch (e) { problems.push(`${file}: ${name}: ${e.message}`); continue; }
    objects.push({ file, obj, name });
    console.log(`ok ${file} ${name} (${obj.apiVersion})`);
  }
}

const find = kind => objects.filter(o => o.obj.kind === kind);
const fail = (o, msg) => problems.push(`${o.file}: ${o.name}: ${msg}`);
const matches = (selector, labels) => Object.entries(selector ?? {}).every(([k, v]) => labels?.[k] === v);

// The capabilities the agent needs, each measured (docs/kubernetes.md); anything else is a privilege too many.
const allowedCaps = new Set(["SYS_ADMIN", "SYS_PTRACE", "DAC_READ_SEARCH", "NET_ADMIN"]);
// Host paths the agent may mount, and which it may write (tracefs: it enables its own trace instance).
const hostPaths = { "/sys/kernel/tracing": "rw", "/var/log/pods": "ro", "/var/lib/kubelet/pods": "ro", "/run/netns": "ro" };

const daemonsets = find("DaemonSet");
if (daemonsets.length !== 1) problems.push(`expected one DaemonSet, found ${daemonsets.length}`);
for (const ds of daemonsets) {
  const spec = ds.obj.spec.template.spec;
  const podLabels = ds.obj.spec.template.metadata?.labels;
  if (!matches(ds.obj.spec.selector.matchLabels, podLabels)) fail(ds, "spec.selector does not match the pod template's labels");
  if (spec.hostPID !== true) fail(ds, "hostPID must be true (the node's /proc: every pod's processes)");
  if (spec.hostNetwork !== true) fail(ds, "hostNetwork must be true (the node's socket table and address)");
  if (spec.automountServiceAccountToken !== false) fail(ds, "automountServiceAccountToken must be false (the agent never calls the API)");
  const volumes = Object.fromEntries((spec.volumes ?? []).map(v => [v.name, v]));
  for (const v of spec.volumes ?? []) {
    if (v.hostPath && !(v.hostPath.path in hostPaths)) fail(ds, `hostPath ${v.hostPath.path} is not one the agent needs`);
  }
  for (const c of spec.containers) {
    const sc = c.securityContext ?? {};
    if (sc.readOnlyRootFilesystem !== true) fail(ds, `container ${c.name}: securityContext.readOnlyRootFilesystem must be true`);
    if (sc.allowPrivilegeEscalation !== false) fail(ds, `container ${c.name}: securityContext.allowPrivilegeEscalation must be false`);
    if (sc.privileged) fail(ds, `container ${c.name}: must not be privileged (the capabilities below are enough)`);
    if (!(sc.capabilities?.drop ?? []).includes("ALL")) fail(ds, `container ${c.name}: capabilities.drop must include ALL`);
    for (const cap of sc.capabilities?.add ?? []) if (!allowedCaps.has(cap)) fail(ds, `container ${c.name}: capability ${cap} is not one the agent needs`);
    if (!c.resources?.limits?.memory || !c.resources?.requests?.memory) fail(ds, `container ${c.name}: memory request and limit must be set`);
    if (!(c.ports ?? []).some(p => p.name === "metrics" && p.containerPort === 9149)) fail(ds, `container ${c.name}: no port 'metrics' 9149`);
    for (const m of c.volumeMounts ?? []) {
      const v = volumes[m.name];
      if (!v) { fail(ds, `container ${c.name}: mount ${m.name} has no volume`); continue; }
      if (v.hostPath && hostPaths[v.hostPath.path] === "ro" && m.readOnly !== true) fail(ds, `container ${c.name}: hostPath ${v.hostPath.path} must be mounted readOnly`);
    }
  }
  for (const svc of find("Service")) {
    if (!matches(svc.obj.spec.selector, podLabels)) fail(svc, "selector does not select the DaemonSet's pods");
    if (svc.obj.spec.clusterIP !== "None") fail(svc, "must be headless (clusterIP: None): one record per node");
  }
  for (const pm of find("PodMonitor")) {
    if (!matches(pm.obj.spec.selector.matchLabels, podLabels)) fail(pm, "selector does not select the DaemonSet's pods");
    const names = pm.obj.spec.namespaceSelector?.matchNames ?? [];
    if (!names.includes(ds.obj.metadata.namespace)) fail(pm, `namespaceSelector does not include ${ds.obj.metadata.namespace}`);
    const ports = spec.containers.flatMap(c => (c.ports ?? []).map(p => p.name));
    for (const ep of pm.obj.spec.podMetricsEndpoints) {
      if (!ports.includes(ep.port)) fail(pm, `endpoint port ${ep.port} is not a port of the DaemonSet`);
      const dropped = (ep.relabelings ?? []).some(r => r.action === "labeldrop" && new RegExp(`^(?:${r.regex})$`).test("pod"));
      if (!dropped) fail(pm, "the operator's target label `pod` would clash with the agent's own `pod` label: rename it (agent_pod)");
    }
  }
  if (scrape) {
    const job = scrape.obj.scrape_configs.find(j => j.job_name === "conndoctor");
    const s = { file: scrape.file, name: "scrape job conndoctor" };
    if (!job) fail(s, "no job named conndoctor");
    else {
      const sd = job.kubernetes_sd_configs ?? [];
      const roles = ["node", "service", "pod", "endpoints", "endpointslice", "ingress"];
      if (sd.length === 0) fail(s, "no kubernetes_sd_configs");
      for (const c of sd) {
        if (!roles.includes(c.role)) fail(s, `kubernetes_sd_configs role ${c.role} is not one of ${roles.join(", ")}`);
        if (c.namespaces && !(c.namespaces.names ?? []).includes(ds.obj.metadata.namespace)) fail(s, `namespaces do not include ${ds.obj.metadata.namespace}`);
        for (const sel of c.selectors ?? []) {
          const [k, v] = (sel.label ?? "").split("=");
          if (sel.label && podLabels?.[k] !== v) fail(s, `selector label ${sel.label} does not select the DaemonSet's pods`);
        }
      }
      const targets = (job.relabel_configs ?? []).map(r => r.target_label);
      if (targets.includes("pod")) fail(s, "relabels into `pod`, which the agent's own series carry");
      if (!targets.includes("node")) fail(s, "no `node` label");
    }
  }
}

for (const p of problems) console.log(`error ${p}`);
console.log(`${objects.length} object(s) valid, ${problems.length} problem(s)`);
process.exit(problems.length ? 1 : 0);
