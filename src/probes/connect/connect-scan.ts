import { closeSync } from "node:fs";
import { Socket } from "node:net";
import { intToIpv4 } from "../../addr/address";
import { Pacer } from "../../engine/pacer";
import { Permutation } from "../../engine/permutation";
import { EnvironmentError, environmentErrorFrom } from "../../errors";
import { native } from "../../native/binding";
import type { LinkInfo } from "../../native/types";
import { findLink } from "../../net/links";
import { createRouteResolver } from "../../net/route-resolver";
import {
  CLOSED_CONN_REFUSED,
  FILTERED_HOST_UNREACH,
  FILTERED_NET_UNREACH,
  FILTERED_NO_RESPONSE,
  FILTERED_PERM_DENIED,
  OPEN_SYN_ACK,
  OUTCOME_NONE,
} from "../../port-outcomes";
import type { ScanContext } from "../scan/scan-context";

// The TCP connect scan (nmap -sT): what a scan can do without CAP_NET_RAW. Each target x port pair gets a
// full connect() in the same random order as the SYN scan; the kernel's answer is the errno. An accepted
// connection is reset at once (no FIN handshake, no TIME_WAIT left behind). With a namespace (root only),
// each socket is created inside it by the addon and connected from Node.

export interface ConnectScanOptions {
  /** namespace file path (resolved), undefined for the process's own */
  netns: string | undefined;
  /** send only out of this interface (SO_BINDTODEVICE); targets it has no route for are down */
  interface?: string | undefined;
  rate: number;
  retries: number;
  timeoutMs: number;
  signal: AbortSignal | undefined;
}

/** Connections in flight at once: well under the 1024 descriptors an unprivileged process usually gets. */
export const CONNECT_CONCURRENCY = 256;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

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
    case "EPERM":
      return FILTERED_PERM_DENIED;
    default:
      return OUTCOME_NONE;
  }
}

/** Errors that say nothing about the target: the attempt is repeated after a pause. */
const LOCAL_TROUBLE = new Set(["EMFILE", "ENFILE", "EADDRNOTAVAIL", "ENOBUFS", "EAGAIN"]);

export class ConnectScan {
  private readonly p: number;
  private readonly size: number;
  private pending!: Uint8Array;
  /** attempts started and not finished, including those waiting to be repeated */
  private inFlight = 0;
  private readonly sockets = new Set<Socket>();
  private wake: (() => void) | null = null;

  constructor(
    private readonly ctx: ScanContext,
    private readonly options: ConnectScanOptions,
  ) {
    this.p = ctx.ports.length;
    this.size = ctx.targets.size * this.p;
  }

  async run(): Promise<boolean> {
    const { ctx, options } = this;
    const signal = options.signal;
    const perm = new Permutation(this.size);
    // probes still to try in the next pass: set after a timeout, cleared by an answer
    this.pending = new Uint8Array(Math.ceil(this.size / 8)).fill(0xff);
    const downCount = options.interface === undefined ? 0 : this.reportOffInterface(options.interface);
    ctx.progress.probesTotal = this.size - downCount * this.p;
    ctx.progress.phase = "scanning";
    const pacer = new Pacer(options.rate);
    try {
      for (let pass = 0; pass <= options.retries; pass++) {
        let any = false;
        for (let position = 0; position < perm.domain; position++) {
          const k = perm.at(position);
          if (k >= this.size || !this.isPending(k)) continue;
          any = true;
          while (this.inFlight >= CONNECT_CONCURRENCY || pacer.allowance(1) === 0) {
            if (signal?.aborted) return false;
            await (this.inFlight >= CONNECT_CONCURRENCY ? this.slot() : sleep(pacer.waitMs()));
          }
          if (signal?.aborted) return false;
          await ctx.room();
          pacer.take(1);
          this.attempt(k, pass === options.retries);
          if (pass === 0) ctx.progress.probesSent++;
          else ctx.progress.retransmissions++;
        }
        while (this.inFlight > 0) {
          if (signal?.aborted) return false;
          await this.slot();
        }
        if (!any) break;
      }
      ctx.progress.phase = "done";
      return !signal?.aborted;
    } finally {
      for (const s of this.sockets) s.destroy();
    }
  }

  /**
   * Pinned to an interface: targets it has no route for are down (no-route), as in the SYN scan, and their
   * probes are settled before the first pass. Returns how many targets that is.
   */
  private reportOffInterface(name: string): number {
    const { ctx } = this;
    const plain = createRouteResolver(this.options.netns);
    let link: LinkInfo;
    try {
      link = findLink(plain.links, name);
    } finally {
      plain.close();
    }
    if (!link.up) throw new EnvironmentError(`interface "${link.name}" is down`, "ENETDOWN");
    const resolver = createRouteResolver(this.options.netns, { link });
    let down = 0;
    try {
      for (let t = 0; t < ctx.targets.size; t++) {
        const ip = ctx.targets.at(t);
        if (resolver.resolve(ip).kind !== "other-link") continue;
        for (let pi = 0; pi < this.p; pi++) this.settle(t * this.p + pi);
        ctx.host(intToIpv4(ip), "no-route", ctx.names.get(ip));
        down++;
      }
    } finally {
      resolver.close();
    }
    return down;
  }

  private isPending(k: number): boolean {
    return (this.pending[Math.floor(k / 8)]! & (1 << (k % 8))) !== 0;
  }

  private settle(k: number): void {
    this.pending[Math.floor(k / 8)]! &= ~(1 << (k % 8));
  }

  private slot(): Promise<void> {
    return new Promise((resolve) => {
      this.wake = resolve;
    });
  }

  private release(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }

  private attempt(k: number, last: boolean): void {
    const { ctx } = this;
    const t = Math.floor(k / this.p);
    const ip = ctx.targets.at(t);
    const port = ctx.ports[k - t * this.p]!;
    let socket: Socket;
    const { netns, interface: device } = this.options;
    if (netns === undefined && device === undefined) socket = new Socket();
    else {
      let fd: number;
      try {
        fd = native.openSocketFd({
          type: "stream",
          protocol: 6,
          ...(netns === undefined ? {} : { netns }),
          ...(device === undefined ? {} : { device }),
        });
      } catch (err) {
        // Entering the namespace was refused (or it is gone): the environment, not a bug.
        throw environmentErrorFrom(err, "opening a TCP socket");
      }
      try {
        socket = new Socket({ fd, readable: true, writable: true });
      } catch (err) {
        closeSync(fd);
        throw err;
      }
    }
    const started = performance.now();
    this.inFlight++;
    this.sockets.add(socket);
    ctx.packetsSent++;
    let done = false;
    const finish = (outcome: number) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      this.sockets.delete(socket);
      this.inFlight--;
      if (outcome !== OUTCOME_NONE) {
        this.settle(k);
        ctx.packetsReceived++;
        ctx.progress.answered++;
        ctx.port(ip, port, outcome, null, performance.now() - started);
      } else if (last) {
        this.settle(k);
        ctx.port(ip, port, FILTERED_NO_RESPONSE, null, null);
      }
      this.release();
    };
    const timer = setTimeout(() => {
      socket.destroy();
      finish(OUTCOME_NONE);
    }, this.options.timeoutMs);
    socket.once("connect", () => {
      socket.resetAndDestroy();
      finish(OPEN_SYN_ACK);
    });
    socket.once("error", (err: NodeJS.ErrnoException) => {
      socket.destroy();
      if (!LOCAL_TROUBLE.has(err.code ?? "")) {
        finish(connectOutcome(err.code));
        return;
      }
      // Out of descriptors or local ports: nothing was learnt about the target. Try the same probe again
      // a little later, still counted in flight so the scan waits for it.
      if (done) return;
      done = true;
      clearTimeout(timer);
      this.sockets.delete(socket);
      ctx.packetsSent--;
      setTimeout(() => {
        this.inFlight--;
        if (this.options.signal?.aborted) this.release();
        else this.attempt(k, last);
      }, 50);
    });
    socket.connect({ host: intToIpv4(ip), port });
  }
}
