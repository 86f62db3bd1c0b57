import { PermutedOrder, type ProbeOrder } from "../../engine/order";
import { type Shard, ShardOrder } from "../../engine/shard";

// A scan module's part of the work: its slots' order (keyed by the seed when one is given, a fresh random
// one otherwise) and, for one shard of a split scan, which slots and host records are this shard's. A host
// record (a target found down) belongs to the shard holding the target's first slot, so the shards report
// each down host once between them, as the whole scan would.

export class ScanShare {
  /** the order for the engine; undefined: the engine's own fresh random one */
  readonly order: ProbeOrder | undefined;
  /** a shard's: per target, how many of its slots are this shard's; null when every slot is */
  readonly owned: Uint32Array | null;
  private readonly shardOrder: ShardOrder | null;

  constructor(
    targets: number,
    readonly items: number,
    key: Uint8Array | undefined,
    shard: Shard | undefined,
  ) {
    const size = targets * items;
    const whole = key === undefined || size === 0 ? undefined : new PermutedOrder(size, key);
    if (shard === undefined || shard.count === 1 || whole === undefined) {
      this.order = whole;
      this.owned = null;
      this.shardOrder = null;
      return;
    }
    this.shardOrder = new ShardOrder(whole, shard);
    this.order = this.shardOrder;
    this.owned = this.shardOrder.ownedPerTarget(targets, items);
  }

  /** Whether this shard reports target `t`'s host record (down): when it holds the target's first slot. */
  ownsHost(t: number): boolean {
    return this.shardOrder === null || this.shardOrder.owns(t * this.items);
  }

  /** This shard's probes (target x port pairs) of the targets `probed` says are probed. */
  probes(targets: number, probed: (t: number) => boolean): number {
    let n = 0;
    for (let t = 0; t < targets; t++) if (probed(t)) n += this.owned === null ? this.items : this.owned[t]!;
    return n;
  }
}

/** Per target: 1 when some slot of it is in one of the shares (the targets whose next hops a shard needs). */
export function probedTargets(
  targets: number,
  shares: ReadonlyArray<ScanShare | null>,
): Uint8Array | undefined {
  const used = shares.filter((s): s is ScanShare => s !== null);
  if (used.length === 0 || used.some((s) => s.owned === null)) return undefined;
  const include = new Uint8Array(targets);
  for (const s of used) for (let t = 0; t < targets; t++) if (s.owned![t]! > 0) include[t] = 1;
  return include;
}
