// The agent over many rounds (a short soak; bench/agent-soak.js runs 1,000 and reports RSS and scrape
// latency): one agent in the demo's broken cluster lab, rounds back to back, scraped all along by a client in
// the same namespace. Nothing here is timed. What a leak would break: the open file descriptors after 300
// rounds are those after the first rounds, give or take one round's sockets (every round closes its own), the exposition
// keeps the same series (no label set piles up round after round), every scrape is answered, and the agent
// exits 0 on SIGTERM.

import { readdirSync } from "node:fs";
import t from "tap";
import { buildClusterLab } from "../src/demo/cluster-lab";
import { BIN } from "./helpers/cli";
import { withLab } from "./helpers/lab";

// 300 rounds take about two minutes, more on a loaded machine
t.setTimeout(10 * 60_000);

const ROUNDS = 300;
const LISTEN = "198.51.100.11:9474";

/** The wireprobe_* series of an exposition, as "name{labels}" (values left out). */
function seriesOf(text: string): string[] {
  return text
    .split("\n")
    .filter((l) => l.startsWith("wireprobe_"))
    .map((l) => l.slice(0, l.lastIndexOf(" ")))
    .filter((s) => !s.startsWith("wireprobe_peer_rtt_seconds")) // exists only for a reply: may vary
    .sort();
}

const roundsOf = (text: string) =>
  [...text.matchAll(/^wireprobe_rounds_total\{[^}]*outcome="(ok|failed)"[^}]*\} (\d+)/gm)].reduce(
    (n, m) => n + Number(m[2]),
    0,
  );

t.test(`an agent over ${ROUNDS} rounds: fds flat, the same series, every scrape answered`, async (t) => {
  const lab = await withLab(t, "agentsoak");
  const cluster = await buildClusterLab("broken", lab);
  const node = cluster.node;
  const agent = node.spawn(
    process.execPath,
    [
      BIN,
      "agent",
      "--listen",
      LISTEN,
      "--node-name",
      "node1",
      "--interval",
      "50ms",
      "--nodes",
      cluster.nodes.join(","),
      "--node-port",
      cluster.nodePorts.join(","),
      "--dns",
      cluster.dnsServers.join(","),
      "--dns-name",
      cluster.dnsNames.join(","),
      "--timeout",
      "100",
      "--max-rate",
      "5000",
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let log = "";
  agent.stderr?.setEncoding("utf8").on("data", (d: string) => {
    log = (log + d).slice(-10000);
  });
  const exited = new Promise<number | null>((resolve) => agent.on("exit", (code) => resolve(code)));
  const fds = () => readdirSync(`/proc/${agent.pid}/fd`).length;

  const scrape = async () => {
    const r = await node.exec(
      "curl",
      ["-s", "-S", "-o", "-", "-w", "\n%{http_code}", "--max-time", "10", `http://${LISTEN}/metrics`],
      {
        reject: false,
      },
    );
    const nl = r.stdout.lastIndexOf("\n");
    return { status: Number(r.stdout.slice(nl + 1)), body: r.stdout.slice(0, nl) };
  };

  // until the agent answers and has finished its first rounds
  let first = { status: 0, body: "" };
  for (let i = 0; i < 600 && roundsOf(first.body) < 20; i++) {
    first = await scrape();
    if (first.status !== 200) await new Promise((r) => setTimeout(r, 100));
  }
  t.equal(first.status, 200, `the agent serves /metrics (log: ${log.slice(-500)})`);
  const earlySeries = seriesOf(first.body);
  t.ok(
    earlySeries.length > 20,
    `${earlySeries.length} wireprobe series after ${roundsOf(first.body)} rounds`,
  );
  let earlyFds = 0;
  for (let i = 0; i < 100; i++) earlyFds = Math.max(earlyFds, fds());

  let scrapes = 0;
  let failed = 0;
  let last = first;
  while (roundsOf(last.body) < ROUNDS) {
    const s = await scrape();
    scrapes++;
    if (s.status !== 200) failed++;
    else last = s;
    if (scrapes > 20000) break;
  }
  t.equal(failed, 0, `every scrape answered (${scrapes} scrapes over ${roundsOf(last.body)} rounds)`);
  t.ok(roundsOf(last.body) >= ROUNDS, `${roundsOf(last.body)} rounds`);
  let lateFds = 0;
  for (let i = 0; i < 100; i++) lateFds = Math.max(lateFds, fds());
  // Looked at mid-round too: a round holds up to about ten sockets at once (ARP, the scan, a DNS socket per
  // server, ICMP watchers), so the most of 100 looks moves by that much; a leak of one per round is 300 more.
  t.ok(
    lateFds <= earlyFds + 10,
    `open fds (the most of 100 looks): ${earlyFds} after the first rounds, ${lateFds} after ${ROUNDS} rounds`,
  );
  t.same(seriesOf(last.body), earlySeries, "the same wireprobe series as after the first rounds");
  t.match(
    last.body,
    /^wireprobe_peer_adjacent\{[^}]*address="203\.0\.113\.14"[^}]*state="not-on-link"[^}]*\} 0$/m,
  );
  t.match(last.body, /^wireprobe_rounds_total\{[^}]*outcome="failed"[^}]*\} 0$/m, "no round failed");

  agent.kill("SIGTERM");
  t.equal(await exited, 0, "SIGTERM: exit 0");
});
