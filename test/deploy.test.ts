// The Kubernetes manifests in deploy/: every object in every YAML file validates against the Kubernetes API
// schemas (kubernetes-models, and @kubernetes-models/prometheus-operator for the operator's kinds), and the
// DaemonSet keeps what a reviewer checks: host network, NET_RAW only, non-root, read-only root filesystem,
// resources, options the agent really accepts, labels and selectors that match the Service and ServiceMonitor.
// A deliberately broken copy must fail, which shows the validator validates. Files that land later in deploy/
// (the scan Job, the Prometheus files) are picked up by the glob.

import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join, relative } from "node:path";
import t from "tap";
import { parseAllDocuments } from "yaml";

const ROOT = join(__dirname, "..");
const DEPLOY = join(ROOT, "deploy");
const BIN = join(ROOT, "bin", "wireprobe.js");

// kubernetes-models ships ES modules only (its package exports have no require condition) and this project
// compiles to CommonJS, where `import()` would become require(): a real dynamic import, built at run time.
const importEsm = new Function("specifier", "return import(specifier)") as (
  specifier: string,
) => Promise<Record<string, unknown>>;

// biome-ignore lint/suspicious/noExplicitAny: manifests are untyped YAML; the schemas check their shape
type Obj = Record<string, any>;

interface Manifest {
  file: string;
  obj: Obj;
}

/** deploy/**\/*.yaml and *.yml, sorted. */
function yamlFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...yamlFiles(path));
    else if (/\.ya?ml$/.test(entry.name)) out.push(path);
  }
  return out.sort();
}

/** Every document of a YAML file (a parse error fails the test naming the file). */
function documents(file: string): Obj[] {
  const docs = parseAllDocuments(readFileSync(file, "utf8"));
  const list = Array.isArray(docs) ? docs : [docs];
  const out: Obj[] = [];
  for (const doc of list) {
    if (doc.errors.length > 0) throw new Error(`${file}: ${doc.errors[0]?.message}`);
    const value = doc.toJS() as unknown;
    if (value !== null && value !== undefined) out.push(value as Obj);
  }
  return out;
}

const isKubeObject = (o: Obj): boolean => typeof o.apiVersion === "string" && typeof o.kind === "string";

/** The schema library's module for apiVersion/kind, or undefined when it has none. */
function modelModule(apiVersion: string, kind: string): string | undefined {
  if (apiVersion.startsWith("monitoring.coreos.com/")) {
    return `@kubernetes-models/prometheus-operator/${apiVersion}/${kind}`;
  }
  if (apiVersion.startsWith("kustomize.config.k8s.io/")) return undefined;
  return `kubernetes-models/${apiVersion}/${kind}`;
}

/** Validates one object against its API schema; throws the schema's complaint. */
async function validate(obj: Obj): Promise<void> {
  const spec = modelModule(obj.apiVersion, obj.kind);
  if (spec === undefined) throw new Error(`no schema for ${obj.apiVersion} ${obj.kind}`);
  let mod: Record<string, unknown>;
  try {
    mod = await importEsm(spec);
  } catch {
    throw new Error(`no schema for ${obj.apiVersion} ${obj.kind} (${spec} does not exist)`);
  }
  const Model = mod[obj.kind] as new (o: Obj) => { validate(): void };
  new Model(structuredClone(obj)).validate();
}

/** The pod template of a workload (DaemonSet, Deployment, Job, CronJob...), or undefined. */
function podSpec(obj: Obj): Obj | undefined {
  if (obj.kind === "CronJob") return obj.spec?.jobTemplate?.spec?.template?.spec;
  if (obj.kind === "Pod") return obj.spec;
  return obj.spec?.template?.spec;
}

/** `--long` option names of `wireprobe COMMAND --help`. */
const helpOptions = new Map<string, Set<string>>();
function optionsOf(command: string): Set<string> {
  let known = helpOptions.get(command);
  if (known === undefined) {
    const help = execFileSync(process.execPath, [BIN, command, "--help"], { encoding: "utf8" });
    // an option line: its names (aliases too: "--max-rate, --rate PPS", "-iL, --input-list FILE"), then two spaces
    known = new Set<string>();
    for (const line of help.matchAll(/^\s+(-\S.*?)(?:\s{2,}|$)/gm)) {
      for (const name of (line[1] as string).matchAll(/(?:^|[\s,])(--?[A-Za-z0-9][A-Za-z0-9-]*)/g)) {
        known.add(name[1] as string);
      }
    }
    helpOptions.set(command, known);
  }
  return known;
}

const manifests: Manifest[] = [];
const otherYaml: string[] = [];
for (const file of yamlFiles(DEPLOY)) {
  const docs = documents(file);
  const kube = docs.filter(isKubeObject);
  if (kube.length === 0) otherYaml.push(relative(ROOT, file));
  for (const obj of kube) manifests.push({ file: relative(ROOT, file), obj });
}
const find = (kind: string, name = "wireprobe"): Obj => {
  const m = manifests.find((x) => x.obj.kind === kind && x.obj.metadata?.name === name);
  if (m === undefined) throw new Error(`deploy/ has no ${kind} ${name}`);
  return m.obj;
};

t.test("every Kubernetes object in deploy/ validates against the API schemas", async (t) => {
  t.ok(
    manifests.length >= 5,
    `${manifests.length} objects in ${new Set(manifests.map((m) => m.file)).size} files`,
  );
  if (otherYaml.length > 0) t.comment(`not Kubernetes objects (checked elsewhere): ${otherYaml.join(", ")}`);
  for (const { file, obj } of manifests) {
    const what = `${file}: ${obj.kind} ${obj.metadata?.name ?? ""}`;
    if (obj.kind === "Kustomization") {
      for (const r of obj.resources as string[]) {
        t.ok(existsSync(join(DEPLOY, r)), `${what}: resource ${r} exists`);
      }
      continue;
    }
    await t.resolves(validate(obj), what);
  }
  for (const kind of ["Namespace", "DaemonSet", "Service", "ServiceMonitor"]) find(kind);
});

t.test("broken copies fail validation: the validator validates", async (t) => {
  const ds = find("DaemonSet");
  const breakages: [string, (o: Obj) => void][] = [
    [
      "a container port as a string",
      (o) => (o.spec.template.spec.containers[0].ports[0].containerPort = "9474"),
    ],
    [
      "a memory limit that is no quantity",
      (o) => (o.spec.template.spec.containers[0].resources.limits.memory = "lots"),
    ],
    ["no selector", (o) => delete o.spec.selector],
    ["a container without a name", (o) => delete o.spec.template.spec.containers[0].name],
    ["hostNetwork as a string", (o) => (o.spec.template.spec.hostNetwork = "yes")],
    [
      "capabilities.add as a string",
      (o) => (o.spec.template.spec.containers[0].securityContext.capabilities.add = "NET_RAW"),
    ],
  ];
  for (const [what, breakIt] of breakages) {
    const broken = structuredClone(ds);
    breakIt(broken);
    await t.rejects(validate(broken), `DaemonSet with ${what} is refused`);
  }
  const sm = structuredClone(find("ServiceMonitor"));
  sm.spec.endpoints[0].port = 9474;
  await t.rejects(validate(sm), "ServiceMonitor with a numeric endpoint port is refused");
  await t.rejects(
    validate({ apiVersion: "apps/v1", kind: "DaemonSett", metadata: { name: "x" } }),
    "unknown kind",
  );
});

t.test(
  "every workload: no privileged mode, only NET_RAW/NET_ADMIN, non-root, read-only, resources",
  async (t) => {
    const workloads = manifests.filter((m) => podSpec(m.obj) !== undefined);
    t.ok(workloads.length >= 1, workloads.map((m) => `${m.file}: ${m.obj.kind}`).join(", "));
    for (const { file, obj } of workloads) {
      const pod = podSpec(obj) as Obj;
      for (const c of [...(pod.initContainers ?? []), ...pod.containers] as Obj[]) {
        const what = `${file}: ${obj.kind} ${obj.metadata.name}, container ${c.name}`;
        const sc = c.securityContext ?? {};
        t.not(sc.privileged, true, `${what}: not privileged`);
        t.equal(sc.allowPrivilegeEscalation, false, `${what}: allowPrivilegeEscalation false`);
        t.equal(sc.readOnlyRootFilesystem, true, `${what}: read-only root filesystem`);
        t.equal(sc.runAsNonRoot ?? pod.securityContext?.runAsNonRoot, true, `${what}: runAsNonRoot`);
        const uid = sc.runAsUser ?? pod.securityContext?.runAsUser;
        t.ok(typeof uid === "number" && uid > 0, `${what}: runs as uid ${uid}, not root`);
        t.same(sc.capabilities?.drop, ["ALL"], `${what}: drops ALL capabilities`);
        for (const cap of sc.capabilities?.add ?? []) {
          t.ok(["NET_RAW", "NET_ADMIN"].includes(cap), `${what}: adds ${cap}, one of NET_RAW, NET_ADMIN`);
        }
        for (const kind of ["requests", "limits"]) {
          for (const res of ["cpu", "memory"]) {
            t.ok(c.resources?.[kind]?.[res], `${what}: resources.${kind}.${res} set`);
          }
        }
        t.notOk(pod.hostPID || pod.hostIPC, `${what}: no host PID or IPC namespace`);
        t.notOk(
          (pod.volumes ?? []).some((v: Obj) => v.hostPath),
          `${what}: no hostPath volume`,
        );
        // wireprobe's own containers: every option of their command exists (`wireprobe CMD --help`)
        const args = (c.args ?? []) as string[];
        if (args.length > 0 && /^[a-z]+$/.test(args[0] as string) && String(c.image).includes("wireprobe")) {
          const known = optionsOf(args[0] as string);
          for (const arg of args.slice(1)) {
            const opt = /^(--?[A-Za-z][A-Za-z0-9-]*)/.exec(arg)?.[1];
            if (opt !== undefined)
              t.ok(known.has(opt), `${what}: ${opt} is an option of wireprobe ${args[0]}`);
          }
        }
      }
    }
  },
);

t.test("the DaemonSet: host network, NET_RAW alone, peers from the headless Service", async (t) => {
  const ds = find("DaemonSet");
  const pod = ds.spec.template.spec as Obj;
  const c = pod.containers.find((x: Obj) => x.name === "agent") as Obj;
  t.equal(ds.metadata.namespace, "wireprobe");
  t.equal(pod.hostNetwork, true, "hostNetwork");
  t.equal(pod.dnsPolicy, "ClusterFirstWithHostNet", "cluster DNS with the host network");
  t.equal(pod.automountServiceAccountToken, false, "no API token: the agent never asks the API");
  t.same(c.securityContext.capabilities.add, ["NET_RAW"], "NET_RAW only (nothing needs NET_ADMIN)");
  t.same(ds.spec.selector.matchLabels, pick(ds.spec.template.metadata.labels, ds.spec.selector.matchLabels));

  const env = new Map((c.env as Obj[]).map((e) => [e.name, e.valueFrom?.fieldRef?.fieldPath]));
  t.equal(env.get("NODE_NAME"), "spec.nodeName", "NODE_NAME from the downward API");
  t.equal(env.get("POD_IP"), "status.podIP", "POD_IP from the downward API");

  const args = c.args as string[];
  t.equal(args[0], "agent");
  const opt = (name: string) => args.find((a) => a.startsWith(`${name}=`))?.slice(name.length + 1);
  t.equal(opt("--listen"), "$(POD_IP):9474", "listens on the node address");
  t.equal(opt("--node-name"), "$(NODE_NAME)");
  const svc = find("Service");
  t.equal(
    opt("--peers-dns"),
    `${svc.metadata.name}.${svc.metadata.namespace}.svc.cluster.local`,
    "the Service's name",
  );

  const port = (c.ports as Obj[]).find((p) => p.name === "metrics") as Obj;
  t.equal(port.containerPort, 9474);
  const annotations = ds.spec.template.metadata.annotations as Obj;
  t.equal(annotations["prometheus.io/scrape"], "true");
  t.equal(annotations["prometheus.io/port"], "9474");
  t.equal(annotations["prometheus.io/path"], "/metrics");
  t.equal(c.readinessProbe.httpGet.path, "/healthz", "readiness from /healthz");
  t.equal(c.readinessProbe.httpGet.port, "metrics");
  t.ok(c.livenessProbe, "a liveness probe");

  const version = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version as string;
  t.equal(c.image, `localhost/wireprobe:${version}`, "the tag deploy/image/build.sh gives this version");
});

t.test("Service, ServiceMonitor, PodMonitor select the DaemonSet's pods", async (t) => {
  const ds = find("DaemonSet");
  const podLabels = ds.spec.template.metadata.labels as Obj;
  const svc = find("Service");
  t.equal(svc.spec.clusterIP, "None", "headless: DNS answers with every pod address");
  t.equal(svc.spec.publishNotReadyAddresses, true, "a node whose agent is not ready is still a peer");
  t.same(svc.spec.selector, pick(podLabels, svc.spec.selector), "the Service selects the pods");
  const svcPort = (svc.spec.ports as Obj[]).find((p) => p.name === "metrics") as Obj;
  t.equal(svcPort.targetPort, "metrics", "targets the container's named port");

  const sm = find("ServiceMonitor");
  t.same(
    sm.spec.selector.matchLabels,
    pick(svc.metadata.labels, sm.spec.selector.matchLabels),
    "selects the Service",
  );
  t.same(sm.spec.namespaceSelector.matchNames, [svc.metadata.namespace]);
  t.equal(sm.spec.endpoints[0].port, "metrics", "a port the Service names");

  const pm = find("PodMonitor");
  t.same(pm.spec.selector.matchLabels, pick(podLabels, pm.spec.selector.matchLabels), "selects the pods");
  t.equal(pm.spec.podMetricsEndpoints[0].port, "metrics");

  for (const m of manifests) {
    if (m.obj.kind === "Namespace" || m.obj.kind === "Kustomization") continue;
    if (m.file.startsWith("deploy/") && m.obj.metadata?.namespace !== undefined) {
      t.equal(m.obj.metadata.namespace, "wireprobe", `${m.file}: ${m.obj.kind} in namespace wireprobe`);
    }
  }
  const ns = find("Namespace");
  t.equal(
    ns.metadata.labels["pod-security.kubernetes.io/enforce"],
    "privileged",
    "PSS level that admits NET_RAW",
  );
});

/** The entries of `from` whose keys `keys` has: equal to `keys` when every selector label is on the object. */
function pick(from: Obj, keys: Obj): Obj {
  return Object.fromEntries(Object.keys(keys).map((k) => [k, from?.[k]]));
}
