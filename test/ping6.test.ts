// `wireprobe ping` to IPv6 targets (ICMPv6 echo) in a lab, checked against iputils `ping -6` in the same
// namespace. Addresses from 2001:db8::/32 only (added with nodad).
//
//   segment a 2001:db8:a::/64 (and 198.51.100.0/24): client ::10 (.10), router ::1 (.1), peer ::11 (.11),
//     fw ::12 (rejects echo: admin-prohibited), quiet ::13 (drops echo); nobody at ::77
//   segment b 2001:db8:b::/64: router ::1, far ::20
//   router: `unreachable 2001:db8:5::/48`, `prohibit 2001:db8:6::/48`, no route to 2001:db8:9::/48

import { execFile } from "node:child_process";
import { join } from "node:path";
import t from "tap";
import type { Host } from "../src/lab";
import { type PingOptions, ping } from "../src/probes/icmp/ping";
import type { PingRecord, SummaryRecord } from "../src/records";
import { unprivilegedBin } from "./helpers/cli";
import { withLab } from "./helpers/lab";

const BIN = join(__dirname, "..", "bin", "wireprobe.js");
/** the rtt test's goal against iputils: within 1.5x, or 20 µs (test/rtt.test.ts) */
const FACTOR = 1.5;
const SLACK_MS = 0.02;

/** iputils ping -6's words for ICMPv6 errors, as the reasons wireprobe gives (IPv4's names for the same) */
const PING6_ERRORS: Record<string, string> = {
  "Destination unreachable: No route": "net-unreach",
  "Destination unreachable: Administratively prohibited": "admin-prohibited",
  "Destination unreachable: Address unreachable": "host-unreach",
  "Destination unreachable: Port unreachable": "port-unreach",
  "Time exceeded: Hop limit": "ttl-exceeded",
};

interface Ping6Oracle {
  sent: number;
  received: number;
  errors: number;
  reason: string | null;
  from: string | null;
  /** per-reply times (ms) */
  times: number[];
}

async function ping6Oracle(
  host: Host,
  target: string,
  count: number,
  intervalS: number,
): Promise<Ping6Oracle> {
  const args = ["-6", "-n", "-c", String(count), "-i", String(intervalS), "-W", "1", target];
  const r = await host.exec("ping", args, { reject: false, timeoutMs: 60_000 });
  const stats = /(\d+) packets transmitted, (\d+) received(?:, \+(\d+) errors)?/.exec(r.stdout);
  if (!stats) throw new Error(`ping ${args.join(" ")} failed: ${r.stderr || r.stdout}`);
  const err = /^From ([0-9a-f:.]+) icmp_seq=\d+ (.+)$/m.exec(r.stdout);
  return {
    sent: Number(stats[1]),
    received: Number(stats[2]),
    errors: Number(stats[3] ?? 0),
    reason: err ? (PING6_ERRORS[err[2]!.trim()] ?? err[2]!.trim()) : null,
    from: err ? err[1]! : null,
    times: [...r.stdout.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1])),
  };
}

function oracleState(o: Ping6Oracle): PingRecord["state"] {
  if (o.received > 0) return "reply";
  return o.errors > 0 ? "unreachable" : "no-reply";
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

function median(values: readonly number[]): number {
  const s = [...values].sort((x, y) => x - y);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

t.test("ping over IPv6 in a two-segment lab", async (t) => {
  const lab = await withLab(t, { name: "ping6", ipv6: true });
  const a = await lab.segment("a");
  const b = await lab.segment("b");
  const router = await lab.router("r", [
    [a, ["198.51.100.1/24", "2001:db8:a::1/64"]],
    [b, "2001:db8:b::1/64"],
  ]);
  await router.sysctl("net.ipv6.conf.all.forwarding", "1");
  await router.route(["unreachable", "2001:db8:5::/48"]);
  await router.route(["prohibit", "2001:db8:6::/48"]);
  // ICMPv6 errors are rate limited per destination (net.ipv6.icmp.ratelimit, 1 s): the lab answers every probe.
  await router.sysctl("net.ipv6.icmp.ratelimit", "0");
  const client = await lab.host("client");
  await client.connect(a, { address: ["198.51.100.10/24", "2001:db8:a::10/64"] });
  await client.route(["::/0", "via", "2001:db8:a::1"]);
  await client.sysctl("net.ipv6.icmp.ratelimit", "0");
  const host = async (name: string, seg: typeof a, addresses: string[], gw: string) => {
    const h = await lab.host(name);
    await h.connect(seg, { address: addresses });
    await h.route(["::/0", "via", gw]);
    await h.sysctl("net.ipv6.icmp.ratelimit", "0");
    return h;
  };
  await host("peer", a, ["198.51.100.11/24", "2001:db8:a::11/64"], "2001:db8:a::1");
  const fw = await host("fw", a, ["2001:db8:a::12/64"], "2001:db8:a::1");
  await fw.nft(
    "table inet wp {\n  chain input {\n    type filter hook input priority 0;\n    icmpv6 type echo-request reject with icmpv6 type admin-prohibited\n  }\n}\n",
  );
  const quiet = await host("quiet", a, ["2001:db8:a::13/64"], "2001:db8:a::1");
  await quiet.nft(
    "table inet wp {\n  chain input {\n    type filter hook input priority 0;\n    icmpv6 type echo-request drop\n  }\n}\n",
  );
  await host("far", b, ["2001:db8:b::20/64"], "2001:db8:b::1");
  const ns = client.ns;

  t.test("reply, no-reply and unreachable, each as ping -6 sees it; IPv4 in the same run", async (t) => {
    const cases: Array<[string, PingRecord["state"], string | null, string | null]> = [
      ["2001:db8:a::11", "reply", null, null],
      ["2001:db8:b::20", "reply", null, null],
      ["2001:db8:a::13", "no-reply", null, null],
      ["2001:db8:a::12", "unreachable", "admin-prohibited", "2001:db8:a::12"],
      ["2001:db8:5::1", "unreachable", "net-unreach", "2001:db8:a::1"],
      ["2001:db8:6::1", "unreachable", "admin-prohibited", "2001:db8:a::1"],
      ["2001:db8:9::9", "unreachable", "net-unreach", "2001:db8:a::1"],
    ];
    const { got, summary, mode } = await collect(
      // Mixed in one run, an IPv6 target in a non-canonical spelling too.
      ["198.51.100.11", "2001:DB8:A:0::11", ...cases.slice(1).map(([target]) => target)],
      { netns: ns, count: 2, intervalMs: 200, timeoutMs: 1000 },
    );
    t.equal(mode, "raw", "root gets the raw socket");
    t.equal(got.size, cases.length + 1, "one record per target");
    t.match(got.get("198.51.100.11"), { state: "reply", sent: 2, received: 2 }, "the IPv4 target alongside");
    for (const [target, state, reason, from] of cases) {
      const r = got.get(target)!;
      const oracle = await ping6Oracle(client, target, 2, 0.2);
      t.ok(r, `${target}: a record, its address in RFC 5952 form`);
      t.equal(r.state, state, `${target}: ${state}`);
      t.equal(r.state, oracleState(oracle), `${target}: the state ping -6 implies`);
      t.equal(r.sent, 2, `${target}: 2 requests`);
      t.equal(r.received, oracle.received, `${target}: ${oracle.received} replies, as ping -6`);
      t.equal(r.reason, reason, `${target}: reason ${reason}`);
      t.equal(r.from, from, `${target}: from ${from}`);
      if (oracle.reason !== null) {
        t.equal(r.reason, oracle.reason, `${target}: ping -6 says ${oracle.reason}`);
        t.equal(r.from, oracle.from, `${target}: ping -6 names ${oracle.from}`);
        t.equal(r.errors, oracle.errors, `${target}: ${oracle.errors} errors, as ping -6`);
      }
      if (state === "reply") {
        const rtt = r.rttMs!;
        t.ok(rtt.min > 0 && rtt.min <= rtt.avg && rtt.avg <= rtt.max, `${target}: 0 < rtt min <= avg <= max`);
      } else {
        t.equal(r.rttMs, null);
      }
    }
    t.match(summary, {
      type: "summary",
      command: "ping",
      targets: 8,
      states: { reply: 3, "no-reply": 1, unreachable: 4 },
      packetsSent: 16,
    });
  });

  t.test("round-trip times: kernel-timed, not above ping -6's (1.5x or 20 µs allowed)", async (t) => {
    const samples = 20;
    for (const target of ["2001:db8:a::11", "2001:db8:b::20"]) {
      const oracle = await ping6Oracle(client, target, samples, 0.05);
      const { got } = await collect([target], { netns: ns, count: samples, intervalMs: 50 });
      const r = got.get(target)!;
      const rtt = r.rttMs!;
      t.equal(r.received, samples, `${target}: every reply`);
      t.equal(oracle.times.length, samples, `${target}: ping -6 got every reply`);
      t.ok(rtt.min > 0, `${target}: every RTT > 0`);
      t.ok(
        rtt.min <= Math.min(...oracle.times) * FACTOR + SLACK_MS,
        `${target}: min ${rtt.min} ms not above ping -6's ${Math.min(...oracle.times)} ms`,
      );
      t.ok(
        rtt.avg <= median(oracle.times) * FACTOR + SLACK_MS,
        `${target}: avg ${rtt.avg} ms not above ping -6's median ${median(oracle.times)} ms`,
      );
    }
  });

  t.test("an on-link address nobody has: neighbour discovery gives up, and the host says so", async (t) => {
    const target = "2001:db8:a::77";
    const { got } = await collect([target], { netns: ns, count: 5, intervalMs: 1000, timeoutMs: 1000 });
    const oracle = await ping6Oracle(client, target, 5, 1);
    t.equal(got.get(target)?.state, oracleState(oracle), `ping -6 says ${oracleState(oracle)} too`);
    if (oracle.reason !== null) {
      t.match(got.get(target), {
        state: "unreachable",
        reason: oracle.reason,
        from: oracle.from,
        received: 0,
      });
    }
  });

  t.test("the CLI: JSON, table, refusals of what cannot be pinged", async (t) => {
    const json = await run(process.execPath, [
      BIN,
      "ping",
      "--netns",
      ns,
      "--json",
      "-c",
      "2",
      "2001:db8:a::11",
      "198.51.100.11",
    ]);
    t.equal(json.code, 0, "exit 0 when every target replies");
    const lines = json.stdout
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as PingRecord | SummaryRecord);
    t.same(
      lines
        .filter((l) => l.type === "ping")
        .map((l) => (l as PingRecord).target)
        .sort(),
      ["198.51.100.11", "2001:db8:a::11"],
    );
    const human = await run(process.execPath, [
      BIN,
      "ping",
      "--netns",
      ns,
      "2001:db8:5::1",
      "2001:db8:a::11",
    ]);
    t.equal(human.code, 1);
    t.match(human.stdout, /2001:db8:5::1\s+unreachable\s+0\/3\s+100%\s+-\s+net-unreach from 2001:db8:a::1/);
    t.match(human.stdout, /2001:db8:a::11\s+reply\s+3\/3\s+0%/);
    const capped = await run(process.execPath, [
      BIN,
      "ping",
      "--netns",
      ns,
      "--json",
      "-c",
      "1",
      "--timeout",
      "200",
      "--ipv6-cap",
      "16",
      "2001:db8:a::10/124",
    ]);
    t.equal(capped.stdout.split("\n").filter((l) => l.includes('"type":"ping"')).length, 16, "a raised cap");
    for (const [args, message] of [
      [["2001:db8:a::/64"], /a \/64 holds 18446744073709551616 addresses.*--ipv6-cap/],
      [["--ipv6-cap", "8", "2001:db8:a::10/124"], /more than the cap of 8/],
      [["::ffff:198.51.100.11"], /IPv4-mapped/],
      [["fe80::1%eth0"], /zone index/],
      [["2001:db8::g"], /invalid IPv6 address/],
    ] as Array<[string[], RegExp]>) {
      const r = await run(process.execPath, [BIN, "ping", "--netns", ns, ...args]);
      t.equal(r.code, 2, `${args.join(" ")}: exit 2`);
      t.match(r.stderr, message);
      t.equal(r.stderr.trim().split("\n").length, 1, `${args.join(" ")}: one line`);
    }
  });

  t.test("without root: an ICMPv6 datagram socket, where net.ipv4.ping_group_range allows", async (t) => {
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
    const denied = await asNobody(["2001:db8:a::11"]);
    t.equal(denied.code, 3, "no raw socket and no ping group: exit 3");
    t.match(denied.stderr, /ICMPv6 datagram socket.*ping_group_range \(1 0\)/);
    await client.exec("sysctl", ["-q", "-w", "net.ipv4.ping_group_range=65534 65534"]);
    const r = await asNobody([
      "--json",
      "2001:db8:a::11",
      "2001:db8:b::20",
      "2001:db8:a::13",
      "198.51.100.11",
    ]);
    t.equal(r.code, 1, "one target does not answer");
    const got = r.stdout
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as PingRecord | SummaryRecord);
    const rec = (target: string) => got.find((x) => x.type === "ping" && x.target === target);
    t.match(rec("2001:db8:a::11"), { state: "reply", received: 3 });
    t.match(rec("2001:db8:b::20"), { state: "reply", received: 3 });
    t.match(rec("2001:db8:a::13"), { state: "no-reply" });
    t.match(rec("198.51.100.11"), { state: "reply", received: 3 }, "an IPv4 target in the same run");
    const oracle = await client.exec(
      "setpriv",
      ["--reuid=65534", "--regid=65534", "--clear-groups", "ping", "-6", "-n", "-c", "1", "2001:db8:a::11"],
      { reject: false },
    );
    t.match(oracle.stdout, /1 received/, "ping -6 as nobody replies too");

    await client.exec("sysctl", ["-q", "-w", "net.ipv4.ping_group_range=0 0"]);
    const { got: dgram, mode } = await collect(["2001:db8:a::11", "2001:db8:5::1"], {
      netns: ns,
      mode: "dgram",
      count: 2,
      timeoutMs: 500,
    });
    t.equal(mode, "dgram");
    t.match(dgram.get("2001:db8:a::11"), { state: "reply", received: 2 });
    t.match(
      dgram.get("2001:db8:5::1"),
      { state: "no-reply", errors: 0 },
      "the kernel keeps ICMPv6 errors from it",
    );
    await client.exec("sysctl", ["-q", "-w", "net.ipv4.ping_group_range=1 0"]);
  });
});
