import type { PortRecord } from "./records";

// Every way a probe can end, as a small number, with nmap's state and reason names. A port's outcome is kept
// in 4 bits by the outputs, through a nibble table per kind of port: TCP ports of IPv4 hosts use codes 0-14 as
// they are; TCP ports of IPv6 hosts reuse the nibbles of the outcomes only ICMP (IPv4) gives (proto-unreach,
// net-prohibited, host-prohibited, time-exceeded) and the spare 15 for ICMPv6's (tcpNibble); UDP ports have
// their own table (udpNibble), since a UDP port never ends as a TCP answer would. The ICMP mapping follows
// nmap's scan engine: destination unreachable codes 0, 1, 2, 3, 9, 10 and 13 and time exceeded make a port
// filtered; other unreachable codes are not an answer (nmap ignores them too), so the probe is retried and may
// end as no-response. ICMPv6 has its own mapping (icmpv6Outcome, udpIcmpv6Outcome).

export const OUTCOME_NONE = 0;
export const OPEN_SYN_ACK = 1;
export const OPEN_SPLIT_SYN = 2;
export const CLOSED_RESET = 3;
export const FILTERED_NET_UNREACH = 4;
export const FILTERED_HOST_UNREACH = 5;
export const FILTERED_PROTO_UNREACH = 6;
export const FILTERED_PORT_UNREACH = 7;
export const FILTERED_NET_PROHIBITED = 8;
export const FILTERED_HOST_PROHIBITED = 9;
export const FILTERED_ADMIN_PROHIBITED = 10;
export const FILTERED_TIME_EXCEEDED = 11;
export const FILTERED_NO_RESPONSE = 12;
export const CLOSED_CONN_REFUSED = 13;
export const FILTERED_PERM_DENIED = 14;
// UDP (-sU): a datagram came back, ICMP port unreachable from the target itself, nothing at all.
export const OPEN_UDP_RESPONSE = 15;
export const CLOSED_PORT_UNREACH = 16;
export const OPEN_FILTERED_NO_RESPONSE = 17;
// UDP over IPv6 (-sU): the ICMPv6 unreachable codes nmap names apart from the ICMP ones.
export const FILTERED_NO_ROUTE = 18;
export const FILTERED_BEYOND_SCOPE = 19;
export const FILTERED_REJECT_ROUTE = 20;
export const FILTERED_PARAM_PROBLEM = 21;
// SYN over IPv6: nmap calls a port open when an ICMPv6 parameter problem "erroneous header field" quotes the probe.
export const OPEN_PARAM_PROBLEM = 22;

export type PortState = PortRecord["state"];

const TABLE: ReadonlyArray<readonly [PortState, string] | null> = [
  null,
  ["open", "syn-ack"],
  ["open", "split-handshake-syn"],
  ["closed", "reset"],
  ["filtered", "net-unreach"],
  ["filtered", "host-unreach"],
  ["filtered", "proto-unreach"],
  ["filtered", "port-unreach"],
  ["filtered", "net-prohibited"],
  ["filtered", "host-prohibited"],
  ["filtered", "admin-prohibited"],
  ["filtered", "time-exceeded"],
  ["filtered", "no-response"],
  ["closed", "conn-refused"],
  ["filtered", "perm-denied"],
  ["open", "udp-response"],
  ["closed", "port-unreach"],
  ["open|filtered", "no-response"],
  ["filtered", "no-route"],
  ["filtered", "beyond-scope"],
  ["filtered", "reject-route"],
  ["filtered", "param-problem"],
  ["open", "param-problem"],
];

export function outcomeState(code: number): PortState {
  const row = TABLE[code];
  if (!row) throw new RangeError(`no port outcome ${code}`);
  return row[0];
}

export function outcomeReason(code: number): string {
  const row = TABLE[code];
  if (!row) throw new RangeError(`no port outcome ${code}`);
  return row[1];
}

/** The outcome of a state and reason as records carry them; 0 when the pair is not one of ours. */
export function outcomeOf(state: string, reason: string): number {
  for (let code = 1; code < TABLE.length; code++) {
    const row = TABLE[code]!;
    if (row[0] === state && row[1] === reason) return code;
  }
  return OUTCOME_NONE;
}

/** ICMP destination unreachable codes that answer a TCP probe (nmap's list), by code. */
const UNREACH: Readonly<Record<number, number>> = {
  0: FILTERED_NET_UNREACH,
  1: FILTERED_HOST_UNREACH,
  2: FILTERED_PROTO_UNREACH,
  3: FILTERED_PORT_UNREACH,
  9: FILTERED_NET_PROHIBITED,
  10: FILTERED_HOST_PROHIBITED,
  13: FILTERED_ADMIN_PROHIBITED,
};

/**
 * The outcome of an ICMPv6 error about a TCP probe, or OUTCOME_NONE when it does not decide the port, as
 * nmap -6 -sS reads it (scan_engine_raw.cc, reason names from portreasons.cc): destination unreachable
 * no-route (0), admin-prohibited (1, and 5: source address failed ingress/egress policy), beyond-scope (2),
 * host-unreach (3, address unreachable), port-unreach (4, from the target or a router alike) and reject-route
 * (6) make the port filtered; a parameter problem "erroneous header field" (4/0) makes it open and
 * "unrecognized next header" (4/1) filtered, both param-problem. Other unreachable and parameter problem
 * codes, time exceeded and packet too big are not answers: nmap skips them, so the probe is retried.
 */
export function icmpv6Outcome(type: number, code: number): number {
  if (type === 4) return code === 0 ? OPEN_PARAM_PROBLEM : code === 1 ? FILTERED_PARAM_PROBLEM : OUTCOME_NONE;
  return type === 1 ? (UNREACH6[code] ?? OUTCOME_NONE) : OUTCOME_NONE;
}

/** ICMPv6 destination unreachable codes 0-6 as nmap -6 names them (codes 1 and 5 both admin-prohibited). */
const UNREACH6: readonly number[] = [
  FILTERED_NO_ROUTE,
  FILTERED_ADMIN_PROHIBITED,
  FILTERED_BEYOND_SCOPE,
  FILTERED_HOST_UNREACH,
  FILTERED_PORT_UNREACH,
  FILTERED_ADMIN_PROHIBITED,
  FILTERED_REJECT_ROUTE,
];

/** The outcome of an ICMP error about a probe, or OUTCOME_NONE when it does not decide the port. */
export function icmpOutcome(type: number, code: number): number {
  if (type === 11) return FILTERED_TIME_EXCEEDED;
  if (type === 3) return UNREACH[code] ?? OUTCOME_NONE;
  return OUTCOME_NONE;
}

/** The outcome of an ICMP error about a UDP probe (nmap: port unreachable from the target itself is closed). */
export function udpIcmpOutcome(type: number, code: number, fromTarget: boolean): number {
  if (type === 3 && code === 3 && fromTarget) return CLOSED_PORT_UNREACH;
  return icmpOutcome(type, code);
}

/**
 * The outcome of an ICMPv6 error about a UDP probe, as nmap -6 -sU reads it (scan_engine_raw.cc, reason names
 * from portreasons.cc): destination unreachable no-route (0), admin-prohibited (1 and 5), beyond-scope (2),
 * host-unreach (3, address unreachable), port-unreach (4: closed from the target itself, else filtered),
 * reject-route (6); parameter problem "unrecognized next header" (4/1) filtered. nmap calls a parameter
 * problem "erroneous header field" (4/0) open; that one (which no UDP stack sends about a well-formed probe)
 * is not read as an answer here. Time exceeded, packet too big and other codes are not answers (nmap
 * ignores them too).
 */
export function udpIcmpv6Outcome(type: number, code: number, fromTarget: boolean): number {
  if (type === 4) return code === 1 ? FILTERED_PARAM_PROBLEM : OUTCOME_NONE;
  if (type === 1 && code === 4 && fromTarget) return CLOSED_PORT_UNREACH;
  return type === 1 ? (UNREACH6[code] ?? OUTCOME_NONE) : OUTCOME_NONE;
}

/** UDP port outcomes by nibble: 1-3 the UDP-only outcomes, 4-11 the ICMP ones shared with TCP, 12-15 ICMPv6's. */
const UDP_FROM_NIBBLE: readonly number[] = [
  OUTCOME_NONE,
  OPEN_UDP_RESPONSE,
  CLOSED_PORT_UNREACH,
  OPEN_FILTERED_NO_RESPONSE,
  FILTERED_NET_UNREACH,
  FILTERED_HOST_UNREACH,
  FILTERED_PROTO_UNREACH,
  FILTERED_PORT_UNREACH,
  FILTERED_NET_PROHIBITED,
  FILTERED_HOST_PROHIBITED,
  FILTERED_ADMIN_PROHIBITED,
  FILTERED_TIME_EXCEEDED,
  FILTERED_NO_ROUTE,
  FILTERED_BEYOND_SCOPE,
  FILTERED_REJECT_ROUTE,
  FILTERED_PARAM_PROBLEM,
];
const UDP_TO_NIBBLE = new Int8Array(TABLE.length).fill(-1);
UDP_FROM_NIBBLE.forEach((code, nibble) => {
  UDP_TO_NIBBLE[code] = nibble;
});

/** A UDP port's outcome as 4 bits (-1 for an outcome a UDP port cannot have). */
export function udpNibble(code: number): number {
  return UDP_TO_NIBBLE[code] ?? -1;
}

/** The outcome of a UDP port's 4 bits. */
export function udpOutcomeOfNibble(nibble: number): number {
  return UDP_FROM_NIBBLE[nibble] ?? OUTCOME_NONE;
}

/**
 * TCP port outcomes of an IPv6 host by nibble. Codes 0-14 as for IPv4, except the four only ICMP (IPv4) gives:
 * nmap -6 never names a TCP port net-prohibited or host-prohibited (ICMPv6 has no such codes), time-exceeded
 * (it skips ICMPv6 time exceeded) or proto-unreach (only its connect scan's ENOPROTOOPT, which Linux never
 * gives a TCP connect), so their nibbles hold ICMPv6's outcomes, and the spare 15 the last one.
 */
const TCP6_FROM_NIBBLE: readonly number[] = [
  OUTCOME_NONE,
  OPEN_SYN_ACK,
  OPEN_SPLIT_SYN,
  CLOSED_RESET,
  FILTERED_NET_UNREACH,
  FILTERED_HOST_UNREACH,
  FILTERED_PARAM_PROBLEM, // IPv4: proto-unreach (ICMPv6 says "unrecognized next header" as a parameter problem)
  FILTERED_PORT_UNREACH,
  FILTERED_NO_ROUTE, // IPv4: net-prohibited
  FILTERED_BEYOND_SCOPE, // IPv4: host-prohibited
  FILTERED_ADMIN_PROHIBITED,
  FILTERED_REJECT_ROUTE, // IPv4: time-exceeded
  FILTERED_NO_RESPONSE,
  CLOSED_CONN_REFUSED,
  FILTERED_PERM_DENIED,
  OPEN_PARAM_PROBLEM, // unused for IPv4
];
const TCP6_TO_NIBBLE = new Int8Array(TABLE.length).fill(-1);
TCP6_FROM_NIBBLE.forEach((code, nibble) => {
  TCP6_TO_NIBBLE[code] = nibble;
});

/** A TCP port's outcome as 4 bits, for a port of an IPv6 host or not (-1 for an outcome it cannot have). */
export function tcpNibble(code: number, ipv6: boolean): number {
  if (ipv6) return TCP6_TO_NIBBLE[code] ?? -1;
  return code >= 0 && code <= 14 ? code : -1;
}

/** The outcome of a TCP port's 4 bits, for a port of an IPv6 host or not. */
export function tcpOutcomeOfNibble(nibble: number, ipv6: boolean): number {
  if (ipv6) return TCP6_FROM_NIBBLE[nibble] ?? OUTCOME_NONE;
  return nibble >= 0 && nibble <= 14 ? nibble : OUTCOME_NONE;
}
