// The shape of the compiled addon (build/Release/wireprobe.node). The addon is deliberately thin:
// sockets, batched I/O, BPF, netlink and namespaces. Everything else lives in TypeScript.
import type { IpAddress } from "../addr/ip";

/**
 * Per-packet metadata in a received batch, STRIDE numbers per packet in a Float64Array:
 *   [0] byte offset of the packet in the batch buffer
 *   [1] length in bytes (captured length; packets are never truncated below 64 KiB)
 *   [2] kernel receive timestamp, in milliseconds on the CLOCK_MONOTONIC scale
 *       (comparable with Number(process.hrtime.bigint()) / 1e6)
 *   [3] packet socket: the sll_pkttype (0 host, 1 broadcast, 2 multicast, 3 otherhost, 4 outgoing);
 *       IPv4 inet socket: the source IPv4 address as an unsigned 32-bit integer (network byte order value,
 *       i.e. 198.51.100.1 === 0xc6336401); IPv6 inet socket (family 6): the byte offset in the batch buffer of
 *       the source's 16 bytes, which follow the packet (ipFromMeta in src/addr/ip.ts reads either)
 *   [4] packet socket: the original (wire) length; inet socket: the source port (0 for raw sockets)
 */
export const META_STRIDE = 5;

export type BatchCallback = (data: Buffer, meta: Float64Array, count: number) => void;

/** Kernel send timestamps: packet `ids[k]` left at `times[k]` (ms, CLOCK_MONOTONIC), k < count. */
export type TxTimestampCallback = (ids: Float64Array, times: Float64Array, count: number) => void;

/**
 * Counters since the previous stats() call. Packet sockets: PACKET_STATISTICS (packets includes drops).
 * Inet sockets: packets = packets delivered to the callback; drops = SO_RXQ_OVFL, which the kernel
 * reports with the next packet queued after the drops (so it lags until one arrives).
 */
export interface SocketStats {
  /** packets the kernel handed to the socket since the last call (PACKET_STATISTICS), 0 where unknown */
  packets: number;
  /** packets the kernel dropped for this socket since the last call (receive buffer full) */
  drops: number;
}

export interface PacketSocketOptions {
  /** interface index to bind to */
  ifindex: number;
  /** ethertype in host order (0x0806 ARP, 0x0800 IPv4, 0x0003 ETH_P_ALL; 0 = send only, receives nothing) */
  protocol: number;
  /** path of a network namespace file (/run/netns/NAME or /proc/PID/ns/net); absent = the caller's */
  netns?: string;
  /** classic BPF program: struct sock_filter[] as bytes (8 bytes per instruction, host byte order) */
  filter?: Buffer;
  /** SO_RCVBUF / SO_SNDBUF in bytes (best effort, FORCE variants as root) */
  rcvbuf?: number;
  sndbuf?: number;
}

export interface NativePacketSocket {
  /**
   * Sends whole Ethernet frames with sendmmsg. Returns how many were accepted (fewer on EAGAIN/ENOBUFS).
   * Other errors throw a NativeError whose `sent` says how many frames went out before the failing one.
   */
  send(frames: Buffer[]): number;
  /**
   * Starts delivering received packets in batches from the libuv loop (no thread, no busy loop): one
   * callback per wakeup, `this` = the socket, at most 4096 packets. A receiving socket is not garbage
   * collected. Calling it again while receiving replaces both callbacks.
   *
   * A receive error (the socket is unusable: ENETDOWN when its interface went down or away), and an exception
   * thrown by `callback` or by the TX timestamp callback, stop receiving and timestamping and go to `onError`,
   * so they end the run that owns the socket and nothing else; the error carries code, errno and syscall
   * ("recvmmsg"). Without `onError` they become an uncaughtException. Errors about single packets (an ICMP
   * error for an earlier send, ENOBUFS) are not reported: receiving goes on.
   */
  startReceive(callback: BatchCallback, onError?: (error: NativeError) => void): void;
  stopReceive(): void;
  /** Keeps / stops keeping the event loop alive while receiving (default: ref'd). */
  ref(): void;
  unref(): void;
  /**
   * Asks the kernel for a software timestamp of the packets this socket sends from now on (SO_TIMESTAMPING:
   * TX_SOFTWARE, OPT_ID, OPT_TSONLY) and delivers them in batches from the libuv loop, `this` = the socket:
   * `ids[k]` is the packet's TX id, `times[k]` when the driver took it (ms, CLOCK_MONOTONIC, as the receive
   * timestamps). Ids count the packets handed to this socket's sends (`send`, `sendFramesAsync`) since this
   * call, from 0 (mod 2^32); `lastSendTxId` and `sendFramesAsync` say which id a batch starts at. Only the
   * first and the last packet of each send are timestamped where the kernel takes ids per message (Linux
   * 6.13+); older kernels timestamp every packet. Returns false, and delivers nothing, when the kernel refuses
   * the option: callers then keep their own send times. Calling it again replaces the callback.
   * `kernelIds` numbers the packets with the kernel's own counter even where ids per message are possible.
   */
  startTxTimestamps(callback: TxTimestampCallback, options?: { kernelIds?: boolean }): boolean;
  /** Turns the kernel option off and drops what is queued. */
  stopTxTimestamps(): void;
  /**
   * Reads the timestamps queued now and delivers them to the callback before returning (how many). For a
   * reader of answers on another socket: timestamps before answers.
   */
  readTxTimestamps(): number;
  /** The TX id of the first packet of the last `send()`; NaN when TX timestamps are off. */
  readonly lastSendTxId: number;
  stats(): SocketStats;
  /** Idempotent; releases the fd and the poll handle (also done when garbage collected). */
  close(): void;
  /** -1 once closed */
  readonly fd: number;
}

export interface InetSocketOptions {
  /** "raw" (SOCK_RAW) or "dgram" (SOCK_DGRAM: UDP, or unprivileged ICMP echo with protocol 1) */
  type: "raw" | "dgram";
  /** AF_INET (4, the default) or AF_INET6 (6, IPV6_V6ONLY): the family of every address it sends to */
  family?: 4 | 6;
  /** IPPROTO_* (1 ICMP, 6 TCP, 17 UDP, 255 RAW) */
  protocol: number;
  netns?: string;
  /** SO_BINDTODEVICE */
  device?: string;
  /** IP_HDRINCL: the caller writes the IPv4 header (raw, family 4 only) */
  hdrincl?: boolean;
  /**
   * IP_MTU_DISCOVER = IP_PMTUDISC_PROBE (family 6: IPV6_MTU_DISCOVER = IPV6_PMTUDISC_PROBE): every packet goes out
   * whole with Don't Fragment (IPv6: unfragmented), checked against the interface's MTU only, never against the
   * kernel's path MTU cache for the destination; larger than the interface's MTU fails with EMSGSIZE
   */
  pmtuProbe?: boolean;
  filter?: Buffer;
  /** local address (text of the socket's family) and port to bind (dgram); default any/ephemeral */
  bindAddress?: string;
  bindPort?: number;
  rcvbuf?: number;
  sndbuf?: number;
}

export interface NativeInetSocket {
  /**
   * sendmmsg, packet k to the k-th address of `addresses`: packed in network order, 4 bytes per packet on an
   * IPv4 socket, 16 on an IPv6 one (PackedAddresses / packIpv4 in src/addr/ip.ts); another length throws a
   * TypeError. `ports` (one per packet) are ignored for raw sockets. Returns how many were accepted; errors as
   * for NativePacketSocket.send.
   */
  send(packets: Buffer[], addresses: Uint8Array, ports?: number[]): number;
  /** As NativePacketSocket.startReceive. */
  startReceive(callback: BatchCallback, onError?: (error: NativeError) => void): void;
  stopReceive(): void;
  /** As NativePacketSocket's. */
  startTxTimestamps(callback: TxTimestampCallback, options?: { kernelIds?: boolean }): boolean;
  stopTxTimestamps(): void;
  readTxTimestamps(): number;
  readonly lastSendTxId: number;
  ref(): void;
  unref(): void;
  stats(): SocketStats;
  /** the bound local address and port (after bind / first send) */
  localAddress(): { family: 4 | 6; address: string; port: number };
  close(): void;
  readonly fd: number;
}

/**
 * One address of a link, as `ip addr` lists it.
 *
 * @example
 * ```ts
 * import { type LinkAddress, listLinks } from "wireprobe";
 *
 * const global6: LinkAddress[] = listLinks("/run/netns/node1")
 *   .flatMap((l) => l.addresses)
 *   .filter((a) => a.family === 6 && a.scope === 0);
 * for (const a of global6) console.log(`${a.address}/${a.prefixLength}`);
 * ```
 */
export interface LinkAddress {
  /** 4 or 6 */
  family: 4 | 6;
  /** the address as text (IPv6 in RFC 5952 form) */
  address: string;
  /** the same address as a number (IPv4) or its bytes (IPv6) */
  ip: IpAddress;
  /** the prefix length of the subnet it is configured with (24 for 198.51.100.1/24) */
  prefixLength: number;
  /** the IPv4 broadcast address, null when there is none (and for IPv6) */
  broadcast: string | null;
  /** RT_SCOPE_*: 0 global, 253 link, 254 host */
  scope: number;
}

/**
 * One network interface (link) of a namespace with its addresses, as `ip addr` lists it.
 *
 * @example
 * ```ts
 * import { type LinkInfo, listLinks } from "wireprobe";
 *
 * const up: LinkInfo[] = listLinks().filter((l) => l.up && l.hwType === 1);
 * for (const l of up) console.log(l.name, l.mac, l.mtu, l.addresses.map((a) => a.address).join(" "));
 * ```
 */
export interface LinkInfo {
  /** the interface index (ifindex) */
  index: number;
  /** the interface name (eth0, veth1, ...) */
  name: string;
  /** "aa:bb:cc:dd:ee:ff", or null for links without one (lo is 00:00:00:00:00:00) */
  mac: string | null;
  /** the link's MTU in bytes */
  mtu: number;
  /** IFF_* flags (carrier: IFF_LOWER_UP 0x10000, IFF_RUNNING 0x40) */
  flags: number;
  /** administratively up (IFF_UP) */
  up: boolean;
  /** ARPHRD_* (1 Ethernet, 772 loopback, 65534 none) */
  hwType: number;
  /** its IPv4 and IPv6 addresses */
  addresses: LinkAddress[];
}

/**
 * routeGet's destination: an IPv4 address as its unsigned number or dotted quad, IPv6 text, the 16 bytes of an
 * IPv6 address, or an IpAddress of either family. The request is AF_INET or AF_INET6 accordingly.
 */
export type RouteGetDestination = string | number | Uint8Array | IpAddress;

export interface RouteGetOptions {
  netns?: string;
  /** RTA_OIF: ask how the kernel would route out of this interface */
  oif?: number;
  /** RTA_PREFSRC-style source hint (RTA_SRC), of the destination's family (any RouteGetDestination form) */
  src?: RouteGetDestination;
  /** RTM_F_FIB_MATCH: return the matched table entry (fails when nothing matched) */
  fibMatch?: boolean;
}

export interface RouteInfo {
  /** RTN_* name: "unicast", "local", "broadcast", "unreachable", "blackhole", "prohibit", ... */
  type: string;
  ifindex: number;
  ifname: string;
  /** next hop when the route goes via a gateway; null when the destination is on-link */
  gateway: string | null;
  /** the source address the kernel would use */
  prefsrc: string | null;
  /** with fibMatch: the matched prefix (e.g. "198.51.100.0", "2001:db8::") and length; else the destination /32 or /128 */
  dst: string;
  dstLength: number;
  table: number;
  scope: number;
  /**
   * the route's MTU metric (`ip route ... mtu N`), or for a lookup the path MTU the kernel cached for this
   * destination from a frag-needed / packet-too-big (`ip route get` shows it as `mtu`); null for neither
   */
  mtu: number | null;
  /** gateway, prefsrc and dst as numbers (IPv4) or bytes (IPv6, or an IPv6 next hop of an IPv4 route: RTA_VIA) */
  gatewayIp: IpAddress | null;
  prefsrcIp: IpAddress | null;
  dstIp: IpAddress;
}

/** One route (IPv4, or IPv6 from a dump of family 6) from a dump of every table (`ip route show table all`). */
export interface RouteEntry {
  type: string;
  table: number;
  protocol: number;
  scope: number;
  dst: string;
  dstLength: number;
  gateway: string | null;
  prefsrc: string | null;
  /** 0 for routes without a device (unreachable, blackhole, ...) */
  ifindex: number;
  priority: number;
  /** several next hops: the kernel picks one per flow, so no single answer holds for a whole prefix */
  multipath: boolean;
  /** dst as a number (an IPv4 route) or its 16 bytes (an IPv6 route) */
  dstIp: IpAddress;
  /**
   * rtm_flags; for a route with one next hop also that next hop's RTNH_F_* flags: 1 dead, 4 onlink, 16 linkdown
   * (`ip route` prints them after the device)
   */
  flags: number;
  /** the nexthop object the route uses (`ip route ... nhid N`), 0 for none */
  nhid: number;
  /** a multipath route's next hops (`nexthop via ...`), in the kernel's order; empty for any other route */
  nexthops: readonly RouteNextHop[];
}

/** One next hop of a multipath route. */
export interface RouteNextHop {
  /** its gateway (IPv4, or IPv6: also for an IPv4 route via an IPv6 next hop, RTA_VIA), null for a device only */
  gateway: string | null;
  ifindex: number;
  /** RTNH_F_*: 1 dead, 4 onlink, 16 linkdown */
  flags: number;
  /** its weight, as `ip route` prints it (1 and up) */
  weight: number;
}

/**
 * One neighbour entry (`ip neigh`): the kernel's ARP (IPv4) or NDP (IPv6) cache, as a {@link RoutingSnapshot}
 * holds them.
 *
 * @example
 * ```ts
 * import { type NeighbourEntry, readRoutingSnapshot } from "wireprobe";
 *
 * const NUD_PERMANENT = 0x80;
 * const { neighbours } = await readRoutingSnapshot("/run/netns/node1");
 * const pinned: NeighbourEntry[] = neighbours.filter((n) => (n.state & NUD_PERMANENT) !== 0);
 * for (const n of pinned) console.log(`${n.address} lladdr ${n.mac} PERMANENT (ifindex ${n.ifindex})`);
 * ```
 */
export interface NeighbourEntry {
  /** the interface index (ifindex) of the link the entry is on */
  ifindex: number;
  /** the neighbour's address as text (IPv6 in RFC 5952 form) */
  address: string;
  /** `address` as a number (IPv4) or bytes (IPv6) */
  ip: IpAddress;
  /** the link-layer address it holds, null for none (incomplete, failed) */
  mac: string | null;
  /** NUD_*: 0x01 incomplete, 0x02 reachable, 0x04 stale, 0x08 delay, 0x10 probe, 0x20 failed, 0x40 noarp, 0x80 permanent */
  state: number;
  /** NTF_*: 0x08 proxy, 0x80 router, ... */
  flags: number;
}

/** One policy rule of either family (`ip rule`, `ip -6 rule`). */
export interface RuleEntry {
  priority: number;
  table: number;
  /** FR_ACT_*: 1 lookup table, 2 goto, 3 nop, 6 blackhole, 7 unreachable, 8 prohibit */
  action: number;
  dst: string | null;
  dstLength: number;
  src: string | null;
  srcLength: number;
  /** dst and src as numbers, null when absent */
  dstIp: IpAddress | null;
  srcIp: IpAddress | null;
  /** selects on something besides addresses (iif, oif, fwmark, tos, uid, protocol, ports, l3mdev) */
  otherSelectors: boolean;
  invert: boolean;
  /** an l3mdev rule: looks up the table of the packet's VRF device (`table` is then 0) */
  l3mdev: boolean;
}

/** routeGet's options on a handle: `withName: false` skips the extra request that names the interface. */
export type HandleRouteGetOptions = Omit<RouteGetOptions, "netns"> & { withName?: boolean };

/**
 * A NETLINK_ROUTE socket kept open in one namespace: many questions, one setns. Every question has a synchronous
 * form, which blocks the event loop until the kernel has answered (a dump of a large routing table takes tens of
 * milliseconds), and an *Async form that asks on a libuv worker thread and resolves with the same answer, or
 * rejects with the error the synchronous form throws. Malformed arguments throw a TypeError at once either way.
 * The requests of one handle take turns: a synchronous request waits for an asynchronous one under way.
 */
export interface NativeNetlink {
  listLinks(): LinkInfo[];
  listLinksAsync(): Promise<LinkInfo[]>;
  /** as NativeBinding.routeGet */
  routeGet(destination: RouteGetDestination, options?: HandleRouteGetOptions): RouteInfo;
  routeGetAsync(destination: RouteGetDestination, options?: HandleRouteGetOptions): Promise<RouteInfo>;
  /** every route of one family (default 4) in every table */
  listRoutes(family?: 4 | 6): RouteEntry[];
  listRoutesAsync(family?: 4 | 6): Promise<RouteEntry[]>;
  /** one family's (default 4) policy rules */
  listRules(family?: 4 | 6): RuleEntry[];
  listRulesAsync(family?: 4 | 6): Promise<RuleEntry[]>;
  /** one family's (default 4) neighbour entries: the ARP cache, or with 6 the NDP cache */
  listNeighbours(family?: 4 | 6): NeighbourEntry[];
  listNeighboursAsync(family?: 4 | 6): Promise<NeighbourEntry[]>;
  /**
   * Refuses further requests (code "EBADF"); the socket itself closes once no asynchronous request under way
   * still holds it.
   */
  close(): void;
}

/**
 * A route dump as the addon hands it over (binding.ts turns it into RouteEntry[]): for route i, numbers
 * [10i, 10i + 10) are table, protocol, scope, dstLength, ifindex, priority, multipath (1 or 0), dst (its IPv4
 * number), flags and nhid, and `strings` holds five strings per route, each ended by "\n": type, dst, gateway,
 * prefsrc ("" for none) and the next hops of a multipath route ("" for any other route), each
 * "GATEWAY,IFINDEX,FLAGS,WEIGHT" (GATEWAY "" for a device only), separated by spaces.
 */
export interface PackedRoutes {
  family: 4 | 6;
  count: number;
  numbers: Float64Array;
  strings: string;
}

/** The addon's own Netlink class: NativeNetlink with the route dump packed. */
export interface AddonNetlink extends Omit<NativeNetlink, "listRoutes" | "listRoutesAsync"> {
  listRoutesPacked(family?: 4 | 6): PackedRoutes;
  listRoutesPackedAsync(family?: 4 | 6): Promise<PackedRoutes>;
}

/** What the compiled addon exports; binding.ts makes NativeBinding of it. */
export type AddonBinding = Omit<NativeBinding, "Netlink"> & { Netlink: new (netns?: string) => AddonNetlink };

export interface NativeBinding {
  Netlink: new (netns?: string) => NativeNetlink;
  PacketSocket: new (options: PacketSocketOptions) => NativePacketSocket;
  InetSocket: new (options: InetSocketOptions) => NativeInetSocket;
  /** RTM_GETLINK + RTM_GETADDR dump, synchronously */
  listLinks(netns?: string): LinkInfo[];
  /** The same on a libuv worker thread (see NativeNetlink): the event loop runs on meanwhile. */
  listLinksAsync(netns?: string): Promise<LinkInfo[]>;
  /**
   * RTM_GETROUTE for one destination (a RouteGetDestination: an IPv4 /32 or an IPv6 /128). Throws an errno error
   * (code "ENETUNREACH", "EHOSTUNREACH", ..., syscall "RTM_GETROUTE") when the kernel has no route, and a
   * TypeError for a malformed address.
   */
  routeGet(destination: RouteGetDestination, options?: RouteGetOptions): RouteInfo;
  /** The same on a libuv worker thread: rejects where routeGet throws (TypeErrors are thrown at once). */
  routeGetAsync(destination: RouteGetDestination, options?: RouteGetOptions): Promise<RouteInfo>;
  /** CLOCK_MONOTONIC in milliseconds (same scale as the batch timestamps) */
  monotonicMs(): number;
  /**
   * Copies `count` frames of `frameLength` bytes each from `data` and sends them with sendmmsg on a libuv
   * worker thread, so the kernel's work for them (on a veth: the whole path to the peer and back) runs on
   * another CPU. `fd` is a PacketSocket's (its frames need no address). The send holds the socket it was
   * given: it runs on a duplicate of `fd` made now (F_DUPFD_CLOEXEC), so a socket closed meanwhile, and its fd
   * number reused by a new socket, never gets the batch sent through the new one. Closing the PacketSocket
   * stops its sends still under way before their next sendmmsg (of at most 1024 frames): the callback then gets
   * an EBADF error ("socket is closed") whose `sent` says how many went out. A full interface queue is waited
   * out (up to 5 s). The callback gets how many frames went out, when the last went (CLOCK_MONOTONIC ms), the
   * TX id of the first frame (as the return value; NaN without TX timestamps), and an errno error (with `sent`)
   * for any other failure (syscall "fcntl(F_DUPFD_CLOEXEC)" when `fd` could not be duplicated: not open, or out
   * of descriptors).
   *
   * Returns the TX id the batch's first frame gets (see startTxTimestamps), known now, before any timestamp
   * or answer arrives; NaN when the socket has no TX timestamps on.
   */
  sendFramesAsync(
    fd: number,
    data: Buffer,
    frameLength: number,
    count: number,
    callback: (error: NativeError | null, sent: number, doneMs: number, firstTxId: number) => void,
  ): number;
  /**
   * A bare non-blocking, close-on-exec AF_INET (with family 6: AF_INET6) socket created inside `netns` (and
   * bound to `device` with SO_BINDTODEVICE), returned as a file descriptor the caller owns: e.g. TCP wrapped by
   * `new net.Socket({ fd })` and connected from Node, so the connection lives in the namespace.
   */
  openSocketFd(options: SocketFdOptions): number;
}

export interface SocketFdOptions {
  type: "stream" | "dgram" | "raw";
  /** AF_INET (4, the default) or AF_INET6 (6) */
  family?: 4 | 6;
  /** IPPROTO_* (6 TCP, 17 UDP, ...) */
  protocol: number;
  netns?: string;
  /** SO_BINDTODEVICE */
  device?: string;
}

/**
 * Errors thrown by the addon are ordinary Error objects with:
 *   code: "EPERM" | "ENODEV" | ... (errno name), errno: number (positive), syscall: "socket" | "setns" | ...
 *   (netlink failures name the request: "RTM_GETROUTE", "RTM_GETLINK", "RTM_GETADDR").
 * The message reads "<syscall>[ <path>]: <description> (<code>)[: <detail>]", e.g.
 * "socket: Operation not permitted (EPERM)". Use after close() gives code "EBADF" with detail
 * "socket is closed". Malformed arguments throw a TypeError instead.
 */
export interface NativeError extends Error {
  code: string;
  errno: number;
  syscall: string;
  /** the namespace file, when opening or entering it failed */
  path?: string;
  /** send(): how many messages were accepted before the one that failed */
  sent?: number;
}
