// `wireprobe scan --shard I/N --seed S`: a scan split as an Indexed Job splits it, one CLI process per shard.
// The lab (as the sweep benchmarks build it): a prober and a gateway on one veth pair; the prober routes
// 198.18.0.0/16 via the gateway, whose kernel owns the /16 as a local route (AnyIP), so one neighbour entry
// serves the whole sweep (an on-link /16 would stall on the neighbour table) and every address answers from
// the gateway's kernel: SYN-ACK from a listener on port 80, and nftables gives some subnets other answers
// (RST, silence, an ICMP admin-prohibited). The oracle is the same scan unsharded: the shards' records are
// pairwise disjoint by target x port, their union equals it record for record (state and reason), and each
// shard probes a quarter. Then -sS -sU on several ports of a small range, the same way.

import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t, { type Test } from "tap";
import type { Host } from "../src/lab";
import type { HostRecord, PortRecord, SummaryRecord } from "../src/records";
import { runCli } from "./helpers/cli";
import { withLab } from "./helpers/lab";

// five /16 scans
t.setTimeout(5 * 60_000);

type Rec = PortRecord | HostRecord | SummaryRecord;

const RANGE = "198.18.0.0/16";
const SEED = "20260501";

function parse(stdout: string): Rec[] {
  return stdout
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Rec);
}

/** target x port x protocol -> "state reason" (a host record: target -> "down reason"). */
function outcomes(records: readonly Rec[]): Map<string, string> {
  const m = new Map<string, string>();
  for (const r of records) {
    if (r.type === "summary") continue;
    const key = r.type === "port" ? `${r.target} ${r.port}/${r.protocol}` : `${r.target} host`;
    if (m.has(key)) throw new Error(`${key} twice in one run`);
    m.set(key, r.type === "port" ? `${r.state} ${r.reason}` : `down ${r.reason}`);
  }
  return m;
}

async function gatewayLab(t: Test, name: string): Promise<{ prober: Host; gateway: Host }> {
  const lab = await withLab(t, name);
  const prober = await lab.host("prober");
  const gateway = await lab.host("gw");
  await prober.link(
    gateway,
    { ifname: "eth0", address: "198.51.100.10/24" },
    { ifname: "eth0", address: "198.51.100.2/24" },
  );
  await prober.route([RANGE, "via", "198.51.100.2"]);
  await gateway.route(["local", RANGE, "dev", "lo"]);
  // Every ICMP error goes out (no per-peer or global rate limit): the answers are the same in every run.
  await gateway.sysctl("net.ipv4.icmp_ratelimit", "0");
  await gateway.sysctl("net.ipv4.icmp_msgs_per_sec", "1000000");
  await gateway.sysctl("net.ipv4.icmp_msgs_burst", "1000000");
  // SYN cookies keep a /16 of SYNs to one listener answered once its queue is full.
  await gateway.sysctl("net.ipv4.tcp_syncookies", "2");
  await gateway.nft(`
table inet lab {
  chain input {
    type filter hook input priority 0;
    ip daddr 198.18.7.0/24 tcp dport 80 drop
    ip daddr 198.18.8.0/24 tcp dport 80 reject with icmp type admin-prohibited
    ip daddr 198.18.9.0/24 tcp dport 80 reject with tcp reset
    ip daddr 198.18.0.0/27 udp dport 5353 drop
  }
}
`);
  const code =
    "import socket,time\ns=socket.socket()\ns.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\ns.bind(('0.0.0.0',80))\ns.listen(4096)\ntime.sleep(1e6)";
  const listener = gateway.spawn("python3", ["-c", code], { stdio: "ignore" });
  t.teardown(() => {
    listener.kill("SIGKILL");
  });
  for (let i = 0; (await gateway.exec("ss", ["-ltnH", "sport = :80"])).stdout.trim() === ""; i++) {
    if (i > 200) throw new Error("the listener did not start");
    await new Promise((r) => setTimeout(r, 25));
  }
  return { prober, gateway };
}

/** Runs a scan in the prober namespace; its records and summary. */
async function scanRun(
  t: Test,
  prober: Host,
  args: readonly string[],
): Promise<{ records: Rec[]; summary: SummaryRecord; stderr: string }> {
  const r = await runCli(prober.ns, ["scan", "--json", ...args], { timeoutMs: 300_000 });
  t.equal(r.code, 0, `wireprobe scan ${args.join(" ")}: exit 0${r.stderr ? ` (${r.stderr.trim()})` : ""}`);
  const records = parse(r.stdout);
  const summary = records.find((x): x is SummaryRecord => x.type === "summary")!;
  return { records, summary, stderr: r.stderr };
}

t.test("a /16 in 4 shards: disjoint shares whose union is the unsharded scan", async (t) => {
  const { prober } = await gatewayLab(t, "shard16");
  const dir = mkdtempSync(join(tmpdir(), "wp-shard-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const common = ["-p", "80", "--rate", "20000", RANGE];

  const whole = await scanRun(t, prober, common);
  const all = outcomes(whole.records);
  t.equal(all.size, 65536, "the unsharded scan: a record for every address");
  const states = new Map<string, number>();
  for (const v of all.values()) states.set(v, (states.get(v) ?? 0) + 1);
  t.same(
    Object.fromEntries([...states].sort()),
    {
      "closed reset": 256,
      "filtered admin-prohibited": 256,
      "filtered no-response": 256,
      "open syn-ack": 65536 - 3 * 256,
    },
    "the lab's answers: open, closed, and filtered both ways",
  );
  t.equal(whole.summary.packetsDropped, 0, "the unsharded scan lost no answer in the kernel");
  t.comment(`unsharded: ${whole.summary.probes} probes in ${whole.summary.durationMs} ms`);

  const union = new Map<string, string>();
  const sizes: number[] = [];
  for (let i = 0; i < 4; i++) {
    const gnmap = join(dir, `shard-${i}.gnmap`);
    const part = await scanRun(t, prober, ["--shard", `${i}/4`, "--seed", SEED, "-oG", gnmap, ...common]);
    t.equal(part.summary.shard, `${i}/4`, `shard ${i}: the summary says which`);
    t.equal(part.summary.targets, 65536, "targets: the whole scan's");
    t.equal(part.summary.packetsDropped, 0, `shard ${i}: no answer lost in the kernel`);
    t.comment(`shard ${i}/4: ${part.summary.probes} probes in ${part.summary.durationMs} ms`);
    const mine = outcomes(part.records);
    sizes.push(mine.size);
    t.equal(part.summary.probes, mine.size, `shard ${i}: its probes, one record each`);
    let overlap = 0;
    for (const [k, v] of mine) {
      if (union.has(k)) overlap++;
      union.set(k, v);
    }
    t.equal(overlap, 0, `shard ${i} shares no target x port with the shards before it`);
    const lines = readFileSync(gnmap, "utf8").split("\n");
    t.match(lines[0], /^# wireprobe \S+ scan initiated .* --shard \d\/4 --seed 20260501 /, "-oG header");
    t.equal(
      lines[1],
      `# wireprobe shard ${i}/4 (seed ${SEED}): this file holds one share of the scan; the 4 shards' files together hold all of it`,
      "-oG says it holds one share",
    );
    t.equal(
      lines.filter((l) => l.includes("\tPorts: 80/")).length,
      mine.size,
      `shard ${i}: its -oG file lists its own hosts`,
    );
    // spread over the whole range: every /18 quarter of the /16 has some of this shard's addresses
    const quarters = new Set([...mine.keys()].map((k) => Number(k.split(".")[2]) >> 6));
    t.equal(quarters.size, 4, `shard ${i}: addresses in every quarter of the /16, not one block of it`);
  }
  t.same(sizes, [16384, 16384, 16384, 16384], "a /16 x 1 port in 4: exactly a quarter each");
  t.equal(union.size, all.size, "the union has as many records as the unsharded scan");
  let differ = 0;
  for (const [k, v] of all) if (union.get(k) !== v) differ++;
  t.equal(differ, 0, "the union equals the unsharded scan: every target x port, state and reason");
});

t.test("-sS -sU on several ports of a small range, in 3 shards", async (t) => {
  const { prober } = await gatewayLab(t, "shardudp");
  // /27: 32 targets x (TCP 22, 80, 443 + UDP 53, 5353), 160 probes; one target down (no route): its host
  // record belongs to one shard only
  await prober.route(["unreachable", "198.18.0.31/32"]);
  const common = ["-sS", "-sU", "-p", "T:22,80,443,U:53,5353", "--rate", "5000", "198.18.0.0/27"];
  const whole = await scanRun(t, prober, common);
  const all = outcomes(whole.records);
  t.equal(all.size, 31 * 5 + 1, "31 targets x 5 ports, and the unreachable host");
  t.equal(all.get("198.18.0.31 host"), "down unreachable");
  t.equal(all.get("198.18.0.5 80/tcp"), "open syn-ack");
  t.equal(all.get("198.18.0.5 22/tcp"), "closed reset");
  t.equal(all.get("198.18.0.5 53/udp"), "closed port-unreach");
  t.equal(all.get("198.18.0.5 5353/udp"), "open|filtered no-response");

  const union = new Map<string, string>();
  let hostRecords = 0;
  for (let i = 0; i < 3; i++) {
    const part = await scanRun(t, prober, ["--shard", `${i}/3`, "--seed", "7", ...common]);
    const mine = outcomes(part.records);
    if (mine.has("198.18.0.31 host")) hostRecords++;
    t.equal(part.summary.shard, `${i}/3`);
    t.ok(part.summary.probes! > 0, `shard ${i} probes ${part.summary.probes} pairs`);
    for (const [k, v] of mine) {
      t.notOk(union.has(k), `${k} in one shard only`);
      union.set(k, v);
    }
  }
  t.equal(hostRecords, 1, "the down host is reported by one shard");
  t.same(Object.fromEntries([...union].sort()), Object.fromEntries([...all].sort()), "union = unsharded");

  // The connect scan (-sT, what runs without CAP_NET_RAW) shards the same way.
  const connect = ["-sT", "-p", "22,80,443", "--timeout", "500", "198.18.0.0/27"];
  const connectAll = outcomes((await scanRun(t, prober, connect)).records);
  t.equal(connectAll.get("198.18.0.5 80/tcp"), "open syn-ack");
  t.equal(connectAll.get("198.18.0.5 22/tcp"), "closed conn-refused");
  const connectUnion = new Map<string, string>();
  for (let i = 0; i < 2; i++) {
    const part = await scanRun(t, prober, ["--shard", `${i}/2`, "--seed", "3", ...connect]);
    t.equal(part.summary.method, "connect");
    for (const [k, v] of outcomes(part.records)) {
      t.notOk(connectUnion.has(k), `-sT: ${k} in one shard only`);
      connectUnion.set(k, v);
    }
  }
  t.same(
    Object.fromEntries([...connectUnion].sort()),
    Object.fromEntries([...connectAll].sort()),
    "-sT: union = unsharded",
  );
});
