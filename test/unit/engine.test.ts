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
  /** slots the module settles itself when it sends them (a send refused here) */
  settleOnSend?: Set<number>;
}

class FakeModule implements ProbeModule {
  readonly targets: number;
  readonly items: number;
  engine!: Engine;
  readonly sends: Array<{ slot: number; pass: number; at: number }> = [];
  readonly answers: Array<{ slot: number; rtt: number; at: number }> = [];
  readonly unansweredSlots: number[] = [];
  readonly expiredSlots: number[] = [];
  /** sent and neither answered nor expired yet, and the most there ever were at once */
  readonly waiting = new Set<number>();
  mostWaiting = 0;
  /** expiries of slots that were not waiting (answered, or never sent) */
  strayExpiries = 0;
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
      this.waiting.add(slot);
      this.mostWaiting = Math.max(this.mostWaiting, this.waiting.size);
      const target = Math.floor(slot / this.items);
      const tries = (this.attempts.get(slot) ?? 0) + 1;
      this.attempts.set(slot, tries);
      if (this.net.settleOnSend?.has(slot)) {
        this.engine.settle(slot);
        continue;
      }
      const delay = this.net.delays[target];
      if (delay === null || delay === undefined || tries <= (this.net.drops?.[target] ?? 0)) continue;
      setTimeout(() => {
        const at = now();
        const rtt = this.engine.answer(slot, at);
        this.waiting.delete(slot);
        if (rtt !== -1) this.answers.push({ slot, rtt, at });
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

  expired(slot: number): void {
    if (!this.waiting.has(slot)) this.strayExpiries++;
    this.waiting.delete(slot);
    this.expiredSlots.push(slot);
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
    // Timeouts far above the slow answer, so that only waiting for one fails the check on a loaded machine.
    const { module, engine } = setUp({ delays: [300, 1, 1, 1], items: 2 }, { retries: 0, timeoutMs: 5000 });
    const started = now();
    t.equal(await engine.run(), true);
    t.same(module.unansweredSlots, [], "nothing unanswered");
    t.equal(module.answers.length, 8);
    t.ok(
      now() - started < 4000,
      "and the run ends when the slow one has answered, not after a whole timeout",
    );
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

t.test("retryBackoff: each retry pass of a silent target waits longer, up to maxMs", async (t) => {
  const { module, engine } = setUp(
    { delays: [null] },
    { retries: 3, timeoutMs: 100, retryBackoff: { factor: 2, maxMs: 300 } },
  );
  const started = now();
  await engine.run();
  t.same(module.unansweredSlots, [0]);
  const at = module.sends.map((s) => s.at);
  t.equal(at.length, 4, "the first attempt and three retries");
  const gaps = at.slice(1).map((a, i) => a - at[i]!);
  // pass 0 waits 100 ms, pass 1 200 ms, pass 2 and 3 the 300 ms cap (not 400 and 800)
  t.ok(gaps[0]! >= 95, `pass 0 waited the timeout (${gaps[0]})`);
  t.ok(gaps[1]! >= 195, `pass 1 waited twice the timeout (${gaps[1]})`);
  t.ok(gaps[2]! >= 295, `pass 2 waited the cap (${gaps[2]})`);
  t.ok(now() - started >= 895, "the last pass waited the cap too");
});

t.test("morePasses: passes after the retries go on while the module says so", async (t) => {
  const asked: number[] = [];
  const { module, engine } = setUp(
    { delays: [2, 2], drops: [4, 20] },
    {
      retries: 1,
      timeoutMs: 50,
      morePasses: (pass) => {
        asked.push(pass);
        return pass <= 4;
      },
    },
  );
  await engine.run();
  t.same(module.unansweredSlots, [1], "the target that drops four attempts answers the fifth, in pass 4");
  t.same(asked, [2, 3, 4, 5], "asked before each pass after the retries, until it says no");
  t.equal(engine.counters.sent, 10, "five passes over two slots");
});

t.test(
  "beforePass: slots the module settles before a retry pass are not sent again nor reported",
  async (t) => {
    const passes: number[] = [];
    let module!: FakeModule;
    let engine!: Engine;
    ({ module, engine } = setUp(
      { delays: [null, null, null], items: 2 },
      {
        retries: 3,
        timeoutMs: 30,
        beforePass: async (pass) => {
          passes.push(pass);
          // target 0 is given up on before the first retry, target 1 before the second
          const cut = pass === 1 ? 0 : pass === 2 ? 1 : -1;
          for (let i = 0; cut >= 0 && i < 2; i++) engine.settle(cut * 2 + i);
          await new Promise((resolve) => setTimeout(resolve, 1));
        },
      },
    ));
    await engine.run();
    t.same(passes, [1, 2, 3], "before each retry pass");
    const sentIn = (pass: number) =>
      module.sends
        .filter((s) => s.pass === pass)
        .map((s) => s.slot)
        .sort();
    t.same(sentIn(1), [2, 3, 4, 5], "pass 1 without target 0");
    t.same(sentIn(2), [4, 5], "pass 2 without target 1");
    t.same(module.unansweredSlots.sort(), [4, 5], "only target 2 is reported unanswered");
    t.equal(engine.counters.answered, 0, "settled is not answered");
  },
);

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
  "settle: a slot the module decided itself is not sent again, waited for, reported or counted",
  async (t) => {
    for (const window of [undefined, 2]) {
      const { module, engine } = setUp(
        { delays: [null, 1], items: 3, settleOnSend: new Set([1, 4]) },
        { retries: 2, timeoutMs: 100, ...(window === undefined ? {} : { maxOutstandingPerTarget: window }) },
      );
      await engine.run();
      const sendsOf = (slot: number) => module.sends.filter((s) => s.slot === slot).length;
      t.equal(sendsOf(1), 1, `settled slot of a silent target sent once (window ${window})`);
      t.equal(sendsOf(0), 3, "its other slots are sent in every pass");
      t.same(module.unansweredSlots.sort(), [0, 2], "the settled slot is not reported unanswered");
      t.equal(engine.counters.answered, 2, "nor counted answered");
      t.equal(engine.answer(1, now()), -1, "an answer after it is a duplicate");
      t.equal(engine.settle(3), false, "settling an answered slot changes nothing");
    }
  },
);

/** For each send: how many of its target's probes were outstanding (sent, unanswered, not timed out) then. */
function outstandingAtSends(
  module: FakeModule,
  timeoutMs: number,
): Array<{ target: number; outstanding: number }> {
  const answeredAt = new Map(module.answers.map((a) => [a.slot, a.at]));
  return module.sends.map((send, k) => {
    const target = Math.floor(send.slot / module.items);
    let outstanding = 0;
    for (let j = 0; j < k; j++) {
      const earlier = module.sends[j]!;
      if (Math.floor(earlier.slot / module.items) !== target) continue;
      const answered = answeredAt.get(earlier.slot);
      if ((answered === undefined || answered > send.at) && earlier.at + timeoutMs > send.at) outstanding++;
    }
    return { target, outstanding };
  });
}

t.test("maxOutstandingPerTarget: a full target's slots wait, in order, while the others go on", async (t) => {
  const { module, engine } = setUp(
    { delays: [100, 1, 1], items: 12 },
    { order: "sequential", retries: 0, maxOutstandingPerTarget: 3, timeoutMs: 2000, fixedTimeout: true },
  );
  t.equal(await engine.run(), true);
  t.equal(module.answers.length, 36, "every slot answered");
  t.same(module.unansweredSlots, []);
  t.equal(module.sends.length, 36, "each sent once");
  const peak = Math.max(...outstandingAtSends(module, 2000).map((o) => o.outstanding));
  t.ok(peak <= 2, `at most 3 outstanding per target, the new one included (peak before a send: ${peak})`);
  for (let target = 0; target < 3; target++) {
    const order = module.sends.map((s) => s.slot).filter((s) => Math.floor(s / 12) === target);
    t.same(
      order,
      Array.from({ length: 12 }, (_, i) => target * 12 + i),
      `target ${target}: in order`,
    );
  }
  const lastFast = Math.max(...module.answers.filter((a) => a.slot >= 12).map((a) => a.at));
  const seventhSlow = module.sends.find((s) => s.slot === 6)!.at;
  t.ok(lastFast < seventhSlow, "the fast targets are done before the slow one has had two round trips");
  t.ok(
    module.answers.filter((a) => a.slot < 12).every((a) => a.rtt >= 90),
    "round-trip times from each slot's own send",
  );
});

t.test("maxOutstandingPerTarget: a silent target's window frees as its probes time out", async (t) => {
  const { module, engine } = setUp(
    { delays: [null, 1], items: 6 },
    { order: "sequential", retries: 1, maxOutstandingPerTarget: 2, timeoutMs: 150, fixedTimeout: true },
  );
  await engine.run();
  t.same(module.unansweredSlots, [0, 1, 2, 3, 4, 5]);
  t.equal(module.answers.length, 6, "the other target answered");
  for (const pass of [0, 1]) {
    const silent = module.sends.filter((s) => s.slot < 6 && s.pass === pass);
    t.same(
      silent.map((s) => s.slot),
      [0, 1, 2, 3, 4, 5],
      `pass ${pass}: every slot of the silent target, in order`,
    );
    for (let k = 2; k < silent.length; k++)
      t.ok(
        silent[k]!.at - silent[k - 2]!.at >= 145,
        `pass ${pass}: slot ${k} waits for slot ${k - 2}'s timeout`,
      );
  }
  t.equal(engine.counters.retransmissions, 6, "only the silent target's slots go again");
});

t.test("maxOutstandingPerTarget with a full interface queue: each slot once, in order", async (t) => {
  const { module, engine } = setUp(
    { delays: [1, 1, 1], items: 5, accept: (count, call) => (call % 2 === 0 ? Math.min(1, count) : count) },
    { order: "sequential", retries: 0, maxOutstandingPerTarget: 2 },
  );
  await engine.run();
  t.same(
    module.sends.map((s) => s.slot).sort((a, b) => a - b),
    Array.from({ length: 15 }, (_, i) => i),
    "each slot sent once",
  );
  for (let target = 0; target < 3; target++) {
    const order = module.sends.map((s) => s.slot).filter((s) => Math.floor(s / 5) === target);
    t.same(
      order,
      Array.from({ length: 5 }, (_, i) => target * 5 + i),
      `target ${target}: in order`,
    );
  }
  t.same(module.unansweredSlots, []);
});

t.test("maxOutstandingPerTarget as a function: each target's own window", async (t) => {
  const { module, engine } = setUp(
    { delays: [60, 60], items: 4 },
    {
      order: "sequential",
      retries: 0,
      maxOutstandingPerTarget: (target) => (target === 0 ? 1 : 4),
      timeoutMs: 2000,
      fixedTimeout: true,
    },
  );
  await engine.run();
  const peaks = [0, 1].map((target) =>
    Math.max(
      ...outstandingAtSends(module, 2000)
        .filter((o) => o.target === target)
        .map((o) => o.outstanding),
    ),
  );
  t.same(peaks, [0, 3], "target 0 one at a time, target 1 all four at once");
});

t.test("maxOutstanding: no more slots waiting at once; answers and timeouts make room", async (t) => {
  const { module, engine } = setUp(
    { delays: Array.from({ length: 60 }, () => 5), items: 2 },
    { maxOutstanding: 7, retries: 0 },
  );
  t.equal(await engine.run(), true);
  t.equal(module.answers.length, 120, "every slot answered");
  t.ok(module.mostWaiting <= 7, `at most 7 waiting at once (${module.mostWaiting})`);
  t.ok(module.mostWaiting >= 6, "and the window is used");
  t.same(module.expiredSlots, [], "nothing expired");

  // Silent targets: each attempt leaves the window when its timeout runs out, and is said to have expired
  // once per attempt, before the slot is sent again or reported unanswered.
  const silent = setUp(
    { delays: Array.from({ length: 12 }, () => null) },
    { maxOutstanding: 4, retries: 1, timeoutMs: 60 },
  );
  const started = now();
  t.equal(await silent.engine.run(), true);
  t.ok(silent.module.mostWaiting <= 4, `at most 4 waiting (${silent.module.mostWaiting})`);
  t.equal(silent.module.sends.length, 24, "two attempts each");
  t.equal(silent.module.expiredSlots.length, 24, "each attempt expired once");
  t.same([...new Set(silent.module.expiredSlots)].sort(), [...silent.module.unansweredSlots].sort());
  t.equal(silent.module.waiting.size, 0, "nothing left waiting");
  t.equal(silent.module.strayExpiries + module.strayExpiries, 0, "only waiting attempts expire");
  // 12 slots through a window of 4 with 60 ms timeouts: three rounds of timeouts per pass
  t.ok(now() - started >= 5 * 55, `sending waited for room (${Math.round(now() - started)} ms)`);
});

t.test("an answer after the slot was reported unanswered is a duplicate", async (t) => {
  const { module, engine } = setUp({ delays: [1, null] }, { retries: 0, timeoutMs: 50 });
  await engine.run();
  t.same(module.unansweredSlots, [1]);
  t.equal(engine.answer(1, now()), -1, "too late: the slot has its record");
  t.equal(engine.counters.answered, 1, "and it is not counted");
});

t.test("stage: sending, then waiting, then done", async (t) => {
  const stages: string[] = [];
  const { engine } = setUp({ delays: [30, 30] }, { retries: 0 });
  t.equal(engine.stage, "idle");
  const watch = setInterval(() => {
    if (stages.at(-1) !== engine.stage) stages.push(engine.stage);
  }, 1);
  const running = engine.run();
  stages.push(engine.stage);
  await running;
  clearInterval(watch);
  stages.push(engine.stage);
  t.same(
    stages.filter((s, i) => s !== stages[i - 1]),
    ["sending", "waiting", "done"],
  );
});

t.test(
  "congestion: the window grows with answers, and a silent range still goes at the floor rate",
  async (t) => {
    const congestion = { initialWindow: 4, minWindow: 2, maxWindow: 64, initialSsthresh: 64, maxScale: 50 };
    const fast = setUp({ delays: Array.from({ length: 200 }, () => 1) }, { congestion, retries: 0 });
    t.equal(await fast.engine.run(), true);
    t.equal(fast.module.answers.length, 200, "every slot answered");
    t.ok(
      fast.module.mostWaiting <= 64,
      `never more waiting than the largest window (${fast.module.mostWaiting})`,
    );
    t.ok(fast.engine.congestion!.peakWindow > 4, `the window grew (${fast.engine.congestion!.peakWindow})`);

    const silent = setUp(
      { delays: Array.from({ length: 40 }, () => null) },
      { congestion, minRate: 200, retries: 0, timeoutMs: 100 },
    );
    const started = now();
    t.equal(await silent.engine.run(), true);
    t.equal(silent.module.unansweredSlots.length, 40, "every silent slot reported");
    t.ok(
      now() - started < 1500,
      `the floor rate kept it going past the full window (${Math.round(now() - started)} ms)`,
    );
    t.throws(
      () => setUp({ delays: [1] }, { congestion, maxOutstanding: 4 }),
      /one or the other/,
      "a fixed window and a congestion window exclude each other",
    );
  },
);

t.test(
  "lingerMs: with every slot answered, the run still waits that long after the latest answer",
  async (t) => {
    // A linger and a timeout far apart, and far above the answers, so that a loaded machine cannot blur them.
    const { module, engine } = setUp({ delays: [1, 5] }, { retries: 0, lingerMs: 1000, timeoutMs: 10_000 });
    const started = now();
    t.equal(await engine.run(), true);
    t.equal(module.answers.length, 2);
    const elapsed = now() - started;
    t.ok(elapsed >= 995, `lingered (${elapsed.toFixed(0)} ms)`);
    t.ok(elapsed < 8000, "but not a whole timeout");
    const quick = setUp({ delays: [1, 5] }, { retries: 0, timeoutMs: 10_000 });
    const t0 = now();
    await quick.engine.run();
    t.ok(now() - t0 < 900, "without it the run ends when the last answer is in");
  },
);

t.test("refused slots: not sent again in the pass, not counted as sent, no stall", async (t) => {
  const { module, engine } = setUp(
    { delays: Array.from({ length: 10 }, (_, i) => (i === 3 || i === 7 ? null : 1)) },
    // A timeout far above the answers: a stall would wait for it, a loaded machine does not come near it.
    { order: "sequential", retries: 1, timeoutMs: 5000 },
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
  t.ok(now() - started < 4000, "no stall, no wait for a timeout");
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

/**
 * A module over a socket with kernel send timestamps. Frame k of a batch leaves the "wire" 0.2 + 0.05 k ms after
 * the dispatch and is answered exactly `rtt` ms after it left. The send call itself reports times far from those
 * (as a worker thread's completion or the event loop would), so only the kernel's times give the exact RTT.
 */
interface Stamping {
  rtt: number;
  /** resolve the send 30 ms later (a worker thread); the answers come before that */
  async?: boolean;
  /** hand the timestamps to the engine inside send(), before it knows the batch's ids */
  stampsFirst?: boolean;
  /** the kernel gives no timestamps at all */
  noStamps?: boolean;
  /** timestamps older than the batch: another packet's */
  staleStamps?: boolean;
  /** the socket has none: the ids are NaN, as the addon gives them then (implies noStamps) */
  nanIds?: boolean;
  /** the send call says it began this long after the dispatch (default 7 ms) */
  startAfter?: number;
}

class StampedModule implements ProbeModule {
  readonly items = 1;
  engine!: Engine;
  readonly rtts = new Map<number, number>();
  private nextId = 0;

  constructor(
    readonly targets: number,
    private readonly how: Stamping,
  ) {}

  channelOf(): number {
    return 1;
  }

  send(batch: SendBatch): SendResult | Promise<SendResult> {
    const dispatch = now();
    const firstTxId = this.how.nanIds ? Number.NaN : this.nextId;
    this.nextId += batch.count;
    if (this.how.async && !this.how.noStamps) batch.firstTxId = firstTxId;
    const ids = new Float64Array(batch.count);
    const times = new Float64Array(batch.count);
    const answers: Array<[number, number]> = [];
    for (let k = 0; k < batch.count; k++) {
      const left = dispatch + 0.2 + 0.05 * k;
      ids[k] = firstTxId + k;
      times[k] = this.how.staleStamps ? dispatch - 5 : left;
      answers.push([batch.slots[k]!, left + this.how.rtt]);
    }
    const stamp = () => {
      if (!this.how.noStamps && !this.how.nanIds) this.engine.txTimestamps(1, ids, times, batch.count);
    };
    const answer = () => {
      for (const [slot, at] of answers) {
        const rtt = this.engine.answer(slot, at);
        if (rtt >= 0) this.rtts.set(slot, rtt);
      }
    };
    // As from one socket: the timestamps are read before the answers, in the same wake-up.
    if (this.how.stampsFirst) {
      stamp();
      setTimeout(answer, 2);
    } else {
      setTimeout(() => {
        stamp();
        answer();
      }, 2);
    }
    const result = {
      sent: batch.count,
      startMs: dispatch + (this.how.startAfter ?? 7),
      endMs: dispatch + 9,
      ...(this.how.noStamps ? {} : { firstTxId }),
    };
    if (!this.how.async) return result;
    return new Promise((resolve) => setTimeout(() => resolve(result), 30));
  }

  unanswered(): void {}
}

function stamped(targets: number, how: Stamping, batch = 8) {
  const module = new StampedModule(targets, how);
  const engine = new Engine(module, {
    order: "sequential",
    retries: 0,
    rate: 0,
    batch,
    timeoutMs: 200,
    now,
  });
  module.engine = engine;
  return { module, engine };
}

const RTT = 0.0123;
const close = (a: number, b: number) => Math.abs(a - b) < 1e-9;

t.test("kernel send timestamps: every answer's RTT is measured from when its frame left", async (t) => {
  for (const how of [
    { rtt: RTT, name: "sync send, timestamps after it returned" },
    { rtt: RTT, stampsFirst: true, name: "timestamps before the batch's ids are known" },
    { rtt: RTT, async: true, name: "worker-thread send: answers and timestamps before it completes" },
    { rtt: RTT, async: true, stampsFirst: true, name: "worker-thread send, timestamps first" },
  ]) {
    const { module, engine } = stamped(20, how);
    await engine.run();
    t.equal(module.rtts.size, 20, `${how.name}: every slot answered`);
    const wrong = [...module.rtts].filter(([, rtt]) => !close(rtt, RTT));
    t.same(wrong, [], `${how.name}: every RTT is exactly the wire's`);
  }
});

t.test("kernel send timestamps: a one-frame batch gets its exact time", async (t) => {
  const { module, engine } = stamped(3, { rtt: RTT, async: true }, 1);
  await engine.run();
  t.same(
    [...module.rtts.values()].map((r) => close(r, RTT)),
    [true, true, true],
  );
});

t.test(
  "without kernel timestamps, or with ones that cannot be the batch's, the engine's times stay",
  async (t) => {
    for (const how of [
      { rtt: RTT, noStamps: true, name: "none" },
      { rtt: RTT, staleStamps: true, name: "older than the batch" },
    ]) {
      const { module, engine } = stamped(8, how);
      await engine.run();
      const rtts = [...module.rtts.values()];
      t.equal(rtts.length, 8, `${how.name}: answered`);
      // The dispatch is before the frames left, so the fallback overstates the RTT (by the 0.2 ms wire delay at
      // least for the first frame) but never makes it negative.
      t.ok(
        rtts.every((r) => r >= 0 && !close(r, RTT)),
        `${how.name}: the dispatch-based times (${rtts.map((r) => r.toFixed(3))})`,
      );
    }
  },
);

t.test(
  "a NaN TX id (the kernel refused timestamps) leaves the send call's own times, as no id does",
  async (t) => {
    const runs = [];
    for (const how of [{ noStamps: true }, { nanIds: true }]) {
      const { module, engine } = stamped(8, { rtt: RTT, startAfter: 0.1, ...how });
      await engine.run();
      runs.push([...module.rtts].sort(([a], [b]) => a - b));
    }
    const [none, nan] = runs as [Array<[number, number]>, Array<[number, number]>];
    t.equal(nan.length, 8, "answered");
    t.ok(
      nan.every(([slot, rtt], k) => none[k]![0] === slot && Math.abs(rtt - none[k]![1]) < 1e-6),
      `the same RTTs (${nan.map(([, r]) => r.toFixed(4))})`,
    );
    // The send call's start (0.1 ms after the dispatch) times the first frame: 0.2 + RTT - 0.1 before its answer.
    t.ok(Math.abs(nan[0]![1] - (0.1 + RTT)) < 1e-6, "the first frame is timed from the send call's start");
    const { module, engine } = stamped(8, { rtt: RTT, async: true, nanIds: true });
    await engine.run();
    t.ok(
      module.rtts.size === 8 && [...module.rtts.values()].every((r) => r >= 0),
      "a worker-thread send with a NaN id: answered, from the engine's own times",
    );
  },
);

t.test("TxStamps keeps memory flat: batches whose timestamps never come are given up", async (t) => {
  const { SendLog, TxStamps } = await import("../../src/engine/send-log");
  const log = new SendLog();
  const stamps = new TxStamps(log);
  for (let b = 0; b < 10_000; b++) {
    stamps.expect(1, log.record(b, b + 1, b), b, 1);
  }
  const one = (id: number, time: number) => stamps.stamps(1, Float64Array.of(id), Float64Array.of(time), 1);
  one(0, 0.5); // the oldest batch's timestamp, after 10,000 others waited
  one(9_999, 9_999.5);
  t.equal(log.sentAt(0), 0, "the oldest waiting batch was given up: its own time stays");
  t.equal(log.sentAt(9_999), 9_999.5, "the newest gets the kernel's time");
});

t.test(
  "a send or receive the kernel refused ends the run as the environment's failure, cause kept",
  async (t) => {
    const { engine } = setUp({ delays: Array.from({ length: 20 }, () => null) });
    const cause = Object.assign(new Error("recvmmsg: ENETDOWN"), { code: "ENETDOWN", syscall: "recvmmsg" });
    setTimeout(() => engine.fail(cause), 20);
    const err = (await engine.run().catch((e: unknown) => e)) as Error & {
      exitCode?: number;
      cause?: unknown;
    };
    t.equal(err.exitCode, 3, "exit 3, as every probe says it");
    t.equal(err.cause, cause, "with the addon's error as its cause");
    t.match(err.message, /receiving: .*ENETDOWN/);
    const bug = setUp({ delays: [null] });
    setTimeout(() => bug.engine.fail(new TypeError("a bug")), 20);
    const e2 = (await bug.engine.run().catch((e: unknown) => e)) as Error & { exitCode?: number };
    t.equal(e2.exitCode, undefined, "an error without an errno stays a bug (exit 4)");
  },
);

t.test("the run ends as the last answer arrives, not at the end of a pause", async (t) => {
  // Answers come 25 ms after the send, between two of the final wait's pauses (20 ms each at most).
  const { module, engine } = setUp({ delays: [25, 25, 25] }, { order: "sequential" });
  let done = false;
  let doneAtLastAnswer: boolean | null = null;
  const running = engine.run().then((ok) => {
    done = true;
    return ok;
  });
  const answer = module.engine.answer.bind(module.engine);
  module.engine.answer = (slot, at) => {
    const rtt = answer(slot, at);
    // Whatever the run still had to do after the last answer took only promise callbacks, no timer.
    if (engine.counters.answered === 3) setImmediate(() => (doneAtLastAnswer = done));
    return rtt;
  };
  t.equal(await running, true);
  await new Promise((r) => setImmediate(r));
  t.equal(doneAtLastAnswer, true, "settled before the next turn of the event loop");
});
