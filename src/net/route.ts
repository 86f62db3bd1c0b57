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
  | { kind: "unreachable"; code: string }
  /**
   * Only from a lookup pinned to an interface (lookupViaOn): that interface has no route for the destination,
   * the kernel reaches it through another one. `ifname`/`ifindex` name the pinned interface, `route` is the
   * kernel's choice without the pin (on-link, via a gateway, or one of this host's own addresses).
   */
  | { kind: "other-link"; ifname: string; ifindex: number; route: UnpinnedRoute };

/** What the kernel would do without the pin, for a destination the pinned interface has no route for. */
export type UnpinnedRoute = Extract<RouteDecision, { kind: "on-link" | "via-gateway" | "local" | "special" }>;

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
  destination: string,
  link: LinkInfo,
  nameOf: NameOf,
): RouteDecision {
  const matched = matchedRoute(nl, destination, link.index);
  const d = matched ? fromRoute(matched, nameOf) : null;
  if (d && (d.kind === "on-link" || d.kind === "via-gateway") && d.ifindex === link.index) {
    // The matched entry carries the route's own preferred source only; ask for the one the kernel picks.
    let source: string | null = null;
    try {
      source = nl.routeGet(destination, { oif: link.index, withName: false }).prefsrc;
    } catch {
      source = null;
    }
    return { ...d, ifname: link.name, source: source ?? firstIpv4(link) };
  }
  if (d && (d.kind === "local" || d.kind === "special")) return d;
  return otherLink(lookupOn(nl, destination, nameOf), link);
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
