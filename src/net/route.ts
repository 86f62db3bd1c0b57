import type { IpAddress } from "../addr/ip";
import { environmentErrorFrom } from "../errors";
import { native } from "../native/binding";
import type { HandleRouteGetOptions, LinkAddress, LinkInfo, NativeNetlink, RouteInfo } from "../native/types";
import { namespacePath } from "./namespace";

// What the kernel would do with a packet to one destination, reduced to what a prober needs to know.

/**
 * What the kernel would do with a packet to one destination (`ip route get`), reduced to what a prober needs:
 * `kind` says which, the other fields depend on it.
 *
 * @example
 * ```ts
 * import { type RouteDecision, lookupRoute } from "wireprobe";
 *
 * const d: RouteDecision = lookupRoute("203.0.113.20", "/run/netns/node1");
 * if (d.kind === "via-gateway") console.log(`via ${d.gateway} dev ${d.ifname} src ${d.source}`);
 * else if (d.kind === "on-link") console.log(`on-link dev ${d.ifname}`);
 * else console.log(d.kind);
 * ```
 */
export type RouteDecision =
  /** the destination is one of this host's own addresses */
  | {
      /** which decision */
      kind: "local";
      /** the interface the address is on (the kernel delivers it over lo) */
      ifname: string;
      /** its index */
      ifindex: number;
    }
  /** directly connected: frames go to the destination's own MAC */
  | {
      /** which decision */
      kind: "on-link";
      /** the interface the packet leaves by */
      ifname: string;
      /** its index */
      ifindex: number;
      /** the source address the kernel picks, null when it picks none */
      source: string | null;
      /** `source` as a number (IPv4) or bytes (IPv6) */
      sourceIp: IpAddress | null;
    }
  /** routed: frames go to the gateway's MAC */
  | {
      /** which decision */
      kind: "via-gateway";
      /** the interface the packet leaves by */
      ifname: string;
      /** its index */
      ifindex: number;
      /** the next hop */
      gateway: string;
      /** the source address the kernel picks, null when it picks none */
      source: string | null;
      /** `gateway` and `source` as numbers (IPv4) or bytes (IPv6) */
      gatewayIp: IpAddress;
      /** `source` as a number (IPv4) or bytes (IPv6) */
      sourceIp: IpAddress | null;
    }
  /** broadcast, multicast, blackhole, prohibit, unreachable route types */
  | {
      /** which decision */
      kind: "special";
      /** the route's type: broadcast, multicast, blackhole, prohibit, unreachable, ... */
      routeType: string;
      /** the route's interface */
      ifname: string;
      /** its index */
      ifindex: number;
    }
  /** no route at all (ENETUNREACH / EHOSTUNREACH) */
  | {
      /** which decision */
      kind: "unreachable";
      /** the error the kernel answered: ENETUNREACH, EHOSTUNREACH, EACCES or EINVAL */
      code: string;
    }
  /**
   * Only from a lookup pinned to an interface (lookupRouteVia): that interface has no route for the destination,
   * the kernel reaches it through another one. `ifname`/`ifindex` name the pinned interface, `route` is the
   * kernel's choice without the pin (on-link, via a gateway, or one of this host's own addresses).
   */
  | {
      /** which decision */
      kind: "other-link";
      /** the pinned interface */
      ifname: string;
      /** its index */
      ifindex: number;
      /** the kernel's choice without the pin */
      route: UnpinnedRoute;
    };

/**
 * What the kernel would do without the pin, for a destination the pinned interface has no route for (the
 * `route` of an `other-link` decision).
 *
 * @example
 * ```ts
 * import { findLink, listLinks, lookupRouteVia } from "wireprobe";
 *
 * const eth1 = findLink(listLinks(), "eth1");
 * const d = lookupRouteVia("203.0.113.20", eth1);
 * if (d.kind === "other-link") console.log(`not via ${d.ifname}: the kernel uses ${d.route.ifname} (${d.route.kind})`);
 * ```
 */
export type UnpinnedRoute = Extract<
  RouteDecision,
  {
    /** the decisions a route through another interface can be */
    kind: "on-link" | "via-gateway" | "local" | "special";
  }
>;

/** Where the lookups go: a netlink handle kept open in the namespace. */
export type RouteSource = Pick<NativeNetlink, "routeGet">;
/** The same, asked off the JS thread. */
export type AsyncRouteSource = Pick<NativeNetlink, "routeGetAsync">;

/**
 * A destination as the route lookups take it: an IPv4 address as its number or dotted quad, IPv6 text, or an
 * IpAddress of either family (an IPv6 one as its 16 bytes: no text on the way).
 *
 * @example
 * ```ts
 * import { type RouteDestination, lookupRoute, packet } from "wireprobe";
 *
 * const destinations: RouteDestination[] = [
 *   "198.51.100.11",
 *   packet.address.ipv4ToInt("198.51.100.12"),
 *   "2001:db8::11",
 *   { family: 6, bytes: packet.ipv6Address.toIpv6Bytes("2001:db8::12") },
 * ];
 * for (const d of destinations) console.log(lookupRoute(d).kind);
 * ```
 */
export type RouteDestination = string | number | IpAddress;

function familyOf(destination: RouteDestination): 4 | 6 {
  if (typeof destination === "number") return 4;
  if (typeof destination === "string") return destination.includes(":") ? 6 : 4;
  return destination.family;
}

/** Interface names by index, from the caller's link list (saves a request per lookup). */
export type NameOf = (ifindex: number) => string;

/** One RTM_GETROUTE question; the answer is its RouteInfo, or the request's error thrown into the lookup. */
interface RouteQuery {
  destination: RouteDestination;
  options: HandleRouteGetOptions;
}

/**
 * A route decision as the questions it asks the kernel, written once and answered either at once (answerNow: a
 * sweep's cached resolver asks a few per run) or off the JS thread (answerLater).
 */
type Lookup<T> = Generator<RouteQuery, T, RouteInfo>;

function answerNow<T>(nl: RouteSource, lookup: Lookup<T>): T {
  let step = lookup.next();
  while (!step.done) {
    let answer: RouteInfo;
    try {
      answer = nl.routeGet(step.value.destination, step.value.options);
    } catch (err) {
      step = lookup.throw(err);
      continue;
    }
    step = lookup.next(answer);
  }
  return step.value;
}

async function answerLater<T>(nl: AsyncRouteSource, lookup: Lookup<T>): Promise<T> {
  let step = lookup.next();
  while (!step.done) {
    let answer: RouteInfo;
    try {
      answer = await nl.routeGetAsync(step.value.destination, step.value.options);
    } catch (err) {
      step = lookup.throw(err);
      continue;
    }
    step = lookup.next(answer);
  }
  return step.value;
}

function fromRoute(r: RouteInfo, nameOf: NameOf): RouteDecision {
  const ifname = r.ifname || nameOf(r.ifindex);
  if (r.type === "local") return { kind: "local", ifname, ifindex: r.ifindex };
  if (r.type !== "unicast") return { kind: "special", routeType: r.type, ifname, ifindex: r.ifindex };
  if (r.gateway && r.gatewayIp) {
    return {
      kind: "via-gateway",
      ifname,
      ifindex: r.ifindex,
      gateway: r.gateway,
      source: r.prefsrc,
      gatewayIp: r.gatewayIp,
      sourceIp: r.prefsrcIp,
    };
  }
  return { kind: "on-link", ifname, ifindex: r.ifindex, source: r.prefsrc, sourceIp: r.prefsrcIp };
}

function noRouteCode(err: unknown): string | null {
  const code = (err as { code?: string }).code;
  return code === "ENETUNREACH" || code === "EHOSTUNREACH" || code === "EACCES" || code === "EINVAL"
    ? code
    : null;
}

function* lookupSteps(destination: RouteDestination, nameOf: NameOf): Lookup<RouteDecision> {
  try {
    return fromRoute(yield { destination, options: { withName: false } }, nameOf);
  } catch (err) {
    const code = noRouteCode(err);
    if (code) return { kind: "unreachable", code };
    throw err;
  }
}

function* matchedSteps(destination: RouteDestination, oif?: number): Lookup<RouteInfo | null> {
  try {
    return yield {
      destination,
      options: { fibMatch: true, withName: false, ...(oif === undefined ? {} : { oif }) },
    };
  } catch (err) {
    if (noRouteCode(err)) return null;
    throw err;
  }
}

function* viaSteps(destination: RouteDestination, link: LinkInfo, nameOf: NameOf): Lookup<RouteDecision> {
  const matched = yield* matchedSteps(destination, link.index);
  const d = matched ? fromRoute(matched, nameOf) : null;
  if (d && (d.kind === "on-link" || d.kind === "via-gateway") && d.ifindex === link.index) {
    // The matched entry carries the route's own preferred source only; ask for the one the kernel picks.
    let picked: RouteInfo | null = null;
    try {
      picked = yield { destination, options: { oif: link.index, withName: false } };
    } catch {
      picked = null;
    }
    const first = firstAddressOf(link, familyOf(destination));
    return {
      ...d,
      ifname: link.name,
      source: picked?.prefsrc ?? first?.address ?? null,
      sourceIp: picked?.prefsrcIp ?? first?.ip ?? null,
    };
  }
  if (d && (d.kind === "local" || d.kind === "special")) return d;
  return otherLink(yield* lookupSteps(destination, nameOf), link);
}

/** The kernel's own route lookup (RTM_GETROUTE) for one destination, on an open handle. */
export function lookupOn(nl: RouteSource, destination: RouteDestination, nameOf: NameOf): RouteDecision {
  return answerNow(nl, lookupSteps(destination, nameOf));
}

/** The matched table entry for a destination (RTM_F_FIB_MATCH), or null when nothing matched. */
export function matchedRoute(nl: RouteSource, destination: RouteDestination, oif?: number): RouteInfo | null {
  return answerNow(nl, matchedSteps(destination, oif));
}

/** ARPHRD_LOOPBACK */
const HW_LOOPBACK = 772;

export function isLoopback(link: LinkInfo): boolean {
  return link.hwType === HW_LOOPBACK;
}

/**
 * How the destination relates to one given interface, as a prober pinned to it (-i) must see it. The kernel
 * answers a lookup pinned to an interface (RTA_OIF) even when no route matches, by assuming the destination
 * is on-link there; asking for the matched table entry (RTM_F_FIB_MATCH) tells a real route through the link
 * apart from that assumption. Where the link has no route for it, the answer is "other-link" with the
 * kernel's unpinned choice, except for what holds whatever the interface: no route at all, a blackhole,
 * prohibit or unreachable route, multicast, and (pinned to the loopback) this host's own addresses.
 */
export function lookupViaOn(
  nl: RouteSource,
  destination: RouteDestination,
  link: LinkInfo,
  nameOf: NameOf,
): RouteDecision {
  return answerNow(nl, viaSteps(destination, link, nameOf));
}

/** The pinned answer for a destination the link has no route for, from the kernel's unpinned decision. */
function otherLink(d: RouteDecision, link: LinkInfo): RouteDecision {
  switch (d.kind) {
    case "unreachable":
    case "other-link":
      return d;
    case "special":
      // A broadcast address belongs to its own link's subnet; the other special routes bind every link.
      if (d.routeType !== "broadcast") return d;
      break;
    case "local":
      // The kernel delivers its own addresses over the loopback, so the loopback reaches every one of them.
      if (isLoopback(link)) return d;
      break;
  }
  return { kind: "other-link", ifname: link.name, ifindex: link.index, route: d };
}

function openHandle(netns: string | undefined): NativeNetlink {
  try {
    return new native.Netlink(namespacePath(netns));
  } catch (err) {
    throw environmentErrorFrom(err, "netlink");
  }
}

function withHandle<T>(netns: string | undefined, fn: (nl: NativeNetlink) => T): T {
  const nl = openHandle(netns);
  try {
    return fn(nl);
  } finally {
    nl.close();
  }
}

async function withHandleAsync<T>(
  netns: string | undefined,
  fn: (nl: NativeNetlink) => Promise<T>,
): Promise<T> {
  const nl = openHandle(netns);
  try {
    return await fn(nl);
  } finally {
    nl.close();
  }
}

function namesOf(links: readonly LinkInfo[]): NameOf {
  const names = new Map(links.map((l) => [l.index, l.name]));
  return (i) => names.get(i) ?? "";
}

/**
 * The kernel's route decision for one destination of either family (`ip route get`), in a namespace (a name
 * from `ip netns` or a file such as /proc/PID/ns/net) or the caller's.
 *
 * @example
 * ```ts
 * import { lookupRoute } from "wireprobe";
 *
 * const d = lookupRoute("203.0.113.20", "/run/netns/node1");
 * console.log(d); // { kind: "via-gateway", ifname: "eth0", gateway: "198.51.100.1", source: "198.51.100.11", ... }
 * ```
 */
export function lookupRoute(destination: RouteDestination, netns?: string): RouteDecision {
  return withHandle(netns, (nl) => lookupOn(nl, destination, namesOf(nl.listLinks())));
}

/**
 * As {@link lookupRoute}, relative to one interface, as a prober pinned to it must see it: where that interface
 * has no route for the destination, the answer is `other-link` with the kernel's choice without the pin (a
 * destination with no route at all, or a blackhole, prohibit or unreachable route, is that whatever the
 * interface).
 *
 * @example
 * ```ts
 * import { findLink, listLinks, lookupRouteVia } from "wireprobe";
 *
 * const netns = "/run/netns/node1";
 * const eth0 = findLink(listLinks(netns), "eth0");
 * const d = lookupRouteVia("203.0.113.20", eth0, netns);
 * if (d.kind === "other-link") console.log(`eth0 has no route there; the kernel would use ${d.route.ifname}`);
 * ```
 */
export function lookupRouteVia(destination: RouteDestination, link: LinkInfo, netns?: string): RouteDecision {
  return withHandle(netns, (nl) => lookupViaOn(nl, destination, link, namesOf(nl.listLinks())));
}

/**
 * As {@link lookupRoute}, asked on a worker thread: the event loop runs on meanwhile.
 *
 * @example
 * ```ts
 * import { lookupRouteAsync } from "wireprobe";
 *
 * const d = await lookupRouteAsync("2001:db8:b::20", "/run/netns/node1");
 * if (d.kind === "unreachable") console.log(`no route (${d.code})`);
 * ```
 */
export function lookupRouteAsync(destination: RouteDestination, netns?: string): Promise<RouteDecision> {
  return withHandleAsync(netns, async (nl) =>
    answerLater(nl, lookupSteps(destination, namesOf(await nl.listLinksAsync()))),
  );
}

/**
 * As {@link lookupRouteVia}, asked on a worker thread.
 *
 * @example
 * ```ts
 * import { findLink, listLinksAsync, lookupRouteViaAsync } from "wireprobe";
 *
 * const eth0 = findLink(await listLinksAsync(), "eth0");
 * const d = await lookupRouteViaAsync("198.51.100.11", eth0);
 * console.log(d.kind, d.kind === "on-link" ? d.source : "");
 * ```
 */
export function lookupRouteViaAsync(
  destination: RouteDestination,
  link: LinkInfo,
  netns?: string,
): Promise<RouteDecision> {
  return withHandleAsync(netns, async (nl) =>
    answerLater(nl, viaSteps(destination, link, namesOf(await nl.listLinksAsync()))),
  );
}

/** The link's first IPv4 address (text and number), or null. */
export function firstIpv4Address(link: LinkInfo): LinkAddress | null {
  return link.addresses.find((a) => a.family === 4) ?? null;
}

/**
 * The link's first address of the family, or null. For IPv6, a global address before a link-local one, as the
 * kernel's source selection prefers the larger scope for a global destination.
 */
export function firstAddressOf(link: LinkInfo, family: 4 | 6): LinkAddress | null {
  if (family === 4) return firstIpv4Address(link);
  const v6 = link.addresses.filter((a) => a.family === 6);
  return v6.find((a) => a.scope === 0) ?? v6[0] ?? null;
}

/** The link's first IPv4 address as its number, or null. */
export function firstIpv4Number(link: LinkInfo): number | null {
  const ip = firstIpv4Address(link)?.ip;
  return ip?.family === 4 ? ip.v4 : null;
}
