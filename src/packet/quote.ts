// The probe an ICMP or ICMPv6 error quotes, for both families in one place: the transport fields the decoders
// report (icmp.ts and icmpv6.ts), and an allocation-free reader for the scans' answer paths, which tie an
// error back to its probe by the quoted addresses, ports and cookie.

import { internetChecksum, transportChecksum6 } from "./checksum";
import { u16, u32 } from "./internal";
import type { IpView } from "./ip-view";

const TCP = 6;
const UDP = 17;
const ICMP = 1;
const ICMPV6 = 58;

/** The quoted transport header's fields, as far as probe matching needs them (null when absent). */
export interface QuotedTransport {
  /** TCP/UDP ports of the original; null for other protocols or when not quoted */
  srcPort: number | null;
  /** destination port of the original, as srcPort */
  dstPort: number | null;
  /** TCP sequence number of the original (what a SYN scan matches on) */
  tcpSeq: number | null;
  /** ICMP (ICMPv6) type/id/seq of an original echo request or reply (what a ping matches on) */
  icmpType: number | null;
  /** the original echo's identifier */
  icmpId: number | null;
  /** the original echo's sequence number */
  icmpSeq: number | null;
}

/**
 * The transport fields of a quoted packet whose transport data are buf[t, t + n) and whose protocol is
 * `protocol`, in family 4 (ICMP echo types 8/0) or 6 (ICMPv6 echo types 128/129). `firstFragment` false: a
 * later fragment, which carries no transport header.
 */
export function quotedTransport(
  buf: Uint8Array,
  t: number,
  n: number,
  protocol: number,
  family: 4 | 6,
  firstFragment: boolean,
): QuotedTransport {
  const q: QuotedTransport = {
    srcPort: null,
    dstPort: null,
    tcpSeq: null,
    icmpType: null,
    icmpId: null,
    icmpSeq: null,
  };
  if (!firstFragment) return q;
  if (protocol === TCP || protocol === UDP) {
    if (n >= 4) {
      q.srcPort = u16(buf, t);
      q.dstPort = u16(buf, t + 2);
    }
    if (protocol === TCP && n >= 8) q.tcpSeq = u32(buf, t + 4);
  } else if (protocol === (family === 4 ? ICMP : ICMPV6) && n >= 1) {
    const type = buf[t]!;
    q.icmpType = type;
    const echo = family === 4 ? type === 8 || type === 0 : type === 128 || type === 129;
    if (echo && n >= 8) {
      q.icmpId = u16(buf, t + 4);
      q.icmpSeq = u16(buf, t + 6);
    }
  }
  return q;
}

/** An error message and the probe it quotes, read in place by readQuotedProbe. */
export class QuotedProbe {
  /** the error's type and code */
  type = 0;
  code = 0;
  /** the quoted packet's transport protocol */
  protocol = 0;
  /** IPv4: the quoted source and destination as numbers (0 for IPv6) */
  src = 0;
  dst = 0;
  /** where the quoted source and destination start in the buffer (4 or 16 bytes) */
  srcOffset = 0;
  dstOffset = 0;
  /** the quoted IPv4 id, or the quoted IPv6 flow label: what a probe's cookie may ride in */
  id = 0;
  /** the quoted transport header: at least its first 8 bytes, buf[transport, end) */
  transport = 0;
  end = 0;
}

/**
 * Reads the ICMP (IPv4) or ICMPv6 (IPv6) message of the packet `ip` as an error quoting a probe: destination
 * unreachable or time exceeded (ICMPv6 also packet too big and parameter problem), a correct checksum, and a
 * quoted IP header of the same family followed by at least 8 bytes of transport (as RFC 792 and RFC 4443
 * promise; a later IPv4 fragment has none). IPv6 quotes are read without an extension header walk: the
 * probes carry none. Returns false for anything else; allocates nothing, never throws on packet data.
 */
export function readQuotedProbe(buf: Uint8Array, ip: IpView, out: QuotedProbe): boolean {
  const t = ip.transport;
  const end = ip.end;
  if (end - t < 8) return false;
  const type = buf[t]!;
  const q = t + 8;
  if (ip.family === 4) {
    if (ip.protocol !== ICMP || (type !== 3 && type !== 11)) return false;
    if (internetChecksum(buf, t, end - t) !== 0) return false;
    if (end - q < 20) return false;
    const vihl = buf[q]!;
    const ihl = (vihl & 0x0f) * 4;
    if (vihl >>> 4 !== 4 || ihl < 20 || q + ihl + 8 > end) return false;
    if (u16(buf, q + 6) & 0x1fff) return false;
    out.protocol = buf[q + 9]!;
    out.src = u32(buf, q + 12);
    out.dst = u32(buf, q + 16);
    out.srcOffset = q + 12;
    out.dstOffset = q + 16;
    out.id = u16(buf, q + 4);
    out.transport = q + ihl;
  } else {
    if (ip.protocol !== ICMPV6 || type < 1 || type > 4) return false;
    if (end - q < 48 || buf[q]! >>> 4 !== 6) return false;
    if (transportChecksum6(buf, t, end - t, buf, buf, ICMPV6, ip.srcOffset, ip.dstOffset) !== 0) return false;
    out.protocol = buf[q + 6]!;
    out.src = 0;
    out.dst = 0;
    out.srcOffset = q + 8;
    out.dstOffset = q + 24;
    out.id = ((buf[q + 1]! & 0x0f) << 16) | u16(buf, q + 2);
    out.transport = q + 40;
  }
  out.type = type;
  out.code = buf[t + 1]!;
  out.end = end;
  return true;
}
