// Naming rules and address guards for labs. Everything a lab creates is named after its prefix
// `wp<name>-<4 hex>`, so leftovers can always be recognised (and only lab objects are ever deleted).

import { randomBytes } from "node:crypto";
import { isIPv4, isIPv6 } from "node:net";
import { parseIpv6Prefix } from "../addr/ipv6";

/** Matches the name of every namespace a lab creates: `wp<name>-<4 hex>-<host>`. */
export const LAB_NS_PATTERN = /^wp[a-z0-9]*-[0-9a-f]{4}-/;

/** Captures the lab prefix (group 1) of a lab namespace name. */
const PREFIX_OF_NS = /^(wp[a-z0-9]*-[0-9a-f]{4})-[A-Za-z0-9][A-Za-z0-9_-]*$/;

/** Largest Linux interface name (IFNAMSIZ - 1). */
export const MAX_IFNAME = 15;

/** The lab prefix of a namespace name, or null when the name is not a lab namespace. */
export function labPrefixOf(ns: string): string | null {
  const m = PREFIX_OF_NS.exec(ns);
  return m && LAB_NS_PATTERN.test(ns) ? m[1]! : null;
}

/** True when `ns` is named like a namespace of a lab. */
export function isLabNamespace(ns: string): boolean {
  return labPrefixOf(ns) !== null;
}

/** Throws unless `ns` is a lab namespace: the guard in front of every `ip -n` / `ip netns exec` we run. */
export function assertLabNamespace(ns: string): void {
  if (!isLabNamespace(ns))
    throw new Error(`refusing to touch namespace ${JSON.stringify(ns)}: not a lab namespace`);
}

/** A new prefix `wp<first 6 of name, [a-z0-9] only>-<4 random hex>`. */
export function makePrefix(name: string): string {
  const short = name
    .toLowerCase()
    .replace(/[^a-z0-9]/g, "")
    .slice(0, 6);
  return `wp${short}-${randomBytes(2).toString("hex")}`;
}

/** Validates a host (namespace) name: letters, digits, `_` and `-`, at most 32, not the reserved "sw". */
export function checkHostName(name: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,31}$/.test(name)) {
    throw new Error(
      `invalid host name ${JSON.stringify(name)}: use 1-32 of [A-Za-z0-9_-], starting alphanumeric`,
    );
  }
  if (name === "sw") throw new Error(`host name "sw" is reserved for the lab's switch namespace`);
}

/** Validates a segment name; the bridge is called `br-<name>`, which must fit in 15 characters. */
export function checkSegmentName(name: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9_-]{0,11}$/.test(name)) {
    throw new Error(
      `invalid segment name ${JSON.stringify(name)}: use 1-12 of [A-Za-z0-9_-], starting alphanumeric`,
    );
  }
}

/** Validates an interface name (1-15 characters, no `/`, whitespace or `:`). */
export function checkIfname(name: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name) || name.length > MAX_IFNAME) {
    throw new Error(`invalid interface name ${JSON.stringify(name)}: 1-${MAX_IFNAME} of [A-Za-z0-9_.-]`);
  }
}

/** Validates a unicast MAC address `xx:xx:xx:xx:xx:xx`. */
export function checkMac(mac: string): void {
  if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/i.test(mac) || (parseInt(mac.slice(0, 2), 16) & 1) === 1) {
    throw new Error(`invalid MAC ${JSON.stringify(mac)}: want a unicast xx:xx:xx:xx:xx:xx`);
  }
}

/** The only networks labs may use (documentation and benchmarking ranges). */
export const LAB_NETWORKS: readonly string[] = ["198.51.100.0/24", "203.0.113.0/24", "198.18.0.0/15"];

function ipToInt(ip: string): number {
  return ip.split(".").reduce((acc, part) => acc * 256 + Number(part), 0);
}

function parseCidr(cidr: string): { ip: string; len: number } | null {
  const m = /^(\d+\.\d+\.\d+\.\d+)(?:\/(\d{1,2}))?$/.exec(cidr);
  if (!m || !isIPv4(m[1]!)) return null;
  const len = m[2] === undefined ? 32 : Number(m[2]);
  return len >= 0 && len <= 32 ? { ip: m[1]!, len } : null;
}

/** The only IPv6 network labs may use: the documentation prefix (RFC 3849). */
export const LAB_NETWORKS6: readonly string[] = ["2001:db8::/32"];

/** True when the whole IPv6 network `cidr` (an address with optional /len) lies inside 2001:db8::/32. */
function isLabCidr6(cidr: string): boolean {
  const slash = cidr.indexOf("/");
  const address = slash < 0 ? cidr : cidr.slice(0, slash);
  if (!isIPv6(address) || address.includes("%")) return false;
  try {
    const block = parseIpv6Prefix(slash < 0 ? `${cidr}/128` : cidr);
    return (
      (block.prefixLength ?? 0) >= 32 &&
      block.first[0] === 0x20 &&
      block.first[1] === 0x01 &&
      block.first[2] === 0x0d &&
      block.first[3] === 0xb8
    );
  } catch {
    return false;
  }
}

/**
 * True when the whole network `cidr` (an address with optional /len) lies inside one of {@link LAB_NETWORKS}
 * or {@link LAB_NETWORKS6}.
 */
export function isLabCidr(cidr: string): boolean {
  if (cidr.includes(":")) return isLabCidr6(cidr);
  const c = parseCidr(cidr);
  if (!c) return false;
  const addr = ipToInt(c.ip);
  return LAB_NETWORKS.some((net) => {
    const n = parseCidr(net)!;
    if (c.len < n.len) return false;
    const size = 2 ** (32 - n.len);
    const base = ipToInt(n.ip);
    return addr >= base && addr < base + size;
  });
}

/** Throws unless `cidr` is an IPv4 address (with optional /len) whose whole network is a lab network. */
export function assertLabCidr(cidr: string): void {
  if (!isLabCidr(cidr)) {
    throw new Error(
      `refusing lab address ${JSON.stringify(cidr)}: labs only use addresses inside ${[...LAB_NETWORKS, ...LAB_NETWORKS6].join(", ")}`,
    );
  }
}
