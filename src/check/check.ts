import { intToIpv4 } from "../addr/address";
import { TargetSet } from "../addr/target-set";
import type { ProbeRun } from "../engine/probe-run";
import { summaryRecord } from "../engine/summary";
import { UsageError } from "../errors";
import { arp } from "../probes/arp/arp";
import { dns, resolveServers } from "../probes/dns/dns";
import { queryName } from "../probes/dns/names";
import { ping } from "../probes/icmp/ping";
import { scan } from "../probes/scan/scan";
import type {
  ArpRecord,
  DnsConsistencyRecord,
  DnsRecord,
  HostRecord,
  PingRecord,
  PortRecord,
  SummaryRecord,
  VerdictRecord,
} from "../records";
import { dnsVerdict, hostGwVerdict, nodePortVerdict } from "./verdicts";

// `wireprobe check`: the seed's whole diagnosis from one node. Runs arp (layer-2 adjacency of the peers),
// scan (nodePorts on every node), dns (every server, every name) and ping (outside addresses) at the same
// time, then draws the three verdicts from their records. Interrupted (the signal), it still draws them, from
// what had arrived: each verdict is told what was expected and whether its probe finished, so work that did
// not happen is reported as not probed, never as a pass or a failure.

export const DEFAULT_DNS_NAMES = ["kubernetes.default.svc.cluster.local"];

export interface CheckOptions {
  /** the cluster's nodes: addresses, CIDRs or ranges */
  nodes?: readonly string[];
  /** nodePorts that must answer on every node */
  nodePorts?: readonly number[];
  /** cluster DNS servers; default: the nameservers of the namespace's resolv.conf */
  dnsServers?: readonly string[];
  /** names to ask every DNS server (default kubernetes.default.svc.cluster.local) */
  dnsNames?: readonly string[];
  /** outside addresses to ping, to tell "network up, DNS down" apart */
  external?: readonly string[];
  netns?: string;
  interface?: string;
  /** per-probe wait in ms (default: each probe's own) */
  timeoutMs?: number;
  /** packets per second for the scan (default: the scan's) */
  rate?: number;
  resolvConf?: string;
  signal?: AbortSignal;
  onNotice?: (message: string) => void;
}

export type CheckRecord =
  | ArpRecord
  | PortRecord
  | HostRecord
  | DnsRecord
  | DnsConsistencyRecord
  | PingRecord
  | VerdictRecord;

/** Everything a check found, for the report. */
export interface CheckResult {
  nodes: string[];
  nodePorts: number[];
  /** the DNS servers that were to be asked (as given, or from resolv.conf) */
  dnsServers: string[];
  /** the names asked, as sent */
  dnsNames: string[];
  /** true when the run or one of its probes was interrupted (then some verdicts may be incomplete) */
  aborted: boolean;
  arp: ArpRecord[];
  ports: PortRecord[];
  hosts: HostRecord[];
  dns: DnsRecord[];
  consistency: DnsConsistencyRecord[];
  pings: PingRecord[];
  verdicts: VerdictRecord[];
  summaries: SummaryRecord[];
  durationMs: number;
}

export interface CheckRun extends ProbeRun<CheckRecord> {
  /** set once the iteration has finished */
  readonly result: CheckResult | undefined;
}

type ProbeName = "arp" | "scan" | "dns" | "ping";

async function collect<T>(run: ProbeRun<T>, into: T[], summaries: SummaryRecord[]): Promise<void> {
  for await (const r of run) into.push(r);
  if (run.summary) summaries.push(run.summary);
}

export function check(options: CheckOptions): CheckRun {
  const nodeSet = TargetSet.parse(options.nodes ?? [], {
    ipv6Cap: 4096,
    capHint: "check takes at most 4096 nodes",
  });
  if (nodeSet.size6 > 0) throw new UsageError("check: IPv6 nodes are not supported yet");
  if (nodeSet.size > 4096) throw new UsageError(`too many nodes (${nodeSet.size}); check takes at most 4096`);
  const nodePorts = [...(options.nodePorts ?? [])];
  for (const p of nodePorts) {
    if (!Number.isInteger(p) || p < 1 || p > 65535) throw new UsageError(`invalid nodePort ${p}`);
  }
  if (nodePorts.length > 0 && nodeSet.size === 0)
    throw new UsageError("--node-port needs the nodes (--nodes or -iL)");
  const nodes = [...nodeSet].map(intToIpv4);
  const dnsNames =
    options.dnsNames && options.dnsNames.length > 0 ? [...options.dnsNames] : DEFAULT_DNS_NAMES;
  const common = {
    ...(options.netns === undefined ? {} : { netns: options.netns }),
    ...(options.interface === undefined ? {} : { interface: options.interface }),
    ...(options.signal === undefined ? {} : { signal: options.signal }),
  };
  const timeout = options.timeoutMs === undefined ? {} : { timeoutMs: options.timeoutMs };
  const externalSet = TargetSet.parse(options.external ?? [], {
    ipv6Cap: 4096,
    capHint: "check takes at most 4096 external addresses",
  });
  if (externalSet.size6 > 0) throw new UsageError("check: IPv6 external addresses are not supported yet");
  // Each outside address is expected to answer for the dns verdict: a handful, like the nodes, not a sweep.
  if (externalSet.size > 4096)
    throw new UsageError(`too many external addresses (${externalSet.size}); check takes at most 4096`);
  const external = [...externalSet].map(intToIpv4);
  let result: CheckResult | undefined;
  let summary: SummaryRecord | undefined;

  async function* run(): AsyncGenerator<CheckRecord> {
    const started = performance.now();
    const r: CheckResult = {
      nodes,
      nodePorts,
      dnsServers: [],
      dnsNames: [...new Set(dnsNames.map((n) => queryName(n, "A")))],
      aborted: false,
      arp: [],
      ports: [],
      hosts: [],
      dns: [],
      consistency: [],
      pings: [],
      verdicts: [],
      summaries: [],
      durationMs: 0,
    };
    const scanned: Array<PortRecord | HostRecord> = [];
    const dnsOut: Array<DnsRecord | DnsConsistencyRecord> = [];
    // Every probe is built before any runs, so bad input fails before a packet is sent.
    const jobs: Array<{ probe: ProbeName; start: () => Promise<void> }> = [];
    if (nodes.length > 0) {
      const a = arp(nodeSet, { ...common, ...timeout, retries: 1 });
      jobs.push({ probe: "arp", start: () => collect(a, r.arp, r.summaries) });
    }
    if (nodePorts.length > 0) {
      const s = scan(nodeSet, {
        ...common,
        ...timeout,
        ports: nodePorts,
        retries: 2,
        ...(options.rate === undefined ? {} : { rate: options.rate }),
        ...(options.onNotice ? { onNotice: options.onNotice } : {}),
      });
      jobs.push({ probe: "scan", start: () => collect(s, scanned, r.summaries) });
    }
    const dnsOptions = {
      ...common,
      ...timeout,
      ...(options.dnsServers && options.dnsServers.length > 0 ? { servers: options.dnsServers } : {}),
      ...(options.resolvConf === undefined ? {} : { resolvConf: options.resolvConf }),
    };
    const d = dns(dnsNames, { ...dnsOptions, ...(options.onNotice ? { onWarning: options.onNotice } : {}) });
    // The same servers the probe asks (it resolved them the same way just now): the verdict's expectation.
    r.dnsServers = resolveServers(dnsOptions).servers;
    jobs.push({ probe: "dns", start: () => collect(d, dnsOut, r.summaries) });
    if (external.length > 0) {
      const p = ping(externalSet, { ...common, count: 3, intervalMs: 100 });
      jobs.push({ probe: "ping", start: () => collect(p, r.pings, r.summaries) });
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
    jobs.forEach((job, i) => {
      const summary = r.summaries.find((x) => x.command === job.probe);
      if (settled[i]!.status === "rejected" || !summary || summary.aborted) unfinished.add(job.probe);
    });
    r.aborted = interrupted || unfinished.size > 0;

    yield* r.arp;
    yield* scanned;
    yield* dnsOut;
    yield* r.pings;
    if (nodes.length > 0) r.verdicts.push(hostGwVerdict(r.arp, { nodes, aborted: unfinished.has("arp") }));
    if (nodePorts.length > 0)
      r.verdicts.push(
        nodePortVerdict(nodePorts, r.ports, r.hosts, nodes, { aborted: unfinished.has("scan") }),
      );
    r.verdicts.push(
      dnsVerdict(r.dns, r.consistency, r.pings, {
        servers: r.dnsServers,
        names: r.dnsNames,
        external,
        aborted: unfinished.has("dns") || unfinished.has("ping"),
      }),
    );
    yield* r.verdicts;
    r.durationMs = performance.now() - started;
    result = r;
    summary = summaryRecord({
      command: "check",
      targets: nodes.length,
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
