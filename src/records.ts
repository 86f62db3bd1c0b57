// The JSON records: the public contract shared by every command, the library and the output formats.
// One definition each. Fields are only ever added, never renamed or retyped; README.md documents them.

/**
 * One ARP probe outcome per target (`wireprobe arp`, {@link arp}); an NDP one for an IPv6 target.
 *
 * @example
 * ```ts
 * import { type ArpRecord, arp } from "wireprobe";
 *
 * const reply: ArpRecord = {
 *   type: "arp", target: "198.51.100.11", interface: "eth0", state: "reply",
 *   mac: "02:00:00:00:00:11", macs: ["02:00:00:00:00:11"], conflict: false, rttMs: 0.041,
 *   source: "198.51.100.10", gateway: null, sent: 1, protocol: "arp",
 * };
 * for await (const r of arp(["198.51.100.0/24"], { netns: "node1" })) if (r.conflict) console.log(r.target, r.macs);
 * ```
 */
export interface ArpRecord {
  /** always "arp" */
  type: "arp";
  /** the probed address (IPv6 in RFC 5952 form) */
  target: string;
  /** the interface the request went out of, or would have (null when no interface could be chosen) */
  interface: string | null;
  /**
   * reply: the address answered ARP.
   * no-reply: it lies in a prefix directly connected to the interface, but nobody answered.
   * not-on-link: the kernel would not reach it directly from this interface (see `gateway`).
   * local: the address belongs to this host (the kernel answers for it; nothing is sent).
   */
  state: "reply" | "no-reply" | "not-on-link" | "local";
  /** first MAC that answered, null unless state is reply */
  mac: string | null;
  /** every distinct MAC that answered, in order of arrival */
  macs: string[];
  /** true when more than one MAC answered for the address (address conflict) */
  conflict: boolean;
  /** round-trip time of the first reply in milliseconds (kernel send and receive timestamps), null without reply */
  rttMs: number | null;
  /** the sender address used in the requests (null when nothing was sent) */
  source: string | null;
  /** for not-on-link: the gateway the kernel would use instead, null when it has no route at all */
  gateway: string | null;
  /** requests sent to this target */
  sent: number;
  /**
   * the protocol asked: "arp" for an IPv4 target, "ndp" (an IPv6 neighbour solicitation, answered by a
   * neighbour advertisement) for an IPv6 one
   */
  protocol: "arp" | "ndp";
}

/**
 * One DNS question to one server over one transport (`wireprobe dns`, {@link dns}).
 *
 * @example
 * ```ts
 * import { type DnsRecord, dns } from "wireprobe";
 *
 * const answered: DnsRecord = {
 *   type: "dns", server: "198.51.100.53", port: 53, name: "kubernetes.default.svc.cluster.local", qtype: "A",
 *   status: "ok", rcode: "NOERROR", answers: ["10.96.0.1"], transport: "udp", rttMs: 0.312, truncated: false,
 *   flags: ["qr", "aa", "rd", "ra"], attempts: 1, reason: null, from: null, error: null,
 * };
 * for await (const r of dns("db.example.internal", { servers: ["198.51.100.53"] })) {
 *   if (r.type === "dns" && r.status !== "ok") console.log(r.server, r.status, r.reason ?? r.error);
 * }
 * ```
 */
export interface DnsRecord {
  /** always "dns" */
  type: "dns";
  /** the server asked (IPv4) */
  server: string;
  /** its port (53 unless --port) */
  port: number;
  /** the name asked, as sent (PTR for an address: the in-addr.arpa / ip6.arpa name) */
  name: string;
  /** A, AAAA, CNAME, SRV, PTR, MX, TXT, NS or SOA */
  qtype: string;
  /**
   * ok: a DNS answer came back (see `rcode`).
   * refused: nothing listens there (ICMP port unreachable over UDP, connection refused over TCP).
   * unreachable: ICMP host/net unreachable or administratively prohibited (see `reason`, `from`), or this
   * host's routes refuse the server (no route, a blackhole / prohibit / unreachable route, a broadcast address).
   * timeout: nothing came back in time, after every retry.
   * error: only malformed or mismatched answers came back (see `error`).
   */
  status: "ok" | "refused" | "unreachable" | "timeout" | "error";
  /** NOERROR, NXDOMAIN, SERVFAIL, REFUSED, ... when status is ok, else null */
  rcode: string | null;
  /** the answer section as `dig +short` prints it (all records, CNAMEs included), sorted */
  answers: string[];
  /** the transport this record is about: udp, or tcp (--tcp / --both) */
  transport: "udp" | "tcp";
  /**
   * from sending the query that was answered to its answer (over TCP: from the connect, handshake included;
   * after truncation: from the UDP query to the TCP answer), null without answer
   */
  rttMs: number | null;
  /** udp only: the UDP answer was truncated (TC) and the answer comes from the retry over TCP */
  truncated: boolean;
  /** header flags of the answer as dig shows them (qr aa tc rd ra ad cd), empty without answer */
  flags: string[];
  /** queries sent for this record (retries included) */
  attempts: number;
  /**
   * refused/unreachable: what said so: an ICMP code name (port-unreach, host-unreach, net-unreach,
   * admin-prohibited, ...), ttl-exceeded, "connection-refused" (TCP reset), or, with `from` null, this host's
   * route: "no-route" (none), "blackhole", "prohibit", "unreachable" (the route's or rule's type) or
   * "broadcast" (a broadcast address); null otherwise
   */
  reason: string | null;
  /** the address that sent the ICMP error (a router, or this host for a failed neighbour lookup), else null */
  from: string | null;
  /** status error: what was wrong with the answer(s); also set when a TCP retry after truncation failed */
  error: string | null;
}

/**
 * Whether several servers give the same answer for one name and type over one transport (`wireprobe dns`
 * with more than one server). Servers agree when they answered (status ok) with the same rcode and the same
 * answer set; a server that did not answer disagrees with those that did.
 *
 * @example
 * ```ts
 * import { type DnsConsistencyRecord, dns } from "wireprobe";
 *
 * const split: DnsConsistencyRecord = {
 *   type: "dns-consistency", name: "api.example.internal", qtype: "A", transport: "udp", consistent: false,
 *   answers: { "198.51.100.53": ["198.51.100.80"], "198.51.100.54": ["203.0.113.80"] },
 *   rcodes: { "198.51.100.53": "NOERROR", "198.51.100.54": "NOERROR" },
 *   statuses: { "198.51.100.53": "ok", "198.51.100.54": "ok" },
 *   odd: ["198.51.100.54"],
 * };
 * for await (const r of dns("api.example.internal", { servers: ["198.51.100.53", "198.51.100.54"] })) {
 *   if (r.type === "dns-consistency" && !r.consistent) console.log(r.name, "odd:", r.odd, r.answers);
 * }
 * ```
 */
export interface DnsConsistencyRecord {
  /** always "dns-consistency" */
  type: "dns-consistency";
  /** the name asked, as sent */
  name: string;
  /** the record type asked */
  qtype: string;
  /** the transport compared */
  transport: "udp" | "tcp";
  /** every server answered with the same rcode and the same answer set */
  consistent: boolean;
  /** the answers per server (servers with status ok only) */
  answers: Record<string, string[]>;
  /** the rcode per server, null for a server that did not answer */
  rcodes: Record<string, string | null>;
  /** the status per server */
  statuses: Record<string, DnsRecord["status"]>;
  /**
   * the servers outside the largest group of agreeing servers (ties: the group with the server listed
   * first is the reference); empty when consistent
   */
  odd: string[];
}

/**
 * One kind of A/AAAA pair of a `dns-race` record ({@link DnsRaceRecord}): what became of the pairs sent.
 *
 * @example
 * ```ts
 * import { type DnsRacePairs, dnsRace } from "wireprobe";
 *
 * const raced: DnsRacePairs = { sent: 50, answered: 24, lostA: 0, lostAAAA: 26, lostBoth: 0, lossRate: 0.52, badAnswers: 0 };
 * const lost = (k: DnsRacePairs) => k.lostA + k.lostAAAA + k.lostBoth;
 * for await (const r of dnsRace("kubernetes.default.svc.cluster.local", { pairs: 50, servers: ["198.18.0.10"] })) {
 *   console.log(r.server, `same socket ${lost(r.sameSocket)}/${r.sameSocket.sent}`, `separate ${lost(r.separateSockets)}/${r.separateSockets.sent}`);
 * }
 * ```
 */
export interface DnsRacePairs {
  /** pairs whose two queries were handed to the kernel */
  sent: number;
  /** pairs whose A and AAAA queries were both answered */
  answered: number;
  /** pairs whose A query got no answer while its AAAA did */
  lostA: number;
  /** pairs whose AAAA query got no answer while its A did */
  lostAAAA: number;
  /** pairs neither of whose queries got an answer */
  lostBoth: number;
  /** (lostA + lostAAAA + lostBoth) / sent, 0 to 1, to 4 decimals: the share of lookups that would wait glibc's timeout */
  lossRate: number;
  /**
   * datagrams from the server's address and port on the pairs' sockets that answer neither query (another
   * ID, another question, malformed, cut short without TC): ignored, never counted as answers
   */
  badAnswers: number;
}

/**
 * The 5-second DNS race against one server (`wireprobe dns --race N`): N pairs sent as glibc sends a lookup's
 * A and AAAA queries (one socket, so one source port; one sendmmsg, the A first, the AAAA right after) and N
 * pairs sent the same way from two sockets (two source ports), interleaved. Loss only, or significantly more,
 * in the same-socket pairs is the conntrack race of kubernetes/kubernetes#56903: the two packets of one
 * tuple reach conntrack/DNAT together and one is dropped.
 *
 * @example
 * ```ts
 * import { type DnsRaceRecord, dnsRace } from "wireprobe";
 *
 * const raced: DnsRaceRecord = {
 *   type: "dns-race", server: "198.18.0.10", port: 53, name: "kubernetes.default.svc.cluster.local", pairs: 50,
 *   sameSocket: { sent: 50, answered: 24, lostA: 0, lostAAAA: 26, lostBoth: 0, lossRate: 0.52, badAnswers: 0 },
 *   separateSockets: { sent: 50, answered: 50, lostA: 0, lostAAAA: 0, lostBoth: 0, lossRate: 0, badAnswers: 0 },
 *   race: true, pValue: 1.74e-10, timeoutMs: 2000, unsent: 0, error: null,
 * };
 * for await (const r of dnsRace("kubernetes.default.svc.cluster.local", { pairs: 50, netns: "pod" })) {
 *   if (r.race) console.log(`${r.server}: the A/AAAA race (p = ${r.pValue})`);
 * }
 * ```
 */
export interface DnsRaceRecord {
  /** always "dns-race" */
  type: "dns-race";
  /** the server asked (IPv4 or IPv6, e.g. the cluster DNS Service's VIP) */
  server: string;
  /** the server's port the queries went to (53 unless set) */
  port: number;
  /** the name looked up (A and AAAA), as sent */
  name: string;
  /** pairs of each kind asked */
  pairs: number;
  /** the pairs sent as glibc does: both queries from one socket, in one sendmmsg */
  sameSocket: DnsRacePairs;
  /** the control: the same pairs with the A and the AAAA from two sockets (two source ports) */
  separateSockets: DnsRacePairs;
  /**
   * true when the same-socket pairs lose a query significantly more often than the separate-socket pairs
   * (one-sided Fisher exact test on the pairs with a loss, `pValue` < 0.01) and some of their losses are of
   * one query of the two, as the race drops
   */
  race: boolean;
  /**
   * the chance of a split at least this lopsided towards the same-socket pairs if both kinds lost alike (one-
   * sided Fisher exact test, 3 significant digits); 1 without a loss
   */
  pValue: number;
  /** how long each pair waited for its answers, ms: a query unanswered by then is lost */
  timeoutMs: number;
  /** pairs of which no query could be sent (of both kinds) */
  unsent: number;
  /**
   * the first send error: why pairs were not sent, or why the kernel refused a pair's AAAA after its A went
   * (a firewall on this host's own output path; that AAAA counts as lost); null when every query went
   */
  error: string | null;
}

/**
 * ICMP echo to one target (`wireprobe ping`, {@link ping}).
 *
 * @example
 * ```ts
 * import { type PingRecord, ping } from "wireprobe";
 *
 * const unreachable: PingRecord = {
 *   type: "ping", target: "203.0.113.99", state: "unreachable", sent: 3, received: 0, rttMs: null,
 *   errors: 3, duplicates: 0, reason: "host-unreach", from: "198.51.100.1",
 * };
 * for await (const p of ping("198.51.100.0/28")) if (p.rttMs) console.log(p.target, p.rttMs.min, p.rttMs.max);
 * ```
 */
export interface PingRecord {
  /** always "ping" */
  type: "ping";
  /** the address pinged (IPv6 in RFC 5952 form) */
  target: string;
  /**
   * reply: at least one echo reply came back.
   * unreachable: no reply, and an ICMP error (host/net unreachable, prohibited, TTL exceeded) or this host's
   * routes (no route, a blackhole / prohibit / unreachable route, a broadcast address) said why; see `reason`
   * and `from`.
   * no-reply: nothing came back.
   */
  state: "reply" | "no-reply" | "unreachable";
  /** echo requests sent */
  sent: number;
  /** distinct echo replies received (duplicates not counted) */
  received: number;
  /** over the replies received, null without reply */
  rttMs: {
    /** the shortest round trip, ms */
    min: number;
    /** the mean, ms */
    avg: number;
    /** the longest, ms */
    max: number;
  } | null;
  /** ICMP errors received for our requests */
  errors: number;
  /** replies that arrived more than once for the same request */
  duplicates: number;
  /**
   * unreachable: the ICMP code name (host-unreach, net-unreach, admin-prohibited, ...) or ttl-exceeded; or,
   * with `from` null, what this host's route said: no-route, blackhole, prohibit, unreachable (the route's or
   * rule's type: nothing was sent) or broadcast (the kernel pings a broadcast address only with iputils' -b)
   */
  reason: string | null;
  /** unreachable: the address that sent the ICMP error (the router, or this host for a failed ARP), else null */
  from: string | null;
}

/**
 * The path MTU to one target (`wireprobe mtu`): the largest ICMP echo that got through with Don't Fragment, and
 * how the path treats bigger ones. Sizes are whole IP packets (headers included), as `ip link` counts an MTU.
 *
 * @example
 * ```ts
 * import { type MtuRecord, mtu } from "wireprobe";
 *
 * const hole: MtuRecord = {
 *   type: "mtu", target: "198.18.2.40", state: "black-hole", pathMtu: 1350, interfaceMtu: 1500,
 *   interface: "eth0", ceiling: 1500, expectedMtu: null, blackHole: true, boundary: "silent",
 *   reportedMtu: null, reportedBy: null, probesSent: 8, icmpErrors: 0, ignoredErrors: 0, rttMs: 0.109,
 *   kernelMtu: null, reason: null, from: null,
 * };
 * for await (const r of mtu(["198.51.100.11", "198.18.2.40"], { netns: "node1" })) {
 *   if (r.blackHole) console.log(`${r.target}: packets above ${r.pathMtu} bytes vanish`);
 * }
 * ```
 */
export interface MtuRecord {
  /** always "mtu" */
  type: "mtu";
  /** the address probed (IPv6 in RFC 5952 form) */
  target: string;
  /**
   * ok: every size up to `ceiling` (the interface's MTU) gets through.
   * reduced: less gets through than the interface sends, and the path says so with fragmentation-needed /
   * packet-too-big errors (see `reportedMtu`): path MTU discovery works, senders learn the smaller size.
   * black-hole: bigger packets vanish without such an error (`blackHole`): senders never learn, connections
   * that send full-size packets hang (or, with `boundary` "error", another ICMP error is all that comes back).
   * below-expected: the path MTU is below `expectedMtu` (no black hole).
   * no-reply: not even the smallest size was answered; unreachable: an ICMP error, or this host's route
   * (no route, a blackhole / prohibit / unreachable route), said why (`reason`, `from`).
   * local: one of this host's own addresses (not probed).
   * incomplete: the search did not finish (interrupted); `pathMtu` is what had got through by then.
   */
  state:
    | "ok"
    | "reduced"
    | "black-hole"
    | "below-expected"
    | "no-reply"
    | "unreachable"
    | "local"
    | "incomplete";
  /** the largest packet that got through, bytes; null when none did (or not probed) */
  pathMtu: number | null;
  /** the MTU of the interface the route to the target leaves by (or -i's), null when not probed */
  interfaceMtu: number | null;
  /** that interface's name */
  interface: string | null;
  /** the largest size tried: the interface's MTU, or --max below it */
  ceiling: number | null;
  /** the path MTU asked for (--expect-mtu), null without one */
  expectedMtu: number | null;
  /**
   * packets above `pathMtu` (up to `ceiling`) are lost and no fragmentation-needed / packet-too-big error
   * explains it: path MTU discovery cannot work on this path
   */
  blackHole: boolean;
  /**
   * how the smallest size that did not get through (pathMtu + 1) failed: too-big (a router's
   * fragmentation-needed / packet-too-big quoted it, or this host's kernel refused it as larger than the
   * interface), silent (no answer after every attempt), error (another ICMP error: see `reason`, `from`); null
   * when everything up to `ceiling` got through, or nothing did
   */
  boundary: "too-big" | "silent" | "error" | null;
  /** the smallest MTU announced by a believed too-big error (RFC 1191 next-hop MTU / the ICMPv6 MTU field), null when none announced one */
  reportedMtu: number | null;
  /** the router that sent that error (or the first believed too-big error, when none announced an MTU) */
  reportedBy: string | null;
  /** echo requests sent to this target */
  probesSent: number;
  /** too-big errors believed: they quote a probe of ours that did not get through, with a possible MTU */
  icmpErrors: number;
  /**
   * ICMP messages about this target not believed: quoting a packet we did not send (another identifier,
   * sequence, length or payload), announcing an impossible MTU (below 68 / 1280, or not below the size
   * quoted), or contradicted by a reply (the packet got through) or by a bigger packet that got through
   */
  ignoredErrors: number;
  /** the fastest reply's round trip, ms; null without reply */
  rttMs: number | null;
  /**
   * what this host's kernel uses for the target after the probes: its route's MTU (`ip route ... mtu N`) or the
   * path MTU it cached from a frag-needed / packet-too-big (`ip route get` shows both as `mtu`); null for
   * neither. Every too-big error updates that cache (ours, ping's and tracepath's alike), so it can differ from
   * `pathMtu`: a forged or wrong error leaves its MTU there, or 552 for a too-small one. The probes never read it.
   */
  kernelMtu: number | null;
  /** unreachable: the ICMP code name or route type; boundary "error": that error's name; else null */
  reason: string | null;
  /** the address that sent that error, null when it was this host's route or nothing */
  from: string | null;
}

/**
 * One TCP or UDP port of one target (`wireprobe scan`, {@link scan}), classified as nmap classifies it.
 *
 * @example
 * ```ts
 * import { type PortRecord, scan } from "wireprobe";
 *
 * const filtered: PortRecord = {
 *   type: "port", target: "203.0.113.200", port: 22, protocol: "tcp", state: "filtered",
 *   reason: "host-unreach", ttl: 64, rttMs: 0.249, reasonIp: "198.51.100.1",
 * };
 * for await (const r of scan("198.51.100.0/24", { ports: [22, 80] })) {
 *   if (r.type === "port" && r.state === "open") console.log(`${r.target}:${r.port}/${r.protocol} ${r.reason}`);
 * }
 * ```
 */
export interface PortRecord {
  /** always "port" */
  type: "port";
  /** the IPv4 address scanned */
  target: string;
  /** the name the target was given as, when it was a hostname (resolved once, in the caller's namespace) */
  hostname?: string;
  /** the port scanned */
  port: number;
  /** tcp, or udp for a UDP scan (-sU) */
  protocol: "tcp" | "udp";
  /**
   * open: the port answered the SYN with SYN-ACK (connect scan: the connection was accepted); UDP: a datagram
   * came back from it (udp-response).
   * closed: it answered with RST (connect scan: connection refused); UDP: the target sent ICMP port
   * unreachable (port-unreach).
   * filtered: no answer after every retry, or an ICMP error said the probe was blocked or undeliverable (UDP:
   * any ICMP unreachable other than the target's port unreachable).
   * open|filtered: UDP only: nothing came back after every retry (no-response): an open port that ignores
   * the probe and a firewall that drops it look the same.
   */
  state: "open" | "closed" | "filtered" | "open|filtered";
  /**
   * nmap's reason names: syn-ack, split-handshake-syn, reset, no-response, and for ICMP errors net-unreach,
   * host-unreach, proto-unreach, port-unreach, net-prohibited, host-prohibited, admin-prohibited,
   * time-exceeded; the connect scan says conn-refused for closed and perm-denied when the local host refuses;
   * UDP: udp-response (open), port-unreach (closed), no-response (open|filtered) and the ICMP names (filtered);
   * over IPv6 (SYN and UDP) also no-route, beyond-scope, reject-route and param-problem (filtered; open for a
   * SYN scan's parameter problem "erroneous header field"), as nmap -6 names them, and never net-prohibited,
   * host-prohibited, proto-unreach or time-exceeded.
   */
  reason: string;
  /** IPv4 TTL of the answer, null without one (and in a connect scan) */
  ttl: number | null;
  /**
   * from sending the probe to the answer (kernel send and receive timestamps; -sT: from the connect), ms; null
   * without an answer
   */
  rttMs: number | null;
  /** the address the ICMP error came from, when it was not the target itself (a router or firewall) */
  reasonIp?: string;
}

/**
 * A target that got no port records, and why (`wireprobe scan`, {@link scan}).
 *
 * @example
 * ```ts
 * import { type HostRecord, scan } from "wireprobe";
 *
 * const down: HostRecord = { type: "host", target: "198.51.100.99", state: "down", reason: "no-arp-reply" };
 * for await (const r of scan("198.51.100.0/24", { ports: [22] })) if (r.type === "host") console.log(r.target, r.reason);
 * ```
 */
export interface HostRecord {
  /** always "host" */
  type: "host";
  /** the address (IPv6 in RFC 5952 form), or the name when it could not be resolved */
  target: string;
  /** the name the target was given as, when it was a hostname */
  hostname?: string;
  /** always "down": the host got no probe through */
  state: "down";
  /**
   * no-arp-reply: its next hop (the target itself on-link, else the gateway) did not answer ARP.
   * no-ndp-reply: the same for an IPv6 target: its next hop did not answer NDP neighbour solicitation.
   * no-route: the kernel has no route to it. blackhole / prohibit / unreachable / broadcast / multicast: the
   * route (or policy rule) to it is of that type, so no probe can reach it. unresolved: the hostname did not resolve to an IPv4 address.
   */
  reason: string;
}

/**
 * What a scan yields: a port record per target and port, or a host record for a target that got none.
 *
 * @example
 * ```ts
 * import { type ScanRecord, scan } from "wireprobe";
 *
 * const byTarget = new Map<string, ScanRecord[]>();
 * for await (const r of scan("198.51.100.0/28", { ports: [22, 443] })) {
 *   byTarget.set(r.target, [...(byTarget.get(r.target) ?? []), r]);
 * }
 * ```
 */
export type ScanRecord = PortRecord | HostRecord;

/**
 * One next hop of one route with a gateway in the node's routing tables, and whether that gateway answers ARP
 * (an IPv4 gateway) or NDP (an IPv6 one) on the route's own interface (`wireprobe routes`, `check --routes`). A
 * multipath route gives a record per next hop. Every distinct gateway of an interface is asked once, however
 * many routes go through it.
 *
 * @example
 * ```ts
 * import { type RouteRecord, routes } from "wireprobe";
 *
 * const gone: RouteRecord = {
 *   type: "route", family: "ipv4", table: 254, tableName: "main", destination: "198.18.4.0/24",
 *   gateway: "198.51.100.14", interface: "eth0", onlink: false, flags: [], multipath: false, weight: null,
 *   metric: 0, proto: "boot", state: "no-reply", reason: "no ARP reply on eth0", macs: [], rttMs: null,
 *   probe: "arp", sent: 2, neighbour: { mac: null, state: "failed" }, staleNeighbour: false,
 * };
 * for await (const r of routes({ netns: "node1" })) if (r.state !== "ok") console.log(r.destination, r.gateway, r.state, r.reason);
 * ```
 */
export interface RouteRecord {
  /** always "route" */
  type: "route";
  /** the route's family (its destination's): an IPv4 route may go via an IPv6 gateway (`via inet6`) */
  family: "ipv4" | "ipv6";
  /** the routing table's number (254 main, 255 local, 253 default) */
  table: number;
  /** the table's name as `ip route` prints it: main, local, default, a name from rt_tables, or the number */
  tableName: string;
  /** the destination prefix ("198.18.3.0/24"; "0.0.0.0/0" or "::/0" for a default route) */
  destination: string;
  /** the next hop's address */
  gateway: string;
  /** the next hop's interface (null when the route names none) */
  interface: string | null;
  /** the route says `onlink`: the kernel takes the gateway as on-link on the interface, whatever its subnets */
  onlink: boolean;
  /** the next hop's flags as `ip route` prints them: onlink, linkdown, dead, ... */
  flags: string[];
  /** one next hop of a multipath route (`nexthop via ...`) */
  multipath: boolean;
  /** a multipath next hop's weight, null otherwise */
  weight: number | null;
  /** the route's metric (IPv6 routes: 1024 unless set) */
  metric: number;
  /** who installed the route (`proto`): kernel, boot, static, dhcp, bird, ..., or the number */
  proto: string;
  /**
   * ok: the gateway answered from one MAC.
   * no-reply: nobody answered on the route's interface (or the interface is down, or the gateway is one of this
   * host's own addresses: see `reason`).
   * not-on-link: the gateway lies in none of the interface's on-link prefixes and the route is not `onlink`
   * (the route outlived the address that made it valid: the kernel refuses such a route when it is added).
   * conflict: more than one MAC answered for the gateway.
   * not-probed: the gateway could not be asked: its interface has no ARP/NDP (a tunnel, a point-to-point link),
   * or the run was interrupted first (see `reason`).
   */
  state: "ok" | "no-reply" | "not-on-link" | "conflict" | "not-probed";
  /** what the state means here, in words; null for ok */
  reason: string | null;
  /** every distinct MAC that answered, in order of arrival */
  macs: string[];
  /** round trip of the first answer, ms; null without one */
  rttMs: number | null;
  /** how the gateway was asked: "arp" (an IPv4 gateway) or "ndp" (an IPv6 one) */
  probe: "arp" | "ndp";
  /** requests sent to the gateway (shared by every route through it) */
  sent: number;
  /**
   * the kernel's neighbour entry for the gateway on that interface (`ip neigh`): its MAC (null when it has none)
   * and state (reachable, stale, delay, probe, incomplete, failed, noarp, permanent); null when there is none
   */
  neighbour: {
    /** the MAC the entry holds, null when it has none (incomplete, failed) */
    mac: string | null;
    /** its NUD state(s) as `ip neigh` prints them, comma-separated: "reachable", "stale", "permanent", ... */
    state: string;
  } | null;
  /**
   * the gateway answered, but the kernel's neighbour entry holds another MAC: traffic goes to a MAC nobody
   * answers from until the entry is learned again (never, when it is permanent)
   */
  staleNeighbour: boolean;
}

/**
 * Totals for one command run: the last record of every command, and a run's `summary` in the library.
 *
 * @example
 * ```ts
 * import { type SummaryRecord, arp } from "wireprobe";
 *
 * const run = arp("198.51.100.0/24", { netns: "node1" });
 * for await (const _ of run) {
 *   // records
 * }
 * const s: SummaryRecord = run.summary!;
 * console.log(`${s.command}: ${s.targets} targets, ${s.packetsSent} sent, ${s.packetsReceived} received in ${s.durationMs} ms`);
 * console.log(s.states, s.aborted === true ? "interrupted" : "complete");
 * ```
 */
export interface SummaryRecord {
  /** always "summary" */
  type: "summary";
  /** the command or probe: arp, scan, dns, ping, check */
  command: string;
  /** targets probed (check: nodes, a dual-stack node once) */
  targets: number;
  /** counts per state (e.g. reply / no-reply / not-on-link for arp; check: ok / failed / incomplete verdicts) */
  states: Record<string, number>;
  /** probes sent */
  packetsSent: number;
  /** matching answers received */
  packetsReceived: number;
  /** answers the kernel dropped before we read them (socket receive buffer overruns) */
  packetsDropped: number;
  /** wall time of the run, ms */
  durationMs: number;
  /** packets sent per second over the run */
  rate: number;
  /**
   * present and true when the run was cancelled (AbortSignal, Ctrl-C) before it finished; for check also
   * when one of its probes was (see the verdicts' `complete`)
   */
  aborted?: boolean;
  /**
   * scan: "syn" (raw SYN probes) or "connect" (TCP connect scan, without raw-socket privilege or with -sT): the
   * TCP method; "udp" for a scan of UDP ports only (-sU; with -sS or -sT as well, the TCP method is named)
   */
  method?: "syn" | "connect" | "udp";
  /** scan: ports per target */
  ports?: number;
  /** scan: target x port pairs probed (down targets excluded) */
  probes?: number;
  /** scan: targets reported down (host records) */
  hostsDown?: number;
  /** scan: probes sent again because the first attempt got no answer */
  retransmissions?: number;
  /** scan: packets that passed the kernel filter but matched no probe (bad cookie, repeated answer, late) */
  packetsIgnored?: number;
  /**
   * scan: how the probes were paced. adaptive (the default): a congestion window, as nmap's, grown by answers
   * and cut on loss, with at least 1,000 probes/s while nothing answers; ceiling: the same under `--rate`;
   * unlimited (`--rate 0`): as fast as the interfaces take them. `rate` says what came of it.
   */
  pacing?: "adaptive" | "ceiling" | "unlimited";
  /**
   * scan with `--shard I/N`: which share of the split scan this run probed ("1/4"); `probes` and the counts
   * are this share's, `targets` the whole scan's
   */
  shard?: string;
  /** scan, adaptive pacing: the largest congestion window reached, probes in flight */
  peakWindow?: number;
  /** scan with -sU: UDP ports per target (included in `ports`) */
  udpPorts?: number;
  /**
   * scan with -sU: open|filtered ports of targets that sent ICMP port unreachables for other ports. Kernels
   * rate-limit those (Linux: a burst, then one a second), so such a port may be closed, its port unreachable
   * suppressed on every attempt; or a firewall drops it. 0: every open|filtered port is of a host that sent
   * no port unreachable at all. Rescan those ports (more --retries, fewer ports at once) to tell.
   */
  mayBeRateLimited?: number;
}

/**
 * One finding behind a verdict: what was looked at, and what was seen.
 *
 * @example
 * ```ts
 * import type { VerdictEvidence, VerdictRecord } from "wireprobe";
 *
 * declare const verdict: VerdictRecord;
 * const ipv6: VerdictEvidence[] = verdict.evidence.filter((e) => e.family === "ipv6");
 * for (const e of ipv6) console.log(`${e.node ?? e.subject}: ${e.finding}`);
 * ```
 */
export interface VerdictEvidence {
  /** the node, server or address the finding is about */
  subject: string;
  /** what was seen, in words (e.g. "not-on-link: routed via 198.51.100.1") */
  finding: string;
  /** the address family of the subject's address ("ipv4" or "ipv6") */
  family?: "ipv4" | "ipv6";
  /** the node's name, when the node was given one (`--nodes NAME=ADDR`) */
  node?: string;
}

/**
 * A verdict drawn over one address family: its records only (host-gw and nodeport by node address, dns by
 * server).
 *
 * @example
 * ```ts
 * import { type VerdictFamily, check } from "wireprobe";
 *
 * for await (const r of check({ nodes: ["node1=198.51.100.11,2001:db8::11", "node2=198.51.100.12,2001:db8::12"] })) {
 *   if (r.type !== "verdict") continue;
 *   const failing: VerdictFamily[] = (r.families ?? []).filter((f) => !f.ok);
 *   for (const f of failing) console.log(r.check, f.family, f.detail);
 * }
 * ```
 */
export interface VerdictFamily {
  /** the family */
  family: "ipv4" | "ipv6";
  /** this family passed */
  ok: boolean;
  /** this family's verdict rests on all its work (see VerdictRecord.complete) */
  complete: boolean;
  /** what was found over this family */
  detail: string;
}

/**
 * One conclusion of `wireprobe check` ({@link check}), with its evidence and the fix. The verdict functions
 * ({@link hostGwVerdict}, {@link nodePortVerdict}, {@link dnsVerdict}) make them from records too.
 *
 * @example
 * ```ts
 * import { type VerdictRecord, check } from "wireprobe";
 *
 * const verdicts: VerdictRecord[] = [];
 * for await (const r of check({ nodes: ["198.51.100.11-14"], nodePorts: [30000], netns: "node1" })) {
 *   if (r.type === "verdict") verdicts.push(r);
 * }
 * for (const v of verdicts) {
 *   if (v.ok) console.log(`${v.check}: ok`);
 *   else if (!v.complete) console.log(`${v.check}: incomplete, not probed: ${v.notProbed.join(", ")}`);
 *   else console.log(`${v.check}: ${v.detail}\n  fix: ${v.fix}`);
 * }
 * ```
 */
export interface VerdictRecord {
  /** always "verdict" */
  type: "verdict";
  /** host-gw: every peer node on-link and answering ARP (NDP over IPv6); nodeport: every nodePort open on every
   *  node; dns: every DNS server answers every name, and all servers agree (with `check --dns-race N`: and no
   *  server loses a query of glibc's A/AAAA pairs, see `dns-race`); routes (`check --routes`): every
   *  gateway of the node's routes is on-link and answers from one MAC; mtu (`check --mtu`,
   *  `--expect-mtu`): every node's path carries the expected MTU, without a black hole */
  check: "host-gw" | "nodeport" | "dns" | "routes" | "mtu";
  /** the check passed (never true for an incomplete verdict) */
  ok: boolean;
  /** what was found and what it means, in one paragraph */
  detail: string;
  /** the findings that made the verdict (for ok verdicts: what was checked) */
  evidence: VerdictEvidence[];
  /** what to do about it, null when ok */
  fix: string | null;
  /**
   * false when the verdict rests on part of the work only: the probe behind it was interrupted (its summary
   * says `aborted`), or some expected node, port or server got no record. An incomplete verdict is never ok
   * (`ok` is false) and is not a failure either: it is not final.
   */
  complete: boolean;
  /**
   * what was expected but got no record, empty when complete (or when only the wait was cut short), written as
   * the evidence subjects are: host-gw a node; nodeport a node when none of its nodePorts was probed, else
   * `node:port` (an IPv6 node `[address]:port`, a UDP nodePort `node:port/udp`); dns a server when none of
   * its names was asked, else `server name`, an `--external` address that was not pinged, and with --dns-race
   * `server race` for a server whose race got no record; routes a route whose gateway was not asked before the
   * interruption, as `ip route` writes it (`DEST via GW dev IF`)
   */
  notProbed: string[];
  /**
   * the verdict per address family the check covered (IPv4 first), from that family's records: host-gw and
   * nodeport by node address, dns by server address. `ok` is true only when every family's is, so a
   * dual-stack node passes only when both of its addresses do. Written by every check of this version (absent
   * in records saved before it); empty when there was nothing to judge (no node, no server).
   */
  families?: VerdictFamily[];
}

/**
 * Any record a command writes (one NDJSON line of `--json` output) or the library yields; `type` tells which.
 *
 * @example
 * ```ts
 * import { readFileSync } from "node:fs";
 * import type { WireprobeRecord } from "wireprobe";
 *
 * // the output of `wireprobe scan --json ... > scan.ndjson`
 * for (const line of readFileSync("scan.ndjson", "utf8").split("\n")) {
 *   if (line === "") continue;
 *   const r = JSON.parse(line) as WireprobeRecord;
 *   if (r.type === "port" && r.state === "open") console.log(r.target, r.port);
 *   if (r.type === "summary") console.log(`${r.command} took ${r.durationMs} ms`);
 * }
 * ```
 */
export type WireprobeRecord =
  | ArpRecord
  | DnsRecord
  | DnsConsistencyRecord
  | DnsRaceRecord
  | PingRecord
  | MtuRecord
  | PortRecord
  | HostRecord
  | RouteRecord
  | SummaryRecord
  | VerdictRecord;
