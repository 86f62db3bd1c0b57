// The socket ping sends from: a raw ICMP socket where we may (it also sees the ICMP errors that explain an
// unreachable target), else an unprivileged ICMP datagram socket ("ping socket", allowed to the groups in
// net.ipv4.ping_group_range of the namespace), whose replies the kernel filters by its own identifier.

import { randomInt } from "node:crypto";
import * as fs from "node:fs";
import { EnvironmentError, environmentErrorFrom } from "../../errors";
import { native } from "../../native/binding";
import type { NativeError, NativeInetSocket } from "../../native/types";
import { ping6ReplyFilter, pingReplyFilter } from "../../net/icmp-errors";

/**
 * The socket a ping uses: `raw`, a raw ICMP socket (root or CAP_NET_RAW; sees the ICMP errors routers send), or
 * `dgram`, an unprivileged ICMP datagram socket (net.ipv4.ping_group_range; the kernel hides ICMP errors from it).
 *
 * @example
 * ```ts
 * import { type PingMode, ping } from "wireprobe";
 *
 * const mode: PingMode = process.getuid?.() === 0 ? "raw" : "dgram";
 * const run = ping("198.51.100.1", { mode });
 * ```
 */
export type PingMode = "raw" | "dgram";

export interface PingSocket {
  socket: NativeInetSocket;
  mode: PingMode;
  /** the ICMP echo identifier: ours (raw), or the one the kernel gave the datagram socket */
  id: number;
}

export interface PingSocketOptions {
  netns?: string;
  device?: string;
  /** auto (default): raw, and the datagram socket when raw is not permitted */
  mode?: PingMode | "auto";
  /** ICMP over IPv4 (default) or ICMPv6 (the kernel fills in the ICMPv6 checksum on both socket types) */
  family?: 4 | 6;
}

const RCVBUF = 4 << 20;

export function openPingSocket(options: PingSocketOptions): PingSocket {
  const mode = options.mode ?? "auto";
  const family = options.family ?? 4;
  const what = family === 4 ? "ICMP" : "ICMPv6";
  const common = {
    family,
    protocol: family === 4 ? 1 : 58,
    rcvbuf: RCVBUF,
    ...(options.netns === undefined ? {} : { netns: options.netns }),
    ...(options.device === undefined ? {} : { device: options.device }),
  };
  if (mode !== "dgram") {
    const id = randomInt(1, 0x10000);
    try {
      return {
        socket: new native.InetSocket({
          ...common,
          type: "raw",
          filter: family === 4 ? pingReplyFilter(id) : ping6ReplyFilter(id),
        }),
        mode: "raw",
        id,
      };
    } catch (err) {
      const { code, syscall } = err as NativeError;
      // Refused entry into the namespace is not a refused raw socket: no datagram socket gets in either.
      if (mode === "raw" || (code !== "EPERM" && code !== "EACCES") || syscall === "setns") {
        throw environmentErrorFrom(err, `opening a raw ${what} socket`);
      }
    }
  }
  let socket: NativeInetSocket;
  try {
    // Binding to port 0 makes the kernel pick the echo identifier now, so we know it before sending.
    socket = new native.InetSocket({ ...common, type: "dgram", bindPort: 0 });
  } catch (err) {
    const { code, syscall } = err as NativeError;
    if ((code === "EACCES" || code === "EPERM") && syscall !== "setns") {
      throw new EnvironmentError(
        `ping needs root or CAP_NET_RAW, or an ${what} datagram socket: gid ${process.getgid?.()} is outside ` +
          `net.ipv4.ping_group_range (${pingGroupRange()}) of this namespace`,
        code,
      );
    }
    throw environmentErrorFrom(err, `opening an ${what} datagram socket`);
  }
  return { socket, mode: "dgram", id: socket.localAddress().port };
}

function pingGroupRange(): string {
  try {
    return fs.readFileSync("/proc/sys/net/ipv4/ping_group_range", "utf8").trim().replace(/\s+/, " ");
  } catch {
    return "unknown";
  }
}
