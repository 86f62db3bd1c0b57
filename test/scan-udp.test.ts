// scan -sU against nmap -sU in the same lab namespace: the same state and reason for every target x port,
// for open (dnsmasq answering the DNS payload, a UDP echo service), closed (port unreachable), filtered (an
// nftables reject with admin-prohibited), open|filtered (an nftables drop) and for a host whose kernel
// rate-limits its port unreachables (the default limit, a dozen closed ports); -sS -sU with -p T:80,U:53;
// the -oG, -oX, human and NDJSON shapes; -sU without CAP_NET_RAW.
//
//   segment a 198.51.100.0/24: node .10 (the prober), svc .21 (dnsmasq on 53, echo on 7777, nothing on
//   5000, 6000 rejected admin-prohibited, 6001 dropped), limited .22 (nothing listening: 12 closed ports)

import t from "tap";
import type { Host } from "../src/lab";
import type { PortRecord, SummaryRecord } from "../src/records";
import { AS_NOBODY, runCli } from "./helpers/cli";
import { startDnsmasq } from "./helpers/dns-lab";
import { withLab } from "./helpers/lab";

const SVC = "198.51.100.21";
const LIMITED = "198.51.100.22";
const SVC_PORTS = "53,5000,6000,6001,7777";
const LIMITED_PORTS = "2001-2009";

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function run(ns: string, args: string[], prefix: readonly string[] = []): Promise<Result> {
  return runCli(ns, ["scan", ...args], { asUser: prefix });
}

// nmap's XML read as a consumer would (ElementTree): "address proto/port" -> "state/reason", extraports too.
const READ_XML = `
import json, sys, xml.etree.ElementTree as ET
root = ET.fromstring(sys.stdin.read())
out = {}
for h in root.findall("host"):
    addr = h.find("address").get("addr")
    for p in h.findall("ports/port"):
        s = p.find("state")
        out[addr + " " + p.get("protocol") + "/" + p.get("portid")] = s.get("state") + "/" + s.get("reason")
    for ex in h.findall("ports/extraports"):
        for er in ex.findall("extrareasons"):
            for part in er.get("ports").split(","):
                lo, _, hi = part.partition("-")
                for n in range(int(lo), int(hi or lo) + 1):
                    out[addr + " " + er.get("proto") + "/" + str(n)] = ex.get("state") + "/" + er.get("reason")
print(json.dumps(out, sort_keys=True))
`;

async function verdictsOfXml(host: Host, xml: string): Promise<Record<string, string>> {
  const parsed = await host.exec("python3", ["-c", READ_XML], { input: xml });
  return JSON.parse(parsed.stdout) as Record<string, string>;
}

async function nmap(host: Host, args: string[]): Promise<string> {
  return (await host.exec("nmap", ["-n", "-Pn", ...args], { timeoutMs: 600_000 })).stdout;
}

function records(stdout: string): Array<PortRecord | SummaryRecord | { type: string }> {
  return stdout
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as PortRecord | SummaryRecord);
}

/** "address proto/port" -> "state/reason" of NDJSON port records. */
function verdictsOfRecords(stdout: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const r of records(stdout)) {
    if (r.type !== "port") continue;
    const p = r as PortRecord;
    out[`${p.target} ${p.protocol}/${p.port}`] = `${p.state}/${p.reason}`;
  }
  return out;
}

/** Waits until the ICMP rate limiter of `host` has its burst back (about one token a second, six at most). */
const refill = () => new Promise((resolve) => setTimeout(resolve, 7000));

t.test("scan -sU as nmap -sU", async (t) => {
  const lab = await withLab(t, "udpscan");
  const a = await lab.segment("a");
  const node = await lab.host("node");
  await node.connect(a, { address: "198.51.100.10/24" });
  const svc = await lab.host("svc");
  await svc.connect(a, { address: `${SVC}/24` });
  const limited = await lab.host("limited");
  await limited.connect(a, { address: `${LIMITED}/24` });
  // The default limit, set explicitly in the lab namespace: a burst, then one port unreachable a second.
  await limited.exec("sysctl", ["-w", "net.ipv4.icmp_ratelimit=1000"]);
  await svc.exec("sysctl", ["-w", "net.ipv4.icmp_ratelimit=0"]);
  await startDnsmasq(svc, SVC, ["--host-record=web.lab,198.51.100.80"]);
  svc.spawn(
    "python3",
    [
      "-c",
      [
        "import socket",
        "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)",
        `s.bind(("${SVC}", 7777))`,
        "while True:",
        "    d, a = s.recvfrom(2048)",
        "    s.sendto(d or b'echo', a)",
      ].join("\n"),
    ],
    { stdio: "ignore" },
  );
  await svc.exec("nft", ["-f", "-"], {
    input: `table inet udpscan {
  chain input {
    type filter hook input priority 0; policy accept;
    udp dport 6000 reject with icmp type admin-prohibited
    udp dport 6001 drop
  }
}
`,
  });
  for (let i = 0; ; i++) {
    const r = await svc.exec("ss", ["-lunH", "sport = :7777"], { reject: false });
    if (r.stdout.trim() !== "") break;
    if (i > 200) throw new Error("the echo service did not start");
    await new Promise((resolve) => setTimeout(resolve, 25));
  }

  t.test("open, closed, filtered, open|filtered: the same state and reason as nmap", async (t) => {
    const oracle = await verdictsOfXml(node, await nmap(node, ["-sU", "-p", SVC_PORTS, "-oX", "-", SVC]));
    t.same(
      oracle,
      {
        [`${SVC} udp/53`]: "open/udp-response",
        [`${SVC} udp/5000`]: "closed/port-unreach",
        [`${SVC} udp/6000`]: "filtered/admin-prohibited",
        [`${SVC} udp/6001`]: "open|filtered/no-response",
        [`${SVC} udp/7777`]: "open/udp-response",
      },
      "nmap sees the lab as built",
    );
    const r = await run(node.ns, ["-sU", "-p", SVC_PORTS, "--json", SVC]);
    t.equal(r.code, 0, r.stderr);
    t.same(verdictsOfRecords(r.stdout), oracle, "every port as nmap says it");
    const summary = records(r.stdout).at(-1) as SummaryRecord;
    t.equal(summary.method, "udp");
    t.equal(summary.udpPorts, 5);
    t.same(summary.states, { open: 2, closed: 1, filtered: 1, "open|filtered": 1 });
    t.equal(summary.mayBeRateLimited, 1, "6001 (dropped) of a host that sent a port unreachable");
    const x = await run(node.ns, ["-sU", "-p", SVC_PORTS, "-oX", "-", SVC]);
    t.equal(x.code, 0, x.stderr);
    t.same(await verdictsOfXml(node, x.stdout), oracle, "-oX read as nmap's is read: the same");
  });

  t.test("a host that rate-limits its port unreachables: every closed port found, as nmap", async (t) => {
    const oracle = await verdictsOfXml(
      node,
      await nmap(node, ["-sU", "-p", LIMITED_PORTS, "-oX", "-", LIMITED]),
    );
    t.equal(Object.keys(oracle).length, 9);
    t.ok(
      Object.values(oracle).every((v) => v === "closed/port-unreach"),
      "nmap: all closed",
    );
    await refill();
    const r = await run(node.ns, ["-sU", "-p", LIMITED_PORTS, "--json", LIMITED]);
    t.equal(r.code, 0, r.stderr);
    t.same(verdictsOfRecords(r.stdout), oracle, "the same verdicts as nmap");
    const summary = records(r.stdout).at(-1) as SummaryRecord;
    t.ok((summary.retransmissions ?? 0) > 0, "the unanswered ports were sent again");
    t.equal(summary.mayBeRateLimited, 0, "no open|filtered port left on the rate-limited host");

    // With one retry only (a hard limit the user chose), some stay unanswered, and the summary says so.
    await refill();
    const short = await run(node.ns, ["-sU", "-p", LIMITED_PORTS, "--retries", "1", "--json", LIMITED]);
    t.equal(short.code, 0, short.stderr);
    const verdicts = Object.values(verdictsOfRecords(short.stdout));
    const silent = verdicts.filter((v) => v === "open|filtered/no-response").length;
    t.ok(silent > 0, `the limiter hid ${silent} closed ports from two passes`);
    const s = records(short.stdout).at(-1) as SummaryRecord;
    t.equal(s.mayBeRateLimited, silent, "the summary counts them");
    const human = await run(node.ns, ["-sU", "-p", LIMITED_PORTS, "--retries", "1", LIMITED]);
    t.match(human.stdout, /open\|filtered UDP ports? of hosts that sent port unreachables may be closed/);
  });

  t.test("-sS -sU with -p T:80,U:53: both protocols, as nmap", async (t) => {
    const args = ["-sS", "-sU", "-p", "T:80,U:53"];
    const oracle = await verdictsOfXml(node, await nmap(node, [...args, "-oX", "-", SVC]));
    t.same(oracle, { [`${SVC} tcp/80`]: "closed/reset", [`${SVC} udp/53`]: "open/udp-response" });
    const r = await run(node.ns, [...args, "--json", SVC]);
    t.equal(r.code, 0, r.stderr);
    t.same(verdictsOfRecords(r.stdout), oracle, "the same verdicts as nmap");
    const summary = records(r.stdout).at(-1) as SummaryRecord;
    t.equal(summary.method, "syn");
    t.equal(summary.ports, 2);
    t.equal(summary.udpPorts, 1);
    const x = await run(node.ns, [...args, "-oX", "-", SVC]);
    t.same(await verdictsOfXml(node, x.stdout), oracle, "-oX: the same");
    t.match(x.stdout, /<scaninfo type="syn" protocol="tcp" numservices="1" services="80"\/>/);
    t.match(x.stdout, /<scaninfo type="udp" protocol="udp" numservices="1" services="53"\/>/);
    const connect = await run(node.ns, ["-sT", "-sU", "-p", "T:80,U:53", "--json", SVC]);
    t.equal(connect.code, 0, connect.stderr);
    t.same(
      Object.keys(verdictsOfRecords(connect.stdout)).sort(),
      [`${SVC} tcp/80`, `${SVC} udp/53`],
      "-sT -sU: both too",
    );
    const bad = await run(node.ns, ["-sS", "-p", "U:53", SVC]);
    t.equal(bad.code, 2, "U: without -sU is bad usage");
    t.match(bad.stderr, /UDP needs -sU/);
  });

  t.test("-oG, -oX and the report: nmap's shapes for UDP ports", async (t) => {
    const ports = "53,6001";
    const oracle = await nmap(node, ["-sU", "-p", ports, "-oG", "-", SVC]);
    const portsLine = (text: string) => /\tPorts: (.*)/.exec(text)?.[1];
    t.equal(
      portsLine(oracle),
      "53/open/udp//domain///, 6001/open|filtered/udp//X11:1///",
      "nmap's Ports field",
    );
    const g = await run(node.ns, ["-sU", "-p", ports, "-oG", "-", SVC]);
    t.equal(g.code, 0, g.stderr);
    t.equal(portsLine(g.stdout), portsLine(oracle), "the same Ports field as nmap's");
    const x = await run(node.ns, ["-sU", "-p", ports, "-oX", "-", SVC]);
    t.match(
      x.stdout,
      /<port protocol="udp" portid="6001"><state state="open\|filtered" reason="no-response" reason_ttl="0"\/>/,
    );
    // As nmap, a host none of whose answers needed a retry gets one retry for its silent ports, not ten.
    const once = await run(node.ns, ["-sU", "-p", ports, "--json", SVC]);
    const summary = records(once.stdout).at(-1) as SummaryRecord;
    t.equal(summary.retransmissions, 1, "6001 sent twice in all");
    t.equal(summary.mayBeRateLimited, 0, "no port unreachable from svc in this scan");
    const human = await run(node.ns, ["-sU", "-p", ports, SVC]);
    t.match(human.stdout, /^53\/udp\s+open\s+domain\s+udp-response$/m);
    t.match(human.stdout, /^6001\/udp\s+open\|filtered\s+X11:1\s+no-response$/m);
  });

  t.test("-sU without CAP_NET_RAW: one line, exit 3", async (t) => {
    const r = await run(node.ns, ["-sU", "-p", "53", SVC], AS_NOBODY);
    t.equal(r.code, 3, r.stderr);
    t.match(r.stderr, /^wireprobe: a UDP scan \(-sU\) needs root or CAP_NET_RAW \(EPERM\)\n$/);
  });
});
