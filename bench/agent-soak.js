#!/usr/bin/env node
// Agent soak: one `wireprobe agent` runs N rounds (default 1,000) against the demo's broken cluster lab while
// a scraper in the same namespace reads /metrics back to back. Reports the agent's RSS and open fds over the
// rounds (flat, or it leaks) and every scrape's latency (the issue asks for each under 100 ms).
//
//   sudo node bench/agent-soak.js [--rounds 1000] [--interval-ms 100] [--scrape-ms 250]
//
// The lab is the demo's broken layout (src/demo/cluster-lab.ts): node1 runs the agent against node1-node4
// (node4 behind a router: not-on-link, its nodePort rejected), nodePort 30000 (open on node2 only), the three
// DNS servers (dns2 disagrees, dns3 refuses) and two names. Every round exercises ARP, the SYN scan, DNS over
// UDP and the verdicts, failures included. RSS and fds are read from /proc/PID (the node process itself,
// not `ip netns exec`), each time the agent's rounds_total passes a multiple of --sample rounds.
"use strict";
const { readFileSync, readdirSync, readlinkSync } = require("node:fs");
const { Lab } = require("../dist/lab");
const { buildClusterLab } = require("../dist/demo/cluster-lab");
const { BIN, numberArg, percentile } = require("./lib");

const ROUNDS = numberArg("rounds", 1000);
const INTERVAL_MS = numberArg("interval-ms", 100);
const SCRAPE_MS = numberArg("scrape-ms", 250);
const SAMPLE = numberArg("sample", 50);
const PORT = 9474;

// Scrapes /metrics every SCRAPE_MS inside the namespace; prints one JSON line per scrape (latency, rounds).
const SCRAPER = `
const http = require("node:http");
const [url, every] = [process.argv[1], Number(process.argv[2])];
const agent = new http.Agent({ keepAlive: false });
function once() {
  const t0 = process.hrtime.bigint();
  http.get(url, { agent }, (res) => {
    let body = "";
    res.setEncoding("utf8").on("data", (d) => (body += d)).on("end", () => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      let rounds = 0;
      for (const m of body.matchAll(/^wireprobe_rounds_total\\{[^}]*\\} (\\d+)/gm)) rounds += Number(m[1]);
      const lag = Number(/^nodejs_eventloop_lag_max_seconds\\{[^}]*\\} ([\\d.e+-]+)/m.exec(body)?.[1] ?? NaN) * 1000;
      const heap = Number(/^nodejs_heap_size_used_bytes\\{[^}]*\\} ([\\d.e+-]+)/m.exec(body)?.[1] ?? NaN);
      process.stdout.write(JSON.stringify({ ms, status: res.statusCode, bytes: body.length, rounds, lag, heap }) + "\\n");
      setTimeout(once, every);
    });
  }).on("error", (e) => { process.stdout.write(JSON.stringify({ error: e.message }) + "\\n"); setTimeout(once, every); });
}
once();
`;

/** The PID of the node process under `ip netns exec` (exec replaces ip with node: same pid). */
function vm(pid) {
  const status = readFileSync(`/proc/${pid}/status`, "utf8");
  const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1]);
  const fds = readdirSync(`/proc/${pid}/fd`).length;
  const sockets = readdirSync(`/proc/${pid}/fd`).filter((f) => {
    try {
      return readlinkSync(`/proc/${pid}/fd/${f}`).startsWith("socket:");
    } catch {
      return false;
    }
  }).length;
  return { rssKb, fds, sockets };
}

async function main() {
  if (process.getuid?.() !== 0) {
    console.error("agent-soak: run as root (it builds a lab of network namespaces)");
    process.exit(3);
  }
  const lab = await Lab.create({ name: "soak" });
  const stop = () => {
    lab.destroySync();
    process.exit(130);
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  try {
    const cluster = await buildClusterLab("broken", lab);
    const node = cluster.node;
    const listen = "198.51.100.11";
    const agentArgs = [
      // e.g. SOAK_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" to see where a round's time goes
      ...(process.env.SOAK_NODE_ARGS ?? "").split(" ").filter(Boolean),
      BIN,
      "agent",
      "--listen",
      `${listen}:${PORT}`,
      "--node-name",
      "node1",
      "--interval",
      `${INTERVAL_MS}ms`,
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
    ];
    const agent = node.spawn(process.execPath, agentArgs, { stdio: ["ignore", "ignore", "pipe"] });
    let agentLog = "";
    agent.stderr.setEncoding("utf8").on("data", (d) => {
      agentLog = (agentLog + d).slice(-20000);
    });
    const agentExit = new Promise((resolve) => agent.on("exit", (code, signal) => resolve({ code, signal })));
    const scraper = node.spawn(process.execPath, [
      "-e",
      SCRAPER,
      `http://${listen}:${PORT}/metrics`,
      String(SCRAPE_MS),
    ]);
    const scrapes = [];
    const samples = [];
    let buf = "";
    let nextSample = 0;
    const started = Date.now();
    const done = new Promise((resolve, reject) => {
      scraper.stdout.setEncoding("utf8").on("data", (d) => {
        buf += d;
        let nl = buf.indexOf("\n");
        while (nl >= 0) {
          const s = JSON.parse(buf.slice(0, nl));
          buf = buf.slice(nl + 1);
          nl = buf.indexOf("\n");
          scrapes.push(s);
          if (s.rounds >= nextSample) {
            samples.push({
              rounds: s.rounds,
              seconds: (Date.now() - started) / 1000,
              heap: s.heap,
              ...vm(agent.pid),
            });
            nextSample = samples.length === 1 ? SAMPLE : nextSample + SAMPLE;
          }
          if (s.rounds >= ROUNDS) resolve();
        }
      });
      agentExit.then((e) =>
        reject(new Error(`agent exited early (${JSON.stringify(e)}): ${agentLog.slice(-2000)}`)),
      );
    });
    await done;
    scraper.kill("SIGTERM");
    agent.kill("SIGTERM");
    const exit = await agentExit;

    // Scrapes before the agent first listens are refused: count failures from the first answer on.
    const answered = scrapes.slice(scrapes.findIndex((s) => s.status === 200));
    const ok = answered.filter((s) => s.status === 200);
    const ms = ok.map((s) => s.ms);
    const failed = answered.length - ok.length;
    const first = samples.find((s) => s.rounds >= SAMPLE) ?? samples[0];
    const last = samples[samples.length - 1];
    console.log(
      `agent soak: ${last.rounds} rounds in ${last.seconds.toFixed(0)} s (interval ${INTERVAL_MS} ms), demo broken lab`,
    );
    console.log("rounds   seconds   RSS MB   heap used MB   fds   sockets");
    for (const s of samples) {
      console.log(
        `${String(s.rounds).padStart(6)}  ${s.seconds.toFixed(0).padStart(8)}  ${(s.rssKb / 1024).toFixed(1).padStart(7)}  ${(s.heap / 2 ** 20).toFixed(1).padStart(13)}  ${String(s.fds).padStart(4)}  ${String(s.sockets).padStart(8)}`,
      );
    }
    console.log(
      `from round ${first.rounds} to ${last.rounds}: RSS ${(first.rssKb / 1024).toFixed(1)} → ${(last.rssKb / 1024).toFixed(1)} MB, heap used ${(first.heap / 2 ** 20).toFixed(1)} → ${(last.heap / 2 ** 20).toFixed(1)} MB; fds ${first.fds} → ${last.fds}`,
    );
    console.log(
      `scrapes after the first answer: ${answered.length} (${failed} failed), latency median ${percentile(ms, 50).toFixed(1)} ms, p99 ${percentile(ms, 99).toFixed(1)} ms, max ${Math.max(...ms).toFixed(1)} ms, over 100 ms: ${ms.filter((x) => x >= 100).length}; body ${ok.at(-1)?.bytes} bytes`,
    );
    // prom-client resets its event loop delay histogram at each scrape: each value is the agent's worst
    // event loop stall since the previous scrape, which a scrape arriving then waited out.
    const lags = ok.map((s) => s.lag).filter((x) => Number.isFinite(x));
    console.log(
      `agent event loop stalls between scrapes: median ${percentile(lags, 50).toFixed(1)} ms, p99 ${percentile(lags, 99).toFixed(1)} ms, max ${Math.max(...lags).toFixed(1)} ms`,
    );
    console.log(`agent exit on SIGTERM: ${JSON.stringify(exit)}`);
  } finally {
    await lab.destroy();
  }
}

main().catch((err) => {
  console.error(`agent-soak: ${err.message}`);
  process.exit(1);
});
