import { type PortLists, parsePortLists, topPorts } from "../../addr/ports";
import { type NameLookup, resolveTargets } from "../../addr/resolve";
import { TargetSet } from "../../addr/target-set";
import { keyFromSeed, MAX_PERMUTATION_SIZE, MAX_SEED } from "../../engine/permutation";
import { type ProbeRun, RECORD_BATCHES, type ScanProgress } from "../../engine/probe-run";
import { randomInt } from "../../engine/random";
import { checkShard, formatShard, type Shard } from "../../engine/shard";
import { EnvironmentError, environmentErrorFrom, UsageError } from "../../errors";
import { native } from "../../native/binding";
import { namespacePath } from "../../net/namespace";
import type { ScanRecord, SummaryRecord } from "../../records";
import { SynScan } from "../syn/syn-scan";
import { UDP_DEFAULT_RETRIES, UdpScan } from "../udp/udp-scan";
import { ScanContext } from "./scan-context";
import { probedTargets, ScanShare } from "./share";

export type { ScanProgress } from "../../engine/probe-run";

/**
 * Options of {@link scan}.
 *
 * @example
 * ```ts
 * import { type ScanOptions, scan } from "wireprobe";
 *
 * const options: ScanOptions = {
 *   ports: "T:22,80,443,U:53",
 *   protocols: ["tcp", "udp"],
 *   exclude: ["198.51.100.1"],
 *   netns: "node1",
 *   rate: 5000,
 *   retries: 2,
 *   onNotice: (message) => console.error(message),
 * };
 * for await (const r of scan("198.51.100.0/24", options)) if (r.type === "port" && r.state === "open") console.log(r);
 * ```
 */
export interface ScanOptions {
  /**
   * nmap-style port list ("22,80,8000-8100", "-" for 1-65535, "T:80,U:53" per protocol) or port numbers (for
   * every protocol scanned); default: nmap's top 1000 of each protocol
   */
  ports?: string | readonly number[];
  /** nmap's N most often open ports of each protocol scanned, instead of `ports` */
  topPorts?: number;
  /**
   * what is scanned: ["tcp"] (the default), ["udp"] (nmap -sU) or both (-sS -sU, TCP first). UDP needs
   * CAP_NET_RAW whatever the TCP method.
   */
  protocols?: readonly ("tcp" | "udp")[];
  /** addresses, CIDRs, ranges or hostnames not to scan (an IPv6 prefix of any size: no cap applies) */
  exclude?: string | readonly string[];
  /** the most addresses one IPv6 prefix or range among the targets may hold (default 65536, a /112) */
  ipv6Cap?: number;
  /** network namespace: a name from `ip netns` or a path such as /proc/PID/ns/net */
  netns?: string;
  /**
   * send only out of this interface (default: the one the kernel's route lookup picks for each target);
   * targets it has no route for (neither on-link there nor via a gateway on it) are down (no-route)
   */
  interface?: string;
  /**
   * packets per second at most, ARP included; 0 = as fast as the interfaces take them, with no congestion
   * window. Unset (the default): adaptive, as nmap's congestion control: the probes in flight grow with the
   * answers and are cut on loss, with at least 1,000 probes/s while nothing answers; a number keeps that,
   * with the number as the ceiling.
   */
  rate?: number;
  /**
   * extra attempts for probes without an answer (default 1). UDP ports: at most 10 by default (nmap's), each
   * retry waiting longer, a host retried one pass beyond its latest answered one; given, a hard limit.
   */
  retries?: number;
  /**
   * the longest a probe waits for its answer, ms (default 1000). Each target's timeout adapts to its own
   * round trips as nmap's does (srtt + 4 x rttvar, at least 100 ms); a target that has not answered yet
   * waits 1 s (or this, if less). A probe is sent again only once its own timeout has run out.
   */
  timeoutMs?: number;
  /** TCP source port of the probes (default: a random one in 32768-60999 per scan) */
  sourcePort?: number;
  /**
   * "syn": raw SYN probes (needs CAP_NET_RAW). "connect": full TCP connects (nmap -sT; no privilege needed,
   * but entering another namespace needs root). "auto" (default): syn, or connect when raw sockets are not
   * allowed.
   */
  method?: "auto" | "syn" | "connect";
  /** stops the scan: the records of what was answered, the rest unanswered, then the summary with `aborted: true` */
  signal?: AbortSignal;
  /** told once about things a user should know that are not records (the fallback to a connect scan) */
  onNotice?: (message: string) => void;
  /** hostname resolution (default: the system resolver, in the caller's namespace) */
  lookup?: NameLookup;
  /**
   * fixes the probe order (0 to 2^64-1, as zmap's --seed): the same seed, targets and ports give the same
   * order in every run. Default: a new random order each run. Needed with `shard`.
   */
  seed?: number | bigint;
  /**
   * one shard of a scan split over several runs, zmap's way: shard `index` of `count` (0 <= index < count)
   * probes one block of the seeded order, so runs of every index with the same `seed`, targets and ports
   * probe disjoint shares whose union is the whole scan, each spread over every target and port. A down
   * host is reported by the shard that holds its first probe; unresolved names by shard 0.
   */
  shard?: Shard;
}

export type { ScanRecord } from "../../records";

/**
 * A running scan: a ProbeRun of port and host records, with live progress counters.
 *
 * @example
 * ```ts
 * import { type ScanRun, scan } from "wireprobe";
 *
 * const run: ScanRun = scan(["198.51.100.0/24"], { topPorts: 100, netns: "node1" });
 * for await (const r of run) if (r.type === "port" && r.state === "open") console.log(r.target, r.port);
 * console.log(run.method, run.ports.length, run.summary?.durationMs);
 * ```
 */
export interface ScanRun extends ProbeRun<ScanRecord> {
  /** the TCP ports every target is scanned on, ascending (empty for a UDP-only scan) */
  readonly ports: Uint16Array;
  /** the UDP ports every target is scanned on, ascending (empty without UDP) */
  readonly udpPorts: Uint16Array;
  /** known once the scan has started: the TCP method, "udp" for a UDP-only scan */
  readonly method: "syn" | "connect" | "udp" | undefined;
  /** live counters, for a progress line */
  readonly progress: ScanProgress;
}

/** The connect scan, loaded only when a scan uses it (it brings node:net). */
function connectScan(): typeof import("../connect/connect-scan").ConnectScan {
  return (require("../connect/connect-scan") as typeof import("../connect/connect-scan")).ConnectScan;
}

/**
 * The defaults of {@link ScanOptions}.
 *
 * @example
 * ```ts
 * import { SCAN_DEFAULTS, scan } from "wireprobe";
 *
 * // a lossy path: more retries than the default
 * const run = scan("203.0.113.0/28", { ports: [443], retries: SCAN_DEFAULTS.retries + 2 });
 * ```
 */
export const SCAN_DEFAULTS = {
  /** one extra attempt for probes without an answer */
  retries: 1,
  /** a probe waits at most 1000 ms for its answer */
  timeoutMs: 1000,
} as const;

/** The seed as a 64-bit number; a UsageError when it is not one. */
function seedOf(seed: number | bigint | undefined): bigint | undefined {
  if (seed === undefined) return undefined;
  const ok =
    typeof seed === "bigint" ? seed >= 0n && seed <= MAX_SEED : Number.isSafeInteger(seed) && seed >= 0;
  if (!ok) throw new UsageError(`the seed must be a whole number from 0 to ${MAX_SEED}`);
  return BigInt(seed);
}

function checkRange(name: string, value: number | undefined, min: number, max: number): void {
  if (value === undefined) return;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new UsageError(`${name} must be a whole number from ${min} to ${max}`);
  }
}

const NO_PORTS = new Uint16Array(0);

function portLists(options: ScanOptions, protocols: readonly ("tcp" | "udp")[]): PortLists {
  const { ports } = options;
  let lists: PortLists;
  if (typeof ports === "string") {
    lists = parsePortLists(ports, protocols);
  } else if (ports !== undefined) {
    for (const p of ports) checkRange("a port", p, 0, 65535);
    const sorted = Uint16Array.from(new Set(ports)).sort();
    if (sorted.length === 0) throw new UsageError("no ports to scan");
    lists = { tcp: sorted, udp: sorted };
  } else {
    checkRange("top ports", options.topPorts, 1, 65535);
    const n = options.topPorts ?? 1000;
    lists = { tcp: topPorts(n, "tcp"), udp: topPorts(n, "udp") };
  }
  return {
    tcp: protocols.includes("tcp") ? lists.tcp : NO_PORTS,
    udp: protocols.includes("udp") ? lists.udp : NO_PORTS,
  };
}

/** Whether this process may open raw sockets (in `netns`); false on EPERM, other errors thrown. */
function rawSocketsAllowed(netns: string | undefined): boolean {
  try {
    new native.PacketSocket({ ifindex: 1, protocol: 0, ...(netns === undefined ? {} : { netns }) }).close();
    return true;
  } catch (err) {
    const e = err as { code?: string; syscall?: string };
    if ((e.code === "EPERM" || e.code === "EACCES") && e.syscall !== "setns" && e.syscall !== "open")
      return false;
    throw environmentErrorFrom(err, netns === undefined ? "opening a raw socket" : `entering ${netns}`);
  }
}

/**
 * TCP SYN scan of every target on every port, nmap's way of classifying the answers: open (SYN-ACK), closed
 * (RST), filtered (nothing, or an ICMP error); targets whose next hop does not answer ARP are down. Records
 * stream as answers arrive; the unanswered come last. Memory is flat in the number of probes. With
 * `protocols: ["udp"]` (or both) a UDP scan as nmap -sU: open (a UDP answer), closed (port unreachable),
 * filtered (another ICMP unreachable), open|filtered (no answer), after the TCP scan when both. IPv4 and IPv6
 * targets mix in one run; without raw sockets (`method: "auto"`) the TCP scan is a connect scan.
 *
 * @example
 * ```ts
 * import { scan } from "wireprobe";
 *
 * const run = scan(["198.51.100.0/24"], { ports: "22,80,443", netns: "lab" });
 * const udp = scan("198.51.100.53", { ports: "T:53,U:53", protocols: ["tcp", "udp"] });
 * for await (const r of run) if (r.type === "port" && r.state === "open") console.log(r.target, r.port);
 * console.log(run.summary);
 * ```
 */
export function scan(targets: string | readonly string[] | TargetSet, options: ScanOptions = {}): ScanRun {
  const protocols = options.protocols ?? ["tcp"];
  if (protocols.length === 0 || protocols.some((p) => p !== "tcp" && p !== "udp"))
    throw new UsageError(`protocols must be tcp, udp or both`);
  const { tcp: ports, udp: udpPorts } = portLists(options, protocols);
  const withTcp = ports.length > 0;
  const withUdp = udpPorts.length > 0;
  checkRange("rate", options.rate, 0, 100_000_000);
  checkRange("retries", options.retries, 0, 100);
  checkRange("timeout", options.timeoutMs, 1, 3_600_000);
  checkRange("source port", options.sourcePort, 1, 65535);
  checkRange("ipv6Cap", options.ipv6Cap, 1, 2 ** 40);
  const capOption = options.ipv6Cap === undefined ? {} : { ipv6Cap: options.ipv6Cap };
  const seed = seedOf(options.seed);
  const shard = options.shard;
  if (shard !== undefined) {
    checkShard(shard);
    if (shard.count > 1 && seed === undefined)
      throw new UsageError("a sharded scan needs a seed (--seed N), the same for every shard");
  }
  const key = seed === undefined ? undefined : keyFromSeed(seed);
  const method = options.method ?? "auto";
  if (!["auto", "syn", "connect"].includes(method)) throw new UsageError(`unknown scan method "${method}"`);
  const specs = targets instanceof TargetSet ? null : typeof targets === "string" ? [targets] : [...targets];
  if (specs !== null && specs.length === 0) throw new UsageError("no targets");
  const exclude =
    options.exclude === undefined
      ? []
      : typeof options.exclude === "string"
        ? [options.exclude]
        : [...options.exclude];

  let summary: SummaryRecord | undefined;
  let chosen: "syn" | "connect" | "udp" | undefined;
  let started = false;
  const resolving: ScanProgress = {
    phase: "resolving",
    probesTotal: 0,
    probesSent: 0,
    answered: 0,
    retransmissions: 0,
  };
  let ctx: ScanContext | null = null;

  // Records in arrays for the CLI (see RECORD_BATCHES), one by one for everyone else: the same run.
  async function* run(): AsyncGenerator<ScanRecord> {
    for await (const batch of batches()) for (const r of batch) yield r;
  }

  async function* batches(): AsyncGenerator<ScanRecord[]> {
    if (started) throw new Error("a scan() run can be iterated only once");
    started = true;
    const resolved =
      specs === null
        ? { set: targets as TargetSet, names: new Map<number, string>(), unresolved: [] }
        : await resolveTargets(specs, exclude, options.lookup, capOption);
    // Exclusions add no probes: no cap for them (as resolveTargets does).
    const set =
      specs === null && exclude.length > 0
        ? resolved.set.exclude((await resolveTargets(exclude, [], options.lookup, { ipv6Cap: null })).set)
        : resolved.set;
    const most = Math.max(ports.length, udpPorts.length);
    if (set.size * most > MAX_PERMUTATION_SIZE) {
      throw new UsageError(
        `too many probes: ${set.size} targets x ${most} ports is more than 2^32; split the scan`,
      );
    }
    const netns = namespacePath(options.netns);
    const raw = method === "connect" && !withUdp ? false : rawSocketsAllowed(netns);
    if (withUdp && !raw)
      throw new EnvironmentError("a UDP scan (-sU) needs root or CAP_NET_RAW (EPERM)", "EPERM");
    chosen = !withTcp ? "udp" : method === "connect" ? "connect" : raw ? "syn" : "connect";
    if (chosen === "connect") {
      if (method === "syn")
        throw new EnvironmentError("a SYN scan needs root or CAP_NET_RAW (EPERM)", "EPERM");
      if (method === "auto") {
        options.onNotice?.(
          "no permission for raw sockets (CAP_NET_RAW): falling back to a TCP connect scan (-sT)",
        );
      }
    }
    const context = new ScanContext(set, ports, resolved.names, native.monotonicMs(), udpPorts);
    ctx = context;
    if (shard !== undefined) context.shard = formatShard(shard);
    // Names are no slots of the order: shard 0 reports those that did not resolve.
    if ((shard?.index ?? 0) === 0)
      for (const u of resolved.unresolved) context.host(u.name, "unresolved", u.name);
    const tcpShare = new ScanShare(set.size, ports.length, key, shard);
    const udpShare = new ScanShare(set.size, udpPorts.length, key, shard);
    // A shard asks for the next hops of its own targets only (TCP's and UDP's: the UDP scan reuses them).
    const include = probedTargets(set.size, [withTcp ? tcpShare : null, withUdp ? udpShare : null]);
    const own = include === undefined ? {} : { include };
    // The probing stops on the caller's signal, and also when the reader stops iterating early.
    const stop = new AbortController();
    const onAbort = () => stop.abort(options.signal?.reason);
    if (options.signal?.aborted) stop.abort(options.signal.reason);
    options.signal?.addEventListener("abort", onAbort, { once: true });
    // No rate: adaptive, without a ceiling. A rate: adaptive under that ceiling. 0: unlimited, no window.
    const adaptive = options.rate !== 0;
    context.pacing = adaptive ? (options.rate === undefined ? "adaptive" : "ceiling") : "unlimited";
    const common = {
      rate: options.rate ?? 0,
      adaptive,
      retries: options.retries ?? SCAN_DEFAULTS.retries,
      timeoutMs: options.timeoutMs ?? SCAN_DEFAULTS.timeoutMs,
      signal: stop.signal,
    };
    const sourcePort = options.sourcePort ?? randomInt(32768, 61000);
    const syn =
      chosen === "syn"
        ? new SynScan(context, {
            ...common,
            netns,
            interface: options.interface,
            sourcePort,
            share: tcpShare,
            ...own,
          })
        : null;
    const tcp = !withTcp
      ? null
      : (syn ??
        new (connectScan())(context, { ...common, netns, interface: options.interface, share: tcpShare }));
    // TCP first, then UDP, as nmap runs them; the UDP scan reuses the next hops the SYN scan found.
    const probe = async (): Promise<boolean> => {
      if (tcp !== null && !(await tcp.run())) return false;
      if (!withUdp) return true;
      const plan = syn?.routePlan;
      return new UdpScan(context, {
        ...common,
        retries: options.retries ?? UDP_DEFAULT_RETRIES,
        retriesFixed: options.retries !== undefined,
        netns,
        interface: options.interface,
        sourcePort,
        share: udpShare,
        ...(plan ? { plan } : own),
      }).run();
    };
    let completed = false;
    let settled = false;
    const driving = (set.size === 0 ? Promise.resolve(true) : probe()).then(
      (ok) => {
        completed = ok;
        settled = true;
        context.queue.end();
      },
      (err: unknown) => {
        settled = true;
        context.queue.end(err);
      },
    );
    try {
      yield* context.queue.drainBatches();
      await driving;
    } finally {
      options.signal?.removeEventListener("abort", onAbort);
      if (!settled) {
        stop.abort(new Error("the reader stopped"));
        await driving;
      }
      context.phase = "done";
      summary = context.summary(chosen, native.monotonicMs(), !completed, resolved.unresolved.length);
    }
  }

  return {
    ports,
    udpPorts,
    get method() {
      return chosen;
    },
    get progress() {
      return ctx?.progress ?? resolving;
    },
    get summary() {
      return summary;
    },
    [Symbol.asyncIterator]: () => run(),
    [RECORD_BATCHES]: () => batches(),
  };
}
