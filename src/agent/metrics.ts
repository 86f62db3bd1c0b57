import { createHash } from "node:crypto";
import { Counter, collectDefaultMetrics, Gauge, Registry } from "prom-client";
import type { CheckResult } from "../check/check";
import { familyOf } from "../check/nodes";

// The agent's Prometheus metrics. Two halves: `roundSeries` turns one round's CheckResult into the series
// the round measured (a pure function: the unit tests feed it hand-made results), and `AgentMetrics` owns the
// prom-client registry: at the end of each round it clears the per-round gauges and refills them from
// `roundSeries`, so a series exists for what the latest round measured and no longer for a peer that left.
// The names and labels are a contract (the alert rules and the tests use them): README.md lists each.

/** A label set: label name → value. */
export type Labels = Record<string, string>;

/** One sample of a per-round gauge. */
export interface Series {
  /** the metric name, e.g. wireprobe_peer_adjacent */
  name: RoundGaugeName;
  /** its labels, `node` excepted (every series gets the agent's node name) */
  labels: Labels;
  value: number;
}

/** Packets one probe of a round sent, received, and saw dropped (from its summaries). */
export interface ProbePackets {
  sent: number;
  received: number;
  dropped: number;
}

/** What one round's result turns into: its gauges' samples and its probes' packet counts. */
export interface RoundSeries {
  series: Series[];
  /** by probe name (arp, scan, dns, ping, mtu, routes) */
  packets: Map<string, ProbePackets>;
}

/** The per-round gauges, with their labels (besides `node`) and help. */
export const ROUND_GAUGES = {
  wireprobe_peer_adjacent: {
    labels: ["peer", "address", "family", "state"],
    help: "1 when ARP/NDP got a reply from one MAC on-link (state reply), else 0; state: reply, no-reply, not-on-link, conflict",
  },
  wireprobe_peer_rtt_seconds: {
    labels: ["peer", "address", "family"],
    help: "ARP/NDP round trip of the latest reply, seconds",
  },
  wireprobe_nodeport_open: {
    labels: ["peer", "address", "family", "port", "protocol", "state"],
    help: "1 when the nodePort is open on that node address, else 0; state: the port's state, down, not-scanned",
  },
  wireprobe_dns_ok: {
    labels: ["server", "name", "qtype", "status"],
    help: "1 when the DNS server answered (status ok), else 0; status: ok, refused, unreachable, timeout, error",
  },
  wireprobe_dns_rtt_seconds: {
    labels: ["server", "name", "qtype"],
    help: "round trip of the DNS server's latest answer, seconds",
  },
  wireprobe_dns_answer_digest: {
    labels: ["server", "name", "qtype"],
    help: "first 6 bytes of sha256 over the rcode and the sorted answers, as a number: equal value, same answer",
  },
  wireprobe_dns_agrees: {
    labels: ["server", "name", "qtype"],
    help: "1 when the server's answer is the majority's, 0 when it differs (with 2 or more servers)",
  },
  wireprobe_verdict_ok: {
    labels: ["check", "family"],
    help: "1 when the check's verdict passed, 0 failed or incomplete; family ipv4, ipv6, or all",
  },
  wireprobe_verdict_complete: {
    labels: ["check"],
    help: "1 when the verdict rests on all its work",
  },
} as const;

/** The name of a per-round gauge. */
export type RoundGaugeName = keyof typeof ROUND_GAUGES;

/**
 * The 48-bit digest of a DNS answer: the first 6 bytes of sha256 over the rcode and the sorted answers, as a
 * number (exact in a double). Servers with the same digest gave the same answer.
 */
export function answerDigest(rcode: string | null, answers: readonly string[]): number {
  const text = [rcode ?? "", ...[...answers].sort()].join("\n");
  return createHash("sha256").update(text).digest().readUIntBE(0, 6);
}

/** The family label of an address. */
const family = (address: string): string => familyOf(address);

/**
 * The series one round measured, from its CheckResult: a pure function of the result and the agent's own
 * node name (its own addresses, ARP state `local`, and a peer of that name are no peers: no adjacency series).
 */
export function roundSeries(result: CheckResult, nodeName: string): RoundSeries {
  const series: Series[] = [];
  const add = (name: RoundGaugeName, labels: Labels, value: number) => series.push({ name, labels, value });
  // The peer label: the node's name when it has one, else its address.
  const peerOf = new Map<string, string>();
  for (const n of result.clusterNodes ?? []) {
    for (const a of [n.ipv4, n.ipv6]) if (a !== null) peerOf.set(a, n.name ?? a);
  }
  const peer = (address: string) => peerOf.get(address) ?? address;

  for (const r of result.arp) {
    if (r.state === "local" || peer(r.target) === nodeName) continue;
    const state = r.conflict ? "conflict" : r.state;
    const labels = { peer: peer(r.target), address: r.target, family: family(r.target) };
    add("wireprobe_peer_adjacent", { ...labels, state }, state === "reply" ? 1 : 0);
    if (r.state === "reply" && r.rttMs !== null) add("wireprobe_peer_rtt_seconds", labels, r.rttMs / 1000);
  }

  const specs =
    result.nodePortSpecs ??
    result.nodePorts.map((port) => ({ port, protocol: "tcp" as const, family: null }));
  const nodePort = (address: string, port: number, protocol: string, state: string) =>
    add(
      "wireprobe_nodeport_open",
      { peer: peer(address), address, family: family(address), port: String(port), protocol, state },
      state === "open" ? 1 : 0,
    );
  for (const r of result.ports) nodePort(r.target, r.port, r.protocol, r.state);
  for (const h of result.hosts) {
    for (const s of specs) {
      if (s.family === null || s.family === family(h.target)) nodePort(h.target, s.port, s.protocol, "down");
    }
  }
  for (const n of result.notScanned ?? []) nodePort(n.target, n.port, n.protocol, "not-scanned");

  for (const r of result.dns) {
    const labels = { server: r.server, name: r.name, qtype: r.qtype };
    add("wireprobe_dns_ok", { ...labels, status: r.status }, r.status === "ok" ? 1 : 0);
    if (r.rttMs !== null) add("wireprobe_dns_rtt_seconds", labels, r.rttMs / 1000);
    if (r.status === "ok") add("wireprobe_dns_answer_digest", labels, answerDigest(r.rcode, r.answers));
  }
  for (const c of result.consistency) {
    for (const server of Object.keys(c.statuses)) {
      add("wireprobe_dns_agrees", { server, name: c.name, qtype: c.qtype }, c.odd.includes(server) ? 0 : 1);
    }
  }

  for (const v of result.verdicts) {
    add("wireprobe_verdict_ok", { check: v.check, family: "all" }, v.ok ? 1 : 0);
    for (const f of v.families ?? [])
      add("wireprobe_verdict_ok", { check: v.check, family: f.family }, f.ok ? 1 : 0);
    add("wireprobe_verdict_complete", { check: v.check }, v.complete ? 1 : 0);
  }

  const packets = new Map<string, ProbePackets>();
  for (const s of result.summaries) {
    const p = packets.get(s.command) ?? { sent: 0, received: 0, dropped: 0 };
    p.sent += s.packetsSent;
    p.received += s.packetsReceived;
    p.dropped += s.packetsDropped;
    packets.set(s.command, p);
  }
  return { series, packets };
}

/** Why a round could not probe: the `kind` label of wireprobe_agent_errors_total. */
export type ErrorKind = "privilege" | "interface" | "netns" | "probe" | "peers";

/** A peer source: the `source` label of wireprobe_peers and wireprobe_peers_refused_total. */
export type PeerSource = "nodes" | "file" | "dns";

/** Why a peer address was not used: the `reason` label of wireprobe_peers_refused_total. */
export type RefusalReason = "cap" | "outside-networks" | "bad-address" | "malformed" | "too-large";

/** The outcome label of wireprobe_rounds_total. */
export type RoundOutcome = "ok" | "failed" | "late";

/**
 * The agent's prom-client registry: every metric of the contract, `node` on every series (default process
 * metrics included).
 */
export class AgentMetrics {
  /** the live series: counters, the agent's own gauges, the process metrics (rendered at each scrape) */
  readonly registry = new Registry();
  // The per-round gauges change once a round, but a 500-node dual-stack round is 3,023 series, ~30 ms to
  // render: they live in a registry of their own, rendered once when a round is recorded, and a scrape
  // reuses that text (bench/agent-metrics.js).
  readonly #roundRegistry = new Registry();
  #roundText: Promise<string> = Promise.resolve("");
  readonly #gauges = new Map<RoundGaugeName, Gauge>();
  readonly #sent: Counter;
  readonly #received: Counter;
  readonly #dropped: Counter;
  readonly #rounds: Counter;
  readonly #duration: Gauge;
  readonly #lastRound: Gauge;
  readonly #healthy: Gauge;
  readonly #errors: Counter;
  readonly #peers: Gauge;
  readonly #refused: Counter;

  constructor(
    readonly nodeName: string,
    { defaultMetrics = true }: { defaultMetrics?: boolean } = {},
  ) {
    this.registry.setDefaultLabels({ node: nodeName });
    this.#roundRegistry.setDefaultLabels({ node: nodeName });
    const registers = [this.registry];
    for (const [name, spec] of Object.entries(ROUND_GAUGES)) {
      this.#gauges.set(
        name as RoundGaugeName,
        new Gauge({ name, help: spec.help, labelNames: [...spec.labels], registers: [this.#roundRegistry] }),
      );
    }
    const counter = (name: string, help: string, labelNames: string[]) =>
      new Counter({ name, help, labelNames, registers });
    const gauge = (name: string, help: string, labelNames: string[] = []) =>
      new Gauge({ name, help, labelNames, registers });
    this.#sent = counter("wireprobe_probe_packets_sent_total", "packets the agent's probes sent", ["probe"]);
    this.#received = counter(
      "wireprobe_probe_packets_received_total",
      "matching answers the agent's probes received",
      ["probe"],
    );
    this.#dropped = counter(
      "wireprobe_probe_packets_dropped_total",
      "answers the kernel dropped before the probe read them",
      ["probe"],
    );
    this.#rounds = counter(
      "wireprobe_rounds_total",
      "rounds by outcome: ok, failed (the check threw), late (started after its slot: the previous round overran)",
      ["outcome"],
    );
    this.#duration = gauge("wireprobe_round_duration_seconds", "the latest round's duration, seconds");
    this.#lastRound = gauge("wireprobe_last_round_timestamp_seconds", "unix time the latest round ended");
    this.#healthy = gauge(
      "wireprobe_agent_healthy",
      "1 when the latest round could probe, 0 when it could not (no privilege, interface or netns gone)",
    );
    this.#errors = counter(
      "wireprobe_agent_errors_total",
      "errors by kind: privilege, interface, netns, probe, peers",
      ["kind"],
    );
    this.#peers = gauge("wireprobe_peers", "peer addresses in use, by source: nodes, file, dns", ["source"]);
    this.#refused = counter(
      "wireprobe_peers_refused_total",
      "peer addresses (or node list lines) not used, by source and reason: cap, outside-networks, bad-address, malformed, too-large",
      ["source", "reason"],
    );
    // Series that exist from the start, at 0, so a rate() or an alert has something to look at.
    for (const o of ["ok", "failed", "late"]) this.#rounds.inc({ outcome: o }, 0);
    this.#healthy.set(1);
    if (defaultMetrics) collectDefaultMetrics({ register: this.registry });
  }

  /** A round finished with a result: the per-round gauges now show exactly what it measured. */
  recordResult(result: CheckResult): void {
    const { series, packets } = roundSeries(result, this.nodeName);
    for (const g of this.#gauges.values()) g.reset();
    for (const s of series) this.#gauges.get(s.name)!.set(s.labels, s.value);
    this.#roundText = this.#roundRegistry.metrics();
    for (const [probe, p] of packets) {
      this.#sent.inc({ probe }, p.sent);
      this.#received.inc({ probe }, p.received);
      this.#dropped.inc({ probe }, p.dropped);
    }
  }

  /** A round failed: it measured nothing, so no per-round series is left standing. */
  clearRound(): void {
    for (const g of this.#gauges.values()) g.reset();
    this.#roundText = Promise.resolve("");
  }

  /** A round ended (ok or failed, and whether it started late), at `endedMs` (unix ms), after `durationMs`. */
  recordRound(outcome: "ok" | "failed", late: boolean, durationMs: number, endedMs: number): void {
    this.#rounds.inc({ outcome });
    if (late) this.#rounds.inc({ outcome: "late" });
    this.#duration.set(durationMs / 1000);
    this.#lastRound.set(endedMs / 1000);
  }

  /** Whether the latest round could probe. */
  setHealthy(healthy: boolean): void {
    this.#healthy.set(healthy ? 1 : 0);
  }

  /** One error of this kind. */
  countError(kind: ErrorKind): void {
    this.#errors.inc({ kind });
  }

  /** The peer addresses in use now, by source. */
  setPeers(counts: Readonly<Partial<Record<PeerSource, number>>>): void {
    for (const [source, n] of Object.entries(counts)) this.#peers.set({ source }, n);
  }

  /** `n` peer addresses (or lines) of `source` not used, for `reason`. */
  countRefused(source: PeerSource, reason: RefusalReason, n = 1): void {
    if (n > 0) this.#refused.inc({ source, reason }, n);
  }

  /** The text exposition format. */
  async metrics(): Promise<string> {
    const live = await this.registry.metrics();
    const round = await this.#roundText;
    return round === "" ? live : `${live}${round}`;
  }
}
