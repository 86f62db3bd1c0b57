// runProbe: records stream to the reader, and the probe's sockets are closed only after its drive has
// settled, however the iteration ends (done, break, a throw in the reader's loop, the caller's signal).

import t from "tap";
import { ResultQueue } from "../../src/engine/result-queue";
import { runProbe } from "../../src/engine/run-probe";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** A probe that pushes `count` records (waiting for room) and, once stopped, takes `windDownMs` to settle. */
function fakeProbe(count: number, windDownMs: number, signal?: AbortSignal) {
  const queue = new ResultQueue<number>();
  const events: string[] = [];
  let stoppedBy: unknown = null;
  const gen = runProbe(
    queue,
    {
      setup: () => {
        events.push("setup");
      },
      drive: async (stop) => {
        for (let i = 0; i < count; i++) {
          if (stop.aborted) {
            stoppedBy = stop.reason;
            break;
          }
          queue.push(i);
          await queue.waitForRoom(4);
          await sleep(1);
        }
        if (stop.aborted) await sleep(windDownMs); // a send still under way
        events.push("settled");
      },
      close: () => events.push("close"),
    },
    signal,
  );
  return { gen, events, stoppedBy: () => stoppedBy };
}

t.test("the whole run: every record, then close", async (t) => {
  const p = fakeProbe(20, 0);
  const got: number[] = [];
  for await (const r of p.gen) got.push(r);
  t.same(
    got,
    Array.from({ length: 20 }, (_, i) => i),
  );
  t.same(p.events, ["setup", "settled", "close"]);
});

t.test("break: the drive is stopped and has settled before close", async (t) => {
  const p = fakeProbe(1000, 100);
  const started = Date.now();
  for await (const r of p.gen) if (r === 2) break;
  t.same(p.events, ["setup", "settled", "close"], "close after the drive settled");
  t.ok(Date.now() - started >= 95, "the loop ended once the drive had wound down");
  t.match(String(p.stoppedBy()), /the reader stopped/);
});

t.test("break while the drive waits for room: it is released", async (t) => {
  const p = fakeProbe(1000, 0);
  for await (const r of p.gen) {
    if (r === 0) {
      await sleep(50); // the drive fills the queue and waits for room
      break;
    }
  }
  t.same(p.events, ["setup", "settled", "close"]);
});

t.test("a throw in the reader's loop: the same", async (t) => {
  const p = fakeProbe(1000, 50);
  await t.rejects(
    (async () => {
      for await (const r of p.gen) if (r === 1) throw new Error("reader failed");
    })(),
    { message: "reader failed" },
  );
  t.same(p.events, ["setup", "settled", "close"]);
});

t.test("the caller's signal stops the drive; the records so far are read to the end", async (t) => {
  const controller = new AbortController();
  const p = fakeProbe(1000, 30, controller.signal);
  const got: number[] = [];
  for await (const r of p.gen) {
    got.push(r);
    if (r === 3) controller.abort(new Error("interrupted"));
  }
  t.ok(got.length >= 4 && got.length < 1000, `read ${got.length}`);
  t.same(p.events, ["setup", "settled", "close"]);
  t.match(String(p.stoppedBy()), /interrupted/);
});

t.test("a failing setup closes what it opened and runs no drive", async (t) => {
  const queue = new ResultQueue<number>();
  const events: string[] = [];
  const gen = runProbe(queue, {
    setup: () => {
      events.push("setup");
      throw new Error("no such interface");
    },
    drive: async () => {
      events.push("drive");
    },
    close: () => events.push("close"),
  });
  await t.rejects(
    (async () => {
      for await (const _ of gen);
    })(),
    { message: "no such interface" },
  );
  t.same(events, ["setup", "close"]);
});
