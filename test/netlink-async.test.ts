// Netlink off the JS thread: the *Async requests run on a libuv worker thread, so a dump of a large routing table
// (20,000 routes here) leaves the event loop free, and they answer exactly what the synchronous requests answer,
// errors included. Runs as root in its own lab.

import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import t from "tap";
import { intToIpv4, ipv4ToInt } from "../src/addr/address";
import type { Host } from "../src/lab";
import { type NativeError, native } from "../src/native/binding";
import type { NativeNetlink } from "../src/native/types";
import { lookupRoute, lookupRouteAsync, lookupRouteVia, lookupRouteViaAsync } from "../src/net/route";
import { createRouteResolver, createRouteResolverAsync } from "../src/net/route-resolver";
import { type LabTest, withLab } from "./helpers/lab";

const ROUTES = 50_000;

async function buildLab(t: LabTest): Promise<Host> {
  const lab = await withLab(t, "nlasync");
  const node = await lab.host("node");
  const peer = await lab.host("peer");
  await node.link(
    peer,
    { ifname: "eth0", address: "198.51.100.1/24" },
    { ifname: "eth0", address: "198.51.100.2/24" },
  );
  await node.link(
    peer,
    { ifname: "eth1", address: "203.0.113.1/24" },
    { ifname: "eth1", address: "203.0.113.2/24" },
  );
  // 50,000 host routes through the peer, a few more in a table of their own, and rules that send to it.
  const lines = Array.from(
    { length: ROUTES },
    (_, i) => `route add 198.18.${i >> 8}.${i & 255}/32 via 198.51.100.2`,
  );
  lines.push(
    "route add 198.19.0.0/16 via 203.0.113.2 table 100",
    "route add blackhole 198.19.1.0/24 table 100",
    "rule add to 198.19.0.0/16 table 100 priority 100",
    "rule add from 203.0.113.0/24 table 100 priority 101",
  );
  await node.exec("ip", ["-batch", "-"], { input: `${lines.join("\n")}\n` });
  return node;
}

// A full collection before each measured call, so that no collection the earlier calls made due falls into it.
setFlagsFromString("--expose-gc");
const collectGarbage = runInNewContext("gc") as () => void;

interface Timed<T> {
  value: T;
  /** how long the call took to answer, ms */
  tookMs: number;
  /** how many times a 1 ms timer fired meanwhile */
  ticks: number;
  /** the timer's largest lateness meanwhile, ms */
  lateMs: number;
}

/** Calls fn while a 1 ms timer runs. */
async function withTimer<T>(fn: () => T | Promise<T>): Promise<Timed<T>> {
  collectGarbage();
  let ticks = 0;
  let lateMs = 0;
  let last = 0;
  let measuring = false;
  const timer = setInterval(() => {
    const now = performance.now();
    if (measuring) {
      ticks++;
      lateMs = Math.max(lateMs, now - last - 1);
    }
    last = now;
  }, 1);
  try {
    // The timer runs before the call, so that its lateness counts from the call on.
    await new Promise((resolve) => setTimeout(resolve, 5));
    measuring = true;
    const start = performance.now();
    last = start;
    const value = await fn();
    const tookMs = performance.now() - start;
    const ticksDuring = ticks;
    // A call that blocked delays the timer's next tick: let it come, to count that lateness too.
    await new Promise((resolve) => setTimeout(resolve, 5));
    return { value, tookMs, ticks: ticksDuring, lateMs };
  } finally {
    clearInterval(timer);
  }
}

function rejection(p: Promise<unknown>): Promise<NativeError> {
  return p.then(
    () => {
      throw new Error("resolved, expected a rejection");
    },
    (err: unknown) => err as NativeError,
  );
}

function thrown(fn: () => unknown): NativeError {
  try {
    fn();
  } catch (err) {
    return err as NativeError;
  }
  throw new Error("did not throw");
}

function errorShape(e: NativeError) {
  return { name: e.name, message: e.message, code: e.code, errno: e.errno, syscall: e.syscall, path: e.path };
}

t.test("a route dump of 50,000 routes, asynchronously, leaves the event loop running", async (t) => {
  const node = await buildLab(t);
  const nl = new native.Netlink(node.nsPath);
  t.teardown(() => nl.close());

  const sync = await withTimer(() => nl.listRoutes());
  const later = await withTimer(() => nl.listRoutesAsync());
  t.comment(
    `sync dump: ${sync.tookMs.toFixed(1)} ms, timer fired ${sync.ticks} times, up to ${sync.lateMs.toFixed(1)} ms late; ` +
      `async dump: ${later.tookMs.toFixed(1)} ms, timer fired ${later.ticks} times, up to ${later.lateMs.toFixed(1)} ms late`,
  );
  t.ok(sync.value.length > ROUTES, `the dump holds every route (${sync.value.length})`);
  t.ok(
    JSON.stringify(later.value) === JSON.stringify(sync.value),
    "the asynchronous dump equals the synchronous one",
  );
  t.equal(sync.ticks, 0, "the synchronous dump holds the timer up until it is done");
  t.ok(later.ticks >= 10, `during the asynchronous dump the timer runs (${later.ticks} times)`);
  t.ok(
    later.lateMs < sync.lateMs / 2,
    `and is never held up long (at most ${later.lateMs.toFixed(1)} ms, ` +
      `against ${sync.lateMs.toFixed(1)} ms by the synchronous dump)`,
  );

  t.same(await nl.listRulesAsync(), nl.listRules(), "rules: the same");
  t.same(await nl.listLinksAsync(), nl.listLinks(), "links: the same");
  t.same(await native.listLinksAsync(node.nsPath), native.listLinks(node.nsPath), "links, without a handle");
});

t.test("routeGetAsync answers as routeGet does", async (t) => {
  const node = await buildLab(t);
  const nl = new native.Netlink(node.nsPath);
  t.teardown(() => nl.close());
  const eth1 = nl.listLinks().find((l) => l.name === "eth1")!;
  const questions: Array<[string, Parameters<NativeNetlink["routeGet"]>[1]]> = [
    ["198.18.3.7", undefined],
    ["198.18.3.7", { fibMatch: true }],
    ["198.19.5.5", { withName: false }],
    ["198.51.100.2", { src: "198.51.100.1" }],
    ["198.51.100.2", { oif: eth1.index }],
    ["198.51.100.1", undefined],
  ];
  for (const [destination, options] of questions) {
    t.same(
      await nl.routeGetAsync(destination, options),
      nl.routeGet(destination, options),
      `${destination} ${JSON.stringify(options ?? {})}`,
    );
    t.same(
      await native.routeGetAsync(destination, { ...options, netns: node.nsPath }),
      native.routeGet(destination, { ...options, netns: node.nsPath }),
      `${destination} ${JSON.stringify(options ?? {})}, without a handle`,
    );
  }

  // Errors: rejected with what the synchronous call throws.
  for (const [destination, options] of [
    ["198.19.1.9", undefined], // blackhole: EINVAL
    ["198.18.200.1", { fibMatch: true }], // nothing matches: ENETUNREACH
  ] as const) {
    const e = await rejection(nl.routeGetAsync(destination, options));
    t.same(
      errorShape(e),
      errorShape(thrown(() => nl.routeGet(destination, options))),
      `${destination}: same error`,
    );
    t.ok(e.code && e.syscall === "RTM_GETROUTE", `${destination}: ${e.message}`);
  }
  const missing = `${node.nsPath}-missing`;
  const gone = await rejection(native.listLinksAsync(missing));
  t.same(
    errorShape(gone),
    errorShape(thrown(() => native.listLinks(missing))),
    "a missing namespace: same error",
  );
  t.match(gone, { code: "ENOENT", syscall: "open", path: missing });
  // Malformed arguments are a TypeError, thrown at once.
  t.throws(() => nl.routeGetAsync("198.18.300.1"), TypeError);
  t.throws(() => native.routeGetAsync("198.18.0.1", { netns: "" }), TypeError);
  t.throws(() => native.listLinksAsync(42 as unknown as string), TypeError);
});

t.test("a handle closed while an asynchronous request is under way", async (t) => {
  const node = await buildLab(t);
  const nl = new native.Netlink(node.nsPath);
  const expected = nl.listRoutes().length;
  const dump = nl.listRoutesAsync();
  const rules = nl.listRulesAsync();
  nl.close();
  t.equal((await dump).length, expected, "the request under way finishes with the whole dump");
  t.ok((await rules).length > 0, "so does the one queued behind it");
  const after = await rejection(nl.listRoutesAsync());
  t.match(after, { code: "EBADF", syscall: "RTM_GETROUTE" }, "a request after close() is refused");
  t.match(after.message, /netlink handle is closed/);
  t.match(
    thrown(() => nl.listLinks()),
    { code: "EBADF", syscall: "RTM_GETLINK" },
  );
});

t.test("the route resolver and lookups, read asynchronously, decide as the synchronous ones", async (t) => {
  const node = await buildLab(t);
  const plain = createRouteResolver(node.nsPath);
  const later = await createRouteResolverAsync(node.nsPath);
  t.teardown(() => {
    plain.close();
    later.close();
  });
  t.same(later.links, plain.links, "the same links");
  const eth1 = plain.links.find((l) => l.name === "eth1")!;
  const pinnedPlain = createRouteResolver(node.nsPath, { link: eth1 });
  const pinnedLater = await createRouteResolverAsync(node.nsPath, { link: eth1 });
  t.teardown(() => {
    pinnedPlain.close();
    pinnedLater.close();
  });
  const sample = [
    ...Array.from({ length: 300 }, (_, i) => ipv4ToInt("198.18.0.0") + i * 67),
    ipv4ToInt("198.19.0.9"),
    ipv4ToInt("198.19.1.9"),
    ipv4ToInt("198.51.100.2"),
    ipv4ToInt("198.51.100.1"),
    ipv4ToInt("203.0.113.2"),
    ipv4ToInt("198.18.200.1"),
  ];
  let differ = 0;
  for (const a of sample) {
    const text = intToIpv4(a);
    const pairs = [
      [plain.resolve(a), later.resolve(a), "resolver"],
      [pinnedPlain.resolve(a), pinnedLater.resolve(a), "pinned resolver"],
    ] as const;
    for (const [x, y, what] of pairs) {
      if (JSON.stringify(x) !== JSON.stringify(y) && differ++ < 10)
        t.fail(`${what} ${text}: ${JSON.stringify([x, y])}`);
    }
  }
  t.equal(differ, 0, `${sample.length} addresses decided alike, pinned and not`);
  for (const text of ["198.18.1.1", "198.19.1.9", "198.51.100.2", "198.18.200.1", "203.0.113.2"]) {
    t.same(await lookupRouteAsync(text, node.nsPath), lookupRoute(text, node.nsPath), `lookupRoute ${text}`);
    t.same(
      await lookupRouteViaAsync(text, eth1, node.nsPath),
      lookupRouteVia(text, eth1, node.nsPath),
      `lookupRouteVia ${text} (eth1)`,
    );
  }
});
