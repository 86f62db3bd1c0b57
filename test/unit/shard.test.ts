// Shards of a scan (zmap's --shards/--shard): the share computation, pure; and the engine running one
// shard's share against a simulated network (no sockets, no root).

import t from "tap";
import { Engine, type ProbeModule, type SendBatch, type SendResult } from "../../src/engine/engine";
import { PermutedOrder } from "../../src/engine/order";
import { keyFromSeed, Permutation } from "../../src/engine/permutation";
import {
  checkShard,
  formatShard,
  parseShard,
  type Shard,
  ShardOrder,
  shardBounds,
} from "../../src/engine/shard";
import { UsageError } from "../../src/errors";
import { probedTargets, ScanShare } from "../../src/probes/scan/share";

const shards = (count: number): Shard[] => Array.from({ length: count }, (_, index) => ({ index, count }));

t.test("parseShard: I/N with 0 <= I < N <= 65535, else one line", async (t) => {
  t.same(parseShard("0/1"), { index: 0, count: 1 });
  t.same(parseShard("3/4"), { index: 3, count: 4 });
  t.same(parseShard(" 1/4 "), { index: 1, count: 4 });
  t.equal(formatShard(parseShard("12/100")), "12/100");
  for (const bad of [
    "4/4",
    "5/4",
    "0/0",
    "x",
    "1/",
    "/4",
    "-1/4",
    "1/4/2",
    "1.5/4",
    "0x1/4",
    "1/65536",
    "",
  ]) {
    t.throws(() => parseShard(bad), UsageError, `"${bad}" refused`);
    try {
      parseShard(bad);
    } catch (err) {
      t.notOk((err as Error).message.includes("\n"), `"${bad}": one line`);
    }
  }
  t.throws(() => checkShard({ index: 0, count: 0 }), /shard count must be a whole number from 1 to 65535/);
  t.throws(() => checkShard({ index: 4, count: 4 }), /shard index must be a whole number from 0 to 3, not 4/);
  t.throws(() => checkShard({ index: 0.5, count: 4 }), UsageError);
});

t.test("shardBounds: contiguous blocks that tile the domain, sizes within one", async (t) => {
  for (const domain of [1, 2, 7, 64, 1000, 65536, 2 ** 32]) {
    for (const count of [1, 2, 3, 4, 7, 64, 65535]) {
      let next = 0;
      let least = Number.POSITIVE_INFINITY;
      let most = 0;
      for (const s of shards(count)) {
        const { from, to } = shardBounds(domain, s);
        if (from !== next)
          t.fail(`domain ${domain} / ${count}: shard ${s.index} starts at ${from}, not ${next}`);
        next = to;
        least = Math.min(least, to - from);
        most = Math.max(most, to - from);
      }
      if (next !== domain) t.fail(`domain ${domain} / ${count}: the blocks end at ${next}`);
      if (most - least > 1) t.fail(`domain ${domain} / ${count}: sizes ${least}..${most}`);
    }
  }
  t.same(shardBounds(65536, { index: 1, count: 4 }), { from: 16384, to: 32768 });
  t.same(shardBounds(2 ** 32, { index: 65534, count: 65535 }).to, 2 ** 32, "no rounding at 2^32");
});

t.test("keyFromSeed: the same seed, the same order; another seed, another", async (t) => {
  t.same(keyFromSeed(42n), keyFromSeed(42n));
  t.equal(keyFromSeed(42n).length, 24);
  t.not(Buffer.from(keyFromSeed(42n)).toString("hex"), Buffer.from(keyFromSeed(43n)).toString("hex"));
  // splitmix64's first output for seed 0 (the reference implementation's)
  t.equal(Buffer.from(keyFromSeed(0n)).readBigUInt64LE(0), 0xe220a8397b1dcdafn);
  t.ok(keyFromSeed(2n ** 64n - 1n));
  t.throws(() => keyFromSeed(2n ** 64n), RangeError);
  t.throws(() => keyFromSeed(-1n), RangeError);
  const a = new Permutation(1000, keyFromSeed(7n));
  const b = new Permutation(1000, keyFromSeed(7n));
  const c = new Permutation(1000, keyFromSeed(8n));
  const walk = (p: Permutation) => Array.from({ length: p.domain }, (_, i) => p.at(i));
  t.same(walk(a), walk(b), "two processes with one seed walk one order");
  t.not(walk(a).join(), walk(c).join());
});

t.test("shares are disjoint, their union is every slot, each spread over the whole range", async (t) => {
  const key = keyFromSeed(12345n);
  for (const [targets, items, count] of [
    [65536, 1, 4],
    [1000, 3, 4],
    [4096, 10, 7],
    [5, 2, 16],
  ] as const) {
    const size = targets * items;
    const owner = new Int32Array(size).fill(-1);
    const sizes: number[] = [];
    for (const s of shards(count)) {
      const order = new ShardOrder(new PermutedOrder(size, key), s);
      let n = 0;
      let low = 0;
      for (let p = 0; p < order.domain; p++) {
        const slot = order.at(p);
        if (slot < 0) continue;
        if (owner[slot] !== -1) t.fail(`slot ${slot} in shards ${owner[slot]} and ${s.index}`);
        owner[slot] = s.index;
        if (order.positionOf(slot) !== p) t.fail(`positionOf(${slot}) is not ${p}`);
        if (!order.owns(slot)) t.fail(`owns(${slot})`);
        if (Math.floor(slot / items) < targets / 2) low++;
        n++;
      }
      sizes.push(n);
      // Per target counts from one walk, as a shard computes them, agree with owns() per slot.
      const owned = order.ownedPerTarget(targets, items);
      let sum = 0;
      for (let tg = 0; tg < targets; tg++) sum += owned[tg]!;
      t.equal(sum, n, `${targets}x${items} shard ${s.index}/${count}: per-target counts add up`);
      // a share of a contiguous block of the permutation is not a block of targets: both halves get some
      if (n >= 1000) t.ok(low > n * 0.4 && low < n * 0.6, `shard ${s.index}: ${low} of ${n} in the low half`);
    }
    t.equal(owner.indexOf(-1), -1, `${targets}x${items} in ${count}: every slot in some shard`);
    const ideal = size / count;
    if (size >= 4000)
      t.ok(
        sizes.every((n) => Math.abs(n - ideal) < ideal * 0.1),
        `${targets}x${items} in ${count}: shares ${sizes.join(", ")} within 10% of ${ideal.toFixed(0)}`,
      );
    if (targets === 65536 && items === 1) t.same(sizes, [16384, 16384, 16384, 16384], "a /16 in 4: exact");
  }
});

t.test("ScanShare: orders, owned counts, host records and the targets a shard plans for", async (t) => {
  const whole = new ScanShare(100, 3, undefined, undefined);
  t.equal(whole.order, undefined, "no seed, no shard: the engine's own random order");
  t.equal(whole.owned, null);
  t.ok(whole.ownsHost(5));
  t.equal(
    whole.probes(100, (tg) => tg !== 7),
    99 * 3,
  );
  const seeded = new ScanShare(100, 3, keyFromSeed(1n), { index: 0, count: 1 });
  t.ok(seeded.order instanceof PermutedOrder, "a seed: a keyed order; one shard is the whole of it");
  t.equal(seeded.owned, null);

  const key = keyFromSeed(99n);
  const parts = shards(4).map((s) => new ScanShare(100, 3, key, s));
  const hostOwners = new Int32Array(100);
  let probes = 0;
  for (const p of parts) {
    t.ok(p.order instanceof ShardOrder);
    for (let tg = 0; tg < 100; tg++) if (p.ownsHost(tg)) hostOwners[tg]!++;
    probes += p.probes(100, () => true);
  }
  t.ok(
    hostOwners.every((n) => n === 1),
    "every target's host record belongs to exactly one shard",
  );
  t.equal(probes, 300, "the shards' probes add up to the whole scan's");
  // TCP and UDP of one shard: it plans next hops for the targets of either
  const udp = new ScanShare(100, 2, key, { index: 2, count: 4 });
  const include = probedTargets(100, [parts[2]!, udp, null])!;
  for (let tg = 0; tg < 100; tg++)
    if ((include[tg] === 1) !== (parts[2]!.owned![tg]! > 0 || udp.owned![tg]! > 0)) t.fail(`target ${tg}`);
  t.equal(probedTargets(100, [whole]), undefined, "a whole scan plans for every target");
});

/** A network where every slot answers after `delay` ms, or never for the targets in `silent`. */
class Fake implements ProbeModule {
  engine!: Engine;
  readonly sent: number[] = [];
  readonly answered: number[] = [];
  readonly unansweredSlots: number[] = [];
  constructor(
    readonly targets: number,
    readonly items: number,
    private readonly silent: Set<number>,
  ) {}
  channelOf(): number {
    return 1;
  }
  send(batch: SendBatch): SendResult {
    const at = performance.now();
    for (let k = 0; k < batch.count; k++) {
      const slot = batch.slots[k]!;
      this.sent.push(slot);
      if (this.silent.has(Math.floor(slot / this.items))) continue;
      setTimeout(() => {
        if (this.engine.answer(slot, performance.now()) !== -1) this.answered.push(slot);
      }, 1);
    }
    return { sent: batch.count, startMs: at, endMs: performance.now() };
  }
  unanswered(slot: number): void {
    this.unansweredSlots.push(slot);
  }
}

t.test("the engine on a share: sends, waits for and reports only its own slots", async (t) => {
  const key = keyFromSeed(5n);
  const targets = 50;
  const items = 4;
  const silent = new Set([3, 17]);
  const seen = new Map<number, number>();
  for (const s of shards(3)) {
    const order = new ShardOrder(new PermutedOrder(targets * items, key), s);
    const m = new Fake(targets, items, silent);
    const engine = new Engine(m, {
      order: "permuted",
      permutation: order,
      retries: 1,
      rate: 0,
      batch: 16,
      timeoutMs: 50,
      now: () => performance.now(),
    });
    m.engine = engine;
    t.equal(await engine.run(), true);
    for (const slot of m.sent) if (!order.owns(slot)) t.fail(`shard ${s.index} sent slot ${slot}`);
    for (const slot of [...m.answered, ...m.unansweredSlots]) seen.set(slot, (seen.get(slot) ?? 0) + 1);
    const own = order.ownedPerTarget(targets, items).reduce((a, b) => a + b, 0);
    t.equal(engine.counters.live, own, `shard ${s.index}: live slots are its own`);
    t.equal(
      m.answered.length + m.unansweredSlots.length,
      own,
      `shard ${s.index}: each own slot has a verdict`,
    );
    // an answer for another shard's slot (a stray) is refused as a duplicate
    const other = Array.from({ length: targets * items }, (_, i) => i).find((i) => !order.owns(i))!;
    t.equal(engine.answer(other, performance.now()), -1);
    t.equal(engine.settle(other), false);
  }
  t.equal(seen.size, targets * items, "the shards together gave every slot its verdict");
  t.ok(
    [...seen.values()].every((n) => n === 1),
    "each exactly once",
  );
});
