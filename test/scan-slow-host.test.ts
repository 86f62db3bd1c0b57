// A slow host scanned together with a fast one must get its own timeout: its answers, 300 ms late, still
// decide its ports, and so does an ICMP host-unreachable that a slow router sends late. nmap (-Pn -sS) in
// the same namespace is the oracle. The delay comes from a relay process (helpers/delay-link.ts): this
// kernel has no netem.

import t, { type Test } from "tap";
import type { Host, Lab } from "../src/lab";
import { scan } from "../src/probes/scan/scan";
import type { HostRecord, PortRecord, SummaryRecord } from "../src/records";
import { connectDelayed } from "./helpers/delay-link";
import { withLab } from "./helpers/lab";
import { nmapOracle } from "./helpers/nmap";

const DELAY_MS = 300;
const SLOW = "198.51.100.21";
const FAST = "198.51.100.22";
/** behind the router, which refuses it with a host-unreachable (sent DELAY_MS late) */
const REFUSED = "203.0.113.200";
const PORTS = "22,30000";

async function listen(host: Host, port: number): Promise<void> {
  host.spawn(
    "python3",
    [
      "-c",
      `import socket,time\ns=socket.socket()\ns.bind(('0.0.0.0',${port}))\ns.listen(8)\ntime.sleep(1e6)`,
    ],
    { stdio: "ignore" },
  );
  for (let i = 0; i < 200; i++) {
    const r = await host.exec("ss", ["-ltnH", `sport = :${port}`], { reject: false });
    if (r.stdout.trim() !== "") return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`nothing listens on ${port} in ${host.ns}`);
}

/**
 *   segment a 198.51.100.0/24: node .10, slow .21 (everything it sends is DELAY_MS late), fast .22,
 *     router r .1 (what it sends on a is DELAY_MS late too)
 *   segment b 203.0.113.0/24: r .1; r rejects 203.0.113.128/25 with host-unreachable
 *   slow: 22 open, 30000 closed; fast: 22 closed, 30000 open
 */
async function build(lab: Lab): Promise<Host> {
  const a = await lab.segment("a");
  const b = await lab.segment("b");
  const router = await lab.host("r");
  await router.sysctl("net.ipv4.ip_forward", "1");
  await connectDelayed(lab, router, a, { address: "198.51.100.1/24", delayMs: DELAY_MS });
  await router.connect(b, { ifname: "eth1", address: "203.0.113.1/24" });
  await router.nft(
    [
      "table ip filter {",
      "  chain forward {",
      "    type filter hook forward priority 0;",
      "    ip daddr 203.0.113.128/25 reject with icmp type host-unreachable",
      "  }",
      "}",
      "",
    ].join("\n"),
  );
  await router.sysctl("net.ipv4.icmp_ratelimit", "0");
  const node = await lab.host("node");
  await node.connect(a, { address: "198.51.100.10/24" });
  await node.route(["default", "via", "198.51.100.1"]);
  const slow = await lab.host("slow");
  await connectDelayed(lab, slow, a, { address: `${SLOW}/24`, delayMs: DELAY_MS });
  const fast = await lab.host("fast");
  await fast.connect(a, { address: `${FAST}/24` });
  await listen(slow, 22);
  await listen(fast, 30000);
  return node;
}

async function collect(run: AsyncIterable<PortRecord | HostRecord>): Promise<Map<string, PortRecord>> {
  const ports = new Map<string, PortRecord>();
  for await (const r of run) {
    if (r.type !== "port") throw new Error(`unexpected host record: ${JSON.stringify(r)}`);
    ports.set(`${r.target}:${r.port}`, r);
  }
  return ports;
}

t.test("slow answers among fast ones", async (t) => {
  const lab = await withLab(t, "slow");
  const node = await build(lab);
  const ns = node.ns;
  const targets = [SLOW, FAST, REFUSED];
  const oracle = await nmapOracle(node, ["-Pn", "-sS", "-n", "-p", PORTS, ...targets]);

  const agrees = (t: Test, got: Map<string, PortRecord>, hosts: readonly string[]) => {
    for (const target of hosts) {
      const ports = oracle.get(target)?.ports ?? {};
      t.same(Object.keys(ports).sort(), ["22", "30000"], `nmap has ${target}'s two ports`);
      for (const [port, expected] of Object.entries(ports)) {
        const mine = got.get(`${target}:${port}`);
        t.same(mine && { state: mine.state, reason: mine.reason }, expected, `${target}:${port} as nmap`);
      }
    }
  };

  t.test("nmap sees the slow host's answers and the late host-unreachable", async (t) => {
    t.same(oracle.get(SLOW)?.ports, {
      "22": { state: "open", reason: "syn-ack" },
      "30000": { state: "closed", reason: "reset" },
    });
    t.same(oracle.get(REFUSED)?.ports["22"], { state: "filtered", reason: "host-unreach" });
  });

  for (const timeoutMs of [5000, undefined]) {
    t.test(`scan -p ${PORTS} SLOW FAST REFUSED, --timeout ${timeoutMs ?? "default"}`, async (t) => {
      const run = scan(targets, { ports: PORTS, netns: ns, ...(timeoutMs ? { timeoutMs } : {}) });
      const got = await collect(run);
      agrees(t, got, targets);
      const slowRtt = got.get(`${SLOW}:22`)?.rttMs ?? 0;
      t.ok(slowRtt >= DELAY_MS, `the slow host's round trip is measured (${slowRtt} ms)`);
      t.equal(got.get(`${REFUSED}:22`)?.reasonIp, "198.51.100.1", "the router's late host-unreachable");
      t.equal((run.summary as SummaryRecord).retransmissions, 0, "nothing was given up and sent again");
    });
  }

  t.test("the slow host alone, and the fast one first in the probe order", async (t) => {
    // The same answers whichever target the permutation puts first: run a few scans with other source ports.
    for (const sourcePort of [40001, 40002, 40003]) {
      const got = await collect(scan([FAST, SLOW], { ports: PORTS, netns: ns, sourcePort }));
      agrees(t, got, [SLOW, FAST]);
    }
    agrees(t, await collect(scan([SLOW], { ports: PORTS, netns: ns })), [SLOW]);
  });
});
