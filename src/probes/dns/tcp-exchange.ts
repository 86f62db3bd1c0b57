// One DNS query over TCP (RFC 7766 framing: a two-byte length before each message) on a socket the addon
// opens inside the probe's namespace; Node drives the connection once it has the descriptor.

import * as fs from "node:fs";
import * as net from "node:net";
import { native } from "../../native/binding";

export type TcpOutcome =
  | { kind: "answer"; message: Buffer; rttMs: number }
  | { kind: "refused" | "unreachable"; reason: string; rttMs: number }
  | { kind: "timeout" }
  | { kind: "error"; error: string };

export interface TcpExchangeOptions {
  /** an IPv4 or IPv6 address (the socket is of its family) */
  server: string;
  port: number;
  /** the DNS message, without the length prefix */
  query: Buffer;
  timeoutMs: number;
  /** namespace file path (already resolved) */
  netns?: string;
  device?: string;
  signal?: AbortSignal;
}

const MAX_MESSAGE = 65535;

/** Connects, sends the query, reads one framed message. Never rejects: every failure is an outcome. */
export function tcpExchange(options: TcpExchangeOptions): Promise<TcpOutcome> {
  return new Promise((resolve) => {
    let fd: number;
    try {
      fd = native.openSocketFd({
        type: "stream",
        family: net.isIPv6(options.server) ? 6 : 4,
        protocol: 6,
        ...(options.netns === undefined ? {} : { netns: options.netns }),
        ...(options.device === undefined ? {} : { device: options.device }),
      });
    } catch (err) {
      resolve({ kind: "error", error: `cannot open a TCP socket: ${(err as Error).message}` });
      return;
    }
    let socket: net.Socket;
    try {
      socket = new net.Socket({ fd, readable: true, writable: true });
    } catch (err) {
      fs.closeSync(fd);
      resolve({ kind: "error", error: `cannot use the TCP socket: ${(err as Error).message}` });
      return;
    }
    const start = performance.now();
    const chunks: Buffer[] = [];
    let received = 0;
    let done = false;
    const finish = (outcome: TcpOutcome) => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      options.signal?.removeEventListener("abort", onAbort);
      socket.destroy();
      resolve(outcome);
    };
    const onAbort = () => finish({ kind: "error", error: "aborted" });
    const timer = setTimeout(() => finish({ kind: "timeout" }), options.timeoutMs);
    options.signal?.addEventListener("abort", onAbort, { once: true });

    socket.on("error", (err: NodeJS.ErrnoException) => {
      const rttMs = performance.now() - start;
      switch (err.code) {
        case "ECONNREFUSED":
          finish({ kind: "refused", reason: "connection-refused", rttMs });
          return;
        case "EHOSTUNREACH":
          finish({ kind: "unreachable", reason: "host-unreach", rttMs });
          return;
        case "ENETUNREACH":
          finish({ kind: "unreachable", reason: "net-unreach", rttMs });
          return;
        case "EACCES":
        case "EPERM":
          finish({ kind: "unreachable", reason: "prohibited", rttMs });
          return;
        case "ETIMEDOUT":
          finish({ kind: "timeout" });
          return;
        default:
          finish({ kind: "error", error: `TCP: ${err.message}` });
      }
    });
    socket.on("data", (chunk: Buffer) => {
      chunks.push(chunk);
      received += chunk.length;
      if (received < 2) return;
      const all = chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks);
      chunks.length = 0;
      chunks.push(all);
      const length = all.readUInt16BE(0);
      if (received >= 2 + length) {
        // Anything after the first message is not ours to read: one query per connection.
        finish({ kind: "answer", message: all.subarray(2, 2 + length), rttMs: performance.now() - start });
      } else if (received > 2 + MAX_MESSAGE) {
        finish({ kind: "error", error: "TCP answer longer than 65535 bytes" });
      }
    });
    socket.on("end", () => {
      finish({
        kind: "error",
        error:
          received === 0
            ? "the server closed the TCP connection without answering"
            : `the server closed the TCP connection after ${received} bytes of an incomplete answer`,
      });
    });
    const frame = Buffer.allocUnsafe(2 + options.query.length);
    frame.writeUInt16BE(options.query.length, 0);
    options.query.copy(frame, 2);
    socket.connect(options.port, options.server, () => {
      socket.write(frame);
    });
  });
}
