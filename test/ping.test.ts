// `wireprobe ping` in a lab, checked against iputils ping run in the same namespace.
//
//   segment a 198.51.100.0/24: client .10, router .1, peer .11, fw .12 (rejects echo: admin-prohibited),
//     quiet .13 (drops echo); nobody at .77
//   segment b 203.0.113.0/24: router .1, far .20; nobody at .99
//   router: `unreachable 198.18.5.0/24`, `prohibit 198.18.6.0/24`, no route to 198.18.9.0/24

import { execFile } from "node:child_process";
import { join } from "node:path";
import t from "tap";
import type { Host } from "../src/lab";
import { type PingOptions, ping } from "../src/probes/icmp/ping";
import type { PingRecord, SummaryRecord } from "../src/records";
import { unprivilegedBin } from "./helpers/cli";
import { withLab } from "./helpers/lab";

const BIN = join(__dirname, "..", "bin", "wireprobe.js");

interface PingOracle {
  sent: number;
  received: number;
  errors: number;
  /** our reason name for the first error line, and who sent it */
  reason: string | null;
  from: string | null;
  /** "connect: Network is unreachable": nothing sent */
  noRoute: boolean;
}

const PING_ERRORS: Record<string, string> = {
  "Destination Net Unreachable": "net-unreach",
  "Destination Host Unreachable": "host-unreach",
  "Destination Protocol Unreachable": "proto-unreach",
  "Destination Port Unreachable": "port-unreach",
  "Packet filtered": "admin-prohibited",
  "Destination Host Prohibited": "host-prohibited",
  "Destination Net Prohibited": "net-prohibited",
  "Time to live exceeded": "ttl-exceeded",
};

/** iputils ping from `host`, parsed: statistics, and the first ICMP error line ("From X icmp_seq=N ..."). */
async function pingOracle(host: Host, target: string, count: number, intervalS: number): Promise<PingOracle> {
  const args = ["-n", "-c", String(count), "-i", String(intervalS), "-W", "1", target];
  const r = await host.exec("ping", args, { reject: false, timeoutMs: 30_000 });
  if (/Network is unreachable/.test(r.stderr + r.stdout) && !/transmitted/.test(r.stdout)) {
    return { sent: 0, received: 0, errors: 0, reason: "no-route", from: null, noRoute: true };
  }
  const stats = /(\d+) packets transmitted, (\d+) received(?:, \+(\d+) errors)?/.exec(r.stdout);
  if (!stats) throw new Error(`ping ${args.join(" ")} failed: ${r.stderr || r.stdout}`);
  const err = /^From ([\d.]+) icmp_seq=\d+ (.+)$/m.exec(r.stdout);
  return {
    sent: Number(stats[1]),
    received: Number(stats[2]),
    errors: Number(stats[3] ?? 0),
    reason: err ? (PING_ERRORS[err[2]!.trim()] ?? err[2]!.trim()) : null,
    from: err ? err[1]! : null,
    noRoute: false,
  };
}

function oracleState(o: PingOracle): PingRecord["state"] {
  if (o.received > 0) return "reply";
  return o.errors > 0 || o.noRoute ? "unreachable" : "no-reply";
}

async function collect(targets: string[], options: PingOptions) {
  const run = ping(targets, options);
  const got = new Map<string, PingRecord>();
  for await (const r of run) {
    if (got.has(r.target)) throw new Error(`two records for ${r.target}`);
    got.set(r.target, r);
  }
  return { got, summary: run.summary as SummaryRecord | undefined, mode: run.mode };
}

function run(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: number }).code ?? 1) : 0;
      resolve({ code: typeof code === "number" ? code : 1, stdout, stderr });
    });
  });
}

t.test("ping in a two-segment lab", async (t) => {
  const lab = await withLab(t, "ping");
  const a = await lab.segment("a");
  const b = await lab.segment("b");
  const router = await lab.router("r", [
    [a, "198.51.100.1/24"],
    [b, "203.0.113.1/24"],
  ]);
  await router.route(["unreachable", "198.18.5.0/24"]);
  await router.route(["prohibit", "198.18.6.0/24"]);
  // ICMP errors are rate limited per peer (a burst of 6, then one a second): the lab answers every probe.
  await router.sysctl("net.ipv4.icmp_ratelimit", "0");
  await router.route(["unreachable", "198.18.7.0/24"]);
  const client = await lab.host("client");
  await client.connect(a, { address: "198.51.100.10/24" });
  await client.route(["default", "via", "198.51.100.1"]);
  // A router limits the ICMP errors of its routing decisions (unreachable, prohibit, no route) to a burst
  // of 5 per sender, then one a second (net.ipv4.route.error_burst/error_cost, global sysctls). Each such
  // destination gets its own source address here, so every case has its own budget and the probe and
  // iputils ping both see every error.
  for (const [n, prefix] of [
    [21, "198.18.5.0/24"],
    [22, "198.18.6.0/24"],
    [23, "198.18.9.0/24"],
    [24, "198.18.7.0/24"],
  ] as const) {
    await client.addAddress("eth0", `198.51.100.${n}/24`);
    await client.route([prefix, "via", "198.51.100.1", "src", `198.51.100.${n}`]);
  }
  const host = async (name: string, seg: typeof a, address: string, gw: string) => {
    const h = await lab.host(name);
    await h.connect(seg, { address: `${address}/24` });
    await h.route(["default", "via", gw]);
    await h.sysctl("net.ipv4.icmp_ratelimit", "0");
    return h;
  };
  await host("peer", a, "198.51.100.11", "198.51.100.1");
  const fw = await host("fw", a, "198.51.100.12", "198.51.100.1");
  await fw.nft(
    "table inet wp {\n  chain input {\n    type filter hook input priority 0;\n    icmp type echo-request reject with icmp type admin-prohibited\n  }\n}\n",
  );
  const quiet = await host("quiet", a, "198.51.100.13", "198.51.100.1");
  await quiet.nft(
    "table inet wp {\n  chain input {\n    type filter hook input priority 0;\n    icmp type echo-request drop\n  }\n}\n",
  );
  await host("far", b, "203.0.113.20", "203.0.113.1");
  const ns = client.ns;

  t.test("reply, no-reply and unreachable, each as iputils ping sees it", async (t) => {
    const cases: Array<[string, PingRecord["state"], string | null, string | null]> = [
      ["198.51.100.11", "reply", null, null],
      ["203.0.113.20", "reply", null, null],
      ["198.51.100.13", "no-reply", null, null],
      ["198.51.100.12", "unreachable", "admin-prohibited", "198.51.100.12"],
      ["198.18.5.1", "unreachable", "host-unreach", "198.51.100.1"],
      ["198.18.6.1", "unreachable", "admin-prohibited", "198.51.100.1"],
      ["198.18.9.9", "unreachable", "net-unreach", "198.51.100.1"],
    ];
    const { got, summary, mode } = await collect(
      cases.map(([target]) => target),
      { netns: ns, count: 2, intervalMs: 200, timeoutMs: 1000 },
    );
    t.equal(mode, "raw", "root gets the raw socket");
    t.equal(got.size, cases.length, "one record per target");
    for (const [target, state, reason, from] of cases) {
      const r = got.get(target)!;
      const oracle = await pingOracle(client, target, 2, 0.2);
      t.equal(r.state, state, `${target}: ${state}`);
      t.equal(r.state, oracleState(oracle), `${target}: the state iputils ping implies`);
      t.equal(r.sent, 2, `${target}: 2 requests`);
      t.equal(r.received, oracle.received, `${target}: ${oracle.received} replies, as ping`);
      t.equal(r.reason, reason, `${target}: reason ${reason}`);
      t.equal(r.from, from, `${target}: from ${from}`);
      if (oracle.reason !== null) {
        t.equal(r.reason, oracle.reason, `${target}: ping says ${oracle.reason}`);
        t.equal(r.from, oracle.from, `${target}: ping names ${oracle.from}`);
        t.equal(r.errors, oracle.errors, `${target}: ${oracle.errors} errors, as ping`);
        t.equal(r.errors, 2, `${target}: an error for each request`);
      }
      if (state === "reply") {
        const rtt = r.rttMs!;
        t.ok(rtt.min >= 0 && rtt.min <= rtt.avg && rtt.avg <= rtt.max, `${target}: rtt min <= avg <= max`);
      } else {
        t.equal(r.rttMs, null);
      }
    }
    t.match(summary, {
      type: "summary",
      command: "ping",
      targets: 7,
      states: { reply: 2, "no-reply": 1, unreachable: 4 },
      packetsSent: 14,
    });
  });

  t.test("an address nobody has: the kernel's ARP gives up after ~3 s, and says so", async (t) => {
    // On our segment this host itself reports host unreachable; behind the router, the router does.
    const { got } = await collect(["198.51.100.77", "203.0.113.99"], {
      netns: ns,
      count: 5,
      intervalMs: 1000,
      timeoutMs: 1000,
    });
    for (const [target, from] of [
      ["198.51.100.77", "198.51.100.10"],
      ["203.0.113.99", "198.51.100.1"],
    ] as const) {
      const oracle = await pingOracle(client, target, 5, 1);
      t.match(got.get(target), { state: "unreachable", reason: "host-unreach", from, received: 0 }, target);
      t.equal(oracleState(oracle), "unreachable", `${target}: iputils ping agrees`);
      t.equal(oracle.from, from, `${target}: ping names ${from} too`);
    }
  });

  t.test("no route at all: unreachable, nothing sent", async (t) => {
    const lonely = await lab.host("lonely");
    await lonely.connect(a, { address: "198.51.100.20/24" });
    const { got } = await collect(["203.0.113.20"], { netns: lonely.ns, count: 2, timeoutMs: 300 });
    t.match(got.get("203.0.113.20"), { state: "unreachable", reason: "no-route", sent: 0, from: null });
    const oracle = await pingOracle(lonely, "203.0.113.20", 2, 0.2);
    t.ok(oracle.noRoute, "ping: Network is unreachable");
  });

  t.test("a sweep: a record for every address, replies exactly from the hosts that are there", async (t) => {
    const { got } = await collect(["198.51.100.0/28"], {
      netns: ns,
      count: 2,
      intervalMs: 100,
      timeoutMs: 500,
    });
    t.equal(got.size, 16);
    const replied = [...got.values()].filter((r) => r.state === "reply").map((r) => r.target);
    t.same(replied.sort(), ["198.51.100.1", "198.51.100.10", "198.51.100.11"], "router, self, peer");
    t.equal(got.get("198.51.100.12")?.state, "unreachable", "the firewalled host says prohibited");
    t.equal(got.get("198.51.100.13")?.state, "no-reply");
  });

  t.test("the CLI: table, JSON, exit codes", async (t) => {
    const human = await run(process.execPath, [BIN, "ping", "--netns", ns, "198.51.100.11", "198.18.5.1"]);
    t.equal(human.code, 1, "exit 1 when a target does not reply");
    t.match(
      human.stdout,
      /198\.18\.5\.1\s+unreachable\s+0\/3\s+100%\s+-\s+host-unreach from 198\.51\.100\.1/,
    );
    t.match(human.stdout, /198\.51\.100\.11\s+reply\s+3\/3\s+0%/);
    const json = await run(process.execPath, [
      BIN,
      "ping",
      "--netns",
      ns,
      "--json",
      "-c",
      "2",
      "198.51.100.11",
    ]);
    t.equal(json.code, 0, "exit 0 when every target replies");
    const lines = json.stdout
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as PingRecord | SummaryRecord);
    t.match(lines, [
      {
        type: "ping",
        target: "198.51.100.11",
        state: "reply",
        sent: 2,
        received: 2,
        errors: 0,
        duplicates: 0,
      },
      { type: "summary", command: "ping", targets: 1 },
    ]);
    for (const [args, code, message] of [
      [["ping", "--netns", ns, "example.com"], 2, /invalid|target/i],
      [["ping", "--netns", ns, "-c", "0", "198.51.100.11"], 2, /at least 1/],
      [["ping", "--netns", "wp-no-such-ns", "198.51.100.11"], 3, /network namespace/],
      [["ping", "--netns", ns, "-i", "eth9", "198.51.100.11"], 3, /unknown interface/],
    ] as Array<[string[], number, RegExp]>) {
      const r = await run(process.execPath, [BIN, ...args]);
      t.equal(r.code, code, `${args.slice(3).join(" ")}: exit ${code}`);
      t.match(r.stderr, message);
      t.notMatch(r.stderr, /\n\s+at /, "no stack trace");
    }
  });

  t.test("without root: an ICMP datagram socket, where net.ipv4.ping_group_range allows", async (t) => {
    // Joining a namespace needs privilege, so the unprivileged CLI runs inside it from the start.
    // `env -i`: tap's process hooks put NODE_OPTIONS into every child, and would write files as nobody.
    const asNobody = (args: string[]) =>
      run("env", [
        "-i",
        `PATH=${process.env.PATH ?? "/usr/bin:/bin"}`,
        "ip",
        "netns",
        "exec",
        ns,
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        process.execPath,
        unprivilegedBin(),
        "ping",
        ...args,
      ]);
    await client.exec("sysctl", ["-q", "-w", "net.ipv4.ping_group_range=1 0"]);
    const denied = await asNobody(["198.51.100.11"]);
    t.equal(denied.code, 3, "no raw socket and no ping group: exit 3");
    t.match(denied.stderr, /ping_group_range \(1 0\)/);
    t.notMatch(denied.stderr, /\n\s+at /, "no stack trace");

    await client.exec("sysctl", ["-q", "-w", "net.ipv4.ping_group_range=65534 65534"]);
    const r = await asNobody(["--json", "198.51.100.11", "203.0.113.20", "198.51.100.13"]);
    t.equal(r.code, 1, "one target does not answer");
    const got = r.stdout
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as PingRecord | SummaryRecord);
    t.match(
      got.find((x) => x.type === "ping" && x.target === "198.51.100.11"),
      { state: "reply", received: 3 },
    );
    t.match(
      got.find((x) => x.type === "ping" && x.target === "203.0.113.20"),
      { state: "reply", received: 3 },
    );
    t.match(
      got.find((x) => x.type === "ping" && x.target === "198.51.100.13"),
      { state: "no-reply" },
    );
    const ok = await asNobody(["198.51.100.11"]);
    t.equal(ok.code, 0, "unprivileged, a reply exits 0");

    // As root, --unprivileged takes the same path (root's group 0 must be in the range too).
    await client.exec("sysctl", ["-q", "-w", "net.ipv4.ping_group_range=0 0"]);
    const { got: dgram, mode } = await collect(["198.51.100.11", "198.18.5.1"], {
      netns: ns,
      mode: "dgram",
      count: 2,
      timeoutMs: 500,
    });
    t.equal(mode, "dgram");
    t.match(dgram.get("198.51.100.11"), { state: "reply", received: 2 });
    t.match(
      dgram.get("198.18.5.1"),
      { state: "no-reply", errors: 0 },
      "the kernel keeps ICMP errors from it",
    );
    await client.exec("sysctl", ["-q", "-w", "net.ipv4.ping_group_range=1 0"]);
  });
});
