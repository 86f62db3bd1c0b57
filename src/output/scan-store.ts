import { ipv4ToInt, isValidIpv4 } from "../addr/address";
import { outcomeOf, outcomeReason, outcomeState, type PortState } from "../port-outcomes";
import type { HostRecord, PortRecord } from "../records";

// Scan results grouped by host for the reports that nmap writes per host (XML, grepable, the human report),
// fed by records only. A host's ports are kept as one 4-bit outcome per port of the scan's port list, so a
// /16 x 1000 ports costs 32 MiB and no object per port; the rest is a few numbers per host.

const CHUNK_BYTES = 1 << 20;
const STATES: readonly PortState[] = ["open", "closed", "filtered"];

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
}

/** A state that nmap would collapse into "Not shown: N state ports" (extraports), with its reasons. */
export interface IgnoredState {
  state: PortState;
  count: number;
  /** reason -> ascending port numbers */
  reasons: Map<string, number[]>;
}

export class ScanStore {
  private readonly portIndex = new Int32Array(65536).fill(-1);
  private readonly slotBytes: number;
  private readonly slotsPerChunk: number;
  private readonly chunks: Uint8Array[] = [];
  private readonly slotOf = new Map<number, number>();
  private readonly addresses: number[] = [];
  private readonly ttls: number[] = [];
  private readonly names = new Map<number, string>();
  private readonly downReasons = new Map<number, string>();
  /** hosts that are not addresses (names that did not resolve): reported as down, never as scanned */
  readonly unresolved: Array<{ name: string; reason: string }> = [];

  constructor(readonly ports: Uint16Array) {
    ports.forEach((p, i) => {
      this.portIndex[p] = i;
    });
    this.slotBytes = Math.max(1, Math.ceil(ports.length / 2));
    this.slotsPerChunk = Math.max(1, Math.floor(CHUNK_BYTES / this.slotBytes));
  }

  private slot(ip: number): number {
    let s = this.slotOf.get(ip);
    if (s !== undefined) return s;
    s = this.addresses.length;
    this.slotOf.set(ip, s);
    this.addresses.push(ip);
    this.ttls.push(0);
    if (Math.floor(s / this.slotsPerChunk) >= this.chunks.length) {
      this.chunks.push(new Uint8Array(this.slotsPerChunk * this.slotBytes));
    }
    return s;
  }

  add(record: PortRecord | HostRecord): void {
    if (record.type === "host") {
      if (!isValidIpv4(record.target)) {
        this.unresolved.push({ name: record.target, reason: record.reason });
        return;
      }
      const s = this.slot(ipv4ToInt(record.target));
      this.downReasons.set(s, record.reason);
      if (record.hostname !== undefined) this.names.set(s, record.hostname);
      return;
    }
    const pi = this.portIndex[record.port]!;
    const code = outcomeOf(record.state, record.reason);
    if (pi < 0 || code === 0) return;
    const s = this.slot(ipv4ToInt(record.target));
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

  /** Slots by ascending address (cached until a new host comes). */
  private sortedSlots(): Uint32Array {
    const n = this.addresses.length;
    if (this.order !== null && this.order.length === n) return this.order;
    // address * 2^21 + slot stays below 2^53: one numeric sort of a typed array, no comparator calls
    if (n < 1 << 21) {
      const keys = new Float64Array(n);
      for (let s = 0; s < n; s++) keys[s] = this.addresses[s]! * 2097152 + s;
      keys.sort();
      this.order = Uint32Array.from(keys, (k) => k % 2097152);
    } else {
      this.order = Uint32Array.from(this.addresses.keys()).sort(
        (a, b) => this.addresses[a]! - this.addresses[b]!,
      );
    }
    return this.order;
  }

  /** @internal for HostCursor */
  view(slot: number): { chunk: Uint8Array; base: number; ip: number; ttl: number } {
    return {
      chunk: this.chunks[Math.floor(slot / this.slotsPerChunk)]!,
      base: (slot % this.slotsPerChunk) * this.slotBytes,
      ip: this.addresses[slot]!,
      ttl: this.ttls[slot]!,
    };
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
}

/** Port counts per state for one host. */
export function stateCounts(host: StoredHost, portCount: number): Record<PortState, number> {
  const counts: Record<PortState, number> = { open: 0, closed: 0, filtered: 0 };
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
export function ignoredStates(host: StoredHost, ports: Uint16Array, openOnly: boolean): IgnoredState[] {
  const counts = stateCounts(host, ports.length);
  const ignored = STATES.filter((s) => s !== "open" && (openOnly ? counts[s] > 0 : counts[s] > 25));
  const out: IgnoredState[] = ignored.map((state) => ({ state, count: counts[state], reasons: new Map() }));
  if (out.length === 0) return out;
  for (let pi = 0; pi < ports.length; pi++) {
    const code = host.outcome(pi);
    if (code === 0) continue;
    const entry = out.find((o) => o.state === outcomeState(code));
    if (!entry) continue;
    const reason = outcomeReason(code);
    const list = entry.reasons.get(reason);
    if (list) list.push(ports[pi]!);
    else entry.reasons.set(reason, [ports[pi]!]);
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

  constructor(private readonly store: ScanStore) {}

  moveTo(slot: number): void {
    const v = this.store.view(slot);
    const ip = v.ip;
    this.address = `${ip >>> 24}.${(ip >>> 16) & 255}.${(ip >>> 8) & 255}.${ip & 255}`;
    this.hostname = this.store.nameOf(slot);
    this.down = this.store.downOf(slot);
    this.ttl = v.ttl;
    this.chunk = v.chunk;
    this.base = v.base;
  }

  outcome(pi: number): number {
    const b = this.chunk[this.base + (pi >> 1)]!;
    return pi & 1 ? b >> 4 : b & 0x0f;
  }
}
