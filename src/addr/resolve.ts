import { lookup } from "node:dns/promises";
import { TargetSet } from "./target-set";

// Scan targets: addresses, CIDRs and nmap-style ranges (strictly parsed by TargetSet), plus hostnames,
// resolved once with the system resolver (getaddrinfo, first IPv4 address, as nmap scans the first one).
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

export type NameLookup = (name: string) => Promise<string>;

async function systemLookup(name: string): Promise<string> {
  const { address } = await lookup(name, { family: 4 });
  return address;
}

export interface ScanTargets {
  set: TargetSet;
  /** the name each hostname target resolved from, by address */
  names: Map<number, string>;
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
  unresolved: ScanTargets["unresolved"],
): Promise<TargetSet> {
  const literal: string[] = [];
  const hostnames: string[] = [];
  for (const raw of specs) {
    const spec = raw.trim();
    if (isHostname(spec)) hostnames.push(spec.replace(/\.$/, ""));
    else literal.push(spec);
  }
  const parsed = TargetSet.parse(literal);
  if (hostnames.length === 0) return parsed;
  const intervals = parsed.intervals();
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
    if (r.address !== null) {
      const ip = TargetSet.parse([r.address]).at(0);
      intervals.push([ip, ip]);
      if (!names.has(ip)) names.set(ip, r.name);
    } else {
      unresolved.push({ name: r.name, code: r.code });
    }
  }
  return TargetSet.fromIntervals(intervals);
}

/**
 * Targets minus exclusions. Throws UsageError for a malformed spec; a hostname that does not resolve is
 * reported in `unresolved` (nmap warns and scans the rest), not thrown.
 */
export async function resolveTargets(
  specs: readonly string[],
  exclude: readonly string[] = [],
  resolve: NameLookup = systemLookup,
): Promise<ScanTargets> {
  const names = new Map<number, string>();
  const unresolved: ScanTargets["unresolved"] = [];
  let set = await parseSpecs(specs, resolve, names, unresolved);
  if (exclude.length > 0) {
    const ignoredNames = new Map<number, string>();
    const excluded = await parseSpecs(exclude, resolve, ignoredNames, []);
    set = set.exclude(excluded);
    for (const ip of [...names.keys()]) if (!set.has(ip)) names.delete(ip);
  }
  return { set, names, unresolved };
}
