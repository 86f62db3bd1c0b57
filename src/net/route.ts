import { environmentErrorFrom } from "../errors";
import { native } from "../native/binding";
import type { LinkInfo, NativeNetlink, RouteInfo } from "../native/types";

// What the kernel would do with a packet to one destination, reduced to what a prober needs to know.

export type RouteDecision =
  /** the destination is one of this host's own addresses */
  | { kind: "local"; ifname: string; ifindex: number }
  /** directly connected: frames go to the destination's own MAC */
  | { kind: "on-link"; ifname: string; ifindex: number; source: string | null }
  /** routed: frames go to the gateway's MAC */
  | { kind: "via-gateway"; ifname: string; ifindex: number; gateway: string; source: string | null }
  /** broadcast, multicast, blackhole, prohibit, unreachable route types */
  | { kind: "special"; routeType: string; ifname: string; ifindex: number }
  /** no route at all (ENETUNREACH / EHOSTUNREACH) */
  | { kind: "unreachable"; code: string };

/** Where the lookups go: a netlink handle kept open in the namespace. */
export type RouteSource = Pick<NativeNetlink, "routeGet">;

/** Interface names by index, from the caller's link list (saves a request per lookup). */
export type NameOf = (ifindex: number) => string;

function fromRoute(r: RouteInfo, nameOf: NameOf): RouteDecision {
  const ifname = r.ifname || nameOf(r.ifindex);
  if (r.type === "local") return { kind: "local", ifname, ifindex: r.ifindex };
  if (r.type !== "unicast") return { kind: "special", routeType: r.type, ifname, ifindex: r.ifindex };
  if (r.gateway)
    return { kind: "via-gateway", ifname, ifindex: r.ifindex, gateway: r.gateway, source: r.prefsrc };
  return { kind: "on-link", ifname, ifindex: r.ifindex, source: r.prefsrc };
}

function noRouteCode(err: unknown): string | null {
  const code = (err as { code?: string }).code;
  return code === "ENETUNREACH" || code === "EHOSTUNREACH" || code === "EACCES" || code === "EINVAL"
    ? code
    : null;
}

/** The kernel's own route lookup (RTM_GETROUTE) for one destination, on an open handle. */
export function lookupOn(nl: RouteSource, destination: string, nameOf: NameOf): RouteDecision {
  try {
    return fromRoute(nl.routeGet(destination, { withName: false }), nameOf);
  } catch (err) {
    const code = noRouteCode(err);
    if (code) return { kind: "unreachable", code };
    throw err;
  }
}

/** The matched table entry for a destination (RTM_F_FIB_MATCH), or null when nothing matched. */
export function matchedRoute(nl: RouteSource, destination: string, oif?: number): RouteInfo | null {
  try {
    return nl.routeGet(destination, {
      fibMatch: true,
      withName: false,
      ...(oif === undefined ? {} : { oif }),
    });
  } catch (err) {
    if (noRouteCode(err)) return null;
    throw err;
  }
}

/**
 * How the destination relates to one given interface. The kernel answers a lookup pinned to an interface
 * (RTA_OIF) even when no route matches, by assuming the destination is on-link; asking for the matched
 * table entry (RTM_F_FIB_MATCH) tells a real connected route apart from that assumption. Where the link has
 * no route for it, the answer is the kernel's unpinned choice (which names the gateway it would use).
 */
export function lookupViaOn(
  nl: RouteSource,
  destination: string,
  link: LinkInfo,
  nameOf: NameOf,
): RouteDecision {
  const matched = matchedRoute(nl, destination, link.index);
  if (!matched) return lookupOn(nl, destination, nameOf);
  const d = fromRoute(matched, nameOf);
  if (d.kind === "on-link" && d.ifindex !== link.index) return lookupOn(nl, destination, nameOf);
  if (d.kind === "on-link" || d.kind === "via-gateway") {
    // The matched entry carries the route's own preferred source only; ask for the one the kernel picks.
    let source: string | null = null;
    try {
      source = nl.routeGet(destination, { oif: link.index, withName: false }).prefsrc;
    } catch {
      source = null;
    }
    return { ...d, ifname: link.name, source: source ?? firstIpv4(link) };
  }
  return d;
}

function withHandle<T>(netns: string | undefined, fn: (nl: NativeNetlink) => T): T {
  let nl: NativeNetlink;
  try {
    nl = new native.Netlink(netns);
  } catch (err) {
    throw environmentErrorFrom(err, "netlink");
  }
  try {
    return fn(nl);
  } finally {
    nl.close();
  }
}

const noName: NameOf = () => "";

/** The kernel's route decision for one IPv4 destination, in a namespace (a path) or the caller's. */
export function lookupRoute(destination: string, netns?: string): RouteDecision {
  return withHandle(netns, (nl) => {
    const names = new Map(nl.listLinks().map((l) => [l.index, l.name]));
    return lookupOn(nl, destination, (i) => names.get(i) ?? noName(i));
  });
}

/** As lookupRoute, relative to one interface (see lookupViaOn). */
export function lookupRouteVia(destination: string, link: LinkInfo, netns?: string): RouteDecision {
  return withHandle(netns, (nl) => {
    const names = new Map(nl.listLinks().map((l) => [l.index, l.name]));
    return lookupViaOn(nl, destination, link, (i) => names.get(i) ?? noName(i));
  });
}

export function firstIpv4(link: LinkInfo): string | null {
  return link.addresses.find((a) => a.family === 4)?.address ?? null;
}
