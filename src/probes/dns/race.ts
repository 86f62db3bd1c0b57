// The 5-second DNS race (kubernetes/kubernetes#56903): glibc sends a lookup's A and AAAA queries at once, from
// one socket (so one source port: one conntrack tuple), in one sendmmsg, the A first and the AAAA right after
// (res_send.c, send_dg). Where the path DNATs the server's address (a cluster DNS Service), the two packets of
// that one tuple can reach conntrack together, each get a DNAT choice, and one of them is dropped when its
// entry is confirmed: the lookup then waits the resolver's 5-second timeout. This probe sends N such pairs and,
// as the control, N pairs whose A and AAAA leave from two sockets (two tuples, nothing to race), interleaved
// and paced alike, and compares the loss of the two kinds.
//
// A module of the engine: targets are the servers, items the pairs (even items same-socket, odd items
// separate-socket), sent in rounds (one pair to every server per round, `intervalMs` apart); each pair opens
// its own socket(s), as each glibc lookup does, and closes them once answered or past its timeout. Nothing is
// retried: a query unanswered within the timeout is what glibc would wait 5 seconds for.

import { randomFillSync } from "node:crypto";
import { type IpAddress, packIps, parseIp } from "../../addr/ip";
import { Engine, type ProbeModule, type SendBatch, type SendResult } from "../../engine/engine";
import { type ProbeRun, probeRun } from "../../engine/probe-run";
import { ResultQueue } from "../../engine/result-queue";
import { runProbe } from "../../engine/run-probe";
import { summaryRecord } from "../../engine/summary";
import { EnvironmentError, environmentErrorFrom, UsageError } from "../../errors";
import { META_STRIDE, native } from "../../native/binding";
import type { NativeError, NativeInetSocket } from "../../native/types";
import { findLink, listLinksAsync } from "../../net/links";
import { namespacePath } from "../../net/namespace";
import type { DnsRacePairs, DnsRaceRecord, SummaryRecord } from "../../records";
import { DNS_DEFAULTS, resolveServers } from "./dns";
import { checkAnswer, encodeQuery, peekId } from "./message";
import { queryName } from "./names";
import { fisherOneSided, RACE_ALPHA, roundP } from "./race-stats";

/**
 * Options of {@link dnsRace}.
 *
 * @example
 * ```ts
 * import { type DnsRaceOptions, dnsRace } from "wireprobe";
 *
 * const controller = new AbortController();
 * const options: DnsRaceOptions = {
 *   pairs: 200, servers: ["198.18.0.10", "2001:db8:53::10"], netns: "pod", intervalMs: 20, signal: controller.signal,
 *   onWarning: (message) => console.error(message),
 * };
 * const run = dnsRace("kubernetes.default.svc.cluster.local", options);
 * ```
 */
export interface DnsRaceOptions {
  /** pairs of each kind (same socket, separate sockets) per server, 1 to RACE_MAX_PAIRS */
  pairs: number;
  /** IPv4 or IPv6 servers; default: the nameservers of `resolvConf` (those a glibc lookup would use) */
  servers?: readonly string[];
  /** resolv.conf to take the servers from (default: the namespace's, as for dns()) */
  resolvConf?: string;
  /** server port, default 53 */
  port?: number;
  /** ms from one pair to the next to a server (default 10); the two kinds alternate */
  intervalMs?: number;
  /** how long a pair waits for its two answers, ms (default 2000); glibc waits 5000 */
  timeoutMs?: number;
  /** send out of this interface (SO_BINDTODEVICE) */
  interface?: string;
  /** network namespace: a name from `ip netns` or a path such as /proc/PID/ns/net */
  netns?: string;
  /**
   * stops the race: a record for every server whose pairs were all answered or timed out, then the summary
   * with `aborted: true`
   */
  signal?: AbortSignal;
  /** notes for the operator: skipped nameservers */
  onWarning?: (message: string) => void;
}

/**
 * The defaults of {@link DnsRaceOptions}.
 *
 * @example
 * ```ts
 * import { RACE_DEFAULTS, dnsRace } from "wireprobe";
 *
 * // a gentler pace: half as many pairs per second to each server
 * const run = dnsRace("kubernetes.default.svc.cluster.local", { pairs: 100, intervalMs: 2 * RACE_DEFAULTS.intervalMs });
 * ```
 */
export const RACE_DEFAULTS = {
  /** 10 ms from one pair to the next to a server */
  intervalMs: 10,
  /** a pair waits for its answers as long as a dns() attempt does: 2000 ms */
  timeoutMs: DNS_DEFAULTS.timeoutMs,
} as const;
/**
 * At most this many pairs of each kind per server: each pair leaves one or two conntrack entries on the path
 * for 30 s (nf_conntrack_udp_timeout), and 10,000 pairs are a 2 x 100 s run at the default pace.
 *
 * @example
 * ```ts
 * import { RACE_MAX_PAIRS, dnsRace } from "wireprobe";
 *
 * const wanted = 50_000;
 * const run = dnsRace("kubernetes.default.svc.cluster.local", { pairs: Math.min(wanted, RACE_MAX_PAIRS) });
 * ```
 */
export const RACE_MAX_PAIRS = 10_000;
/** pairs over all servers at most */
const MAX_TOTAL_PAIRS = 200_000;
/** pairs waiting for answers at once (each holds one or two sockets) */
const MAX_WAITING = 256;
const BATCH = 64;
const QUEUE_ROOM = 1024;
const CHANNEL = 1;

const SAME = 0;
const SEPARATE = 1;
const GOT_A = 1;
const GOT_AAAA = 2;
const GOT_BOTH = GOT_A | GOT_AAAA;

/** One pair under way: its sockets (one, or the A's and the AAAA's), its query IDs, the answers it has. */
interface Pair {
  slot: number;
  server: number;
  kind: typeof SAME | typeof SEPARATE;
  sockets: NativeInetSocket[];
  idA: number;
  idAAAA: number;
  got: number;
}

/** What one send call did: queries that went out, and why the rest did not. */
interface Sent {
  count: number;
  error: NativeError | null;
}

/** Counters of one server and kind. */
interface Tally {
  sent: number;
  answered: number;
  lostA: number;
  lostAAAA: number;
  lostBoth: number;
  badAnswers: number;
}

/**
 * Sends `pairs` A/AAAA pairs of each kind to every server and yields one `dns-race` record per server once
 * all of its pairs are answered or past their timeout, in the servers' order; then a summary (command "dns").
 * `name` is looked up as given (A and AAAA), with no search domains.
 *
 * @example
 * ```ts
 * import { dnsRace } from "wireprobe";
 *
 * // the cluster DNS Service's VIPs, from inside a pod's network namespace
 * const run = dnsRace("kubernetes.default.svc.cluster.local", { pairs: 50, servers: ["198.18.0.10", "2001:db8:53::10"], netns: "pod" });
 * for await (const r of run) {
 *   console.log(r.server, r.race ? "RACE" : "no race", r.sameSocket.lossRate, r.separateSockets.lossRate, r.pValue);
 * }
 * console.log(run.summary?.states); // answered, lost, unsent pairs
 * ```
 */
export function dnsRace(name: string, options: DnsRaceOptions): ProbeRun<DnsRaceRecord> {
  return probeRun(new DnsRaceRun(name, options));
}

class DnsRaceRun implements ProbeModule {
  summary: SummaryRecord | undefined;
  readonly targets: number;
  readonly items: number;
  private readonly name: string;
  private readonly servers: string[];
  private readonly serverIps: IpAddress[];
  private readonly pairs: number;
  private readonly port: number;
  private readonly timeoutMs: number;
  private readonly intervalMs: number;
  private readonly engine: Engine;
  private readonly queue = new ResultQueue<DnsRaceRecord>();
  private readonly stopEngine = new AbortController();
  /** pairs sent and not settled, by slot */
  private readonly waiting = new Map<number, Pair>();
  /** per server and kind (server * 2 + kind) */
  private readonly tallies: Tally[];
  /** per server: pairs settled (answered, lost or unsent), pairs not sent, the first send error */
  private readonly settled: Int32Array;
  private readonly unsent: Int32Array;
  private readonly errors: Array<string | null>;
  /** records made and not yet pushed (an earlier server's is still to come) */
  private readonly ready: Array<DnsRaceRecord | undefined>;
  private nextRecord = 0;
  private readonly templates: { A: Buffer; AAAA: Buffer };
  private ids = new Uint16Array(0);
  private idNext = 0;
  private netns: string | undefined;
  private queriesSent = 0;
  private answersReceived = 0;
  private start = 0;
  private started = false;
  private finished = false;

  constructor(
    name: string,
    private readonly options: DnsRaceOptions,
  ) {
    const pairs = options.pairs;
    if (!Number.isInteger(pairs) || pairs < 1 || pairs > RACE_MAX_PAIRS)
      throw new UsageError(`race pairs must be 1 to ${RACE_MAX_PAIRS}, got ${pairs}`);
    this.pairs = pairs;
    this.port = options.port ?? DNS_DEFAULTS.port;
    this.timeoutMs = options.timeoutMs ?? RACE_DEFAULTS.timeoutMs;
    this.intervalMs = options.intervalMs ?? RACE_DEFAULTS.intervalMs;
    if (!Number.isInteger(this.port) || this.port < 1 || this.port > 65535) throw new UsageError("bad port");
    if (!Number.isInteger(this.timeoutMs) || this.timeoutMs < 1)
      throw new UsageError("timeout must be >= 1 ms");
    if (!Number.isInteger(this.intervalMs) || this.intervalMs < 1 || this.intervalMs > 60_000)
      throw new UsageError("race interval must be 1 to 60000 ms");
    if (typeof name !== "string" || name === "") throw new UsageError("the race needs a name to look up");
    this.name = queryName(name, "A");
    const found = resolveServers(options);
    for (const s of found.skipped)
      options.onWarning?.(`skipping nameserver ${s} of ${found.file}: not usable`);
    this.servers = found.servers;
    this.serverIps = this.servers.map((s) => parseServer(s));
    if (this.servers.length * pairs > MAX_TOTAL_PAIRS)
      throw new UsageError(
        `too many pairs (${this.servers.length} servers x ${pairs}; at most ${MAX_TOTAL_PAIRS} in all)`,
      );
    this.targets = this.servers.length;
    this.items = 2 * pairs;
    this.tallies = Array.from({ length: 2 * this.targets }, () => ({
      sent: 0,
      answered: 0,
      lostA: 0,
      lostAAAA: 0,
      lostBoth: 0,
      badAnswers: 0,
    }));
    this.settled = new Int32Array(this.targets);
    this.unsent = new Int32Array(this.targets);
    this.errors = new Array<string | null>(this.targets).fill(null);
    this.ready = new Array<DnsRaceRecord | undefined>(this.targets);
    // glibc's queries without `options edns0`: recursion desired, no OPT record.
    this.templates = {
      A: encodeQuery(0, this.name, "A", false),
      AAAA: encodeQuery(0, this.name, "AAAA", false),
    };
    this.engine = new Engine(this, {
      // One pair to every server per round, the kinds alternating round by round: both kinds meet the same
      // conditions over the run (a burst of loss hits both), and each pair is sent once (rounds never retry).
      order: "rounds",
      retries: 0,
      rate: 0,
      batch: BATCH,
      timeoutMs: this.timeoutMs,
      fixedTimeout: true,
      roundGapMs: this.intervalMs,
      maxOutstanding: MAX_WAITING,
      signal: this.stopEngine.signal,
      room: () => this.queue.waitForRoom(QUEUE_ROOM),
      now: () => native.monotonicMs(),
    });
  }

  run(): AsyncGenerator<DnsRaceRecord> {
    if (this.started) throw new Error("a dnsRace() run can be iterated only once");
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
    const device = this.options.interface;
    if (device !== undefined) {
      const link = findLink(await listLinksAsync(this.netns), device);
      if (!link.up) throw new EnvironmentError(`interface "${link.name}" is down`, "ENETDOWN");
    }
    // Each pair opens its own sockets: find out now if that is not allowed, before any pair goes.
    for (const family of new Set(this.serverIps.map((ip) => ip.family))) this.openSocket(family).close();
    this.start = native.monotonicMs();
  }

  private async drive(stop: AbortSignal): Promise<void> {
    const onAbort = () => this.stopEngine.abort();
    if (stop.aborted) onAbort();
    stop.addEventListener("abort", onAbort, { once: true });
    let completed = false;
    try {
      completed = await this.engine.run();
    } finally {
      stop.removeEventListener("abort", onAbort);
      this.finished = true;
    }
    let answered = 0;
    let lost = 0;
    for (const t of this.tallies) {
      answered += t.answered;
      lost += t.sent - t.answered;
    }
    this.summary = summaryRecord({
      command: "dns",
      targets: this.targets * this.items,
      states: { answered, lost, unsent: this.unsent.reduce((n, u) => n + u, 0) },
      packetsSent: this.queriesSent,
      packetsReceived: this.answersReceived,
      packetsDropped: 0,
      durationMs: native.monotonicMs() - this.start,
      aborted: !completed,
    });
  }

  // --- the module's side of the engine -----------------------------------------------------------------

  channelOf(): number {
    // Every pair has sockets of its own: the channel says nothing more.
    return CHANNEL;
  }

  send(batch: SendBatch): SendResult {
    const startMs = native.monotonicMs();
    for (let k = 0; k < batch.count && !this.finished; k++) this.sendPair(batch.slots[k]!);
    return { sent: batch.count, startMs, endMs: native.monotonicMs() };
  }

  expired(slot: number): void {
    // Past its timeout: a lost query now, whatever comes later (its sockets close, as glibc's would time out).
    this.lose(slot);
  }

  unanswered(slot: number): void {
    this.lose(slot);
  }

  // --- pairs ---------------------------------------------------------------------------------------------

  private sendPair(slot: number): void {
    const server = Math.floor(slot / this.items);
    const kind = (slot - server * this.items) & 1 ? SEPARATE : SAME;
    const ip = this.serverIps[server]!;
    const [idA, idAAAA] = this.twoIds();
    const pair: Pair = { slot, server, kind, sockets: [], idA, idAAAA, got: 0 };
    try {
      pair.sockets.push(this.openSocket(ip.family));
      if (kind === SEPARATE) pair.sockets.push(this.openSocket(ip.family));
    } catch (err) {
      for (const s of pair.sockets) s.close();
      throw err;
    }
    pair.sockets.forEach((socket, index) => {
      socket.startReceive(
        (data, meta, count) => this.onPackets(pair, index, data, meta, count),
        (err) => this.engine.fail(err),
      );
    });
    const a = this.query("A", idA);
    const aaaa = this.query("AAAA", idAAAA);
    // glibc's send_dg: one sendmmsg of both on the lookup's socket; the control: the same two, one per socket.
    let sent: Sent;
    if (kind === SAME) sent = this.sendOnce(pair.sockets[0]!, [a, aaaa], ip);
    else {
      sent = this.sendOnce(pair.sockets[0]!, [a], ip);
      if (sent.count === 1) {
        const second = this.sendOnce(pair.sockets[1]!, [aaaa], ip);
        sent = { count: 1 + second.count, error: second.error };
      }
    }
    if (sent.count === 0) {
      this.refuse(pair, sent.error!);
      return;
    }
    if (sent.count === 1) {
      // The A went, the kernel refused the AAAA (a firewall on this host's own output path: where a
      // host-network client meets conntrack, a drop is told to sendmmsg). Its answer cannot come: lost.
      this.errors[server] ??= `the kernel refused an AAAA query after its A went: ${sent.error!.message}`;
    }
    this.tallies[server * 2 + kind]!.sent++;
    this.waiting.set(slot, pair);
  }

  /**
   * One send call of `packets` (the addon goes on with the rest when sendmmsg takes fewer, as glibc sends
   * the second query again with send() after a short sendmmsg); how many went, and why not the rest.
   */
  private sendOnce(socket: NativeInetSocket, packets: Buffer[], ip: IpAddress): Sent {
    let count: number;
    let error: NativeError | null = null;
    try {
      count = socket.send(
        packets,
        packIps(
          ip.family,
          packets.map(() => ip),
        ),
        packets.map(() => this.port),
      );
    } catch (err) {
      error = err as NativeError;
      count = error.sent ?? 0;
    }
    this.queriesSent += count;
    if (count < packets.length && error === null) {
      error = new Error("the socket's send buffer is full") as NativeError;
      error.code = "ENOBUFS";
    }
    return { count, error };
  }

  /** The kernel would not send the pair (no route, a firewall's reject, ...): not sent, said in the record. */
  private refuse(pair: Pair, err: NativeError): void {
    this.engine.settle(pair.slot);
    for (const s of pair.sockets) s.close();
    this.unsent[pair.server]!++;
    this.errors[pair.server] ??= `cannot send: ${err.message}`;
    this.settle(pair.server);
  }

  private onPackets(pair: Pair, socketIndex: number, data: Buffer, meta: Float64Array, count: number): void {
    if (this.waiting.get(pair.slot) !== pair) return;
    const ip = this.serverIps[pair.server]!;
    const tally = this.tallies[pair.server * 2 + pair.kind]!;
    for (let p = 0; p < count; p++) {
      const base = p * META_STRIDE;
      // Only the server's own address and port can answer (glibc's socket is connected to it).
      if (meta[base + 4] !== this.port || !sameAddress(ip, data, meta[base + 3]!)) continue;
      const offset = meta[base]!;
      const length = meta[base + 1]!;
      const id = peekId(data, offset, length);
      // A same-socket pair's answers come to its one socket; a separate pair's A socket gets the A's only.
      const mayA = pair.kind === SAME || socketIndex === 0;
      const mayAAAA = pair.kind === SAME || socketIndex === 1;
      const bit = id === pair.idA && mayA ? GOT_A : id === pair.idAAAA && mayAAAA ? GOT_AAAA : 0;
      if (bit === 0) {
        tally.badAnswers++;
        continue;
      }
      const message = data.subarray(offset, offset + length);
      const check = checkAnswer(message, { id, name: this.name, qtype: bit === GOT_A ? "A" : "AAAA" }, false);
      if (check.kind === "bad") {
        tally.badAnswers++;
        continue;
      }
      // Any rcode, and a truncated (TC) answer too: the query reached the server, which is all the race asks.
      this.answersReceived++;
      pair.got |= bit;
      if (pair.got === GOT_BOTH) {
        this.engine.answer(pair.slot, meta[base + 2]!);
        tally.answered++;
        this.release(pair);
        return;
      }
    }
  }

  /** The pair's wait is over without both answers: which query got lost. */
  private lose(slot: number): void {
    const pair = this.waiting.get(slot);
    if (pair === undefined) return;
    const tally = this.tallies[pair.server * 2 + pair.kind]!;
    if (pair.got === GOT_A) tally.lostAAAA++;
    else if (pair.got === GOT_AAAA) tally.lostA++;
    else tally.lostBoth++;
    this.release(pair);
  }

  private release(pair: Pair): void {
    this.waiting.delete(pair.slot);
    for (const s of pair.sockets) s.close();
    this.settle(pair.server);
  }

  /** One more of the server's pairs is settled; the last one makes its record. */
  private settle(server: number): void {
    if (++this.settled[server]! < this.items) return;
    const same = pairsOf(this.tallies[server * 2 + SAME]!);
    const separate = pairsOf(this.tallies[server * 2 + SEPARATE]!);
    const lostSame = same.sent - same.answered;
    const lostSeparate = separate.sent - separate.answered;
    const p = fisherOneSided(lostSame, same.sent, lostSeparate, separate.sent);
    this.ready[server] = {
      type: "dns-race",
      server: this.servers[server]!,
      port: this.port,
      name: this.name,
      pairs: this.pairs,
      sameSocket: same,
      separateSockets: separate,
      // The race drops one packet of the two: loss of both queries alone is something else.
      race: p < RACE_ALPHA && same.lostA + same.lostAAAA > 0,
      pValue: roundP(p),
      timeoutMs: this.timeoutMs,
      unsent: this.unsent[server]!,
      error: this.errors[server]!,
    };
    // Records go out in the servers' order, each as soon as the ones before it are out.
    while (this.nextRecord < this.targets && this.ready[this.nextRecord] !== undefined) {
      this.queue.push(this.ready[this.nextRecord]!);
      this.ready[this.nextRecord++] = undefined;
    }
  }

  private openSocket(family: 4 | 6): NativeInetSocket {
    try {
      return new native.InetSocket({
        type: "dgram",
        family,
        protocol: 17,
        bindPort: 0,
        ...(this.netns === undefined ? {} : { netns: this.netns }),
        ...(this.options.interface === undefined ? {} : { device: this.options.interface }),
      });
    } catch (err) {
      throw environmentErrorFrom(
        err,
        family === 4 ? "opening a UDP socket" : "opening a UDP socket for IPv6",
      );
    }
  }

  /** Two random query IDs, different from each other (as glibc's random_bits per query). */
  private twoIds(): [number, number] {
    const a = this.randomId();
    let b = this.randomId();
    while (b === a) b = this.randomId();
    return [a, b];
  }

  private randomId(): number {
    if (this.idNext >= this.ids.length) {
      this.ids = randomFillSync(new Uint16Array(4096));
      this.idNext = 0;
    }
    return this.ids[this.idNext++]!;
  }

  private query(qtype: "A" | "AAAA", id: number): Buffer {
    const q = Buffer.from(this.templates[qtype]);
    q.writeUInt16BE(id, 0);
    return q;
  }

  private closeAll(): void {
    this.finished = true;
    this.stopEngine.abort();
    for (const pair of this.waiting.values()) for (const s of pair.sockets) s.close();
    this.waiting.clear();
  }
}

function pairsOf(t: Tally): DnsRacePairs {
  const lost = t.lostA + t.lostAAAA + t.lostBoth;
  return {
    sent: t.sent,
    answered: t.answered,
    lostA: t.lostA,
    lostAAAA: t.lostAAAA,
    lostBoth: t.lostBoth,
    lossRate: t.sent > 0 ? Math.round((lost / t.sent) * 10_000) / 10_000 : 0,
    badAnswers: t.badAnswers,
  };
}

/** A server as resolveServers gives it (canonical text, checked): its address. */
function parseServer(text: string): IpAddress {
  const ip = parseIp(text);
  if (ip === null) throw new UsageError(`server "${text}" is not an IPv4 or IPv6 address`);
  return ip;
}

/** Whether a datagram's source (meta[3]: the IPv4 number, or where the IPv6 bytes are) is `ip`. */
function sameAddress(ip: IpAddress, data: Buffer, source: number): boolean {
  if (ip.family === 4) return source === ip.v4;
  for (let k = 0; k < 16; k++) if (data[source + k] !== ip.bytes[k]) return false;
  return true;
}
