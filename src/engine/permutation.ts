import { randomBytes } from "./random";

// A random order over the probe indexes 0..size-1, computed, never listed: position i of the order is a keyed
// bijection of i on the smallest power-of-two domain 2^k >= size (rounds of multiply-by-odd, add-key and
// xor-shift, each invertible modulo 2^k), and values >= size are skipped (cycle walking in the manner of
// masscan's BlackRock; fewer than half are skipped). Unlike zmap's cyclic group, the inverse is as cheap as
// the forward direction, so an answer tells at which position, hence in which send batch, its probe went
// out: the exact send time without storing one per probe.

/** Largest size supported (a /16 times every port fits). */
export const MAX_PERMUTATION_SIZE = 2 ** 32;

const ROUNDS = 3;

/** The largest seed: a 64-bit unsigned number, as zmap's --seed. */
export const MAX_SEED = 2n ** 64n - 1n;

/**
 * The permutation key a seed stands for: 24 bytes of splitmix64 (Steele, Lea and Flood's generator, a
 * bijective mix of a counter) started at the seed. The same seed gives the same key, hence the same order,
 * in every process and on every machine: what shards of one scan need (see shard.ts). The seed keys only the
 * order; the validation cookie keeps its own random key per run.
 */
export function keyFromSeed(seed: bigint): Uint8Array {
  if (seed < 0n || seed > MAX_SEED) throw new RangeError(`seed must be 0..2^64-1, got ${seed}`);
  const M = MAX_SEED;
  const key = Buffer.alloc(ROUNDS * 8);
  let state = seed;
  for (let i = 0; i < ROUNDS; i++) {
    state = (state + 0x9e3779b97f4a7c15n) & M;
    let z = state;
    z = ((z ^ (z >> 30n)) * 0xbf58476d1ce4e5b9n) & M;
    z = ((z ^ (z >> 27n)) * 0x94d049bb133111ebn) & M;
    z ^= z >> 31n;
    key.writeBigUInt64LE(z, i * 8);
  }
  return key;
}

/** Multiplicative inverse of an odd number modulo 2^32 (Newton's iteration doubles the correct bits). */
export function inverseOdd32(a: number): number {
  let inv = a | 0;
  for (let i = 0; i < 5; i++) inv = Math.imul(inv, 2 - Math.imul(a, inv));
  return inv >>> 0;
}

export class Permutation {
  /** k: the domain is 0..2^k-1 */
  readonly bits: number;
  /** 2^k: positions run 0..domain-1, of which `size` yield an index */
  readonly domain: number;
  private readonly mask: number;
  private readonly shift: number;
  private readonly mul: Uint32Array;
  private readonly mulInverse: Uint32Array;
  private readonly add: Uint32Array;

  /** `key` (24 random bytes by default) fixes the order: the same key gives the same order. */
  constructor(
    readonly size: number,
    key: Uint8Array = randomBytes(ROUNDS * 8),
  ) {
    if (!Number.isInteger(size) || size < 1 || size > MAX_PERMUTATION_SIZE) {
      throw new RangeError(`permutation size must be 1..2^32, got ${size}`);
    }
    if (key.length < ROUNDS * 8) throw new RangeError(`permutation key must be ${ROUNDS * 8} bytes`);
    let bits = 1;
    while (2 ** bits < size) bits++;
    this.bits = bits;
    this.domain = 2 ** bits;
    this.mask = bits === 32 ? 0xffffffff : (1 << bits) - 1;
    this.shift = Math.max(1, (bits + 1) >> 1);
    this.mul = new Uint32Array(ROUNDS);
    this.mulInverse = new Uint32Array(ROUNDS);
    this.add = new Uint32Array(ROUNDS);
    const view = Buffer.from(key.buffer, key.byteOffset, key.byteLength);
    for (let r = 0; r < ROUNDS; r++) {
      const m = (view.readUInt32LE(r * 8) | 1) >>> 0;
      this.mul[r] = m;
      this.mulInverse[r] = inverseOdd32(m);
      this.add[r] = view.readUInt32LE(r * 8 + 4);
    }
  }

  /** The value at a position of the domain (a bijection of 0..domain-1; may be >= size). */
  at(position: number): number {
    const mask = this.mask;
    const s = this.shift;
    let x = position;
    for (let r = 0; r < ROUNDS; r++) {
      x = ((Math.imul(x, this.mul[r]!) + this.add[r]!) & mask) >>> 0;
      x = (x ^ (x >>> s)) >>> 0;
    }
    return x;
  }

  /** The position whose value is `value` (the inverse of at). */
  positionOf(value: number): number {
    const mask = this.mask;
    const s = this.shift;
    let x = value;
    for (let r = ROUNDS - 1; r >= 0; r--) {
      // undo x ^= x >>> s: each pass recovers s more high bits
      const y = x;
      for (let done = s; done < this.bits; done += s) x = (y ^ (x >>> s)) >>> 0;
      x = (Math.imul(((x - this.add[r]!) & mask) >>> 0, this.mulInverse[r]!) & mask) >>> 0;
    }
    return x;
  }
}
