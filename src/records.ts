// The JSON records: the public contract shared by every command, the library and the output formats.
// One definition each. Fields are only ever added, never renamed or retyped; README.md documents them.

/** One ARP probe outcome per target (`wireprobe arp`). */
export interface ArpRecord {
  type: "arp";
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

/** One DNS question to one server over one transport (`wireprobe dns`). */
export interface DnsRecord {
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
 */
export interface DnsConsistencyRecord {
  type: "dns-consistency";
  name: string;
  qtype: string;
  transport: "udp" | "tcp";
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

/** One kind of A/AAAA pair of a `dns-race` record: what became of the pairs sent. */
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
 */
export interface DnsRaceRecord {
  type: "dns-race";
  /** the server asked (IPv4 or IPv6, e.g. the cluster DNS Service's VIP) */
  server: string;
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

/** ICMP echo to one target (`wireprobe ping`). */
export interface PingRecord {
  type: "ping";
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
  rttMs: { min: number; avg: number; max: number } | null;
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

/** One TCP or UDP port of one target (`wireprobe scan`), classified as nmap classifies it. */
export interface PortRecord {
  type: "port";
  /** the IPv4 address scanned */
  target: string;
  /** the name the target was given as, when it was a hostname (resolved once, in the caller's namespace) */
  hostname?: string;
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

/** A target that got no port records, and why (`wireprobe scan`). */
export interface HostRecord {
  type: "host";
  /** the address (IPv6 in RFC 5952 form), or the name when it could not be resolved */
  target: string;
  hostname?: string;
  state: "down";
  /**
   * no-arp-reply: its next hop (the target itself on-link, else the gateway) did not answer ARP.
   * no-ndp-reply: the same for an IPv6 target: its next hop did not answer NDP neighbour solicitation.
   * no-route: the kernel has no route to it. blackhole / prohibit / unreachable / broadcast / multicast: the
   * route (or policy rule) to it is of that type, so no probe can reach it. unresolved: the hostname did not resolve to an IPv4 address.
   */
  reason: string;
}

/** What a scan yields: a port record per target and port, or a host record for a target that got none. */
export type ScanRecord = PortRecord | HostRecord;

/** Totals for one command run. */
export interface SummaryRecord {
  type: "summary";
  command: string;
  targets: number;
  /** counts per state (e.g. reply / no-reply / not-on-link for arp; check: ok / failed / incomplete verdicts) */
  states: Record<string, number>;
  packetsSent: number;
  packetsReceived: number;
  /** answers the kernel dropped before we read them (socket receive buffer overruns) */
  packetsDropped: number;
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

/** One finding behind a verdict: what was looked at, and what was seen. */
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

/** A verdict drawn over one address family: its records only (host-gw and nodeport by node address, dns by server). */
export interface VerdictFamily {
  family: "ipv4" | "ipv6";
  ok: boolean;
  complete: boolean;
  /** what was found over this family */
  detail: string;
}

/** One conclusion of `wireprobe check`, with its evidence and the fix. */
export interface VerdictRecord {
  type: "verdict";
  /** host-gw: every peer node on-link and answering ARP (NDP over IPv6); nodeport: every nodePort open on every
   *  node; dns: every DNS server answers every name, and all servers agree (with `check --dns-race N`: and no
   *  server loses a query of glibc's A/AAAA pairs, see `dns-race`) */
  check: "host-gw" | "nodeport" | "dns";
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
   * `server race` for a server whose race got no record
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

export type WireprobeRecord =
  | ArpRecord
  | DnsRecord
  | DnsConsistencyRecord
  | DnsRaceRecord
  | PingRecord
  | PortRecord
  | HostRecord
  | SummaryRecord
  | VerdictRecord;
