// An ARP sweep that ends early (the reader breaks off, or the signal aborts) closes its sockets only once
// no send is under way: no request of the run is on the wire after the run has settled, and a socket opened
// right after (which gets the run's fd number back) does not send the run's frames.
//
// A sweep hands its batches to libuv's thread pool. To make "a send still queued when the run ends"
// certain rather than a matter of microseconds, the test fills the pool with blocked opens of FIFOs right
// after the first record, holds the pool for a while after the run was told to end, and then frees it.

import { execFileSync } from "node:child_process";
import { closeSync, constants, mkdtempSync, openSync, readdirSync, readlinkSync, rmSync } from "node:fs";
import { type FileHandle, open } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { native } from "../src/native/binding";
import type { NativePacketSocket } from "../src/native/types";
import { namespacePath } from "../src/net/namespace";
import { arp } from "../src/probes/arp/arp";
import type { ArpRecord } from "../src/records";
import { startCapture } from "./helpers/capture";
import { withLab } from "./helpers/lab";

const POOL = Number(process.env.UV_THREADPOOL_SIZE) || 4;
/** how long the pool stays blocked after the run was told to end */
const HOLD_MS = 700;

/** fd number → "socket:[inode]" for every socket this process has open */
function socketFds(): Map<number, string> {
  const out = new Map<number, string>();
  for (const name of readdirSync("/proc/self/fd")) {
    try {
      const target = readlinkSync(`/proc/self/fd/${name}`);
      if (target.startsWith("socket:")) out.set(Number(name), target);
    } catch {
      // closed meanwhile
    }
  }
  return out;
}

/**
 * FIFOs without a writer: block() occupies every thread of libuv's pool with an open() of one (it waits for
 * a writer), so work queued afterwards waits; release() opens the write ends and lets everything run.
 * The FIFOs are made beforehand, so block() itself takes no time.
 */
function threadPoolBlocker(): { block(): void; release(): Promise<void> } {
  const dir = mkdtempSync(join(tmpdir(), "wp-pool-"));
  const fifos = Array.from({ length: POOL }, (_, k) => join(dir, `f${k}`));
  for (const f of fifos) execFileSync("mkfifo", [f]);
  let opens: Promise<FileHandle>[] | null = null;
  let released: Promise<void> | null = null;
  return {
    block() {
      opens ??= fifos.map((f) => open(f, "r"));
    },
    release() {
      released ??= (async () => {
        if (opens !== null) {
          // O_NONBLOCK: succeeds at once because a reader is waiting, and wakes it.
          const writers = fifos.map((f) => openSync(f, constants.O_WRONLY | constants.O_NONBLOCK));
          const readers = await Promise.all(opens);
          for (const w of writers) closeSync(w);
          await Promise.all(readers.map((r) => r.close()));
        }
        rmSync(dir, { recursive: true, force: true });
      })();
      return released;
    },
  };
}

t.test("an ARP sweep ended early sends nothing after it has settled", async (t) => {
  const lab = await withLab(t, "arpclose");
  const node = await lab.host("node");
  const resp = await lab.host("resp");
  const [nodeIf] = await node.link(
    resp,
    { ifname: "eth0", address: "198.18.0.1/15" },
    { ifname: "eth0", address: "198.18.0.2/15" },
  );
  // The responder owns the whole /16 (AnyIP): every request of the sweep is answered.
  await resp.ip(["route", "add", "local", "198.19.0.0/16", "dev", "lo", "table", "local"]);
  const nodeMac = nodeIf.mac.replaceAll(":", "");
  const nsPath = namespacePath(node.ns)!;
  const ifindex = native.listLinks(nsPath).find((l) => l.name === "eth0")!.index;

  for (const how of ["break", "abort"] as const) {
    await t.test(`the reader stops (${how})`, async (t) => {
      const cap = await startCapture(node, "eth0", "arp");
      const before = socketFds();
      const controller = new AbortController();
      const run = arp("198.19.0.0/16", { netns: node.ns, rate: 0, retries: 0, signal: controller.signal });
      let runSockets = new Map<number, string>();
      const pool = threadPoolBlocker();
      let blocked = false;
      let records = 0;
      // Freed by the timer below (or at the end of the test, should it fail before).
      t.teardown(() => pool.release());
      for await (const r of run as AsyncIterable<ArpRecord>) {
        records++;
        if (blocked) continue;
        t.equal(r.state, "reply", "the first record is a reply");
        runSockets = new Map([...socketFds()].filter(([fd, s]) => before.get(fd) !== s));
        pool.block();
        blocked = true;
        // Let the sweep queue its next batch behind the blocked pool, then stop it.
        await new Promise((resolve) => setTimeout(resolve, 100));
        setTimeout(() => void pool.release(), HOLD_MS);
        if (how === "break") break;
        controller.abort();
      }
      const settledAt = Date.now();
      t.ok(records >= 1, `records before the end: ${records}`);
      t.equal(run.summary?.aborted, true, "the summary says the sweep was cut short");
      t.ok(runSockets.size > 0, "the run had sockets of its own");
      t.same(
        [...socketFds()].filter(([fd, s]) => runSockets.get(fd) === s),
        [],
        "every socket of the run is closed",
      );

      // Fresh sockets right after: one of them gets the number of the run's packet socket back.
      const fresh: NativePacketSocket[] = [];
      for (let k = 0; k < 4; k++) {
        fresh.push(new native.PacketSocket({ ifindex, protocol: 0, netns: nsPath }));
      }
      t.ok(
        fresh.some((s) => runSockets.has(s.fd)),
        `a fresh socket reuses an fd number of the run (${fresh.map((s) => s.fd)} / ${[...runSockets.keys()]})`,
      );
      // The pool is freed while they are open: a send of the run still queued there would go out now.
      await pool.release();
      await new Promise((resolve) => setTimeout(resolve, 300));
      for (const s of fresh) s.close();

      const frames = await cap.stop();
      const requests = frames.filter(
        (f) => f.data.readUInt16BE(20) === 1 && f.data.subarray(6, 12).toString("hex") === nodeMac,
      );
      t.ok(requests.length > 0, `the sweep's requests were captured (${requests.length})`);
      const late = requests.filter((f) => f.timestampMs > settledAt);
      t.equal(
        late.length,
        0,
        `no request after the run settled (${late.length} late, the first to ${late[0]?.data.subarray(38, 42).join(".")})`,
      );
    });
  }
});
