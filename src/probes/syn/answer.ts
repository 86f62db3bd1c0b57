import { DecodeError } from "../../packet/errors";
import * as icmp from "../../packet/icmp";
import {
  CLOSED_RESET,
  icmpOutcome,
  icmpv6Outcome,
  OPEN_SPLIT_SYN,
  OPEN_SYN_ACK,
  OUTCOME_NONE,
} from "../../port-outcomes";

// Reads one received packet as a possible answer to a SYN probe: a TCP segment from the target, or an ICMP
// error quoting the probe. Nothing here trusts the packet: every length is checked before it is used, and
// anything malformed is simply not an answer. The TCP path, the hot one, allocates nothing.

const FLAG_SYN = 0x02;
const FLAG_RST = 0x04;
const FLAG_ACK = 0x10;

/** One answer, filled in place by readAnswer. */
export class Answer {
  /** the scanned address the answer is about (TCP source, or the quoted IPv4 destination) */
  target = 0;
  /** the scanned port (TCP source port, or the quoted TCP destination port) */
  port = 0;
  /** our address and port (TCP destination, or the quoted source) */
  ourIp = 0;
  ourPort = 0;
  /** the IPv4 source of the packet: the target, or the router or firewall that sent the ICMP error */
  from = 0;
  ttl = 0;
  /** the outcome it reports (see outcomes.ts) */
  outcome = OUTCOME_NONE;
  /** TCP: the acknowledgment number; ICMP: the sequence number of the quoted probe */
  echoed = 0;
  /** true for a TCP segment (validate echoed - 1 or echoed), false for an ICMP error (echoed exactly) */
  tcp = false;
}

/**
 * Reads the packet at buf[offset, offset + length): `linkHeaderLength` 14 for an Ethernet frame, 0 for a raw
 * IPv4 packet. Returns false for anything that is not an answer a SYN scan can use.
 */
export function readAnswer(
  buf: Buffer,
  offset: number,
  length: number,
  linkHeaderLength: number,
  out: Answer,
): boolean {
  let o = offset + linkHeaderLength;
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
  if (protocol === 6) {
    if (tEnd - t < 14) return false;
    const flags = buf[t + 13]!;
    let outcome: number;
    if ((flags & (FLAG_SYN | FLAG_ACK)) === (FLAG_SYN | FLAG_ACK)) outcome = OPEN_SYN_ACK;
    else if (flags & FLAG_RST) outcome = CLOSED_RESET;
    else if (flags & FLAG_SYN) outcome = OPEN_SPLIT_SYN;
    else return false;
    out.target = src;
    out.port = (buf[t]! << 8) | buf[t + 1]!;
    out.ourIp = dst;
    out.ourPort = (buf[t + 2]! << 8) | buf[t + 3]!;
    out.from = src;
    out.ttl = ttl;
    out.outcome = outcome;
    out.echoed = buf.readUInt32BE(t + 8);
    out.tcp = true;
    return true;
  }
  if (protocol !== 1) return false;
  o = t;
  let message: icmp.IcmpPacket;
  try {
    message = icmp.decode(buf, o, tEnd - o);
  } catch (err) {
    if (err instanceof DecodeError) return false;
    throw err;
  }
  if (message.kind !== "destination-unreachable" && message.kind !== "time-exceeded") return false;
  const quoted = message.original;
  if (quoted.ipv4.protocol !== 6 || quoted.srcPort === null || quoted.dstPort === null) return false;
  if (quoted.tcpSeq === null) return false;
  const outcome = icmpOutcome(message.type, message.code);
  if (outcome === OUTCOME_NONE) return false;
  out.target = quoted.ipv4.dstInt;
  out.port = quoted.dstPort;
  out.ourIp = quoted.ipv4.srcInt;
  out.ourPort = quoted.srcPort;
  out.from = src;
  out.ttl = ttl;
  out.outcome = outcome;
  out.echoed = quoted.tcpSeq;
  out.tcp = false;
  return true;
}

/** One IPv6 answer, filled in place by readAnswer6: addresses as offsets into the packet's buffer. */
export class Answer6 {
  /** where the 16 bytes of the scanned address start (TCP source, or the quoted destination) */
  targetOffset = 0;
  port = 0;
  /** where our address starts (TCP destination, or the quoted source) */
  ourOffset = 0;
  ourPort = 0;
  /** where the packet's IPv6 source starts: the target, or the router or firewall that sent the error */
  fromOffset = 0;
  /** the hop limit */
  ttl = 0;
  outcome = OUTCOME_NONE;
  echoed = 0;
  tcp = false;
}

/**
 * Reads an Ethernet frame at buf[offset, offset + length) as an IPv6 answer to a SYN probe: TCP right after the
 * IPv6 header, or an ICMPv6 error quoting the probe (its IPv6 header and the first 8 bytes of TCP). Returns
 * false for anything else; never throws, allocates nothing.
 */
export function readAnswer6(buf: Buffer, offset: number, length: number, out: Answer6): boolean {
  const end = offset + length;
  if (length < 14 + 40 || buf[offset + 12] !== 0x86 || buf[offset + 13] !== 0xdd) return false;
  const ip = offset + 14;
  if (buf[ip]! >>> 4 !== 6) return false;
  const payloadEnd = ip + 40 + ((buf[ip + 4]! << 8) | buf[ip + 5]!);
  if (payloadEnd > end) return false;
  const next = buf[ip + 6]!;
  const t = ip + 40;
  out.fromOffset = ip + 8;
  out.ttl = buf[ip + 7]!;
  if (next === 6) {
    if (payloadEnd - t < 14) return false;
    const flags = buf[t + 13]!;
    let outcome: number;
    if ((flags & (FLAG_SYN | FLAG_ACK)) === (FLAG_SYN | FLAG_ACK)) outcome = OPEN_SYN_ACK;
    else if (flags & FLAG_RST) outcome = CLOSED_RESET;
    else if (flags & FLAG_SYN) outcome = OPEN_SPLIT_SYN;
    else return false;
    out.targetOffset = ip + 8;
    out.port = (buf[t]! << 8) | buf[t + 1]!;
    out.ourOffset = ip + 24;
    out.ourPort = (buf[t + 2]! << 8) | buf[t + 3]!;
    out.outcome = outcome;
    out.echoed = buf.readUInt32BE(t + 8);
    out.tcp = true;
    return true;
  }
  // ICMPv6: type, code, checksum, 4 bytes, then the quoted IPv6 header and at least 8 bytes of TCP.
  if (next !== 58 || payloadEnd - t < 8 + 40 + 8) return false;
  const outcome = icmpv6Outcome(buf[t]!, buf[t + 1]!);
  const q = t + 8;
  if (outcome === OUTCOME_NONE || buf[q]! >>> 4 !== 6 || buf[q + 6] !== 6) return false;
  const qt = q + 40;
  out.targetOffset = q + 24;
  out.port = (buf[qt + 2]! << 8) | buf[qt + 3]!;
  out.ourOffset = q + 8;
  out.ourPort = (buf[qt]! << 8) | buf[qt + 1]!;
  out.outcome = outcome;
  out.echoed = buf.readUInt32BE(qt + 4);
  out.tcp = false;
  return true;
}
