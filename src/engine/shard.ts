import { UsageError } from "../errors";
import type { ProbeOrder } from "./order";

// One shard of a scan split over several processes or machines, zmap's way (src/shard.c): every shard walks
// the same keyed permutation (the same seed) and takes one contiguous block of its positions. The blocks are
// disjoint and cover every position, so the shares are disjoint and their union is the whole scan; and
// since consecutive positions are random slots, each share is still spread over the whole target range and
// every port (no shard hits one subnet while the others idle, which a split of the target list would do).

/**
 * One shard of a split scan ({@link ScanOptions}.shard): share `index` of `count` (0 <= index < count), as
 * `--shard index/count` says it.
 *
 * @example
 * ```ts
 * import { type Shard, scan } from "wireprobe";
 *
 * // this process probes the second quarter; three others, with the same seed, probe the rest
 * const shard: Shard = { index: 1, count: 4 };
 * const run = scan("198.18.0.0/16", { ports: [443], seed: 42, shard });
 * for await (const r of run) if (r.type === "port" && r.state === "open") console.log(r.target);
 * console.log(run.summary?.shard, run.summary?.probes); // "1/4" 16384
 * ```
 */
export interface Shard {
  /** which share, 0 to count - 1 */
  readonly index: number;
  /** how many shares the scan is split into, 1 to 65535 */
  readonly count: number;
}

/** The most shards a scan may be split into (zmap's limit too: a 16-bit count). */
export const MAX_SHARDS = 65535;

/** Refuses a shard that is not one of 0..count-1 of 1..MAX_SHARDS (one-line UsageError). */
export function checkShard(shard: Shard): void {
  const { index, count } = shard;
  if (!Number.isInteger(count) || count < 1 || count > MAX_SHARDS)
    throw new UsageError(`the shard count must be a whole number from 1 to ${MAX_SHARDS}, not ${count}`);
  if (!Number.isInteger(index) || index < 0 || index >= count)
    throw new UsageError(`the shard index must be a whole number from 0 to ${count - 1}, not ${index}`);
}

/** "I/N" (as `--shard` takes it) -> the shard; a UsageError names what is wrong. */
export function parseShard(text: string): Shard {
  const m = /^(\d{1,6})\/(\d{1,6})$/.exec(text.trim());
  if (!m) throw new UsageError(`--shard takes I/N (shard I of N, I from 0 to N-1), not "${text}"`);
  const shard = { index: Number(m[1]), count: Number(m[2]) };
  checkShard(shard);
  return shard;
}

/** "I/N", as the summary and the nmap outputs say it. */
export function formatShard(shard: Shard): string {
  return `${shard.index}/${shard.count}`;
}

/**
 * The positions [from, to) of a domain that are shard `index`'s: block i of count nearly equal blocks
 * (sizes differ by one at most). Block ends are floor(domain * i / count): exact in doubles, as domain <= 2^32
 * and count < 2^16.
 */
export function shardBounds(domain: number, shard: Shard): { from: number; to: number } {
  return {
    from: Math.floor((domain * shard.index) / shard.count),
    to: Math.floor((domain * (shard.index + 1)) / shard.count),
  };
}

/**
 * One shard's part of an order: positions 0..domain-1 are the inner order's from..to-1. A slot of another
 * shard has position -1 (the engine never sends it, and settles it as not its own).
 */
export class ShardOrder implements ProbeOrder {
  readonly domain: number;
  readonly from: number;
  readonly to: number;

  constructor(
    readonly inner: ProbeOrder,
    readonly shard: Shard,
  ) {
    const { from, to } = shardBounds(inner.domain, shard);
    this.from = from;
    this.to = to;
    this.domain = to - from;
  }

  at(position: number): number {
    return this.inner.at(this.from + position);
  }

  positionOf(slot: number): number {
    const p = this.inner.positionOf(slot);
    return p >= this.from && p < this.to ? p - this.from : -1;
  }

  /** whether the slot is this shard's */
  owns(slot: number): boolean {
    const p = this.inner.positionOf(slot);
    return p >= this.from && p < this.to;
  }

  /**
   * Per target, how many of its slots (target * items + item) are this shard's: one walk over the share's
   * positions, so a shard pays for its own part only.
   */
  ownedPerTarget(targets: number, items: number): Uint32Array {
    const owned = new Uint32Array(targets);
    for (let p = 0; p < this.domain; p++) {
      const slot = this.at(p);
      if (slot >= 0) owned[Math.floor(slot / items)]!++;
    }
    return owned;
  }
}
