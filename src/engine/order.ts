import { Permutation } from "./permutation";

// The order in which the engine visits a probe's slots (slot = target * items + item). Every order is a
// bijection between positions 0..domain-1 and slots (positions that map to no slot give -1), with an inverse,
// so an answer's slot tells at which position, hence in which send batch, its probe went out.

export interface ProbeOrder {
  /** positions run 0..domain-1 */
  readonly domain: number;
  /** the slot at a position, or -1 where the position holds none */
  at(position: number): number;
  /** the position of a slot */
  positionOf(slot: number): number;
}

/**
 * A keyed random order over all slots: consecutive probes go to different targets and ports, so no host sees
 * a burst and a rate limit along the path is spread over the whole scan (zmap's and masscan's reason).
 */
export class PermutedOrder implements ProbeOrder {
  private readonly perm: Permutation;
  readonly domain: number;

  /** `key`: the permutation's (from a seed: keyFromSeed); default a random one, a new order each run */
  constructor(
    readonly size: number,
    key?: Uint8Array,
  ) {
    this.perm = new Permutation(size, key);
    this.domain = this.perm.domain;
  }

  at(position: number): number {
    const slot = this.perm.at(position);
    return slot < this.size ? slot : -1;
  }

  positionOf(slot: number): number {
    return this.perm.positionOf(slot);
  }
}

/** Target after target, each target's items together (an ARP sweep: one item per target). */
export class SequentialOrder implements ProbeOrder {
  constructor(readonly domain: number) {}

  at(position: number): number {
    return position;
  }

  positionOf(slot: number): number {
    return slot;
  }
}

/**
 * Item after item, every target for each (ping: request 1 to every target, then request 2, ...), so the gap
 * between two requests to one target is a whole round.
 */
export class RoundOrder implements ProbeOrder {
  readonly domain: number;

  constructor(
    private readonly targets: number,
    private readonly items: number,
  ) {
    this.domain = targets * items;
  }

  at(position: number): number {
    const item = Math.floor(position / this.targets);
    const target = position - item * this.targets;
    return target * this.items + item;
  }

  positionOf(slot: number): number {
    const target = Math.floor(slot / this.items);
    const item = slot - target * this.items;
    return item * this.targets + target;
  }

  /** the first position of a round (an item number) */
  roundStart(item: number): number {
    return item * this.targets;
  }
}
