// The DNS probe's kernel send times: a send call's queries timed by the timestamps of its first and last datagram.

import t from "tap";
import { QuerySendTimes } from "../../src/probes/dns/send-times";

const stamp = (times: QuerySendTimes, pairs: Array<[number, number]>) =>
  times.stamps(
    Float64Array.from(pairs.map(([id]) => id)),
    Float64Array.from(pairs.map(([, at]) => at)),
    pairs.length,
  );

const queries = (n: number, at: number) => Array.from({ length: n }, () => ({ sentAt: at }));

t.test("a one-query send gets its own timestamp", async (t) => {
  const times = new QuerySendTimes();
  const [q] = queries(1, 100);
  times.sent(7, [q!], 0, 1);
  stamp(times, [[7, 100.25]]);
  t.equal(q!.sentAt, 100.25);
});

t.test("a send's queries lie between its first and last datagram's timestamps", async (t) => {
  const times = new QuerySendTimes();
  const all = queries(6, 100);
  // queries 1..4 went out in one call whose first datagram had id 10
  times.sent(10, all, 1, 5);
  stamp(times, [[10, 100.1]]);
  t.same(
    all.map((q) => q.sentAt),
    [100, 100.1, 100.1, 100.1, 100.1, 100],
    "the first known: every datagram of the call left then or later",
  );
  stamp(times, [
    [11, 100.2],
    [13, 100.4],
  ]);
  t.same(
    all.map((q) => Math.round(q.sentAt * 1000) / 1000),
    [100, 100.1, 100.2, 100.3, 100.4, 100],
    "both known: placed by their order in the call; other ids change nothing",
  );
});

t.test("only the last timestamp: the last query gets it, the others keep theirs", async (t) => {
  const times = new QuerySendTimes();
  const all = queries(3, 100);
  times.sent(0, all, 0, 3);
  stamp(times, [[2, 100.3]]);
  t.same(
    all.map((q) => q.sentAt),
    [100, 100, 100.3],
  );
});

t.test("a timestamp from before the send is another datagram's; ids wrap at 2^32", async (t) => {
  const times = new QuerySendTimes();
  const [q] = queries(1, 100);
  times.sent(5, [q!], 0, 1);
  stamp(times, [[5, 99]]);
  t.equal(q!.sentAt, 100, "kept");
  const pair = queries(2, 200);
  times.sent(2 ** 32 - 1, pair, 0, 2);
  stamp(times, [
    [2 ** 32 - 1, 200.1],
    [0, 200.2],
  ]);
  t.same(
    pair.map((x) => x.sentAt),
    [200.1, 200.2],
  );
});

t.test(
  "without timestamps (NaN id) nothing waits; calls whose timestamps never come are given up",
  async (t) => {
    const times = new QuerySendTimes();
    const [q] = queries(1, 100);
    times.sent(Number.NaN, [q!], 0, 1);
    stamp(times, [[0, 100.5]]);
    t.equal(q!.sentAt, 100, "NaN: the time before the send stays");
    const many = queries(10_000, 1);
    for (let k = 0; k < many.length; k++) times.sent(k, many, k, k + 1);
    stamp(times, [
      [0, 1.5],
      [9_999, 1.5],
    ]);
    t.equal(many[0]!.sentAt, 1, "the oldest was given up");
    t.equal(many[9_999]!.sentAt, 1.5, "the newest gets its timestamp");
  },
);
