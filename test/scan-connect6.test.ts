// The connect scan (-sT, and the fallback without CAP_NET_RAW) over IPv6 and over both families in one run,
// checked against nmap -6 -sT (and nmap -sT for the IPv4 targets) in the same namespace.
//
//   segment a 2001:db8:a::/64, 198.51.100.0/24: node ::10/.10 (the prober), router ::1/.1 (everything it sends
//     on a is DELAY_MS late); nobody at ::77 (down: no neighbour advertisement)
//   segment b 2001:db8:b::/64, 203.0.113.0/24: router ::1/.1, web ::11/.11 (8080 open, 22 closed, 81 dropped,
//     82 rejected with admin-prohibited); the router answers ::99/.99 with address (host) unreachable and
//     has `prohibit 2001:db8:6::/48` (admin-prohibited from the router)
//
// Why the delay: on a lab's veth an ICMP error comes back inside the connect() call that sent the SYN, while
// the socket is still locked, and the kernel then keeps it as a soft error until its SYN retransmission a
// second later, where nmap's connect (and wireprobe's first wait) has already given up. Over any real link,
// and through the relay, it arrives after connect() returned, and the connection fails at once with the
// errno (EACCES, EHOSTUNREACH) both tools map to a reason.

import t from "tap";
import type { Host, Lab } from "../src/lab";
import type { PortRecord, SummaryRecord } from "../src/records";
import { AS_NOBODY, runCli } from "./helpers/cli";
import { connectDelayed } from "./helpers/delay-link";
import { withLab } from "./helpers/lab";
import { nmapOracle } from "./helpers/nmap";

const DELAY_MS = 50;
const PORTS = "22,81,82,8080";
const WEB6 = "2001:db8:b::11";
const WEB4 = "203.0.113.11";
const REFUSED6 = "2001:db8:b::99";
const REFUSED4 = "203.0.113.99";
const PROHIBITED6 = "2001:db8:6::1";
const DOWN6 = "2001:db8:a::77";
const TARGETS6 = [WEB6, REFUSED6, PROHIBITED6, DOWN6];
const TARGETS4 = [WEB4, REFUSED4];

/** What nmap -6 -sT (and -sT) says for each case in this lab: the table the test also holds nmap to. */
const EXPECTED: ReadonlyArray<readonly [string, string, number, string, string]> = [
  ["open", WEB6, 8080, "open", "syn-ack"],
  ["closed", WEB6, 22, "closed", "conn-refused"],
  ["filtered (nftables drop)", WEB6, 81, "filtered", "no-response"],
  ["admin-prohibited (icmpv6 reject)", WEB6, 82, "filtered", "admin-prohibited"],
  ["behind a router answering address unreachable", REFUSED6, 22, "filtered", "host-unreach"],
  ["the router's prohibit route", PROHIBITED6, 22, "filtered", "admin-prohibited"],
  ["down (no neighbour advertisement)", DOWN6, 22, "filtered", "no-response"],
  ["IPv4 open", WEB4, 8080, "open", "syn-ack"],
  ["IPv4 closed", WEB4, 22, "closed", "conn-refused"],
  ["IPv4 filtered (drop)", WEB4, 81, "filtered", "no-response"],
  ["IPv4 admin-prohibited (icmp reject)", WEB4, 82, "filtered", "host-unreach"],
  ["IPv4 behind a router answering host unreachable", REFUSED4, 22, "filtered", "host-unreach"],
];

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** `wireprobe scan ...args`: as root with --netns, or as uid 65534 inside the namespace (`nobody`). */
function cli(node: Host, args: string[], nobody = false): Promise<Result> {
  return runCli(node.ns, ["scan", ...args], { ...(nobody ? { asUser: AS_NOBODY } : {}), timeoutMs: 120_000 });
}

function records(stdout: string): Array<PortRecord | SummaryRecord | { type: "host"; target: string }> {
  return stdout
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

/** "target port" -> "state/reason" of the port records */
function portStates(stdout: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const r of records(stdout))
    if (r.type === "port") out.set(`${r.target} ${r.port}`, `${r.state}/${r.reason}`);
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

/**
 * Waits until the node's kernel is not resolving the down address any more: a run that starts while an
 * earlier one's neighbour solicitations are under way would get that resolution's failure early.
 */
async function neighbourSettled(node: Host): Promise<void> {
  for (let i = 0; i < 400; i++) {
    const r = await node.exec("ip", ["-6", "neigh", "show", "to", DOWN6], { reject: false });
    if (!/INCOMPLETE/.test(r.stdout)) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`the neighbour entry of ${DOWN6} stayed INCOMPLETE`);
}

async function build(lab: Lab): Promise<Host> {
  const a = await lab.segment("a");
  const b = await lab.segment("b");
  const router = await lab.host("r");
  await router.sysctl("net.ipv6.conf.all.forwarding", "1");
  await router.sysctl("net.ipv4.ip_forward", "1");
  await router.sysctl("net.ipv6.icmp.ratelimit", "0");
  await router.sysctl("net.ipv4.icmp_ratelimit", "0");
  await connectDelayed(lab, router, a, {
    address: ["2001:db8:a::1/64", "198.51.100.1/24"],
    delayMs: DELAY_MS,
  });
  await router.connect(b, { ifname: "eth1", address: ["2001:db8:b::1/64", "203.0.113.1/24"] });
  await router.route(["prohibit", "2001:db8:6::/48"]);
  await router.nft(
    [
      "table inet filter {",
      "  chain forward {",
      "    type filter hook forward priority 0;",
      `    ip6 daddr ${REFUSED6} reject with icmpv6 type addr-unreachable`,
      `    ip daddr ${REFUSED4} reject with icmp type host-unreachable`,
      "  }",
      "}",
      "",
    ].join("\n"),
  );
  const node = await lab.host("node");
  await node.connect(a, { address: ["2001:db8:a::10/64", "198.51.100.10/24"] });
  await node.route(["::/0", "via", "2001:db8:a::1"]);
  await node.route(["default", "via", "198.51.100.1"]);
  const web = await lab.host("web");
  await web.connect(b, { address: [`${WEB6}/64`, `${WEB4}/24`] });
  await web.route(["::/0", "via", "2001:db8:b::1"]);
  await web.route(["default", "via", "203.0.113.1"]);
  await web.sysctl("net.ipv6.icmp.ratelimit", "0");
  await web.sysctl("net.ipv4.icmp_ratelimit", "0");
  await web.nft(
    [
      "table inet wp {",
      "  chain input {",
      "    type filter hook input priority 0;",
      "    tcp dport 81 drop",
      "    meta nfproto ipv6 tcp dport 82 reject with icmpv6 type admin-prohibited",
      "    meta nfproto ipv4 tcp dport 82 reject with icmp type admin-prohibited",
      "  }",
      "}",
      "",
    ].join("\n"),
  );
  await listen(web, 8080);
  return node;
}

t.test("connect scan over IPv6 and both families at once, against nmap -sT", async (t) => {
  const lab = await withLab(t, { name: "conn6", ipv6: true });
  const node = await build(lab);

  // nmap takes one family per run; each tool starts with no neighbour resolution under way
  await neighbourSettled(node);
  const nmap6 = await nmapOracle(node, [
    "-6",
    "-sT",
    "-Pn",
    "-n",
    "--max-retries",
    "1",
    "-p",
    PORTS,
    ...TARGETS6,
  ]);
  const nmap4 = await nmapOracle(node, ["-sT", "-Pn", "-n", "--max-retries", "1", "-p", PORTS, ...TARGETS4]);
  const oracle = (target: string, port: number) => {
    const p = (nmap6.get(target) ?? nmap4.get(target))?.ports[String(port)];
    return p === undefined ? undefined : `${p.state}/${p.reason}`;
  };
  await neighbourSettled(node);

  t.test("-sT, both families in one run: every case as nmap says it", async (t) => {
    const r = await cli(node, [
      "-sT",
      "--json",
      "--netns",
      node.ns,
      "--retries",
      "1",
      "-p",
      PORTS,
      ...TARGETS6,
      ...TARGETS4,
    ]);
    t.equal(r.code, 0, "exit 0");
    t.equal(r.stderr, "", "nothing on stderr");
    const got = portStates(r.stdout);
    for (const [what, target, port, state, reason] of EXPECTED) {
      t.equal(oracle(target, port), `${state}/${reason}`, `${what}: nmap says ${state}/${reason}`);
      t.equal(got.get(`${target} ${port}`), oracle(target, port), `${what}: ${target} ${port} as nmap`);
    }
    // every other target x port pair as nmap too
    let same = 0;
    for (const target of [...TARGETS6, ...TARGETS4]) {
      for (const port of PORTS.split(",").map(Number)) {
        if (got.get(`${target} ${port}`) === oracle(target, port)) same++;
        else t.fail(`${target} ${port}: ${got.get(`${target} ${port}`)}, nmap ${oracle(target, port)}`);
      }
    }
    t.equal(same, 24, "all 24 pairs as nmap");
    const summary = records(r.stdout).at(-1) as SummaryRecord;
    t.match(summary, { type: "summary", method: "connect", targets: 6, probes: 24 });
    t.notOk(
      records(r.stdout).some((x) => x.type === "host"),
      "no host record: a connect scan has no neighbour discovery of its own",
    );
  });

  t.test("without CAP_NET_RAW (uid 65534 in the namespace): the fallback scans IPv6 too", async (t) => {
    await neighbourSettled(node);
    const r = await cli(node, ["--json", "--retries", "1", "-p", PORTS, ...TARGETS6, ...TARGETS4], true);
    t.equal(r.code, 0, r.stderr);
    t.equal(
      r.stderr,
      "wireprobe: no permission for raw sockets (CAP_NET_RAW): falling back to a TCP connect scan (-sT)\n",
      "said once, in one line",
    );
    const got = portStates(r.stdout);
    for (const [what, target, port] of EXPECTED) {
      t.equal(got.get(`${target} ${port}`), oracle(target, port), `${what}: ${target} ${port} as nmap`);
    }
    t.equal(got.size, 24, "every pair has its record");
    t.equal((records(r.stdout).at(-1) as SummaryRecord).method, "connect");
  });

  t.test("-sT pinned to an interface: IPv6 targets routed there are scanned", async (t) => {
    const r = await cli(node, ["-sT", "--json", "-e", "eth0", "-p", "22,8080", WEB6, WEB4]);
    t.equal(r.code, 0, r.stderr);
    const got = portStates(r.stdout);
    t.equal(got.get(`${WEB6} 8080`), "open/syn-ack");
    t.equal(got.get(`${WEB6} 22`), "closed/conn-refused");
    t.equal(got.get(`${WEB4} 8080`), "open/syn-ack");
  });
});

t.test(
  "-sT pinned to an interface: targets it has no route for are down (no-route), IPv6 as IPv4",
  async (t) => {
    // no default route here: what goes over lo is not reachable through eth0
    const lab = await withLab(t, { name: "conn6e", ipv6: true });
    const a = await lab.segment("a");
    const node = await lab.host("node");
    await node.connect(a, { address: ["2001:db8:a::10/64", "198.51.100.10/24"] });
    await node.route(["2001:db8:99::/48", "dev", "lo"]);
    await node.route(["198.18.99.0/24", "dev", "lo"]);
    const r = await cli(node, ["-sT", "--json", "-e", "eth0", "-p", "22", "2001:db8:99::1", "198.18.99.1"]);
    t.equal(r.code, 0, r.stderr);
    t.same(
      records(r.stdout)
        .filter((x) => x.type !== "summary")
        .map((x) => JSON.stringify(x)),
      [
        { type: "host", target: "198.18.99.1", state: "down", reason: "no-route" },
        { type: "host", target: "2001:db8:99::1", state: "down", reason: "no-route" },
      ].map((x) => JSON.stringify(x)),
      "a host record each, no probe and no port record",
    );
  },
);
