import { type IpAddress, parseIp } from "../addr/ip";
import { environmentErrorFrom } from "../errors";
import { native } from "../native/binding";
import type { LinkInfo, NativeNetlink, NeighbourEntry, RouteEntry, RuleEntry } from "../native/types";
import { namespacePath } from "./namespace";
import { TABLE_DEFAULT, TABLE_LOCAL, TABLE_MAIN } from "./rt-tables";

// The routes of a namespace that send traffic to a gateway, one per next hop, read over netlink from every
// table the node uses: what `ip route show table all` and `ip -6 route show table all` list with a `via`, from
// the tables a policy rule looks up. Network facts only: whether a gateway answers is the routes probe's job.

/**
 * Which routing tables {@link routes} and {@link readRoutingSnapshot} read: "used" (every table a policy rule
 * looks up, and main, local and default), "all", or one table by its number.
 *
 * @example
 * ```ts
 * import { type TableSelection, routes } from "wireprobe";
 *
 * const table: TableSelection = 100; // the table of `ip rule add from 198.18.0.0/16 lookup 100`
 * const run = routes({ netns: "node1", table });
 * ```
 */
export type TableSelection = "used" | "all" | number;

/** RTNH_F_* as `ip route` names them (the flags printed after the device). */
const NEXTHOP_FLAGS: ReadonlyArray<readonly [number, string]> = [
  [1, "dead"],
  [2, "pervasive"],
  [4, "onlink"],
  [8, "offload"],
  [16, "linkdown"],
  [32, "unresolved"],
  [64, "trap"],
];
export const RTNH_F_ONLINK = 4;

/** The names of a next hop's RTNH_F_* flags, in `ip route`'s order. */
export function nextHopFlagNames(flags: number): string[] {
  if (flags === 0) return [];
  return NEXTHOP_FLAGS.filter(([bit]) => (flags & bit) !== 0).map(([, name]) => name);
}

/** FR_ACT_TO_TBL: a rule that looks up a table. */
const FR_ACT_TO_TBL = 1;

/**
 * One next hop of one route with a gateway, as {@link readRoutingSnapshot} reads it: network facts only, with
 * numbers where `ip route` prints names ({@link RouteRecord} is the probed, named form).
 *
 * @example
 * ```ts
 * import { type GatewayRoute, readRoutingSnapshot } from "wireprobe";
 *
 * const { routes } = await readRoutingSnapshot("/run/netns/node1");
 * const multipath: GatewayRoute[] = routes.filter((r) => r.multipath);
 * for (const r of multipath) console.log(`${r.destination} nexthop via ${r.gateway} weight ${r.weight} (table ${r.table})`);
 * ```
 */
export interface GatewayRoute {
  /** the route's family (its destination's); the gateway's may differ (an IPv4 route `via inet6`) */
  family: 4 | 6;
  /** the routing table's number (254 main, 255 local, 253 default) */
  table: number;
  /** the destination prefix, "198.18.3.0/24" ("0.0.0.0/0", "::/0" for a default route) */
  destination: string;
  /** the gateway as the kernel gives it (RFC 5952 for IPv6) */
  gateway: string;
  /** the gateway parsed: its family, and its number (IPv4) or bytes (IPv6) */
  gatewayIp: IpAddress;
  /** the next hop's interface (0 when the kernel named none) */
  ifindex: number;
  /** RTNH_F_* of this next hop (onlink, dead, linkdown, ...) */
  flags: number;
  /** the next hop is `onlink` (RTNH_F_ONLINK): the kernel takes the gateway as on-link whatever the subnets */
  onlink: boolean;
  /** one of a multipath route's next hops */
  multipath: boolean;
  /** a multipath next hop's weight, null for a route with one next hop */
  weight: number | null;
  /** the route's metric (RTA_PRIORITY) */
  metric: number;
  /** RTPROT_*: who installed it */
  protocol: number;
}

/**
 * A namespace's routing state, read once by {@link readRoutingSnapshot}: its links, the gateway routes of the
 * selected tables, and the kernel's neighbour entries.
 *
 * @example
 * ```ts
 * import { type RoutingSnapshot, readRoutingSnapshot } from "wireprobe";
 *
 * const snapshot: RoutingSnapshot = await readRoutingSnapshot(undefined, "all");
 * const names = new Map(snapshot.links.map((l) => [l.index, l.name]));
 * for (const r of snapshot.routes) {
 *   const entry = snapshot.neighbours.find((n) => n.ifindex === r.ifindex && n.address === r.gateway);
 *   console.log(r.destination, "via", r.gateway, "dev", names.get(r.ifindex), entry?.mac ?? "(no neighbour entry)");
 * }
 * console.log(`tables read: ${snapshot.tables[4].join(" ")} / ${snapshot.tables[6].join(" ")}`);
 * ```
 */
export interface RoutingSnapshot {
  /** the namespace's links (interfaces) with their addresses, as {@link listLinks} gives them */
  links: LinkInfo[];
  /** the gateway routes of the selected tables, one per next hop: the IPv4 dump's order, then the IPv6 one's */
  routes: GatewayRoute[];
  /** the tables read, per family (ascending) */
  tables: {
    /** the IPv4 tables read */
    4: number[];
    /** the IPv6 tables read */
    6: number[];
  };
  /**
   * routes that name a nexthop object and no gateway (`ip route ... nhid N` with net.ipv4.nexthop_compat_mode
   * off): their gateways are not in the route dump, so they are counted here and not probed
   */
  nexthopObjectRoutes: number;
  /** the kernel's neighbour entries (ARP and NDP caches), to compare with what answers, never to probe with */
  neighbours: NeighbourEntry[];
}

/**
 * The tables a family's lookups can reach: every table a policy rule looks up, and main, local and default
 * (the kernel's own three, whatever the rules say). An l3mdev rule (VRFs) looks up each VRF device's table,
 * which no rule names: then every table is in use.
 */
function usedTables(rules: readonly RuleEntry[], present: ReadonlySet<number>): Set<number> {
  if (rules.some((r) => r.l3mdev)) return new Set(present);
  const used = new Set([TABLE_MAIN, TABLE_LOCAL, TABLE_DEFAULT]);
  for (const r of rules) if (r.action === FR_ACT_TO_TBL && r.table !== 0) used.add(r.table);
  return used;
}

function selected(selection: TableSelection, rules: readonly RuleEntry[], present: ReadonlySet<number>) {
  if (selection === "all") return new Set(present);
  if (selection === "used") return usedTables(rules, present);
  return new Set([selection]);
}

/** The gateway routes of one family's dump, in the selected tables. */
function gatewayRoutesOf(
  family: 4 | 6,
  routes: readonly RouteEntry[],
  tables: ReadonlySet<number>,
  out: GatewayRoute[],
): number {
  let nexthopObjects = 0;
  // Most routes share a gateway (10,000 pod CIDRs via a few peers): parse each gateway's text once.
  const parsed = new Map<string, IpAddress | null>();
  const ipOf = (gateway: string) => {
    let ip = parsed.get(gateway);
    if (ip === undefined) {
      ip = parseIp(gateway);
      parsed.set(gateway, ip);
    }
    return ip;
  };
  // One literal per next hop, no spread: a table of 50,000 routes makes 50,000 of them.
  const hop = (
    r: RouteEntry,
    gateway: string,
    ip: IpAddress,
    ifindex: number,
    flags: number,
    weight: number | null,
  ) => ({
    family,
    table: r.table,
    destination: `${r.dst}/${r.dstLength}`,
    gateway,
    gatewayIp: ip,
    ifindex,
    flags,
    onlink: (flags & RTNH_F_ONLINK) !== 0,
    multipath: weight !== null,
    weight,
    metric: r.priority,
    protocol: r.protocol,
  });
  for (const r of routes) {
    if (!tables.has(r.table)) continue;
    if (r.multipath && r.nexthops.length > 0) {
      for (const h of r.nexthops) {
        const ip = h.gateway === null ? null : ipOf(h.gateway);
        // a device-only next hop: no gateway to ask
        if (ip !== null && h.gateway !== null) out.push(hop(r, h.gateway, ip, h.ifindex, h.flags, h.weight));
      }
      continue;
    }
    if (r.gateway === null) {
      if (r.nhid !== 0 && r.type === "unicast") nexthopObjects++;
      continue;
    }
    const ip = ipOf(r.gateway);
    if (ip !== null) out.push(hop(r, r.gateway, ip, r.ifindex, r.flags & 0xff, null));
  }
  return nexthopObjects;
}

function openHandle(netns: string | undefined): NativeNetlink {
  try {
    return new native.Netlink(namespacePath(netns));
  } catch (err) {
    throw environmentErrorFrom(err, "netlink");
  }
}

/**
 * Reads links, routes, rules and neighbour entries of both families in the namespace (a name from `ip netns`
 * or a path; the caller's when undefined), off the JS thread, and keeps the gateway routes of the selected tables. Reads only: asking
 * the gateways is {@link routes}' job. Throws an {@link EnvironmentError} when netlink cannot be read.
 *
 * @example
 * ```ts
 * import { readRoutingSnapshot } from "wireprobe";
 *
 * const snapshot = await readRoutingSnapshot("node1", "used");
 * const gateways = new Set(snapshot.routes.map((r) => r.gateway));
 * console.log(`${snapshot.routes.length} gateway routes via ${gateways.size} gateways`);
 * if (snapshot.nexthopObjectRoutes > 0) console.log(`${snapshot.nexthopObjectRoutes} routes use nexthop objects (not read)`);
 * ```
 */
export async function readRoutingSnapshot(
  netns: string | undefined,
  selection: TableSelection = "used",
): Promise<RoutingSnapshot> {
  const nl = openHandle(netns);
  try {
    // One after the other: the handle's requests take turns anyway.
    const links = await nl.listLinksAsync();
    const routes: GatewayRoute[] = [];
    const tables = { 4: [] as number[], 6: [] as number[] };
    const neighbours: NeighbourEntry[] = [];
    let nexthopObjectRoutes = 0;
    for (const family of [4, 6] as const) {
      const dump = await nl.listRoutesAsync(family);
      const rules = await nl.listRulesAsync(family);
      const present = new Set(dump.map((r) => r.table));
      const chosen = selected(selection, rules, present);
      tables[family] = [...chosen].sort((a, b) => a - b);
      nexthopObjectRoutes += gatewayRoutesOf(family, dump, chosen, routes);
      neighbours.push(...(await nl.listNeighboursAsync(family)));
    }
    return { links, routes, tables, nexthopObjectRoutes, neighbours };
  } catch (err) {
    throw environmentErrorFrom(err, "reading the routing tables");
  } finally {
    nl.close();
  }
}
