// A real Prometheus server (Debian's `prometheus`) inside a lab namespace, for the agent's end-to-end tests:
// it scrapes with deploy/prometheus/scrape-config.yml's job (its pod-role discovery stood in by a file of
// targets that carry the labels the pod role would give: Debian builds Prometheus without Kubernetes service
// discovery), evaluates deploy/prometheus/wireprobe-rules.yml, and answers its HTTP API through curl run in
// the same namespace.

import type { ChildProcess } from "node:child_process";
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse, stringify } from "yaml";
import type { Host } from "../../src/lab";

export const DEPLOY = join(__dirname, "..", "..", "deploy", "prometheus");
export const RULES = join(DEPLOY, "wireprobe-rules.yml");
export const SCRAPE_CONFIG = join(DEPLOY, "scrape-config.yml");

interface Rule {
  alert?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
interface RuleFile {
  groups: { name: string; rules: Rule[] }[];
}

/** The rules file with every `for:` replaced (a lab cannot wait 2 minutes for an alert to fire). */
export function rulesWithFor(forDuration: string): string {
  const doc = parse(readFileSync(RULES, "utf8")) as RuleFile;
  for (const g of doc.groups) for (const r of g.rules) if (r.for !== undefined) r.for = forDuration;
  return stringify(doc);
}

/** A pod as Kubernetes' pod-role discovery would list it: the labels the scrape job's relabeling reads. */
export interface PodTarget {
  /** the pod's IP (with hostNetwork, the node's address) */
  ip: string;
  /** its declared container port (the pod role's target address is IP:port) */
  containerPort: number;
  node: string;
  pod: string;
  namespace?: string;
  /** the pod's annotations (prometheus.io/scrape, prometheus.io/port, prometheus.io/path) */
  annotations: Record<string, string>;
}

const hostPort = (ip: string, port: number) => (ip.includes(":") ? `[${ip}]:${port}` : `${ip}:${port}`);
const annotationLabel = (name: string) =>
  `__meta_kubernetes_pod_annotation_${name.replace(/[^a-zA-Z0-9_]/g, "_")}`;

/** file_sd target groups shaped like the pod role's targets. */
export function podTargets(pods: readonly PodTarget[]): unknown[] {
  return pods.map((p) => ({
    targets: [hostPort(p.ip, p.containerPort)],
    labels: {
      __meta_kubernetes_pod_ip: p.ip,
      __meta_kubernetes_pod_name: p.pod,
      __meta_kubernetes_namespace: p.namespace ?? "wireprobe",
      __meta_kubernetes_pod_node_name: p.node,
      __meta_kubernetes_pod_container_port_number: String(p.containerPort),
      ...Object.fromEntries(Object.entries(p.annotations).map(([k, v]) => [annotationLabel(k), v])),
    },
  }));
}

/** The prometheus.yml: the deploy scrape job on a file of pod targets, the given intervals and rule file. */
export function prometheusConfig(targetsFile: string, rulesFile: string, interval = "1s"): string {
  const deploy = parse(readFileSync(SCRAPE_CONFIG, "utf8")) as { scrape_configs: Record<string, unknown>[] };
  const jobs = deploy.scrape_configs.map((job) => {
    const { kubernetes_sd_configs: _, ...rest } = job;
    return {
      ...rest,
      scrape_interval: interval,
      scrape_timeout: interval,
      file_sd_configs: [{ files: [targetsFile], refresh_interval: "1s" }],
    };
  });
  return stringify({
    global: { scrape_interval: interval, evaluation_interval: interval },
    rule_files: [rulesFile],
    scrape_configs: jobs,
  });
}

/** Instant vector sample of /api/v1/query. */
export interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

/** An alert of /api/v1/alerts. */
export interface Alert {
  labels: Record<string, string>;
  annotations: Record<string, string>;
  state: "pending" | "firing";
  value: string;
}

/** A Prometheus server in a lab host; stop() ends it and removes its files. */
export class Prometheus {
  readonly dir: string;
  readonly targetsFile: string;
  readonly url: string;
  #child: ChildProcess | null = null;
  #log = "";

  constructor(
    readonly host: Host,
    readonly listen: string,
  ) {
    this.dir = mkdtempSync(join(tmpdir(), "wireprobe-prom-"));
    this.targetsFile = join(this.dir, "targets.json");
    this.url = `http://${listen}`;
  }

  /** Writes the pod targets (atomically: discovery must never read half a file). */
  setTargets(pods: readonly PodTarget[]): void {
    const tmp = `${this.targetsFile}.tmp`;
    writeFileSync(tmp, JSON.stringify(podTargets(pods), null, 2));
    renameSync(tmp, this.targetsFile);
  }

  /** Starts the server on the rules text given and waits until it is ready. */
  async start(rules: string, pods: readonly PodTarget[], interval = "1s"): Promise<void> {
    const rulesFile = join(this.dir, "wireprobe-rules.yml");
    writeFileSync(rulesFile, rules);
    this.setTargets(pods);
    const config = join(this.dir, "prometheus.yml");
    writeFileSync(config, prometheusConfig(this.targetsFile, rulesFile, interval));
    const child = this.host.spawn("prometheus", [
      `--config.file=${config}`,
      `--storage.tsdb.path=${join(this.dir, "data")}`,
      `--web.listen-address=${this.listen}`,
      "--log.level=warn",
    ]);
    this.#child = child;
    child.stdout?.on("data", (d: Buffer) => this.#keepLog(d));
    child.stderr?.on("data", (d: Buffer) => this.#keepLog(d));
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (child.exitCode !== null) throw new Error(`prometheus exited (${child.exitCode}): ${this.#log}`);
      const r = await this.host.exec("curl", ["-sf", "--max-time", "2", `${this.url}/-/ready`], {
        reject: false,
      });
      if (r.code === 0) return;
      if (Date.now() > deadline) throw new Error(`prometheus not ready after 30 s: ${this.#log}`);
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }

  #keepLog(d: Buffer): void {
    this.#log = (this.#log + d.toString()).slice(-4000);
  }

  /** The server's pid (while it runs). */
  pids(): number[] {
    return this.#child?.pid === undefined ? [] : [this.#child.pid];
  }

  /** The server's latest log lines (warnings and errors). */
  get log(): string {
    return this.#log;
  }

  async #get(path: string, params: Record<string, string> = {}): Promise<unknown> {
    const args = ["-sS", "--fail-with-body", "--max-time", "5", "-G", `${this.url}${path}`];
    for (const [k, v] of Object.entries(params)) args.push("--data-urlencode", `${k}=${v}`);
    const r = await this.host.exec("curl", args, { reject: false });
    if (r.code !== 0)
      throw new Error(`GET ${path} ${JSON.stringify(params)}: ${r.stderr.trim()} ${r.stdout}`);
    const body = JSON.parse(r.stdout) as { status: string; data: unknown; error?: string };
    if (body.status !== "success") throw new Error(`GET ${path}: ${body.error}`);
    return body.data;
  }

  /** An instant query (/api/v1/query): the samples of a vector result. */
  async query(promql: string): Promise<Sample[]> {
    const data = (await this.#get("/api/v1/query", { query: promql })) as {
      resultType: string;
      result: Sample[];
    };
    if (data.resultType !== "vector") throw new Error(`${promql}: a ${data.resultType}, not a vector`);
    return data.result;
  }

  /** The alerts, pending and firing (/api/v1/alerts). */
  async alerts(): Promise<Alert[]> {
    return ((await this.#get("/api/v1/alerts")) as { alerts: Alert[] }).alerts;
  }

  /** The scrape targets (/api/v1/targets): active ones with their labels and health, and dropped ones. */
  async targets(): Promise<{
    activeTargets: { labels: Record<string, string>; scrapeUrl: string; health: string; lastError: string }[];
    droppedTargets: { discoveredLabels: Record<string, string> }[];
  }> {
    return (await this.#get("/api/v1/targets")) as never;
  }

  /** Ends the server (SIGTERM, then SIGKILL after 5 s) and removes its files. */
  async stop(): Promise<void> {
    const child = this.#child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
