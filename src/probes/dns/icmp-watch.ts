// Sees the ICMP errors our UDP queries cause (port unreachable: nothing listens; host/net unreachable,
// prohibited: cannot get there). An unconnected UDP socket never reports them, and IP_RECVERR would queue
// them on the socket's error queue, which raises POLLERR: libuv's poll then stops the watcher with
// UV_EBADF, which the addon rightly treats as a dead socket. A separate raw ICMP socket in the same
// namespace sees every error the kernel delivers there, and the UDP header quoted in each error (ports,
// and from Linux routers the DNS ID too) ties it to our queries.

import { META_STRIDE, native } from "../../native/binding";
import type { NativeError, NativeInetSocket } from "../../native/types";
import { icmpErrorFilter, icmpErrorVerdict } from "../../net/icmp-errors";
import * as icmp from "../../packet/icmp";
import * as ipv4 from "../../packet/ipv4";

export interface IcmpUdpError {
  status: "refused" | "unreachable";
  reason: string;
  /** who sent the error */
  from: string;
  /** the quoted datagram's destination address (unsigned 32-bit), ports and DNS ID when quoted */
  dst: number;
  srcPort: number;
  dstPort: number;
  dnsId: number | null;
}

/**
 * Opens the raw ICMP socket in `netns` and calls `onError` for each ICMP error quoting a UDP datagram, and
 * `onFail` if receiving fails (the socket is unusable). Throws the addon's error (EPERM without
 * CAP_NET_RAW) for the caller to decide what to do without it.
 */
export function watchIcmpUdpErrors(
  netns: string | undefined,
  onError: (error: IcmpUdpError) => void,
  onFail: (error: NativeError) => void,
): NativeInetSocket {
  const socket = new native.InetSocket({
    type: "raw",
    protocol: ipv4.PROTOCOL_ICMP,
    filter: icmpErrorFilter(),
    ...(netns === undefined ? {} : { netns }),
  });
  socket.startReceive((data, meta, count) => {
    for (let p = 0; p < count; p++) {
      const offset = meta[p * META_STRIDE]!;
      const length = meta[p * META_STRIDE + 1]!;
      const error = decodeUdpError(data, offset, length);
      if (error) onError(error);
    }
  }, onFail);
  return socket;
}

/** An ICMP error about a UDP datagram, from a whole IPv4 packet; null for anything else or garbage. */
export function decodeUdpError(data: Buffer, offset: number, length: number): IcmpUdpError | null {
  try {
    const ip = ipv4.decode(data, offset, length, { verifyChecksum: false, allowTruncated: true });
    if (ip.protocol !== ipv4.PROTOCOL_ICMP) return null;
    const message = icmp.decode(data, ip.payloadOffset, ip.payloadLength);
    if (message.kind !== "destination-unreachable" && message.kind !== "time-exceeded") return null;
    const original = message.original;
    if (
      original.ipv4.protocol !== ipv4.PROTOCOL_UDP ||
      original.srcPort === null ||
      original.dstPort === null
    ) {
      return null;
    }
    const verdict = icmpErrorVerdict(message.type, message.code);
    if (verdict === null) return null;
    // The DNS ID is the first word after the 8-byte UDP header, when the router quoted that far.
    const idAt = original.transportOffset + 8;
    const dnsId = original.transportLength >= 10 ? data.readUInt16BE(idAt) : null;
    return {
      ...verdict,
      from: ip.src,
      dst: original.ipv4.dstInt,
      srcPort: original.srcPort,
      dstPort: original.dstPort,
      dnsId,
    };
  } catch {
    return null;
  }
}
