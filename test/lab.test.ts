// The lab builder, checked with real traffic. Needs root; touches nothing outside its own namespaces.

import { execFileSync, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import {
  ExecError,
  isLabCidr,
  LAB_NS_PATTERN,
  Lab,
  labPrefixOf,
  listNamespaces,
  OWNER_DIR,
  readOwner,
  sweepStaleLabs,
} from "../src/lab";
import { processAlive } from "../src/lab/netns";
import { startCapture } from "./helpers/capture";
import { withLab } from "./helpers/lab";
import { arpingOracle, parseArping, pingOracle } from "./helpers/oracles";

// ---------------------------------------------------------------------------------------------------------
// The host (initial) namespace, read-only: addresses and routes must be the same after the tests.

function stripVolatile(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(stripVolatile);
  if (value && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([k]) => !/life_time|expires|^used$|stats/.test(k))
        .map(([k, v]) => [k, stripVolatile(v)]),
    );
  }
  return value;
}

function hostNamespaceSnapshot(): { addr: unknown; route: unknown } {
  const read = (args: string[]) => stripVolatile(JSON.parse(execFileSync("ip", args, { encoding: "utf8" })));
  return { addr: read(["-j", "addr"]), route: read(["-j", "route", "show", "table", "all"]) };
}

const hostBefore = hostNamespaceSnapshot();

const labNamespaces = (prefix: string) => listNamespaces().filter((ns) => labPrefixOf(ns) === prefix);
const ipNetnsList = () => execFileSync("ip", ["netns", "list"], { encoding: "utf8" });

/** Parses an Ethernet + IPv4 + ICMP frame: [src, dst, icmp type], or null for anything else. */
function icmpOf(frame: Buffer): [string, string, number] | null {
  if (frame.length < 34 || frame.readUInt16BE(12) !== 0x0800 || frame[23] !== 1) return null;
  const ip = (o: number) => [...frame.subarray(o, o + 4)].join(".");
  const ihl = (frame[14]! & 0x0f) * 4;
  return [ip(26), ip(30), frame[14 + ihl]!];
}

// ---------------------------------------------------------------------------------------------------------

t.test("address guard and arping parser (no lab needed)", async (t) => {
  t.ok(isLabCidr("198.51.100.11/24"));
  t.ok(isLabCidr("203.0.113.1"));
  t.ok(isLabCidr("198.19.255.1/15"));
  t.notOk(isLabCidr("198.51.100.11/16"), "a /16 around a lab address leaves the lab ranges");
  t.notOk(isLabCidr("10.0.0.1/24"));
  t.notOk(isLabCidr("198.20.0.1/24"));
  t.ok(isLabCidr("2001:db8::1/64"), "IPv6: the documentation prefix");
  t.ok(isLabCidr("2001:db8:ffff::1"));
  t.notOk(isLabCidr("2001:db8::1/31"), "a /31 around it leaves 2001:db8::/32");
  t.notOk(isLabCidr("2001:db9::1/64"));
  t.notOk(isLabCidr("fe80::1%eth0"));
  t.match("wpab12cd-0f3e-sw", LAB_NS_PATTERN);
  t.equal(labPrefixOf("wpab12cd-0f3e-host-1"), "wpab12cd-0f3e");
  t.equal(labPrefixOf("wpn-dev0-a"), null);
  t.equal(labPrefixOf("docker"), null);

  const out = [
    "ARPING 198.51.100.12",
    "42 bytes from d6:71:b3:aa:58:90 (198.51.100.12): index=0 time=9.354 usec",
    "42 bytes from 02:00:00:00:00:0B (198.51.100.12): index=1 time=1.5 msec",
    "Timeout",
    "",
    "--- 198.51.100.12 statistics ---",
    "3 packets transmitted, 2 packets received,  33% unanswered (0 extra)",
    "rtt min/avg/max/std-dev = 0.009/0.755/1.500/0.745 ms",
  ].join("\n");
  t.same(parseArping(out), {
    replied: true,
    macs: ["d6:71:b3:aa:58:90", "02:00:00:00:00:0b"],
    sent: 3,
    received: 2,
    rttsMs: [0.009354, 1.5],
  });
  t.equal(parseArping("arping: libnet_init(LIBNET_LINK, nope): No such device\n"), null);
});

t.test("two segments joined by a router, real traffic", async (t) => {
  const lab = await withLab(t, "lab");
  t.match(lab.prefix, /^wplab-[0-9a-f]{4}$/);
  const lan = await lab.segment("lan");
  const wan = await lab.segment("wan");
  const r = await lab.router("r", [
    [lan, "198.51.100.1/24"],
    [wan, "203.0.113.1/24"],
  ]);
  const a = await lab.host("a");
  const b = await lab.host("b");
  const c = await lab.host("c");
  const ia = await a.connect(lan, { address: "198.51.100.11/24", mac: "02:00:00:00:00:11" });
  const ib = await b.connect(lan, { ifname: "lan0", address: ["198.51.100.12/24", "198.51.100.13/24"] });
  await c.connect(wan, { address: "203.0.113.21/24" });
  await a.route(["default", "via", "198.51.100.1"]);
  await b.addRoute("default", "198.51.100.1");
  await c.addRoute("203.0.113.0/24", "203.0.113.1", "eth0").then(
    () => t.fail("a route duplicating the connected one should fail"),
    (err: unknown) => t.type(err, ExecError),
  );
  await c.route(["default", "via", "203.0.113.1"]);

  t.equal(ia.mac, "02:00:00:00:00:11", "the MAC asked for");
  t.match(ib.mac, /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/, "the kernel's MAC, read back");
  t.equal(a.nsPath, `/run/netns/${a.ns}`);
  t.ok(existsSync(a.nsPath));
  t.same(
    [...lab.namespaces].sort(),
    [`${lab.prefix}-sw`, a.ns, b.ns, c.ns, r.ns].sort(),
    "namespaces: switch + hosts + router",
  );
  for (const ns of lab.namespaces) t.match(ipNetnsList(), ns);
  t.notOk(
    execFileSync("ip", ["-j", "link"], { encoding: "utf8" }).includes(lab.prefix),
    "no link in the host ns",
  );
  const owner = readOwner(lab.prefix);
  t.equal(owner?.pid, process.pid, "owner file names this process");

  // the bridges and their ports live in the switch namespace
  const ports = JSON.parse((await lab.switch.exec("bridge", ["-j", "link"])).stdout) as {
    ifname: string;
    master: string;
    state: string;
  }[];
  t.same(ports.map((p) => `${p.master}:${p.state}`).sort(), [
    "br-lan:forwarding",
    "br-lan:forwarding",
    "br-lan:forwarding",
    "br-wan:forwarding",
    "br-wan:forwarding",
  ]);

  // same segment: straight across the bridge, TTL untouched
  const ab = await pingOracle(a, "198.51.100.12");
  t.ok(ab.ok, "a reaches b on the same segment");
  t.equal(ab.ttl, 64);
  t.ok((await pingOracle(b, "198.51.100.11")).ok, "b reaches a");
  t.ok((await pingOracle(a, "198.51.100.13")).ok, "b's second address");

  // across the router: one hop, seen on the router's wan leg
  t.match((await a.exec("ip", ["route", "get", "203.0.113.21"])).stdout, /via 198\.51\.100\.1 dev eth0/);
  const capture = await startCapture(r, "eth1", "icmp");
  const ac = await pingOracle(a, "203.0.113.21", { count: 2 });
  const frames = await capture.stop();
  t.ok(ac.ok, "a reaches c behind the router");
  t.equal(ac.ttl, 63, "one router on the way");
  const icmp = frames.map((f) => icmpOf(f.data));
  t.ok(
    icmp.some((p) => p?.[0] === "198.51.100.11" && p[1] === "203.0.113.21" && p[2] === 8),
    "echo request forwarded out of the router's eth1",
  );
  t.ok(
    icmp.some((p) => p?.[0] === "203.0.113.21" && p[1] === "198.51.100.11" && p[2] === 0),
    "echo reply came back in on eth1",
  );
  t.ok(frames.every((f) => f.timestampMs > Date.now() - 60_000 && f.timestampMs <= Date.now() + 1000));

  // ARP oracle: answers on the segment, silence otherwise
  const arp = await arpingOracle(a, "eth0", "198.51.100.12", { count: 2 });
  t.ok(arp.replied);
  t.same(arp.macs, [ib.mac], "b's MAC answered");
  t.equal(arp.sent, 2);
  const noArp = await arpingOracle(a, "eth0", "198.51.100.99", { count: 1, timeoutS: 2 });
  t.same({ replied: noArp.replied, macs: noArp.macs }, { replied: false, macs: [] });
  await t.rejects(arpingOracle(a, "nope0", "198.51.100.12", { count: 1, timeoutS: 1 }), /arping/);

  // nftables on the router: drop a's pings to c only
  await r.nft(
    [
      "table inet wpfilter {",
      "  chain forward_filter {",
      "    type filter hook forward priority 0; policy accept;",
      "    ip saddr 198.51.100.11 ip daddr 203.0.113.21 icmp type echo-request drop",
      "  }",
      "}",
    ].join("\n"),
  );
  t.match((await r.exec("nft", ["list", "ruleset"])).stdout, /table inet wpfilter/);
  t.notOk((await pingOracle(a, "203.0.113.21", { timeoutS: 1 })).ok, "dropped by the router's nft rule");
  t.ok((await pingOracle(b, "203.0.113.21")).ok, "b is not affected");
  await r.nft("delete table inet wpfilter\n");
  t.ok((await pingOracle(a, "203.0.113.21")).ok, "reachable again without the rule");
  const nftError = await r.nft("this is not nft syntax\n").then(
    () => null,
    (err: unknown) => err,
  );
  t.type(nftError, ExecError, "bad ruleset rejects with an ExecError");
  t.match(
    String((nftError as Error).message),
    /^Command failed \(exit 1\): ip netns exec \S+ nft -f -\nstderr: .*Error/s,
  );
  t.notOk(
    execFileSync("ip", ["-j", "link"], { encoding: "utf8" }).includes(lab.prefix),
    "still nothing outside",
  );
});

t.test("point-to-point links, guards", async (t) => {
  const lab = await withLab(t, "p2p");
  const [x, y] = [await lab.host("x"), await lab.host("y")];
  const [ix, iy] = await x.link(
    y,
    { ifname: "to-y", address: "198.18.0.1/30" },
    { ifname: "to-x", address: "198.18.0.2/30" },
  );
  t.equal(ix.peer, "to-x");
  t.equal(iy.mac, await y.mac("to-x"));
  t.ok((await pingOracle(x, "198.18.0.2")).ok, "x reaches y over the direct link");
  await x.addAddress("to-y", "198.18.1.1/24");
  t.notOk((await pingOracle(y, "198.18.1.1", { timeoutS: 1 })).ok, "no route on y to x's second network");
  await y.addRoute("198.18.1.0/24", "198.18.0.1");
  t.ok((await pingOracle(y, "198.18.1.1")).ok, "routed to x's second address");

  const seg = await lab.segment("s");
  await t.rejects(x.connect(seg, { address: "10.0.0.1/24" }), /refusing lab address/);
  await t.rejects(x.connect(seg, { address: "198.51.100.1/16" }), /refusing lab address/);
  await t.rejects(x.addAddress("to-y", "192.0.2.1/24"), /refusing lab address/);
  await t.rejects(x.connect(seg, { ifname: "a-name-that-is-too-long" }), /invalid interface name/);
  await t.rejects(x.connect(seg, { ifname: "to-y" }), /already has an interface/);
  await t.rejects(x.connect(seg, { mac: "01:00:5e:00:00:01" }), /invalid MAC/);
  await t.rejects(lab.host("sw"), /reserved/);
  await t.rejects(lab.host("x"), /exists already/);
  await t.rejects(lab.segment("a-very-long-segment-name"), /invalid segment name/);
  const unaddressed = await x.connect(seg, { ifname: "bare" });
  t.same(unaddressed.addresses, []);
  t.equal(seg.interfaces.length, 1);
});

t.test("spawn + destroy leaves no process and no namespace", async (t) => {
  const lab = await Lab.create({ name: "spawn" });
  t.teardown(() => lab.destroy());
  const h = await lab.host("h");
  const lan = await lab.segment("lan");
  await h.connect(lan, { address: "198.51.100.30/24" });
  const child = h.spawn("sleep", ["1000"], { stdio: "ignore" });
  // a daemon that escapes tracking: destroy must still find it through the namespace
  const setsid = h.spawn("setsid", ["-f", "sleep", "1001"], { stdio: "ignore" });
  await new Promise((resolve) => setsid.once("exit", resolve));
  const inside = execFileSync("ip", ["netns", "pids", h.ns], { encoding: "utf8" })
    .split(/\s+/)
    .filter(Boolean)
    .map(Number);
  t.ok(
    child.pid !== undefined && inside.includes(child.pid),
    "spawned process runs inside the host namespace",
  );
  t.equal(inside.length, 2, "the spawned sleep and the daemon");
  const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve(signal ?? code)));

  const errors = await lab.destroy();
  t.same(errors, [], "destroy reports no error");
  t.equal(await exited, "SIGTERM", "spawned process ended by SIGTERM");
  for (const pid of inside) t.notOk(processAlive(pid), `pid ${pid} is gone`);
  t.same(labNamespaces(lab.prefix), [], "no namespace left");
  t.notOk(ipNetnsList().includes(lab.prefix), "ip netns list shows none of the lab");
  t.notOk(existsSync(join(OWNER_DIR, lab.prefix)), "owner file released");
  t.ok(lab.destroyed);
  t.same(await lab.destroy(), [], "destroy is idempotent");
  t.same(lab.destroySync(), []);
  await t.rejects(lab.host("late"), /destroyed/);
  t.throws(() => h.spawn("true"), /destroyed/);
});

/** Runs test/helpers/lab-child.ts, resolves with what it printed once its lab is up. */
function startChild(mode: "wait" | "exit") {
  const proc = spawn(
    process.execPath,
    [...process.execArgv, join(__dirname, "helpers", "lab-child.ts"), mode],
    {
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let stdout = "";
  let stderr = "";
  proc.stderr.on("data", (d) => {
    stderr += d;
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    proc.once("exit", (code, signal) => resolve({ code, signal })),
  );
  const info = new Promise<{ prefix: string; namespaces: string[]; sleepPid: number }>((resolve, reject) => {
    proc.stdout.on("data", (d) => {
      stdout += d;
      if (stdout.includes("\n")) resolve(JSON.parse(stdout.split("\n")[0]!));
    });
    void exited.then(() => reject(new Error(`lab-child exited before its lab was up: ${stderr}`)));
  });
  return { proc, info, exited, stderr: () => stderr };
}

for (const sig of ["SIGTERM", "SIGINT"] as const) {
  t.test(`a process killed by ${sig} destroys its labs`, async (t) => {
    const child = startChild("wait");
    t.teardown(() => {
      child.proc.kill("SIGKILL");
    });
    const info = await child.info;
    t.equal(labNamespaces(info.prefix).length, 2, "child lab is up");
    t.ok(processAlive(info.sleepPid));
    child.proc.kill(sig);
    const { signal } = await child.exited;
    t.equal(signal, sig, `child still dies of ${sig} after cleaning up`);
    t.same(labNamespaces(info.prefix), [], "its namespaces are gone");
    t.notOk(processAlive(info.sleepPid), "its spawned process is gone");
    t.notOk(existsSync(join(OWNER_DIR, info.prefix)), "its owner file is gone");
    t.equal(child.stderr(), "", "no cleanup errors");
  });
}

t.test("process.exit() without destroy: the exit hook cleans up", async (t) => {
  const child = startChild("exit");
  const info = await child.info;
  const { code } = await child.exited;
  t.equal(code, 0);
  t.same(labNamespaces(info.prefix), []);
  t.notOk(processAlive(info.sleepPid));
  t.notOk(existsSync(join(OWNER_DIR, info.prefix)));
});

t.test("SIGKILL leaves a stale lab; sweepStaleLabs removes it and spares live labs", async (t) => {
  const live = await withLab(t, "live");
  await live.host("h");
  const child = startChild("wait");
  const info = await child.info;
  child.proc.kill("SIGKILL");
  await child.exited;
  t.same(labNamespaces(info.prefix).sort(), [...info.namespaces].sort(), "SIGKILL leaves the namespaces");
  t.equal(readOwner(info.prefix)?.pid, child.proc.pid, "and the owner file of the dead process");
  t.ok(processAlive(info.sleepPid), "and the process inside");

  const mine = await sweepStaleLabs(new RegExp(`^(${info.prefix}|${live.prefix})-`));
  t.same(mine.errors, []);
  t.same(mine.removed.sort(), [...info.namespaces].sort(), "the dead lab's namespaces are removed");
  t.same(mine.kept.sort(), [...live.namespaces].sort(), "the live lab is kept");
  t.same(labNamespaces(info.prefix), []);
  t.notOk(processAlive(info.sleepPid), "the process inside was killed");
  t.notOk(existsSync(join(OWNER_DIR, info.prefix)), "owner file removed");
  t.equal(labNamespaces(live.prefix).length, 2, "live lab untouched");
});

t.test("the host namespace is unchanged", async (t) => {
  const after = hostNamespaceSnapshot();
  t.same(after.addr, hostBefore.addr, "addresses unchanged");
  t.same(after.route, hostBefore.route, "routes unchanged");
});
