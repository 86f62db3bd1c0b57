import { intToIpv4 } from "../addr/address";
import { formatIp } from "../addr/ip";
import { formatIpv6 } from "../addr/ipv6";
import { TargetSet } from "../addr/target-set";
import type { ProbeRun } from "../engine/probe-run";
import { summaryRecord } from "../engine/summary";
import { UsageError } from "../errors";
import { listLinksAsync } from "../net/links";
import { namespacePath } from "../net/namespace";
import { arp } from "../probes/arp/arp";
import { dns, resolveServers } from "../probes/dns/dns";
import { queryName } from "../probes/dns/names";
import { dnsRace } from "../probes/dns/race";
import { ping } from "../probes/icmp/ping";
import { mtu } from "../probes/mtu/mtu";
import { routes, type TableSelection } from "../probes/routes/routes";
import { scan } from "../probes/scan/scan";
import type {
  ArpRecord,
  DnsConsistencyRecord,
  DnsRaceRecord,
  DnsRecord,
  HostRecord,
  MtuRecord,
  PingRecord,
  PortRecord,
  RouteRecord,
  SummaryRecord,
  VerdictRecord,
} from "../records";
import {
  type ClusterNode,
  type Family,
  familyName,
  familyOf,
  type NodeInput,
  type NodePort,
  type NodePortSpec,
  type NotScanned,
  nodeAddresses,
  nodePortLabel,
  normalizeNodePorts,
  parseNodes,
} from "./nodes";
import { mtuVerdict, parseOverlay } from "./verdict-mtu";
import { routesVerdict } from "./verdict-routes";
import { dnsVerdict, hostGwVerdict, nodePortVerdict } from "./verdicts";

// `wireprobe check`: the seed's whole diagnosis from one node. Runs arp (layer-2 adjacency of the peers),
// scan (nodePorts on every node), dns (every server, every name) and ping (outside addresses) at the same
// time, then draws the three verdicts from their records. Interrupted (the signal), it still draws them, from
// what had arrived: each verdict is told what was expected and whether its probe finished, so work that did
// not happen is reported as not probed, never as a pass or a failure.
//
// Nodes, DNS servers and outside addresses may be IPv4, IPv6 or both: a dual-stack node is one node with an
// address of each family (see nodes.ts), probed on both (ARP and NDP, the scan over both), and each verdict
// is drawn per family as well as over all.

export const DEFAULT_DNS_NAMES = ["kubernetes.default.svc.cluster.local"];

/**
 * Options of {@link check}: the cluster to diagnose (nodes, nodePorts, DNS servers and names, outside
 * addresses) and where to probe it from.
 *
 * @example
 * ```ts
 * import { type CheckOptions, check } from "wireprobe";
 *
 * const options: CheckOptions = {
 *   nodes: ["node1=198.51.100.11", "node2=198.51.100.12", { name: "node3", addresses: ["198.51.100.13", "2001:db8::13"] }],
 *   nodePorts: [30000, "30053/udp", "30080/tcp/ipv6"],
 *   dnsServers: ["198.51.100.53"],
 *   external: ["203.0.113.20"],
 *   netns: "node1",
 *   timeoutMs: 500,
 * };
 * const run = check(options);
 * for await (const r of run) if (r.type === "verdict") console.log(r.check, r.ok, r.detail);
 * ```
 */
export interface CheckOptions {
  /**
   * the cluster's nodes: addresses, CIDRs or ranges (IPv4 or IPv6; each address a node), `NAME=ADDR` (the
   * same NAME twice: one dual-stack node with an address of each family), or `{ name, addresses }` objects
   * (e.g. a node's InternalIPs from the Kubernetes API)
   */
  nodes?: readonly (string | NodeInput)[];
  /**
   * nodePorts that must answer on every node: numbers (TCP), "PORT[/tcp|/udp][/ipv4|/ipv6]" strings, or
   * `{ port, protocol, family }`; with a family, only on the nodes' addresses of that family (a SingleStack
   * Service)
   */
  nodePorts?: readonly (number | string | NodePortSpec)[];
  /** cluster DNS servers; default: the nameservers of the namespace's resolv.conf */
  dnsServers?: readonly string[];
  /** names to ask every DNS server (default kubernetes.default.svc.cluster.local) */
  dnsNames?: readonly string[];
  /** outside addresses to ping, to tell "network up, DNS down" apart */
  external?: readonly string[];
  /** probe the path MTU to every node (and `mtuTargets`): the mtu verdict fails on a black hole */
  mtu?: boolean;
  /** the path MTU every node (and `mtuTargets`) must carry (implies `mtu`) */
  expectMtu?: number;
  /** more addresses whose path MTU is probed (implies `mtu`): pods on other nodes, over the overlay */
  mtuTargets?: readonly string[];
  /** the overlay the CNI uses (vxlan, geneve, ipip, gre, wireguard) or its overhead in bytes, for the mtu fix */
  overlay?: string | number;
  /**
   * race N A/AAAA pairs of each kind (glibc's one socket, and two sockets) against every DNS server for the
   * first of `dnsNames`: the 5-second DNS race, part of the dns verdict (default: no race)
   */
  dnsRace?: number;
  /** the network namespace to probe from: a name from `ip netns` or a path such as /proc/PID/ns/net */
  netns?: string;
  /** the interface to probe on (default: the one each route picks) */
  interface?: string;
  /** per-probe wait in ms (default: each probe's own) */
  timeoutMs?: number;
  /**
   * packets per second, the ceiling of each probe that paces its sends: the scan, ARP/NDP, the DNS queries
   * and the pings (default: each probe's own; the path MTU search, the routes' gateways and the DNS race are
   * not paced by it). The probes run at once, so together they send up to this many times the number of them.
   */
  rate?: number;
  /** the resolv.conf to take the DNS servers from when `dnsServers` is empty (default: the namespace's) */
  resolvConf?: string;
  /**
   * also check the gateways of this node's routes (`--routes`): every route with a gateway, in the tables
   * `routesTable` selects (default "used": every table a policy rule looks up), asked with ARP/NDP; verdict
   * `routes`. Off by default: the other verdicts do not change with it.
   */
  routes?: boolean;
  /** which routing tables `routes` reads (default "used"); giving it implies `routes` */
  routesTable?: TableSelection;
  /** aborts the check: the probes stop and the verdicts are drawn from what had arrived (incomplete) */
  signal?: AbortSignal;
  /** called with a one-line notice a probe has for the user (a scan method chosen, a DNS warning) */
  onNotice?: (message: string) => void;
}

/**
 * What a check yields: the records of its probes as they arrive, then its three `verdict` records.
 *
 * @example
 * ```ts
 * import { type CheckRecord, check } from "wireprobe";
 *
 * const records: CheckRecord[] = [];
 * for await (const r of check({ nodes: ["198.51.100.11-14"], netns: "node1" })) records.push(r);
 * const failed = records.filter((r) => r.type === "verdict" && !r.ok);
 * ```
 */
export type CheckRecord =
  | ArpRecord
  | PortRecord
  | HostRecord
  | DnsRecord
  | DnsConsistencyRecord
  | DnsRaceRecord
  | PingRecord
  | MtuRecord
  | RouteRecord
  | VerdictRecord;

/**
 * Everything a check found, for the report: `CheckRun.result` once the iteration has finished.
 *
 * @example
 * ```ts
 * import { check } from "wireprobe";
 *
 * const run = check({ nodes: ["198.51.100.11-14"], nodePorts: [30000], netns: "node1" });
 * for await (const _ of run) {
 *   // the records are also collected in run.result
 * }
 * const result = run.result!;
 * console.log(result.nodes, result.verdicts.map((v) => `${v.check}: ${v.ok}`), `${result.durationMs} ms`);
 * ```
 */
export interface CheckResult {
  /** every node address, the nodes in the order given (a dual-stack node's IPv4 address first) */
  nodes: string[];
  /** the nodePorts' numbers, each once */
  nodePorts: number[];
  /** the nodes with their names and addresses (absent in results made before dual-stack checks) */
  clusterNodes?: ClusterNode[];
  /** the nodePorts with their protocol and family (absent: every port TCP on every family) */
  nodePortSpecs?: NodePort[];
  /** node address × nodePort pairs the scan cannot probe, and why (absent or empty: none) */
  notScanned?: NotScanned[];
  /** the DNS servers that were to be asked (as given, or from resolv.conf) */
  dnsServers: string[];
  /** the names asked, as sent */
  dnsNames: string[];
  /** true when the run or one of its probes was interrupted (then some verdicts may be incomplete) */
  aborted: boolean;
  /** the ARP/NDP probe's records: one per peer node address */
  arp: ArpRecord[];
  /** the scan's port records: one per node address and nodePort */
  ports: PortRecord[];
  /** the scan's host records (targets found down) */
  hosts: HostRecord[];
  /** the DNS probe's records: one per server, name and transport */
  dns: DnsRecord[];
  /** whether the DNS servers agree: one per name and transport (with more than one server) */
  consistency: DnsConsistencyRecord[];
  /** the pings of the outside addresses */
  pings: PingRecord[];
  /** the path MTU records (with --mtu / --expect-mtu; absent in results made before them) */
  mtu?: MtuRecord[];
  /** with `routes`: a record per gateway route (absent without it) */
  routes?: RouteRecord[];
  /** the A/AAAA race's records, one per server (absent without --dns-race) */
  dnsRace?: DnsRaceRecord[];
  /** the verdicts: host-gw, nodeport, dns, and routes when asked for */
  verdicts: VerdictRecord[];
  /** the summary of each probe that ran */
  summaries: SummaryRecord[];
  /** how long the check took, in milliseconds */
  durationMs: number;
}

/**
 * A running check: iterate it for the records; `result` holds everything once the iteration has finished.
 *
 * @example
 * ```ts
 * import { type CheckRun, check } from "wireprobe";
 *
 * const run: CheckRun = check({ nodes: ["198.51.100.11-14"], dnsServers: ["198.51.100.53"], netns: "node1" });
 * for await (const r of run) if (r.type === "verdict" && !r.ok) console.log(r.check, r.detail, r.fix);
 * console.log(run.summary?.states, run.result?.aborted);
 * ```
 */
export interface CheckRun extends ProbeRun<CheckRecord> {
  /** set once the iteration has finished */
  readonly result: CheckResult | undefined;
}

type ProbeName = "arp" | "scan" | "dns" | "dns-race" | "ping" | "routes" | "mtu";

/** A probe run of the check: its records go into `into`, its summary is kept when it ends. */
interface Job {
  probe: ProbeName;
  summary?: SummaryRecord;
  start: () => Promise<void>;
}

function job<T>(probe: ProbeName, run: ProbeRun<T>, into: T[], summaries: SummaryRecord[]): Job {
  const j: Job = {
    probe,
    start: async () => {
      for await (const r of run) into.push(r);
      if (run.summary) {
        j.summary = run.summary;
        summaries.push(run.summary);
      }
    },
  };
  return j;
}

/** The addresses of a set, in its order (IPv4 first), as text (IPv6 in RFC 5952 form). */
function addressesOf(set: TargetSet): string[] {
  const out: string[] = [];
  const bytes = new Uint8Array(16);
  for (let i = 0; i < set.size; i++) {
    if (i < set.size4) out.push(intToIpv4(set.at(i)));
    else {
      set.ipv6Into(i, bytes);
      out.push(formatIpv6(bytes));
    }
  }
  return out;
}

/** This host's own IPv6 addresses (in `netns`), in RFC 5952 form. */
async function ownIpv6Addresses(netns: string | undefined): Promise<Set<string>> {
  const links = await listLinksAsync(namespacePath(netns));
  return new Set(links.flatMap((l) => l.addresses.filter((a) => a.family === 6).map((a) => formatIp(a.ip))));
}

/** The scan's port list: numbers when every port is TCP (as before), else "T:...,U:..." for both protocols. */
function scanPorts(ports: readonly NodePort[]): {
  ports: number[] | string;
  protocols: Array<"tcp" | "udp">;
} {
  const tcp = ports.filter((p) => p.protocol === "tcp").map((p) => p.port);
  const udp = ports.filter((p) => p.protocol === "udp").map((p) => p.port);
  if (udp.length === 0) return { ports: tcp, protocols: ["tcp"] };
  if (tcp.length === 0) return { ports: udp, protocols: ["udp"] };
  return { ports: `T:${tcp.join(",")},U:${udp.join(",")}`, protocols: ["tcp", "udp"] };
}

/**
 * The node network diagnosis (`wireprobe check`): from one node (or its namespace), runs at the same time ARP/NDP
 * to the peer nodes, a scan of the nodePorts on every node, DNS to every server for every name, and pings to
 * the outside addresses, then draws three verdicts from their records: `host-gw` (every peer is on-link and
 * answers at layer 2), `nodeport` (every nodePort answers on every node) and `dns` (every server answers,
 * all agree). Interrupted by `signal`, it still draws them from what had arrived, as incomplete.
 *
 * @example
 * ```ts
 * import { check } from "wireprobe";
 *
 * const run = check({ nodes: ["198.51.100.11-14"], nodePorts: [30000], dnsServers: ["198.51.100.53"], netns: "node1" });
 * for await (const r of run) if (r.type === "verdict" && !r.ok) console.log(r.check, r.detail, r.fix);
 * ```
 */
export function check(options: CheckOptions): CheckRun {
  const clusterNodes = parseNodes(options.nodes ?? []);
  const nodes = clusterNodes.flatMap(nodeAddresses);
  const nodeSet = TargetSet.parse(nodes, { ipv6Cap: 4096, capHint: "check takes at most 4096 nodes" });
  if (nodeSet.size > 4096) throw new UsageError(`too many nodes (${nodeSet.size}); check takes at most 4096`);
  const nodePortSpecs = normalizeNodePorts(options.nodePorts ?? []);
  if (nodePortSpecs.length > 0 && nodes.length === 0)
    throw new UsageError("--node-port needs the nodes (--nodes, -iL or --kube-nodes)");
  for (const p of nodePortSpecs) {
    if (p.family !== null && !nodes.some((a) => familyOf(a) === p.family))
      throw new UsageError(`nodePort ${nodePortLabel(p)}: no node has an ${familyName(p.family)} address`);
  }
  const nodePorts = [...new Set(nodePortSpecs.map((p) => p.port))];
  const dnsNames =
    options.dnsNames && options.dnsNames.length > 0 ? [...options.dnsNames] : DEFAULT_DNS_NAMES;
  const common = {
    ...(options.netns === undefined ? {} : { netns: options.netns }),
    ...(options.interface === undefined ? {} : { interface: options.interface }),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  };
  const timeout = options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs };
  const rate = options.rate === undefined ? {} : { rate: options.rate };
  const externalSet = TargetSet.parse(options.external ?? [], {
    ipv6Cap: 4096,
    capHint: "check takes at most 4096 external addresses",
  });
  // Each outside address is expected to answer for the dns verdict: a handful, like the nodes, not a sweep.
  if (externalSet.size > 4096)
    throw new UsageError(`too many external addresses (${externalSet.size}); check takes at most 4096`);
  const external = addressesOf(externalSet);
  // The path MTU probe (--mtu, --expect-mtu, --mtu-target): the nodes and the extra targets, checked now.
  const mtuSet = TargetSet.parse([...nodes, ...(options.mtuTargets ?? [])], { ipv6Cap: 4096 });
  const mtuWanted =
    options.mtu === true || options.expectMtu !== undefined || (options.mtuTargets ?? []).length > 0;
  if (mtuWanted && mtuSet.size === 0)
    throw new UsageError("the path MTU check needs the nodes or --mtu-target");
  if (options.overlay !== undefined && !mtuWanted)
    throw new UsageError("--overlay needs --mtu or --expect-mtu");
  if (mtuSet.size > 4096)
    throw new UsageError(`too many path MTU targets (${mtuSet.size}); check takes at most 4096`);
  const overlay = options.overlay === undefined ? null : parseOverlay(options.overlay);
  let result: CheckResult | undefined;
  let summary: SummaryRecord | undefined;

  async function* run(): AsyncGenerator<CheckRecord> {
    const started = performance.now();
    const r: CheckResult = {
      nodes,
      nodePorts,
      clusterNodes,
      nodePortSpecs,
      notScanned: [],
      dnsServers: [],
      dnsNames: [...new Set(dnsNames.map((n) => queryName(n, "A")))],
      aborted: false,
      arp: [],
      ports: [],
      hosts: [],
      dns: [],
      consistency: [],
      pings: [],
      ...(mtuWanted ? { mtu: [] } : {}),
      verdicts: [],
      summaries: [],
      durationMs: 0,
    };
    const scanned: Array<PortRecord | HostRecord> = [];
    const dnsOut: Array<DnsRecord | DnsConsistencyRecord> = [];
    // Every probe is built before any runs, so bad input fails before a packet is sent.
    const jobs: Job[] = [];
    if (nodes.length > 0) {
      const a = arp(nodeSet, { ...common, ...timeout, ...rate, retries: 1 });
      jobs.push(job("arp", a, r.arp, r.summaries));
    }
    // One scan per family restriction: the nodePorts of every family on every address, those of one
    // family (a SingleStack Service's) on that family's addresses only.
    // This host's own IPv6 addresses cannot take the raw scans (they reach IPv6 addresses over Ethernet, and
    // the kernel answers its own addresses over the loopback): their TCP nodePorts get a connect scan (the
    // kernel connects to itself, as a pod on this node would), their UDP ones no probe at all, said so.
    const own =
      nodePortSpecs.length > 0 && nodes.some((a) => familyOf(a) === "ipv6")
        ? await ownIpv6Addresses(options.netns)
        : new Set<string>();
    const groups = new Map<Family | null, NodePort[]>();
    for (const p of nodePortSpecs) groups.set(p.family, [...(groups.get(p.family) ?? []), p]);
    const scanJob = (targets: readonly string[], ports: readonly NodePort[], method: "auto" | "connect") => {
      const s = scan(TargetSet.parse(targets), {
        ...common,
        ...timeout,
        ...scanPorts(ports),
        method,
        retries: 2,
        ...rate,
        ...(options.onNotice ? { onNotice: options.onNotice } : {}),
      });
      jobs.push(job("scan", s, scanned, r.summaries));
    };
    for (const [family, ports] of groups) {
      const targets = nodes.filter((a) => family === null || familyOf(a) === family);
      const remote = targets.filter((a) => !own.has(a));
      const local = targets.filter((a) => own.has(a));
      if (remote.length > 0) scanJob(remote, ports, "auto");
      const tcp = ports.filter((p) => p.protocol === "tcp");
      if (local.length > 0 && tcp.length > 0) scanJob(local, tcp, "connect");
      for (const p of ports.filter((x) => x.protocol === "udp")) {
        for (const target of local) {
          r.notScanned!.push({
            target,
            port: p.port,
            protocol: p.protocol,
            reason: "this host's own IPv6 address: the UDP scan reaches IPv6 addresses over Ethernet only",
          });
        }
      }
    }
    const dnsOptions = {
      ...common,
      ...timeout,
      ...rate,
      ...(options.dnsServers && options.dnsServers.length > 0 ? { servers: options.dnsServers } : {}),
      ...(options.resolvConf === undefined ? {} : { resolvConf: options.resolvConf }),
    };
    const d = dns(dnsNames, { ...dnsOptions, ...(options.onNotice ? { onWarning: options.onNotice } : {}) });
    // The same servers the probe asks (it resolved them the same way just now): the verdict's expectation.
    r.dnsServers = resolveServers(dnsOptions).servers;
    jobs.push(job("dns", d, dnsOut, r.summaries));
    if (options.dnsRace !== undefined) {
      // The race's servers are the dns probe's; its name the first one asked.
      r.dnsRace = [];
      const raceRun = dnsRace(r.dnsNames[0]!, {
        ...common,
        ...timeout,
        pairs: options.dnsRace,
        servers: r.dnsServers,
      });
      jobs.push(job("dns-race", raceRun, r.dnsRace, r.summaries));
    }
    if (external.length > 0) {
      const p = ping(externalSet, { ...common, ...rate, count: 3, intervalMs: 100 });
      jobs.push(job("ping", p, r.pings, r.summaries));
    }
    if (mtuWanted) {
      const m = mtu(mtuSet, {
        ...common,
        ...timeout,
        ...(options.expectMtu === undefined ? {} : { expectMtu: options.expectMtu }),
      });
      jobs.push(job("mtu", m, r.mtu!, r.summaries));
    }
    if (options.routes || options.routesTable !== undefined) {
      r.routes = [];
      const { interface: _pinned, ...where } = common; // each route is asked on its own interface
      const run = routes({
        ...where,
        ...timeout,
        ...(options.routesTable === undefined ? {} : { table: options.routesTable }),
      });
      jobs.push(job("routes", run, r.routes, r.summaries));
    }
    const settled = await Promise.allSettled(jobs.map((job) => job.start()));
    const interrupted = options.signal?.aborted ?? false;
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === "rejected");
    // A probe that broke while the signal tore it down was interrupted, not wrong: judge what arrived.
    if (failed && !interrupted) throw failed.reason;
    for (const x of scanned) (x.type === "port" ? r.ports : r.hosts).push(x as never);
    for (const x of dnsOut) (x.type === "dns" ? r.dns : r.consistency).push(x as never);

    // A probe did not finish when its summary says aborted, or when it has none (it threw).
    const unfinished = new Set<ProbeName>();
    jobs.forEach((j, i) => {
      if (settled[i]!.status === "rejected" || !j.summary || j.summary.aborted) unfinished.add(j.probe);
    });
    r.aborted = interrupted || unfinished.size > 0;

    yield* r.arp;
    yield* scanned;
    yield* dnsOut;
    yield* r.dnsRace ?? [];
    yield* r.pings;
    if (r.mtu) yield* r.mtu;
    if (r.routes) yield* r.routes;
    if (nodes.length > 0)
      r.verdicts.push(hostGwVerdict(r.arp, { nodes, cluster: clusterNodes, aborted: unfinished.has("arp") }));
    if (nodePortSpecs.length > 0)
      r.verdicts.push(
        nodePortVerdict(nodePortSpecs, r.ports, r.hosts, nodes, {
          cluster: clusterNodes,
          notScanned: r.notScanned ?? [],
          aborted: unfinished.has("scan"),
        }),
      );
    r.verdicts.push(
      dnsVerdict(
        r.dns,
        r.consistency,
        r.pings,
        {
          servers: r.dnsServers,
          names: r.dnsNames,
          external,
          aborted: unfinished.has("dns") || unfinished.has("ping"),
        },
        r.dnsRace && { records: r.dnsRace, servers: r.dnsServers, aborted: unfinished.has("dns-race") },
      ),
    );
    if (r.mtu)
      r.verdicts.push(
        mtuVerdict(r.mtu, {
          targets: addressesOf(mtuSet),
          cluster: clusterNodes,
          expectMtu: options.expectMtu ?? null,
          overlay,
          aborted: unfinished.has("mtu"),
        }),
      );
    if (r.routes) r.verdicts.push(routesVerdict(r.routes, { aborted: unfinished.has("routes") }));
    yield* r.verdicts;
    r.durationMs = performance.now() - started;
    result = r;
    summary = summaryRecord({
      command: "check",
      targets: clusterNodes.length,
      states: {
        ok: r.verdicts.filter((v) => v.ok).length,
        failed: r.verdicts.filter((v) => !v.ok && v.complete).length,
        incomplete: r.verdicts.filter((v) => !v.complete).length,
      },
      packetsSent: r.summaries.reduce((n, s) => n + s.packetsSent, 0),
      packetsReceived: r.summaries.reduce((n, s) => n + s.packetsReceived, 0),
      packetsDropped: r.summaries.reduce((n, s) => n + s.packetsDropped, 0),
      durationMs: r.durationMs,
      aborted: r.aborted,
    });
  }

  return {
    get summary() {
      return summary;
    },
    get result() {
      return result;
    },
    [Symbol.asyncIterator]: () => run(),
  };
}
