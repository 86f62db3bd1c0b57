// `wireprobe routes` on a large routing table: 10,000 IPv4 host-gw routes and 2,000 IPv6 ones via five gateways.
// Every route gets its record (as `ip -j route show` lists them), and each gateway is asked once however many
// routes go through it: the packets sent are the gateways' requests, not the routes'. (How long it takes: the
// benchmark, bench/routes-table.js.)
//
//   segment nodes 198.51.100.0/24, 2001:db8:1::/64: node1 .11 ::11 (runs the probe), peer2 .12 ::12,
//   peer3 .13; nobody at .99 and ::99

import t from "tap";
import { routes } from "../src/probes/routes/routes";
import type { RouteRecord } from "../src/records";
import { withLab } from "./helpers/lab";

const V4_ROUTES = 10_000;
const V6_ROUTES = 2_000;

t.test("10,000 IPv4 and 2,000 IPv6 routes via five gateways", async (t) => {
  const lab = await withLab(t, { name: "rtbig", ipv6: true });
  const seg = await lab.segment("nodes");
  const node1 = await lab.host("node1");
  await node1.connect(seg, { address: ["198.51.100.11/24", "2001:db8:1::11/64"] });
  const peer2 = await lab.host("peer2");
  const mac2 = (await peer2.connect(seg, { address: ["198.51.100.12/24", "2001:db8:1::12/64"] })).mac;
  const peer3 = await lab.host("peer3");
  const mac3 = (await peer3.connect(seg, { address: ["198.51.100.13/24"] })).mac;

  // 198.18.0.0/15 cut into /29s (16,384 of them); the gateways take turns. IPv6: a /64 each.
  const v4Gateways = ["198.51.100.12", "198.51.100.13", "198.51.100.99"];
  const v6Gateways = ["2001:db8:1::12", "2001:db8:1::99"];
  const lines: string[] = [];
  for (let i = 0; i < V4_ROUTES; i++) {
    const base = 0xc6120000 + i * 8;
    const dst = [base >>> 24, (base >>> 16) & 255, (base >>> 8) & 255, base & 255].join(".");
    lines.push(`route add ${dst}/29 via ${v4Gateways[i % 3]}`);
  }
  for (let i = 0; i < V6_ROUTES; i++)
    lines.push(`route add 2001:db8:1000:${i.toString(16)}::/64 via ${v6Gateways[i % 2]}`);
  await node1.ip(["-batch", "-"], { input: `${lines.join("\n")}\n` });

  const run = routes({ netns: node1.ns, timeoutMs: 500, retries: 1 });
  const records: RouteRecord[] = [];
  for await (const r of run) records.push(r);
  const summary = run.summary!;

  const listed = async (family: 4 | 6) =>
    (
      JSON.parse(
        (await node1.exec("ip", [`-${family}`, "-j", "route", "show", "table", "all"])).stdout,
      ) as Array<{
        gateway?: string;
      }>
    ).filter((r) => r.gateway !== undefined).length;
  t.equal(
    records.filter((r) => r.family === "ipv4").length,
    await listed(4),
    "every IPv4 gateway route ip lists",
  );
  t.equal(
    records.filter((r) => r.family === "ipv6").length,
    await listed(6),
    "every IPv6 gateway route ip lists",
  );
  t.equal(records.length, V4_ROUTES + V6_ROUTES);
  t.same(summary.states, {
    ok: 6_667 + 1_000,
    "no-reply": 3_333 + 1_000,
    "not-on-link": 0,
    conflict: 0,
    "not-probed": 0,
  });
  for (const [gateway, state, macs] of [
    ["198.51.100.12", "ok", [mac2]],
    ["198.51.100.13", "ok", [mac3]],
    ["198.51.100.99", "no-reply", []],
    ["2001:db8:1::12", "ok", [mac2]],
    ["2001:db8:1::99", "no-reply", []],
  ] as const) {
    const through = records.filter((r) => r.gateway === gateway);
    t.ok(
      through.every((r) => r.state === state && r.macs.join() === macs.join()),
      `${gateway}: ${state} for all ${through.length} routes`,
    );
  }
  // Asked once each: one request to each answering gateway, two (one retry) to each silent one.
  t.equal(summary.packetsSent, 1 + 1 + 2 + 1 + 2, "7 requests for 12,000 routes");
  t.equal(summary.packetsReceived, 3);
  t.equal(records.find((r) => r.gateway === "198.51.100.99")?.sent, 2);
});
