// The probe engine against a simulated network (no sockets, no root): which slots go out, in which passes,
// how long the engine waits for whom, abort, failures, and that nothing is still being sent when run() settles.

import t from "tap";
import {
  Engine,
  type EngineOptions,
  type ProbeModule,
  type SendBatch,
  type SendResult,
} from "../../src/engine/engine";
import { PermutedOrder, RoundOrder, SequentialOrder } from "../../src/engine/order";

const now = () => performance.now();

interface Net {
  /** per target: answer delay in ms, or null for a target that never answers */
  delays: Array<number | null>;
  /** attempts a target drops before it answers (default 0) */
  drops?: number[];
  /** targets that get no channel */
  noChannel?: Set<number>;
  items?: number;
  /** resolve sends later, on a timer (as a worker thread would) */
  asyncSend?: boolean;
  /** how many of each batch the "interface" takes (default all) */
  accept?: (count: number, call: number) => number;
}

class FakeModule implements ProbeModule {
  readonly targets: number;
  readonly items: number;
  engine!: Engine;
  readonly sends: Array<{ slot: number; pass: number; at: number }> = [];
  readonly answers: Array<{ slot: number; rtt: number }> = [];
  readonly unansweredSlots: number[] = [];
  readonly classified: number[] = [];
  sendsUnderWay = 0;
  sendCalls = 0;
  private readonly attempts = new Map<number, number>();

  constructor(private readonly net: Net) {
    this.targets = net.delays.length;
    this.items = net.items ?? 1;
  }

  channelOf(target: number): number {
    this.classified.push(target);
    return this.net.noChannel?.has(target) ? 0 : 1 + (target % 2);
  }

  send(batch: SendBatch): SendResult | Promise<SendResult> {
    const call = this.sendCalls++;
    const n = this.net.accept ? this.net.accept(batch.count, call) : batch.count;
    const start = now();
    for (let k = 0; k < n; k++) {
      const slot = batch.slots[k]!;
      this.sends.push({ slot, pass: batch.pass, at: start });
      const target = Math.floor(slot / this.items);
      const tries = (this.attempts.get(slot) ?? 0) + 1;
      this.attempts.set(slot, tries);
      const delay = this.net.delays[target];
      if (delay === null || delay === undefined || tries <= (this.net.drops?.[target] ?? 0)) continue;
      setTimeout(() => {
        const rtt = this.engine.answer(slot, now());
        if (rtt !== -1) this.answers.push({ slot, rtt });
      }, delay);
    }
    const result = { sent: n, startMs: start, endMs: now() };
    if (!this.net.asyncSend) return result;
    this.sendsUnderWay++;
    return new Promise((resolve) =>
      setTimeout(() => {
        this.sendsUnderWay--;
        resolve(result);
      }, 30),
    );
  }

  unanswered(slot: number): void {
    this.unansweredSlots.push(slot);
  }
}

function setUp(net: Net, options: Partial<EngineOptions> = {}) {
  const module = new FakeModule(net);
  const engine = new Engine(module, {
    order: "permuted",
    retries: 1,
    rate: 0,
    batch: 16,
    timeoutMs: 1000,
    now,
    ...options,
  });
  module.engine = engine;
  return { module, engine };
}

t.test("orders are bijections with an inverse", async (t) => {
  for (const order of [new PermutedOrder(1000), new SequentialOrder(1000), new RoundOrder(50, 20)]) {
    const seen = new Set<number>();
    for (let p = 0; p < order.domain; p++) {
      const slot = order.at(p);
      if (slot < 0) continue;
      t.equal(order.positionOf(slot), p);
      seen.add(slot);
    }
    t.equal(seen.size, 1000, `${order.constructor.name} visits every slot once`);
  }
  const rounds = new RoundOrder(3, 2);
  t.same(
    Array.from({ length: 6 }, (_, p) => rounds.at(p)),
    [0, 2, 4, 1, 3, 5],
    "rounds: item 0 of every target, then item 1",
  );
});

t.test("every live slot is answered or reported unanswered, exactly once", async (t) => {
  const { module, engine } = setUp({
    delays: [1, 2, null, 1, null, 3, 1, 2],
    items: 5,
    noChannel: new Set([3]),
  });
  t.equal(await engine.run(), true, "completed");
  const answered = new Set(module.answers.map((a) => a.slot));
  const unanswered = new Set(module.unansweredSlots);
  t.equal(module.unansweredSlots.length, unanswered.size, "no slot reported twice");
  t.equal(answered.size + unanswered.size, 7 * 5, "7 live targets x 5 items, each accounted for");
  for (const s of unanswered) t.ok([2, 4].includes(Math.floor(s / 5)), `slot ${s} of a silent target`);
  t.notOk(
    module.sends.some((s) => Math.floor(s.slot / 5) === 3),
    "a target without a channel gets no probe",
  );
  t.same([...new Set(module.classified)].length, 8, "every target classified");
  t.equal(module.classified.length, 8, "each once");
  t.equal(engine.counters.live, 35);
  t.equal(engine.counters.answered, answered.size);
  t.equal(engine.counters.retransmissions, 2 * 5 * 1, "only the silent targets' slots are sent again");
  t.ok(
    module.answers.every((a) => a.rtt >= 0),
    "every answer has a round-trip time",
  );
});

t.test(
  "a slow target among fast ones gets its answers (it is not given up when the fast ones finish)",
  async (t) => {
    const { module, engine } = setUp({ delays: [300, 1, 1, 1], items: 2 }, { retries: 0 });
    const started = now();
    t.equal(await engine.run(), true);
    t.same(module.unansweredSlots, [], "nothing unanswered");
    t.equal(module.answers.length, 8);
    t.ok(now() - started < 900, "and the run ends when the slow one has answered, not after a whole timeout");
  },
);

t.test("a silent target is waited for with the initial timeout, then reported", async (t) => {
  const { module, engine } = setUp({ delays: [1, null] }, { retries: 0, timeoutMs: 400 });
  const started = now();
  await engine.run();
  t.same(module.unansweredSlots, [1]);
  t.ok(now() - started >= 390, "waited its timeout");
});

t.test("retries: an attempt that is dropped is sent again, and its answer counts", async (t) => {
  const { module, engine } = setUp({ delays: [2, 2, 2], drops: [0, 1, 2] }, { retries: 1 });
  await engine.run();
  t.same(module.unansweredSlots, [2], "the target that drops two attempts is unanswered after one retry");
  t.same(
    module.sends
      .filter((s) => s.pass === 1)
      .map((s) => s.slot)
      .sort(),
    [1, 2],
    "the second pass sends only the unanswered",
  );
  t.equal(engine.counters.sent, 5);
  t.equal(engine.counters.retransmissions, 2);
});

t.test("a late answer to an earlier attempt is taken, and a duplicate is not", async (t) => {
  const { module, engine } = setUp({ delays: [150] }, { retries: 1, timeoutMs: 100 });
  // The first attempt times out at 100 ms and is sent again; its answer comes at 150 ms, during the retry's
  // wait, and the retry's own answer at 250 ms is a duplicate.
  await engine.run();
  t.same(module.unansweredSlots, [], "the late answer counts");
  t.equal(engine.counters.retransmissions, 1);
  await new Promise((r) => setTimeout(r, 200));
  t.equal(module.answers.length, 1, "one answer: the second is a duplicate");
  t.equal(engine.answer(0, now()), -1, "answering again is a duplicate");
});

t.test("rounds: every item once, item after item, with the gap between rounds", async (t) => {
  const { module, engine } = setUp(
    { delays: [1, 1, null], items: 3 },
    { order: "rounds", roundGapMs: 60, retries: 5, timeoutMs: 150, fixedTimeout: true },
  );
  await engine.run();
  t.same(
    module.sends.map((s) => s.slot),
    [0, 3, 6, 1, 4, 7, 2, 5, 8],
    "round by round, no retries",
  );
  const rounds = [0, 1, 2].map((r) => module.sends.find((s) => s.pass === r)!.at);
  t.ok(rounds[1]! - rounds[0]! >= 55 && rounds[2]! - rounds[1]! >= 55, "rounds start a gap apart");
  t.same(module.unansweredSlots, [6, 7, 8]);
});

t.test("a full interface queue: the rest of the batch goes again", async (t) => {
  const { module, engine } = setUp({ delays: Array.from({ length: 40 }, () => 1) }, {
    order: "sequential",
    retries: 0,
    accept: undefined,
  } as Partial<EngineOptions>);
  // every other call takes only 3 frames
  (module as unknown as { net: Net }).net.accept = (count, call) =>
    call % 2 === 0 ? Math.min(3, count) : count;
  await engine.run();
  t.same(
    module.sends.map((s) => s.slot),
    Array.from({ length: 40 }, (_, i) => i),
    "each slot sent once, in order",
  );
  t.same(module.unansweredSlots, []);
});

t.test("abort: sending stops, run resolves false after the sends under way have finished", async (t) => {
  const controller = new AbortController();
  const { module, engine } = setUp(
    { delays: Array.from({ length: 2000 }, () => null), asyncSend: true },
    { signal: controller.signal, inFlight: 2, rate: 2000 },
  );
  setTimeout(() => controller.abort(), 100);
  const result = await engine.run();
  t.equal(result, false, "aborted");
  t.equal(module.sendsUnderWay, 0, "no send still under way when run() settled");
  const sentAtAbort = module.sends.length;
  t.ok(sentAtAbort < 2000, `stopped early (${sentAtAbort} sent)`);
  await new Promise((r) => setTimeout(r, 100));
  t.equal(module.sends.length, sentAtAbort, "nothing sent after");
  t.same(module.unansweredSlots, [], "no verdict for work that was not finished");
});

t.test("a failing send or receive ends the run with its error, after the sends under way", async (t) => {
  const { module, engine } = setUp(
    { delays: Array.from({ length: 100 }, () => 1), asyncSend: true },
    { inFlight: 2 },
  );
  let calls = 0;
  const send = module.send.bind(module);
  module.send = (batch) => {
    if (++calls === 3)
      return Promise.reject(Object.assign(new Error("sendmmsg: ENETDOWN"), { code: "ENETDOWN" }));
    return send(batch);
  };
  await t.rejects(engine.run(), { code: "ENETDOWN" });
  t.equal(module.sendsUnderWay, 0);

  const second = setUp({ delays: Array.from({ length: 50 }, () => null) });
  setTimeout(
    () => second.engine.fail(Object.assign(new Error("recvmmsg: ENOBUFS"), { code: "ENOBUFS" })),
    50,
  );
  await t.rejects(second.engine.run(), { code: "ENOBUFS" }, "a receive error fails only this run");
});

t.test(
  "lingerMs: with every slot answered, the run still waits that long after the latest answer",
  async (t) => {
    const { module, engine } = setUp({ delays: [1, 5] }, { retries: 0, lingerMs: 150 });
    const started = now();
    t.equal(await engine.run(), true);
    t.equal(module.answers.length, 2);
    const elapsed = now() - started;
    t.ok(elapsed >= 145, `lingered (${elapsed.toFixed(0)} ms)`);
    t.ok(elapsed < 900, "but not a whole timeout");
    const quick = setUp({ delays: [1, 5] }, { retries: 0 });
    const t0 = now();
    await quick.engine.run();
    t.ok(now() - t0 < 140, "without it the run ends when the last answer is in");
  },
);

t.test("refused slots: not sent again in the pass, not counted as sent, no stall", async (t) => {
  const { module, engine } = setUp(
    { delays: Array.from({ length: 10 }, (_, i) => (i === 3 || i === 7 ? null : 1)) },
    { order: "sequential", retries: 1, timeoutMs: 200 },
  );
  // The kernel refuses targets 3 and 7 (no route): the module answers them itself, as ping does.
  const send = module.send.bind(module);
  const refused: number[] = [];
  module.send = (batch) => {
    const bad = Array.from(batch.slots.subarray(0, batch.count)).findIndex((s) => s === 3 || s === 7);
    if (bad < 0) return send(batch);
    const result = send({ ...batch, count: bad }) as SendResult;
    const slot = batch.slots[bad]!;
    refused.push(slot);
    engine.answer(slot, now());
    return { ...result, sent: bad, refused: 1 };
  };
  const started = now();
  t.equal(await engine.run(), true);
  t.same(refused, [3, 7], "each refused once: the rest of the batch went on");
  t.same(module.unansweredSlots, [], "settled by the module");
  t.equal(engine.counters.sent, 8, "only what went out counts as sent");
  t.equal(engine.counters.retransmissions, 0, "and nothing is sent again");
  t.ok(now() - started < 150, "no stall, no wait for a timeout");
});

t.test("send times: the module's own start counts, and sentAt() tells them later", async (t) => {
  // The module spends 30 ms building its batch before the send really begins: that is not round trip.
  const { module, engine } = setUp({ delays: [null] }, { retries: 0, timeoutMs: 100 });
  const send = module.send.bind(module);
  module.send = (batch) => {
    const busyUntil = now() + 30;
    while (now() < busyUntil);
    return send(batch);
  };
  const run = engine.run();
  await new Promise((r) => setTimeout(r, 50));
  const sentAt = module.sends[0]!.at;
  t.ok(Math.abs(engine.sentAt(0) - sentAt) < 1, "sentAt is when the send began, not when it was handed over");
  const rtt = engine.answer(0, sentAt + 5);
  t.ok(rtt >= 4 && rtt <= 6, `round trip from the real start (${rtt.toFixed(2)} ms)`);
  await run;
  t.ok(Number.isNaN(setUp({ delays: [1] }).engine.sentAt(0)), "NaN before any send");
});
