// The congestion window (src/engine/congestion.ts): grows with answers, is cut by loss, frees probes that
// timed out, and scales its growth up when few probes get answers (a mostly filtered scan).

import t from "tap";
import { Congestion } from "../../src/engine/congestion";

const options = { initialWindow: 10, maxWindow: 500, initialSsthresh: 75, maxScale: 50 };

t.test("slow start: one more probe per answer until ssthresh, then about one per window", async (t) => {
  const c = new Congestion(options);
  t.equal(c.allowance(), 10);
  c.sent(0, 10, 10, 0);
  t.equal(c.allowance(), 0, "the window is full");
  for (let p = 0; p < 10; p++) c.answered(p, false, 1);
  t.equal(c.window, 20, "ten answers: ten more");
  t.equal(c.allowance(), 20);
  let position = 10;
  while (c.window < 75) {
    c.sent(position, position + 1, 1, 2);
    c.answered(position++, false, 3);
  }
  const before = c.window;
  for (let k = 0; k < Math.round(before); k++) {
    c.sent(position, position + 1, 1, 4);
    c.answered(position++, false, 5);
  }
  t.ok(c.window > before && c.window < before + 1.5, `congestion avoidance: ${before} -> ${c.window}`);
});

t.test("never above the largest window", async (t) => {
  const c = new Congestion({ ...options, initialSsthresh: 100000 });
  for (let p = 0; p < 2000; p++) {
    c.sent(p, p + 1, 1, 0);
    c.answered(p, false, 0);
  }
  t.equal(c.window, 500);
  t.equal(c.peakWindow, 500);
});

t.test("a loss halves the window once per burst", async (t) => {
  const c = new Congestion(options);
  for (let p = 0; p < 30; p++) {
    c.sent(p, p + 1, 1, 0);
    c.answered(p, false, 0);
  }
  t.equal(c.window, 40);
  c.sent(100, 101, 1, 10);
  c.answered(100, true, 10);
  t.equal(c.window, 20, "a retransmitted probe answered: halved");
  c.loss(20);
  t.equal(c.window, 20, "a second loss right after is the same burst");
  c.loss(100);
  t.equal(c.window, 10, "a later loss cuts again");
  t.equal(c.drops, 3);
});

t.test("probes that time out leave the window and scale up the growth", async (t) => {
  const c = new Congestion(options);
  c.sent(0, 10, 10, 0);
  t.equal(c.allowance(), 0);
  c.expire(0);
  t.equal(c.allowance(), 10, "timed out: no longer in flight");
  c.sent(10, 20, 10, 5);
  c.answered(10, false, 6);
  t.equal(c.window, 10 + 11, "1 answer of 11 expected: the increment is scaled by 11");
  c.expire(4);
  t.equal(c.allowance(), 21 - 9, "only batches sent by the deadline expire");
});
