// An interrupted or incomplete `wireprobe check` never passes: the verdict functions compare the records with
// what was expected and with whether their probe finished; the report, the NDJSON and the JUnit file say the
// check was interrupted and name what was not probed. The lab test interrupts a real check (Ctrl-C and
// SIGTERM) while its probes wait on silent nodes and a DNS server that drops queries.

import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import type { CheckResult } from "../src/check/check";
import { dnsVerdict, hostGwVerdict, nodePortVerdict } from "../src/check/verdicts";
import type { Host } from "../src/lab";
import { formatCheckReport } from "../src/output/check-report";
import { formatJunit } from "../src/output/junit";
import type { PingRecord, SummaryRecord, VerdictRecord } from "../src/records";
import { withLab } from "./helpers/lab";
import { arpRecord, dnsRecord, portRecord } from "./helpers/records";

const BIN = join(__dirname, "..", "bin", "wireprobe.js");

// One server's answer to one name.
const answer = (server: string, name: string) => dnsRecord(server, "ok", ["198.18.1.1"], { name });

const N1 = "kubernetes.default.svc.cluster.local";
const N2 = "redis.db.svc.cluster.local";

t.test("host-gw: missing nodes and an aborted arp are never ok", async (t) => {
  const nodes = ["198.51.100.11", "198.51.100.12", "198.51.100.13", "198.51.100.14"];
  // Only two of four nodes had answered when the run stopped: the old verdict said "All 1 peer node(s) ...".
  const partial = hostGwVerdict([arpRecord(nodes[0]!, "local"), arpRecord(nodes[1]!)], {
    nodes,
    aborted: true,
  });
  t.equal(partial.ok, false);
  t.equal(partial.complete, false);
  t.same(partial.notProbed, ["198.51.100.13", "198.51.100.14"]);
  t.match(
    partial.detail,
    /^Interrupted: 2 of 4 node\(s\) probed, not probed: 198\.51\.100\.13 and 198\.51\.100\.14\./,
  );
  t.notMatch(partial.detail, /^All /);
  t.match(partial.fix, /again/);

  // Records missing without an interruption: incomplete too, said as such.
  const missing = hostGwVerdict([arpRecord(nodes[1]!)], { nodes });
  t.equal(missing.ok, false);
  t.equal(missing.complete, false);
  t.match(missing.detail, /^Incomplete: 1 of 4 node\(s\) probed/);

  // Every record there but the probe was cut short: still not final.
  const cut = hostGwVerdict(
    nodes.map((n) => arpRecord(n)),
    { nodes, aborted: true },
  );
  t.equal(cut.ok, false);
  t.equal(cut.complete, false);
  t.same(cut.notProbed, []);
  t.match(cut.detail, /Interrupted: all 4 node\(s\) probed, but the wait for their answers was cut short/);

  // A long list is summarised in the detail, complete in notProbed.
  const many = Array.from({ length: 100 }, (_, i) => `198.18.0.${i + 1}`);
  const big = hostGwVerdict(
    many.slice(0, 10).map((n) => arpRecord(n)),
    { nodes: many, aborted: true },
  );
  t.equal(big.notProbed.length, 90);
  t.match(
    big.detail,
    /10 of 100 node\(s\) probed, not probed: 198\.18\.0\.11, .*, 198\.18\.0\.15 and 85 more\./,
  );

  const whole = hostGwVerdict(
    nodes.map((n) => arpRecord(n)),
    { nodes },
  );
  t.equal(whole.ok, true, "complete and all answering: ok");
  t.equal(whole.complete, true);
  t.same(whole.notProbed, []);
  t.equal(hostGwVerdict([arpRecord(nodes[1]!)]).complete, true, "without expectations: as before");
});

t.test("nodeport: a port not scanned is not probed, never 'no answer'", async (t) => {
  const nodes = ["198.51.100.11", "198.51.100.12"];
  // The scan was aborted before any answer: the old verdict said the port "answers on no node".
  const none = nodePortVerdict([30000], [], [], nodes, { aborted: true });
  t.equal(none.ok, false);
  t.equal(none.complete, false);
  t.same(none.notProbed, nodes);
  t.notMatch(none.detail, /answers on no node|no answer/);
  t.match(
    none.detail,
    /^Interrupted: 0 of 2 node:port pair\(s\) probed, not probed: 198\.51\.100\.11 and 198\.51\.100\.12/,
  );

  // Open on one node, the other not scanned: not "answers only on".
  const half = nodePortVerdict([30000], [portRecord(nodes[1]!)], [], nodes);
  t.equal(half.ok, false);
  t.equal(half.complete, false);
  t.same(half.notProbed, ["198.51.100.11"]);
  t.notMatch(half.detail, /answers only on/);

  // Several ports: a node with some of them is named per port.
  const two = nodePortVerdict([30000, 30001], [portRecord(nodes[0]!)], [], nodes, {});
  t.same(two.notProbed, ["198.51.100.11:30001", "198.51.100.12"]);
  t.match(two.detail, /1 of 4 node:port pair\(s\) probed/);

  // A finding made before the interruption is still reported, as a partial one.
  const found = nodePortVerdict([30000], [portRecord(nodes[0]!, "filtered")], [], nodes, {
    aborted: true,
  });
  t.match(found.detail, /So far: nodePort 30000 is not open on 198\.51\.100\.11 \(filtered\)\./);

  // A down node counts as probed (its host record covers its ports).
  const down = nodePortVerdict(
    [30000],
    [portRecord(nodes[1]!)],
    [{ type: "host", target: nodes[0]!, state: "down", reason: "no-arp-reply" }],
    nodes,
  );
  t.equal(down.complete, true);
  t.equal(down.ok, false);

  const all = nodePortVerdict(
    [30000],
    nodes.map((n) => portRecord(n)),
    [],
    nodes,
    { aborted: true },
  );
  t.equal(all.ok, false, "every port open but the scan was cut short: not ok");
  t.equal(all.complete, false);
  t.equal(
    nodePortVerdict(
      [30000],
      nodes.map((n) => portRecord(n)),
      [],
      nodes,
    ).ok,
    true,
  );
});

t.test("dns: servers and names not asked, pings not sent, aborted runs", async (t) => {
  const servers = ["198.51.100.53", "198.51.100.54"];
  const names = [N1, N2];
  // Only the first server had answered: the old verdict judged 1 of 2 servers and said ok.
  const one = dnsVerdict([answer(servers[0]!, N1), answer(servers[0]!, N2)], [], [], {
    servers,
    names,
    aborted: true,
  });
  t.equal(one.ok, false);
  t.equal(one.complete, false);
  t.same(one.notProbed, ["198.51.100.54"]);
  t.match(
    one.detail,
    /^Interrupted: 2 of 4 server × name question\(s\) probed, not probed: 198\.51\.100\.54\./,
  );
  t.notMatch(one.detail, /All 1 DNS server/);

  const partial = dnsVerdict(
    [answer(servers[0]!, N1), answer(servers[0]!, N2), answer(servers[1]!, N1)],
    [],
    [],
    { servers, names },
  );
  t.same(partial.notProbed, [`198.51.100.54 ${N2}`]);
  t.equal(partial.ok, false);

  const ping: PingRecord = {
    type: "ping",
    target: "198.18.0.100",
    state: "no-reply",
    sent: 0,
    received: 0,
    rttMs: null,
    errors: 0,
    duplicates: 0,
    reason: null,
    from: null,
  };
  const every = servers.flatMap((s) => names.map((n) => answer(s, n)));
  const unpinged = dnsVerdict(every, [], [ping], { servers, names, external: ["198.18.0.100"] });
  t.equal(unpinged.ok, false, "an outside address never pinged");
  t.same(unpinged.notProbed, ["198.18.0.100"]);

  const cut = dnsVerdict(every, [], [], { servers, names, aborted: true });
  t.equal(cut.ok, false, "every answer there but the run was aborted");
  t.equal(cut.complete, false);

  const nothing = dnsVerdict([], [], [], { servers, names, aborted: true });
  t.equal(nothing.complete, false);
  t.same(nothing.notProbed, servers);
  t.notMatch(nothing.detail, /No DNS server (answers|was asked)/);

  const whole = dnsVerdict(every, [], [], { servers, names });
  t.equal(whole.ok, true);
  t.equal(whole.complete, true);
  t.match(whole.detail, /All 2 DNS server\(s\)/);
});

function verdictsOfAnInterruptedRun(): VerdictRecord[] {
  const nodes = ["198.51.100.11", "198.51.100.12", "198.51.100.13"];
  return [
    hostGwVerdict([arpRecord(nodes[0]!, "local"), arpRecord(nodes[1]!)], { nodes, aborted: true }),
    nodePortVerdict([30000], [portRecord(nodes[1]!, "closed")], [], nodes),
    dnsVerdict([answer("198.51.100.53", N1)], [], [], { servers: ["198.51.100.53"], names: [N1] }),
  ];
}

t.test("JUnit: an incomplete verdict is an error, not a pass and not a failure", async (t) => {
  const verdicts = verdictsOfAnInterruptedRun();
  t.same(
    verdicts.map((v) => [v.ok, v.complete]),
    [
      [false, false],
      [false, false],
      [true, true],
    ],
  );
  const xml = formatJunit(verdicts, 1234);
  t.match(xml, /<testsuites name="wireprobe" tests="3" failures="0" errors="2"/);
  t.match(xml, /<testsuite name="wireprobe check" tests="3" failures="0" errors="2"/);
  t.equal((xml.match(/<error /g) ?? []).length, 2);
  t.equal((xml.match(/<failure /g) ?? []).length, 0);
  t.match(xml, /<error message="Interrupted: 2 of 3 node\(s\) probed, not probed: 198\.51\.100\.13\./);
  t.match(xml, /Not probed \(2\):\n198\.51\.100\.11\n198\.51\.100\.13/);
});

t.test("report: an interrupted check says so first and last, and names what was not probed", async (t) => {
  const verdicts = verdictsOfAnInterruptedRun();
  const result: CheckResult = {
    nodes: ["198.51.100.11", "198.51.100.12", "198.51.100.13"],
    nodePorts: [30000],
    dnsServers: ["198.51.100.53"],
    dnsNames: [N1],
    aborted: true,
    arp: [],
    ports: [],
    hosts: [],
    dns: [],
    consistency: [],
    pings: [],
    verdicts,
    summaries: [],
    durationMs: 10,
  };
  const report = formatCheckReport(result);
  const lines = report.split("\n");
  t.equal(lines[0], "check INTERRUPTED: results incomplete, verdicts not final");
  t.match(report, /^ {2}INCOMPLETE {2}host-gw {3}Interrupted:/m);
  t.match(report, /^ {2}ok {10}dns/m);
  t.match(
    report,
    /^NOT PROBED\n {2}host-gw {3}1: 198\.51\.100\.13\n {2}nodeport {2}2: 198\.51\.100\.11 and 198\.51\.100\.13$/m,
  );
  t.match(report, /^198\.51\.100\.13\s+not probed\s+not probed$/m);
  t.notMatch(report, /all verdicts ok/);
  t.equal(lines.at(-1), "check: interrupted, 2 of 3 verdicts incomplete");
});

// ---- the real thing ----

/** tcpdump in `host` until it has seen `count` packets matching `filter`; resolves `listening` when ready. */
function watch(host: Host, filter: string, count: number) {
  const child = host.spawn("tcpdump", ["-l", "-n", "-i", "eth0", "-c", String(count), filter], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  let err = "";
  const listening = new Promise<void>((resolve, reject) => {
    child.stderr!.setEncoding("utf8").on("data", (d: string) => {
      err += d;
      if (/listening on/.test(err)) resolve();
    });
    child.once("exit", (code) => reject(new Error(`tcpdump exited (${code}) before listening: ${err}`)));
  });
  const seen = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return { listening, seen };
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function interruptedCheck(args: string[], when: Promise<void>, signal: NodeJS.Signals): Promise<Run> {
  const child: ChildProcess = spawn(process.execPath, [BIN, ...args], { stdio: ["ignore", "pipe", "pipe"] });
  let stdout = "";
  let stderr = "";
  child.stdout!.setEncoding("utf8").on("data", (d: string) => (stdout += d));
  child.stderr!.setEncoding("utf8").on("data", (d: string) => (stderr += d));
  // Once the probes are under way (the first server answered), let the answers land, then interrupt.
  void when.then(() => setTimeout(() => child.kill(signal), 1000));
  return new Promise((resolve) => child.on("close", (code) => resolve({ code, stdout, stderr })));
}

const attr = (xml: string, element: string, name: string): number =>
  Number(new RegExp(`<${element} [^>]*\\b${name}="(\\d+)"`).exec(xml)?.[1] ?? Number.NaN);

t.test("check interrupted in a lab: Ctrl-C and SIGTERM mid-run", async (t) => {
  const lab = await withLab(t, "chkint");
  const seg = await lab.segment("nodes");
  const host = async (name: string, address: string) => {
    const h = await lab.host(name);
    await h.connect(seg, { address });
    return h;
  };
  const node1 = await host("node1", "198.51.100.11/24");
  const node2 = await host("node2", "198.51.100.12/24");
  const dns1 = await host("dns1", "198.51.100.53/24");
  const dns2 = await host("dns2", "198.51.100.54/24");
  // node2 runs the pod: nodePort 30000 is open there.
  node2.spawn(process.execPath, [
    "-e",
    `require("node:net").createServer((s) => s.end()).listen(30000, "0.0.0.0")`,
  ]);
  dns1.spawn("dnsmasq", [
    "--keep-in-foreground",
    "--no-resolv",
    "--no-hosts",
    "--conf-file=/dev/null",
    "--pid-file=",
    "--user=root",
    "--bind-interfaces",
    "--listen-address=198.51.100.53",
    "--port=53",
    `--host-record=${N1},198.18.1.1`,
    `--host-record=${N2},198.18.1.20`,
  ]);
  // dns2 is up but drops DNS: its questions wait out the whole --timeout.
  await dns2.nft(`table inet wpt {
  chain input { type filter hook input priority 0; policy accept; udp dport 53 drop; tcp dport 53 drop; }
}`);
  for (const [h, proto, port] of [
    [node2, "-t", 30000],
    [dns1, "-u", 53],
  ] as const) {
    for (let i = 0; ; i++) {
      const r = await h.exec("ss", ["-Hln", proto, `sport = :${port}`], { reject: false });
      if (r.stdout.trim() !== "") break;
      if (i > 200) throw new Error(`nothing listens on ${port} in ${h.ns}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  const dir = mkdtempSync(join(tmpdir(), "wp-check-int-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // 30 nodes, 28 of them silent, and a 60 s timeout: ARP, the scan's next-hop lookup and dns2 all wait long.
  const args = [
    "check",
    "--netns",
    node1.ns,
    "--nodes",
    "198.51.100.11-40",
    "--node-port",
    "30000",
    "--dns",
    "198.51.100.53,198.51.100.54",
    "--dns-name",
    `${N1},${N2}`,
    "--timeout",
    "60000",
  ];

  await t.test("Ctrl-C: the human report and the JUnit file", async (t) => {
    const junit = join(dir, "int.xml");
    const answers = watch(dns1, "udp src port 53", 2);
    await answers.listening;
    const r = await interruptedCheck([...args, "--junit", junit], answers.seen, "SIGINT");
    t.equal(r.code, 130, "exit 130");
    t.notMatch(r.stderr, /internal error/);
    const lines = r.stdout.split("\n");
    t.equal(lines[0], "check INTERRUPTED: results incomplete, verdicts not final", "says so first");
    t.notMatch(r.stdout, /all verdicts ok/);
    t.notMatch(r.stdout, /^ {2}ok /m, "no verdict is ok");
    t.match(r.stdout, /^ {2}INCOMPLETE {2}nodeport {2}Interrupted: /m);
    t.match(
      r.stdout,
      /^ {2}INCOMPLETE {2}dns {7}Interrupted: 2 of 4 server × name question\(s\) probed, not probed: 198\.51\.100\.54\./m,
    );
    t.notMatch(r.stdout, /answers on no node/, "the open nodePort is not reported as answering nowhere");
    t.match(r.stdout, /^NOT PROBED$/m);
    t.match(r.stdout, /^ {2}dns {7}1: 198\.51\.100\.54$/m);
    t.match(r.stdout, /^ {2}nodeport {2}30: 198\.51\.100\.11, 198\.51\.100\.12, .* and 25 more$/m);
    t.match(r.stdout, /^198\.51\.100\.54\s+not asked\s+not asked$/m);
    t.match(r.stdout, /^check: interrupted, 3 of 3 verdicts incomplete$/m);

    const xml = readFileSync(junit, "utf8");
    const errors = attr(xml, "testsuite", "errors");
    const failures = attr(xml, "testsuite", "failures");
    t.equal(errors, 3, "every verdict is an error");
    t.ok(failures + errors > 0, "CI does not pass it");
    t.equal(attr(xml, "testsuites", "errors"), 3);
    t.equal((xml.match(/<error [^>]*type="incomplete"/g) ?? []).length, 3);
    t.match(xml, /Not probed \(1\):\n198\.51\.100\.54\n/);
  });

  await t.test("SIGTERM: NDJSON verdicts and summary, and the JUnit file", async (t) => {
    const junit = join(dir, "term.xml");
    const answers = watch(dns1, "udp src port 53", 2);
    await answers.listening;
    const r = await interruptedCheck([...args, "--json", "--junit", junit], answers.seen, "SIGTERM");
    t.equal(r.code, 143, "exit 143");
    const records = r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { type: string });
    const verdicts = records.filter((x): x is VerdictRecord => x.type === "verdict");
    t.same(
      verdicts.map((v) => [v.check, v.ok, v.complete]),
      [
        ["host-gw", false, false],
        ["nodeport", false, false],
        ["dns", false, false],
      ],
      "every verdict: not ok, incomplete",
    );
    const byCheck = new Map(verdicts.map((v) => [v.check, v]));
    t.ok(byCheck.get("nodeport")!.notProbed.includes("198.51.100.12"), "the open node was not probed");
    t.notMatch(byCheck.get("nodeport")!.detail, /answers on no node/);
    t.same(byCheck.get("dns")!.notProbed, ["198.51.100.54"], "the silent server was not asked to the end");
    t.same(
      byCheck
        .get("dns")!
        .evidence.map((e) => e.subject)
        .sort(),
      [`198.51.100.53 ${N1}`, `198.51.100.53 ${N2}`],
      "what the first server answered is kept",
    );
    t.match(byCheck.get("host-gw")!.detail, /^Interrupted: /);
    const summary = records.at(-1) as SummaryRecord;
    t.equal(summary.type, "summary");
    t.equal(summary.command, "check");
    t.equal(summary.aborted, true);
    t.same(summary.states, { ok: 0, failed: 0, incomplete: 3 });
    t.ok(summary.packetsSent > 0, "packets were sent");
    t.ok(summary.rate > 0, `rate ${summary.rate} pps over the run`);

    const xml = readFileSync(junit, "utf8");
    t.equal(attr(xml, "testsuite", "errors"), 3);
    t.equal(attr(xml, "testsuite", "failures"), 0);
  });
});
