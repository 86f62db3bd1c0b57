// -i pins arp and scan to one interface: a target the interface has no route for is not probed out of
// another one. Oracles in the same namespace: arping -i (Habets' arping) for ARP, nmap -e for the scan;
// tcpdump on the other interface shows that nothing left there.

import t from "tap";
import { ipv4ToInt } from "../src/addr/address";
import type { Host, Lab } from "../src/lab";
import { createRouteResolver } from "../src/net/route-resolver";
import { arp } from "../src/probes/arp/arp";
import { scan } from "../src/probes/scan/scan";
import type { ArpRecord, HostRecord, PortRecord } from "../src/records";
import { startCapture } from "./helpers/capture";
import { withLab } from "./helpers/lab";
import { nmapOracle } from "./helpers/nmap";
import { arpingOracle } from "./helpers/oracles";

/** on eth0's segment */
const ETH0_PEER = "198.51.100.11";
/** behind the default gateway, which is on eth0's segment */
const ETH0_ROUTED = "203.0.113.20";
/** on eth1's segment */
const ETH1_PEER = "198.18.0.11";
/** behind a gateway on eth1's segment */
const ETH1_ROUTED = "198.18.1.20";
/** nobody, on eth1's segment */
const ETH1_NOBODY = "198.18.0.99";
/** the node's own address on eth0 */
const NODE_ETH0 = "198.51.100.10";
const TARGETS = [ETH0_PEER, ETH0_ROUTED, ETH1_PEER, ETH1_ROUTED, ETH1_NOBODY, NODE_ETH0];

/**
 *   segment a 198.51.100.0/24: node eth0 .10, peer .11, router r .1 (the node's default gateway)
 *   segment b 203.0.113.0/24:  r .1, far .20
 *   segment c 198.18.0.0/24:   node eth1 .10, peerc .11, router r2 .1 (the node's gateway to 198.18.1.0/24)
 *   segment d 198.18.1.0/24:   r2 .1, behind .20
 */
async function build(lab: Lab): Promise<Host> {
  const [a, b, c, d] = await Promise.all(["a", "b", "c", "d"].map((n) => lab.segment(n)));
  await lab.router("r", [
    [a!, "198.51.100.1/24"],
    [b!, "203.0.113.1/24"],
  ]);
  await lab.router("r2", [
    [c!, "198.18.0.1/24"],
    [d!, "198.18.1.1/24"],
  ]);
  const node = await lab.host("node");
  await node.connect(a!, { address: `${NODE_ETH0}/24` });
  await node.connect(c!, { ifname: "eth1", address: "198.18.0.10/24" });
  await node.route(["default", "via", "198.51.100.1"]);
  await node.route(["198.18.1.0/24", "via", "198.18.0.1"]);
  const hosts: Array<[string, typeof a, string, string | null]> = [
    ["peer", a, `${ETH0_PEER}/24`, null],
    ["far", b, `${ETH0_ROUTED}/24`, "203.0.113.1"],
    ["peerc", c, `${ETH1_PEER}/24`, null],
    ["behind", d, `${ETH1_ROUTED}/24`, "198.18.1.1"],
  ];
  for (const [name, segment, address, gateway] of hosts) {
    const h = await lab.host(name);
    await h.connect(segment!, { address });
    if (gateway) await h.route(["default", "via", gateway]);
  }
  return node;
}

async function records<T>(run: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const r of run) out.push(r);
  return out;
}

t.test("-i pins the probes to one interface", async (t) => {
  const lab = await withLab(t, "ifpin");
  const node = await build(lab);
  const ns = node.ns;

  t.test(
    "arp -i eth1: targets elsewhere are not-on-link there, as arping -i eth1 gets no reply",
    async (t) => {
      const cap = await startCapture(node, "eth0", "arp");
      const got = new Map(
        (await records(arp(TARGETS, { netns: ns, interface: "eth1", timeoutMs: 300 }))).map((r) => [
          r.target,
          r,
        ]),
      );
      const onEth0 = await cap.stop();
      t.equal(onEth0.length, 0, "no ARP request left eth0");
      t.match(got.get(ETH0_PEER), {
        state: "not-on-link",
        interface: "eth1",
        gateway: null,
        sent: 0,
        mac: null,
      } satisfies Partial<ArpRecord>);
      t.match(got.get(ETH0_ROUTED), {
        state: "not-on-link",
        interface: "eth1",
        gateway: "198.51.100.1",
        sent: 0,
      });
      t.match(got.get(ETH1_ROUTED), {
        state: "not-on-link",
        interface: "eth1",
        gateway: "198.18.0.1",
        sent: 0,
      });
      t.match(got.get(ETH1_PEER), { state: "reply", interface: "eth1", source: "198.18.0.10" });
      t.match(got.get(ETH1_NOBODY), { state: "no-reply", interface: "eth1" });
      t.match(got.get(NODE_ETH0), { state: "local", sent: 0 });
      for (const target of [ETH0_PEER, ETH0_ROUTED, ETH1_PEER, ETH1_ROUTED, ETH1_NOBODY]) {
        const oracle = await arpingOracle(node, "eth1", target, { count: 2, timeoutS: 2 });
        t.equal(
          got.get(target)?.state === "reply",
          oracle.replied,
          `${target}: answers on eth1 as for arping`,
        );
      }
    },
  );

  t.test("arp -i eth1 --any-link asks on eth1 only, with arping's verdicts", async (t) => {
    const cap = await startCapture(node, "eth0", "arp");
    const targets = [ETH0_PEER, ETH0_ROUTED, ETH1_PEER];
    const got = await records(
      arp(targets, { netns: ns, interface: "eth1", anyLink: true, timeoutMs: 300, retries: 1 }),
    );
    t.equal((await cap.stop()).length, 0, "no ARP request left eth0");
    for (const r of got) {
      const oracle = await arpingOracle(node, "eth1", r.target, { count: 2, timeoutS: 2 });
      t.equal(r.interface, "eth1");
      t.equal(r.state, oracle.replied ? "reply" : "no-reply", `${r.target}: as arping -i eth1`);
    }
  });

  t.test("scan -i eth1: the same hosts down and the same port states as nmap -e eth1", async (t) => {
    const ports = "22,80";
    const cap = await startCapture(node, "eth0", "");
    const got = await records(scan(TARGETS, { ports, netns: ns, interface: "eth1", timeoutMs: 500 }));
    t.equal((await cap.stop()).length, 0, "nothing left eth0");
    const oracle = await nmapOracle(node, ["-e", "eth1", "-Pn", "-sS", "-n", "-p", ports, ...TARGETS]);
    const hosts = new Map(
      got.filter((r): r is HostRecord => r.type === "host").map((r) => [r.target, r.reason]),
    );
    const portRecords = got.filter((r): r is PortRecord => r.type === "port");
    for (const target of TARGETS) {
      const o = oracle.get(target);
      t.ok(o, `nmap reports ${target}`);
      t.equal(hosts.has(target) ? "down" : "up", o?.status, `${target} is ${o?.status} as nmap -e eth1 says`);
      for (const [port, expected] of Object.entries(o?.ports ?? {})) {
        const mine = portRecords.find((r) => r.target === target && String(r.port) === port);
        t.same(mine && { state: mine.state, reason: mine.reason }, expected, `${target}:${port} as nmap`);
      }
    }
    t.same(
      Object.fromEntries([...hosts].sort()),
      {
        [ETH0_PEER]: "no-route",
        [ETH0_ROUTED]: "no-route",
        [ETH1_NOBODY]: "no-arp-reply",
        [NODE_ETH0]: "no-route",
      },
      "the reasons: no route through eth1, or no ARP reply on it",
    );
    t.same(
      [...new Set(portRecords.map((r) => r.target))].sort(),
      [ETH1_PEER, ETH1_ROUTED],
      "on eth1's segment and behind its gateway: scanned",
    );
  });

  t.test("scan -sT -i eth1: connects only through eth1", async (t) => {
    const got = await records(
      scan([ETH0_PEER, ETH1_PEER], { ports: "22", netns: ns, interface: "eth1", method: "connect" }),
    );
    t.match(
      got.find((r) => r.target === ETH0_PEER),
      { type: "host", state: "down", reason: "no-route" },
    );
    t.match(
      got.find((r) => r.target === ETH1_PEER),
      { type: "port", state: "closed", reason: "conn-refused" },
    );
  });

  t.test("scan -i lo: only this host's own addresses are reachable through the loopback", async (t) => {
    const cap = await startCapture(node, "eth0", "");
    const got = await records(
      scan([ETH0_PEER, "127.0.0.1", NODE_ETH0], { ports: "22", netns: ns, interface: "lo", timeoutMs: 300 }),
    );
    t.equal((await cap.stop()).length, 0, "nothing left eth0");
    t.match(
      got.find((r) => r.target === ETH0_PEER),
      { type: "host", state: "down", reason: "no-route" },
    );
    const oracle = await nmapOracle(node, ["-e", "lo", "-Pn", "-sS", "-n", "-p", "22", "127.0.0.1"]);
    const local = got.find((r): r is PortRecord => r.target === "127.0.0.1" && r.type === "port");
    t.same(local && { state: local.state, reason: local.reason }, oracle.get("127.0.0.1")?.ports["22"]);
    t.match(
      got.find((r) => r.target === NODE_ETH0),
      { type: "port", state: "closed", reason: "reset" },
    );
  });

  t.test("the pinned route resolver names the interface it is pinned to", async (t) => {
    const plain = createRouteResolver(node.nsPath);
    const eth1 = plain.links.find((l) => l.name === "eth1")!;
    plain.close();
    const pinned = createRouteResolver(node.nsPath, { link: eth1 });
    t.teardown(() => pinned.close());
    t.match(pinned.resolve(ipv4ToInt(ETH0_PEER)), {
      kind: "other-link",
      ifname: "eth1",
      route: { kind: "on-link", ifname: "eth0" },
    });
    // The rest of eth0's prefix comes from the cache, with the same answer as the kernel's.
    const lookups = pinned.lookups;
    t.match(pinned.resolve(ipv4ToInt("198.51.100.12")), { kind: "other-link", route: { kind: "on-link" } });
    t.equal(pinned.lookups, lookups, "answered from the cache");
    t.match(pinned.resolve(ipv4ToInt(ETH0_ROUTED)), {
      kind: "other-link",
      route: { kind: "via-gateway", gateway: "198.51.100.1" },
    });
    t.match(pinned.resolve(ipv4ToInt(ETH1_ROUTED)), {
      kind: "via-gateway",
      ifname: "eth1",
      gateway: "198.18.0.1",
    });
    t.match(pinned.resolve(ipv4ToInt("198.18.0.10")), { kind: "local" });
  });
});
