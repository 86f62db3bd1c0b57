// `wireprobe scan` (SYN) over IPv6, checked against `nmap -6 -sS -Pn -n` in the same namespace. Next hops come
// from wireprobe's own NDP. Addresses from 2001:db8::/32 only (added with nodad).
//
// Every ICMPv6 error a TCP probe can meet, named as nmap -6 -sS names it, in the records, -oG, -oX and the
// report, with IPv4 hosts whose ICMP errors share the same 4-bit outcome codes in the same run.
//
//   segment a 2001:db8:a::/64 + 198.51.100.0/24: node ::10 / .10 (the prober), router ::1 / .1, web ::11
//     (8080 open, 22 closed, 81 dropped, 82 rejected with admin-prohibited, 83 with port-unreachable); odd ::12
//     (a responder that answers SYNs to 91-96 with crafted ICMPv6 errors, see ODD_KINDS); nobody at ::77
//     (down: no neighbour advertisement)
//   segment b 2001:db8:b::/64 + 203.0.113.0/24: router ::1 / .1, far ::20 (8080 open, 22 closed); nobody at
//     ::99 (the router's neighbour discovery fails: address unreachable)
//   router: `prohibit 2001:db8:6::/48` (admin-prohibited), `unreachable 2001:db8:7::/48` (no route); nftables
//     rejects b::31-37 and b::39 with each ICMPv6 unreachable code, 203.0.113.31-33 with ICMP net-prohibited,
//     host-prohibited and protocol unreachable, and sets the hop limit (TTL) of b::38 (203.0.113.38) to 1, so
//     forwarding them ends in time exceeded (ROUTER_RULES)

import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import type { Host } from "../src/lab";
import { withLab } from "./helpers/lab";
import { nmapOracle } from "./helpers/nmap";

const BIN = join(__dirname, "..", "bin", "wireprobe.js");
const PORTS = "22,81,82,8080";
/** the ports of the ICMPv6 cases: 83 rejected by web with port unreachable, 91-96 answered by odd */
const ERROR_PORTS = "22,83,91-96";

const ROUTER_RULES = `table inet wp {
  chain early {
    type filter hook prerouting priority raw; policy accept;
    ip6 daddr 2001:db8:b::38 ip6 hoplimit set 1
    ip daddr 203.0.113.38 ip ttl set 1
  }
  chain routed {
    type filter hook forward priority filter; policy accept;
    ip6 daddr 2001:db8:b::31 reject with icmpv6 type no-route
    ip6 daddr 2001:db8:b::32 reject with icmpv6 type admin-prohibited
    ip6 daddr 2001:db8:b::33 reject with icmpv6 type 2
    ip6 daddr 2001:db8:b::34 reject with icmpv6 type addr-unreachable
    ip6 daddr 2001:db8:b::35 reject with icmpv6 type port-unreachable
    ip6 daddr 2001:db8:b::36 reject with icmpv6 type policy-fail
    ip6 daddr 2001:db8:b::37 reject with icmpv6 type reject-route
    ip6 daddr 2001:db8:b::39 reject with icmpv6 type 7
    ip daddr 203.0.113.31 reject with icmp type net-prohibited
    ip daddr 203.0.113.32 reject with icmp type host-prohibited
    ip daddr 203.0.113.33 reject with icmp type prot-unreachable
  }
}
`;

/** What odd sends back for a SYN to each port: ICMPv6 type, code and the 32-bit field after the checksum. */
const ODD_KINDS: Record<number, [number, number, number, string]> = {
  91: [4, 0, 7, "parameter problem: erroneous header field"],
  92: [4, 1, 6, "parameter problem: unrecognized next header"],
  93: [4, 2, 40, "parameter problem: unrecognized IPv6 option"],
  94: [2, 0, 1280, "packet too big"],
  95: [3, 0, 0, "time exceeded (hop limit)"],
  96: [1, 7, 0, "destination unreachable, unassigned code 7"],
};

/**
 * A Python responder (standard library only) for odd: reads SYNs to its address from a packet socket (before
 * nftables drops them, so the kernel sends no reset) and answers each with the ICMPv6 error of ODD_KINDS,
 * quoting the whole SYN, from a raw ICMPv6 socket (the kernel fills in the checksum).
 */
function oddResponder(address: string): string {
  const kinds = Object.entries(ODD_KINDS)
    .map(([port, [type, code, field]]) => `${port}: (${type}, ${code}, ${field})`)
    .join(", ");
  return [
    "import socket, struct, sys",
    `ME = socket.inet_pton(socket.AF_INET6, "${address}")`,
    `KINDS = {${kinds}}`,
    "r = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(0x86DD))",
    'r.bind(("eth0", 0x86DD))',
    "s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)",
    'print("ready", flush=True)',
    "while True:",
    "    f, where = r.recvfrom(4096)",
    "    ip = f[14:]",
    "    if where[2] == socket.PACKET_OUTGOING or len(ip) < 60 or ip[0] >> 4 != 6 or ip[6] != 6 or ip[24:40] != ME:",
    "        continue",
    "    if ip[53] & 0x12 != 0x02:",
    "        continue",
    '    kind = KINDS.get(struct.unpack("!H", ip[42:44])[0])',
    "    if kind is None:",
    "        continue",
    '    quoted = ip[:40 + struct.unpack("!H", ip[4:6])[0]]',
    '    s.sendto(struct.pack("!BBHI", kind[0], kind[1], 0, kind[2]) + quoted, (socket.inet_ntop(socket.AF_INET6, ip[8:24]), 0))',
  ].join("\n");
}

function cli(ns: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, "scan", "--netns", ns, ...args],
      { maxBuffer: 64 << 20, timeout: 120_000 },
      (err, stdout, stderr) => {
        const code = err ? ((err as { code?: number }).code ?? 1) : 0;
        resolve({ code: typeof code === "number" ? code : 1, stdout, stderr });
      },
    );
  });
}

/** "address port" -> "state/reason" of a scan's -oX (nmap's or wireprobe's), every port listed or collapsed. */
function xmlVerdicts(xml: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [block] of xml.matchAll(/<host\b[\s\S]*?<\/host>/g)) {
    const addr = /<address addr="([^"]+)"/.exec(block)?.[1];
    for (const m of block.matchAll(
      /<port protocol="tcp" portid="(\d+)"><state state="([^"]+)" reason="([^"]+)"/g,
    ))
      out[`${addr} ${m[1]}`] = `${m[2]}/${m[3]}`;
    if (/<extraports/.test(block)) out[`${addr} extraports`] = "collapsed";
  }
  return out;
}

/** "address port" -> state of a grepable (-oG) output's Ports lines. */
function grepableStates(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of text.matchAll(/^Host: (\S+) \([^)]*\)\tPorts: ([^\t\n]*)/gm)) {
    for (const entry of m[2]!.split(", ")) {
      const [port, state] = entry.split("/");
      out[`${m[1]} ${port}`] = state!;
    }
  }
  return out;
}

/** "address port" -> "state/reason" of the human report's port tables. */
function reportVerdicts(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const block of text.split("Scan report for ").slice(1)) {
    const addr = block.slice(0, block.indexOf("\n"));
    for (const m of block.matchAll(/^(\d+)\/tcp +(\S+) +\S+ +(\S+)$/gm))
      out[`${addr} ${m[1]}`] = `${m[2]}/${m[3]}`;
    if (/Not shown:/.test(block)) out[`${addr} extraports`] = "collapsed";
  }
  return out;
}

async function listen(host: Host, port: number): Promise<void> {
  host.spawn("python3", ["-m", "http.server", String(port), "--bind", "::"], { stdio: "ignore" });
  for (let i = 0; ; i++) {
    const r = await host.exec("ss", ["-ltnH", `sport = :${port}`], { reject: false });
    if (r.stdout.trim() !== "") return;
    if (i > 200) throw new Error("the web server did not start");
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

t.test("SYN scan over IPv6 against nmap -6", async (t) => {
  const lab = await withLab(t, { name: "scan6", ipv6: true });
  const a = await lab.segment("a");
  const b = await lab.segment("b");
  const router = await lab.router("r", [
    [a, ["2001:db8:a::1/64", "198.51.100.1/24"]],
    [b, ["2001:db8:b::1/64", "203.0.113.1/24"]],
  ]);
  await router.sysctl("net.ipv6.conf.all.forwarding", "1");
  await router.sysctl("net.ipv6.icmp.ratelimit", "0");
  await router.sysctl("net.ipv4.icmp_ratelimit", "0");
  // Neighbour discovery on b gives up after one solicitation and 200 ms: address unreachable comes quickly.
  await router.sysctl("net.ipv6.neigh.eth1.mcast_solicit", "1");
  await router.sysctl("net.ipv6.neigh.eth1.retrans_time_ms", "200");
  await router.route(["prohibit", "2001:db8:6::/48"]);
  await router.route(["unreachable", "2001:db8:7::/48"]);
  await router.nft(ROUTER_RULES);
  const node = await lab.host("node");
  await node.connect(a, { address: ["2001:db8:a::10/64", "198.51.100.10/24"] });
  await node.route(["::/0", "via", "2001:db8:a::1"]);
  await node.route(["203.0.113.0/24", "via", "198.51.100.1"]);
  const web = await lab.host("web");
  await web.connect(a, { address: "2001:db8:a::11/64" });
  await web.route(["::/0", "via", "2001:db8:a::1"]);
  await web.sysctl("net.ipv6.icmp.ratelimit", "0");
  await web.nft(
    "table inet wp {\n  chain input {\n    type filter hook input priority 0;\n    tcp dport 81 drop\n    tcp dport 82 reject with icmpv6 type admin-prohibited\n    tcp dport 83 reject with icmpv6 type port-unreachable\n  }\n}\n",
  );
  const odd = await lab.host("odd");
  await odd.connect(a, { address: "2001:db8:a::12/64" });
  await odd.nft(
    "table inet wp {\n  chain input {\n    type filter hook input priority 0;\n    tcp dport 91-96 drop\n  }\n}\n",
  );
  const responder = odd.spawn("python3", ["-c", oddResponder("2001:db8:a::12")], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  await new Promise<void>((resolve, reject) => {
    responder.stdout!.once("data", () => resolve());
    responder.once("exit", (code) => reject(new Error(`the ICMPv6 responder exited (${code})`)));
  });
  const far = await lab.host("far");
  await far.connect(b, { address: "2001:db8:b::20/64" });
  await far.route(["::/0", "via", "2001:db8:b::1"]);
  await listen(web, 8080);
  await listen(far, 8080);
  const ns = node.ns;

  const targets = ["2001:db8:a::11", "2001:db8:b::20", "2001:db8:6::1", "2001:db8:a::77"];
  const nmap = await nmapOracle(node, [
    "-6",
    "-sS",
    "-Pn",
    "-n",
    "--max-retries",
    "1",
    "-p",
    PORTS,
    ...targets,
  ]);

  t.test("every target x port: the state and reason nmap gives", async (t) => {
    const r = await cli(ns, ["-6", "-sS", "-Pn", "-n", "--json", "--retries", "1", "-p", PORTS, ...targets]);
    t.equal(r.stderr, "", "no error");
    const records = r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const port = (target: string, p: number) =>
      records.find((x) => x.type === "port" && x.target === target && x.port === p);
    const cases: Array<[string, number, string, string]> = [
      ["2001:db8:a::11", 8080, "open", "syn-ack"],
      ["2001:db8:a::11", 22, "closed", "reset"],
      ["2001:db8:a::11", 81, "filtered", "no-response"],
      ["2001:db8:a::11", 82, "filtered", "admin-prohibited"],
      ["2001:db8:b::20", 8080, "open", "syn-ack"],
      ["2001:db8:b::20", 22, "closed", "reset"],
      ["2001:db8:6::1", 22, "filtered", "admin-prohibited"],
    ];
    for (const [target, p, state, reason] of cases) {
      const got = port(target, p);
      t.match(got, { state, reason, protocol: "tcp" }, `${target} ${p}: ${state} (${reason})`);
      const oracle = nmap.get(target)?.ports[String(p)];
      t.same(
        { state: got?.state, reason: got?.reason },
        oracle,
        `${target} ${p}: as nmap -6 (${JSON.stringify(oracle)})`,
      );
    }
    t.match(port("2001:db8:6::1", 22), { reasonIp: "2001:db8:a::1" }, "the router sent the error");
    t.match(
      records.find((x) => x.type === "host" && x.target === "2001:db8:a::77"),
      { state: "down", reason: "no-ndp-reply" },
      "no neighbour advertisement: down",
    );
    t.equal(nmap.get("2001:db8:a::77")?.status, "down", "nmap -6 -Pn finds it down too");
    const neigh = await node.exec("ip", ["-6", "neigh", "show", "dev", "eth0"]);
    t.notMatch(
      neigh.stdout,
      /2001:db8:a::77/,
      "the kernel's neighbour table has nothing of the silent address",
    );
  });

  t.test(
    "every ICMPv6 error as nmap -6 -sS names it, in every output, beside IPv4 ICMP errors",
    async (t) => {
      const v6 = [
        "2001:db8:a::11",
        "2001:db8:a::12",
        ...[31, 32, 33, 34, 35, 36, 37, 38, 39, 99].map((n) => `2001:db8:b::${n}`),
        "2001:db8:6::1",
        "2001:db8:7::1",
      ];
      const v4 = ["203.0.113.31", "203.0.113.32", "203.0.113.33", "203.0.113.38"];
      const common = ["-sS", "-Pn", "-n", "--max-retries", "1", "-p", ERROR_PORTS];
      const oracle: Record<string, string> = {};
      for (const hosts of [
        await nmapOracle(node, ["-6", ...common, ...v6]),
        await nmapOracle(node, [...common, ...v4]),
      ])
        for (const h of hosts.values())
          for (const [p, v] of Object.entries(h.ports)) oracle[`${h.addr} ${p}`] = `${v.state}/${v.reason}`;
      const dir = mkdtempSync(join(tmpdir(), "wireprobe-scan6-"));
      t.teardown(() => rmSync(dir, { recursive: true, force: true }));
      const base = join(dir, "out");
      const r = await cli(ns, [
        "-sS",
        "-Pn",
        "-n",
        "--retries",
        "1",
        "-p",
        ERROR_PORTS,
        "-oA",
        base,
        ...v6,
        ...v4,
      ]);
      t.equal(r.code, 0, r.stderr);
      const json: Record<string, string> = {};
      for (const line of readFileSync(`${base}.json`, "utf8").trim().split("\n")) {
        const x = JSON.parse(line) as {
          type: string;
          target: string;
          port: number;
          state: string;
          reason: string;
        };
        if (x.type === "port") json[`${x.target} ${x.port}`] = `${x.state}/${x.reason}`;
      }
      // Each case by name: what nmap says (its reading of scan_engine_raw.cc) and that wireprobe says the same.
      const cases: Array<[string, number, string, string]> = [
        [
          "2001:db8:b::31",
          22,
          "filtered/no-route",
          "destination unreachable 0 (no route), nftables on the router",
        ],
        ["2001:db8:7::1", 22, "filtered/no-route", "the router's unreachable route"],
        ["2001:db8:b::32", 22, "filtered/admin-prohibited", "1 (administratively prohibited)"],
        ["2001:db8:6::1", 22, "filtered/admin-prohibited", "the router's prohibit route"],
        ["2001:db8:b::33", 22, "filtered/beyond-scope", "2 (beyond scope of source address)"],
        ["2001:db8:b::34", 22, "filtered/host-unreach", "3 (address unreachable), nftables"],
        ["2001:db8:b::99", 22, "filtered/host-unreach", "3, the router's neighbour discovery failing"],
        ["2001:db8:b::35", 22, "filtered/port-unreach", "4 (port unreachable) from the router"],
        ["2001:db8:a::11", 83, "filtered/port-unreach", "4 from the target itself"],
        ["2001:db8:b::36", 22, "filtered/admin-prohibited", "5 (source address failed policy)"],
        ["2001:db8:b::37", 22, "filtered/reject-route", "6 (reject route to destination)"],
        ["2001:db8:b::39", 22, "filtered/no-response", "unassigned code 7: ignored"],
        [
          "2001:db8:b::38",
          22,
          "filtered/no-response",
          "time exceeded from the router (hop limit 1): ignored",
        ],
        ["2001:db8:a::12", 91, "open/param-problem", ODD_KINDS[91]![3]],
        ["2001:db8:a::12", 92, "filtered/param-problem", ODD_KINDS[92]![3]],
        ["2001:db8:a::12", 93, "filtered/no-response", `${ODD_KINDS[93]![3]}: ignored`],
        ["2001:db8:a::12", 94, "filtered/no-response", `${ODD_KINDS[94]![3]}: ignored`],
        ["2001:db8:a::12", 95, "filtered/no-response", `${ODD_KINDS[95]![3]}: ignored`],
        ["2001:db8:a::12", 96, "filtered/no-response", `${ODD_KINDS[96]![3]}: ignored`],
        ["2001:db8:a::12", 22, "closed/reset", "the responder's own kernel"],
        ["203.0.113.31", 22, "filtered/net-prohibited", "IPv4: ICMP 3/9 (the same 4-bit code as no-route)"],
        ["203.0.113.32", 22, "filtered/host-prohibited", "IPv4: ICMP 3/10 (as beyond-scope)"],
        ["203.0.113.33", 22, "filtered/proto-unreach", "IPv4: ICMP 3/2 (as filtered/param-problem)"],
        ["203.0.113.38", 22, "filtered/time-exceeded", "IPv4: ICMP time exceeded (as reject-route)"],
      ];
      for (const [target, port, verdict, what] of cases) {
        const key = `${target} ${port}`;
        t.equal(oracle[key], verdict, `nmap: ${key} ${what} is ${verdict}`);
        t.equal(json[key], oracle[key], `${key} ${what}: as nmap (${oracle[key]})`);
        t.comment(`oracle ${key} ${what}: nmap ${oracle[key]}, wireprobe ${json[key]}`);
      }
      t.equal(Object.keys(oracle).length, (v6.length + v4.length) * 8, "nmap gave every port of every host");
      t.same(json, oracle, "--json: every port of every host, as nmap");
      t.same(
        xmlVerdicts(readFileSync(`${base}.xml`, "utf8")),
        oracle,
        "-oX: every state and reason, as nmap",
      );
      t.same(
        grepableStates(readFileSync(`${base}.gnmap`, "utf8")),
        Object.fromEntries(Object.entries(oracle).map(([k, v]) => [k, v.slice(0, v.indexOf("/"))])),
        "-oG: every state, as nmap",
      );
      t.same(reportVerdicts(r.stdout), oracle, "the report: every state and reason, as nmap");
    },
  );

  t.test("-sT takes IPv6 targets too (test/scan-connect6.test.ts holds it to nmap -6 -sT)", async (t) => {
    const r = await cli(ns, ["-sT", "--json", "-p", "22,8080", "2001:db8:a::11"]);
    t.equal(r.code, 0, r.stderr);
    t.match(
      r.stdout,
      /"target":"2001:db8:a::11","port":8080,"protocol":"tcp","state":"open","reason":"syn-ack"/,
    );
    t.match(r.stdout, /"port":22,"protocol":"tcp","state":"closed","reason":"conn-refused"/);
  });

  t.test("-oX and -oG name IPv6 hosts as nmap does", async (t) => {
    const x = await cli(ns, ["-6", "-p", PORTS, "-oX", "-", "2001:db8:a::11"]);
    t.match(x.stdout, /<address addr="2001:db8:a::11" addrtype="ipv6"\/>/, "addrtype ipv6");
    t.match(x.stdout, /<port protocol="tcp" portid="8080"><state state="open" reason="syn-ack"/);
    const both = await cli(ns, ["-6", "-p", PORTS, "-oX", "-", "2001:db8:a::77", "2001:db8:a::11"]);
    // -v: nmap lists the hosts it found down too, as wireprobe always does
    const oracle = await node.exec("nmap", [
      "-6",
      "-v",
      "-Pn",
      "-n",
      "-p",
      PORTS,
      "-oX",
      "-",
      "2001:db8:a::77",
      "2001:db8:a::11",
    ]);
    const hosts = (xml: string) =>
      [
        ...xml.matchAll(
          /<host\b[^>]*><status state="(\w+)"[\s\S]*?<address addr="([0-9a-f:]+)" addrtype="(\w+)"/g,
        ),
      ].map((m) => `${m[2]} ${m[1]} ${m[3]}`);
    const runstats = (xml: string) => /<hosts up="\d+" down="\d+" total="\d+"\/>/.exec(xml)?.[0];
    // nmap writes a host found down before the scanned ones; wireprobe in address order (as for IPv4)
    t.same(hosts(both.stdout).sort(), hosts(oracle.stdout).sort(), "the same <host> elements as nmap's");
    t.equal(runstats(both.stdout), runstats(oracle.stdout), "the same runstats counts");
    const g = await cli(ns, ["-6", "-p", PORTS, "-oG", "-", "2001:db8:a::11"]);
    t.match(g.stdout, /Host: 2001:db8:a::11 \(\)\tPorts: .*8080\/open\/tcp/, "the grepable Ports line");
  });
});
