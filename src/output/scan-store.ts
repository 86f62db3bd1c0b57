import { ipv4ToInt, isValidIpv4 } from "../addr/address";
import { isValidIpv6, toIpv6Bytes } from "../addr/ipv6";
import {
  outcomeOf,
  outcomeReason,
  outcomeState,
  type PortState,
  tcpNibble,
  tcpOutcomeOfNibble,
  udpNibble,
  udpOutcomeOfNibble,
} from "../port-outcomes";
import type { HostRecord, PortRecord } from "../records";
import { AddressSlots } from "./address-slots";

// Scan results grouped by host for the reports that nmap writes per host (XML, grepable, the human report),
// fed by records only. A host's ports are kept as one 4-bit outcome per port of the scan's port list (TCP
// ports first, then UDP ports, each protocol with its own 4-bit codes, and TCP's per address family: see
// port-outcomes.ts), so a /16 x 1000 ports costs 32 MiB and no object per port; the rest is a few numbers per
// host.

const CHUNK_BYTES = 1 << 20;
const STATES: readonly PortState[] = ["open", "closed", "filtered", "open|filtered"];

/** One host's results, read back for writing. */
export interface StoredHost {
  address: string;
  hostname: string | undefined;
  /** the down reason, null for a scanned host */
  down: string | null;
  /** TTL of the host's own answers (0 when none came) */
  ttl: number;
  /** outcome code per index of the port list (0: no record) */
  outcome(portIndex: number): number;
  /** the same string for hosts with the same outcomes on every port (null when the port list is too long) */
  pattern(): string | null;
}

/** Longest port list (in bytes of outcomes, two ports a byte) that hosts are grouped by pattern for. */
const MAX_PATTERN_BYTES = 1024;
/** Distinct patterns kept: a sweep has a handful; a scan where every host differs stops caching early. */
const MAX_PATTERNS = 4096;

/**
 * A host's text that depends only on its outcomes, made once per pattern: in a sweep most hosts share
 * theirs (one port open, or everything closed), so each is rendered once, not once per host.
 */
export class PatternCache {
  private readonly cache = new Map<string, string>();

  constructor(private readonly render: (host: StoredHost) => string) {}

  get(host: StoredHost): string {
    const key = host.pattern();
    if (key === null) return this.render(host);
    let text = this.cache.get(key);
    if (text === undefined) {
      text = this.render(host);
      if (this.cache.size < MAX_PATTERNS) this.cache.set(key, text);
    }
    return text;
  }
}

/** A state that nmap would collapse into "Not shown: N state ports" (extraports), with its reasons. */
export interface IgnoredState {
  state: PortState;
  count: number;
  /** TCP ports: reason -> ascending port numbers */
  reasons: Map<string, number[]>;
  /** UDP ports: reason -> ascending port numbers */
  udpReasons: Map<string, number[]>;
}

export class ScanStore {
  private readonly portIndex = new Int32Array(65536).fill(-1);
  private readonly udpPortIndex: Int32Array | null;
  /** every port of the scan by index: the TCP ports, then the UDP ports */
  readonly allPorts: Uint16Array;
  /** indexes below this are TCP ports, the rest UDP ports */
  readonly tcpCount: number;
  /** @internal for HostCursor */
  readonly slotBytes: number;
  /** @internal for HostCursor */
  readonly slotsPerChunk: number;
  /** @internal for HostCursor */
  readonly chunks: Uint8Array[] = [];
  private readonly slotOf = new AddressSlots();
  /** IPv6 hosts (a scan has few): their address text (RFC 5952, as records give it) -> slot, and back */
  private readonly slotOf6 = new Map<string, number>();
  /** @internal for HostCursor */
  readonly text6 = new Map<number, string>();
  /** @internal for HostCursor */
  readonly addresses: number[] = [];
  /** @internal for HostCursor */
  readonly ttls: number[] = [];
  private readonly names = new Map<number, string>();
  private readonly downReasons = new Map<number, string>();
  /** hosts that are not addresses (names that did not resolve): reported as down, never as scanned */
  readonly unresolved: Array<{ name: string; reason: string }> = [];

  constructor(
    /** the TCP ports */
    readonly ports: Uint16Array,
    readonly udpPorts: Uint16Array = new Uint16Array(0),
  ) {
    ports.forEach((p, i) => {
      this.portIndex[p] = i;
    });
    this.tcpCount = ports.length;
    this.allPorts = new Uint16Array(ports.length + udpPorts.length);
    this.allPorts.set(ports);
    this.allPorts.set(udpPorts, ports.length);
    this.udpPortIndex = udpPorts.length === 0 ? null : new Int32Array(65536).fill(-1);
    udpPorts.forEach((p, i) => {
      this.udpPortIndex![p] = ports.length + i;
    });
    this.slotBytes = Math.max(1, Math.ceil(this.allPorts.length / 2));
    this.slotsPerChunk = Math.max(1, Math.floor(CHUNK_BYTES / this.slotBytes));
  }

  /** The slot of a record's target: an IPv4 address, or IPv6 text. */
  private slotOfTarget(target: string): number {
    if (!target.includes(":")) return this.slot(ipv4ToInt(target));
    const known = this.slotOf6.get(target);
    if (known !== undefined) return known;
    const s = this.slot(-1);
    this.slotOf6.set(target, s);
    this.text6.set(s, target);
    return s;
  }

  /** A slot for the IPv4 address `ip`, or a new one for an IPv6 host (-1). */
  private slot(ip: number): number {
    let s = ip < 0 ? -1 : this.slotOf.get(ip);
    if (s >= 0) return s;
    s = this.addresses.length;
    if (ip >= 0) this.slotOf.set(ip, s);
    this.addresses.push(ip);
    this.ttls.push(0);
    if (Math.floor(s / this.slotsPerChunk) >= this.chunks.length) {
      this.chunks.push(new Uint8Array(this.slotsPerChunk * this.slotBytes));
    }
    return s;
  }

  add(record: PortRecord | HostRecord): void {
    if (record.type === "host") {
      if (!isValidIpv4(record.target) && !isValidIpv6(record.target)) {
        this.unresolved.push({ name: record.target, reason: record.reason });
        return;
      }
      const s = this.slotOfTarget(record.target);
      this.downReasons.set(s, record.reason);
      if (record.hostname !== undefined) this.names.set(s, record.hostname);
      return;
    }
    const udp = record.protocol === "udp";
    const pi = udp ? (this.udpPortIndex?.[record.port] ?? -1) : this.portIndex[record.port]!;
    const outcome = outcomeOf(record.state, record.reason);
    const code = udp ? udpNibble(outcome) : tcpNibble(outcome, record.target.includes(":"));
    if (pi < 0 || code <= 0 || code > 15) return;
    const s = this.slotOfTarget(record.target);
    if (record.hostname !== undefined) this.names.set(s, record.hostname);
    if (record.ttl !== null && record.reasonIp === undefined) this.ttls[s] = record.ttl;
    const chunk = this.chunks[Math.floor(s / this.slotsPerChunk)]!;
    const at = (s % this.slotsPerChunk) * this.slotBytes + (pi >> 1);
    chunk[at] = pi & 1 ? (chunk[at]! & 0x0f) | (code << 4) : (chunk[at]! & 0xf0) | code;
  }

  /**
   * Hosts in ascending address order. The same object is yielded each time, moved to the next host: read
   * it before advancing (a /16 report must not make 65,536 objects and closures).
   */
  *hosts(): IterableIterator<StoredHost> {
    const order = this.sortedSlots();
    const cursor = new HostCursor(this);
    for (let i = 0; i < order.length; i++) {
      cursor.moveTo(order[i]!);
      yield cursor;
    }
  }

  private order: Uint32Array | null = null;

  /** Slots by ascending address (cached until a new host comes): IPv4 hosts first, then IPv6 ones. */
  private sortedSlots(): Uint32Array {
    const n = this.addresses.length;
    if (this.order !== null && this.order.length === n) return this.order;
    const addresses = this.addresses;
    const v4: number[] = [];
    const v6: number[] = [];
    for (let s = 0; s < n; s++) (addresses[s]! < 0 ? v6 : v4).push(s);
    const order = new Uint32Array(n);
    order.set(sortByNumber(v4, (s) => addresses[s]!));
    order.set(this.sortedIpv6(v6), v4.length);
    this.order = order;
    return order;
  }

  /**
   * IPv6 slots by address. A sweep's hosts share their first 96 bits (a /112 or smaller): then the last 32
   * bits order them as IPv4 numbers are ordered, with no comparator; otherwise a comparator over the parsed words.
   */
  private sortedIpv6(slots: readonly number[]): Uint32Array {
    const words = new Uint32Array(slots.length * 4);
    slots.forEach((slot, i) => {
      const b = toIpv6Bytes(this.text6.get(slot)!);
      for (let w = 0; w < 4; w++)
        words[i * 4 + w] = (b[w * 4]! << 24) | (b[w * 4 + 1]! << 16) | (b[w * 4 + 2]! << 8) | b[w * 4 + 3]!;
    });
    let shared = true;
    for (let i = 1; i < slots.length && shared; i++) {
      shared = words[i * 4] === words[0] && words[i * 4 + 1] === words[1] && words[i * 4 + 2] === words[2];
    }
    if (shared) {
      const byOrdinal = sortByNumber(Array.from(slots.keys()), (i) => words[i * 4 + 3]!);
      return Uint32Array.from(byOrdinal, (i) => slots[i]!);
    }
    const ordinals = Uint32Array.from(slots.keys()).sort((a, b) => {
      for (let w = 0; w < 4; w++) {
        const d = words[a * 4 + w]! - words[b * 4 + w]!;
        if (d !== 0) return d;
      }
      return 0;
    });
    return Uint32Array.from(ordinals, (i) => slots[i]!);
  }

  /** @internal for HostCursor */
  nameOf(slot: number): string | undefined {
    return this.names.size === 0 ? undefined : this.names.get(slot);
  }

  /** @internal for HostCursor */
  downOf(slot: number): string | null {
    return this.downReasons.size === 0 ? null : (this.downReasons.get(slot) ?? null);
  }

  get hostCount(): number {
    return this.addresses.length;
  }

  /** The protocol of the port at index `pi`. */
  protocolOf(pi: number): "tcp" | "udp" {
    return pi < this.tcpCount ? "tcp" : "udp";
  }
}

/**
 * `items` ordered by `key` (an unsigned 32-bit number each, distinct): a dense set (a sweep of a range) is
 * placed by its key with no sort at all; otherwise one numeric sort of key * 2^21 + index (below 2^53) in a
 * typed array, with no comparator calls; a comparator only past 2^21 items.
 */
function sortByNumber(items: readonly number[], key: (item: number) => number): Uint32Array {
  const n = items.length;
  let min = Number.POSITIVE_INFINITY;
  let max = 0;
  const keys = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const k = key(items[i]!);
    keys[i] = k;
    if (k < min) min = k;
    if (k > max) max = k;
  }
  if (n > 0 && max - min < 4 * n + 4096) {
    const at = new Int32Array(max - min + 1).fill(-1);
    for (let i = 0; i < n; i++) at[keys[i]! - min] = i;
    const order = new Uint32Array(n);
    let k = 0;
    for (let j = 0; j < at.length; j++) if (at[j]! >= 0) order[k++] = items[at[j]!]!;
    return order;
  }
  if (n < 1 << 21) {
    for (let i = 0; i < n; i++) keys[i] = keys[i]! * 2097152 + i;
    keys.sort();
    return Uint32Array.from(keys, (k) => items[k % 2097152]!);
  }
  return Uint32Array.from(items).sort((a, b) => key(a) - key(b));
}

/** Port counts per state for one host. */
export function stateCounts(host: StoredHost, portCount: number): Record<PortState, number> {
  const counts: Record<PortState, number> = { open: 0, closed: 0, filtered: 0, "open|filtered": 0 };
  for (let pi = 0; pi < portCount; pi++) {
    const code = host.outcome(pi);
    if (code !== 0) counts[outcomeState(code)]++;
  }
  return counts;
}

/**
 * The states nmap would not list port by port, largest first: any non-open state with more than 25 ports,
 * or, with --open, every non-open state (nmap's PortList::isIgnoredState).
 */
export function ignoredStates(
  host: StoredHost,
  ports: Uint16Array,
  openOnly: boolean,
  /** indexes from here on are UDP ports */
  tcpCount = ports.length,
): IgnoredState[] {
  const counts = stateCounts(host, ports.length);
  const ignored = STATES.filter((s) => s !== "open" && (openOnly ? counts[s] > 0 : counts[s] > 25));
  const out: IgnoredState[] = ignored.map((state) => ({
    state,
    count: counts[state],
    reasons: new Map(),
    udpReasons: new Map(),
  }));
  if (out.length === 0) return out;
  for (let pi = 0; pi < ports.length; pi++) {
    const code = host.outcome(pi);
    if (code === 0) continue;
    const entry = out.find((o) => o.state === outcomeState(code));
    if (!entry) continue;
    const reason = outcomeReason(code);
    const reasons = pi < tcpCount ? entry.reasons : entry.udpReasons;
    const list = reasons.get(reason);
    if (list) list.push(ports[pi]!);
    else reasons.set(reason, [ports[pi]!]);
  }
  return out.sort((a, b) => b.count - a.count);
}

class HostCursor implements StoredHost {
  address = "";
  hostname: string | undefined = undefined;
  down: string | null = null;
  ttl = 0;
  private chunk: Uint8Array = new Uint8Array(0);
  private base = 0;
  /** the host is an IPv6 one: its TCP nibbles are read with IPv6's table */
  private ipv6 = false;
  private readonly tcpCount: number;

  constructor(private readonly store: ScanStore) {
    this.tcpCount = store.tcpCount;
  }

  moveTo(slot: number): void {
    const store = this.store;
    const ip = store.addresses[slot]!;
    this.ipv6 = ip < 0;
    this.address =
      ip < 0 ? store.text6.get(slot)! : `${ip >>> 24}.${(ip >>> 16) & 255}.${(ip >>> 8) & 255}.${ip & 255}`;
    this.hostname = store.nameOf(slot);
    this.down = store.downOf(slot);
    this.ttl = store.ttls[slot]!;
    this.chunk = store.chunks[Math.floor(slot / store.slotsPerChunk)]!;
    this.base = (slot % store.slotsPerChunk) * store.slotBytes;
  }

  outcome(pi: number): number {
    const b = this.chunk[this.base + (pi >> 1)]!;
    const nibble = pi & 1 ? b >> 4 : b & 0x0f;
    return pi < this.tcpCount ? tcpOutcomeOfNibble(nibble, this.ipv6) : udpOutcomeOfNibble(nibble);
  }

  pattern(): string | null {
    const n = this.store.slotBytes;
    if (n > MAX_PATTERN_BYTES) return null;
    const key =
      n === 1
        ? String.fromCharCode(this.chunk[this.base]!)
        : Buffer.from(this.chunk.buffer, this.chunk.byteOffset + this.base, n).toString("latin1");
    // The same bytes mean other TCP outcomes for an IPv6 host: a character no latin1 key holds sets it apart.
    return this.ipv6 && this.tcpCount > 0 ? `\u0100${key}` : key;
  }
}
