import { parseMac, writeMacNumber } from "../../addr/address";
import { compareIpv6, formatIpv6 } from "../../addr/ipv6";
import { TargetSet, toTargetSet } from "../../addr/target-set";
import { EnvironmentError, UsageError } from "../../errors";
import type { LinkInfo } from "../../native/types";
import { findLink, HW_ETHERNET } from "../../net/links";
import { refusingRouteType } from "../../net/refused-route";
import { firstIpv4Number, type RouteDecision } from "../../net/route";
import { createRouteResolverAsync, type RouteResolver } from "../../net/route-resolver";
import { arpReplies } from "../arp/arp";

// Where each target's probes go: the kernel's route decision for it (from the route resolver's cache, so a
// /16 costs a handful of netlink lookups), reduced to a channel (interface + source address, and whether
// we can speak Ethernet there) and a next hop (the target itself when on-link, else the gateway). Next-hop
// MACs are found with our own ARP probe, never from the kernel's neighbour table: a sweep must not fill it,
// and a silent next hop is exactly what makes a target (or everything behind a gateway) down.

/** Why a target gets no probes (index into DOWN_REASONS; 0 = it is scanned). */
export const DOWN_REASONS = [
  "",
  "no-arp-reply",
  "no-ndp-reply",
  "no-route",
  "blackhole",
  "prohibit",
  "broadcast",
  "multicast",
  "unreachable",
] as const;
export type DownReason = Exclude<(typeof DOWN_REASONS)[number], "">;
const DOWN_CODE: Readonly<Record<string, number>> = Object.fromEntries(
  DOWN_REASONS.map((r, i) => [r, i] as const),
);

/**
 * How probes leave: "ethernet" frames through a packet socket to a next hop's MAC, or "ip" packets through a
 * raw IPv4 socket (the kernel routes them): for links without Ethernet (tunnels, point-to-point) and for
 * this host's own addresses, which the kernel answers over the loopback.
 */
export interface Channel {
  id: number;
  kind: "ethernet" | "ip";
  /** 6: IPv6 probes (Ethernet only), from source6 */
  family: 4 | 6;
  link: LinkInfo;
  /** our address on it, the source of the probes (IPv4; 0 on an IPv6 channel) */
  sourceIp: number;
  /** our IPv6 address on it, null on an IPv4 channel */
  source6: Uint8Array | null;
  /** our MAC (ethernet) */
  mac: Buffer | null;
}

export interface RoutePlan {
  channels: Channel[];
  /** per target: channel id + 1 (0: none, the target is down) */
  channelOf: Uint8Array;
  /** per target: index of its next hop in hopMacs (ethernet channels), -1 for ip channels */
  hopOf: Int32Array;
  /** per target: DOWN_REASONS index, 0 when it is scanned */
  down: Uint8Array;
  /** next-hop MACs, 6 bytes per hop */
  hopMacs: Buffer;
  /** targets that will be scanned */
  live: number;
}

export interface PlanOptions {
  netns?: string;
  interface?: string;
  /** ARP: per-attempt wait, retries and rate (the scan's own) */
  timeoutMs: number;
  retries: number;
  rate: number;
  signal?: AbortSignal;
  /**
   * per target, 1 when it is probed: one shard of a split scan probes some targets only, and asks for no
   * other next hop. The rest get neither a channel nor a down reason. Default: every target.
   */
  include?: Uint8Array;
}

/** Down reason of a target whose route refuses it: the route type (blackhole, prohibit, ...) or no-route. */
function refusedReason(d: RouteDecision): number {
  return DOWN_CODE[refusingRouteType(d) ?? "no-route"] ?? DOWN_CODE["no-route"]!;
}

/** Classifies every target and ARPs for every distinct next hop. */
export async function planRoutes(targets: TargetSet, options: PlanOptions): Promise<RoutePlan> {
  const resolver = await createRouteResolverAsync(options.netns);
  const channels: Channel[] = [];
  const size = targets.size;
  const channelOf = new Uint8Array(size);
  const hopOf = new Int32Array(size).fill(-1);
  const down = new Uint8Array(size);
  // next hops per ethernet channel: address -> hop index
  const hopIndex: Array<Map<number, number>> = [];
  // IPv6 next hops per ethernet channel: address text (a handful per scan) -> hop index
  const hopIndex6: Array<Map<string, number>> = [];
  const hopAddress: number[] = [];
  const hopChannel: number[] = [];
  try {
    let links = resolver.links;
    let resolve = (ip: number): RouteDecision => resolver.resolve(ip);
    let pinned: RouteResolver | null = null;
    if (options.interface !== undefined) {
      const link = findLink(links, options.interface);
      if (!link.up) throw new EnvironmentError(`interface "${link.name}" is down`, "ENETDOWN");
      pinned = await createRouteResolverAsync(options.netns, { link });
      const p = pinned;
      resolve = (ip) => p.resolve(ip);
      links = p.links;
    }
    const channelFor = (link: LinkInfo, kind: Channel["kind"], sourceIp: number): Channel => {
      const existing = channels.find(
        (c) => c.family === 4 && c.link.index === link.index && c.sourceIp === sourceIp,
      );
      if (existing) return existing;
      if (channels.length >= 255) throw new EnvironmentError("too many interfaces and source addresses");
      const channel: Channel = {
        id: channels.length,
        kind,
        family: 4,
        link,
        sourceIp,
        source6: null,
        mac: kind === "ethernet" && link.mac ? parseMac(link.mac) : null,
      };
      channels.push(channel);
      hopIndex.push(new Map());
      hopIndex6.push(new Map());
      return channel;
    };
    const channel6For = (link: LinkInfo, source6: Uint8Array): Channel => {
      const existing = channels.find(
        (c) => c.family === 6 && c.link.index === link.index && compareIpv6(c.source6!, source6) === 0,
      );
      if (existing) return existing;
      if (channels.length >= 255) throw new EnvironmentError("too many interfaces and source addresses");
      const channel: Channel = {
        id: channels.length,
        kind: "ethernet",
        family: 6,
        link,
        sourceIp: 0,
        source6: Uint8Array.from(source6),
        mac: parseMac(link.mac!),
      };
      channels.push(channel);
      hopIndex.push(new Map());
      hopIndex6.push(new Map());
      return channel;
    };
    let resolve6 = (ip: Uint8Array): RouteDecision => resolver.resolve6(ip);
    if (pinned !== null) {
      const p: RouteResolver = pinned;
      resolve6 = (ip) => p.resolve6(ip);
    }
    try {
      const target6 = new Uint8Array(16);
      // The resolver answers a sweep behind one gateway with one decision object: its channel and hop again.
      let lastGateway: RouteDecision | null = null;
      let lastChannel = 0;
      let lastHop = -1;
      const include = options.include;
      for (let t = targets.size4; t < size; t++) {
        if (include !== undefined && include[t] === 0) continue;
        targets.ipv6Into(t, target6);
        const d = resolve6(target6);
        if (d === lastGateway) {
          channelOf[t] = lastChannel;
          hopOf[t] = lastHop;
          continue;
        }
        if (d.kind === "unreachable" || d.kind === "other-link" || d.kind === "special") {
          down[t] = d.kind === "other-link" ? DOWN_CODE["no-route"]! : refusedReason(d);
          continue;
        }
        const link = links.find((l) => l.index === d.ifindex);
        if (d.kind === "local" || (link && (link.hwType !== HW_ETHERNET || link.mac === null))) {
          throw new UsageError(
            `scan: IPv6 target ${formatIpv6(target6)} is ${d.kind === "local" ? "this host's own address" : `on ${d.ifname}, a link without Ethernet`}; IPv6 scans go over Ethernet only for now`,
          );
        }
        const source = d.sourceIp?.family === 6 ? d.sourceIp.bytes : null;
        if (!link || source === null) {
          down[t] = DOWN_CODE["no-route"]!;
          continue;
        }
        const next = d.kind === "on-link" ? target6 : d.gatewayIp.family === 6 ? d.gatewayIp.bytes : null;
        if (next === null) {
          down[t] = DOWN_CODE["no-route"]!;
          continue;
        }
        const channel = channel6For(link, source);
        channelOf[t] = channel.id + 1;
        const hop = formatIpv6(next);
        const known = hopIndex6[channel.id]!;
        let h = known.get(hop);
        if (h === undefined) {
          h = hopChannel.length;
          known.set(hop, h);
          hopAddress.push(-1);
          hopChannel.push(channel.id);
        }
        hopOf[t] = h;
        if (d.kind === "via-gateway") {
          lastGateway = d;
          lastChannel = channelOf[t]!;
          lastHop = h;
        }
      }
      for (let t = 0; t < targets.size4; t++) {
        if (include !== undefined && include[t] === 0) continue;
        const ip = targets.at(t);
        const d = resolve(ip);
        if (d.kind === "unreachable") {
          down[t] = refusedReason(d);
          continue;
        }
        // Pinned to an interface (-i) without a route for the target: nothing may leave by another one.
        if (d.kind === "other-link") {
          down[t] = DOWN_CODE["no-route"]!;
          continue;
        }
        if (d.kind === "special") {
          down[t] = refusedReason(d);
          continue;
        }
        const link = links.find((l) => l.index === d.ifindex);
        if (!link) {
          down[t] = DOWN_CODE["no-route"]!;
          continue;
        }
        if (d.kind === "local") {
          // The kernel answers for its own addresses over the loopback: send from the address to itself.
          channelOf[t] = channelFor(loopback(links) ?? link, "ip", ip).id + 1;
          continue;
        }
        const source = d.sourceIp?.family === 4 ? d.sourceIp.v4 : firstIpv4Number(link);
        if (source === null) {
          down[t] = DOWN_CODE["no-route"]!;
          continue;
        }
        const ethernet = link.hwType === HW_ETHERNET && link.mac !== null;
        const channel = channelFor(link, ethernet ? "ethernet" : "ip", source);
        channelOf[t] = channel.id + 1;
        if (!ethernet) continue;
        // An IPv6 next hop (RTA_VIA) has no ARP: that target has no route this scan can take.
        const hop = d.kind === "on-link" ? ip : d.gatewayIp.family === 4 ? d.gatewayIp.v4 : -1;
        if (hop < 0) {
          down[t] = DOWN_CODE["no-route"]!;
          channelOf[t] = 0;
          continue;
        }
        const known = hopIndex[channel.id]!;
        let h = known.get(hop);
        if (h === undefined) {
          h = hopAddress.length;
          known.set(hop, h);
          hopAddress.push(hop);
          hopChannel.push(channel.id);
        }
        hopOf[t] = h;
      }
    } finally {
      pinned?.close();
    }
  } finally {
    resolver.close();
  }

  const hopMacs = Buffer.alloc(hopChannel.length * 6);
  const answered = new Uint8Array(hopChannel.length);
  for (const channel of channels) {
    if (channel.kind !== "ethernet") continue;
    const hops = hopIndex[channel.id]!;
    const hops6 = hopIndex6[channel.id]!;
    if (hops.size === 0 && hops6.size === 0) continue;
    // IPv6 next hops by wireprobe's NDP (the ARP module's second family): never the kernel's neighbour table.
    const set =
      channel.family === 4
        ? TargetSet.fromIntervals([...hops.keys()].map((ip) => [ip, ip]))
        : toTargetSet([...hops6.keys()]);
    const sweep = arpReplies(set, {
      ...(options.netns === undefined ? {} : { netns: options.netns }),
      interface: channel.link.name,
      anyLink: true,
      timeoutMs: options.timeoutMs,
      retries: options.retries,
      rate: options.rate,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    const hop6 = new Uint8Array(16);
    for await (const r of sweep) {
      let h: number | undefined;
      if (r.family === 4) h = hops.get(r.target);
      else {
        set.ipv6Into(r.index, hop6);
        h = hops6.get(formatIpv6(hop6));
      }
      if (h === undefined) continue;
      writeMacNumber(r.mac, hopMacs, h * 6);
      answered[h] = 1;
    }
  }

  let live = 0;
  for (let t = 0; t < size; t++) {
    if (down[t] !== 0 || (options.include !== undefined && options.include[t] === 0)) continue;
    const h = hopOf[t]!;
    if (h >= 0 && answered[h] === 0) {
      down[t] = DOWN_CODE[t < targets.size4 ? "no-arp-reply" : "no-ndp-reply"]!;
      channelOf[t] = 0;
      continue;
    }
    live++;
  }
  return { channels, channelOf, hopOf, down, hopMacs, live };
}

function loopback(links: readonly LinkInfo[]): LinkInfo | undefined {
  return links.find((l) => l.hwType === 772) ?? links.find((l) => l.name === "lo");
}
