import { IpView, readIpPacket } from "../../packet/ip-view";
import { QuotedProbe, readQuotedProbe } from "../../packet/quote";
import { OPEN_UDP_RESPONSE, OUTCOME_NONE, udpIcmpOutcome, udpIcmpv6Outcome } from "../../port-outcomes";

// Reads one received packet as a possible answer to a UDP probe, over IPv4 or IPv6: a UDP datagram from the
// scanned port, or an ICMP (ICMPv6) error quoting the probe. Nothing here trusts the packet: the header walk
// and the quoted probe are the packet layer's (ip-view.ts, quote.ts, shared with the SYN scan), which check
// every length before it is used; anything malformed is simply not an answer. Nothing allocates.

/** the walk's views, reused: answers are read one at a time on the JS thread */
const VIEW = new IpView();
const QUOTE = new QuotedProbe();

/** One answer, filled in place by readUdpAnswer. */
export class UdpAnswer {
  family: 4 | 6 = 4;
  /** IPv4: the scanned address the answer is about (UDP source, or the quoted destination); 0 for IPv6 */
  target = 0;
  /** the scanned port (UDP source port, or the quoted UDP destination port) */
  port = 0;
  /** IPv4: our address (UDP destination, or the quoted source); 0 for IPv6 */
  ourIp = 0;
  ourPort = 0;
  /** IPv4: the packet's source: the target, or the router or firewall that sent the ICMP error */
  from = 0;
  /** where the 16 bytes of the scanned address, our address and the packet's source start (IPv6) */
  targetOffset = 0;
  ourOffset = 0;
  fromOffset = 0;
  /** IPv4 TTL or IPv6 hop limit */
  ttl = 0;
  /** the outcome it reports (see port-outcomes.ts) */
  outcome = OUTCOME_NONE;
  /**
   * ICMP errors: what the quoted probe carries its cookie in (the IPv4 id, the IPv6 flow label); -1 for a UDP
   * answer (nothing to check)
   */
  echoed = -1;
}

/**
 * Reads the packet at buf[offset, offset + length): `linkHeaderLength` 14 for an Ethernet frame (IPv4 or
 * IPv6), 0 for a raw IPv4 packet. Returns false for anything that is not an answer a UDP scan can use.
 */
export function readUdpAnswer(
  buf: Buffer,
  offset: number,
  length: number,
  linkHeaderLength: number,
  out: UdpAnswer,
): boolean {
  const ip = VIEW;
  if (!readIpPacket(buf, offset, length, linkHeaderLength, ip)) return false;
  const t = ip.transport;
  out.family = ip.family;
  out.ttl = ip.ttl;
  out.from = ip.src;
  out.fromOffset = ip.srcOffset;
  if (ip.protocol === 17) {
    if (ip.end - t < 8) return false;
    out.target = ip.src;
    out.targetOffset = ip.srcOffset;
    out.port = (buf[t]! << 8) | buf[t + 1]!;
    out.ourIp = ip.dst;
    out.ourOffset = ip.dstOffset;
    out.ourPort = (buf[t + 2]! << 8) | buf[t + 3]!;
    out.outcome = OPEN_UDP_RESPONSE;
    out.echoed = -1;
    return true;
  }
  const q = QUOTE;
  if (!readQuotedProbe(buf, ip, q) || q.protocol !== 17) return false;
  // nmap: a port unreachable is "closed" only when the target itself sent it
  const outcome =
    ip.family === 4
      ? udpIcmpOutcome(q.type, q.code, ip.src === q.dst)
      : udpIcmpv6Outcome(q.type, q.code, same16(buf, ip.srcOffset, q.dstOffset));
  if (outcome === OUTCOME_NONE) return false;
  const qt = q.transport;
  out.target = q.dst;
  out.targetOffset = q.dstOffset;
  out.port = (buf[qt + 2]! << 8) | buf[qt + 3]!;
  out.ourIp = q.src;
  out.ourOffset = q.srcOffset;
  out.ourPort = (buf[qt]! << 8) | buf[qt + 1]!;
  out.outcome = outcome;
  out.echoed = q.id;
  return true;
}

/** Whether the 16 bytes at a and at b are equal. */
function same16(buf: Buffer, a: number, b: number): boolean {
  for (let i = 0; i < 16; i++) if (buf[a + i] !== buf[b + i]) return false;
  return true;
}
