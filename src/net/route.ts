import { native } from "../native/binding";
import type { LinkInfo, RouteInfo } from "../native/types";

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

function fromRoute(r: RouteInfo): RouteDecision {
  if (r.type === "local") return { kind: "local", ifname: r.ifname, ifindex: r.ifindex };
  if (r.type !== "unicast")
    return { kind: "special", routeType: r.type, ifname: r.ifname, ifindex: r.ifindex };
  if (r.gateway) {
    return {
      kind: "via-gateway",
      ifname: r.ifname,
      ifindex: r.ifindex,
      gateway: r.gateway,
      source: r.prefsrc,
    };
  }
  return { kind: "on-link", ifname: r.ifname, ifindex: r.ifindex, source: r.prefsrc };
}

function isNoRoute(err: unknown): string | null {
  const code = (err as { code?: string }).code;
  return code === "ENETUNREACH" || code === "EHOSTUNREACH" || code === "EACCES" || code === "EINVAL"
    ? code
    : null;
}

/** The kernel's own route lookup (netlink RTM_GETROUTE) for one IPv4 destination. */
export function lookupRoute(destination: string, netns?: string): RouteDecision {
  try {
    return fromRoute(native.routeGet(destination, netns === undefined ? {} : { netns }));
  } catch (err) {
    const code = isNoRoute(err);
    if (code) return { kind: "unreachable", code };
    throw err;
  }
}

/**
 * How the destination relates to one given interface. The kernel answers a lookup pinned to an interface
 * (RTA_OIF) even when no route matches, by assuming the destination is on-link; asking for the matched
 * table entry (RTM_F_FIB_MATCH) tells a real connected route apart from that assumption.
 */
export function lookupRouteVia(destination: string, link: LinkInfo, netns?: string): RouteDecision {
  let r: RouteInfo;
  try {
    r = native.routeGet(destination, {
      ...(netns === undefined ? {} : { netns }),
      oif: link.index,
      fibMatch: true,
    });
  } catch (err) {
    if (isNoRoute(err)) return lookupRoute(destination, netns);
    throw err;
  }
  const d = fromRoute(r);
  if (d.kind === "on-link" && d.ifindex !== link.index) return lookupRoute(destination, netns);
  if (d.kind === "on-link" || d.kind === "via-gateway") {
    // The matched table entry carries no preferred source for this destination; ask again for it.
    const exact = safeRouteGet(destination, { ...(netns === undefined ? {} : { netns }), oif: link.index });
    return { ...d, ifname: link.name, source: exact?.prefsrc ?? firstIpv4(link) };
  }
  return d;
}

function safeRouteGet(destination: string, options: Parameters<typeof native.routeGet>[1]): RouteInfo | null {
  try {
    return native.routeGet(destination, options);
  } catch {
    return null;
  }
}

export function firstIpv4(link: LinkInfo): string | null {
  return link.addresses.find((a) => a.family === 4)?.address ?? null;
}
