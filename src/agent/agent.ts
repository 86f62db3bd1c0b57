import type { Server } from "node:http";
import { hostname } from "node:os";
import type { Registry } from "prom-client";
import { parseIp } from "../addr/ip";
import { TargetSet } from "../addr/target-set";
import { type CheckOptions, type CheckResult, check } from "../check/check";
import { type NodePortSpec, normalizeNodePorts } from "../check/nodes";
import { UsageError } from "../errors";
import { dns } from "../probes/dns/dns";
import type { DnsRecord } from "../records";
import { DEFAULT_LISTEN, type ListenAddress, parseListen, startServer } from "./http";
import { AgentMetrics, type ErrorKind, type PeerSource } from "./metrics";
import {
  DEFAULT_MAX_PEERS,
  NodesFile,
  nodesOptionEntries,
  type PeerEntry,
  type PeerSelection,
  parseNetworks,
  selectPeers,
  summarizeRefusals,
} from "./peers";
import { DEFAULT_JITTER, Schedule } from "./schedule";

// The agent (`wireprobe agent`, startAgent): check() in rounds, for as long as it runs, with Prometheus
// metrics and the latest results over a read-only HTTP server. One round at a time (schedule.ts decides
// when); each round gathers its peers (peers.ts), runs the check with its packets paced, and turns the result
// into metrics (metrics.ts). A round that cannot probe (no privilege, the interface or namespace gone) makes
// the agent unhealthy (/healthz 503 with the reason, wireprobe_agent_healthy 0), and the agent keeps serving
// and trying: the next round may succeed.

/** The default --interval: 30 s. */
export const DEFAULT_INTERVAL_MS = 30_000;
/** The default --max-rate: 200 packets per second, every probe of a round together. */
export const DEFAULT_MAX_RATE = 200;

/**
 * Options of {@link startAgent}: where the peers come from, what each round checks besides them (as
 * {@link CheckOptions}), how often, and where to serve the metrics.
 *
 * @example
 * ```ts
 * import { type AgentOptions, startAgent } from "wireprobe";
 *
 * const options: AgentOptions = {
 *   nodeName: "node1",
 *   peersDns: "wireprobe.kube-system.svc.cluster.local",
 *   peerNetworks: ["198.51.100.0/24", "2001:db8::/64"],
 *   nodePorts: [30080],
 *   dnsNames: ["kubernetes.default.svc.cluster.local"],
 *   intervalMs: 30_000,
 *   maxRate: 200,
 *   listen: "0.0.0.0:9474",
 * };
 * const agent = await startAgent(options);
 * process.on("SIGTERM", () => void agent.stop());
 * ```
 */
export interface AgentOptions
  extends Pick<
    CheckOptions,
    | "nodePorts"
    | "dnsServers"
    | "dnsNames"
    | "external"
    | "netns"
    | "interface"
    | "timeoutMs"
    | "resolvConf"
    | "routes"
    | "mtu"
    | "expectMtu"
  > {
  /** the `node` label of every metric (default: env NODE_NAME, else the host name) */
  nodeName?: string;
  /** peers as check's `nodes` strings: addresses, CIDRs, ranges, `NAME=ADDR` (comma-separated words allowed) */
  nodes?: readonly string[];
  /** a node list file (check's -iL format), read again when it changes (inode, size or mtime); at most 1 MiB */
  nodesFile?: string;
  /** a name whose A and AAAA records are the peers (a headless Service), asked each round */
  peersDns?: string;
  /** the servers to ask for `peersDns` (default: the namespace's resolv.conf) */
  peersDnsServers?: readonly string[];
  /** at most this many peer addresses (default 2048): beyond, the list is cut (logged, counted) */
  maxPeers?: number;
  /** when given, peers outside these CIDRs are refused (logged, counted) */
  peerNetworks?: readonly string[];
  /** ms between the rounds' slots (default 30000) */
  intervalMs?: number;
  /** the start of each round is delayed by a random share of the interval in [0, jitter) (default 0.2) */
  jitter?: number;
  /** packets per second, every probe of a round together (default 200) */
  maxRate?: number;
  /** `ADDR:PORT` to serve /metrics, /healthz, /results on (default 127.0.0.1:9474; port 0: any); null: no server */
  listen?: string | null;
  /** one line per event (default: standard error, with a timestamp) */
  log?: (line: string) => void;
  /** stops the agent, as {@link Agent.stop} does */
  signal?: AbortSignal;
  /** for tests: the random source of the jitter (default Math.random) */
  random?: () => number;
}

/**
 * A peer address a round probed ({@link AgentRound.peers}).
 *
 * @example
 * ```ts
 * import type { AgentPeer } from "wireprobe";
 *
 * const peer: AgentPeer = { name: "node2", address: "198.51.100.12", source: "file" };
 * ```
 */
export interface AgentPeer {
  /** the node's name (NAME=ADDR), null for a node known by its address (every --peers-dns peer) */
  name: string | null;
  /** the address (IPv6 in RFC 5952 form) */
  address: string;
  /** where it came from: --nodes, --nodes-file, --peers-dns */
  source: "nodes" | "file" | "dns";
}

/**
 * A peer address (or a line of the node file) a round did not use, and why ({@link AgentRound.refused}); each
 * is counted in `wireprobe_peers_refused_total{source, reason}`.
 *
 * @example
 * ```ts
 * import type { AgentRefusal } from "wireprobe";
 *
 * const refused: AgentRefusal = { source: "dns", reason: "outside-networks", detail: "203.0.113.50: outside --peer-networks 198.51.100.0/24" };
 * ```
 */
export interface AgentRefusal {
  /** where it came from: --nodes, --nodes-file, --peers-dns */
  source: "nodes" | "file" | "dns";
  /**
   * cap: beyond --max-peers; outside-networks: outside --peer-networks; bad-address: loopback, multicast,
   * unspecified, link-local, IPv4-mapped or broadcast; malformed: a node list line that does not parse (or a
   * second address of one family for a named node); too-large: the node list file is over 1 MiB
   */
  reason: "cap" | "outside-networks" | "bad-address" | "malformed" | "too-large";
  /** one line: what and why */
  detail: string;
}

/**
 * What the agent knows of its latest round ({@link Agent.latest}; `/results` serves it as `round`).
 *
 * @example
 * ```ts
 * import { startAgent } from "wireprobe";
 *
 * const agent = await startAgent({ nodes: ["198.51.100.11-14"], listen: null, intervalMs: 10_000 });
 * setTimeout(() => {
 *   const r = agent.latest;
 *   if (r?.result) for (const v of r.result.verdicts) console.log(r.round, v.check, v.ok);
 *   void agent.stop();
 * }, 15_000);
 * ```
 */
export interface AgentRound {
  /** the round's number, from 1 */
  round: number;
  /** ok, or failed: the check threw (see `error`) */
  outcome: "ok" | "failed";
  /** it started after its slot because the previous round overran */
  late: boolean;
  /** ISO time it started */
  startedAt: string;
  /** ISO time it ended */
  endedAt: string;
  /** how long it took, ms */
  durationMs: number;
  /** why it failed, null when ok */
  error: string | null;
  /** what kind of failure (privilege, interface, netns, probe), null when ok */
  errorKind: "privilege" | "interface" | "netns" | "probe" | null;
  /** the peer addresses it probed, with their source */
  peers: AgentPeer[];
  /** the addresses (and node list lines) not used, and why */
  refused: AgentRefusal[];
  /** the check's result, null when it failed */
  result: CheckResult | null;
}

/**
 * A running agent ({@link startAgent}).
 *
 * @example
 * ```ts
 * import { startAgent } from "wireprobe";
 *
 * const agent = await startAgent({ nodes: ["198.51.100.11-14"], nodeName: "node1", listen: "127.0.0.1:0" });
 * console.log(`metrics on ${agent.address?.host}:${agent.address?.port}`);
 * await agent.stop();
 * ```
 */
export interface Agent {
  /** the node name (the `node` label) */
  readonly nodeName: string;
  /** where the HTTP server listens (the port chosen when 0 was asked), null without a server */
  readonly address: {
    /** the address it listens on */
    host: string;
    /** the port */
    port: number;
  } | null;
  /** the prom-client registry /metrics serves */
  readonly registry: Registry;
  /** the latest round, null before the first one ended */
  readonly latest: AgentRound | null;
  /** null when healthy, else why not (the /healthz text) */
  readonly unhealthy: string | null;
  /** stops: aborts the round under way, closes the server; resolves when done */
  stop(): Promise<void>;
  /** resolves when the agent has stopped (by stop() or the signal) */
  readonly done: Promise<void>;
}

/** Which kind of failure a round's error is: privilege, interface, netns, or probe (anything else). */
export function errorKind(err: unknown): Exclude<ErrorKind, "peers"> {
  const e = err as { code?: string; message?: string; cause?: { code?: string } };
  const code = e.code ?? e.cause?.code ?? "";
  const message = e.message ?? "";
  if (code === "EPERM" || code === "EACCES" || /needs root|CAP_NET_RAW|CAP_SYS_ADMIN/.test(message))
    return "privilege";
  if (code === "ENONS" || /network namespace|netns/i.test(message)) return "netns";
  if (code === "ENODEV" || code === "ENXIO" || code === "ENETDOWN" || /interface/i.test(message))
    return "interface";
  return "probe";
}

/** Options checked before anything starts: UsageError (exit 2) for a bad one. */
interface Settled {
  nodeName: string;
  intervalMs: number;
  maxRate: number;
  listen: ListenAddress | null;
  nodeEntries: PeerEntry[];
  networks: ReturnType<typeof parseNetworks> | null;
  maxPeers: number;
  nodePorts: NodePortSpec[];
}

function settle(options: AgentOptions): Settled {
  const nodeName = options.nodeName ?? process.env.NODE_NAME ?? hostname();
  if (nodeName === "") throw new UsageError("--node-name must not be empty");
  const intervalMs = options.intervalMs ?? DEFAULT_INTERVAL_MS;
  if (!(intervalMs >= 1)) throw new UsageError("the interval must be at least 1 ms");
  const maxRate = options.maxRate ?? DEFAULT_MAX_RATE;
  if (!(maxRate >= 1)) throw new UsageError("--max-rate must be at least 1 packet per second");
  const maxPeers = options.maxPeers ?? DEFAULT_MAX_PEERS;
  if (!(Number.isInteger(maxPeers) && maxPeers >= 1 && maxPeers <= 4096))
    throw new UsageError("--max-peers must be 1 to 4096 (check takes at most 4096 addresses)");
  if (options.nodes === undefined && options.nodesFile === undefined && options.peersDns === undefined)
    throw new UsageError("the agent needs its peers: --nodes, --nodes-file or --peers-dns");
  // What check() would refuse in every round is refused now, once.
  const nodePorts = normalizeNodePorts(options.nodePorts ?? []);
  for (const s of [...(options.dnsServers ?? []), ...(options.peersDnsServers ?? [])]) {
    if (parseIp(s) === null) throw new UsageError(`DNS server "${s}" is not an IPv4 or IPv6 address`);
  }
  TargetSet.parse([...(options.external ?? [])]);
  return {
    nodeName,
    intervalMs,
    maxRate,
    listen: options.listen === null ? null : parseListen(options.listen ?? DEFAULT_LISTEN),
    nodeEntries: nodesOptionEntries(options.nodes ?? []),
    networks: options.peerNetworks === undefined ? null : parseNetworks(options.peerNetworks),
    maxPeers,
    nodePorts,
  };
}

/** Waits `ms` or until `signal` fires. */
function sleep(ms: number, signal: AbortSignal): Promise<void> {
  if (ms <= 0 || signal.aborted) return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener("abort", done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener("abort", done, { once: true });
  });
}

/** The A and AAAA answers of `name` that are addresses (CNAMEs skipped); throws when no server answered. */
async function lookupPeers(
  name: string,
  options: AgentOptions,
  rate: number,
  signal: AbortSignal,
): Promise<PeerEntry[]> {
  const records: DnsRecord[] = [];
  const run = dns(name, {
    qtype: ["A", "AAAA"],
    ...(options.peersDnsServers && options.peersDnsServers.length > 0
      ? { servers: options.peersDnsServers }
      : {}),
    ...(options.resolvConf === undefined ? {} : { resolvConf: options.resolvConf }),
    ...(options.netns === undefined ? {} : { netns: options.netns }),
    ...(options.interface === undefined ? {} : { interface: options.interface }),
    ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
    rate,
    signal,
  });
  for await (const r of run) if (r.type === "dns") records.push(r);
  const answered = records.filter(
    (r) => r.status === "ok" && r.rcode !== "SERVFAIL" && r.rcode !== "REFUSED",
  );
  if (answered.length === 0) {
    const why = records.map((r) => `${r.server} ${r.qtype} ${r.status}${r.rcode ? ` ${r.rcode}` : ""}`);
    throw new Error(`--peers-dns ${name}: no server answered (${why.join(", ") || "no record"})`);
  }
  const seen = new Set<string>();
  const entries: PeerEntry[] = [];
  // A first, then AAAA; each server's answers in turn (servers should agree: a headless Service's records).
  for (const qtype of ["A", "AAAA"]) {
    for (const r of answered.filter((x) => x.qtype === qtype)) {
      for (const a of r.answers) {
        const ip = parseIp(a);
        if (ip === null || seen.has(a)) continue;
        seen.add(a);
        entries.push({ name: null, address: a });
      }
    }
  }
  return entries;
}

/** How many pacing probes a round starts (arp, scan, dns, ping): --max-rate is shared among them. */
function pacedProbes(nodes: number, nodePorts: number, external: number): number {
  return (nodes > 0 ? 1 : 0) + (nodes > 0 && nodePorts > 0 ? 1 : 0) + 1 + (external > 0 ? 1 : 0);
}

/**
 * Starts the agent: serves /metrics, /healthz and /results (when `listen` is not null), and runs check()
 * against its peers every `intervalMs` (plus jitter), one round at a time, until stopped. Resolves once the
 * server listens; UsageError for bad options, EnvironmentError when it cannot listen.
 *
 * @example
 * ```ts
 * import { startAgent } from "wireprobe";
 *
 * const controller = new AbortController();
 * const agent = await startAgent({
 *   nodesFile: "/etc/wireprobe/nodes",
 *   nodePorts: [30080],
 *   intervalMs: 30_000,
 *   signal: controller.signal,
 * });
 * process.on("SIGTERM", () => controller.abort());
 * await agent.done;
 * ```
 */
export async function startAgent(options: AgentOptions): Promise<Agent> {
  const s = settle(options);
  const log =
    options.log ??
    ((line: string) => process.stderr.write(`${new Date().toISOString()} wireprobe agent: ${line}\n`));
  const metrics = new AgentMetrics(s.nodeName);
  const file = options.nodesFile === undefined ? null : new NodesFile(options.nodesFile);
  const stopper = new AbortController();
  let latest: AgentRound | null = null;
  let unhealthy: string | null = null;
  let lastRefusalLog = "";
  let lastPeersError: string | null = null;
  let dnsEntries: PeerEntry[] = [];

  const pages = {
    metrics: async () => ({ contentType: metrics.registry.contentType, body: await metrics.metrics() }),
    unhealthy: () => unhealthy,
    results: () => ({
      node: s.nodeName,
      healthy: unhealthy === null,
      unhealthy,
      intervalMs: s.intervalMs,
      round: latest,
    }),
  };
  let server: Server | null = null;
  let address: ListenAddress | null = null;
  if (s.listen !== null) {
    server = await startServer(s.listen, pages);
    const a = server.address();
    address = typeof a === "object" && a !== null ? { host: a.address, port: a.port } : s.listen;
  }

  /** The peers for a round: every source read, the gate applied, refusals counted and logged. */
  async function gatherPeers(signal: AbortSignal): Promise<PeerSelection> {
    const sources: Array<{ source: PeerSource; entries: readonly PeerEntry[] }> = [
      { source: "nodes", entries: s.nodeEntries },
    ];
    const errors: string[] = [];
    const extra: AgentRefusal[] = [];
    if (file !== null) {
      const f = await file.read();
      if (f.error !== null) errors.push(`${f.error}; the last good list is kept`);
      else if (f.changed) log(`peers: read ${file.path}: ${f.entries.length} addresses`);
      extra.push(...f.refusals);
      sources.push({ source: "file", entries: f.entries });
    }
    if (options.peersDns !== undefined) {
      try {
        dnsEntries = await lookupPeers(options.peersDns, options, s.maxRate, signal);
      } catch (err) {
        if (!signal.aborted) errors.push(`${(err as Error).message}; the last good list is kept`);
      }
      sources.push({ source: "dns", entries: dnsEntries });
    }
    for (let i = 0; i < errors.length; i++) metrics.countError("peers");
    const joined = errors.join("; ");
    if (joined !== "" && joined !== lastPeersError) log(`peers: ${joined}`);
    else if (joined === "" && lastPeersError) log("peers: sources readable again");
    lastPeersError = joined === "" ? null : joined;
    const selection = selectPeers(sources, { maxPeers: s.maxPeers, networks: s.networks });
    selection.refusals.unshift(...extra);
    for (const r of selection.refusals) metrics.countRefused(r.source, r.reason);
    // Only the sources in use have a series.
    metrics.setPeers({
      nodes: selection.counts.nodes,
      ...(file === null ? {} : { file: selection.counts.file }),
      ...(options.peersDns === undefined ? {} : { dns: selection.counts.dns }),
    });
    const summary = summarizeRefusals(selection.refusals).join("\n");
    // Logged when they change, not every round: the counter counts every round.
    if (summary !== lastRefusalLog) for (const line of summary.split("\n")) if (line) log(line);
    lastRefusalLog = summary;
    return selection;
  }

  async function runRound(round: number, late: boolean): Promise<void> {
    const startedMs = Date.now();
    const started = performance.now();
    const controller = new AbortController();
    const onStop = () => controller.abort(stopper.signal.reason);
    stopper.signal.addEventListener("abort", onStop, { once: true });
    let peers: PeerSelection = { nodes: [], used: [], counts: { nodes: 0, file: 0, dns: 0 }, refusals: [] };
    let result: CheckResult | null = null;
    let error: unknown = null;
    try {
      peers = await gatherPeers(controller.signal);
      const nodePorts = peers.nodes.length > 0 ? s.nodePorts : [];
      const rate = Math.max(
        1,
        Math.floor(
          s.maxRate / pacedProbes(peers.nodes.length, nodePorts.length, options.external?.length ?? 0),
        ),
      );
      const run = check({
        nodes: peers.nodes,
        nodePorts,
        ...(options.dnsServers === undefined ? {} : { dnsServers: options.dnsServers }),
        ...(options.dnsNames === undefined ? {} : { dnsNames: options.dnsNames }),
        ...(options.external === undefined ? {} : { external: options.external }),
        ...(options.netns === undefined ? {} : { netns: options.netns }),
        ...(options.interface === undefined ? {} : { interface: options.interface }),
        ...(options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs }),
        ...(options.resolvConf === undefined ? {} : { resolvConf: options.resolvConf }),
        ...(options.routes ? { routes: true } : {}),
        ...(options.mtu ? { mtu: true } : {}),
        ...(options.expectMtu === undefined ? {} : { expectMtu: options.expectMtu }),
        rate,
        signal: controller.signal,
      });
      for await (const _ of run) {
        // the records are collected in run.result
      }
      result = run.result ?? null;
    } catch (err) {
      error = err;
    } finally {
      stopper.signal.removeEventListener("abort", onStop);
    }
    // A round cut short by stop() measured nothing worth keeping: the previous round's metrics stay.
    if (stopper.signal.aborted) return;
    const durationMs = performance.now() - started;
    const endedMs = Date.now();
    const kind = error === null ? null : errorKind(error);
    const message = error === null ? null : oneLine(error);
    if (result !== null) metrics.recordResult(result);
    else metrics.clearRound();
    if (kind !== null) metrics.countError(kind);
    metrics.recordRound(error === null ? "ok" : "failed", late, durationMs, endedMs);
    const wasUnhealthy = unhealthy;
    unhealthy = message === null ? null : `cannot probe (${kind}): ${message}`;
    metrics.setHealthy(unhealthy === null);
    if (unhealthy !== null && unhealthy !== wasUnhealthy) log(`round ${round}: ${unhealthy}`);
    if (unhealthy === null && wasUnhealthy !== null) log(`round ${round}: probing again`);
    if (late) log(`round ${round} started late: the previous round overran the ${s.intervalMs} ms interval`);
    latest = {
      round,
      outcome: error === null ? "ok" : "failed",
      late,
      startedAt: new Date(startedMs).toISOString(),
      endedAt: new Date(endedMs).toISOString(),
      durationMs,
      error: message,
      errorKind: kind,
      peers: peers.used,
      refused: peers.refusals,
      result,
    };
  }

  const schedule = new Schedule({
    intervalMs: s.intervalMs,
    jitter: options.jitter ?? DEFAULT_JITTER,
    ...(options.random ? { random: options.random } : {}),
  });
  const loop = (async () => {
    while (!stopper.signal.aborted) {
      const plan = schedule.next(performance.now());
      await sleep(plan.startAt - performance.now(), stopper.signal);
      if (stopper.signal.aborted) break;
      await runRound(plan.round, plan.late);
    }
  })();
  const done = loop.then(
    () =>
      new Promise<void>((resolve) => {
        if (server === null) return resolve();
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  );
  const stop = async () => {
    if (!stopper.signal.aborted) stopper.abort(new Error("stopped"));
    await done;
  };
  if (options.signal) {
    if (options.signal.aborted) void stop();
    else options.signal.addEventListener("abort", () => void stop(), { once: true });
  }
  log(
    `started: node ${s.nodeName}, every ${s.intervalMs} ms, at most ${s.maxRate} packets/s${address ? `, serving on ${address.host.includes(":") ? `[${address.host}]` : address.host}:${address.port}` : ""}`,
  );
  return {
    nodeName: s.nodeName,
    address,
    registry: metrics.registry,
    get latest() {
      return latest;
    },
    get unhealthy() {
      return unhealthy;
    },
    stop,
    done,
  };
}

/** An error as one line (no stack). */
function oneLine(err: unknown): string {
  const m = err instanceof Error ? err.message : String(err);
  return m.split("\n")[0]!;
}
