import { DecodeError } from "../../packet/errors";
import * as icmp from "../../packet/icmp";
import { OPEN_UDP_RESPONSE, OUTCOME_NONE, udpIcmpOutcome } from "../../port-outcomes";

// Reads one received packet as a possible answer to a UDP probe: a UDP datagram from the scanned port, or an
// ICMP error quoting the probe. Nothing here trusts the packet: every length is checked before it is used,
// and anything malformed is simply not an answer. The UDP path allocates nothing.

/** One answer, filled in place by readUdpAnswer. */
export class UdpAnswer {
  /** the scanned address the answer is about (UDP source, or the quoted IPv4 destination) */
  target = 0;
  /** the scanned port (UDP source port, or the quoted UDP destination port) */
  port = 0;
  /** our address and port (UDP destination, or the quoted source) */
  ourIp = 0;
  ourPort = 0;
  /** the IPv4 source of the packet: the target, or the router or firewall that sent the ICMP error */
  from = 0;
  ttl = 0;
  /** the outcome it reports (see port-outcomes.ts) */
  outcome = OUTCOME_NONE;
  /** ICMP errors: the quoted probe's IPv4 id (the probe's cookie); -1 for a UDP answer (nothing to check) */
  echoedId = -1;
}

/**
 * Reads the packet at buf[offset, offset + length): `linkHeaderLength` 14 for an Ethernet frame, 0 for a raw
 * IPv4 packet. Returns false for anything that is not an answer a UDP scan can use.
 */
export function readUdpAnswer(
  buf: Buffer,
  offset: number,
  length: number,
  linkHeaderLength: number,
  out: UdpAnswer,
): boolean {
  const o = offset + linkHeaderLength;
  const end = offset + length;
  if (linkHeaderLength === 14) {
    if (length < 14 || buf[offset + 12] !== 0x08 || buf[offset + 13] !== 0x00) return false;
  }
  if (end - o < 20) return false;
  const vihl = buf[o]!;
  const ihl = (vihl & 0x0f) * 4;
  if (vihl >>> 4 !== 4 || ihl < 20) return false;
  const total = (buf[o + 2]! << 8) | buf[o + 3]!;
  if (total < ihl || o + total > end) return false;
  if (((buf[o + 6]! << 8) | buf[o + 7]!) & 0x1fff) return false; // later fragment: no transport header
  const protocol = buf[o + 9]!;
  const ttl = buf[o + 8]!;
  const src = buf.readUInt32BE(o + 12);
  const dst = buf.readUInt32BE(o + 16);
  const t = o + ihl;
  const tEnd = o + total;
  if (protocol === 17) {
    if (tEnd - t < 8) return false;
    out.target = src;
    out.port = (buf[t]! << 8) | buf[t + 1]!;
    out.ourIp = dst;
    out.ourPort = (buf[t + 2]! << 8) | buf[t + 3]!;
    out.from = src;
    out.ttl = ttl;
    out.outcome = OPEN_UDP_RESPONSE;
    out.echoedId = -1;
    return true;
  }
  if (protocol !== 1) return false;
  let message: icmp.IcmpPacket;
  try {
    message = icmp.decode(buf, t, tEnd - t);
  } catch (err) {
    if (err instanceof DecodeError) return false;
    throw err;
  }
  if (message.kind !== "destination-unreachable" && message.kind !== "time-exceeded") return false;
  const quoted = message.original;
  if (quoted.ipv4.protocol !== 17 || quoted.srcPort === null || quoted.dstPort === null) return false;
  const target = quoted.ipv4.dstInt;
  const outcome = udpIcmpOutcome(message.type, message.code, src === target);
  if (outcome === OUTCOME_NONE) return false;
  out.target = target;
  out.port = quoted.dstPort;
  out.ourIp = quoted.ipv4.srcInt;
  out.ourPort = quoted.srcPort;
  out.from = src;
  out.ttl = ttl;
  out.outcome = outcome;
  out.echoedId = quoted.ipv4.id;
  return true;
}
