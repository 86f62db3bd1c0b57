import { IpView, readIpPacket } from "../../packet/ip-view";
import { QuotedProbe, readQuotedProbe } from "../../packet/quote";
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
// anything malformed is simply not an answer. The header walk and the quoted probe are the packet layer's
// (ip-view.ts, quote.ts, shared with the UDP scan); nothing allocates.

const FLAG_SYN = 0x02;
const FLAG_RST = 0x04;
const FLAG_ACK = 0x10;

/** the walk's views, reused: answers are read one at a time on the JS thread */
const VIEW = new IpView();
const QUOTE = new QuotedProbe();

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
  const ip = VIEW;
  if (!readIpPacket(buf, offset, length, linkHeaderLength, ip) || ip.family !== 4) return false;
  const t = ip.transport;
  if (ip.protocol === 6) {
    const outcome = tcpOutcome(buf, t, ip.end);
    if (outcome === OUTCOME_NONE) return false;
    out.target = ip.src;
    out.port = (buf[t]! << 8) | buf[t + 1]!;
    out.ourIp = ip.dst;
    out.ourPort = (buf[t + 2]! << 8) | buf[t + 3]!;
    out.from = ip.src;
    out.ttl = ip.ttl;
    out.outcome = outcome;
    out.echoed = buf.readUInt32BE(t + 8);
    out.tcp = true;
    return true;
  }
  const q = QUOTE;
  if (!readQuotedProbe(buf, ip, q) || q.protocol !== 6) return false;
  const outcome = icmpOutcome(q.type, q.code);
  if (outcome === OUTCOME_NONE) return false;
  const qt = q.transport;
  out.target = q.dst;
  out.port = (buf[qt + 2]! << 8) | buf[qt + 3]!;
  out.ourIp = q.src;
  out.ourPort = (buf[qt]! << 8) | buf[qt + 1]!;
  out.from = ip.src;
  out.ttl = ip.ttl;
  out.outcome = outcome;
  out.echoed = buf.readUInt32BE(qt + 4);
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
  const ip = VIEW;
  if (!readIpPacket(buf, offset, length, 14, ip) || ip.family !== 6) return false;
  const t = ip.transport;
  out.fromOffset = ip.srcOffset;
  out.ttl = ip.ttl;
  if (ip.protocol === 6) {
    const outcome = tcpOutcome(buf, t, ip.end);
    if (outcome === OUTCOME_NONE) return false;
    out.targetOffset = ip.srcOffset;
    out.port = (buf[t]! << 8) | buf[t + 1]!;
    out.ourOffset = ip.dstOffset;
    out.ourPort = (buf[t + 2]! << 8) | buf[t + 3]!;
    out.outcome = outcome;
    out.echoed = buf.readUInt32BE(t + 8);
    out.tcp = true;
    return true;
  }
  const q = QUOTE;
  if (!readQuotedProbe(buf, ip, q) || q.protocol !== 6) return false;
  const outcome = icmpv6Outcome(q.type, q.code);
  if (outcome === OUTCOME_NONE) return false;
  const qt = q.transport;
  out.targetOffset = q.dstOffset;
  out.port = (buf[qt + 2]! << 8) | buf[qt + 3]!;
  out.ourOffset = q.srcOffset;
  out.ourPort = (buf[qt]! << 8) | buf[qt + 1]!;
  out.outcome = outcome;
  out.echoed = buf.readUInt32BE(qt + 4);
  out.tcp = false;
  return true;
}

/** A TCP segment's outcome from its flags (at least 14 bytes of header), OUTCOME_NONE for any other. */
function tcpOutcome(buf: Buffer, t: number, end: number): number {
  if (end - t < 14) return OUTCOME_NONE;
  const flags = buf[t + 13]!;
  if ((flags & (FLAG_SYN | FLAG_ACK)) === (FLAG_SYN | FLAG_ACK)) return OPEN_SYN_ACK;
  if (flags & FLAG_RST) return CLOSED_RESET;
  if (flags & FLAG_SYN) return OPEN_SPLIT_SYN;
  return OUTCOME_NONE;
}
