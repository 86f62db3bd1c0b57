import { formatIp, type IpAddress } from "../addr/ip";
import { environmentErrorFrom } from "../errors";
import { native } from "../native/binding";
import type { LinkInfo, NativeNetlink, RouteEntry, RouteInfo, RuleEntry } from "../native/types";
import { namespacePath } from "./namespace";
import { lookupOn, lookupViaOn, matchedRoute, type RouteDecision } from "./route";

// Route decisions for a whole sweep. Asking the kernel once per destination costs ~9 µs, which is more
// than sending the probe. Every destination inside the prefix of one matched table entry gets the same
// answer, except where a more specific prefix (a route in any table, or a rule's destination) carves
// something out of it, or the entry has several next hops. So one snapshot of the routes and rules plus
// one real lookup per distinct entry answers the rest from memory, and stays the kernel's own answer.

/**
 * Route decisions for a whole sweep: one snapshot of the routing tables and rules, one real kernel lookup per
 * distinct route entry met, and the rest answered from a cache that gives the kernel's own answer (it equals
 * `ip route get` for every address). Close it when done: it holds a netlink socket.
 *
 * @example
 * ```ts
 * import { TargetSet, createRouteResolver } from "wireprobe";
 *
 * const resolver = createRouteResolver("/run/netns/node1");
 * try {
 *   const targets = TargetSet.parse(["198.51.100.0/24", "203.0.113.0/24"]);
 *   for (let i = 0; i < targets.size4; i++) {
 *     const d = resolver.resolve(targets.at(i));
 *     if (d.kind !== "on-link") console.log(i, d.kind);
 *   }
 *   console.log(`${resolver.lookups} kernel lookups for ${targets.size4} addresses`);
 * } finally {
 *   resolver.close();
 * }
 * ```
 */
export interface RouteResolver {
  /** the namespace's links, as listed when the resolver was made */
  readonly links: readonly LinkInfo[];
  /** the kernel's decision for a destination (an unsigned 32-bit IPv4 address) */
  resolve(address: number): RouteDecision;
  /**
   * The same for an IPv6 destination (its 16 bytes). The IPv6 routes and rules are read on the first call,
   * so an IPv4-only run never dumps them.
   */
  resolve6(address: Uint8Array): RouteDecision;
  /** kernel lookups made so far (the rest came from the cache) */
  readonly lookups: number;
  /** closes its netlink socket; resolve and resolve6 must not be called after */
  close(): void;
}

/**
 * Options of {@link createRouteResolver} and {@link createRouteResolverAsync}.
 *
 * @example
 * ```ts
 * import { createRouteResolver, findLink, listLinks, packet } from "wireprobe";
 *
 * const link = findLink(listLinks(), "eth1");
 * const resolver = createRouteResolver(undefined, { link });
 * console.log(resolver.resolve(packet.address.ipv4ToInt("198.51.100.11")).kind); // "other-link" when eth1 has no route
 * resolver.close();
 * ```
 */
export interface RouteResolverOptions {
  /** decide relative to this interface, as lookupRouteVia does */
  link?: LinkInfo;
}

interface Span {
  start: number;
  end: number;
}

interface CacheEntry extends Span {
  decision: RouteDecision;
  /** sorted, disjoint spans inside this prefix where a more specific prefix may decide otherwise */
  holes: Span[];
}

/** The span of an IPv4 prefix (the dumps are of IPv4 routes and rules). */
function prefixSpan(dst: IpAddress, length: number): Span & { length: number } {
  if (dst.family !== 4) throw new TypeError(`an IPv${dst.family} prefix in an IPv4 routing table`);
  const start = length === 0 ? 0 : (dst.v4 & (0xffffffff << (32 - length))) >>> 0;
  return { start, end: start + 2 ** (32 - length) - 1, length };
}

function inSpans(spans: readonly Span[], address: number): boolean {
  let lo = 0;
  let hi = spans.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >>> 1;
    const s = spans[mid]!;
    if (address < s.start) hi = mid - 1;
    else if (address > s.end) lo = mid + 1;
    else return true;
  }
  return false;
}

function mergeSpans(spans: Span[]): Span[] {
  spans.sort((a, b) => a.start - b.start);
  const out: Span[] = [];
  for (const s of spans) {
    const last = out[out.length - 1];
    if (last && s.start <= last.end + 1) last.end = Math.max(last.end, s.end);
    else out.push({ ...s });
  }
  return out;
}

/** An IPv6 prefix: its first `length` bits are `bytes`'. */
interface Prefix6 {
  bytes: Uint8Array;
  length: number;
}

interface CacheEntry6 extends Prefix6 {
  decision: RouteDecision;
  /** more specific prefixes inside this one, where another answer may hold */
  holes: Prefix6[];
}

/** Holes an IPv6 entry may have and still be cached: each is checked on every lookup. */
const MAX_HOLES6 = 64;

function inPrefix6(address: Uint8Array, p: Prefix6): boolean {
  const whole = p.length >>> 3;
  for (let i = 0; i < whole; i++) if (address[i] !== p.bytes[i]) return false;
  const bits = p.length & 7;
  if (bits === 0) return true;
  const mask = (0xff << (8 - bits)) & 0xff;
  return (address[whole]! & mask) === (p.bytes[whole]! & mask);
}

function inEntry6(address: Uint8Array, e: CacheEntry6): boolean {
  if (!inPrefix6(address, e)) return false;
  for (const h of e.holes) if (inPrefix6(address, h)) return false;
  return true;
}

/** A table entry's identity: the table and the prefix. */
function multipathKey(r: { table: number; dstIp: IpAddress; dstLength: number }): string {
  return `${r.table}/${r.dstIp.family === 4 ? r.dstIp.v4 : formatIp(r.dstIp)}/${r.dstLength}`;
}

/** What a resolver starts from: one snapshot of the namespace's links, routes and rules. */
interface Snapshot {
  links: LinkInfo[];
  routes: RouteEntry[];
  rules: RuleEntry[];
}

function openHandle(netns: string | undefined): NativeNetlink {
  try {
    return new native.Netlink(namespacePath(netns));
  } catch (err) {
    throw environmentErrorFrom(err, "netlink");
  }
}

/**
 * A resolver for the namespace (a name from `ip netns` or a file such as /proc/PID/ns/net) or the caller's. Its snapshot is
 * read on the JS thread: the event loop waits for the dumps (tens of milliseconds for a table of 20,000
 * routes). Where the caller can wait for a promise, createRouteResolverAsync reads it off the JS thread.
 *
 * @example
 * ```ts
 * import { createRouteResolver, packet } from "wireprobe";
 *
 * const resolver = createRouteResolver("/run/netns/node1");
 * const d4 = resolver.resolve(packet.address.ipv4ToInt("203.0.113.20"));
 * const d6 = resolver.resolve6(packet.ipv6Address.toIpv6Bytes("2001:db8:b::20"));
 * console.log(d4.kind, d6.kind);
 * resolver.close();
 * ```
 */
export function createRouteResolver(netns?: string, options: RouteResolverOptions = {}): RouteResolver {
  const nl = openHandle(netns);
  try {
    return new CachingResolver(nl, options.link, {
      links: nl.listLinks(),
      routes: nl.listRoutes(),
      rules: nl.listRules(),
    });
  } catch (err) {
    nl.close();
    throw environmentErrorFrom(err, "reading the routing tables");
  }
}

/**
 * As {@link createRouteResolver}, with the snapshot read on a worker thread. Its lookups (resolve) stay
 * synchronous: a sweep makes a handful (one or two per distinct route entry it meets; the cache answers the
 * rest), each a single netlink request of a few microseconds.
 *
 * @example
 * ```ts
 * import { createRouteResolverAsync, packet } from "wireprobe";
 *
 * const resolver = await createRouteResolverAsync("/proc/4242/ns/net");
 * try {
 *   const d = resolver.resolve(packet.address.ipv4ToInt("198.51.100.11"));
 *   if (d.kind === "via-gateway") console.log("via", d.gateway);
 * } finally {
 *   resolver.close();
 * }
 * ```
 */
export async function createRouteResolverAsync(
  netns?: string,
  options: RouteResolverOptions = {},
): Promise<RouteResolver> {
  const nl = openHandle(netns);
  try {
    // One after the other: the handle's requests take turns anyway, and each would hold a thread of the pool.
    const links = await nl.listLinksAsync();
    const routes = await nl.listRoutesAsync();
    const rules = await nl.listRulesAsync();
    return new CachingResolver(nl, options.link, { links, routes, rules });
  } catch (err) {
    nl.close();
    throw environmentErrorFrom(err, "reading the routing tables");
  }
}

class CachingResolver implements RouteResolver {
  readonly links: LinkInfo[];
  lookups = 0;
  private readonly names: Map<number, string>;
  private readonly boundaries: Array<Span & { length: number }>;
  private readonly multipath: Set<string>;
  private readonly entries: CacheEntry[] = [];
  private last: CacheEntry | null = null;
  /** the IPv6 routes' and rules' prefixes, read on the first resolve6 */
  private boundaries6: Prefix6[] | null = null;
  private readonly multipath6 = new Set<string>();
  private readonly entries6: CacheEntry6[] = [];
  private last6: CacheEntry6 | null = null;
  private readonly nameOf = (i: number) => this.names.get(i) ?? "";

  constructor(
    private readonly nl: NativeNetlink,
    private readonly link: LinkInfo | undefined,
    { links, routes, rules }: Snapshot,
  ) {
    this.links = links;
    this.names = new Map(this.links.map((l) => [l.index, l.name]));
    this.boundaries = [
      ...routes.map((r) => prefixSpan(r.dstIp, r.dstLength)),
      ...rules.filter((r) => r.dstIp !== null).map((r) => prefixSpan(r.dstIp!, r.dstLength)),
    ];
    this.multipath = new Set(routes.filter((r) => r.multipath).map((r) => multipathKey(r)));
  }

  resolve(address: number): RouteDecision {
    const hit = this.cached(address);
    if (hit) return hit;
    this.lookups += 2;
    const decision = this.link
      ? lookupViaOn(this.nl, address, this.link, this.nameOf)
      : lookupOn(this.nl, address, this.nameOf);
    if (decision.kind === "on-link" || decision.kind === "via-gateway") this.remember(address, decision);
    else if (decision.kind === "other-link" && decision.route.kind !== "local")
      this.rememberOtherLink(address, decision);
    return decision;
  }

  resolve6(address: Uint8Array): RouteDecision {
    const last = this.last6;
    if (last !== null && inEntry6(address, last)) return last.decision;
    for (const e of this.entries6) {
      if (inEntry6(address, e)) {
        this.last6 = e;
        return e.decision;
      }
    }
    this.lookups += 1;
    const destination = { family: 6, bytes: address } as const;
    const decision = this.link
      ? lookupViaOn(this.nl, destination, this.link, this.nameOf)
      : lookupOn(this.nl, destination, this.nameOf);
    if ((decision.kind === "on-link" || decision.kind === "via-gateway") && this.oneSource6(decision)) {
      this.lookups += 1;
      this.remember6(address, decision);
    }
    return decision;
  }

  /**
   * Whether every destination of the route gets the decision's source: IPv6 picks a source per destination
   * (RFC 6724, longest matching prefix among the outgoing link's addresses), so a decision holds for a whole
   * prefix only when that link has a single global address, the one chosen.
   */
  private oneSource6(decision: RouteDecision & { ifindex: number; sourceIp: IpAddress | null }): boolean {
    const link = this.links.find((l) => l.index === decision.ifindex);
    const global = link?.addresses.filter((a) => a.family === 6 && a.scope === 0) ?? [];
    return (
      global.length === 1 &&
      decision.sourceIp?.family === 6 &&
      global[0]!.ip.family === 6 &&
      global[0]!.ip.bytes.every((b, i) => b === (decision.sourceIp as { bytes: Uint8Array }).bytes[i])
    );
  }

  private remember6(destination: Uint8Array, decision: RouteDecision): void {
    if (this.link && "ifindex" in decision && decision.ifindex !== this.link.index) return;
    const boundaries = this.readBoundaries6();
    const matched = matchedRoute(this.nl, { family: 6, bytes: destination }, this.link?.index);
    if (!matched || matched.dstLength >= 128 || matched.dstIp.family !== 6) return;
    if (this.multipath6.has(multipathKey(matched))) return;
    const prefix = { bytes: Uint8Array.from(matched.dstIp.bytes), length: matched.dstLength };
    const holes = boundaries.filter((b) => b.length > prefix.length && inPrefix6(b.bytes, prefix));
    if (holes.length > MAX_HOLES6) return;
    const entry: CacheEntry6 = { ...prefix, decision, holes };
    this.entries6.push(entry);
    this.last6 = entry;
  }

  private readBoundaries6(): Prefix6[] {
    if (this.boundaries6 !== null) return this.boundaries6;
    const routes = this.nl.listRoutes(6);
    const rules = this.nl.listRules(6);
    for (const r of routes) if (r.multipath) this.multipath6.add(multipathKey(r));
    const prefixes: Prefix6[] = [];
    for (const r of routes)
      if (r.dstIp.family === 6) prefixes.push({ bytes: r.dstIp.bytes, length: r.dstLength });
    for (const r of rules)
      if (r.dstIp?.family === 6) prefixes.push({ bytes: r.dstIp.bytes, length: r.dstLength });
    this.boundaries6 = prefixes;
    return prefixes;
  }

  private cached(address: number): RouteDecision | null {
    const last = this.last;
    if (last && address >= last.start && address <= last.end && !inSpans(last.holes, address))
      return last.decision;
    for (const e of this.entries) {
      if (address >= e.start && address <= e.end && !inSpans(e.holes, address)) {
        this.last = e;
        return e.decision;
      }
    }
    return null;
  }

  private remember(destination: number, decision: RouteDecision): void {
    // Pinned to a link, only answers that came from that link's own table entry hold for a whole prefix.
    if (this.link && "ifindex" in decision && decision.ifindex !== this.link.index) return;
    this.rememberFor(matchedRoute(this.nl, destination, this.link?.index), decision);
  }

  /**
   * The pinned link has no route for this destination: neither has it for any other address of the kernel's
   * unpinned table entry outside its holes (a route through the link would either cover that whole entry, so
   * cover this destination too, or be a more specific prefix inside it, which is a hole).
   */
  private rememberOtherLink(destination: number, decision: RouteDecision): void {
    if (matchedRoute(this.nl, destination, this.link!.index) !== null) return;
    this.rememberFor(matchedRoute(this.nl, destination), decision);
  }

  private rememberFor(matched: RouteInfo | null, decision: RouteDecision): void {
    if (!matched || matched.dstLength === 32) return;
    if (this.multipath.has(multipathKey(matched))) return;
    const span = prefixSpan(matched.dstIp, matched.dstLength);
    const holes = mergeSpans(
      this.boundaries
        .filter((b) => b.length > span.length && b.start >= span.start && b.end <= span.end)
        .map((b) => ({ start: b.start, end: b.end })),
    );
    // Entries with many holes (a prefix full of /32 routes) would cost more to check than they save.
    if (holes.length > 4096) return;
    const entry: CacheEntry = { start: span.start, end: span.end, decision, holes };
    this.entries.push(entry);
    this.last = entry;
  }

  close(): void {
    this.nl.close();
  }
}
