// `wireprobe agent` end to end, in a lab: an agent in a lab namespace against a node that answers, one behind a
// router and one that is silent, scraped with curl inside the namespace. Its metrics say what `wireprobe check
// --json` says for the same lab; /results, /healthz, 405 and 404; peers from a DNS name with more records than
// --max-peers (capped, counted, logged) and some outside --peer-networks (refused); the node file read again
// when it changes; an agent that cannot probe (uid 65534; its interface deleted) is unhealthy and keeps
// serving; rounds longer than the interval do not overlap, the next is counted late; SIGTERM ends it, exit 0.

import { type ChildProcess, execFile } from "node:child_process";
import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import type { AgentRound } from "../src/agent/agent";
import type { Host, Lab } from "../src/lab";
import type { WireprobeRecord } from "../src/records";
import { AS_NOBODY, BIN, unprivilegedBin } from "./helpers/cli";
import { startDnsmasq } from "./helpers/dns-lab";
import { withLab } from "./helpers/lab";

// several agents, each for a few rounds: over tap's default of two minutes on a loaded machine
t.setTimeout(5 * 60_000);

const A = "198.51.100.11"; // the agent's node
const B = "198.51.100.12"; // answers: ARP, nodePort 30000, DNS
const SILENT = "198.51.100.13"; // nobody
const FAR = "203.0.113.14"; // behind the router: not on-link, nodePort 30000 open
const C = "198.51.100.21"; // a second agent node, whose interface goes away
const PORT = 30000;
const NAME = "kubernetes.default.svc.cluster.local";
const PEERS = "peers.wireprobe.lab";
// the DNS name's peers: 12 in 198.51.100.0/24, 2 outside it, a loopback, and AAAA records
const PEER_A = [B, SILENT, ...Array.from({ length: 10 }, (_, i) => `198.51.100.${30 + i}`)];
const PEER_OUTSIDE = ["203.0.113.50", "203.0.113.51"];
const PEER_AAAA = ["2001:db8::12", "::1"];

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of a Prometheus text exposition (enough of the format for prom-client's output). */
function parseMetrics(text: string): Sample[] {
  const out: Sample[] = [];
  for (const line of text.split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m) throw new Error(`bad exposition line: ${line}`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? "").matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[l[1]!] = l[2]!;
    out.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return out;
}

const pick = (samples: Sample[], name: string, labels: Record<string, string> = {}) =>
  samples.filter((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v));
const value = (samples: Sample[], name: string, labels: Record<string, string> = {}) =>
  pick(samples, name, labels).reduce((n, s) => n + s.value, 0);

/** curl inside the namespace: status, headers and body. */
async function curl(host: Host, url: string, extra: string[] = []) {
  const r = await host.exec("curl", ["-s", "-S", "-i", "--max-time", "10", ...extra, url]);
  const [head, ...rest] = r.stdout.split("\r\n\r\n");
  return { status: Number(/^HTTP\/\S+ (\d+)/.exec(head!)![1]), head: head!, body: rest.join("\r\n\r\n") };
}

interface RunningAgent {
  child: ChildProcess;
  stderr(): string;
  url: string;
  exited: Promise<number | null>;
}

/** Starts `wireprobe agent` in `host` with a 127.0.0.1 port (the default 9474 unless `port`). */
function startAgent(host: Host, args: string[], port?: number, asNobody = false): RunningAgent {
  const listen = port === undefined ? [] : ["--listen", `127.0.0.1:${port}`];
  // as uid 65534: AS_NOBODY clears the test runner's NODE_OPTIONS (its loaders live in the checkout, which
  // that user cannot read when the clone is in a 0700 directory)
  const [cmd, ...pre] = asNobody
    ? [...AS_NOBODY, process.execPath, unprivilegedBin()]
    : [process.execPath, BIN];
  const child = host.spawn(cmd, [...pre, "agent", ...listen, ...args], {
    stdio: ["ignore", "ignore", "pipe"],
  });
  let err = "";
  child.stderr!.setEncoding("utf8");
  child.stderr!.on("data", (c: string) => {
    err += c;
  });
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  return { child, stderr: () => err, url: `http://127.0.0.1:${port ?? 9474}`, exited };
}

/** Polls until `probe` returns a value (not undefined); fails with what the agent said after `ms`. */
async function waitFor<T>(
  what: string,
  agent: RunningAgent,
  probe: () => Promise<T | undefined>,
  ms = 60_000,
) {
  const deadline = Date.now() + ms;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline)
      throw new Error(`timed out waiting for ${what}; agent said:\n${agent.stderr()}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function results(
  host: Host,
  agent: RunningAgent,
): Promise<{ round: AgentRound | null; unhealthy: string | null }> {
  return JSON.parse((await curl(host, `${agent.url}/results`)).body);
}

/** Waits for round `n` to have ended; returns it. */
const roundDone = (host: Host, agent: RunningAgent, n: number) =>
  waitFor(`round ${n}`, agent, async () => {
    const r = (await results(host, agent)).round;
    return r !== null && r.round >= n ? r : undefined;
  });

const metricsOf = async (host: Host, agent: RunningAgent) =>
  parseMetrics((await curl(host, `${agent.url}/metrics`)).body);

/** Stops the agent with SIGTERM; resolves to its exit code. */
async function stop(agent: RunningAgent): Promise<number | null> {
  agent.child.kill("SIGTERM");
  return agent.exited;
}

function cli(host: Host, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      "ip",
      ["netns", "exec", host.ns, process.execPath, BIN, ...args],
      { timeout: 120_000, maxBuffer: 64 << 20 },
      (err, stdout, stderr) => {
        const code = err ? (err as { code?: number }).code : 0;
        resolve({ code: typeof code === "number" ? code : -1, stdout, stderr });
      },
    );
  });
}

function listenTcp(host: Host, port: number): void {
  host.spawn(process.execPath, [
    "-e",
    `require("node:net").createServer((s) => { s.on("error", () => {}); s.end(); }).listen(${port}, "0.0.0.0")`,
  ]);
}

async function waitForTcp(host: Host, port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const r = await host.exec("ss", ["-Hltn", `sport = :${port}`], { reject: false });
    if (r.stdout.trim() !== "") return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`nothing listens on tcp/${port} in ${host.ns}`);
}

let lab: Lab;
let a: Host;
let c: Host;

t.before(async () => {
  lab = await withLab(t, "agent");
  const lan = await lab.segment("lan");
  const far = await lab.segment("far");
  await lab.router("r", [
    [lan, "198.51.100.1/24"],
    [far, "203.0.113.1/24"],
  ]);
  a = await lab.host("a");
  await a.connect(lan, { address: `${A}/24` });
  await a.addRoute("203.0.113.0/24", "198.51.100.1");
  const b = await lab.host("b");
  await b.connect(lan, { address: `${B}/24` });
  const f = await lab.host("far");
  await f.connect(far, { address: `${FAR}/24` });
  await f.addRoute("default", "203.0.113.1");
  c = await lab.host("c");
  await c.connect(lan, { address: `${C}/24` });
  for (const h of [b, f]) listenTcp(h, PORT);
  await startDnsmasq(b, B, [
    `--host-record=${NAME},198.18.1.1`,
    ...[...PEER_A, ...PEER_OUTSIDE, ...PEER_AAAA].map((ip) => `--host-record=${PEERS},${ip}`),
  ]);
  await waitForTcp(b, PORT);
  await waitForTcp(f, PORT);
});

t.test("the metrics say what check --json says; the HTTP server is read-only", async (t) => {
  const nodes = `${SILENT},node-a=${A},node-b=${B},node-far=${FAR}`;
  const common = ["--nodes", nodes, "--node-port", String(PORT), "--dns", B, "--timeout", "300"];
  const agent = startAgent(a, [...common, "--interval", "1s", "--node-name", "node-a"]);
  t.teardown(() => agent.child.kill("SIGKILL"));
  const round = await roundDone(a, agent, 2);
  const samples = await metricsOf(a, agent);
  const check = await cli(a, ["check", "--json", ...common]);
  t.equal(check.code, 1, "the check fails (node-far not on-link, the silent node)");
  const records = check.stdout
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as WireprobeRecord);

  t.ok(
    samples.every((s) => s.labels.node === "node-a"),
    "every series has node=node-a",
  );
  // adjacency: one series per peer address, the state check's arp record has; the agent's own address none
  const arp = records.filter((r) => r.type === "arp");
  t.equal(arp.length, 4);
  for (const r of arp) {
    const series = pick(samples, "wireprobe_peer_adjacent", { address: r.target });
    if (r.state === "local") {
      t.same(series, [], `${r.target} is the agent's own: no adjacency series`);
      continue;
    }
    t.equal(series.length, 1, `one series for ${r.target}`);
    t.equal(series[0]?.labels.state, r.state, `${r.target}: ${r.state}`);
    t.equal(series[0]?.value, r.state === "reply" && !r.conflict ? 1 : 0);
  }
  t.same(
    pick(samples, "wireprobe_peer_adjacent", { state: "reply" }).map((s) => s.labels.peer),
    ["node-b"],
    "the peer label is the node's name",
  );
  t.equal(pick(samples, "wireprobe_peer_rtt_seconds", { peer: "node-b" }).length, 1, "an RTT with the reply");
  // nodePorts: the port records' states, and down for the silent node (a host record)
  const ports = records.filter((r) => r.type === "port");
  for (const r of ports) {
    const s = pick(samples, "wireprobe_nodeport_open", {
      address: r.target,
      port: String(PORT),
      protocol: "tcp",
    });
    t.same(
      s.map((x) => [x.labels.state, x.value]),
      [[r.state, r.state === "open" ? 1 : 0]],
      `${r.target}:${PORT} ${r.state}`,
    );
  }
  for (const h of records.filter((r) => r.type === "host")) {
    t.same(
      pick(samples, "wireprobe_nodeport_open", { address: h.target }).map((x) => [x.labels.state, x.value]),
      [["down", 0]],
      `${h.target} down`,
    );
  }
  t.equal(
    pick(samples, "wireprobe_nodeport_open", { address: FAR, state: "open" })[0]?.value,
    1,
    "open behind the router",
  );
  // DNS
  for (const r of records.filter((x) => x.type === "dns")) {
    t.same(
      pick(samples, "wireprobe_dns_ok", { server: r.server, name: r.name, qtype: r.qtype }).map((s) => [
        s.labels.status,
        s.value,
      ]),
      [[r.status, r.status === "ok" ? 1 : 0]],
      `dns ${r.server} ${r.status}`,
    );
  }
  t.equal(pick(samples, "wireprobe_dns_answer_digest", { server: B }).length, 1);
  // verdicts
  for (const v of records.filter((r) => r.type === "verdict")) {
    t.equal(
      value(samples, "wireprobe_verdict_ok", { check: v.check, family: "all" }),
      v.ok ? 1 : 0,
      `verdict ${v.check}`,
    );
    t.equal(value(samples, "wireprobe_verdict_complete", { check: v.check }), v.complete ? 1 : 0);
  }
  t.ok(value(samples, "wireprobe_probe_packets_sent_total", { probe: "arp" }) > 0, "arp packets counted");
  t.ok(value(samples, "wireprobe_rounds_total", { outcome: "ok" }) >= 2);
  t.equal(value(samples, "wireprobe_agent_healthy"), 1);
  t.equal(value(samples, "wireprobe_peers", { source: "nodes" }), 4);
  t.ok(value(samples, "wireprobe_last_round_timestamp_seconds") > Date.now() / 1000 - 600);
  t.ok(pick(samples, "process_resident_memory_bytes").length === 1, "prom-client's default metrics");

  // /results: the latest round and its check result
  t.equal(round.outcome, "ok");
  t.same(
    round.peers.map((p) => p.address),
    [SILENT, A, B, FAR],
  );
  t.same(
    round.result?.verdicts.map((v) => [v.check, v.ok]),
    records.filter((r) => r.type === "verdict").map((v) => [v.check, v.ok]),
  );
  const healthz = await curl(a, `${agent.url}/healthz`);
  t.same([healthz.status, healthz.body], [200, "ok\n"]);
  t.equal((await curl(a, `${agent.url}/metrics?x=1`)).status, 200, "a query string is ignored");
  const head = await curl(a, `${agent.url}/metrics`, ["-I"]);
  t.same([head.status, head.body], [200, ""], "HEAD: headers only");
  t.match(head.head, /content-type: text\/plain; version=0\.0\.4/i);
  const post = await curl(a, `${agent.url}/metrics`, ["-X", "POST", "-d", "x=1"]);
  t.equal(post.status, 405);
  t.match(post.head, /allow: GET, HEAD/i);
  t.equal((await curl(a, `${agent.url}/healthz`, ["-X", "DELETE"])).status, 405);
  t.equal((await curl(a, `${agent.url}/nope`)).status, 404);
  t.equal((await curl(a, `${agent.url}/`)).status, 404);

  t.equal(await stop(agent), 0, "SIGTERM: exit 0");
  t.match(agent.stderr(), /stopped/);
  t.notMatch(agent.stderr(), /\n\s+at /, "no stack trace");
});

t.test(
  "--peers-dns: capped at --max-peers, outside --peer-networks refused, counted and logged",
  async (t) => {
    const agent = startAgent(
      a,
      [
        ...["--peers-dns", PEERS, "--peers-dns-server", B, "--max-peers", "4"],
        ...[
          "--peer-networks",
          "198.51.100.0/24,2001:db8::/32",
          "--dns",
          B,
          "--timeout",
          "200",
          "--interval",
          "1s",
        ],
      ],
      9475,
    );
    t.teardown(() => agent.child.kill("SIGKILL"));
    const round = await roundDone(a, agent, 1);
    const samples = await metricsOf(a, agent);
    t.equal(round.outcome, "ok", round.error ?? "");
    t.equal(value(samples, "wireprobe_peers", { source: "dns" }), 4, "4 peers in use");
    t.equal(round.peers.length, 4);
    t.ok(
      round.peers.every((p) => p.source === "dns" && p.address.startsWith("198.51.100.")),
      "all inside the networks, the IPv4 ones first",
    );
    // per round: 12 + 1 in the networks, 4 used → 9 cut; 2 outside; ::1 a bad address. Counted each round
    // when the peers are gathered, at its start: the round under way may have counted already.
    const rounds = value(samples, "wireprobe_rounds_total", { outcome: "ok" });
    const lookups = value(samples, "wireprobe_peers_refused_total", { source: "dns", reason: "bad-address" });
    t.ok(lookups === rounds || lookups === rounds + 1, `${lookups} lookups, ${rounds} rounds ended`);
    t.equal(value(samples, "wireprobe_peers_refused_total", { source: "dns", reason: "cap" }), 9 * lookups);
    t.equal(
      value(samples, "wireprobe_peers_refused_total", { source: "dns", reason: "outside-networks" }),
      2 * lookups,
    );
    t.same(
      round.refused.filter((r) => r.reason !== "cap").map((r) => r.detail.split(": ")[0]),
      ["203.0.113.50", "203.0.113.51", "::1"],
    );
    t.match(agent.stderr(), /peers refused \(dns cap\): 9 - beyond --max-peers 4/);
    t.match(
      agent.stderr(),
      /peers refused \(dns outside-networks\): 2 - 203\.0\.113\.50: outside --peer-networks/,
    );
    t.match(agent.stderr(), /peers refused \(dns bad-address\): 1 - ::1: loopback/);
    t.equal(await stop(agent), 0);
  },
);

t.test("--nodes-file: read again when it changes; bad lines refused", async (t) => {
  const dir = mkdtempSync(join(tmpdir(), "wireprobe-agent-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const file = join(dir, "nodes");
  writeFileSync(file, `node-b=${B}\nnot-an-address\n`);
  const agent = startAgent(
    a,
    ["--nodes-file", file, "--dns", B, "--timeout", "200", "--interval", "1s"],
    9476,
  );
  t.teardown(() => agent.child.kill("SIGKILL"));
  const first = await roundDone(a, agent, 1);
  t.same(
    first.peers.map((p) => p.address),
    [B],
  );
  let samples = await metricsOf(a, agent);
  t.ok(value(samples, "wireprobe_peers_refused_total", { source: "file", reason: "malformed" }) >= 1);
  t.match(agent.stderr(), /peers refused \(file malformed\): 1 - line 2: /);
  t.same(pick(samples, "wireprobe_peer_adjacent", { address: SILENT }), []);
  // replaced as a ConfigMap's volume is: a new file renamed over the old
  const before = (await results(a, agent)).round!.round;
  writeFileSync(`${file}.new`, `node-b=${B}\n${SILENT}\n`);
  renameSync(`${file}.new`, file);
  const seen = await waitFor("the new peer", agent, async () => {
    const r = (await results(a, agent)).round!;
    return r.peers.some((p) => p.address === SILENT) ? r : undefined;
  });
  t.ok(seen.round <= before + 2, `in the next round (${seen.round} after ${before})`);
  samples = await metricsOf(a, agent);
  t.same(
    pick(samples, "wireprobe_peer_adjacent", { address: SILENT }).map((s) => s.labels.state),
    ["no-reply"],
    "the added peer is in the metrics",
  );
  t.equal(value(samples, "wireprobe_peers", { source: "file" }), 2);
  t.equal(await stop(agent), 0);
});

t.test("an agent that cannot probe is unhealthy and keeps serving", async (t) => {
  t.test("as uid 65534", async (t) => {
    const agent = startAgent(
      a,
      ["--nodes", B, "--dns", B, "--timeout", "200", "--interval", "1s"],
      9477,
      true,
    );
    t.teardown(() => agent.child.kill("SIGKILL"));
    const round = await roundDone(a, agent, 2);
    t.equal(round.outcome, "failed");
    t.equal(round.errorKind, "privilege");
    const healthz = await curl(a, `${agent.url}/healthz`);
    t.equal(healthz.status, 503);
    t.match(healthz.body, /^cannot probe \(privilege\): .*(root|CAP_NET_RAW).*\n$/);
    const samples = await metricsOf(a, agent);
    t.equal(value(samples, "wireprobe_agent_healthy"), 0);
    t.ok(value(samples, "wireprobe_agent_errors_total", { kind: "privilege" }) >= 2, "counted each round");
    t.ok(value(samples, "wireprobe_rounds_total", { outcome: "failed" }) >= 2, "and it keeps trying");
    t.same(pick(samples, "wireprobe_peer_adjacent"), [], "a failed round leaves no adjacency series");
    t.equal(await stop(agent), 0);
    t.equal(agent.stderr().match(/cannot probe/g)?.length, 1, "logged once, not every round");
  });

  t.test("its interface deleted", async (t) => {
    const agent = startAgent(
      c,
      ["--nodes", B, "--dns", B, "-i", "eth0", "--timeout", "200", "--interval", "1s"],
      9478,
    );
    t.teardown(() => agent.child.kill("SIGKILL"));
    const ok = await roundDone(c, agent, 1);
    t.equal(ok.outcome, "ok", ok.error ?? "");
    t.equal((await curl(c, `${agent.url}/healthz`)).status, 200);
    await c.ip(["link", "del", "eth0"]);
    const bad = await waitFor("an unhealthy round", agent, async () => {
      const r = await results(c, agent);
      return r.unhealthy !== null ? r : undefined;
    });
    t.equal(bad.round?.errorKind, "interface");
    const healthz = await curl(c, `${agent.url}/healthz`);
    t.equal(healthz.status, 503);
    t.match(healthz.body, /cannot probe \(interface\): .*eth0/);
    const samples = await metricsOf(c, agent);
    t.equal(value(samples, "wireprobe_agent_healthy"), 0);
    t.ok(value(samples, "wireprobe_agent_errors_total", { kind: "interface" }) >= 1);
    t.equal(await stop(agent), 0);
  });
});

t.test("rounds longer than the interval do not overlap: the next one is late", async (t) => {
  // The silent node: two ARP attempts of 1.5 s each, a round of 3 s against an interval of 500 ms.
  const agent = startAgent(
    a,
    ["--nodes", SILENT, "--dns", B, "--timeout", "1500", "--interval", "500ms"],
    9479,
  );
  t.teardown(() => agent.child.kill("SIGKILL"));
  const third = await roundDone(a, agent, 3);
  const samples = await metricsOf(a, agent);
  t.ok(third.late, "round 3 started late");
  const ok = value(samples, "wireprobe_rounds_total", { outcome: "ok" });
  t.ok(
    value(samples, "wireprobe_rounds_total", { outcome: "late" }) >= ok - 1,
    "every round after the first is late",
  );
  t.ok(value(samples, "wireprobe_round_duration_seconds") > 0.5, "a round takes longer than the interval");
  // no overlap: the next round started after this one ended
  const fourth = await roundDone(a, agent, 4);
  t.equal(fourth.round, 4);
  t.ok(Date.parse(fourth.startedAt) >= Date.parse(third.endedAt), "round 4 started after round 3 ended");
  t.match(agent.stderr(), /round 2 started late: the previous round overran the 500 ms interval/);
  t.equal(await stop(agent), 0);
});

t.test("bad options: one line, exit 2", async (t) => {
  for (const args of [
    ["--nodes", B, "--interval", "30"],
    ["--nodes", B, "--listen", "nowhere"],
    ["--nodes", B, "--peer-networks", "198.51.100.0/40"],
    ["--nodes", "198.51.100.300"],
    ["--interval", "30s"],
    ["--nodes", B, "--max-rate", "0"],
  ]) {
    const r = await cli(a, ["agent", ...args]);
    t.equal(r.code, 2, args.join(" "));
    t.match(r.stderr, /^wireprobe: [^\n]+\n$/, r.stderr);
  }
});
