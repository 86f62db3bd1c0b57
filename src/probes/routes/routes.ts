import { numberToMac } from "../../addr/address";
import { formatIp, type IpAddress } from "../../addr/ip";
import { TargetSet } from "../../addr/target-set";
import { type ProbeRun, probeRun } from "../../engine/probe-run";
import { summaryRecord } from "../../engine/summary";
import { UsageError } from "../../errors";
import { native } from "../../native/binding";
import type { LinkInfo, NeighbourEntry } from "../../native/types";
import {
  type GatewayRoute,
  nextHopFlagNames,
  readRoutingSnapshot,
  type TableSelection,
} from "../../net/gateway-routes";
import { HW_ETHERNET } from "../../net/links";
import { namespacePath } from "../../net/namespace";
import { RouteNames } from "../../net/rt-tables";
import type { RouteRecord, SummaryRecord } from "../../records";
import { ARP_DEFAULTS, type ArpAnswer, arpAnswers } from "../arp/arp";

// `wireprobe routes` and `check --routes`: the routes of the node that send traffic to a gateway (flannel
// host-gw's `POD_CIDR via PEER`, static routes, default routes; every table a policy rule uses, both families,
// each next hop of a multipath route) and whether each gateway answers ARP (IPv4) or NDP (IPv6) on the route's
// own interface, with one MAC. No new run loop: the gateways are asked by the arp probe's module (arpAnswers),
// one sweep per interface, each distinct gateway once however many routes go through it. The kernel's
// neighbour table is read only to compare with what answered.

/**
 * Options of {@link routes}.
 *
 * @example
 * ```ts
 * import { type RoutesOptions, routes } from "wireprobe";
 *
 * const controller = new AbortController();
 * const options: RoutesOptions = { netns: "node1", table: "all", timeoutMs: 500, retries: 2, signal: controller.signal };
 * setTimeout(() => controller.abort(), 10_000);
 * for await (const r of routes(options)) if (r.state !== "ok") console.log(r.destination, r.gateway, r.reason);
 * ```
 */
export interface RoutesOptions {
  /** network namespace: a name from `ip netns` or a path such as /proc/PID/ns/net */
  netns?: string;
  /** the tables to read: "used" (default: every table a policy rule looks up, and main, local, default), "all", or one table's number */
  table?: TableSelection;
  /** wait for an answer after each attempt, ms (default: arp's, 1000) */
  timeoutMs?: number;
  /** extra attempts for a gateway that did not answer (default: arp's, 1) */
  retries?: number;
  /** requests per second (default: arp's) */
  rate?: number;
  /**
   * stops the probes: a record for every route all the same (a gateway not asked yet is `not-probed`,
   * "interrupted ..."), then the summary with `aborted: true`
   */
  signal?: AbortSignal;
}

/** NUD_* names, as `ip neigh` prints them. */
const NUD_STATES: ReadonlyArray<readonly [number, string]> = [
  [0x01, "incomplete"],
  [0x02, "reachable"],
  [0x04, "stale"],
  [0x08, "delay"],
  [0x10, "probe"],
  [0x20, "failed"],
  [0x40, "noarp"],
  [0x80, "permanent"],
];
const NUD_INCOMPLETE = 0x01;
const NUD_FAILED = 0x20;
/** IFF_LOWER_UP: the link has a carrier */
const IFF_LOWER_UP = 0x10000;
const OWN_ADDRESS = "the gateway is this host's own address";
/** IFF_NOARP: the link resolves no neighbours (tunnels, `ip link set arp off`) */
const IFF_NOARP = 0x80;

function nudName(state: number): string {
  const names = NUD_STATES.filter(([bit]) => (state & bit) !== 0).map(([, n]) => n);
  return names.length > 0 ? names.join(",") : "none";
}

/** One gateway asked on one interface: the routes through it share its answer. */
interface GatewayProbe {
  ip: IpAddress;
  answer: ArpAnswer | null;
}

/** The gateways of one interface asked alike: with the route's `onlink`, asked whatever the interface's subnets. */
interface ProbeGroup {
  link: LinkInfo;
  onlink: boolean;
  gateways: Map<string, GatewayProbe>;
}

/** Why a route's gateway is not asked, decided before any probe: its state and reason. */
interface Skip {
  state: "no-reply" | "not-probed";
  reason: string;
}

function checkOptions(options: RoutesOptions): TableSelection {
  const table = options.table ?? "used";
  if (typeof table === "number" && !(Number.isInteger(table) && table >= 1 && table <= 0xffffffff))
    throw new UsageError(`routing table ${table} is out of range (1 to 4294967295)`);
  if (typeof table === "string" && table !== "used" && table !== "all")
    throw new UsageError(`unknown table selection "${table}" (used, all, or a table number)`);
  if (
    options.retries !== undefined &&
    !(Number.isInteger(options.retries) && options.retries >= 0 && options.retries <= 250)
  )
    throw new UsageError("retries must be an integer from 0 to 250");
  if (options.timeoutMs !== undefined && !(options.timeoutMs > 0))
    throw new UsageError("timeout must be a positive number of milliseconds");
  return table;
}

/**
 * Every route with a gateway in the selected tables, one record per next hop, in the order of
 * `ip route show table all` then `ip -6 route show table all`; then a summary (command "routes"). Each
 * gateway is asked with ARP (IPv4) or NDP (IPv6) on the route's interface: needs root or CAP_NET_RAW.
 *
 * @example
 * ```ts
 * import { type RouteRecord, routes, routesVerdict } from "wireprobe";
 *
 * const run = routes({ netns: "node1" });
 * const records: RouteRecord[] = [];
 * for await (const r of run) records.push(r);
 * const verdict = routesVerdict(records, { aborted: run.summary?.aborted === true });
 * if (!verdict.ok) console.log(verdict.detail, verdict.fix);
 * ```
 */
export function routes(options: RoutesOptions = {}): ProbeRun<RouteRecord> {
  const table = checkOptions(options);
  let summary: SummaryRecord | undefined;
  let started = false;

  async function* run(): AsyncGenerator<RouteRecord> {
    if (started) throw new Error("a routes() run can be iterated only once");
    started = true;
    const start = native.monotonicMs();
    const netns = namespacePath(options.netns);
    const snapshot = await readRoutingSnapshot(netns, table);
    const names = new RouteNames();
    const links = new Map(snapshot.links.map((l) => [l.index, l]));
    // A gateway that is one of this host's own addresses answers nobody: the kernel drops what it sends there.
    const own = new Set(snapshot.links.flatMap((l) => l.addresses.map((a) => a.address)));

    // Each route's probe (or why it gets none), each distinct gateway of an interface once.
    const groups = new Map<string, ProbeGroup>();
    const plan: Array<GatewayProbe | Skip> = snapshot.routes.map((r) => {
      const link = links.get(r.ifindex);
      if (!link) return { state: "not-probed", reason: "the route names no interface the namespace has" };
      if (link.hwType !== HW_ETHERNET)
        return { state: "not-probed", reason: `${link.name} has no ARP/NDP (not an Ethernet link)` };
      if ((link.flags & IFF_NOARP) !== 0)
        return {
          state: "not-probed",
          reason: `${link.name} has ARP off (NOARP): the kernel never asks either`,
        };
      if (!link.up) return { state: "no-reply", reason: `${link.name} is down` };
      if (own.has(r.gateway)) return { state: "no-reply", reason: OWN_ADDRESS };
      const key = `${link.index}/${r.onlink ? 1 : 0}`;
      let group = groups.get(key);
      if (!group) {
        group = { link, onlink: r.onlink, gateways: new Map() };
        groups.set(key, group);
      }
      let probe = group.gateways.get(r.gateway);
      if (!probe) {
        probe = { ip: r.gatewayIp, answer: null };
        group.gateways.set(r.gateway, probe);
      }
      return probe;
    });

    const summaries = await probeGroups([...groups.values()], netns, options);
    const aborted = (options.signal?.aborted ?? false) || summaries.some((s) => s.aborted);
    const neighbours = new Map(snapshot.neighbours.map((n) => [`${n.ifindex}/${n.address}`, n]));
    const counts: Record<string, number> = {
      ok: 0,
      "no-reply": 0,
      "not-on-link": 0,
      conflict: 0,
      "not-probed": 0,
    };
    const judge = new Judge(links, neighbours, names, aborted);
    const records = snapshot.routes.map((r, i) => {
      const record = judge.record(r, plan[i]!);
      counts[record.state] = (counts[record.state] ?? 0) + 1;
      return record;
    });
    yield* records;
    summary = summaryRecord({
      command: "routes",
      targets: records.length,
      states: counts,
      packetsSent: summaries.reduce((n, s) => n + s.packetsSent, 0),
      packetsReceived: summaries.reduce((n, s) => n + s.packetsReceived, 0),
      packetsDropped: summaries.reduce((n, s) => n + s.packetsDropped, 0),
      durationMs: native.monotonicMs() - start,
      aborted,
    });
  }

  return probeRun({
    get summary() {
      return summary;
    },
    run,
  });
}

/**
 * Asks every group's gateways, the groups at the same time: an arp sweep pinned to the group's interface (with
 * `onlink`, asked there even where the interface has no route for them). Returns their summaries.
 */
async function probeGroups(
  groups: readonly ProbeGroup[],
  netns: string | undefined,
  options: RoutesOptions,
): Promise<SummaryRecord[]> {
  const summaries: SummaryRecord[] = [];
  const sweep = async (group: ProbeGroup) => {
    const probes = [...group.gateways.values()];
    const v4 = probes.flatMap((p) => (p.ip.family === 4 ? [p.ip.v4] : []));
    const v6 = probes.flatMap((p) => (p.ip.family === 6 ? [p.ip.bytes] : []));
    const set = TargetSet.fromParts(
      v4.map((a): [number, number] => [a, a]),
      v6,
    );
    const byIndex = probes.map((p) =>
      p.ip.family === 4 ? set.indexOf(p.ip.v4) : set.indexOfIpv6(p.ip.bytes),
    );
    const index = new Map(byIndex.map((i, k) => [i, probes[k]!]));
    const run = arpAnswers(set, {
      interface: group.link.name,
      anyLink: group.onlink,
      ...(netns === undefined ? {} : { netns }),
      timeoutMs: options.timeoutMs ?? ARP_DEFAULTS.timeoutMs,
      retries: options.retries ?? ARP_DEFAULTS.retries,
      ...(options.rate === undefined ? {} : { rate: options.rate }),
      ...(options.signal === undefined ? {} : { signal: options.signal }),
    });
    for await (const a of run) {
      const probe = index.get(a.index);
      if (probe) probe.answer = a;
    }
    if (run.summary) summaries.push(run.summary);
  };
  const settled = await Promise.allSettled(groups.map(sweep));
  const failed = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
  // A sweep that broke while the signal tore it down was interrupted, not wrong: its gateways are not probed.
  if (failed && !options.signal?.aborted) throw failed.reason;
  return summaries;
}

/** What a route's gateway said, the same for every route through it: worked out once per gateway. */
interface Judgement {
  state: RouteRecord["state"];
  reason: string | null;
  macs: readonly string[];
  rttMs: number | null;
  sent: number;
  neighbour: { mac: string | null; state: string } | null;
  staleNeighbour: boolean;
}

/** The judgement of a gateway (or of a route that got no probe), against the kernel's neighbour entry. */
function judge(
  r: GatewayRoute,
  planned: GatewayProbe | Skip,
  link: LinkInfo | undefined,
  neighbours: ReadonlyMap<string, NeighbourEntry>,
  aborted: boolean,
): Judgement {
  const ifname = link?.name ?? null;
  const word = r.gatewayIp.family === 4 ? "ARP" : "NDP";
  let state: RouteRecord["state"];
  let reason: string | null = null;
  let macs: string[] = [];
  let rttMs: number | null = null;
  let sent = 0;
  if ("state" in planned) {
    state = planned.state;
    reason = planned.reason;
  } else if (planned.answer === null) {
    state = "not-probed";
    reason = aborted ? "interrupted before its gateway was asked" : "its gateway got no answer record";
  } else {
    const a = planned.answer;
    macs = a.macs.map(numberToMac);
    rttMs = a.rttMs;
    sent = a.sent;
    switch (a.state) {
      case "reply":
        state = macs.length > 1 ? "conflict" : "ok";
        if (state === "conflict") reason = `${macs.length} MACs answer for ${r.gateway}: ${macs.join(", ")}`;
        break;
      case "no-reply": {
        state = "no-reply";
        const carrier = link && (link.flags & IFF_LOWER_UP) === 0 ? ` (${link.name} has no carrier)` : "";
        reason = aborted
          ? `no ${word} reply on ${ifname} before the interruption${carrier}`
          : `no ${word} reply on ${ifname}${carrier}`;
        break;
      }
      case "local":
        state = "no-reply";
        reason = OWN_ADDRESS;
        break;
      default:
        state = "not-on-link";
        reason = a.gateway
          ? `not in ${ifname}'s on-link prefixes: the kernel routes ${r.gateway} via ${formatIp(a.gateway)}`
          : `not in ${ifname}'s on-link prefixes`;
    }
  }
  const entry = neighbours.get(`${r.ifindex}/${r.gateway}`);
  const neighbour = entry ? { mac: entry.mac, state: nudName(entry.state) } : null;
  const learned = entry?.mac && (entry.state & (NUD_INCOMPLETE | NUD_FAILED)) === 0;
  const staleNeighbour = Boolean(learned && macs.length > 0 && !macs.includes(entry.mac!));
  return { state, reason, macs, rttMs, sent, neighbour, staleNeighbour };
}

/** Judgements of the probed gateways, each made once; a route that got no probe is judged on its own. */
class Judge {
  readonly #made = new Map<GatewayProbe, Judgement>();

  constructor(
    private readonly links: ReadonlyMap<number, LinkInfo>,
    private readonly neighbours: ReadonlyMap<string, NeighbourEntry>,
    private readonly names: RouteNames,
    private readonly aborted: boolean,
  ) {}

  /** The route's record: its gateway's answer (or why it has none), judged against the route. */
  record(r: GatewayRoute, planned: GatewayProbe | Skip): RouteRecord {
    const link = this.links.get(r.ifindex);
    let j = "state" in planned ? undefined : this.#made.get(planned);
    if (j === undefined) {
      j = judge(r, planned, link, this.neighbours, this.aborted);
      if (!("state" in planned)) this.#made.set(planned, j);
    }
    // Each record its own arrays and objects: a reader may change one record without changing another.
    return {
      type: "route",
      family: r.family === 4 ? "ipv4" : "ipv6",
      table: r.table,
      tableName: this.names.tableName(r.table),
      destination: r.destination,
      gateway: r.gateway,
      interface: link?.name ?? null,
      onlink: r.onlink,
      flags: nextHopFlagNames(r.flags),
      multipath: r.multipath,
      weight: r.weight,
      metric: r.metric,
      proto: this.names.protocolName(r.protocol),
      state: j.state,
      reason: j.reason,
      macs: [...j.macs],
      rttMs: j.rttMs,
      probe: r.gatewayIp.family === 4 ? "arp" : "ndp",
      sent: j.sent,
      neighbour: j.neighbour === null ? null : { ...j.neighbour },
      staleNeighbour: j.staleNeighbour,
    };
  }
}

export type { TableSelection };
