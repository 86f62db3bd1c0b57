// The connect scan (-sT) in a lab, nmap -sT as the oracle for the states: it keeps at most
// CONNECT_CONCURRENCY connections open at once (a user's descriptor budget), and leaves none behind, whether
// it completes or is aborted. Open connections are counted with `ss` in the prober's namespace while it runs.

import t from "tap";
import type { Host } from "../src/lab";
import { CONNECT_CONCURRENCY } from "../src/probes/connect/connect-scan";
import { scan } from "../src/probes/scan/scan";
import type { PortRecord, SummaryRecord } from "../src/records";
import { withLab } from "./helpers/lab";
import { nmapOracle } from "./helpers/nmap";

const TARGET = "198.51.100.11";
/** 8080 open, 22 closed, the dropped range filtered */
const DROPPED = "20000-20999";
const PORTS = `22,8080,${DROPPED}`;

/** Our connects still waiting for an answer (SYN-SENT) to the dropped range. */
async function connecting(node: Host): Promise<number> {
  const r = await node.exec("ss", ["-tanH", "state", "syn-sent", "dst", TARGET]);
  return r.stdout.split("\n").filter((l) => l.trim() !== "").length;
}

t.test("connect scan: bounded, and no socket left open", async (t) => {
  const lab = await withLab(t, "connect");
  const a = await lab.segment("a");
  const node = await lab.host("node");
  await node.connect(a, { address: "198.51.100.10/24" });
  const target = await lab.host("target");
  await target.connect(a, { address: `${TARGET}/24` });
  await target.nft(
    `table ip filter {\n  chain input {\n    type filter hook input priority 0;\n    tcp dport ${DROPPED} drop\n  }\n}\n`,
  );
  target.spawn("python3", ["-m", "http.server", "8080", "--bind", "0.0.0.0"], { stdio: "ignore" });
  for (let i = 0; (await target.exec("ss", ["-ltnH", "sport = :8080"])).stdout.trim() === ""; i++) {
    if (i > 200) throw new Error("the listener did not start");
    await new Promise((r) => setTimeout(r, 25));
  }
  const ns = node.ns;

  t.test("at most CONNECT_CONCURRENCY at once, the states as nmap -sT's", async (t) => {
    const oracle = await nmapOracle(node, ["-Pn", "-sT", "-n", "-p", PORTS, TARGET]);
    const run = scan(TARGET, { ports: PORTS, netns: ns, method: "connect", rate: 0, timeoutMs: 500 });
    let most = 0;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) most = Math.max(most, await connecting(node));
    })();
    const got = new Map<string, PortRecord>();
    try {
      for await (const r of run) if (r.type === "port") got.set(String(r.port), r);
    } finally {
      sampling = false;
      await sampler;
    }
    t.equal(await connecting(node), 0, "no connection left open");
    t.ok(most <= CONNECT_CONCURRENCY, `at most ${CONNECT_CONCURRENCY} open at once (${most})`);
    t.ok(most >= CONNECT_CONCURRENCY / 2, `the window is used (${most})`);
    const expected = oracle.get(TARGET)!.ports;
    t.equal(Object.keys(expected).length, 1002, "nmap has every port");
    let same = 0;
    for (const [port, e] of Object.entries(expected)) {
      const mine = got.get(port);
      if (mine?.state === e.state && mine.reason === e.reason) same++;
      else t.fail(`port ${port}: ${mine?.state}/${mine?.reason}, nmap ${e.state}/${e.reason}`);
    }
    t.equal(same, 1002, "every port's state and reason as nmap -sT says");
    t.match(run.summary as SummaryRecord, {
      method: "connect",
      probes: 1002,
      states: { open: 1, closed: 1, filtered: 1000 },
      packetsReceived: 2,
      retransmissions: 1000,
    });
  });

  t.test("aborted while connects wait: none left open", async (t) => {
    const controller = new AbortController();
    const run = scan(TARGET, {
      ports: DROPPED,
      netns: ns,
      method: "connect",
      rate: 0,
      timeoutMs: 10_000,
      signal: controller.signal,
    });
    let waiting = 0;
    const watch = (async () => {
      for (let i = 0; i < 400 && waiting === 0; i++) waiting = await connecting(node);
      controller.abort();
    })();
    for await (const _ of run) {
      // nothing comes: every port is dropped
    }
    await watch;
    t.ok(waiting > 0, `connects were waiting when the scan was aborted (${waiting})`);
    t.equal(run.summary?.aborted, true, "the summary says aborted");
    t.equal(await connecting(node), 0, "no connection left open");
  });
});
