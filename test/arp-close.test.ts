// An ARP sweep that ends early (the reader breaks off, or the signal aborts) closes its sockets only once
// no send is under way: no request of the run is on the wire after the run has settled, and a socket opened
// right after (which gets the run's fd number back) does not send the run's frames.
//
// A sweep hands its batches to libuv's thread pool. To make "a send still queued when the run ends"
// certain rather than a matter of microseconds, the test fills the pool with blocked opens of FIFOs right
// after the first record, holds the pool for a while after the run was told to end, and then frees it.

import { readdirSync, readlinkSync } from "node:fs";
import t from "tap";
import { native } from "../src/native/binding";
import type { NativePacketSocket } from "../src/native/types";
import { namespacePath } from "../src/net/namespace";
import { arp } from "../src/probes/arp/arp";
import type { ArpRecord } from "../src/records";
import { startCapture } from "./helpers/capture";
import { withLab } from "./helpers/lab";
import { threadPoolBlocker } from "./helpers/pool-blocker";

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
