#!/usr/bin/env node
// The agent's metrics at cluster scale, without a lab: one round's result for a 500-node dual-stack cluster
// (1 nodePort, 2 DNS servers x 2 names: the README's 3,039 series) fed to the agent's metrics, then
// /metrics rendered, many times. Reports the time to record a round and to render a scrape (median, max)
// and the exposition's size: a scrape must stay well under 100 ms at this size. The round's series are rendered
// once per round; a scrape renders only the live metrics (counters, process) and appends that text.
//
//   node bench/agent-metrics.js [--nodes 500] [--runs 50]
"use strict";
const { performance } = require("node:perf_hooks");
const { AgentMetrics } = require("../dist/agent/metrics");
const { numberArg, percentile } = require("./lib");

const NODES = numberArg("nodes", 500);
const RUNS = numberArg("runs", 50);

const v4 = (i) => `198.18.${i >> 8}.${i & 255}`;
const v6 = (i) => `2001:db8::${i.toString(16)}`;
const arp = (target, state) => ({
  type: "arp",
  target,
  interface: "eth0",
  state,
  mac: state === "reply" ? "02:00:00:00:00:01" : null,
  macs: state === "reply" ? ["02:00:00:00:00:01"] : [],
  conflict: false,
  rttMs: state === "reply" ? 0.25 : null,
  source: "198.18.0.0",
  gateway: null,
  sent: 1,
  protocol: target.includes(":") ? "ndp" : "arp",
});
const port = (target) => ({
  type: "port",
  target,
  port: 30000,
  protocol: "tcp",
  state: "open",
  reason: "syn-ack",
  ttl: 64,
  rttMs: 0.3,
});
const names = ["kubernetes.default.svc.cluster.local", "redis.db.svc.cluster.local"];
const servers = ["198.51.100.53", "198.51.100.54"];
const dns = (server, name) => ({
  type: "dns",
  server,
  port: 53,
  name,
  qtype: "A",
  status: "ok",
  rcode: "NOERROR",
  answers: ["198.18.1.1"],
  transport: "udp",
  rttMs: 2,
  truncated: false,
  flags: [],
  attempts: 1,
  reason: null,
  from: null,
  error: null,
});
const verdict = (check) => ({
  type: "verdict",
  check,
  ok: true,
  detail: "",
  evidence: [],
  fix: null,
  complete: true,
  notProbed: [],
  families: [
    { family: "ipv4", ok: true, complete: true, detail: "" },
    { family: "ipv6", ok: true, complete: true, detail: "" },
  ],
});
const summary = (command) => ({
  type: "summary",
  command,
  targets: 1,
  states: {},
  packetsSent: 1000,
  packetsReceived: 1000,
  packetsDropped: 0,
  durationMs: 1,
  rate: 0,
});

const nodes = Array.from({ length: NODES }, (_, i) => ({ name: `node${i}`, ipv4: v4(i), ipv6: v6(i) }));
const result = {
  nodes: nodes.flatMap((n) => [n.ipv4, n.ipv6]),
  nodePorts: [30000],
  clusterNodes: nodes,
  nodePortSpecs: [{ port: 30000, protocol: "tcp", family: null }],
  notScanned: [],
  dnsServers: servers,
  dnsNames: names,
  aborted: false,
  arp: nodes.flatMap((n, i) => [
    arp(n.ipv4, i === 0 ? "local" : "reply"),
    arp(n.ipv6, i === 0 ? "local" : "reply"),
  ]),
  ports: nodes.flatMap((n) => [port(n.ipv4), port(n.ipv6)]),
  hosts: [],
  dns: servers.flatMap((s) => names.map((n) => dns(s, n))),
  consistency: names.map((name) => ({
    type: "dns-consistency",
    name,
    qtype: "A",
    transport: "udp",
    consistent: true,
    answers: {},
    rcodes: {},
    statuses: Object.fromEntries(servers.map((s) => [s, "ok"])),
    odd: [],
  })),
  pings: [],
  verdicts: [verdict("host-gw"), verdict("nodeport"), verdict("dns")],
  summaries: [summary("arp"), summary("scan"), summary("dns")],
  durationMs: 1000,
};

async function main() {
  const m = new AgentMetrics("node0");
  const record = [];
  const render = [];
  let body = "";
  for (let i = 0; i < RUNS; i++) {
    // a round: its series recorded (and rendered once, awaited by the first scrape after it)
    let t = performance.now();
    m.recordResult(result);
    m.recordRound("ok", false, 1000, Date.now());
    body = await m.metrics();
    record.push(performance.now() - t);
    // scrapes between two rounds
    for (let k = 0; k < 5; k++) {
      t = performance.now();
      body = await m.metrics();
      render.push(performance.now() - t);
    }
  }
  const series = body.split("\n").filter((l) => l.startsWith("wireprobe_")).length;
  const f = (xs) => `median ${percentile(xs, 50).toFixed(1)} ms, max ${Math.max(...xs).toFixed(1)} ms`;
  console.log(
    `${NODES} dual-stack nodes: ${series} wireprobe series, exposition ${(body.length / 1024).toFixed(0)} KB`,
  );
  console.log(`record a round and render it: ${f(record)} (${RUNS} rounds)`);
  console.log(`a scrape between rounds: ${f(render)} (${RUNS * 5} scrapes)`);
}
main();
