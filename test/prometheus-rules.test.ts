// deploy/prometheus: the rules pass `promtool check rules` and their unit tests (`promtool test rules`: every
// alert firing and not firing on sample series), and the scrape job does what its comments say when a real
// Prometheus runs it: annotated pods scraped at the annotated port and path (IPv6 in brackets), the others
// dropped, the agent's own `node` label kept.

import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { parse } from "yaml";
import { withLab } from "./helpers/lab";
import { DEPLOY, Prometheus, prometheusConfig, RULES, SCRAPE_CONFIG } from "./helpers/prometheus";

function promtool(args: string[]): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    execFile("promtool", args, { cwd: DEPLOY, timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? (err as { code?: number }).code : 0;
      resolve({ code: typeof code === "number" ? code : -1, out: `${stdout}${stderr}` });
    });
  });
}

const ALERTS = [
  "WireprobePeerNotAdjacent",
  "WireprobeNodePortPartial",
  "WireprobeDnsServerUnreachable",
  "WireprobeDnsServersDisagree",
  "WireprobeAgentUnhealthy",
  "WireprobeAgentStale",
  "WireprobeAgentDown",
];

t.test("promtool check rules", async (t) => {
  const r = await promtool(["check", "rules", "wireprobe-rules.yml"]);
  t.equal(r.code, 0, r.out);
  t.match(r.out, new RegExp(`SUCCESS: ${ALERTS.length} rules found`));
  const doc = parse(readFileSync(RULES, "utf8")) as {
    groups: {
      name: string;
      rules: { alert: string; labels: Record<string, string>; annotations: Record<string, string> }[];
    }[];
  };
  t.same(
    doc.groups.map((g) => g.name),
    ["wireprobe"],
  );
  const rules = doc.groups[0]!.rules;
  t.same(
    rules.map((r) => r.alert),
    ALERTS,
    "the alerts of the contract",
  );
  for (const r of rules) {
    t.match(r.labels.severity, /^(critical|warning)$/, `${r.alert} has a severity`);
    t.ok(r.annotations.summary && r.annotations.description, `${r.alert} has a summary and a description`);
    t.match(r.annotations.summary, /\{\{ \$labels\.node \}\}/, `${r.alert}'s summary names the node`);
  }
});

t.test("promtool test rules: every alert fires on its sample series, and only there", async (t) => {
  const r = await promtool(["test", "rules", "wireprobe-rules.test.yml"]);
  t.equal(r.code, 0, r.out);
  t.match(r.out, /SUCCESS/);
  const tests = readFileSync(join(DEPLOY, "wireprobe-rules.test.yml"), "utf8");
  for (const a of ALERTS) {
    t.match(tests, new RegExp(`alertname: ${a}\\n\\s+exp_alerts: \\[\\]`), `${a}: a not-firing case`);
    t.match(tests, new RegExp(`alertname: ${a}\\n\\s+exp_alerts:\\n`), `${a}: a firing case`);
  }
});

t.test("promtool test rules fails when a rule is broken (the tests can fail)", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "wireprobe-rules-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // The disagreement alert without its `dns_ok == 1` guard also fires for the server that does not answer.
  const rules = readFileSync(RULES, "utf8").replace(
    /\(wireprobe_dns_agrees == 0\)\s+and ignoring \(status\)\s+\(wireprobe_dns_ok == 1\)/,
    "wireprobe_dns_agrees == 0",
  );
  t.not(rules, readFileSync(RULES, "utf8"));
  writeFileSync(join(dir, "wireprobe-rules.yml"), rules);
  writeFileSync(
    join(dir, "wireprobe-rules.test.yml"),
    readFileSync(join(DEPLOY, "wireprobe-rules.test.yml")),
  );
  const r = await promtool(["test", "rules", join(dir, "wireprobe-rules.test.yml")]);
  t.not(r.code, 0);
  t.match(r.out, /alertname: WireprobeDnsServersDisagree/);
});

t.test("the scrape job: pod-role discovery, kept as promtool reads it", async (t) => {
  const deploy = parse(readFileSync(SCRAPE_CONFIG, "utf8")) as {
    scrape_configs: { job_name: string; honor_labels: boolean; kubernetes_sd_configs: { role: string }[] }[];
  };
  const [job] = deploy.scrape_configs;
  t.equal(job?.job_name, "wireprobe");
  t.same(job?.kubernetes_sd_configs, [{ role: "pod" }]);
  t.equal(job?.honor_labels, true, "the agent's node label wins over the target's");
  // Debian's Prometheus has no Kubernetes discovery: promtool checks the rest of the job with file discovery
  // in its place.
  const dir = mkdtempSync(join(tmpdir(), "wireprobe-scrape-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  writeFileSync(join(dir, "targets.json"), "[]");
  writeFileSync(join(dir, "rules.yml"), readFileSync(RULES));
  writeFileSync(
    join(dir, "prometheus.yml"),
    prometheusConfig(join(dir, "targets.json"), join(dir, "rules.yml"), "30s"),
  );
  const r = await promtool(["check", "config", join(dir, "prometheus.yml")]);
  t.equal(r.code, 0, r.out);
});

// Two pods that serve metrics (an exposition with its own `node` label, as the agent's) and one without the
// scrape annotation; the IPv6 pod's address needs brackets.
// (With `node -e`, process.argv[1] is the first argument.)
const METRICS_SERVER = `require("node:http").createServer((q, s) => {
  s.setHeader("content-type", "text/plain; version=0.0.4");
  s.end(q.url === process.argv[1] ? 'wireprobe_agent_healthy{node="' + process.argv[2] + '"} 1\\n' : "");
}).listen(9474, "::")`;

t.test("a real Prometheus runs the scrape job on pod-role targets", async (t) => {
  const lab = await withLab(t, { name: "promsd", ipv6: true });
  const lan = await lab.segment("lan");
  const prom = await lab.host("prom");
  await prom.connect(lan, { address: ["198.51.100.90/24", "2001:db8:1::90/64"] });
  const pods = [
    { name: "a", address: ["198.51.100.21/24"], ip: "198.51.100.21", path: "/metrics" },
    { name: "b", address: ["2001:db8:1::22/64"], ip: "2001:db8:1::22", path: "/probe-metrics" },
    { name: "c", address: ["198.51.100.23/24"], ip: "198.51.100.23", path: "/metrics" },
  ];
  for (const p of pods) {
    const h = await lab.host(p.name);
    await h.connect(lan, { address: p.address });
    h.spawn(process.execPath, ["-e", METRICS_SERVER, p.path, `agent-${p.name}`]);
  }
  const server = new Prometheus(prom, "198.51.100.90:9090");
  t.teardown(() => server.stop());
  await server.start(readFileSync(RULES, "utf8"), [
    {
      ip: "198.51.100.21",
      containerPort: 9474,
      node: "kube-a",
      pod: "wireprobe-a",
      annotations: { "prometheus.io/scrape": "true", "prometheus.io/port": "9474" },
    },
    {
      ip: "2001:db8:1::22",
      containerPort: 8080,
      node: "kube-b",
      pod: "wireprobe-b",
      annotations: {
        "prometheus.io/scrape": "true",
        "prometheus.io/port": "9474",
        "prometheus.io/path": "/probe-metrics",
      },
    },
    { ip: "198.51.100.23", containerPort: 9474, node: "kube-c", pod: "other-c", annotations: {} },
  ]);
  const deadline = Date.now() + 30_000;
  let samples: Awaited<ReturnType<Prometheus["query"]>> = [];
  while (Date.now() < deadline) {
    samples = await server.query("wireprobe_agent_healthy");
    if (samples.length >= 2) break;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  const targets = await server.targets();
  t.comment(JSON.stringify(targets.activeTargets.map((a) => [a.scrapeUrl, a.labels, a.health, a.lastError])));
  t.same(
    targets.activeTargets.map((a) => a.scrapeUrl).sort(),
    ["http://198.51.100.21:9474/metrics", "http://[2001:db8:1::22]:9474/probe-metrics"],
    "the annotated pods at the annotated port and path",
  );
  t.equal(targets.droppedTargets.length, 1, "the pod without the annotation is dropped");
  t.same(
    samples
      .map((s) => {
        const { node, pod, namespace, job, exported_node } = s.metric;
        return { node, pod, namespace, job, exported_node };
      })
      .sort((a, b) => String(a.pod).localeCompare(String(b.pod))),
    [
      {
        node: "agent-a",
        pod: "wireprobe-a",
        namespace: "wireprobe",
        job: "wireprobe",
        exported_node: undefined,
      },
      {
        node: "agent-b",
        pod: "wireprobe-b",
        namespace: "wireprobe",
        job: "wireprobe",
        exported_node: undefined,
      },
    ],
    "the agent's node label kept as it wrote it, the pod and namespace added",
  );
});
