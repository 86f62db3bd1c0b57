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
  /** round-trip time of the first reply in milliseconds, null without reply */
  rttMs: number | null;
  /** the sender address used in the requests (null when nothing was sent) */
  source: string | null;
  /** for not-on-link: the gateway the kernel would use instead, null when it has no route at all */
  gateway: string | null;
  /** requests sent to this target */
  sent: number;
}

/** Totals for one command run. */
export interface SummaryRecord {
  type: "summary";
  command: string;
  targets: number;
  /** counts per state (e.g. reply / no-reply / not-on-link for arp) */
  states: Record<string, number>;
  packetsSent: number;
  packetsReceived: number;
  /** answers the kernel dropped before we read them (socket receive buffer overruns) */
  packetsDropped: number;
  durationMs: number;
  /** packets sent per second over the run */
  rate: number;
  /** present and true when the run was cancelled (AbortSignal, Ctrl-C) before it finished */
  aborted?: boolean;
}

export type WireprobeRecord = ArpRecord | SummaryRecord;
