import { randomFillSync } from "node:crypto";
import * as fs from "node:fs";
import { formatIp, type IpAddress, PackedAddresses, packIps, parseIp } from "../../addr/ip";
import { isIpv4Mapped } from "../../addr/ipv6";
import { Engine, type ProbeModule, type SendBatch, type SendResult } from "../../engine/engine";
import { type ProbeRun, probeRun } from "../../engine/probe-run";
import { ResultQueue } from "../../engine/result-queue";
import { runProbe } from "../../engine/run-probe";
import { kernelDrops, summaryRecord } from "../../engine/summary";
import { EnvironmentError, environmentErrorFrom, UsageError } from "../../errors";
import { META_STRIDE, native } from "../../native/binding";
import type { NativeError, NativeInetSocket } from "../../native/types";
import { sendErrorReason } from "../../net/icmp-errors";
import { findLink, listLinksAsync } from "../../net/links";
import { namespacePath } from "../../net/namespace";
import { SendRefusals } from "../../net/refused-route";
import type { DnsConsistencyRecord, DnsRecord, SummaryRecord } from "../../records";
import { consistencyOf } from "./consistency";
import { type IcmpUdpError, watchIcmpUdpErrors } from "./icmp-watch";
import { type AnswerCheck, checkAnswer, encodeQuery, peekId } from "./message";
import { parseQTypes, type QType, queryName } from "./names";
import { readNameservers, resolvConfFor } from "./resolv-conf";
import { QuerySendTimes } from "./send-times";
import { type TcpOutcome, tcpExchange } from "./tcp-exchange";

/**
 * Options of {@link dns}.
 *
 * @example
 * ```ts
 * import { type DnsOptions, dns } from "wireprobe";
 *
 * const options: DnsOptions = {
 *   servers: ["198.51.100.53", "2001:db8::53"],
 *   qtype: ["A", "AAAA"],
 *   both: true, // over UDP and over TCP
 *   timeoutMs: 1000,
 *   netns: "/proc/4242/ns/net",
 *   onWarning: (message) => console.error(message),
 * };
 * for await (const r of dns("redis.db.svc.cluster.local", options)) console.log(r);
 * ```
 */
export interface DnsOptions {
  /** IPv4 or IPv6 servers to ask; default: the nameservers of `resolvConf` */
  servers?: readonly string[];
  /**
   * resolv.conf to take the servers from; default: the one of the namespace (/proc/PID/root/etc/resolv.conf
   * for /proc/PID/ns/net, /etc/netns/NAME/resolv.conf for a named one), else /etc/resolv.conf
   */
  resolvConf?: string;
  /** record type(s), default A */
  qtype?: string | readonly string[];
  /** server port, default 53 */
  port?: number;
  /** ask over TCP only */
  tcp?: boolean;
  /** ask over UDP and over TCP (one record each) */
  both?: boolean;
  /** per-attempt wait for an answer in ms (default 2000) */
  timeoutMs?: number;
  /** extra attempts after a timeout (default 1) */
  retries?: number;
  /** send out of this interface (SO_BINDTODEVICE) */
  interface?: string;
  /** network namespace: a name from `ip netns` or a path such as /proc/PID/ns/net */
  netns?: string;
  /**
   * queries sent per second over all servers (first attempts and retries; the TCP and EDNS follow-ups a
   * query needs come on top); 0 = no ceiling (default 0: the per-server window paces them)
   */
  rate?: number;
  /** queries in flight per server over UDP (default 16; TCP: at most 8 connections per server) */
  concurrency?: number;
  /** send an EDNS OPT record (UDP size 1232), falling back to plain DNS on FORMERR, like dig (default true) */
  edns?: boolean;
  /** stops the queries: the records of what was answered, then the summary with `aborted: true` */
  signal?: AbortSignal;
  /** notes for the operator: skipped nameservers, missing ICMP visibility */
  onWarning?: (message: string) => void;
}

// 16 queries in flight per server: at a 1 ms round trip that is 16,000 queries/s per server, more than a
// check needs, while a production server's socket buffer never sees a burst from us.
/**
 * The defaults of {@link DnsOptions}.
 *
 * @example
 * ```ts
 * import { DNS_DEFAULTS, dns } from "wireprobe";
 *
 * const run = dns("example.internal", { servers: ["198.51.100.53"], concurrency: DNS_DEFAULTS.concurrency * 4 });
 * ```
 */
export const DNS_DEFAULTS = {
  /** wait for an answer per attempt: 2000 ms */
  timeoutMs: 2000,
  /** one extra attempt after a timeout */
  retries: 1,
  /** the server port: 53 */
  port: 53,
  /** 16 queries in flight per server over UDP */
  concurrency: 16,
  /** the record type asked: A */
  qtype: "A",
} as const;
/** TCP connections per server at most (TCP legs; retries over TCP after truncation) */
const TCP_CONCURRENCY = 8;
const MAX_JOBS = 1_000_000;
const SEND_CHUNK = 256;
/** records the reader may lag behind before sending waits for it */
const QUEUE_ROOM = 4096;

// Per-slot state bits.
/** its record is made */
const FINAL = 1;
/** asked without EDNS: the server answered FORMERR to EDNS */
const NO_EDNS = 2;
/** a UDP answer had TC: the slot goes on over TCP */
const TRUNCATED = 4;

/** A UDP query that may still be answered. */
interface SentQuery {
  slot: number;
  id: number;
  /** when it left: the kernel's send timestamp once known (QuerySendTimes), until then the time before the send */
  sentAt: number;
  edns: boolean;
}

interface ServerVerdict {
  status: "refused" | "unreachable";
  reason: string;
  from: string | null;
}

type DnsResult = DnsRecord | DnsConsistencyRecord;

/** The UDP socket that asks the servers of one family, and the raw socket that sees the ICMP errors for it. */
interface UdpSide {
  socket: NativeInetSocket;
  icmp: NativeInetSocket | null;
  localPort: number;
  sendTimes: QuerySendTimes;
}

/** The engine's channel of a family's servers (each family has its own UDP socket and TX ids). */
const CHANNEL_V4 = 1;
const CHANNEL_V6 = 2;
type Outcome = Partial<DnsRecord> & Pick<DnsRecord, "status">;

/** The servers a run asks: as given, or from the resolv.conf of the namespace. */
export function resolveServers(options: DnsOptions): {
  servers: string[];
  skipped: string[];
  file: string | null;
} {
  if (options.servers && options.servers.length > 0) {
    const servers: string[] = [];
    for (const s of options.servers) {
      const text = serverAddress(s);
      if (!servers.includes(text)) servers.push(text);
    }
    return { servers, skipped: [], file: null };
  }
  const file = options.resolvConf ?? resolvConfFor(options.netns);
  const found = readNameservers(file);
  if (found.servers.length === 0) {
    const extra = found.skipped.length > 0 ? ` (only ${found.skipped.join(", ")}, not usable)` : "";
    throw new EnvironmentError(`no usable nameserver in ${file}${extra}; give servers with --server`);
  }
  return found;
}

/** A server given by the user, as its canonical text (IPv6 in RFC 5952 form); UsageError otherwise. */
function serverAddress(s: string): string {
  if (s.includes("%")) {
    throw new UsageError(
      `server "${s}": a zone index is not supported; choose the interface with --interface`,
    );
  }
  const ip = parseIp(s);
  if (ip === null) throw new UsageError(`server "${s}" is not an IPv4 or IPv6 address`);
  if (ip.family === 6 && isIpv4Mapped(ip.bytes)) {
    const v4 = ip.bytes.subarray(12).join(".");
    throw new UsageError(
      `server "${s}" is an IPv4-mapped IPv6 address; give the IPv4 address (${v4}) instead`,
    );
  }
  return formatIp(ip);
}

/**
 * Asks every server for every name (and type), over UDP and/or TCP: one `dns` record per server, name,
 * type and transport, and with several servers one `dns-consistency` record per name, type and transport.
 * An address as a name is asked as its PTR name.
 *
 * @example
 * ```ts
 * import { dns } from "wireprobe";
 *
 * // ask the cluster DNS from inside a pod's namespace, over UDP and TCP
 * const run = dns(["kubernetes.default.svc.cluster.local"], {
 *   servers: ["198.51.100.53", "198.51.100.54"],
 *   netns: "/proc/4242/ns/net",
 *   both: true,
 * });
 * for await (const r of run) {
 *   if (r.type === "dns") console.log(r.server, r.transport, r.status, r.rcode, r.answers, r.rttMs);
 *   else if (!r.consistent) console.log(`${r.name}: odd server ${r.odd.join(", ")}`);
 * }
 * ```
 */
export function dns(
  names: string | readonly string[],
  options: DnsOptions = {},
): ProbeRun<DnsRecord | DnsConsistencyRecord> {
  const list = typeof names === "string" ? [names] : [...names];
  if (list.length === 0) throw new UsageError("no names");
  return probeRun(new DnsRun(list, options));
}

/**
 * The DNS probe module. Targets are the servers, once per transport (UDP servers, then TCP servers with
 * --both); items are the questions (name x type); slot = target * items + question. The engine sends each
 * server its questions in order, at most `concurrency` queries outstanding per server (8 over TCP), and
 * owns retries and timeouts. What stays here is what one slot's exchange needs beyond one query and its
 * answer: a server without EDNS is asked again without it, a truncated answer is asked again over TCP, and
 * an ICMP error about a server answers its waiting queries.
 */
class DnsRun implements ProbeModule {
  summary: SummaryRecord | undefined;
  readonly targets: number;
  readonly items: number;
  private readonly servers: string[];
  private readonly serverIps: IpAddress[];
  /** IPv4 servers by address; IPv6 servers are few and found by comparing bytes */
  private readonly serverIndex = new Map<number, number>();
  private readonly servers6: number[] = [];
  private readonly legs: Array<"udp" | "tcp">;
  private readonly questions: Array<{ name: string; qtype: QType }> = [];
  private readonly port: number;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly concurrency: number;
  private readonly engine: Engine;
  private readonly state: Uint8Array;
  /** queries sent per slot (the record's `attempts`) */
  private readonly attempts: Uint16Array;
  /** what was wrong with the bad answers a slot got: its record's error unless a good one comes */
  private readonly errors = new Map<number, string>();
  /** UDP queries that may still be answered, by server * 65536 + ID (answers to any attempt count) */
  private readonly sentQueries = new Map<number, SentQuery>();
  /** each waiting slot's keys in sentQueries */
  private readonly queryKeys = new Map<number, number[]>();
  private readonly verdicts: Array<ServerVerdict | null>;
  /** per name, type and transport: the servers' records so far, and how many are still to come */
  private readonly groupRecords = new Map<number, DnsRecord[]>();
  private readonly groupLeft: Int32Array;
  /** per question: slots without their record yet (its encoded query is kept until then) */
  private readonly questionLeft: Int32Array;
  private readonly templates = new Map<number, Buffer>();

  /** TCP exchanges under way: awaited before the summary */
  private readonly exchanges = new Set<Promise<void>>();
  /** per server: retries over TCP after truncation connected now, and those waiting for their turn */
  private readonly followUpsOpen: Int32Array;
  private readonly followUpsWaiting: Array<Array<() => void>>;
  /** ends TCP exchanges still open when the run stops early (abort, or the caller stops iterating) */
  private readonly stopTcp = new AbortController();
  /** stops the engine: the caller's signal, or the caller stopping its iteration */
  private readonly stopEngine = new AbortController();
  private readonly queue = new ResultQueue<DnsResult>();
  private readonly counts: Record<string, number> = {
    ok: 0,
    refused: 0,
    unreachable: 0,
    timeout: 0,
    error: 0,
  };
  private ids = new Uint16Array(0);
  private idNext = 0;
  private netns: string | undefined;
  /** the IPv4 servers' UDP side and the IPv6 servers' (each opened when there are such servers) */
  private udp4: UdpSide | null = null;
  private udp6: UdpSide | null = null;
  private refusals: SendRefusals | null = null;
  private start = 0;
  /** DNS answers received (FORMERR and truncated ones included) */
  private received = 0;
  /** queries a slot sent beyond the engine's sends: without EDNS after FORMERR, over TCP after truncation */
  private followUps = 0;
  /** engine sends the kernel refused (no route, prohibited, ...): counted by the engine, never sent */
  private refused = 0;
  private failure: unknown = null;
  private started = false;
  private finished = false;

  constructor(
    names: readonly string[],
    private readonly options: DnsOptions,
  ) {
    this.timeoutMs = options.timeoutMs ?? DNS_DEFAULTS.timeoutMs;
    this.retries = options.retries ?? DNS_DEFAULTS.retries;
    this.port = options.port ?? DNS_DEFAULTS.port;
    this.concurrency = options.concurrency ?? DNS_DEFAULTS.concurrency;
    if (!Number.isInteger(this.timeoutMs) || this.timeoutMs < 1)
      throw new UsageError("timeout must be >= 1 ms");
    if (!Number.isInteger(this.retries) || this.retries < 0 || this.retries > 100) {
      throw new UsageError("retries must be 0 to 100");
    }
    if (!Number.isInteger(this.port) || this.port < 1 || this.port > 65535) throw new UsageError("bad port");
    if (!Number.isInteger(this.concurrency) || this.concurrency < 1)
      throw new UsageError("concurrency must be >= 1");
    const qtypes = parseQTypes(options.qtype ?? DNS_DEFAULTS.qtype);
    this.legs = options.both ? ["udp", "tcp"] : options.tcp ? ["tcp"] : ["udp"];
    const found = resolveServers(options);
    for (const s of found.skipped) {
      options.onWarning?.(
        `skipping nameserver ${s} of ${found.file}: ${s.includes("%") ? "a zone index is not supported" : "not an address"}`,
      );
    }
    this.servers = found.servers;
    this.serverIps = this.servers.map((s) => parseIp(s)!);
    for (const [i, ip] of this.serverIps.entries()) {
      if (ip.family === 4) this.serverIndex.set(ip.v4, i);
      else this.servers6.push(i);
    }
    const S = this.servers.length;
    for (const input of names) {
      for (const qtype of qtypes) this.questions.push({ name: queryName(input, qtype), qtype });
    }
    const total = this.questions.length * this.legs.length * S;
    if (total > MAX_JOBS) throw new UsageError(`too many queries (${total}; at most ${MAX_JOBS})`);
    this.targets = this.legs.length * S;
    this.items = this.questions.length;
    this.state = new Uint8Array(total);
    this.attempts = new Uint16Array(total);
    this.verdicts = new Array<ServerVerdict | null>(S).fill(null);
    this.groupLeft = new Int32Array(this.legs.length * this.items).fill(S);
    this.questionLeft = new Int32Array(this.items).fill(this.targets);
    this.followUpsOpen = new Int32Array(S);
    this.followUpsWaiting = Array.from({ length: S }, () => []);
    const tcpWindow = Math.min(this.concurrency, TCP_CONCURRENCY);
    this.engine = new Engine(this, {
      // Each server gets its questions in the order given, all servers at once: a name's answers from
      // every server come close together, so its consistency verdict follows soon.
      order: "sequential",
      retries: this.retries,
      rate: this.options.rate ?? 0,
      batch: SEND_CHUNK,
      timeoutMs: this.timeoutMs,
      // How long a server takes depends on the question (a cached name, or a recursion), not on how fast
      // it answered others: every query waits the user's timeout.
      fixedTimeout: true,
      maxOutstandingPerTarget: (t) => (this.legOf(t) === "tcp" ? tcpWindow : this.concurrency),
      signal: this.stopEngine.signal,
      room: () => this.queue.waitForRoom(QUEUE_ROOM),
      now: () => native.monotonicMs(),
    });
  }

  run(): AsyncGenerator<DnsResult> {
    if (this.started) throw new Error("a dns() run can be iterated only once");
    this.started = true;
    return runProbe(
      this.queue,
      {
        setup: () => this.setup(),
        drive: (stop) => this.drive(stop),
        close: () => this.closeAll(),
      },
      this.options.signal,
    );
  }

  private async setup(): Promise<void> {
    this.netns = namespacePath(this.options.netns);
    this.refusals = new SendRefusals(this.netns);
    const device = this.options.interface;
    if (device !== undefined) {
      const link = findLink(await listLinksAsync(this.netns), device);
      if (!link.up) throw new EnvironmentError(`interface "${link.name}" is down`, "ENETDOWN");
    }
    if (this.legs.includes("udp")) {
      if (this.serverIndex.size > 0) this.udp4 = this.openUdp(4, device);
      if (this.servers6.length > 0) this.udp6 = this.openUdp(6, device);
    }
    if (!this.legs.includes("udp") && this.netns !== undefined) {
      // TCP only: each exchange opens its socket in the namespace; find out now if that is not allowed,
      // rather than as an error record per query.
      try {
        fs.closeSync(native.openSocketFd({ type: "stream", protocol: 6, netns: this.netns }));
      } catch (err) {
        throw environmentErrorFrom(err, "opening a TCP socket");
      }
    }
    this.start = native.monotonicMs();
  }

  private openUdp(family: 4 | 6, device: string | undefined): UdpSide {
    let socket: NativeInetSocket;
    try {
      socket = new native.InetSocket({
        type: "dgram",
        family,
        protocol: 17,
        bindPort: 0,
        rcvbuf: 4 << 20,
        ...(this.netns === undefined ? {} : { netns: this.netns }),
        ...(device === undefined ? {} : { device }),
      });
    } catch (err) {
      throw environmentErrorFrom(
        err,
        family === 4 ? "opening a UDP socket" : "opening a UDP socket for IPv6",
      );
    }
    const side: UdpSide = {
      socket,
      icmp: null,
      localPort: socket.localAddress().port,
      sendTimes: new QuerySendTimes(),
    };
    // Each query's send time from the kernel, as its answer's is; the same socket reads the timestamps before
    // the answers. Where the kernel refuses, a query keeps the time taken before its send.
    socket.startTxTimestamps((ids, times, n) => side.sendTimes.stamps(ids, times, n));
    socket.startReceive(
      (data, meta, count) => this.onPackets(family, data, meta, count),
      (err) => this.engine.fail(err),
    );
    try {
      side.icmp = watchIcmpUdpErrors(
        this.netns,
        (e) => this.onIcmpError(side, e),
        (err) => this.engine.fail(err),
        family,
      );
    } catch (err) {
      const code = (err as NativeError).code;
      const what = family === 4 ? "ICMP" : "ICMPv6";
      if (code !== "EPERM" && code !== "EACCES")
        throw environmentErrorFrom(err, `opening a raw ${what} socket`);
      this.options.onWarning?.(
        `no raw ${what} socket (needs CAP_NET_RAW): UDP servers that refuse or cannot be reached show as timeout`,
      );
    }
    return side;
  }

  /** `stop`: the caller's signal, or the reader stopping early (runProbe). */
  private async drive(stop: AbortSignal): Promise<void> {
    const signal = stop;
    const onAbort = () => this.stopEngine.abort();
    if (signal?.aborted) onAbort();
    signal?.addEventListener("abort", onAbort, { once: true });
    let completed = false;
    try {
      completed = await this.engine.run();
    } finally {
      signal?.removeEventListener("abort", onAbort);
      if (!completed) {
        // Aborted or failed: no record after this, and the TCP exchanges end now.
        this.finished = true;
        this.stopTcp.abort();
      }
      // Retries over TCP after truncation outlast the engine's run: their records are still to come.
      while (this.exchanges.size > 0) await Promise.all(this.exchanges);
      this.finished = true;
    }
    if (this.failure !== null) throw this.failure;
    this.summary = this.makeSummary(!completed);
  }

  private makeSummary(aborted: boolean): SummaryRecord {
    const durationMs = native.monotonicMs() - this.start;
    return summaryRecord({
      command: "dns",
      targets: this.targets * this.items,
      states: this.counts,
      packetsSent: this.engine.counters.sent - this.refused + this.followUps,
      packetsReceived: this.received,
      packetsDropped: kernelDrops(this.udp4?.socket) + kernelDrops(this.udp6?.socket),
      durationMs,
      aborted,
    });
  }

  // --- the module's side of the engine -----------------------------------------------------------------

  channelOf(target: number): number {
    // One UDP socket asks every server of a family; a TCP exchange opens its own.
    return this.serverIps[target % this.servers.length]!.family === 4 ? CHANNEL_V4 : CHANNEL_V6;
  }

  send(batch: SendBatch): SendResult {
    const startMs = native.monotonicMs();
    const { slots, count } = batch;
    if (this.finished) return { sent: count, startMs, endMs: startMs };
    let k = 0;
    while (k < count) {
      if (this.legOf(this.targetOf(slots[k]!)) === "tcp") {
        this.startTcp(slots[k]!, null);
        k++;
        continue;
      }
      let end = k + 1;
      while (end < count && this.legOf(this.targetOf(slots[end]!)) === "udp") end++;
      const handled = this.sendUdp(batch.channel === CHANNEL_V4 ? this.udp4! : this.udp6!, slots, k, end);
      k += handled;
      // The socket buffer is full: the engine sends the rest again shortly.
      if (k < end) break;
    }
    return { sent: k, startMs, endMs: native.monotonicMs() };
  }

  unanswered(slot: number): void {
    this.finishUnanswered(slot);
  }

  private targetOf(slot: number): number {
    return Math.floor(slot / this.items);
  }

  private legOf(target: number): "udp" | "tcp" {
    return this.legs[Math.floor(target / this.servers.length)]!;
  }

  private serverOf(slot: number): number {
    return this.targetOf(slot) % this.servers.length;
  }

  // --- UDP ---------------------------------------------------------------------------------------------

  /**
   * A query with the given ID. Every server is asked the same questions, so each is encoded once and
   * copied with its ID written in.
   */
  private query(question: number, id: number, edns: boolean): Buffer {
    const key = question * 2 + (edns ? 0 : 1);
    let template = this.templates.get(key);
    if (template === undefined) {
      const q = this.questions[question]!;
      template = encodeQuery(0, q.name, q.qtype, edns);
      // Kept until every slot of the question has its record (finish drops it).
      this.templates.set(key, template);
    }
    const q = Buffer.allocUnsafe(template.length);
    template.copy(q);
    q.writeUInt16BE(id, 0);
    return q;
  }

  private randomId(server: number): number {
    for (;;) {
      if (this.idNext >= this.ids.length) {
        this.ids = randomFillSync(new Uint16Array(4096));
        this.idNext = 0;
      }
      const id = this.ids[this.idNext++]!;
      if (!this.sentQueries.has(server * 65536 + id)) return id;
    }
  }

  /** A UDP query for `slot` with a fresh ID, registered so that its answer finds the slot. */
  private newQuery(slot: number, sentAt: number): SentQuery {
    const server = this.serverOf(slot);
    const edns = (this.state[slot]! & NO_EDNS) === 0;
    const id = this.randomId(server);
    const key = server * 65536 + id;
    const query: SentQuery = { slot, id, sentAt, edns };
    this.sentQueries.set(key, query);
    const keys = this.queryKeys.get(slot);
    if (keys === undefined) this.queryKeys.set(slot, [key]);
    else keys.push(key);
    this.attempts[slot]!++;
    return query;
  }

  private packetOf(query: SentQuery): Buffer {
    return this.query(query.slot - this.targetOf(query.slot) * this.items, query.id, query.edns);
  }

  /** The newest query of `slot` did not go out: forget it. */
  private unsent(slot: number): void {
    const key = this.queryKeys.get(slot)?.pop();
    if (key !== undefined) this.sentQueries.delete(key);
    this.attempts[slot]!--;
  }

  /**
   * Sends the UDP slots `slots[from..to)` in sendmmsg batches; returns how many were handled: sent, or
   * refused by the kernel (their records made). Fewer than asked: the socket buffer is full.
   */
  private sendUdp(side: UdpSide, slots: Int32Array, from: number, to: number): number {
    const n = to - from;
    const at = native.monotonicMs();
    const queries = new Array<SentQuery>(n);
    const packets = new Array<Buffer>(n);
    const addresses = new PackedAddresses(side === this.udp4 ? 4 : 6, n);
    for (let k = 0; k < n; k++) {
      const slot = slots[from + k]!;
      queries[k] = this.newQuery(slot, at);
      packets[k] = this.packetOf(queries[k]!);
      addresses.set(k, this.serverIps[this.serverOf(slot)]!);
    }
    const ports = new Array<number>(n).fill(this.port);
    let k = 0;
    while (k < n) {
      let sent: number;
      let failed: NativeError | null = null;
      try {
        sent =
          k === 0
            ? side.socket.send(packets, addresses.buffer, ports)
            : side.socket.send(packets.slice(k), addresses.slice(k, n), ports.slice(k));
      } catch (err) {
        failed = err as NativeError;
        sent = failed.sent ?? 0;
      }
      side.sendTimes.sent(side.socket.lastSendTxId, queries, k, k + sent);
      k += sent;
      if (failed) {
        // That one query could not leave (no route, prohibited, ...); the rest go on.
        this.refused++;
        this.onSendError(slots[from + k]!, failed);
        k++;
        continue;
      }
      if (k < n) {
        for (let j = k; j < n; j++) this.unsent(slots[from + j]!);
        return k;
      }
    }
    return n;
  }

  /** A server that does not know EDNS answered FORMERR: ask again without it, within the same slot. */
  private askWithoutEdns(slot: number): void {
    this.state[slot]! |= NO_EDNS;
    const server = this.serverOf(slot);
    const query = this.newQuery(slot, native.monotonicMs());
    const ip = this.serverIps[server]!;
    const side = ip.family === 4 ? this.udp4! : this.udp6!;
    try {
      if (side.socket.send([this.packetOf(query)], packIps(ip.family, [ip]), [this.port]) === 1) {
        side.sendTimes.sent(side.socket.lastSendTxId, [query], 0, 1);
        this.followUps++;
        return;
      }
    } catch (err) {
      this.onSendError(slot, err as NativeError);
      return;
    }
    // The socket buffer is full: the engine's next attempt asks without EDNS.
    this.unsent(slot);
  }

  private onSendError(slot: number, err: NativeError): void {
    const routeType = this.routeRefusal(this.serverOf(slot));
    if (routeType !== null) {
      // The route refused it (blackhole, prohibit, unreachable, broadcast): that names it, not the errno.
      this.finish(slot, { status: "unreachable", reason: routeType, from: null });
      return;
    }
    const reason = sendErrorReason(err.code);
    if (["no-route", "host-unreach", "prohibited", "blocked-locally"].includes(reason)) {
      this.finish(slot, { status: "unreachable", reason, from: null });
    } else {
      this.finish(slot, { status: "error", error: `cannot send the query: ${err.message}` });
    }
  }

  /** The server at the source of a received datagram: meta[3] is the IPv4 number, or where the IPv6 bytes are. */
  private serverAt(family: 4 | 6, data: Buffer, source: number): number | undefined {
    if (family === 4) return this.serverIndex.get(source);
    for (const s of this.servers6) {
      const bytes = (this.serverIps[s] as { bytes: Uint8Array }).bytes;
      let k = 0;
      while (k < 16 && data[source + k] === bytes[k]) k++;
      if (k === 16) return s;
    }
    return undefined;
  }

  private onPackets(family: 4 | 6, data: Buffer, meta: Float64Array, count: number): void {
    for (let p = 0; p < count; p++) {
      const base = p * META_STRIDE;
      const s = this.serverAt(family, data, meta[base + 3]!);
      // Only the server's own address and port can answer; anything else is not an answer to us.
      if (s === undefined || meta[base + 4] !== this.port) continue;
      const offset = meta[base]!;
      const length = meta[base + 1]!;
      const id = peekId(data, offset, length);
      if (id < 0) continue;
      const query = this.sentQueries.get(s * 65536 + id);
      if (query === undefined) continue;
      const question = this.questions[query.slot - this.targetOf(query.slot) * this.items]!;
      const message = data.subarray(offset, offset + length);
      const check = checkAnswer(message, { id, name: question.name, qtype: question.qtype }, query.edns);
      this.onUdpAnswer(query, check, meta[base + 2]!);
    }
  }

  private onUdpAnswer(query: SentQuery, check: AnswerCheck, at: number): void {
    const slot = query.slot;
    if (check.kind === "bad") {
      // Possibly spoofed or garbled: keep waiting for the real answer until the attempt times out.
      this.errors.set(slot, check.error);
      return;
    }
    this.received++;
    if (check.ednsRejected) {
      // Later copies of this FORMERR change nothing.
      if ((this.state[slot]! & NO_EDNS) === 0) this.askWithoutEdns(slot);
      return;
    }
    this.engine.answer(slot, at);
    if (check.truncated) {
      this.releaseQueries(slot);
      this.state[slot]! |= TRUNCATED;
      this.startTcp(slot, query.sentAt);
      return;
    }
    this.finish(slot, {
      status: "ok",
      rcode: check.rcode,
      answers: check.answers,
      flags: check.flags,
      // From this very query (its ID says which attempt was answered), not the slot's latest send.
      rttMs: Math.max(0, at - query.sentAt),
    });
  }

  private onIcmpError(side: UdpSide, e: IcmpUdpError): void {
    if (this.finished || e.srcPort !== side.localPort || e.dstPort !== this.port) return;
    const s = e.dst6 === null ? this.serverIndex.get(e.dst) : this.serverAt(6, Buffer.from(e.dst6), 0);
    if (s === undefined) return;
    const verdict: ServerVerdict = { status: e.status, reason: e.reason, from: e.from };
    this.verdicts[s] = verdict;
    // The error is about the server, not one query: every query to it waiting over UDP has its answer.
    const waiting = new Set<number>();
    for (const [key, query] of this.sentQueries) {
      if (Math.floor(key / 65536) === s) waiting.add(query.slot);
    }
    for (const slot of waiting) this.finish(slot, { ...verdict });
  }

  private releaseQueries(slot: number): void {
    const keys = this.queryKeys.get(slot);
    if (keys === undefined) return;
    for (const key of keys) this.sentQueries.delete(key);
    this.queryKeys.delete(slot);
  }

  // --- TCP ---------------------------------------------------------------------------------------------

  /** A TCP leg's query (udpSentAt null: one engine send), or the retries after a truncated UDP answer. */
  private startTcp(slot: number, udpSentAt: number | null): void {
    const exchange: Promise<void> = this.overTcp(slot, udpSentAt)
      .catch((err: unknown) => {
        this.failure ??= err;
        this.engine.fail(err);
      })
      .finally(() => this.exchanges.delete(exchange));
    this.exchanges.add(exchange);
  }

  private async overTcp(slot: number, udpSentAt: number | null): Promise<void> {
    const truncated = udpSentAt !== null;
    const server = this.serverOf(slot);
    if (!truncated) return this.tcpTries(slot, server, null, 1);
    // Retries after truncation wait for one of the server's TCP connections, as TCP legs do in the engine.
    if (this.followUpsOpen[server]! >= Math.min(this.concurrency, TCP_CONCURRENCY)) {
      await new Promise<void>((resolve) => this.followUpsWaiting[server]!.push(resolve));
    } else {
      this.followUpsOpen[server]!++;
    }
    try {
      await this.tcpTries(slot, server, udpSentAt, this.retries + 1);
    } finally {
      const next = this.followUpsWaiting[server]!.shift();
      if (next !== undefined) next();
      else this.followUpsOpen[server]!--;
    }
  }

  /**
   * Up to `tries` TCP exchanges for `slot`. A TCP leg has one (the engine's passes are its retries, and
   * without an answer the engine reports it); after truncation every retry is the slot's own.
   */
  private async tcpTries(
    slot: number,
    server: number,
    udpSentAt: number | null,
    tries: number,
  ): Promise<void> {
    const prefix = udpSentAt !== null ? "the UDP answer was truncated; over TCP: " : "";
    const question = slot - this.targetOf(slot) * this.items;
    const { name, qtype } = this.questions[question]!;
    // The engine counted a TCP leg's first exchange as its send; every other one is the slot's own.
    let engineSend = udpSentAt === null;
    let outcome: TcpOutcome | null = null;
    while (tries > 0) {
      if (this.finished || (this.state[slot]! & FINAL) !== 0) return;
      const id = this.randomId(server);
      const edns = (this.state[slot]! & NO_EDNS) === 0;
      // A TCP leg's time counts from its own connect; a retry after truncation from the UDP query.
      const asked = udpSentAt ?? native.monotonicMs();
      this.attempts[slot]!++;
      if (!engineSend) this.followUps++;
      engineSend = false;
      outcome = await tcpExchange({
        server: this.servers[server]!,
        port: this.port,
        query: this.query(question, id, edns),
        timeoutMs: this.timeoutMs,
        ...(this.netns === undefined ? {} : { netns: this.netns }),
        ...(this.options.interface === undefined ? {} : { device: this.options.interface }),
        signal: this.stopTcp.signal,
      });
      if (this.finished || (this.state[slot]! & FINAL) !== 0) return;
      const routeType = this.tcpRefusal(server, outcome);
      if (routeType !== null) {
        this.finish(slot, {
          status: "unreachable",
          reason: routeType,
          from: null,
          ...(prefix ? { error: `${prefix}${routeType}` } : {}),
        });
        return;
      }
      if (outcome.kind === "answer") {
        const check = checkAnswer(outcome.message, { id, name, qtype }, edns);
        if (check.kind === "answer") {
          this.received++;
          if (check.ednsRejected && edns) {
            this.state[slot]! |= NO_EDNS;
            continue;
          }
          const now = native.monotonicMs();
          this.engine.answer(slot, now);
          this.finish(slot, {
            status: "ok",
            rcode: check.rcode,
            answers: check.answers,
            flags: check.flags,
            rttMs: now - asked,
          });
          return;
        }
        this.errors.set(slot, prefix + check.error);
      } else if (outcome.kind === "refused" || outcome.kind === "unreachable") {
        this.finish(slot, {
          status: outcome.kind,
          reason: outcome.reason,
          from: null,
          ...(prefix ? { error: `${prefix}${outcome.reason}` } : {}),
        });
        return;
      } else if (outcome.kind === "error") {
        this.errors.set(slot, prefix + outcome.error);
      }
      tries--;
    }
    if (udpSentAt === null) return;
    if (outcome?.kind === "timeout") this.finish(slot, { status: "timeout", error: `${prefix}no answer` });
    else this.finishUnanswered(slot);
  }

  /**
   * A connect that failed because a route refuses the server (blackhole, prohibit, unreachable, broadcast):
   * its route type, named as for UDP; null for every other outcome.
   */
  private tcpRefusal(server: number, outcome: TcpOutcome): string | null {
    if (outcome.kind !== "unreachable" && outcome.kind !== "error") return null;
    return this.routeRefusal(server);
  }

  /** The type of the route that refuses the server (blackhole, prohibit, ...); null if none (or IPv6). */
  private routeRefusal(server: number): string | null {
    const ip = this.serverIps[server]!;
    return ip.family === 4 ? (this.refusals?.routeType(ip.v4) ?? null) : null;
  }

  // --- results -----------------------------------------------------------------------------------------

  /** No answer after every attempt: an error if only bad answers came, the server's ICMP verdict, or timeout. */
  private finishUnanswered(slot: number): void {
    const error = this.errors.get(slot);
    if (error !== undefined) {
      this.finish(slot, { status: "error", error });
      return;
    }
    // ICMP errors are rate limited (per peer, about one a second after a burst of six), so of many queries
    // to a dead server only some get theirs: the server's verdict speaks for the rest.
    const udp = this.legOf(this.targetOf(slot)) === "udp" && (this.state[slot]! & TRUNCATED) === 0;
    const verdict = udp ? this.verdicts[this.serverOf(slot)] : null;
    this.finish(slot, verdict ? { ...verdict } : { status: "timeout" });
  }

  /** The slot's exchange is over: its record, and its name's consistency verdict once every server has one. */
  private finish(slot: number, outcome: Outcome): void {
    if (this.finished || (this.state[slot]! & FINAL) !== 0) return;
    this.state[slot]! |= FINAL;
    this.releaseQueries(slot);
    this.engine.settle(slot);
    const target = this.targetOf(slot);
    const question = slot - target * this.items;
    const server = target % this.servers.length;
    const leg = Math.floor(target / this.servers.length);
    const { name, qtype } = this.questions[question]!;
    const record: DnsRecord = {
      type: "dns",
      server: this.servers[server]!,
      port: this.port,
      name,
      qtype,
      status: outcome.status,
      rcode: outcome.rcode ?? null,
      answers: outcome.answers ?? [],
      transport: this.legs[leg]!,
      rttMs:
        outcome.rttMs === undefined || outcome.rttMs === null
          ? null
          : Math.round(outcome.rttMs * 1000) / 1000,
      truncated: (this.state[slot]! & TRUNCATED) !== 0,
      flags: outcome.flags ?? [],
      attempts: this.attempts[slot]!,
      reason: outcome.reason ?? null,
      from: outcome.from ?? null,
      error: outcome.error ?? (outcome.status === "error" ? (this.errors.get(slot) ?? null) : null),
    };
    this.errors.delete(slot);
    this.counts[record.status] = (this.counts[record.status] ?? 0) + 1;
    this.queue.push(record);
    const group = leg * this.items + question;
    let records = this.groupRecords.get(group);
    if (records === undefined) {
      records = new Array<DnsRecord>(this.servers.length);
      this.groupRecords.set(group, records);
    }
    records[server] = record;
    if (--this.groupLeft[group]! === 0) {
      if (this.servers.length > 1) this.queue.push(consistencyOf(records));
      this.groupRecords.delete(group);
    }
    if (--this.questionLeft[question]! === 0) {
      this.templates.delete(question * 2);
      this.templates.delete(question * 2 + 1);
    }
  }

  private closeAll(): void {
    this.finished = true;
    this.stopEngine.abort();
    this.stopTcp.abort();
    for (const side of [this.udp4, this.udp6]) {
      side?.socket.close();
      side?.icmp?.close();
    }
    this.refusals?.close();
  }
}
