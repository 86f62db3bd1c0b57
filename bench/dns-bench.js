#!/usr/bin/env node
// DNS benchmark: wireprobe dns vs dig's batch mode (dig -f FILE), same lab, same queries, same run.
//
//   npm run build   (or: npx tsc -p tsconfig.json)
//   sudo node bench/dns-bench.js [--names 2500] [--runs 3]
//
// Lab: a client namespace and four dnsmasq servers (198.51.100.53-56) on one segment, each serving the
// same NAMES host records (n00000.bench ... from an addn-hosts file). One run asks every name of every
// server once: NAMES x 4 queries (10,000 by default), type A over UDP. Both tools run inside the client
// namespace through `ip netns exec`, are timed from spawn to exit (startup included) and must get every
// answer right. wireprobe asks all servers at once (its default: 16 queries in flight per server); dig
// asks one query after the other, as its batch mode does.
//
// Latency, two ways: as each tool reports it (wireprobe's rttMs per record, from send to the kernel's
// receive timestamp; dig's "Query time", in whole milliseconds), and on the wire for both alike (a tcpdump
// capture on the client's interface, query to response by server, port and ID, microsecond stamps).
// Runs alternate between the tools; the medians over the runs are printed, and the ratio of queries/s.
"use strict";
const { BIN, median, numberArg, percentile, timed } = require("./lib");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const pcap = require("pcap-parser");
const { Lab } = require("../dist/lab");

const NAMES = numberArg("names", 2500);
const RUNS = numberArg("runs", 3);
const SERVERS = ["198.51.100.53", "198.51.100.54", "198.51.100.55", "198.51.100.56"];
const CLIENT = "198.51.100.10";

const nameOf = (i) => `n${String(i).padStart(5, "0")}.bench`;
const addressOf = (i) => `198.${18 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`;

async function startCapture(host, file) {
  const child = host.spawn(
    "tcpdump",
    [
      "-i",
      "eth0",
      "-U",
      "-w",
      file,
      "-s",
      "200",
      "-B",
      "32768",
      "--immediate-mode",
      "-Z",
      "root",
      "udp port 53",
    ],
    { stdio: ["ignore", "ignore", "pipe"] },
  );
  let err = "";
  child.stderr.setEncoding("utf8");
  await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`tcpdump did not start: ${err}`)), 10_000);
    child.stderr.on("data", (d) => {
      err += d;
      if (/listening on/.test(err)) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  return async () => {
    await new Promise((r) => setTimeout(r, 300));
    const exited = new Promise((r) => child.once("exit", r));
    child.kill("SIGINT");
    await exited;
    if (/[1-9]\d* packets? dropped by kernel/.test(err))
      console.error(`tcpdump: ${err.trim().split("\n").pop()}`);
    return wireLatencies(file);
  };
}

/** Query → response times (ms) from a capture: Ethernet + IPv4 + UDP, matched by server, client port, ID. */
function wireLatencies(file) {
  return new Promise((resolve, reject) => {
    const sent = new Map();
    const rtts = [];
    const parser = pcap.parse(file);
    parser.on("packet", (p) => {
      const d = p.data;
      if (d.length < 14 + 20 + 8 + 2 || d.readUInt16BE(12) !== 0x0800) return;
      const ihl = (d[14] & 0x0f) * 4;
      const u = 14 + ihl;
      const src = d.subarray(26, 30).join(".");
      const dst = d.subarray(30, 34).join(".");
      const sport = d.readUInt16BE(u);
      const dport = d.readUInt16BE(u + 2);
      const id = d.readUInt16BE(u + 8);
      const at = p.header.timestampSeconds * 1000 + p.header.timestampMicroseconds / 1000;
      if (dport === 53) sent.set(`${dst}/${sport}/${id}`, at);
      else if (sport === 53) {
        const key = `${src}/${dport}/${id}`;
        const t0 = sent.get(key);
        if (t0 !== undefined) {
          rtts.push(at - t0);
          sent.delete(key);
        }
      }
    });
    parser.on("error", reject);
    parser.on("end", () => resolve(rtts));
  });
}

async function main() {
  if (process.getuid?.() !== 0) throw new Error("run as root: the benchmark builds network namespaces");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "wp-dns-bench-"));
  const lab = await Lab.create({ name: "bdns" });
  try {
    const lan = await lab.segment("lan");
    const client = await lab.host("client");
    await client.connect(lan, { address: `${CLIENT}/24` });
    const hosts = path.join(dir, "hosts");
    fs.writeFileSync(
      hosts,
      Array.from({ length: NAMES }, (_, i) => `${addressOf(i)} ${nameOf(i)}\n`).join(""),
    );
    for (const [i, server] of SERVERS.entries()) {
      const h = await lab.host(`dns${i + 1}`);
      await h.connect(lan, { address: `${server}/24` });
      const dm = h.spawn(
        "dnsmasq",
        [
          "--no-daemon",
          "--keep-in-foreground",
          "--no-resolv",
          "--no-hosts",
          `--addn-hosts=${hosts}`,
          "--port=53",
          `--listen-address=${server}`,
          "--bind-interfaces",
          "--log-facility=-",
          "--pid-file=",
          "--user=root",
          "--cache-size=10000",
        ],
        { stdio: ["ignore", "ignore", "pipe"] },
      );
      let log = "";
      dm.stderr.setEncoding("utf8").on("data", (d) => (log += d));
      while (!/read .*hosts/.test(log)) await new Promise((r) => setTimeout(r, 20));
    }
    const names = Array.from({ length: NAMES }, (_, i) => nameOf(i));
    const total = NAMES * SERVERS.length;
    const batch = path.join(dir, "dig-batch");
    fs.writeFileSync(
      batch,
      names
        .flatMap((n) => SERVERS.map((s) => `@${s} ${n} A +tries=2 +time=2 +noall +answer +stats\n`))
        .join(""),
    );
    const expected = new Map(names.map((n, i) => [n, addressOf(i)]));

    const tools = {
      wireprobe: {
        cmd: process.execPath,
        args: [BIN, "dns", "--server", SERVERS.join(","), "--json", ...names],
        parse(out) {
          const rtts = [];
          let correct = 0;
          for (const line of out.split("\n")) {
            if (!line.startsWith('{"type":"dns"')) continue;
            const r = JSON.parse(line);
            if (r.status === "ok" && r.answers.length === 1 && r.answers[0] === expected.get(r.name))
              correct++;
            if (r.rttMs !== null) rtts.push(r.rttMs);
          }
          return { correct, rtts };
        },
      },
      "dig -f": {
        cmd: "dig",
        args: ["-f", batch],
        parse(out) {
          const rtts = [];
          let correct = 0;
          for (const line of out.split("\n")) {
            const a = /^(\S+)\.\s+\d+\s+IN\s+A\s+(\S+)$/.exec(line);
            if (a && expected.get(a[1]) === a[2]) correct++;
            const q = /^;; Query time: (\d+) msec/.exec(line);
            if (q) rtts.push(Number(q[1]));
          }
          return { correct, rtts };
        },
      },
    };

    const results = Object.fromEntries(Object.keys(tools).map((k) => [k, []]));
    for (let r = 0; r < RUNS; r++) {
      for (const [name, tool] of Object.entries(tools)) {
        const stop = await startCapture(client, path.join(dir, "capture.pcap"));
        const out = await timed(client.ns, tool.cmd, tool.args);
        const wire = await stop();
        const parsed = tool.parse(out.stdout);
        if (parsed.correct !== total) {
          console.error(
            `${name} run ${r}: ${parsed.correct}/${total} correct answers (exit ${out.code}) ${out.stderr}`,
          );
        }
        results[name].push({
          ms: out.ms,
          cpuMs: out.cpuMs,
          qps: (total * 1000) / out.ms,
          correct: parsed.correct,
          p50: percentile(parsed.rtts, 50),
          p99: percentile(parsed.rtts, 99),
          wireP50: percentile(wire, 50),
          wireP99: percentile(wire, 99),
          wireN: wire.length,
        });
      }
    }

    const f = (x, d = 3) => (Number.isFinite(x) ? x.toFixed(d) : "-");
    console.log(
      `DNS: ${total.toLocaleString("en")} A queries over UDP (${NAMES} names x ${SERVERS.length} dnsmasq servers), ${RUNS} runs each, medians:`,
    );
    console.log(
      "  tool        wall ms   CPU ms   queries/s  correct      latency p50/p99 (own)     latency p50/p99 (wire)",
    );
    for (const [name, rs] of Object.entries(results)) {
      const m = (k) => median(rs.map((x) => x[k]));
      console.log(
        `  ${name.padEnd(10)} ${f(m("ms"), 0).padStart(8)} ${f(m("cpuMs"), 0).padStart(8)} ${Math.round(m("qps")).toLocaleString("en").padStart(11)}  ${String(Math.min(...rs.map((x) => x.correct))).padStart(5)}/${total}  ${`${f(m("p50"))} / ${f(m("p99"))} ms`.padStart(24)}  ${`${f(m("wireP50"))} / ${f(m("wireP99"))} ms`.padStart(24)}`,
      );
    }
    const ratio = median(results.wireprobe.map((x) => x.qps)) / median(results["dig -f"].map((x) => x.qps));
    console.log(
      `  ratio: wireprobe answers ${ratio.toFixed(1)}x the queries per second of dig -f (>1 = faster)`,
    );
    console.log(
      "  (wall: spawn to exit, startup included; CPU: user + system of the tool. Own latency: wireprobe's rttMs, from\n" +
        "  its sendmmsg batch to the kernel's receive stamp; dig's Query time, whole ms. Wire: capture on the client.)",
    );
  } finally {
    await lab.destroy();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main().catch((err) => {
  console.error(`bench/dns-bench: ${err.message}`);
  process.exitCode = 1;
});
