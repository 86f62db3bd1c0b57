// What an ICMP error means for a probe, and the kernel filters for the raw ICMP sockets that receive them.
// Shared by ping (errors about echo requests) and dns (errors about UDP queries).

import {
  TIME_EXCEEDED_CODES,
  TYPE_DEST_UNREACHABLE,
  TYPE_TIME_EXCEEDED,
  unreachCodeName,
} from "../packet/icmp";
import { unreachCodeName as unreachCodeName6 } from "../packet/icmpv6";
import { assemble, jeq, ld, ldInd, ldxIpHeaderLength, ret } from "./bpf";

export interface IcmpVerdict {
  /** refused: nothing listens on the port (or the protocol); unreachable: the packet could not be delivered */
  status: "refused" | "unreachable";
  /** the ICMP code name: port-unreach, host-unreach, net-unreach, admin-prohibited, ttl-exceeded, ... */
  reason: string;
}

/**
 * The verdict of an ICMP error, or null for errors that say nothing about reachability (fragmentation
 * needed: the kernel deals with path MTU itself; reassembly timeout: a lost fragment).
 */
export function icmpErrorVerdict(type: number, code: number): IcmpVerdict | null {
  if (type === TYPE_DEST_UNREACHABLE) {
    if (code === 4) return null;
    const reason = unreachCodeName(code);
    return { status: code === 2 || code === 3 ? "refused" : "unreachable", reason };
  }
  if (type === TYPE_TIME_EXCEEDED && code === TIME_EXCEEDED_CODES["ttl-exceeded"]) {
    return { status: "unreachable", reason: "ttl-exceeded" };
  }
  return null;
}

/** The errno of a failed send, as a reason: the kernel refused before anything reached the wire. */
export function sendErrorReason(code: string | undefined): string {
  switch (code) {
    case "ENETUNREACH":
      return "no-route";
    case "EHOSTUNREACH":
      return "host-unreach";
    case "EACCES":
      return "prohibited";
    case "EPERM":
      return "blocked-locally";
    default:
      return (code ?? "send-failed").toLowerCase();
  }
}

// Classic BPF on a raw IPv4 socket sees the packet from the IPv4 header on; the ICMP header starts at
// X = 4 * IHL.
const ACCEPT = ret(0xffff);
const DROP = ret(0);

/** Raw ICMP socket filter: destination unreachable and time exceeded only. */
export function icmpErrorFilter(): Buffer {
  return assemble([
    ldxIpHeaderLength(0),
    ldInd.byte(0),
    jeq(TYPE_DEST_UNREACHABLE, 1, 0),
    jeq(TYPE_TIME_EXCEEDED, 0, 1),
    ACCEPT,
    DROP,
  ]);
}

/** Raw ICMP socket filter: echo replies with our identifier, and the errors (that may quote our requests). */
export function pingReplyFilter(id: number): Buffer {
  return assemble([
    ld.byte(9),
    jeq(1, 0, 9), // not ICMP (a raw socket gets only ICMP; cheap insurance)
    ldxIpHeaderLength(0),
    ldInd.byte(0),
    jeq(TYPE_DEST_UNREACHABLE, 5, 0),
    jeq(TYPE_TIME_EXCEEDED, 4, 0),
    jeq(0, 0, 4), // echo reply
    ldInd.half(4),
    jeq(id, 1, 0),
    DROP,
    ACCEPT,
    DROP,
  ]);
}

/**
 * The verdict of an ICMPv6 error (RFC 4443), named as the IPv4 error of the same meaning where there is one,
 * so a record reads the same for both families: no route (what a router's `unreachable` route or a missing
 * route sends) is net-unreach, a failed neighbour resolution (address unreachable) host-unreach, port
 * unreachable port-unreach, hop limit exceeded ttl-exceeded; administratively prohibited keeps its name (as
 * IPv4's code 13). The rest keep RFC 4443's names (beyond-scope, source-policy-failed, reject-route). Packet
 * too big and reassembly timeouts say nothing about reachability: null.
 */
export function icmpv6ErrorVerdict(type: number, code: number): IcmpVerdict | null {
  if (type === ICMPV6_DEST_UNREACHABLE) {
    const reason = ICMPV6_UNREACH_REASONS[code] ?? unreachCodeName6(code);
    return { status: code === 4 ? "refused" : "unreachable", reason };
  }
  if (type === ICMPV6_TIME_EXCEEDED && code === 0) return { status: "unreachable", reason: "ttl-exceeded" };
  return null;
}

const ICMPV6_DEST_UNREACHABLE = 1;
const ICMPV6_TIME_EXCEEDED = 3;
const ICMPV6_UNREACH_REASONS: Readonly<Record<number, string>> = {
  0: "net-unreach",
  1: "admin-prohibited",
  3: "host-unreach",
  4: "port-unreach",
};

// Classic BPF on a raw IPv6 socket sees the ICMPv6 message itself: the kernel has pulled the IPv6 header.

/** Raw ICMPv6 socket filter: echo replies with our identifier, and the errors (that may quote our requests). */
export function ping6ReplyFilter(id: number): Buffer {
  return assemble([
    ld.byte(0),
    jeq(ICMPV6_DEST_UNREACHABLE, 4, 0),
    jeq(ICMPV6_TIME_EXCEEDED, 3, 0),
    jeq(129, 0, 3), // echo reply
    ld.half(4),
    jeq(id, 0, 1),
    ACCEPT,
    DROP,
  ]);
}

/** Raw ICMPv6 socket filter: destination unreachable and time exceeded only. */
export function icmpv6ErrorFilter(): Buffer {
  return assemble([
    ld.byte(0),
    jeq(ICMPV6_DEST_UNREACHABLE, 1, 0),
    jeq(ICMPV6_TIME_EXCEEDED, 0, 1),
    ACCEPT,
    DROP,
  ]);
}
