import { randomFillSync } from "node:crypto";
import * as fs from "node:fs";
import { ipv4ToInt, isValidIpv4 } from "../../addr/address";
import type { ProbeRun } from "../../engine/probe-run";
import { ResultQueue } from "../../engine/result-queue";
import { runProbe } from "../../engine/run-probe";
import { EnvironmentError, environmentErrorFrom, UsageError } from "../../errors";
import { META_STRIDE, native } from "../../native/binding";
import type { NativeError, NativeInetSocket } from "../../native/types";
import { sendErrorReason } from "../../net/icmp-errors";
import { findLink, listLinks } from "../../net/links";
import { namespacePath } from "../../net/namespace";
import { SendRefusals } from "../../net/refused-route";
import type { DnsConsistencyRecord, DnsRecord, SummaryRecord } from "../../records";
import { consistencyOf } from "./consistency";
import { type IcmpUdpError, watchIcmpUdpErrors } from "./icmp-watch";
import { type AnswerCheck, checkAnswer, encodeQuery, peekId } from "./message";
import { parseQTypes, type QType, queryName } from "./names";
import { readNameservers, resolvConfFor } from "./resolv-conf";
import { type TcpOutcome, tcpExchange } from "./tcp-exchange";

export interface DnsOptions {
  /** IPv4 servers to ask; default: the nameservers of `resolvConf` */
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
  /** queries in flight per server over UDP (default 16; TCP: at most 8 connections per server) */
  concurrency?: number;
  /** send an EDNS OPT record (UDP size 1232), falling back to plain DNS on FORMERR, like dig (default true) */
  edns?: boolean;
  signal?: AbortSignal;
  /** notes for the operator: skipped nameservers, missing ICMP visibility */
  onWarning?: (message: string) => void;
}

// 16 queries in flight per server: at a 1 ms round trip that is 16,000 queries/s per server, more than a
// check needs, while a production server's socket buffer never sees a burst from us.
export const DNS_DEFAULTS = { timeoutMs: 2000, retries: 1, port: 53, concurrency: 16, qtype: "A" } as const;
const TCP_CONCURRENCY = 8;
const MAX_JOBS = 1_000_000;
const SEND_CHUNK = 256;

// Job phases.
const QUEUED = 0;
const UDP_WAITING = 1;
const TCP_RUNNING = 2;
const DONE = 3;

interface Job {
  server: number;
  name: string;
  qtype: QType;
  leg: "udp" | "tcp";
  group: number;
  phase: number;
  /** queries sent (the record's `attempts`) */
  sends: number;
  /** attempts that may still time out and be retried */
  triesLeft: number;
  edns: boolean;
  /** UDP IDs of this job still registered (answers to any of its attempts are accepted) */
  ids: number[];
  /** the send time of the newest UDP attempt (timeouts of older attempts are stale) */
  currentSend: number;
  truncated: boolean;
  lastError: string | null;
}

interface Pending {
  job: Job;
  /** the job's send number this query is (its timeout only counts while it is the newest) */
  attempt: number;
  id: number;
  sentAt: number;
  edns: boolean;
}

interface ServerVerdict {
  status: "refused" | "unreachable";
  reason: string;
  from: string | null;
}

type DnsResult = DnsRecord | DnsConsistencyRecord;

/** The servers a run asks: as given, or from the resolv.conf of the namespace. */
export function resolveServers(options: DnsOptions): {
  servers: string[];
  skipped: string[];
  file: string | null;
} {
  if (options.servers && options.servers.length > 0) {
    const servers: string[] = [];
    for (const s of options.servers) {
      if (!isValidIpv4(s)) throw new UsageError(`server "${s}" is not an IPv4 address`);
      if (!servers.includes(s)) servers.push(s);
    }
    return { servers, skipped: [], file: null };
  }
  const file = options.resolvConf ?? resolvConfFor(options.netns);
  const found = readNameservers(file);
  if (found.servers.length === 0) {
    const extra = found.skipped.length > 0 ? ` (only ${found.skipped.join(", ")}, not IPv4)` : "";
    throw new EnvironmentError(`no IPv4 nameserver in ${file}${extra}; give servers with --server`);
  }
  return found;
}

/**
 * Asks every server for every name (and type), over UDP and/or TCP: one `dns` record per server, name,
 * type and transport, and with several servers one `dns-consistency` record per name, type and transport.
 */
export function dns(names: string | readonly string[], options: DnsOptions = {}): ProbeRun<DnsResult> {
  const list = typeof names === "string" ? [names] : [...names];
  if (list.length === 0) throw new UsageError("no names");
  const run = new DnsRun(list, options);
  return {
    get summary() {
      return run.summary;
    },
    [Symbol.asyncIterator]: () => run.run(),
  };
}

class DnsRun {
  summary: SummaryRecord | undefined;
  private readonly servers: string[];
  private readonly serverInts: number[];
  private readonly serverIndex = new Map<number, number>();
  private readonly port: number;
  private readonly timeoutMs: number;
  private readonly retries: number;
  private readonly concurrency: number;
  private readonly jobs: Job[] = [];
  private readonly udpQueues: Job[][];
  private readonly tcpQueues: Job[][];
  private readonly udpHeads: number[];
  private readonly tcpHeads: number[];
  private readonly udpInFlight: number[];
  private readonly tcpInFlight: number[];
  private readonly verdicts: Array<ServerVerdict | null>;
  private readonly groupRecords: Array<Array<DnsRecord | undefined>> = [];
  private readonly groupLeft: number[] = [];
  private readonly pending = new Map<number, Pending>();
  private readonly templates = new Map<number, Buffer>();
  /** ends TCP exchanges still open when the run stops early (abort, or the caller stops iterating) */
  private readonly stopTcp = new AbortController();
  private readonly queue = new ResultQueue<DnsResult>();
  private readonly counts: Record<string, number> = {
    ok: 0,
    refused: 0,
    unreachable: 0,
    timeout: 0,
    error: 0,
  };
  private readonly timeouts: Array<{ job: Job; send: number; deadline: number }> = [];
  private timeoutHead = 0;
  private timer: NodeJS.Timeout | null = null;
  private outgoing: Pending[] = [];
  private flushScheduled = false;
  private ids = new Uint16Array(0);
  private idNext = 0;
  private netns: string | undefined;
  private udp: NativeInetSocket | null = null;
  private icmp: NativeInetSocket | null = null;
  private refusals: SendRefusals | null = null;
  private localPort = 0;
  private start = 0;
  private sent = 0;
  private received = 0;
  private done = 0;
  private started = false;
  private finished = false;
  private resolveDone: (() => void) | null = null;
  private readonly onAbort = () => this.finishRun(true);
  private readonly legs: Array<"udp" | "tcp">;

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
    for (const s of found.skipped) options.onWarning?.(`skipping nameserver ${s} of ${found.file}: not IPv4`);
    this.servers = found.servers;
    this.serverInts = this.servers.map(ipv4ToInt);
    for (const [i, n] of this.serverInts.entries()) this.serverIndex.set(n, i);
    const S = this.servers.length;
    const total = names.length * qtypes.length * this.legs.length * S;
    if (total > MAX_JOBS) throw new UsageError(`too many queries (${total}; at most ${MAX_JOBS})`);
    this.udpQueues = Array.from({ length: S }, () => []);
    this.tcpQueues = Array.from({ length: S }, () => []);
    this.udpHeads = new Array<number>(S).fill(0);
    this.tcpHeads = new Array<number>(S).fill(0);
    this.udpInFlight = new Array<number>(S).fill(0);
    this.tcpInFlight = new Array<number>(S).fill(0);
    this.verdicts = new Array<ServerVerdict | null>(S).fill(null);
    for (const input of names) {
      for (const qtype of qtypes) {
        const name = queryName(input, qtype);
        for (const leg of this.legs) {
          const group = this.groupLeft.length;
          this.groupLeft.push(S);
          this.groupRecords.push(new Array<DnsRecord | undefined>(S));
          for (let s = 0; s < S; s++) {
            const job: Job = {
              server: s,
              name,
              qtype,
              leg,
              group,
              phase: QUEUED,
              sends: 0,
              triesLeft: this.retries + 1,
              edns: options.edns ?? true,
              ids: [],
              currentSend: -1,
              truncated: false,
              lastError: null,
            };
            this.jobs.push(job);
            (leg === "udp" ? this.udpQueues : this.tcpQueues)[s]!.push(job);
          }
        }
      }
    }
  }

  run(): AsyncGenerator<DnsResult> {
    if (this.started) throw new Error("a dns() run can be iterated only once");
    this.started = true;
    return runProbe(this.queue, {
      setup: () => this.setup(),
      drive: () => this.drive(),
      close: () => this.closeAll(),
    });
  }

  private setup(): void {
    this.netns = namespacePath(this.options.netns);
    this.refusals = new SendRefusals(this.netns);
    const device = this.options.interface;
    if (device !== undefined) {
      const link = findLink(listLinks(this.netns), device);
      if (!link.up) throw new EnvironmentError(`interface "${link.name}" is down`, "ENETDOWN");
    }
    if (this.legs.includes("udp")) {
      try {
        this.udp = new native.InetSocket({
          type: "dgram",
          protocol: 17,
          bindPort: 0,
          rcvbuf: 4 << 20,
          ...(this.netns === undefined ? {} : { netns: this.netns }),
          ...(device === undefined ? {} : { device }),
        });
      } catch (err) {
        throw environmentErrorFrom(err, "opening a UDP socket");
      }
      this.localPort = this.udp.localAddress().port;
      this.udp.startReceive((data, meta, count) => this.onPackets(data, meta, count));
      try {
        this.icmp = watchIcmpUdpErrors(this.netns, (e) => this.onIcmpError(e));
      } catch (err) {
        const code = (err as NativeError).code;
        if (code !== "EPERM" && code !== "EACCES")
          throw environmentErrorFrom(err, "opening a raw ICMP socket");
        this.options.onWarning?.(
          "no raw ICMP socket (needs CAP_NET_RAW): UDP servers that refuse or cannot be reached show as timeout",
        );
      }
    }
    if (!this.udp && this.netns !== undefined) {
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

  private drive(): Promise<void> {
    const signal = this.options.signal;
    return new Promise<void>((resolve) => {
      this.resolveDone = resolve;
      if (signal?.aborted) {
        this.finishRun(true);
        return;
      }
      signal?.addEventListener("abort", this.onAbort, { once: true });
      for (let s = 0; s < this.servers.length; s++) this.pump(s);
      this.checkDone();
    });
  }

  /** Starts queued jobs of a server up to its concurrency limits. */
  private pump(s: number): void {
    if (this.finished) return;
    const udpQueue = this.udpQueues[s]!;
    while (this.udpInFlight[s]! < this.concurrency && this.udpHeads[s]! < udpQueue.length) {
      const job = udpQueue[this.udpHeads[s]!]!;
      this.udpHeads[s]!++;
      this.udpInFlight[s]!++;
      this.sendUdp(job);
    }
    const tcpQueue = this.tcpQueues[s]!;
    const tcpLimit = Math.min(this.concurrency, TCP_CONCURRENCY);
    while (this.tcpInFlight[s]! < tcpLimit && this.tcpHeads[s]! < tcpQueue.length) {
      const job = tcpQueue[this.tcpHeads[s]!]!;
      this.tcpHeads[s]!++;
      this.tcpInFlight[s]!++;
      void this.runTcp(job, null);
    }
  }

  // --- UDP ---------------------------------------------------------------------------------------------

  /**
   * The query for a job with the given ID. Every server is asked the same question, so each question is
   * encoded once and copied with its ID written in.
   */
  private query(job: Job, id: number, edns: boolean): Buffer {
    const slot = job.group * 2 + (edns ? 0 : 1);
    let template = this.templates.get(slot);
    if (template === undefined) {
      template = encodeQuery(0, job.name, job.qtype, edns);
      // Kept until the group's last server has answered (finishJob drops it).
      this.templates.set(slot, template);
    }
    const q = Buffer.allocUnsafe(template.length);
    template.copy(q);
    q.writeUInt16BE(id, 0);
    return q;
  }

  private key(server: number, id: number): number {
    return server * 65536 + id;
  }

  private randomId(server: number): number {
    for (;;) {
      if (this.idNext >= this.ids.length) {
        this.ids = randomFillSync(new Uint16Array(4096));
        this.idNext = 0;
      }
      const id = this.ids[this.idNext++]!;
      if (!this.pending.has(this.key(server, id))) return id;
    }
  }

  private sendUdp(job: Job): void {
    const id = this.randomId(job.server);
    job.phase = UDP_WAITING;
    job.sends++;
    job.currentSend = job.sends;
    const p: Pending = { job, attempt: job.sends, id, sentAt: 0, edns: job.edns };
    this.pending.set(this.key(job.server, id), p);
    job.ids.push(id);
    this.outgoing.push(p);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
  }

  /** Sends the queued queries in sendmmsg batches. */
  private flush(): void {
    this.flushScheduled = false;
    if (this.finished || !this.udp) return;
    // Queries whose job already ended (an ICMP error came first) need not go out.
    const queue = this.outgoing.filter((p) => p.job.phase === UDP_WAITING);
    this.outgoing = [];
    let i = 0;
    while (i < queue.length) {
      const chunk = queue.slice(i, i + SEND_CHUNK);
      const packets = chunk.map((p) => this.query(p.job, p.id, p.edns));
      const addresses = chunk.map((p) => this.servers[p.job.server]!);
      const ports = chunk.map(() => this.port);
      const now = native.monotonicMs();
      let sent: number;
      let failed: NativeError | null = null;
      try {
        sent = this.udp.send(packets, addresses, ports);
      } catch (err) {
        failed = err as NativeError;
        sent = failed.sent ?? 0;
      }
      for (let k = 0; k < sent; k++) this.markSent(chunk[k]!, now);
      this.sent += sent;
      if (failed) {
        // That one query could not leave (no route, prohibited, ...); the rest go on.
        this.onSendError(chunk[sent]!, failed);
        i += sent + 1;
        continue;
      }
      if (sent < chunk.length) {
        // Socket buffer full: keep the rest, in order, and try again shortly.
        this.outgoing = [...queue.slice(i + sent), ...this.outgoing];
        this.flushScheduled = true;
        setTimeout(() => this.flush(), 1);
        return;
      }
      i += chunk.length;
    }
  }

  private markSent(p: Pending, now: number): void {
    p.sentAt = now;
    this.timeouts.push({ job: p.job, send: p.attempt, deadline: now + this.timeoutMs });
    this.armTimer();
  }

  private onSendError(p: Pending, err: NativeError): void {
    const job = p.job;
    if (job.phase !== UDP_WAITING) return;
    const routeType = this.refusals?.routeType(this.serverInts[job.server]!) ?? null;
    if (routeType !== null) {
      // The route refused it (blackhole, prohibit, unreachable, broadcast): that names it, not the errno.
      this.finishJob(job, { status: "unreachable", reason: routeType, from: null });
      return;
    }
    const reason = sendErrorReason(err.code);
    if (["no-route", "host-unreach", "prohibited", "blocked-locally"].includes(reason)) {
      this.finishJob(job, { status: "unreachable", reason, from: null });
    } else {
      this.finishJob(job, { status: "error", error: `cannot send the query: ${err.message}` });
    }
  }

  private armTimer(): void {
    if (this.timer !== null || this.timeoutHead >= this.timeouts.length) return;
    const wait = Math.max(0, this.timeouts[this.timeoutHead]!.deadline - native.monotonicMs());
    this.timer = setTimeout(() => this.onTimer(), Math.ceil(wait));
  }

  private onTimer(): void {
    this.timer = null;
    if (this.finished) return;
    const now = native.monotonicMs();
    while (this.timeoutHead < this.timeouts.length && this.timeouts[this.timeoutHead]!.deadline <= now) {
      const { job, send } = this.timeouts[this.timeoutHead++]!;
      if (job.phase !== UDP_WAITING || job.currentSend !== send) continue;
      job.triesLeft--;
      if (job.triesLeft > 0) {
        this.sendUdp(job);
      } else {
        this.finishUnanswered(job);
      }
    }
    if (this.timeoutHead > 4096 && this.timeoutHead * 2 > this.timeouts.length) {
      this.timeouts.splice(0, this.timeoutHead);
      this.timeoutHead = 0;
    }
    this.armTimer();
  }

  /** No answer after every attempt: an error if only bad answers came, the server's ICMP verdict, or timeout. */
  private finishUnanswered(job: Job): void {
    if (job.lastError !== null) {
      this.finishJob(job, { status: "error", error: job.lastError });
      return;
    }
    // ICMP errors are rate limited (per peer, about one a second after a burst of six), so of many queries
    // to a dead server only some get theirs: the server's verdict speaks for the rest.
    const verdict = job.leg === "udp" && !job.truncated ? this.verdicts[job.server] : null;
    if (verdict) this.finishJob(job, { ...verdict });
    else this.finishJob(job, { status: "timeout" });
  }

  private onPackets(data: Buffer, meta: Float64Array, count: number): void {
    for (let p = 0; p < count; p++) {
      const base = p * META_STRIDE;
      const s = this.serverIndex.get(meta[base + 3]!);
      // Only the server's own address and port can answer; anything else is not an answer to us.
      if (s === undefined || meta[base + 4] !== this.port) continue;
      const offset = meta[base]!;
      const length = meta[base + 1]!;
      const id = peekId(data, offset, length);
      if (id < 0) continue;
      const pending = this.pending.get(this.key(s, id));
      if (!pending || pending.job.phase !== UDP_WAITING) continue;
      const job = pending.job;
      const message = data.subarray(offset, offset + length);
      const check = checkAnswer(message, { id, name: job.name, qtype: job.qtype }, pending.edns);
      this.onUdpAnswer(job, pending, check, meta[base + 2]!);
    }
  }

  private onUdpAnswer(job: Job, pending: Pending, check: AnswerCheck, at: number): void {
    if (check.kind === "bad") {
      // Possibly spoofed or garbled: keep waiting for the real answer until the attempt times out.
      job.lastError = check.error;
      return;
    }
    this.received++;
    if (check.ednsRejected) {
      // A server without EDNS: ask again without it, once; later copies of this FORMERR change nothing.
      if (job.edns) {
        job.edns = false;
        this.sendUdp(job);
      }
      return;
    }
    if (check.truncated) {
      this.releaseIds(job);
      job.truncated = true;
      void this.runTcp(job, pending.sentAt);
      return;
    }
    this.finishJob(job, {
      status: "ok",
      rcode: check.rcode,
      answers: check.answers,
      flags: check.flags,
      rttMs: Math.max(0, at - pending.sentAt),
    });
  }

  private onIcmpError(e: IcmpUdpError): void {
    if (this.finished || e.srcPort !== this.localPort || e.dstPort !== this.port) return;
    const s = this.serverIndex.get(e.dst);
    if (s === undefined) return;
    const verdict: ServerVerdict = { status: e.status, reason: e.reason, from: e.from };
    this.verdicts[s] = verdict;
    // The error is about the server, not one query: every query to it waiting over UDP has its answer.
    const waiting = new Set<Job>();
    for (const p of this.pending.values()) {
      if (p.job.server === s && p.job.phase === UDP_WAITING) waiting.add(p.job);
    }
    for (const job of waiting) this.finishJob(job, { ...verdict });
  }

  private releaseIds(job: Job): void {
    for (const id of job.ids) this.pending.delete(this.key(job.server, id));
    job.ids = [];
  }

  // --- TCP ---------------------------------------------------------------------------------------------

  /** A TCP leg, or (udpSentAt set) the retry of a truncated UDP answer. */
  private async runTcp(job: Job, udpSentAt: number | null): Promise<void> {
    job.phase = TCP_RUNNING;
    if (udpSentAt !== null) job.triesLeft = this.retries + 1;
    while (!this.finished) {
      const id = this.randomId(job.server);
      const edns = job.edns;
      // A TCP leg's time counts from its own connect; a retry after truncation from the UDP query.
      const asked = udpSentAt ?? native.monotonicMs();
      job.sends++;
      this.sent++;
      const outcome = await tcpExchange({
        server: this.servers[job.server]!,
        port: this.port,
        query: this.query(job, id, edns),
        timeoutMs: this.timeoutMs,
        ...(this.netns === undefined ? {} : { netns: this.netns }),
        ...(this.options.interface === undefined ? {} : { device: this.options.interface }),
        signal: this.stopTcp.signal,
      });
      if (this.finished) return;
      const prefix = udpSentAt !== null ? "the UDP answer was truncated; over TCP: " : "";
      const routeType = this.tcpRefusal(job, outcome);
      if (routeType !== null) {
        this.finishJob(job, {
          status: "unreachable",
          reason: routeType,
          from: null,
          ...(prefix ? { error: `${prefix}${routeType}` } : {}),
        });
        return;
      }
      if (outcome.kind === "answer") {
        const check = checkAnswer(outcome.message, { id, name: job.name, qtype: job.qtype }, edns);
        if (check.kind === "answer") {
          this.received++;
          if (check.ednsRejected && job.edns) {
            job.edns = false;
            continue;
          }
          this.finishJob(job, {
            status: "ok",
            rcode: check.rcode,
            answers: check.answers,
            flags: check.flags,
            rttMs: native.monotonicMs() - asked,
          });
          return;
        }
        job.lastError = prefix + check.error;
      } else if (outcome.kind === "refused" || outcome.kind === "unreachable") {
        this.finishJob(job, {
          status: outcome.kind,
          reason: outcome.reason,
          from: null,
          ...(prefix ? { error: `${prefix}${outcome.reason}` } : {}),
        });
        return;
      } else if (outcome.kind === "error") {
        job.lastError = prefix + outcome.error;
      }
      job.triesLeft--;
      if (job.triesLeft <= 0) {
        if (outcome.kind === "timeout" && prefix) {
          this.finishJob(job, { status: "timeout", error: `${prefix}no answer` });
        } else {
          this.finishUnanswered(job);
        }
        return;
      }
    }
  }

  /**
   * A connect that failed because a route refuses the server (blackhole, prohibit, unreachable, broadcast):
   * its route type, named as for UDP; null for every other outcome.
   */
  private tcpRefusal(job: Job, outcome: TcpOutcome): string | null {
    if (outcome.kind !== "unreachable" && outcome.kind !== "error") return null;
    return this.refusals?.routeType(this.serverInts[job.server]!) ?? null;
  }

  // --- results -----------------------------------------------------------------------------------------

  private finishJob(job: Job, fields: Partial<DnsRecord> & Pick<DnsRecord, "status">): void {
    if (job.phase === DONE || this.finished) return;
    const wasTcpLeg = job.leg === "tcp";
    job.phase = DONE;
    this.releaseIds(job);
    const record: DnsRecord = {
      type: "dns",
      server: this.servers[job.server]!,
      port: this.port,
      name: job.name,
      qtype: job.qtype,
      status: fields.status,
      rcode: fields.rcode ?? null,
      answers: fields.answers ?? [],
      transport: job.leg,
      rttMs:
        fields.rttMs === undefined || fields.rttMs === null ? null : Math.round(fields.rttMs * 1000) / 1000,
      truncated: job.truncated,
      flags: fields.flags ?? [],
      attempts: job.sends,
      reason: fields.reason ?? null,
      from: fields.from ?? null,
      error: fields.error ?? (fields.status === "error" ? job.lastError : null),
    };
    this.counts[record.status] = (this.counts[record.status] ?? 0) + 1;
    this.queue.push(record);
    const records = this.groupRecords[job.group]!;
    records[job.server] = record;
    if (--this.groupLeft[job.group]! === 0) {
      if (this.servers.length > 1) this.queue.push(consistencyOf(records as DnsRecord[]));
      this.groupRecords[job.group] = [];
      this.templates.delete(job.group * 2);
      this.templates.delete(job.group * 2 + 1);
    }
    this.done++;
    if (wasTcpLeg) this.tcpInFlight[job.server]!--;
    else this.udpInFlight[job.server]!--;
    this.pump(job.server);
    this.checkDone();
  }

  private checkDone(): void {
    if (this.done === this.jobs.length) this.finishRun(false);
  }

  private finishRun(aborted: boolean): void {
    if (this.finished) return;
    this.finished = true;
    this.options.signal?.removeEventListener("abort", this.onAbort);
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    const durationMs = native.monotonicMs() - this.start;
    let drops = 0;
    try {
      drops = this.udp?.stats().drops ?? 0;
    } catch {
      drops = 0;
    }
    this.summary = {
      type: "summary",
      command: "dns",
      targets: this.jobs.length,
      states: { ...this.counts },
      packetsSent: this.sent,
      packetsReceived: this.received,
      packetsDropped: drops,
      durationMs: Math.round(durationMs * 10) / 10,
      rate: durationMs > 0 ? Math.round((this.sent * 1000) / durationMs) : 0,
      ...(aborted ? { aborted: true } : {}),
    };
    this.resolveDone?.();
  }

  private closeAll(): void {
    this.finished = true;
    this.stopTcp.abort();
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = null;
    this.udp?.close();
    this.icmp?.close();
    this.refusals?.close();
  }
}
