// scan -sU over IPv6 against nmap -6 -sU in the same lab namespace: the same state and reason for every target
// x port: open (dnsmasq answering the DNS payload, a UDP echo service), closed (ICMPv6 port unreachable),
// open|filtered (an nftables drop), every ICMPv6 unreachable code nftables can send (no-route,
// admin-prohibited, addr-unreachable, policy-fail, reject-route), host unreachable from a router whose
// neighbour discovery fails, admin-prohibited and no-route from a router's routes, and a down host (no NDP
// answer). A host with the kernel's default ICMPv6 rate limit; a capture of the probes (UDP checksums over
// IPv6); -sS -sU with IPv4 and IPv6 targets in one run; -p T:..,U:.. over IPv6. Addresses from
// 2001:db8::/32 (added with nodad) and 198.51.100.0/24.
//
//   segment a 2001:db8:a::/64 + 198.51.100.0/24: node ::10 / .10 (the prober), router ::1, svc ::11 / .11
//     (dnsmasq on 53, echo on 7777, nothing on 5000, 6000-6005 rejected or dropped by nftables, see SVC_RULES),
//     limited ::12 (nothing listening, the default ICMPv6 rate limit); nobody at ::77 (down)
//   segment b 2001:db8:b::/64: router ::1 (fast, short neighbour discovery); nobody at ::99
//   router: no route to 2001:db8:7::/48, `prohibit 2001:db8:6::/48`

import t from "tap";
import type { Host } from "../src/lab";
import * as udp from "../src/packet/udp";
import type { HostRecord, PortRecord, SummaryRecord } from "../src/records";
import { startCapture } from "./helpers/capture";
import { runCli } from "./helpers/cli";
import { startDnsmasq } from "./helpers/dns-lab";
import { withLab } from "./helpers/lab";
import { type NmapHost, nmapOracle } from "./helpers/nmap";

const SVC = "2001:db8:a::11";
const SVC4 = "198.51.100.11";
const LIMITED = "2001:db8:a::12";
const DOWN = "2001:db8:a::77";
const BEHIND = "2001:db8:b::99";
const PROHIBITED = "2001:db8:6::1";
const NO_ROUTE = "2001:db8:7::1";
const PORTS = "53,5000,6000-6005,7777";
const LIMITED_PORTS = "2001-2009";

const SVC_RULES = `table inet udp6 {
  chain input {
    type filter hook input priority 0; policy accept;
    udp dport 6000 reject with icmpv6 type admin-prohibited
    udp dport 6001 drop
    udp dport 6002 reject with icmpv6 type no-route
    udp dport 6003 reject with icmpv6 type addr-unreachable
    udp dport 6004 reject with icmpv6 type policy-fail
    udp dport 6005 reject with icmpv6 type reject-route
  }
}
`;

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function run(ns: string, args: string[]): Promise<Result> {
  return runCli(ns, ["scan", ...args]);
}

type Rec = PortRecord | HostRecord | SummaryRecord;

function records(stdout: string): Rec[] {
  return stdout
    .split("\n")
    .filter((l) => l.trim() !== "")
    .map((l) => JSON.parse(l) as Rec);
}

/** "address proto/port" -> "state/reason" of NDJSON port records. */
function verdictsOf(stdout: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const r of records(stdout)) {
    if (r.type !== "port") continue;
    out[`${r.target} ${r.protocol}/${r.port}`] = `${r.state}/${r.reason}`;
  }
  return out;
}

/** The same of nmap's hosts (its XML names no protocol per host: `protocol` says which). */
function verdictsOfNmap(hosts: Map<string, NmapHost>, protocol: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const h of hosts.values()) {
    for (const [port, v] of Object.entries(h.ports))
      out[`${h.addr} ${protocol}/${port}`] = `${v.state}/${v.reason}`;
  }
  return out;
}

/** Waits until the ICMPv6 rate limiter of `limited` has its burst back (a token a second, six at most). */
const refill = () => new Promise((resolve) => setTimeout(resolve, 7000));

async function waitForUdp(host: Host, port: number): Promise<void> {
  for (let i = 0; ; i++) {
    const r = await host.exec("ss", ["-lunH", `sport = :${port}`], { reject: false });
    if (r.stdout.trim() !== "") return;
    if (i > 200) throw new Error(`nothing listens on udp/${port}`);
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

t.test("scan -sU over IPv6 as nmap -6 -sU", async (t) => {
  const lab = await withLab(t, { name: "udp6", ipv6: true });
  const a = await lab.segment("a");
  const b = await lab.segment("b");
  const router = await lab.router("r", [
    [a, "2001:db8:a::1/64"],
    [b, "2001:db8:b::1/64"],
  ]);
  await router.sysctl("net.ipv6.conf.all.forwarding", "1");
  await router.sysctl("net.ipv6.icmp.ratelimit", "0");
  // Neighbour discovery on b gives up after one solicitation and 200 ms: address unreachable comes quickly.
  await router.sysctl("net.ipv6.neigh.eth1.mcast_solicit", "1");
  await router.sysctl("net.ipv6.neigh.eth1.retrans_time_ms", "200");
  await router.route(["prohibit", "2001:db8:6::/48"]);
  const node = await lab.host("node");
  await node.connect(a, { address: ["2001:db8:a::10/64", "198.51.100.10/24"] });
  await node.route(["::/0", "via", "2001:db8:a::1"]);
  const svc = await lab.host("svc");
  await svc.connect(a, { address: [`${SVC}/64`, `${SVC4}/24`] });
  await svc.route(["::/0", "via", "2001:db8:a::1"]);
  await svc.sysctl("net.ipv6.icmp.ratelimit", "0");
  await svc.sysctl("net.ipv4.icmp_ratelimit", "0");
  await svc.nft(SVC_RULES);
  await startDnsmasq(svc, SVC, [`--listen-address=${SVC4}`, "--host-record=web.lab,2001:db8:a::80"]);
  svc.spawn(
    "python3",
    [
      "-c",
      [
        "import socket",
        "s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)",
        `s.bind(("${SVC}", 7777))`,
        "while True:",
        "    d, a = s.recvfrom(2048)",
        "    s.sendto(d or b'echo', a)",
      ].join("\n"),
    ],
    { stdio: "ignore" },
  );
  await waitForUdp(svc, 7777);
  const limited = await lab.host("limited");
  await limited.connect(a, { address: `${LIMITED}/64` });
  // The kernel's default, set explicitly in the lab namespace.
  await limited.sysctl("net.ipv6.icmp.ratelimit", "1000");
  const ns = node.ns;

  t.test("every target x port: the state and reason nmap -6 -sU gives", async (t) => {
    const targets = [SVC, BEHIND, PROHIBITED, NO_ROUTE, DOWN];
    const nmap = await nmapOracle(node, ["-6", "-sU", "-Pn", "-n", "-p", PORTS, ...targets]);
    const r = await run(ns, ["-sU", "-p", PORTS, "--json", ...targets]);
    t.equal(r.code, 0, r.stderr);
    const got = records(r.stdout);
    const port = (target: string, p: number) =>
      got.find((x): x is PortRecord => x.type === "port" && x.target === target && x.port === p);
    const cases: Array<[string, number, string, string]> = [
      [SVC, 53, "open", "udp-response"],
      [SVC, 7777, "open", "udp-response"],
      [SVC, 5000, "closed", "port-unreach"],
      [SVC, 6000, "filtered", "admin-prohibited"],
      [SVC, 6001, "open|filtered", "no-response"],
      [SVC, 6002, "filtered", "no-route"],
      [SVC, 6003, "filtered", "host-unreach"],
      [SVC, 6004, "filtered", "admin-prohibited"],
      [SVC, 6005, "filtered", "reject-route"],
      [BEHIND, 53, "filtered", "host-unreach"],
      [BEHIND, 5000, "filtered", "host-unreach"],
      [PROHIBITED, 53, "filtered", "admin-prohibited"],
      [NO_ROUTE, 53, "filtered", "no-route"],
    ];
    for (const [target, p, state, reason] of cases) {
      const rec = port(target, p);
      const oracle = nmap.get(target)?.ports[String(p)];
      t.same(oracle, { state, reason }, `nmap: ${target} ${p} is ${state} (${reason})`);
      t.same(
        { state: rec?.state, reason: rec?.reason },
        oracle,
        `${target} udp/${p}: as nmap -6 -sU (${JSON.stringify(oracle)})`,
      );
      t.equal(rec?.protocol, "udp");
      t.comment(
        `oracle ${target} udp/${p}: nmap ${oracle?.state}/${oracle?.reason}, wireprobe ${rec?.state}/${rec?.reason}`,
      );
    }
    t.same(
      Object.fromEntries(Object.entries(verdictsOf(r.stdout)).filter(([k]) => !k.startsWith(`${DOWN} `))),
      verdictsOfNmap(new Map([...nmap].filter(([k]) => k !== DOWN)), "udp"),
      "every port of every scanned host, as nmap",
    );
    t.match(port(BEHIND, 53), { reasonIp: "2001:db8:a::1" }, "the router sent address unreachable");
    t.match(port(PROHIBITED, 53), { reasonIp: "2001:db8:a::1" });
    t.equal(port(SVC, 5000)?.reasonIp, undefined, "the target itself sent port unreachable");
    t.match(
      got.find((x) => x.type === "host" && x.target === DOWN),
      { state: "down", reason: "no-ndp-reply" },
      "no neighbour advertisement: down",
    );
    t.equal(nmap.get(DOWN)?.status, "down", "nmap -6 -Pn finds it down too");
    t.comment(`oracle ${DOWN}: nmap host ${nmap.get(DOWN)?.status}, wireprobe host down/no-ndp-reply`);
    const summary = got.at(-1) as SummaryRecord;
    t.equal(summary.type, "summary");
    t.equal(summary.method, "udp");
    t.equal(summary.mayBeRateLimited, 1, "6001 (dropped) of a host that sent port unreachables");
  });

  t.test("the kernel's default ICMPv6 rate limit: every closed port found, as nmap", async (t) => {
    const oracle = verdictsOfNmap(
      await nmapOracle(node, ["-6", "-sU", "-Pn", "-n", "-p", LIMITED_PORTS, LIMITED]),
      "udp",
    );
    t.equal(Object.keys(oracle).length, 9);
    t.ok(
      Object.values(oracle).every((v) => v === "closed/port-unreach"),
      `nmap: all closed (${JSON.stringify(oracle)})`,
    );
    await refill();
    const r = await run(ns, ["-sU", "-p", LIMITED_PORTS, "--json", LIMITED]);
    t.equal(r.code, 0, r.stderr);
    t.same(verdictsOf(r.stdout), oracle, "the same verdicts as nmap");
    const summary = records(r.stdout).at(-1) as SummaryRecord;
    t.ok((summary.retransmissions ?? 0) > 0, "the unanswered ports were sent again");
    t.equal(summary.mayBeRateLimited, 0, "no open|filtered port left on the rate-limited host");

    // Without retries (a hard limit the user chose) the limiter hides some, and the summary says so.
    await refill();
    const short = await run(ns, ["-sU", "-p", LIMITED_PORTS, "--retries", "0", "--json", LIMITED]);
    t.equal(short.code, 0, short.stderr);
    const silent = Object.values(verdictsOf(short.stdout)).filter((v) => v === "open|filtered/no-response");
    t.ok(silent.length > 0, `the limiter hid ${silent.length} closed ports from one pass`);
    t.equal((records(short.stdout).at(-1) as SummaryRecord).mayBeRateLimited, silent.length, "counted");
  });

  t.test("a capture: the probes are IPv6 UDP datagrams with correct checksums", async (t) => {
    const capture = await startCapture(node, "eth0", "ip6 and udp and dst host " + SVC);
    const r = await run(ns, ["-sU", "-p", "53,123,161,5000,7777", "--json", SVC]);
    const frames = await capture.stop();
    t.equal(r.code, 0, r.stderr);
    const probes = frames.filter((f) => f.data.readUInt16BE(12) === 0x86dd && f.data[20] === 17);
    t.ok(probes.length >= 5, `${probes.length} probes captured`);
    const ports = new Set<number>();
    for (const f of probes) {
      const ip = f.data.subarray(14);
      const src = ip.subarray(8, 24);
      const dst = ip.subarray(24, 40);
      const payloadLength = ip.readUInt16BE(4);
      // decode with both addresses: the checksum is verified, and a zero one is refused (mandatory over IPv6)
      const u = udp.decode(ip, 40, payloadLength, { srcIp6: src, dstIp6: dst });
      t.not(u.checksum, 0, `udp/${u.dstPort}: a checksum`);
      t.equal(u.length, payloadLength, "the UDP length is the IPv6 payload length");
      t.not(ip.readUInt32BE(0) & 0xfffff, 0, "a flow label (the probe's cookie)");
      ports.add(u.dstPort);
      if (u.dstPort === 53) t.equal(u.payloadLength, 12, "the DNS payload (a status request)");
      if (u.dstPort === 123) t.equal(u.payloadLength, 48, "the NTP payload");
      if (u.dstPort === 5000) t.equal(u.payloadLength, 0, "an empty datagram elsewhere");
    }
    t.same(
      [...ports].sort((x, y) => x - y),
      [53, 123, 161, 5000, 7777],
      "every port probed",
    );
  });

  t.test("-sS -sU with IPv4 and IPv6 targets in one run, as nmap and nmap -6", async (t) => {
    // nmap scans one family per run: the oracle is an IPv4 run and an IPv6 run, each protocol read apart.
    const both = async (family: string[], target: string) => {
      const tcp = await nmapOracle(node, [...family, "-sS", "-Pn", "-n", "-p", "53,22", target]);
      const u = await nmapOracle(node, [...family, "-sU", "-Pn", "-n", "-p", "53,5000", target]);
      return { ...verdictsOfNmap(tcp, "tcp"), ...verdictsOfNmap(u, "udp") };
    };
    const oracle = { ...(await both([], SVC4)), ...(await both(["-6"], SVC)) };
    t.same(
      oracle,
      {
        [`${SVC4} tcp/22`]: "closed/reset",
        [`${SVC4} tcp/53`]: "open/syn-ack",
        [`${SVC4} udp/53`]: "open/udp-response",
        [`${SVC4} udp/5000`]: "closed/port-unreach",
        [`${SVC} tcp/22`]: "closed/reset",
        [`${SVC} tcp/53`]: "open/syn-ack",
        [`${SVC} udp/53`]: "open/udp-response",
        [`${SVC} udp/5000`]: "closed/port-unreach",
      },
      "nmap sees the lab as built",
    );
    const r = await run(ns, ["-sS", "-sU", "-p", "T:53,22,U:53,5000", "--json", SVC4, SVC]);
    t.equal(r.code, 0, r.stderr);
    t.same(verdictsOf(r.stdout), oracle, "both families, both protocols, as nmap");
    const summary = records(r.stdout).at(-1) as SummaryRecord;
    t.equal(summary.method, "syn");
    t.equal(summary.udpPorts, 2);
    const x = await run(ns, ["-sS", "-sU", "-p", "T:53,22,U:53,5000", "-oX", "-", SVC4, SVC]);
    t.equal(x.code, 0, x.stderr);
    t.match(x.stdout, /<address addr="2001:db8:a::11" addrtype="ipv6"\/>/);
    t.match(x.stdout, /<port protocol="udp" portid="5000"><state state="closed" reason="port-unreach"/);
  });

  t.test("-p T:..,U:.. over IPv6: as nmap -6 -sS -sU", async (t) => {
    const ports = "T:53,22,U:53,5000,6001";
    const nmapXml = await node.exec("nmap", ["-6", "-sS", "-sU", "-Pn", "-n", "-p", ports, "-oX", "-", SVC], {
      timeoutMs: 120_000,
    });
    const protocols = [
      ...nmapXml.stdout.matchAll(
        /<port protocol="(\w+)" portid="(\d+)"><state state="([^"]+)" reason="([^"]+)"/g,
      ),
    ];
    const oracle = Object.fromEntries(protocols.map((m) => [`${SVC} ${m[1]}/${m[2]}`, `${m[3]}/${m[4]}`]));
    t.equal(Object.keys(oracle).length, 5, JSON.stringify(oracle));
    const r = await run(ns, ["-6", "-sS", "-sU", "-p", ports, "--json", SVC]);
    t.equal(r.code, 0, r.stderr);
    t.same(verdictsOf(r.stdout), oracle, "the same verdicts as nmap -6");
  });
});
