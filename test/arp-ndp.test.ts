// `wireprobe arp` on IPv6 targets: NDP neighbour solicitations, checked against ndisc6 in the same namespace, the
// kernel's own route decision (`ip -6 route get`) and a tcpdump capture in a peer. Addresses from 2001:db8::/32
// only (added with nodad).
//
//   segment a 2001:db8:a::/64 (and 198.51.100.0/24): node ::10 (.10), router ::1 (.1), peer ::11 (.11),
//     dup1 ::50 and dup2 ::50 (the same address on two hosts: a conflict); nobody at ::77
//   segment b 2001:db8:b::/64: router ::1, far ::20
//   node: IPv6 default route via 2001:db8:a::1

import { execFile } from "node:child_process";
import { join } from "node:path";
import t from "tap";
import { formatIpv6, multicastMac, solicitedNodeAddress, toIpv6Bytes } from "../src/addr/ipv6";
import type { Host } from "../src/lab";
import { transportChecksum6 } from "../src/packet/checksum";
import { arp } from "../src/probes/arp/arp";
import type { ArpRecord, SummaryRecord } from "../src/records";
import { startCapture } from "./helpers/capture";
import { withLab } from "./helpers/lab";

const BIN = join(__dirname, "..", "bin", "wireprobe.js");

/** ndisc6's answer: the MACs it printed (several with -m), none when it timed out */
async function ndisc6(host: Host, target: string, ifname: string): Promise<string[]> {
  const r = await host.exec("ndisc6", ["-n", "-m", "-r", "1", "-w", "500", target, ifname], {
    reject: false,
    timeoutMs: 30_000,
  });
  if (r.code !== 0 && !/Timed out|No response/i.test(r.stdout + r.stderr)) {
    throw new Error(`ndisc6 ${target} failed (${r.code}): ${r.stderr || r.stdout}`);
  }
  return [...r.stdout.matchAll(/Target link-layer address: ([0-9A-Fa-f:]{17})/g)].map((m) =>
    m[1]!.toLowerCase(),
  );
}

async function collect(targets: string[], netns: string) {
  const run = arp(targets, { netns, timeoutMs: 500, retries: 1 });
  const got = new Map<string, ArpRecord>();
  for await (const r of run) {
    if (got.has(r.target)) throw new Error(`two records for ${r.target}`);
    got.set(r.target, r);
  }
  return { got, summary: run.summary as SummaryRecord | undefined };
}

function run(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: number }).code ?? 1) : 0;
      resolve({ code: typeof code === "number" ? code : 1, stdout, stderr });
    });
  });
}

t.test("arp over IPv6 (NDP) in a two-segment lab", async (t) => {
  const lab = await withLab(t, { name: "arpndp", ipv6: true });
  const a = await lab.segment("a");
  const b = await lab.segment("b");
  const router = await lab.router("r", [
    [a, ["198.51.100.1/24", "2001:db8:a::1/64"]],
    [b, "2001:db8:b::1/64"],
  ]);
  await router.sysctl("net.ipv6.conf.all.forwarding", "1");
  const node = await lab.host("node");
  const nodeIf = await node.connect(a, { address: ["198.51.100.10/24", "2001:db8:a::10/64"] });
  await node.route(["::/0", "via", "2001:db8:a::1"]);
  const host = async (name: string, seg: typeof a, addresses: string[]) => {
    const h = await lab.host(name);
    const i = await h.connect(seg, { address: addresses });
    return { host: h, mac: i.mac };
  };
  const peer = await host("peer", a, ["198.51.100.11/24", "2001:db8:a::11/64"]);
  const dup1 = await host("dup1", a, ["2001:db8:a::50/64"]);
  const dup2 = await host("dup2", a, ["2001:db8:a::50/64"]);
  await host("far", b, ["2001:db8:b::20/64"]);
  const ns = node.ns;
  const routerMac = await router.mac("eth0");

  t.test("states, MACs and gateways as ndisc6 and the kernel see them; IPv4 in the same run", async (t) => {
    const targets = [
      "198.51.100.11",
      "2001:DB8:A:0::11", // a non-canonical spelling: the record gives RFC 5952 form
      "2001:db8:a::1",
      "2001:db8:a::77",
      "2001:db8:a::50",
      "2001:db8:b::20",
      "2001:db8:a::10",
    ];
    const { got, summary } = await collect(targets, ns);
    // Before any oracle runs: wireprobe neither used nor filled the kernel's neighbour table.
    const neigh = await node.exec("ip", ["-6", "neigh", "show", "dev", "eth0"]);
    t.equal(
      neigh.stdout
        .split("\n")
        .filter((l) => /^2001:db8:/.test(l))
        .join("\n"),
      "",
      "no neighbour entry for a target",
    );
    t.equal(got.size, targets.length, "one record per target");
    t.match(got.get("198.51.100.11"), {
      state: "reply",
      mac: peer.mac,
      protocol: "arp",
      source: "198.51.100.10",
    });
    const expected: Array<[string, ArpRecord["state"], string[]]> = [
      ["2001:db8:a::11", "reply", [peer.mac]],
      ["2001:db8:a::1", "reply", [routerMac]],
      ["2001:db8:a::77", "no-reply", []],
      ["2001:db8:a::50", "reply", [dup1.mac, dup2.mac]],
    ];
    for (const [target, state, macs] of expected) {
      const r = got.get(target)!;
      t.ok(r, `${target}: a record in RFC 5952 form`);
      t.equal(r.state, state, `${target}: ${state}`);
      t.equal(r.protocol, "ndp", `${target}: NDP`);
      t.equal(r.interface, "eth0");
      t.same([...r.macs].sort(), [...macs].sort(), `${target}: the MACs of the hosts that have it`);
      t.equal(r.conflict, macs.length > 1, `${target}: conflict ${macs.length > 1}`);
      t.equal(r.source, "2001:db8:a::10", `${target}: sent from the kernel's preferred source`);
      t.equal(r.gateway, null);
      t.equal(
        r.sent,
        state === "reply" ? 1 : 2,
        `${target}: ${state === "reply" ? "one request" : "one retry"}`,
      );
      if (state === "reply") t.ok(r.rttMs !== null && r.rttMs >= 0, `${target}: an RTT`);
      const oracle = await ndisc6(node, target, "eth0");
      t.equal(
        r.state === "reply",
        oracle.length > 0,
        `${target}: ndisc6 ${oracle.length > 0 ? "answered" : "timed out"} too`,
      );
      t.same([...r.macs].sort(), [...new Set(oracle)].sort(), `${target}: the MACs ndisc6 printed`);
    }
    const far = got.get("2001:db8:b::20")!;
    const route = await node.exec("ip", ["-6", "route", "get", "2001:db8:b::20"]);
    const via = /via (\S+)/.exec(route.stdout)?.[1];
    t.equal(via, "2001:db8:a::1", "the kernel routes it via the router");
    t.match(far, {
      state: "not-on-link",
      gateway: via,
      interface: "eth0",
      sent: 0,
      mac: null,
      protocol: "ndp",
    });
    t.match(got.get("2001:db8:a::10"), { state: "local", sent: 0, protocol: "ndp" });
    t.match(summary, {
      command: "arp",
      targets: 7,
      states: { reply: 4, "no-reply": 1, "not-on-link": 1, local: 1 },
    });
  });

  t.test(
    "the solicitation on the wire: solicited-node group and MAC, source link-layer option",
    async (t) => {
      const cap = await startCapture(peer.host, "eth0", "icmp6");
      await collect(["2001:db8:a::11"], ns);
      const frames = await cap.stop();
      const nodeMac = nodeIf.mac.replaceAll(":", "");
      const ns135 = frames.filter(
        (f) => f.data.readUInt16BE(12) === 0x86dd && f.data[20] === 58 && f.data[54] === 135,
      );
      const ours = ns135.filter((f) => f.data.subarray(6, 12).toString("hex") === nodeMac);
      t.equal(ours.length, 1, "one solicitation from the node");
      const d = ours[0]!.data;
      const target = toIpv6Bytes("2001:db8:a::11");
      const group = solicitedNodeAddress(target);
      t.equal(formatIpv6(group), "ff02::1:ff00:11");
      t.equal(formatIpv6(d, 38), "ff02::1:ff00:11", "to the solicited-node address");
      t.equal(
        d.subarray(0, 6).toString("hex"),
        Buffer.from(multicastMac(group)).toString("hex"),
        "to its MAC",
      );
      t.equal(d.subarray(0, 6).toString("hex"), "3333ff000011", "33:33:ff:00:00:11");
      t.equal(formatIpv6(d, 22), "2001:db8:a::10", "from the node's address");
      t.equal(d[21], 255, "hop limit 255");
      t.equal(formatIpv6(d, 62), "2001:db8:a::11", "asking for the target");
      t.same([d[78], d[79]], [1, 1], "a source link-layer address option");
      t.equal(d.subarray(80, 86).toString("hex"), nodeMac, "with the node's MAC");
      t.equal(
        transportChecksum6(d, 54, d.readUInt16BE(18), d, d, 58, 22, 38),
        0,
        "a correct ICMPv6 checksum",
      );
      const na = frames.filter((f) => f.data[54] === 136 && formatIpv6(f.data, 38) === "2001:db8:a::10");
      t.equal(na.length, 1, "the peer's kernel answered it");
    },
  );

  t.test("pinned to an interface (-i), with and without --any-link", async (t) => {
    const pinned = arp(["2001:db8:a::11", "2001:db8:b::20"], {
      netns: ns,
      interface: "eth0",
      timeoutMs: 500,
    });
    const got = new Map<string, ArpRecord>();
    for await (const r of pinned) got.set(r.target, r);
    t.match(got.get("2001:db8:a::11"), { state: "reply", mac: peer.mac, source: "2001:db8:a::10" });
    t.match(got.get("2001:db8:b::20"), { state: "not-on-link", gateway: "2001:db8:a::1", interface: "eth0" });
    const any = arp(["2001:db8:a::11"], { netns: ns, interface: "eth0", anyLink: true, timeoutMs: 500 });
    for await (const r of any) {
      t.match(r, { state: "reply", mac: peer.mac, source: "2001:db8:a::10", protocol: "ndp" }, "--any-link");
    }
  });

  t.test("--json records and the text report from the CLI", async (t) => {
    const targets = ["2001:db8:a::11", "198.51.100.11", "2001:db8:b::20"];
    const json = await run(process.execPath, [
      BIN,
      "arp",
      "--netns",
      ns,
      "--json",
      "--timeout",
      "500",
      ...targets,
    ]);
    t.equal(json.code, 1, `exit 1, as for IPv4: a target is not on-link ${json.stderr}`);
    const records = json.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { type: string } & Partial<ArpRecord>);
    const byTarget = new Map(records.filter((r) => r.type === "arp").map((r) => [r.target, r]));
    t.same(byTarget.get("2001:db8:a::11"), {
      type: "arp",
      target: "2001:db8:a::11",
      interface: "eth0",
      state: "reply",
      mac: peer.mac,
      macs: [peer.mac],
      conflict: false,
      rttMs: byTarget.get("2001:db8:a::11")?.rttMs,
      source: "2001:db8:a::10",
      gateway: null,
      sent: 1,
      protocol: "ndp",
    });
    t.match(byTarget.get("198.51.100.11"), { state: "reply", protocol: "arp" });
    t.match(byTarget.get("2001:db8:b::20"), {
      state: "not-on-link",
      gateway: "2001:db8:a::1",
      protocol: "ndp",
    });
    t.match(records.at(-1), { type: "summary", command: "arp", targets: 3 });
    const text = await run(process.execPath, [BIN, "arp", "--netns", ns, "--timeout", "500", ...targets]);
    t.equal(text.code, 1);
    const lines = text.stdout.split("\n");
    const order = ["198.51.100.11", "2001:db8:a::11", "2001:db8:b::20"].map((x) =>
      lines.findIndex((l) => l.startsWith(`${x} `)),
    );
    t.ok(
      order.every((i, k) => i > 0 && (k === 0 || i > order[k - 1]!)),
      "IPv4 first, then IPv6, in order",
    );
    t.match(text.stdout, /not on-link: the kernel routes them via 2001:db8:a::1/, "the host-gw explanation");
  });
});
