import { closeSync } from "node:fs";
import { Socket } from "node:net";
import { intToIpv4 } from "../../addr/address";
import { formatIpv6 } from "../../addr/ipv6";
import { Engine, type ProbeModule, type SendBatch, type SendResult } from "../../engine/engine";
import { EnvironmentError, environmentErrorFrom } from "../../errors";
import { native } from "../../native/binding";
import type { LinkInfo } from "../../native/types";
import { findLink } from "../../net/links";
import { createRouteResolverAsync } from "../../net/route-resolver";
import {
  CLOSED_CONN_REFUSED,
  FILTERED_ADMIN_PROHIBITED,
  FILTERED_HOST_UNREACH,
  FILTERED_NET_UNREACH,
  FILTERED_NO_RESPONSE,
  FILTERED_PERM_DENIED,
  OPEN_SYN_ACK,
  OUTCOME_NONE,
} from "../../port-outcomes";
import type { ScanContext } from "../scan/scan-context";
import type { ScanShare } from "../scan/share";

// The TCP connect scan (nmap -sT) as a probe module: what a scan can do without CAP_NET_RAW. A slot is a
// target x port pair, as in the SYN scan, and its probe a full connect(); the kernel's answer is the errno.
// IPv4 and IPv6 targets alike: the socket's family is the target's (the kernel turns ICMPv6 errors into the
// same errnos, admin-prohibited into EACCES).
// An accepted connection is reset at once (no FIN handshake, no TIME_WAIT left behind). With a namespace
// (root only) or an interface, each socket is created by the addon (inside the namespace, bound to the
// interface) and connected from Node. The engine keeps at most CONNECT_CONCURRENCY connects waiting; an
// attempt past its timeout is destroyed, so no socket outlives its wait.

export interface ConnectScanOptions {
  /** namespace file path (resolved), undefined for the process's own */
  netns: string | undefined;
  /** send only out of this interface (SO_BINDTODEVICE); targets it has no route for are down */
  interface?: string | undefined;
  rate: number;
  retries: number;
  timeoutMs: number;
  signal: AbortSignal | undefined;
  /** the order of the slots, and a shard's part of them */
  share: ScanShare;
}

/** Connections in flight at once: well under the 1024 descriptors an unprivileged process usually gets. */
export const CONNECT_CONCURRENCY = 256;
/** A local failure (out of descriptors or ports) is tried again after this long. */
const LOCAL_RETRY_MS = 50;

/** nmap's reading of connect() errors (scan_engine_connect.cc). OUTCOME_NONE: try again (a timeout). */
export function connectOutcome(code: string | undefined): number {
  switch (code) {
    case "ECONNREFUSED":
      return CLOSED_CONN_REFUSED;
    case "EHOSTUNREACH":
    case "EHOSTDOWN":
      return FILTERED_HOST_UNREACH;
    case "ENETUNREACH":
    case "ENETDOWN":
      return FILTERED_NET_UNREACH;
    case "EACCES":
      // An ICMPv6 admin-prohibited (or a prohibit route): nmap's admin-prohibited, not a local refusal.
      return FILTERED_ADMIN_PROHIBITED;
    case "EPERM":
      return FILTERED_PERM_DENIED;
    default:
      return OUTCOME_NONE;
  }
}

/** Errors that say nothing about the target: the attempt is repeated after a pause. */
const LOCAL_TROUBLE = new Set(["EMFILE", "ENFILE", "EADDRNOTAVAIL", "ENOBUFS", "EAGAIN"]);

/** One slot's current connect: its socket, or the timer that starts it again after a local failure. */
interface Attempt {
  socket: Socket | null;
  retry: NodeJS.Timeout | null;
}

const monotonicMs = () => native.monotonicMs();

export class ConnectScan implements ProbeModule {
  readonly targets: number;
  readonly items: number;
  private engine!: Engine;
  /** per target: 1 when it gets no probe (no route through the pinned interface) */
  private down: Uint8Array | null = null;
  private readonly attempts = new Map<number, Attempt>();
  private stopped = false;
  /** scratch for an IPv6 target's bytes */
  private readonly bytes6 = new Uint8Array(16);

  constructor(
    private readonly ctx: ScanContext,
    private readonly options: ConnectScanOptions,
  ) {
    this.targets = ctx.targets.size;
    this.items = ctx.ports.length;
  }

  async run(): Promise<boolean> {
    const { ctx, options } = this;
    if (options.interface !== undefined) await this.reportOffInterface(options.interface);
    const share = options.share;
    this.engine = new Engine(this, {
      order: "permuted",
      ...(share.order ? { permutation: share.order } : {}),
      retries: options.retries,
      rate: options.rate,
      batch: CONNECT_CONCURRENCY,
      maxOutstanding: CONNECT_CONCURRENCY,
      timeoutMs: options.timeoutMs,
      ...(options.signal ? { signal: options.signal } : {}),
      room: () => ctx.room(),
      now: monotonicMs,
    });
    ctx.probing(
      this.engine,
      share.probes(this.targets, (t) => this.down?.[t] !== 1),
    );
    try {
      return await this.engine.run();
    } finally {
      this.stopped = true;
      for (const slot of [...this.attempts.keys()]) this.drop(slot);
    }
  }

  channelOf(target: number): number {
    return this.down?.[target] ? 0 : 1;
  }

  /** Starts the batch's connects; their outcomes come as events. */
  send(batch: SendBatch): SendResult {
    const startMs = native.monotonicMs();
    for (let k = 0; k < batch.count; k++) this.connect(batch.slots[k]!);
    return { sent: batch.count, startMs, endMs: native.monotonicMs() };
  }

  expired(slot: number): void {
    this.drop(slot);
  }

  unanswered(slot: number): void {
    this.drop(slot);
    const { ctx } = this;
    const t = Math.floor(slot / this.items);
    const port = ctx.ports[slot - t * this.items]!;
    if (t < ctx.targets.size4) ctx.port(ctx.targets.at(t), port, FILTERED_NO_RESPONSE, null, null);
    else ctx.port6(this.text6(t), port, FILTERED_NO_RESPONSE, null, null);
  }

  /** An IPv6 target's address in RFC 5952 text (what Node connects to and records carry). */
  private text6(t: number): string {
    this.ctx.targets.ipv6Into(t, this.bytes6);
    return formatIpv6(this.bytes6);
  }

  /**
   * Pinned to an interface: targets it has no route for are down (no-route), as in the SYN scan, and get no
   * probe (each reported by the shard that holds its first slot).
   */
  private async reportOffInterface(name: string): Promise<void> {
    const { ctx } = this;
    const plain = await createRouteResolverAsync(this.options.netns);
    let link: LinkInfo;
    try {
      link = findLink(plain.links, name);
    } finally {
      plain.close();
    }
    if (!link.up) throw new EnvironmentError(`interface "${link.name}" is down`, "ENETDOWN");
    const resolver = await createRouteResolverAsync(this.options.netns, { link });
    const down = new Uint8Array(ctx.targets.size);
    const share = this.options.share;
    try {
      for (let t = 0; t < ctx.targets.size4; t++) {
        const ip = ctx.targets.at(t);
        if (resolver.resolve(ip).kind !== "other-link") continue;
        down[t] = 1;
        if (share.ownsHost(t)) ctx.host(intToIpv4(ip), "no-route", ctx.names.get(ip));
      }
      for (let t = ctx.targets.size4; t < ctx.targets.size; t++) {
        ctx.targets.ipv6Into(t, this.bytes6);
        if (resolver.resolve6(this.bytes6).kind !== "other-link") continue;
        down[t] = 1;
        if (share.ownsHost(t)) ctx.host(formatIpv6(this.bytes6), "no-route");
      }
    } finally {
      resolver.close();
    }
    this.down = down;
  }

  /** Ends the slot's attempt, if any: its socket destroyed, its retry cancelled. */
  private drop(slot: number): void {
    const attempt = this.attempts.get(slot);
    if (attempt === undefined) return;
    this.attempts.delete(slot);
    if (attempt.retry !== null) clearTimeout(attempt.retry);
    attempt.socket?.destroy();
  }

  /** A TCP socket of the target's family: Node's own, or the addon's (in the namespace, on the interface). */
  private openSocket(family: 4 | 6): Socket {
    const { netns, interface: device } = this.options;
    if (netns === undefined && device === undefined) return new Socket();
    let fd: number;
    try {
      fd = native.openSocketFd({
        type: "stream",
        family,
        protocol: 6,
        ...(netns === undefined ? {} : { netns }),
        ...(device === undefined ? {} : { device }),
      });
    } catch (err) {
      // Entering the namespace was refused (or it is gone): the environment, not a bug.
      throw environmentErrorFrom(err, "opening a TCP socket");
    }
    try {
      return new Socket({ fd, readable: true, writable: true });
    } catch (err) {
      closeSync(fd);
      throw err;
    }
  }

  private connect(slot: number): void {
    // A slot sent again replaces its earlier attempt.
    this.drop(slot);
    const { ctx } = this;
    const t = Math.floor(slot / this.items);
    const v6 = t >= ctx.targets.size4;
    // IPv4 targets stay numbers to their record; an IPv6 one is its text (-1 as the number)
    const ip = v6 ? -1 : ctx.targets.at(t);
    const host = v6 ? this.text6(t) : intToIpv4(ip);
    const port = ctx.ports[slot - t * this.items]!;
    const socket = this.openSocket(v6 ? 6 : 4);
    const attempt: Attempt = { socket, retry: null };
    this.attempts.set(slot, attempt);
    const current = () => this.attempts.get(slot) === attempt;
    socket.once("connect", () => {
      socket.resetAndDestroy();
      if (current()) this.settle(slot, ip, host, port, OPEN_SYN_ACK);
    });
    socket.on("error", (err: NodeJS.ErrnoException) => {
      socket.destroy();
      if (!current()) return;
      attempt.socket = null;
      if (LOCAL_TROUBLE.has(err.code ?? "")) {
        // Out of descriptors or local ports: nothing was learnt about the target. The same attempt is made
        // again a little later (while its wait lasts: expiring drops the retry).
        attempt.retry = setTimeout(() => {
          if (current() && !this.stopped) this.connect(slot);
        }, LOCAL_RETRY_MS);
        return;
      }
      const outcome = connectOutcome(err.code);
      // no outcome (the kernel gave up, ETIMEDOUT): left to the engine's timeout
      if (outcome !== OUTCOME_NONE) this.settle(slot, ip, host, port, outcome);
    });
    socket.connect({ host, port });
  }

  /** `ip`: the IPv4 target's number, or -1 for an IPv6 target (`host`, its text). */
  private settle(slot: number, ip: number, host: string, port: number, outcome: number): void {
    this.attempts.delete(slot);
    const rtt = this.engine.answer(slot, native.monotonicMs());
    if (rtt === -1) return;
    if (ip === -1) this.ctx.port6(host, port, outcome, null, rtt);
    else this.ctx.port(ip, port, outcome, null, rtt);
  }
}
