// A receive error ends only the run that owns the socket: the addon hands it to that socket's onError (with code,
// errno and syscall), never to the process as an uncaughtException, and the process's other sockets go on
// receiving. Runs as root in its own lab.
import { spawnSync } from "node:child_process";
import t from "tap";
import { ipv4ToInt, parseMac } from "../src/addr/address";
import { packAddressText } from "../src/addr/ip";
import type { Host } from "../src/lab";
import { type NativeError, type NativePacketSocket, native } from "../src/native/binding";
import { readArpReply, writeArpRequestFrame } from "../src/packet/arp";
import { type LabTest, withLab } from "./helpers/lab";

const ETH_P_ARP = 0x0806;

interface Link {
  ifname: string;
  address: string;
  peerAddress: string;
}

const LINKS: Link[] = [
  { ifname: "down1", address: "198.51.100.1", peerAddress: "198.51.100.2" },
  { ifname: "gone1", address: "203.0.113.1", peerAddress: "203.0.113.2" },
  { ifname: "keep1", address: "198.18.0.1", peerAddress: "198.18.0.2" },
  { ifname: "child1", address: "198.18.1.1", peerAddress: "198.18.1.2" },
];

async function buildLab(t: LabTest): Promise<{ a: Host }> {
  const lab = await withLab(t, "nerr");
  const a = await lab.host("a");
  const b = await lab.host("b");
  for (const l of LINKS) {
    await a.link(
      b,
      { ifname: l.ifname, address: `${l.address}/24` },
      { ifname: `${l.ifname.slice(0, -1)}2`, address: `${l.peerAddress}/24` },
    );
  }
  return { a };
}

function packetSocket(a: Host, ifname: string): { socket: NativePacketSocket; mac: Buffer; index: number } {
  const link = native.listLinks(a.nsPath).find((l) => l.name === ifname);
  if (!link?.mac) throw new Error(`no ${ifname} in ${a.ns}`);
  const socket = new native.PacketSocket({ ifindex: link.index, protocol: ETH_P_ARP, netns: a.nsPath });
  return { socket, mac: parseMac(link.mac), index: link.index };
}

/** Resolves with the first value `check` returns that is not undefined, polling every 20 ms. */
async function until<T>(what: string, check: () => T | undefined, timeoutMs = 10_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

t.test("a receive error goes to its socket's onError; other sockets keep receiving", async (t) => {
  const { a } = await buildLab(t);
  const uncaught: unknown[] = [];
  const onUncaught = (err: unknown) => uncaught.push(err);
  process.on("uncaughtException", onUncaught);
  t.teardown(() => {
    process.off("uncaughtException", onUncaught);
  });

  const errors = new Map<string, NativeError[]>();
  const received = new Map<string, number>();
  const sockets = new Map<string, ReturnType<typeof packetSocket>>();
  for (const l of LINKS.slice(0, 3)) {
    const s = packetSocket(a, l.ifname);
    sockets.set(l.ifname, s);
    errors.set(l.ifname, []);
    received.set(l.ifname, 0);
    s.socket.startReceive(
      (data, meta, count) => {
        for (let p = 0; p < count; p++) {
          if (readArpReply(data, meta[p * 5]!, meta[p * 5 + 1]!) !== null)
            received.set(l.ifname, received.get(l.ifname)! + 1);
        }
      },
      (err) => errors.get(l.ifname)!.push(err),
    );
  }
  t.teardown(() => {
    for (const s of sockets.values()) s.socket.close();
  });

  await a.ip(["link", "set", "down1", "down"]);
  await a.ip(["link", "del", "gone1"]);
  const down = await until("onError of the socket whose link went down", () => errors.get("down1")![0]);
  const gone = await until("onError of the socket whose link was deleted", () => errors.get("gone1")![0]);
  for (const [what, err] of [
    ["link set down", down],
    ["link deleted", gone],
  ] as const) {
    t.ok(err instanceof Error, `${what}: an Error`);
    t.match(err.code, /^(ENETDOWN|ENXIO)$/, `${what}: code ${err.code}`);
    t.equal(err.syscall, "recvmmsg", `${what}: syscall`);
    t.equal(typeof err.errno, "number", `${what}: errno`);
    t.match(err.message, /^recvmmsg: .* \((ENETDOWN|ENXIO)\)$/);
  }

  // The socket on the third link never saw an error and still gets its answers.
  const keep = sockets.get("keep1")!;
  const frame = Buffer.alloc(42);
  writeArpRequestFrame(frame, 0, keep.mac, ipv4ToInt("198.18.0.1"), ipv4ToInt("198.18.0.2"));
  await until("an ARP reply on the link that stayed up", () => {
    keep.socket.send([frame]);
    return received.get("keep1")! > 0 ? true : undefined;
  });
  await new Promise((r) => setTimeout(r, 200));
  t.same(errors.get("keep1"), [], "no error for the socket whose link stayed up");
  t.equal(errors.get("down1")!.length, 1, "one error per failing socket, then it stops");
  t.equal(errors.get("gone1")!.length, 1);
  t.same(uncaught, [], "nothing reached the process as an uncaughtException");
});

t.test("a throwing callback with onError ends its socket's receiving, not the process", async (t) => {
  const { a } = await buildLab(t);
  const uncaught: unknown[] = [];
  const onUncaught = (err: unknown) => uncaught.push(err);
  process.on("uncaughtException", onUncaught);
  t.teardown(() => {
    process.off("uncaughtException", onUncaught);
  });
  const thrower = new native.InetSocket({
    type: "dgram",
    protocol: 17,
    netns: a.nsPath,
    bindAddress: "127.0.0.1",
  });
  const other = new native.InetSocket({
    type: "dgram",
    protocol: 17,
    netns: a.nsPath,
    bindAddress: "127.0.0.1",
  });
  t.teardown(() => {
    thrower.close();
    other.close();
  });
  const boom = new Error("boom from a callback");
  const errors: unknown[] = [];
  let calls = 0;
  thrower.startReceive(
    () => {
      calls++;
      throw boom;
    },
    (err) => errors.push(err),
  );
  let otherGot = 0;
  other.startReceive(
    (_data, _meta, count) => {
      otherGot += count;
    },
    (err) => errors.push(err),
  );
  const port = thrower.localAddress().port;
  thrower.send([Buffer.from("x"), Buffer.from("y")], packAddressText(["127.0.0.1", "127.0.0.1"]), [
    port,
    port,
  ]);
  await until("onError", () => errors[0]);
  t.equal(errors[0], boom, "onError gets the thrown exception");
  other.send([Buffer.from("z")], packAddressText(["127.0.0.1"]), [other.localAddress().port]);
  await until("the other socket's packet", () => (otherGot > 0 ? true : undefined));
  thrower.send([Buffer.from("again")], packAddressText(["127.0.0.1"]), [port]);
  await new Promise((r) => setTimeout(r, 200));
  t.equal(calls, 1, "the throwing socket stopped receiving");
  t.equal(errors.length, 1, "one error");
  t.same(uncaught, []);
});

t.test("without onError a receive error is still an uncaughtException, with its errno", async (t) => {
  const { a } = await buildLab(t);
  const link = native.listLinks(a.nsPath).find((l) => l.name === "child1")!;
  const addon = require.resolve("../build/Release/wireprobe.node");
  const child = spawnSync(
    process.execPath,
    [
      "-e",
      `
      const { execFileSync } = require("node:child_process");
      const native = require(${JSON.stringify(addon)});
      const s = new native.PacketSocket({ ifindex: ${link.index}, protocol: ${ETH_P_ARP}, netns: ${JSON.stringify(a.nsPath)} });
      process.on("uncaughtException", (err) => {
        console.log(JSON.stringify({ code: err.code, syscall: err.syscall, errno: err.errno }));
        s.close();
      });
      s.startReceive(() => {});
      execFileSync("ip", ["-n", ${JSON.stringify(a.ns)}, "link", "set", "child1", "down"]);
      `,
    ],
    { encoding: "utf8", timeout: 20_000 },
  );
  t.equal(child.status, 0, child.stderr);
  const reported = JSON.parse(child.stdout.trim()) as { code: string; syscall: string; errno: number };
  t.match(reported, { code: /^(ENETDOWN|ENXIO)$/, syscall: "recvmmsg" });
  t.equal(typeof reported.errno, "number");
});
