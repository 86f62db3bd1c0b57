// The cluster view end to end: the demo's broken cluster with a fifth node, dual-stack (every failure shows on
// both families), `wireprobe agent` in every node namespace, and a real Prometheus server (Debian's) in the lab scraping them with deploy/prometheus's scrape
// job and evaluating deploy/prometheus/wireprobe-rules.yml (every `for:` set to 0s: a lab cannot wait two
// minutes). Queries through Prometheus's HTTP API name the seed's three failures by node pair and server, and
// the alerts fire; after the lab is repaired (node4 moved onto the nodes segment, the nodePort opened
// everywhere, the DNS servers serving the same records) the same queries come back empty or all 1 and the
// alerts resolve. Every query and its answer is printed (t.comment) for both states.

import { execFile } from "node:child_process";
import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { buildClusterLab, type ClusterLab, NODE_PORT, repairClusterLab } from "../src/demo/cluster-lab";
import type { Host } from "../src/lab";
import { labPrefixOf } from "../src/lab/names";
import { listNamespaces, processAlive } from "../src/lab/netns";
import { BIN } from "./helpers/cli";
import { withLab } from "./helpers/lab";
import { type Alert, type PodTarget, Prometheus, rulesWithFor, type Sample } from "./helpers/prometheus";

t.setTimeout(10 * 60_000);

const AGENT_PORT = 9474;
const PROMETHEUS = "198.51.100.90";
/** how long a state may take to show in Prometheus (agent rounds of 2 s, scrapes and rule evaluation 1 s) */
const SETTLE_MS = 90_000;

const DNS1 = "198.51.100.53";
const DNS2 = "198.51.100.54";
const DNS3 = "198.51.100.55";
const REDIS = "redis.db.svc.cluster.local";

/** A sample in Prometheus's own text form, without the scrape's job/instance/namespace/pod labels. */
function show(s: Sample): string {
  const { __name__: name = "", job: _j, instance: _i, namespace: _n, pod: _p, ...rest } = s.metric;
  const labels = Object.entries(rest)
    .map(([k, v]) => `${k}="${v}"`)
    .join(",");
  return `${name}{${labels}} ${s.value[1]}`;
}

const showAlert = (a: Alert) => `${a.labels.alertname} ${a.state}: ${a.annotations.summary}`;

/** The agent processes, one per node, restartable (node4's after its move). */
class Agents {
  readonly logs = new Map<string, string>();
  readonly #children = new Map<string, ReturnType<Host["spawn"]>>();

  constructor(
    readonly cluster: ClusterLab,
    readonly nodesFile: string,
  ) {}

  /** The node's IPv4 address, where its agent listens. */
  address(node: string): string {
    return this.cluster.namedNodes.find((n) => n.startsWith(`${node}=`))!.split(/[=,]/)[1]!;
  }

  start(node: string): void {
    const host = this.cluster.lab.hosts.get(node)!;
    const child = host.spawn(process.execPath, [
      BIN,
      "agent",
      "--listen",
      `${this.address(node)}:${AGENT_PORT}`,
      "--node-name",
      node,
      "--interval",
      "2s",
      "--nodes-file",
      this.nodesFile,
      "--node-port",
      String(NODE_PORT),
      // The DNS servers themselves: the Service VIP is DNATed in node1 only (the lab has no kube-proxy
      // elsewhere), so from the other nodes it would be an unreachable server of the lab's own making.
      "--dns",
      [DNS1, DNS2, DNS3].join(","),
      "--dns-name",
      this.cluster.dnsNames.join(","),
      "--timeout",
      "300",
    ]);
    this.#children.set(node, child);
    let log = "";
    const keep = (d: Buffer) => {
      log = (log + d.toString()).slice(-3000);
      this.logs.set(node, log);
    };
    child.stdout?.on("data", keep);
    child.stderr?.on("data", keep);
  }

  /** The pids of the agents started so far. */
  pids(): number[] {
    return [...this.#children.values()].flatMap((c) => (c.pid === undefined ? [] : [c.pid]));
  }

  async stop(node: string): Promise<void> {
    const child = this.#children.get(node);
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.kill("SIGTERM");
    await exited;
  }

  /** Each agent as Kubernetes' pod role would list its pod (hostNetwork: the pod IP is the node's). */
  pods(): PodTarget[] {
    return this.cluster.nodeNames.map((node) => ({
      ip: this.address(node),
      containerPort: AGENT_PORT,
      node,
      pod: `wireprobe-agent-${node}`,
      annotations: { "prometheus.io/scrape": "true", "prometheus.io/port": String(AGENT_PORT) },
    }));
  }
}

/** Writes the peers file the way a controller would: atomically (the agents re-read it on change). */
function writeNodesFile(file: string, cluster: ClusterLab): void {
  // One node a line, its two addresses apart: NAME=IPv4 IPv6 (check's -iL format).
  const lines = cluster.namedNodes.map((n) => n.replace(",", " "));
  writeFileSync(`${file}.tmp`, `${lines.join("\n")}\n`);
  renameSync(`${file}.tmp`, file);
}

/** The queries shown for each state, in order: each one's answer goes into the test's output. */
const QUERIES = {
  notAdjacent: "wireprobe_peer_adjacent == 0",
  notAdjacentByFamily: "count by (family) (wireprobe_peer_adjacent == 0)",
  adjacentCount: "count(wireprobe_peer_adjacent == 1)",
  node4Address: 'count by (peer, address, state) (wireprobe_peer_adjacent{peer="node4"})',
  nodePortByPeer: "max by (peer, port, protocol) (wireprobe_nodeport_open)",
  nodePortPartial:
    'count by (peer, port, protocol, state) ((wireprobe_nodeport_open{state!="not-scanned"} == 0) and on (port, protocol) (max by (port, protocol) (wireprobe_nodeport_open) == 1))',
  dnsDisagree:
    "count by (server, name, qtype) (wireprobe_dns_agrees == 0 and ignoring (status) wireprobe_dns_ok == 1)",
  dnsUnreachable: "count by (server, name, qtype, status) (wireprobe_dns_ok == 0)",
  redisDigest: `wireprobe_dns_answer_digest{node="node1",name="${REDIS}"}`,
  verdicts: 'min by (check) (wireprobe_verdict_ok{family="all"})',
} as const;
type QueryName = keyof typeof QUERIES;
type Answers = Record<QueryName, Sample[]>;

async function askAll(prom: Prometheus): Promise<Answers> {
  const out = {} as Answers;
  for (const [k, q] of Object.entries(QUERIES)) out[k as QueryName] = await prom.query(q);
  return out;
}

/** Polls until `ok` accepts the answers (no fixed sleep decides anything); throws with the last ones. */
async function settle<T>(
  what: string,
  read: () => Promise<T>,
  ok: (v: T) => string | null,
  detail: () => string,
): Promise<T> {
  const deadline = Date.now() + SETTLE_MS;
  let last: T | undefined;
  let why = "no answer yet";
  for (;;) {
    try {
      last = await read();
      const problem = ok(last);
      if (problem === null) return last;
      why = problem;
    } catch (err) {
      why = (err as Error).message;
    }
    if (Date.now() > deadline)
      throw new Error(`${what}: not settled after ${SETTLE_MS} ms: ${why}\n${detail()}`);
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}

const sorted = (xs: Iterable<string>) => [...new Set(xs)].sort();
const same = (a: Iterable<string>, b: Iterable<string>) =>
  JSON.stringify(sorted(a)) === JSON.stringify(sorted(b));
const label = (samples: Sample[], key: string) => samples.map((s) => s.metric[key] ?? "");

/** What the first test started, for the second to check it is gone. */
const started = { prefix: "", pids: [] as number[] };

t.test(
  "agents on every node of the broken cluster, a real Prometheus: the failures by node pair and server, and clear after the repair",
  async (t) => {
    const lab = await withLab(t, { name: "prome2e", ipv6: true });
    const cluster = await buildClusterLab("broken", lab, { fifthNode: true, dualStack: true });
    const dir = mkdtempSync(join(tmpdir(), "wireprobe-agents-"));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const nodesFile = join(dir, "nodes.txt");
    writeNodesFile(nodesFile, cluster);

    const promHost = await lab.host("prometheus");
    await promHost.connect(lab.segments.get("nodes")!, { address: `${PROMETHEUS}/24` });
    await promHost.route(["default", "via", "198.51.100.1"]);

    started.prefix = lab.prefix;
    const agents = new Agents(cluster, nodesFile);
    for (const node of cluster.nodeNames) agents.start(node);
    const prom = new Prometheus(promHost, `${PROMETHEUS}:9090`);
    t.teardown(() => prom.stop());
    await prom.start(rulesWithFor("0s"), agents.pods());
    started.pids.push(...agents.pids(), ...prom.pids());
    const detail = () =>
      `prometheus log: ${prom.log}\n${[...agents.logs].map(([n, l]) => `${n} agent log: ${l}`).join("\n")}`;

    const others = (node: string) => cluster.nodeNames.filter((n) => n !== node);
    const targetsUp = async () => (await prom.targets()).activeTargets;
    await settle(
      "every agent scraped",
      targetsUp,
      (ts) =>
        ts.length === 5 && ts.every((x) => x.health === "up")
          ? null
          : JSON.stringify(ts.map((x) => [x.scrapeUrl, x.health, x.lastError])),
      detail,
    );

    // ---- broken ----
    // node4 sits behind the router: not adjacent to any other node, nor they to it.
    const brokenPairs = [
      ...others("node4").map((n) => `${n}→node4`),
      ...others("node4").map((n) => `node4→${n}`),
    ];
    const pairs = (samples: Sample[]) => samples.map((s) => `${s.metric.node}→${s.metric.peer}`);
    const broken = await settle(
      "the broken lab's failures",
      () => askAll(prom),
      (a) => {
        if (!same(pairs(a.notAdjacent), brokenPairs)) return `not adjacent: ${sorted(pairs(a.notAdjacent))}`;
        if (a.notAdjacent.length !== 2 * brokenPairs.length)
          return `not adjacent: ${a.notAdjacent.map(show)}`;
        const open = a.nodePortByPeer.filter((s) => s.value[1] === "1");
        if (!same(label(open, "peer"), ["node2"]) || a.nodePortByPeer.length !== 5)
          return `nodePort by peer: ${a.nodePortByPeer.map(show)}`;
        if (!same(label(a.nodePortPartial, "peer"), ["node1", "node3", "node4", "node5"]))
          return `nodePort partial: ${a.nodePortPartial.map(show)}`;
        if (!same(label(a.dnsDisagree, "server"), [DNS2]) || !same(label(a.dnsDisagree, "name"), [REDIS]))
          return `dns disagree: ${a.dnsDisagree.map(show)}`;
        if (!same(label(a.dnsUnreachable, "server"), [DNS3]))
          return `dns unreachable: ${a.dnsUnreachable.map(show)}`;
        return null;
      },
      detail,
    );
    const brokenAlerts = await settle(
      "the broken lab's alerts firing",
      () => prom.alerts(),
      (alerts) => {
        const firing = (name: string) =>
          alerts.filter((a) => a.state === "firing" && a.labels.alertname === name);
        const adj = firing("WireprobePeerNotAdjacent").map((a) => `${a.labels.node}→${a.labels.peer}`);
        if (!same(adj, brokenPairs) || adj.length !== 2 * brokenPairs.length)
          return `WireprobePeerNotAdjacent: ${sorted(adj)}`;
        const ports = firing("WireprobeNodePortPartial").map((a) => a.labels.peer!);
        if (!same(ports, ["node1", "node3", "node4", "node5"]))
          return `WireprobeNodePortPartial: ${sorted(ports)}`;
        const dis = firing("WireprobeDnsServersDisagree").map((a) => `${a.labels.server} ${a.labels.name}`);
        if (!same(dis, [`${DNS2} ${REDIS}`])) return `WireprobeDnsServersDisagree: ${sorted(dis)}`;
        const unr = firing("WireprobeDnsServerUnreachable").map((a) => a.labels.server!);
        if (!same(unr, [DNS3])) return `WireprobeDnsServerUnreachable: ${sorted(unr)}`;
        const other = alerts.filter((a) => /Agent/.test(a.labels.alertname ?? ""));
        if (other.length) return `agent alerts: ${other.map(showAlert)}`;
        return null;
      },
      detail,
    );

    t.comment("---- broken lab: PromQL through /api/v1/query ----");
    for (const [k, q] of Object.entries(QUERIES)) {
      t.comment(`query: ${q}`);
      for (const s of broken[k as QueryName]) t.comment(`  ${show(s)}`);
      if (broken[k as QueryName].length === 0) t.comment("  (empty)");
    }
    t.comment("---- broken lab: /api/v1/alerts (firing; one line per summary) ----");
    const perAlert = new Map<string, number>();
    for (const a of brokenAlerts)
      perAlert.set(a.labels.alertname!, (perAlert.get(a.labels.alertname!) ?? 0) + 1);
    t.comment(`  counts: ${sorted([...perAlert].map(([name, n]) => `${name} ${n}`)).join(", ")}`);
    for (const line of sorted(brokenAlerts.map(showAlert))) t.comment(`  ${line}`);

    t.same(
      sorted(pairs(broken.notAdjacent)),
      sorted(brokenPairs),
      "not adjacent: node4 and each other node, both ways",
    );
    t.ok(
      broken.notAdjacent.every((s) => s.metric.state === "not-on-link"),
      "state not-on-link: node4 is behind the router",
    );
    t.same(
      sorted(broken.notAdjacentByFamily.map((s) => `${s.metric.family} ${s.value[1]}`)),
      ["ipv4 8", "ipv6 8"],
      "the same 8 pairs on each family (ARP and NDP)",
    );
    t.same(
      sorted(broken.nodePortByPeer.filter((s) => s.value[1] === "1").map((s) => s.metric.peer!)),
      ["node2"],
      "nodePort 30000 answers on node2 only",
    );
    t.same(
      sorted(label(broken.nodePortPartial, "peer")),
      ["node1", "node3", "node4", "node5"],
      "the nodePort partial: the other four nodes, from every agent",
    );
    t.same(
      broken.dnsDisagree.map((s) => [s.metric.server, s.metric.name]),
      [[DNS2, REDIS]],
      "dns2 serves another redis record (the only disagreement of an answering server)",
    );
    t.same(sorted(label(broken.dnsUnreachable, "server")), [DNS3], "dns3 does not answer");
    const digest = (a: Answers) => new Map(a.redisDigest.map((s) => [s.metric.server, s.value[1]]));
    t.not(digest(broken).get(DNS1), digest(broken).get(DNS2), "dns1 and dns2 give different redis digests");
    t.same(
      sorted(brokenAlerts.filter((a) => a.state === "firing").map((a) => a.labels.alertname!)),
      [
        "WireprobeDnsServerUnreachable",
        "WireprobeDnsServersDisagree",
        "WireprobeNodePortPartial",
        "WireprobePeerNotAdjacent",
      ],
      "the four alerts fire",
    );

    // ---- repair ----
    await repairClusterLab(cluster);
    writeNodesFile(nodesFile, cluster);
    // node4's agent listened on its old address, which went with the far segment: it starts again (as a pod
    // does on a node that was moved), and Prometheus's discovery follows the pod IP.
    await agents.stop("node4");
    agents.start("node4");
    started.pids.push(...agents.pids());
    prom.setTargets(agents.pods());

    const repaired = await settle(
      "the repaired lab clear",
      () => askAll(prom),
      (a) => {
        if (a.notAdjacent.length) return `not adjacent: ${a.notAdjacent.map(show)}`;
        if (a.adjacentCount[0]?.value[1] !== "40") return `adjacent: ${a.adjacentCount.map(show)}`;
        if (!same(label(a.node4Address, "address"), ["198.51.100.14", "2001:db8:1::14"]))
          return `node4: ${a.node4Address.map(show)}`;
        if (a.nodePortByPeer.length !== 5 || a.nodePortByPeer.some((s) => s.value[1] !== "1"))
          return `nodePort by peer: ${a.nodePortByPeer.map(show)}`;
        if (a.nodePortPartial.length) return `nodePort partial: ${a.nodePortPartial.map(show)}`;
        if (a.dnsDisagree.length) return `dns disagree: ${a.dnsDisagree.map(show)}`;
        if (a.dnsUnreachable.length) return `dns unreachable: ${a.dnsUnreachable.map(show)}`;
        return null;
      },
      detail,
    );
    const repairedAlerts = await settle(
      "the alerts resolved",
      () => prom.alerts(),
      (alerts) => (alerts.length === 0 ? null : alerts.map(showAlert).join("; ")),
      detail,
    );

    t.comment("---- repaired lab: PromQL through /api/v1/query ----");
    for (const [k, q] of Object.entries(QUERIES)) {
      t.comment(`query: ${q}`);
      for (const s of repaired[k as QueryName]) t.comment(`  ${show(s)}`);
      if (repaired[k as QueryName].length === 0) t.comment("  (empty)");
    }
    t.comment(`---- repaired lab: /api/v1/alerts: ${repairedAlerts.length} alerts ----`);

    t.same(repaired.notAdjacent, [], "every node adjacent to every other");
    t.equal(repaired.adjacentCount[0]?.value[1], "40", "5 nodes × 4 peers × 2 families adjacent");
    t.same(
      repaired.node4Address
        .map((s) => [s.metric.address, s.metric.state, s.value[1]])
        .sort((a, b) => String(a[0]).localeCompare(String(b[0]))),
      [
        ["198.51.100.14", "reply", "4"],
        ["2001:db8:1::14", "reply", "4"],
      ],
      "the agents read node4's new address from the rewritten nodes file",
    );
    t.ok(
      repaired.nodePortByPeer.length === 5 && repaired.nodePortByPeer.every((s) => s.value[1] === "1"),
      "nodePort 30000 answers on every node",
    );
    t.same(repaired.dnsDisagree, [], "the DNS servers agree");
    t.same(repaired.dnsUnreachable, [], "every DNS server answers");
    t.equal(
      digest(repaired).get(DNS1),
      digest(repaired).get(DNS2),
      "dns1 and dns2 give the same redis digest",
    );
    t.same(repairedAlerts, [], "no alert left");

    // The repaired lab is a healthy cluster for `wireprobe check` too, the three hidden failures included.
    const r = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      const args = [
        ...["check", "--netns", cluster.node.ns, "--nodes", cluster.nodes.join(",")],
        ...["--node-port", String(NODE_PORT), "--dns", cluster.dnsServers.join(",")],
        ...["--dns-name", cluster.dnsNames.join(","), "--external", cluster.external.join(",")],
        ...["--mtu", "--overlay", cluster.overlay, "--routes", "--dns-race", String(cluster.dnsRace)],
        ...["--timeout", "500", "--json"],
      ];
      execFile(process.execPath, [BIN, ...args], { timeout: 120_000 }, (err, stdout, stderr) => {
        const code = err ? (err as { code?: number }).code : 0;
        resolve({ code: typeof code === "number" ? code : -1, stdout, stderr });
      });
    });
    const verdicts = r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { type: string; check?: string; ok?: boolean; detail?: string })
      .filter((x) => x.type === "verdict");
    t.same(
      verdicts.map((v) => [v.check, v.ok]),
      ["host-gw", "nodeport", "dns", "mtu", "routes"].map((c) => [c, true]),
      `wireprobe check in the repaired lab: every verdict ok (${verdicts.filter((v) => !v.ok).map((v) => v.detail)})`,
    );
    t.equal(r.code, 0, `check exits 0 ${r.stderr}`);

    // ---- an agent dies ----
    // Its series go stale with it, so only Prometheus's own `up` can tell: WireprobeAgentDown names its node,
    // and no alert on the agent's metrics (AgentStale, AgentUnhealthy) fires, for want of series.
    await agents.stop("node5");
    const down = await settle(
      "node5's agent reported down",
      () => prom.alerts(),
      (alerts) =>
        alerts.some((a) => a.state === "firing" && a.labels.alertname === "WireprobeAgentDown")
          ? null
          : `alerts: ${alerts.map(showAlert).join("; ") || "none"}`,
      detail,
    );
    t.comment("---- node5's agent stopped: /api/v1/alerts ----");
    for (const a of down) t.comment(`  ${showAlert(a)}`);
    t.same(
      down.map((a) => [a.labels.alertname, a.labels.node, a.state]),
      [["WireprobeAgentDown", "node5", "firing"]],
      "WireprobeAgentDown names node5, and it is the only alert",
    );
    const upNow = await prom.query('up{job="wireprobe"} == 0');
    t.same(label(upNow, "node"), ["node5"], "up == 0 for node5's target only");
  },
);

t.test("nothing left behind: the agents, Prometheus and the lab's namespaces are gone", async (t) => {
  t.not(started.prefix, "", "the first test built its lab");
  t.same(
    listNamespaces().filter((ns) => labPrefixOf(ns) === started.prefix),
    [],
    "no namespace of the lab",
  );
  t.same(
    started.pids.filter((pid) => processAlive(pid)),
    [],
    `no process of the ${started.pids.length} agents and Prometheus`,
  );
});
