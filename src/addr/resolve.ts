import { lookup } from "node:dns/promises";
import { formatIpv6 } from "./ipv6";
import { type TargetParseOptions, TargetSet } from "./target-set";

// Scan targets: addresses, CIDRs and nmap-style ranges (strictly parsed by TargetSet), plus hostnames,
// resolved once with the system resolver (getaddrinfo: the first IPv4 address, as nmap scans the first one;
// a name with only AAAA answers gives its first IPv6 address).
// Resolution happens in the caller's network namespace: the process never enters --netns, so a name is
// resolved with the host's /etc/resolv.conf even when the probes go out of a namespace.

/**
 * RFC 1123 host name: dot-separated labels of letters, digits and inner hyphens, with at least one letter
 * (so "198.51.100.1-5", an nmap-style range, is never taken for a name).
 */
const HOSTNAME =
  /^(?=.{1,253}\.?$)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.?$/;

export function isHostname(spec: string): boolean {
  return HOSTNAME.test(spec) && /[A-Za-z]/.test(spec);
}

/**
 * Resolves a hostname among a scan's targets to one address (IPv4 or IPv6 text); a rejection leaves the
 * target unresolved (reported, not scanned). The default is the system resolver, IPv4 first.
 *
 * @example
 * ```ts
 * import { type NameLookup, scan } from "wireprobe";
 *
 * const hosts: Record<string, string> = { "db.lab": "198.51.100.20", "web.lab": "2001:db8::80" };
 * const lookup: NameLookup = async (name) => {
 *   const address = hosts[name];
 *   if (address === undefined) throw new Error(`${name}: unknown host`);
 *   return address;
 * };
 * for await (const r of scan(["db.lab", "web.lab"], { ports: [5432, 443], lookup })) console.log(r);
 * ```
 */
export type NameLookup = (name: string) => Promise<string>;

async function systemLookup(name: string): Promise<string> {
  const answers = await lookup(name, { all: true });
  const chosen = answers.find((a) => a.family === 4) ?? answers.find((a) => a.family === 6);
  if (chosen === undefined) throw Object.assign(new Error(`${name}: no address`), { code: "ENODATA" });
  return chosen.address;
}

export interface ScanTargets {
  set: TargetSet;
  /** the name each hostname target resolved from, by IPv4 address */
  names: Map<number, string>;
  /** the same for IPv6 targets, by their RFC 5952 text */
  names6: Map<string, string>;
  /** hostnames that did not resolve, with the resolver's error code */
  unresolved: Array<{ name: string; code: string }>;
}

/**
 * Splits a target list (-iL) the way nmap reads one: targets separated by whitespace (a comma belongs to an
 * nmap-style octet list, so it does not separate), '#' starting a comment to the end of the line.
 */
export function splitTargetList(text: string): string[] {
  const out: string[] = [];
  for (const line of text.split(/\r?\n/)) {
    const hash = line.indexOf("#");
    const content = hash >= 0 ? line.slice(0, hash) : line;
    for (const word of content.split(/\s+/)) if (word !== "") out.push(word);
  }
  return out;
}

async function parseSpecs(
  specs: readonly string[],
  resolve: NameLookup,
  names: Map<number, string>,
  names6: Map<string, string>,
  unresolved: ScanTargets["unresolved"],
  options: TargetParseOptions,
): Promise<TargetSet> {
  const literal: string[] = [];
  const hostnames: string[] = [];
  for (const raw of specs) {
    const spec = raw.trim();
    if (isHostname(spec)) hostnames.push(spec.replace(/\.$/, ""));
    else literal.push(spec);
  }
  const parsed = TargetSet.parse(literal, options);
  if (hostnames.length === 0) return parsed;
  const resolved: Array<[number, number]> = [];
  const extra6: Uint8Array[] = [];
  const results = await Promise.all(
    hostnames.map(async (name): Promise<{ name: string; address: string | null; code: string }> => {
      try {
        return { name, address: await resolve(name), code: "" };
      } catch (err) {
        return { name, address: null, code: (err as { code?: string }).code ?? "ENOTFOUND" };
      }
    }),
  );
  for (const r of results) {
    if (r.address === null) {
      unresolved.push({ name: r.name, code: r.code });
      continue;
    }
    let one: TargetSet;
    try {
      one = TargetSet.parse([r.address]);
    } catch {
      // An answer we cannot probe (an IPv4-mapped or link-local-with-zone address): as if unresolved.
      unresolved.push({ name: r.name, code: "EADDRNOTAVAIL" });
      continue;
    }
    if (one.size4 === 1) {
      const ip = one.at(0);
      resolved.push([ip, ip]);
      if (!names.has(ip)) names.set(ip, r.name);
    } else {
      const bytes = new Uint8Array(16);
      one.ipv6Into(0, bytes);
      extra6.push(bytes);
      const text = formatIpv6(bytes);
      if (!names6.has(text)) names6.set(text, r.name);
    }
  }
  return parsed.union(TargetSet.fromParts(resolved, extra6));
}

/**
 * Targets minus exclusions. Throws UsageError for a malformed spec; a hostname that does not resolve is
 * reported in `unresolved` (nmap warns and scans the rest), not thrown.
 */
export async function resolveTargets(
  specs: readonly string[],
  exclude: readonly string[] = [],
  resolve: NameLookup = systemLookup,
  options: TargetParseOptions = {},
): Promise<ScanTargets> {
  const names = new Map<number, string>();
  const names6 = new Map<string, string>();
  const unresolved: ScanTargets["unresolved"] = [];
  let set = await parseSpecs(specs, resolve, names, names6, unresolved, options);
  if (exclude.length > 0) {
    // Exclusions add no probes: a /64 may be excluded whatever the cap.
    const excluded = await parseSpecs(exclude, resolve, new Map(), new Map(), [], { ipv6Cap: null });
    set = set.exclude(excluded);
    for (const ip of [...names.keys()]) if (!set.has(ip)) names.delete(ip);
    for (const text of [...names6.keys()]) {
      const parsed = TargetSet.parse([text]);
      const bytes = new Uint8Array(16);
      parsed.ipv6Into(0, bytes);
      if (!set.hasIpv6(bytes)) names6.delete(text);
    }
  }
  return { set, names, names6, unresolved };
}
