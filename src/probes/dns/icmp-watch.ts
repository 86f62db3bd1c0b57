// Sees the ICMP errors our UDP queries cause (port unreachable: nothing listens; host/net unreachable,
// prohibited: cannot get there). An unconnected UDP socket never reports them, and IP_RECVERR would queue
// them on the socket's error queue, which raises POLLERR: libuv's poll then stops the watcher with
// UV_EBADF, which the addon rightly treats as a dead socket. A separate raw ICMP socket in the same
// namespace sees every error the kernel delivers there, and the UDP header quoted in each error (ports,
// and from Linux routers the DNS ID too) ties it to our queries.

import { formatIpv6 } from "../../addr/ipv6";
import { META_STRIDE, native } from "../../native/binding";
import type { NativeError, NativeInetSocket } from "../../native/types";
import {
  icmpErrorFilter,
  icmpErrorVerdict,
  icmpv6ErrorFilter,
  icmpv6ErrorVerdict,
} from "../../net/icmp-errors";
import * as icmp from "../../packet/icmp";
import * as icmpv6 from "../../packet/icmpv6";
import * as ipv4 from "../../packet/ipv4";
import * as ipv6 from "../../packet/ipv6";

export interface IcmpUdpError {
  status: "refused" | "unreachable";
  reason: string;
  /** who sent the error */
  from: string;
  /**
   * the quoted datagram's destination address (unsigned 32-bit; -1 for IPv6: dst6), ports and DNS ID when
   * quoted
   */
  dst: number;
  /** an IPv6 datagram's destination (16 bytes), null for IPv4 */
  dst6: Uint8Array | null;
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
  family: 4 | 6 = 4,
): NativeInetSocket {
  const socket = new native.InetSocket({
    type: "raw",
    family,
    protocol: family === 4 ? ipv4.PROTOCOL_ICMP : ipv6.NEXT_HEADER_ICMPV6,
    filter: family === 4 ? icmpErrorFilter() : icmpv6ErrorFilter(),
    ...(netns === undefined ? {} : { netns }),
  });
  socket.startReceive((data, meta, count) => {
    for (let p = 0; p < count; p++) {
      const base = p * META_STRIDE;
      const offset = meta[base]!;
      const length = meta[base + 1]!;
      const error =
        family === 4
          ? decodeUdpError(data, offset, length)
          : decodeUdpError6(data, offset, length, meta[base + 3]!);
      if (error) onError(error);
    }
  }, onFail);
  return socket;
}

/**
 * An ICMPv6 error about a UDP datagram, from the ICMPv6 message a raw IPv6 socket reads (no IPv6 header: the
 * sender's 16 bytes are at `sourceOffset`); null for anything else or garbage.
 */
export function decodeUdpError6(
  data: Buffer,
  offset: number,
  length: number,
  sourceOffset: number,
): IcmpUdpError | null {
  try {
    const message = icmpv6.decode(data, offset, length);
    if (message.kind !== "destination-unreachable" && message.kind !== "time-exceeded") return null;
    const original = message.original;
    if (
      original.ipv6.protocol !== ipv6.NEXT_HEADER_UDP ||
      original.srcPort === null ||
      original.dstPort === null
    ) {
      return null;
    }
    const verdict = icmpv6ErrorVerdict(message.type, message.code);
    if (verdict === null) return null;
    const idAt = original.ipv6.upperOffset + 8;
    const dnsId = original.ipv6.upperLength >= 10 ? data.readUInt16BE(idAt) : null;
    return {
      ...verdict,
      from: formatIpv6(data, sourceOffset),
      dst: -1,
      dst6: Uint8Array.from(original.ipv6.dstBytes),
      srcPort: original.srcPort,
      dstPort: original.dstPort,
      dnsId,
    };
  } catch {
    return null;
  }
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
      dst6: null,
      srcPort: original.srcPort,
      dstPort: original.dstPort,
      dnsId,
    };
  } catch {
    return null;
  }
}
