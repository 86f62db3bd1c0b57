// Tests of the native addon against a throwaway two-namespace lab. Runs as root. Nothing is ever added
// to the host namespace: the veth pairs are created inside the lab namespaces.
import { execFileSync, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import * as fs from "node:fs";
import t from "tap";
import { ipv4ToInt } from "../src/addr/address";
import { formatIp, packAddressText } from "../src/addr/ip";
import {
  addonPath,
  META_STRIDE,
  type NativeError,
  type NativeInetSocket,
  type NativePacketSocket,
  native,
  resolveNetns,
} from "../src/native/binding";

// Named like every lab (wp<name>-<4 hex>-), so the test command's leftover check sees what this file leaves.
const prefix = `wpnative-${randomBytes(2).toString("hex")}-`;
const NS_A = `${prefix}a`;
const NS_B = `${prefix}b`;
const A = `/run/netns/${NS_A}`;
const B = `/run/netns/${NS_B}`;
const IP_A = "198.51.100.1";
const IP_B = "198.51.100.2";
const OFF_LINK = "198.51.100.200"; // outside the /25 on the veth
const IP6_A = "2001:db8:1::1";
const IP6_B = "2001:db8:1::2";
const OFF_LINK6 = "2001:db8:99::9"; // behind IP6_B
const VETH_A = "wpv-a";
const VETH_B = "wpv-b";
const SPARE_A = "wpx-a"; // up, no IPv4 address, no route
const ETH_P_ALL = 0x0003;
const ETH_P_ARP = 0x0806;

function ip(...args: string[]): string {
  return execFileSync("ip", args, { encoding: "utf8", stdio: ["ignore", "pipe", "pipe"] });
}

function destroyLab(): void {
  for (const ns of [NS_A, NS_B]) {
    try {
      ip("netns", "del", ns);
    } catch {
      // not created
    }
  }
}

function buildLab(): void {
  ip("netns", "add", NS_A);
  ip("netns", "add", NS_B);
  ip("-n", NS_A, "link", "add", VETH_A, "type", "veth", "peer", "name", VETH_B, "netns", NS_B);
  ip("-n", NS_A, "link", "add", SPARE_A, "type", "veth", "peer", "name", "wpx-b", "netns", NS_B);
  ip("-n", NS_A, "addr", "add", `${IP_A}/25`, "dev", VETH_A);
  ip("-n", NS_B, "addr", "add", `${IP_B}/25`, "dev", VETH_B);
  for (const [ns, dev] of [
    [NS_A, "lo"],
    [NS_B, "lo"],
    [NS_A, VETH_A],
    [NS_B, VETH_B],
    [NS_A, SPARE_A],
    [NS_B, "wpx-b"],
  ]) {
    ip("-n", ns, "link", "set", dev, "up");
  }
  ip("-n", NS_A, "route", "add", "default", "via", IP_B);
  ip("-n", NS_A, "addr", "add", `${IP6_A}/64`, "dev", VETH_A, "nodad");
  ip("-n", NS_B, "addr", "add", `${IP6_B}/64`, "dev", VETH_B, "nodad");
  ip("-n", NS_A, "-6", "route", "add", "2001:db8:99::/48", "via", IP6_B);
  ip("-n", NS_A, "-6", "route", "add", "prohibit", "2001:db8:66::/48");
}

async function waitOperUp(ns: string, dev: string): Promise<void> {
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    const [link] = JSON.parse(ip("-n", ns, "-j", "link", "show", dev)) as { operstate: string }[];
    if (link?.operstate === "UP") return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${dev} in ${ns} did not come up`);
}

t.teardown(destroyLab);
process.once("exit", destroyLab);
t.before(async () => {
  buildLab();
  await waitOperUp(NS_A, VETH_A);
  await waitOperUp(NS_B, VETH_B);
});

function linkIn(netns: string, name: string) {
  const link = native.listLinks(netns).find((l) => l.name === name);
  if (!link) throw new Error(`no ${name} in ${netns}`);
  return link;
}

const macBytes = (mac: string) => Buffer.from(mac.split(":").map((h) => Number.parseInt(h, 16)));
const ipBytes = (addr: string) => Buffer.from(addr.split(".").map(Number));
const ipNumber = (addr: string) => ipBytes(addr).readUInt32BE(0);

function fdCount(): number {
  return fs.readdirSync("/proc/self/fd").length;
}

function thrown(fn: () => unknown): NativeError {
  try {
    fn();
  } catch (err) {
    return err as NativeError;
  }
  throw new Error("expected an exception");
}

interface Packet {
  data: Buffer;
  meta: number[];
  /** which callback delivered it */
  batch: number;
}

type Receiver = NativePacketSocket | NativeInetSocket;

/** Collects packets until `done` says so, re-running `kick` every 200 ms (the first send can race link setup). */
function receiveUntil(
  sock: Receiver,
  done: (p: Packet) => boolean,
  kick: () => void,
  timeoutMs = 5000,
): Promise<{ match: Packet; batches: number; all: Packet[] }> {
  return new Promise((resolve, reject) => {
    const all: Packet[] = [];
    let batches = 0;
    const timer = setInterval(kick, 200);
    const timeout = setTimeout(() => {
      clearInterval(timer);
      sock.stopReceive();
      reject(Object.assign(new Error(`timed out after ${all.length} packets`), { all }));
    }, timeoutMs);
    sock.startReceive((data, meta, count) => {
      batches++;
      for (let i = 0; i < count; i++) {
        const m = Array.from(meta.subarray(i * META_STRIDE, (i + 1) * META_STRIDE));
        const p = { data: data.subarray(m[0], m[0]! + m[1]!), meta: m, batch: batches };
        all.push(p);
        if (done(p)) {
          clearInterval(timer);
          clearTimeout(timeout);
          sock.stopReceive();
          resolve({ match: p, batches, all });
          return;
        }
      }
    });
    kick();
  });
}

// Classic BPF, 8 bytes per instruction in host (little-endian) order.
function insn(code: number, jt: number, jf: number, k: number): Buffer {
  const b = Buffer.alloc(8);
  b.writeUInt16LE(code, 0);
  b[2] = jt;
  b[3] = jf;
  b.writeUInt32LE(k, 4);
  return b;
}
const BPF_LDH_ABS = 0x28;
const BPF_JEQ_K = 0x15;
const BPF_RET_K = 0x06;
/** Accepts ARP replies only: ethertype 0x0806 and opcode 2. */
const arpReplyFilter = Buffer.concat([
  insn(BPF_LDH_ABS, 0, 0, 12),
  insn(BPF_JEQ_K, 0, 3, ETH_P_ARP),
  insn(BPF_LDH_ABS, 0, 0, 20),
  insn(BPF_JEQ_K, 0, 1, 2),
  insn(BPF_RET_K, 0, 0, 0x40000),
  insn(BPF_RET_K, 0, 0, 0),
]);

function arpRequest(srcMac: Buffer, srcIp: string, targetIp: string): Buffer {
  const f = Buffer.alloc(42);
  f.fill(0xff, 0, 6); // broadcast
  srcMac.copy(f, 6);
  f.writeUInt16BE(ETH_P_ARP, 12);
  f.writeUInt16BE(1, 14); // Ethernet
  f.writeUInt16BE(0x0800, 16); // IPv4
  f[18] = 6;
  f[19] = 4;
  f.writeUInt16BE(1, 20); // request
  srcMac.copy(f, 22);
  ipBytes(srcIp).copy(f, 28);
  // target MAC (32..37) stays zero
  ipBytes(targetIp).copy(f, 38);
  return f;
}

function checksum(buf: Buffer): number {
  let sum = 0;
  for (let i = 0; i + 1 < buf.length; i += 2) sum += buf.readUInt16BE(i);
  if (buf.length % 2) sum += buf[buf.length - 1]! << 8;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return ~sum & 0xffff;
}

function icmpEcho(id: number, seq: number, payload: Buffer): Buffer {
  const b = Buffer.concat([Buffer.alloc(8), payload]);
  b[0] = 8; // echo request
  b.writeUInt16BE(id, 4);
  b.writeUInt16BE(seq, 6);
  b.writeUInt16BE(checksum(b), 2);
  return b;
}

t.test("monotonicMs is on the process.hrtime scale", async (t) => {
  const before = Number(process.hrtime.bigint()) / 1e6;
  const mono = native.monotonicMs();
  const after = Number(process.hrtime.bigint()) / 1e6;
  t.ok(mono >= before - 1 && mono <= after + 1, `${before} <= ${mono} <= ${after}`);
});

t.test("listLinks in a namespace agrees with ip -j addr", async (t) => {
  const links = native.listLinks(A);
  const ipLinks = JSON.parse(ip("-n", NS_A, "-j", "addr")) as {
    ifindex: number;
    ifname: string;
    mtu: number;
    address?: string;
    link_type: string;
    addr_info: { family: string; local: string; prefixlen: number; broadcast?: string }[];
  }[];
  t.equal(links.length, ipLinks.length, "same number of links");
  for (const expected of ipLinks) {
    const link = links.find((l) => l.index === expected.ifindex);
    t.ok(link, `link ${expected.ifname}`);
    if (!link) continue;
    t.equal(link.name, expected.ifname);
    t.equal(link.mtu, expected.mtu);
    t.equal(link.mac, expected.address ?? null, `${link.name} mac`);
    const got = link.addresses.map((a) => `${a.family}/${a.address}/${a.prefixLength}/${a.broadcast}`).sort();
    const want = expected.addr_info
      .map((a) => `${a.family === "inet" ? 4 : 6}/${a.local}/${a.prefixlen}/${a.broadcast ?? null}`)
      .sort();
    t.same(got, want, `${link.name} addresses`);
  }
  const veth = links.find((l) => l.name === VETH_A)!;
  t.match(veth, { up: true, hwType: 1, mac: /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/ });
  t.ok(
    veth.addresses.some(
      (a) => a.family === 4 && a.address === IP_A && a.prefixLength === 25 && a.scope === 0,
    ),
  );
  const lo = links.find((l) => l.name === "lo")!;
  t.match(lo, { index: 1, hwType: 772, mac: "00:00:00:00:00:00" });
  t.ok(
    native.listLinks().some((l) => l.name === "lo"),
    "the caller's namespace",
  );
});

t.test("routeGet", async (t) => {
  const veth = linkIn(A, VETH_A);

  t.test("on-link destination: no gateway, the namespace's own interface name", async (t) => {
    const r = native.routeGet(IP_B, { netns: A });
    t.match(r, {
      type: "unicast",
      ifindex: veth.index,
      ifname: VETH_A,
      gateway: null,
      prefsrc: IP_A,
      dst: IP_B,
      dstLength: 32,
    });
  });

  t.test("off-link destination goes via the default gateway", async (t) => {
    t.match(native.routeGet(OFF_LINK, { netns: A }), { type: "unicast", ifname: VETH_A, gateway: IP_B });
    t.match(native.routeGet(OFF_LINK, { netns: A, fibMatch: true }), {
      gateway: IP_B,
      dst: "0.0.0.0",
      dstLength: 0,
      ifname: VETH_A,
    });
    t.match(native.routeGet(IP_B, { netns: A, fibMatch: true }), { dst: "198.51.100.0", dstLength: 25 });
  });

  t.test("the answer's addresses come as numbers too, and a destination may be one", async (t) => {
    const v4 = (s: string) => ({ family: 4, v4: ipv4ToInt(s) });
    const viaText = native.routeGet(OFF_LINK, { netns: A });
    t.same(native.routeGet(ipv4ToInt(OFF_LINK), { netns: A }), viaText, "the number asks the same question");
    t.same(viaText.gatewayIp, v4(IP_B));
    t.same(viaText.prefsrcIp, v4(viaText.prefsrc!));
    t.same(viaText.dstIp, v4(OFF_LINK));
    const onLink = native.routeGet(IP_B, { netns: A });
    t.equal(onLink.gatewayIp, null);
    t.same(native.routeGet(OFF_LINK, { netns: A, fibMatch: true }).dstIp, v4("0.0.0.0"), "the default route");
    const veth = native.listLinks(A).find((l) => l.name === VETH_A)!;
    for (const a of veth.addresses) {
      if (a.family === 4) t.same(a.ip, v4(a.address), `link address ${a.address}`);
      else t.equal(formatIp(a.ip), a.address, `link address ${a.address}`);
    }
  });

  t.test("own address is local", async (t) => {
    t.match(native.routeGet(IP_A, { netns: A }), { type: "local", ifname: "lo" });
  });

  t.test("src hint", async (t) => {
    t.match(native.routeGet(IP_B, { netns: A, src: IP_A }), { ifname: VETH_A, prefsrc: IP_A });
  });

  t.test("no route throws ENETUNREACH", async (t) => {
    const err = thrown(() => native.routeGet(OFF_LINK, { netns: B }));
    t.match(err, { code: "ENETUNREACH", errno: 101, syscall: "RTM_GETROUTE" });
    t.match(err.message, /^RTM_GETROUTE: .*\(ENETUNREACH\)/);
  });

  t.test("fibMatch with an oif that has no route for the target throws", async (t) => {
    const spare = linkIn(A, SPARE_A);
    // Without fibMatch the kernel assumes the destination is on-link there.
    t.match(native.routeGet(IP_B, { netns: A, oif: spare.index }), { ifname: SPARE_A, gateway: null });
    const err = thrown(() => native.routeGet(IP_B, { netns: A, oif: spare.index, fibMatch: true }));
    t.ok(["ENETUNREACH", "EHOSTUNREACH"].includes(err.code), `code ${err.code}`);
    t.equal(typeof err.errno, "number");
  });

  t.test("IPv6 destinations: text, 16 bytes or an IpAddress ask the same AF_INET6 question", async (t) => {
    const v6 = (s: string) => ({ family: 6 as const, bytes: Buffer.from(packAddressText([s])) });
    const onLink = native.routeGet(IP6_B, { netns: A });
    t.match(onLink, { type: "unicast", ifindex: veth.index, ifname: VETH_A, gateway: null, prefsrc: IP6_A });
    t.match(onLink, { dst: IP6_B, dstLength: 128 });
    t.same(onLink.prefsrcIp, v6(IP6_A), "the source as its bytes");
    t.same(onLink.dstIp, v6(IP6_B));
    t.equal(onLink.gatewayIp, null);
    const bytes = packAddressText([IP6_B]);
    t.same(native.routeGet(bytes, { netns: A }), onLink, "the 16 bytes ask the same question");
    t.same(native.routeGet(v6(IP6_B), { netns: A }), onLink, "an IpAddress asks the same question");
    t.same(await native.routeGetAsync(bytes, { netns: A }), onLink, "and off the JS thread");
    const via = native.routeGet(OFF_LINK6, { netns: A });
    t.match(via, { type: "unicast", ifname: VETH_A, gateway: IP6_B, prefsrc: IP6_A });
    t.same(via.gatewayIp, v6(IP6_B), "the gateway as its bytes");
    t.match(native.routeGet(OFF_LINK6, { netns: A, fibMatch: true }), {
      dst: "2001:db8:99::",
      dstLength: 48,
      gateway: IP6_B,
    });
    t.match(native.routeGet(IP6_A, { netns: A }), { type: "local" }, "own address");
    t.match(native.routeGet(IP6_B, { netns: A, src: IP6_A }), { prefsrc: IP6_A }, "src hint of the family");
    // An IPv6 prohibit route answers with its error, as `ip -6 route get` shows it.
    t.match(
      thrown(() => native.routeGet("2001:db8:66::1", { netns: A })),
      { code: "EACCES" },
      "prohibit",
    );
    t.match(native.routeGet(IP6_B, { netns: A, oif: veth.index, fibMatch: true }), {
      dst: "2001:db8:1::",
      dstLength: 64,
    });
    const err = thrown(() => native.routeGet(OFF_LINK6, { netns: B }));
    t.match(err, { code: "ENETUNREACH", syscall: "RTM_GETROUTE" }, "no IPv6 route: ENETUNREACH");
    const nl = new native.Netlink(A);
    try {
      t.same(nl.routeGet(bytes), onLink, "a handle takes the bytes too");
      t.same(await nl.routeGetAsync(v6(OFF_LINK6)), via);
    } finally {
      nl.close();
    }
  });

  t.test("bad input is a TypeError", async (t) => {
    t.throws(() => native.routeGet("198.51.100"), TypeError);
    t.throws(() => native.routeGet("198.51.100.300"), TypeError);
    t.throws(() => native.routeGet("2001:db8::1::2"), TypeError);
    // an IPv6 address may be given as its 16 bytes, and only as exactly 16
    t.throws(() => native.routeGet(new Uint8Array(15)), TypeError);
    t.throws(() => native.routeGet(new Uint8Array(4)), TypeError);
    t.throws(() => native.routeGet({ family: 6, bytes: "2001:db8::1" } as unknown as string), TypeError);
    t.throws(() => native.routeGet({ family: 5, v4: 1 } as unknown as string), TypeError);
    t.throws(() => native.routeGet(IP_B, { src: IP6_A }), TypeError, "src of the other family");
    // an IPv4 address may also be given as its number, but only an unsigned 32-bit integer
    t.throws(() => native.routeGet(-1), TypeError);
    t.throws(() => native.routeGet(2 ** 32), TypeError);
    t.throws(() => native.routeGet(1.5), TypeError);
    t.throws(() => native.routeGet({} as unknown as string), TypeError);
    t.throws(() => native.routeGet(IP_B, { src: "nope" }), TypeError);
    t.throws(() => native.routeGet(IP_B, { oif: -1 }), TypeError);
    t.throws(() => native.routeGet(IP_B, { netns: "" }), TypeError);
  });
});

t.test("PacketSocket: hand-built ARP request gets a reply through an ARP filter", async (t) => {
  const veth = linkIn(A, VETH_A);
  const peer = linkIn(B, VETH_B);
  const sock = new native.PacketSocket({
    ifindex: veth.index,
    protocol: ETH_P_ALL,
    netns: A,
    filter: arpReplyFilter,
  });
  t.teardown(() => sock.close());
  t.ok(sock.fd >= 0);
  const frame = arpRequest(macBytes(veth.mac!), IP_A, IP_B);
  t.equal(frame.length, 42);
  const start = native.monotonicMs();
  const { match, all } = await receiveUntil(
    sock,
    (p) => p.data.readUInt16BE(20) === 2 && p.data.subarray(28, 32).equals(ipBytes(IP_B)),
    () => t.equal(sock.send([frame]), 1),
  );
  const end = native.monotonicMs();
  for (const p of all) {
    t.equal(p.data.readUInt16BE(12), ETH_P_ARP, "the filter lets only ARP through");
    t.equal(p.data.readUInt16BE(20), 2, "... and only replies");
  }
  t.same(match.data.subarray(22, 28), macBytes(peer.mac!), "sender MAC is the peer's");
  t.same(match.data.subarray(0, 6), macBytes(veth.mac!), "sent to us");
  t.equal(match.meta[3], 0, "PACKET_HOST");
  t.equal(match.meta[1], match.data.length);
  t.ok(match.meta[4]! >= 42 && match.meta[4] === match.meta[1], "wire length");
  const ts = match.meta[2]!;
  t.ok(ts >= start - 1 && ts <= end + 1, `timestamp ${ts} within [${start}, ${end}]`);
  t.ok(Math.abs(ts - Number(process.hrtime.bigint()) / 1e6) < 5000, "comparable with hrtime");
  const stats = sock.stats();
  t.ok(stats.packets >= 1, `stats ${JSON.stringify(stats)}`);
  t.equal(stats.drops, 0);
});

t.test("PacketSocket: the filter is in place before the first packet", async (t) => {
  const veth = linkIn(A, VETH_A);
  const dropAll = insn(BPF_RET_K, 0, 0, 0);
  const sink = new native.PacketSocket({
    ifindex: veth.index,
    protocol: ETH_P_ALL,
    netns: A,
    filter: dropAll,
  });
  const sender = new native.PacketSocket({ ifindex: veth.index, protocol: 0, netns: A, sndbuf: 1 << 20 });
  t.teardown(() => {
    sink.close();
    sender.close();
  });
  let received = 0;
  sink.startReceive((_d, _m, count) => {
    received += count;
  });
  const frame = arpRequest(macBytes(veth.mac!), IP_A, IP_B);
  t.equal(sender.send(Array.from({ length: 20 }, () => frame)), 20);
  await new Promise((r) => setTimeout(r, 300));
  t.equal(received, 0, "nothing delivered");
  // Filtered-out packets are not even counted, so none slipped in between socket() and bind().
  t.same(sink.stats(), { packets: 0, drops: 0 });
});

t.test("PacketSocket: timestamps are monotonic across a batch", async (t) => {
  const veth = linkIn(A, VETH_A);
  const sock = new native.PacketSocket({
    ifindex: veth.index,
    protocol: ETH_P_ARP,
    netns: A,
    filter: arpReplyFilter,
  });
  t.teardown(() => sock.close());
  const frame = arpRequest(macBytes(veth.mac!), IP_A, IP_B);
  const start = native.monotonicMs();
  const { all } = await receiveUntil(
    sock,
    (_p) => false,
    () => t.equal(sock.send(Array.from({ length: 10 }, () => frame)), 10),
    1000,
  ).catch((err: Error & { all?: Packet[] }) => ({ all: err.all ?? [] }));
  const end = native.monotonicMs();
  t.ok(all.length >= 10, `${all.length} replies`);
  const stamps = all.map((p) => p.meta[2]!);
  for (let i = 1; i < stamps.length; i++) t.ok(stamps[i]! >= stamps[i - 1]!, "non-decreasing");
  t.ok(
    stamps.every((ts) => ts >= start - 1 && ts <= end + 1),
    "within the test's window",
  );
});

t.test("InetSocket raw ICMP gets an echo reply from the other namespace", async (t) => {
  const sock = new native.InetSocket({ type: "raw", protocol: 1, netns: A });
  t.teardown(() => sock.close());
  const id = 0x5750;
  let seq = 0;
  const { match } = await receiveUntil(
    sock,
    (p) => {
      const ihl = (p.data[0]! & 0x0f) * 4;
      return p.data[ihl] === 0 && p.data.readUInt16BE(ihl + 4) === id;
    },
    () => t.equal(sock.send([icmpEcho(id, ++seq, Buffer.from("wireprobe"))], packAddressText([IP_B])), 1),
  );
  t.equal(match.meta[3], ipNumber(IP_B));
  t.equal(match.meta[3], 0xc6336402);
  t.equal(match.meta[4], 0, "raw sockets have no port");
  t.equal(match.data[9], 1, "IP protocol ICMP");
  const ihl = (match.data[0]! & 0x0f) * 4;
  t.equal(match.data.subarray(ihl + 8).toString(), "wireprobe");
  t.equal(checksum(match.data.subarray(ihl)), 0, "reply checksum verifies");
  t.match(sock.stats(), { packets: Number, drops: 0 });
});

t.test("InetSocket raw with IP_HDRINCL and SO_BINDTODEVICE", async (t) => {
  const sock = new native.InetSocket({ type: "raw", protocol: 1, netns: A, hdrincl: true, device: VETH_A });
  t.teardown(() => sock.close());
  const id = 0x5751;
  const icmp = icmpEcho(id, 1, Buffer.from("hdrincl"));
  const hdr = Buffer.alloc(20);
  hdr[0] = 0x45;
  hdr.writeUInt16BE(20 + icmp.length, 2);
  hdr[8] = 64;
  hdr[9] = 1;
  ipBytes(IP_A).copy(hdr, 12);
  ipBytes(IP_B).copy(hdr, 16);
  hdr.writeUInt16BE(checksum(hdr), 10);
  const packet = Buffer.concat([hdr, icmp]);
  const { match } = await receiveUntil(
    sock,
    (p) => p.data[20] === 0 && p.data.readUInt16BE(24) === id,
    () => sock.send([packet], packAddressText([IP_B])),
  );
  t.equal(match.meta[3], ipNumber(IP_B));
  t.throws(() => new native.InetSocket({ type: "dgram", protocol: 17, hdrincl: true }), TypeError);
  const err = thrown(
    () => new native.InetSocket({ type: "raw", protocol: 1, netns: A, device: "nosuchdev0" }),
  );
  t.equal(err.code, "ENODEV");
});

t.test("InetSocket dgram UDP exchange", async (t) => {
  const server = new native.InetSocket({
    type: "dgram",
    protocol: 17,
    netns: B,
    bindAddress: IP_B,
    bindPort: 0,
  });
  const client = new native.InetSocket({ type: "dgram", protocol: 17, netns: A, device: VETH_A });
  t.teardown(() => {
    server.close();
    client.close();
  });
  const serverAddr = server.localAddress();
  t.equal(serverAddr.address, IP_B);
  t.ok(serverAddr.port > 0);

  const request = await receiveUntil(
    server,
    (p) => p.data.toString() === "ping",
    () => client.send([Buffer.from("ping")], packAddressText([IP_B]), [serverAddr.port]),
  );
  const clientAddr = client.localAddress();
  t.ok(clientAddr.port > 0, "bound by the first send");
  t.equal(request.match.meta[3], ipNumber(IP_A));
  t.equal(request.match.meta[3], 3325256705);
  t.equal(request.match.meta[4], clientAddr.port);

  const reply = await receiveUntil(
    client,
    (p) => p.data.toString() === "pong",
    () => server.send([Buffer.from("pong")], packAddressText([IP_A]), [request.match.meta[4]!]),
  );
  t.equal(reply.match.meta[3], ipNumber(IP_B));
  t.equal(reply.match.meta[4], serverAddr.port);

  // One sendmmsg for many datagrams; they arrive in far fewer callbacks than packets.
  const many = Array.from({ length: 200 }, (_, i) => Buffer.from(`d${i}`));
  const seen = new Set<string>();
  const batch = await receiveUntil(
    server,
    (p) => {
      seen.add(p.data.toString());
      return seen.size === many.length;
    },
    () => {
      if (seen.size === 0)
        client.send(
          many,
          packAddressText(many.map(() => IP_B)),
          many.map(() => serverAddr.port),
        );
    },
  );
  t.equal(seen.size, 200);
  t.ok(batch.batches < 200, `${batch.batches} callbacks for 200 datagrams`);
  // Within one callback the packets are packed back to back in the buffer.
  for (let i = 1; i < batch.all.length; i++) {
    const [prev, cur] = [batch.all[i - 1]!, batch.all[i]!];
    t.equal(cur.meta[0], cur.batch === prev.batch ? prev.meta[0]! + prev.meta[1]! : 0);
  }
  t.match(server.stats(), { drops: 0 });
});

t.test("InetSocket stats count drops (SO_RXQ_OVFL)", async (t) => {
  const server = new native.InetSocket({
    type: "dgram",
    protocol: 17,
    netns: B,
    bindAddress: IP_B,
    rcvbuf: 4096,
  });
  const client = new native.InetSocket({ type: "dgram", protocol: 17, netns: A });
  t.teardown(() => {
    server.close();
    client.close();
  });
  const port = server.localAddress().port;
  const flood = Array.from({ length: 300 }, () => Buffer.alloc(200));
  t.equal(
    client.send(
      flood,
      packAddressText(flood.map(() => IP_B)),
      flood.map(() => port),
    ),
    300,
  );
  await new Promise((r) => setTimeout(r, 100));
  // The drop counter rides on the next packet queued after the drops.
  await receiveUntil(
    server,
    (p) => p.data.toString() === "last",
    () => client.send([Buffer.from("last")], packAddressText([IP_B]), [port]),
  );
  const stats = server.stats();
  t.ok(stats.drops > 0 && stats.drops < 300, `drops ${stats.drops}`);
  t.ok(stats.packets > 0 && stats.packets + stats.drops >= 301, `packets ${stats.packets}`);
  t.same(server.stats(), { packets: 0, drops: 0 }, "counters reset on read");
});

t.test("send arguments are checked", async (t) => {
  const sock = new native.InetSocket({ type: "dgram", protocol: 17, netns: A });
  t.teardown(() => sock.close());
  // Addresses are packed numbers, 4 bytes per packet on an IPv4 socket: anything else is a TypeError that says so.
  const packedError = /addresses must be a Buffer of 4 bytes per packet \(packed IPv4 addresses/;
  t.throws(() => sock.send([Buffer.from("x")], [] as unknown as Uint8Array), packedError);
  t.throws(() => sock.send([Buffer.from("x")], [IP_B] as unknown as Uint8Array, [1]), packedError);
  t.throws(
    () => sock.send([Buffer.from("x")], new Uint16Array(2) as unknown as Uint8Array, [1]),
    packedError,
  );
  t.throws(() => sock.send([Buffer.from("x")], Buffer.alloc(3), [1]), {
    name: "TypeError",
    message: /got 3 bytes for 1 packets/,
  });
  t.throws(() => sock.send([Buffer.from("x")], Buffer.alloc(16), [1]), {
    name: "TypeError",
    message: /got 16 bytes for 1 packets/,
  });
  t.throws(
    () => sock.send([Buffer.from("x"), Buffer.from("y")], packAddressText([IP_B]), [1, 1]),
    /got 4 bytes for 2 packets/,
  );
  t.throws(() => sock.send([Buffer.from("x")], packAddressText([IP_B]), [70000]), TypeError);
  t.throws(() => sock.send(["x" as unknown as Buffer], packAddressText([IP_B]), [1]), TypeError);
  t.equal(sock.send([], Buffer.alloc(0), []), 0);
  const packet = new native.PacketSocket({ ifindex: linkIn(A, VETH_A).index, protocol: 0, netns: A });
  t.teardown(() => packet.close());
  t.throws(() => packet.send("x" as unknown as Buffer[]), TypeError);
  const tooShort = thrown(() => packet.send([Buffer.alloc(4)]));
  t.equal(tooShort.code, "EINVAL");
  t.equal(tooShort.sent, 0);
});

t.test("constructor arguments are checked", async (t) => {
  const New = native.PacketSocket as unknown as new (o?: unknown) => unknown;
  t.throws(() => new New(), TypeError);
  t.throws(() => new New({ protocol: 3 }), TypeError);
  t.throws(() => new New({ ifindex: 1, protocol: 0x10000 }), TypeError);
  t.throws(() => new New({ ifindex: 1, protocol: 3, filter: Buffer.alloc(7) }), TypeError);
  t.throws(() => new New({ ifindex: 1, protocol: 3, netns: 5 }), TypeError);
  const Inet = native.InetSocket as unknown as new (o?: unknown) => unknown;
  t.throws(() => new Inet({ type: "stream", protocol: 6 }), TypeError);
  t.throws(() => new Inet({ type: "dgram", protocol: 17, bindAddress: "x" }), TypeError);
  // A filter the kernel rejects (jump past the end) is an errno error from setsockopt.
  const bad = thrown(() => new New({ ifindex: 1, protocol: 3, filter: insn(BPF_JEQ_K, 5, 5, 0) }));
  t.match(bad, { code: "EINVAL", syscall: "setsockopt(SO_ATTACH_FILTER)" });
});

t.test("namespace errors", async (t) => {
  const missing = `/run/netns/${prefix}missing`;
  for (const [what, fn] of [
    ["PacketSocket", () => new native.PacketSocket({ ifindex: 1, protocol: 3, netns: missing })],
    ["InetSocket", () => new native.InetSocket({ type: "raw", protocol: 1, netns: missing })],
    ["listLinks", () => native.listLinks(missing)],
    ["routeGet", () => native.routeGet(IP_B, { netns: missing })],
  ] as const) {
    const err = thrown(fn);
    t.match(err, { code: "ENOENT", errno: 2, syscall: "open", path: missing }, what);
    t.ok(err instanceof Error);
    t.match(err.message, /\(ENOENT\)/);
  }
  // A file that is not a namespace fails in setns.
  t.match(
    thrown(() => native.listLinks("/etc/hostname")),
    { code: "EINVAL", syscall: "setns" },
  );
});

t.test("close is idempotent and later use is a clear error", async (t) => {
  const veth = linkIn(A, VETH_A);
  const sockets: Receiver[] = [
    new native.PacketSocket({ ifindex: veth.index, protocol: ETH_P_ARP, netns: A }),
    new native.InetSocket({ type: "dgram", protocol: 17, netns: A }),
  ];
  for (const sock of sockets) {
    sock.startReceive(() => {});
    sock.close();
    sock.close();
    t.equal(sock.fd, -1);
    sock.stopReceive();
    sock.ref();
    sock.unref();
    const err =
      sock instanceof native.PacketSocket
        ? thrown(() => sock.send([Buffer.alloc(60)]))
        : thrown(() => (sock as NativeInetSocket).send([Buffer.alloc(4)], packAddressText([IP_B]), [9]));
    t.match(err, { code: "EBADF", syscall: "sendmmsg" });
    t.match(err.message, /socket is closed/);
    t.match(
      thrown(() => sock.startReceive(() => {})),
      { code: "EBADF" },
    );
    t.match(
      thrown(() => sock.stats()),
      { code: "EBADF" },
    );
  }
  t.match(
    thrown(() => (sockets[1] as NativeInetSocket).localAddress()),
    { code: "EBADF" },
  );
});

t.test("100 open/close cycles leak no fd", async (t) => {
  const veth = linkIn(A, VETH_A);
  // Warm up anything lazily opened once per process (libuv, the addon itself).
  new native.InetSocket({ type: "dgram", protocol: 17, netns: A }).close();
  const before = fdCount();
  for (let i = 0; i < 100; i++) {
    const p = new native.PacketSocket({
      ifindex: veth.index,
      protocol: ETH_P_ARP,
      netns: A,
      filter: arpReplyFilter,
    });
    p.startReceive(() => {});
    p.close();
    const r = new native.InetSocket({ type: "raw", protocol: 1, netns: A, filter: arpReplyFilter });
    r.startReceive(() => {});
    r.unref();
    r.close();
    const d = new native.InetSocket({ type: "dgram", protocol: 17, netns: B, bindAddress: IP_B });
    d.close();
    native.listLinks(A);
    native.routeGet(IP_B, { netns: A });
    thrown(() => native.routeGet(OFF_LINK, { netns: B }));
    thrown(() => new native.PacketSocket({ ifindex: 1, protocol: 3, netns: `/run/netns/${prefix}missing` }));
  }
  // Let libuv run the close callbacks of the poll handles.
  await new Promise((r) => setImmediate(r));
  t.equal(fdCount(), before, "fd count unchanged");
});

function runChild(code: string, timeoutMs = 10000) {
  const addon = addonPath;
  return spawnSync(process.execPath, ["--expose-gc", "-e", code], {
    encoding: "utf8",
    timeout: timeoutMs,
    env: { ...process.env, ADDON: addon, NS_A: A },
  });
}

t.test("garbage-collected sockets release their fds", async (t) => {
  const child = runChild(`
    const native = require(process.env.ADDON);
    const count = () => require("fs").readdirSync("/proc/self/fd").length;
    const before = count();
    for (let i = 0; i < 100; i++) {
      new native.InetSocket({ type: "dgram", protocol: 17, netns: process.env.NS_A });
      const p = new native.PacketSocket({ ifindex: 1, protocol: 3, netns: process.env.NS_A });
      p.startReceive(() => {});
      p.stopReceive(); // leaves a libuv handle for the finalizer to close
    }
    const opened = count();
    (async () => {
      for (let i = 0; i < 10 && count() > before; i++) {
        globalThis.gc();
        await new Promise((r) => setTimeout(r, 20));
      }
      console.log(JSON.stringify({ before, opened, after: count() }));
    })();
  `);
  t.equal(child.status, 0, child.stderr);
  const { before, opened, after } = JSON.parse(child.stdout);
  t.ok(opened >= before + 200, `${opened} open`);
  t.equal(after, before, "all closed by finalizers");
});

t.test("a throwing callback becomes an uncaught exception", async (t) => {
  const child = runChild(`
    const native = require(process.env.ADDON);
    const s = new native.InetSocket({ type: "dgram", protocol: 17, netns: process.env.NS_A, bindAddress: "127.0.0.1" });
    process.on("uncaughtException", (err) => {
      console.log("caught " + err.message);
      s.close();
    });
    s.startReceive(() => { throw new Error("boom from callback"); });
    s.send([Buffer.from("x")], Buffer.from([127, 0, 0, 1]), [s.localAddress().port]);
  `);
  t.equal(child.status, 0, child.stderr);
  t.match(child.stdout, /caught boom from callback/);
  const unhandled = runChild(`
    const native = require(process.env.ADDON);
    const s = new native.InetSocket({ type: "dgram", protocol: 17, netns: process.env.NS_A, bindAddress: "127.0.0.1" });
    s.startReceive(() => { throw new Error("boom unhandled"); });
    s.send([Buffer.from("x")], Buffer.from([127, 0, 0, 1]), [s.localAddress().port]);
  `);
  t.not(unhandled.status, 0);
  t.match(unhandled.stderr, /boom unhandled/);
});

t.test("workers can exit or be terminated with sockets open and receiving", async (t) => {
  const child = runChild(`
    const { Worker, isMainThread, parentPort } = require("worker_threads");
    const native = require(process.env.ADDON);
    const workerCode = \`
      const { parentPort } = require("worker_threads");
      const native = require(process.env.ADDON);
      const s = new native.InetSocket({ type: "dgram", protocol: 17, netns: process.env.NS_A, bindAddress: "127.0.0.1" });
      const p = new native.PacketSocket({ ifindex: 1, protocol: 3, netns: process.env.NS_A });
      p.startReceive(() => {});
      s.startReceive((data) => {
        parentPort.postMessage(data.toString());
        if (data.toString() === "exit") process.exit(0);
      });
      parentPort.on("message", (m) => s.send([Buffer.from(m)], Buffer.from([127, 0, 0, 1]), [s.localAddress().port]));
    \`;
    const run = (how) => new Promise((resolve) => {
      const w = new Worker(workerCode, { eval: true });
      w.on("message", (m) => { if (m === "terminate") w.terminate(); });
      w.on("exit", (code) => resolve(how + ":" + code));
      w.postMessage(how);
    });
    (async () => {
      console.log(await run("exit"));
      console.log(await run("terminate"));
    })();
  `);
  t.equal(child.status, 0, child.stderr);
  t.equal(child.signal, null);
  t.match(child.stdout, /exit:0\s+terminate:1/);
});

t.test("ref/unref decide whether a receiving socket keeps the process alive", async (t) => {
  const unrefd = runChild(
    `
    const native = require(process.env.ADDON);
    const s = new native.InetSocket({ type: "dgram", protocol: 17, netns: process.env.NS_A });
    s.startReceive(() => {});
    s.unref();
  `,
    5000,
  );
  t.equal(unrefd.status, 0, "exits by itself when unref'd");
  const refd = runChild(
    `
    const native = require(process.env.ADDON);
    const s = new native.InetSocket({ type: "dgram", protocol: 17, netns: process.env.NS_A });
    s.startReceive(() => {});
  `,
    1500,
  );
  t.equal(refd.signal, "SIGTERM", "still running when killed after the timeout");
});

t.test("resolveNetns", async (t) => {
  t.equal(resolveNetns(undefined), undefined);
  t.equal(resolveNetns(NS_A), A);
  t.equal(resolveNetns(A), A);
  t.equal(resolveNetns("/proc/self/ns/net"), "/proc/self/ns/net");
  for (const bad of [`${prefix}missing`, "/nonexistent/ns", "", ".."]) {
    const err = thrown(() => resolveNetns(bad));
    t.equal(err.code, "ENONS");
    t.equal(err.message, `unknown network namespace "${bad}"`);
  }
});
