// `wireprobe dns` against real DNS servers (dnsmasq) in a lab, with dig run in the same namespace as the
// oracle. The prober always runs inside the lab's client namespace.
//
//   segment a 198.51.100.0/24: client .10, router .1, dns1 .53, dns2 .54 (same records), dns3 .55 (web.lab
//     differs), closed .9 (no listener), fw .56 (dnsmasq behind nft: udp/53 rejected, or tcp/53 reset)
//   segment b 203.0.113.0/24: router .1, dns4 .53 (routed)
//   segment z 198.18.1.0/24: client eth1 .10 only (for -i)
//   client default route via the router; the router has no route to 198.18.0.0/16 except z's... (it is not
//   connected to z), so 198.18.0.53 is "net unreachable" from the router.

import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { type Host, type Lab, waitUntil } from "../src/lab";
import { type DnsOptions, dns } from "../src/probes/dns/dns";
import type { DnsConsistencyRecord, DnsRecord, SummaryRecord } from "../src/records";
import { startCapture } from "./helpers/capture";
import { type Dnsmasq, dig, startDnsmasq } from "./helpers/dns-lab";
import { withLab } from "./helpers/lab";

const BIN = join(__dirname, "..", "bin", "wireprobe.js");
const DNS1 = "198.51.100.53";
const DNS2 = "198.51.100.54";
const DNS3 = "198.51.100.55";
const FW = "198.51.100.56";
const DNS4 = "203.0.113.53";
const CLOSED = "198.51.100.9";
const NOBODY = "198.51.100.77";
const UNROUTED = "198.18.0.53";

const BIG_TXT = Array.from({ length: 10 }, (_, i) => `${"x".repeat(200)}${i}`).join(",");

/** The zone every "same" server serves. */
function records(webAddress: string): string[] {
  return [
    "--auth-server=ns.lab,eth0",
    "--auth-zone=lab,198.51.100.0/24,2001:db8::/32,::ffff:0:0/96",
    `--host-record=web.lab,${webAddress}`,
    "--host-record=db.lab,198.51.100.81,2001:db8::81",
    "--host-record=v4mapped.lab,::ffff:198.51.100.82",
    "--host-record=v6.lab,2001:db8::abcd:0:0:0",
    "--host-record=v6b.lab,2001:db8:0:0:1:0:0:1",
    "--cname=alias.lab,db.lab",
    "--mx-host=lab,mail.lab,10",
    "--mx-host=lab,mx2.lab,20",
    "--txt-record=txt.lab,hello world,two",
    '--txt-record=quote.lab,say "hi"\\ now',
    `--txt-record=big.lab,${BIG_TXT}`,
    "--srv-host=_sip._udp.lab,sip.lab,5060,0,5",
    "--srv-host=_sip._udp.lab,sip2.lab,5061,1,10",
    "--edns-packet-max=512",
  ];
}

interface Topology {
  lab: Lab;
  client: Host;
  dns1: Dnsmasq;
  dns4: Dnsmasq;
  fw: Host;
}

async function build(lab: Lab): Promise<Topology> {
  const a = await lab.segment("a");
  const b = await lab.segment("b");
  const z = await lab.segment("z");
  await lab.router("r", [
    [a, "198.51.100.1/24"],
    [b, "203.0.113.1/24"],
  ]);
  // ICMP errors are rate limited per peer (a burst of 6, then one a second): the lab router answers all.
  await lab.hosts.get("r")!.sysctl("net.ipv4.icmp_ratelimit", "0");
  const client = await lab.host("client");
  await client.connect(a, { address: "198.51.100.10/24" });
  await client.connect(z, { ifname: "eth1", address: "198.18.1.10/24" });
  await client.route(["default", "via", "198.51.100.1"]);
  const host = async (name: string, segment: typeof a, address: string, gw: string) => {
    const h = await lab.host(name);
    await h.connect(segment, { address: `${address}/24` });
    await h.route(["default", "via", gw]);
    await h.sysctl("net.ipv4.icmp_ratelimit", "0");
    return h;
  };
  const h1 = await host("dns1", a, DNS1, "198.51.100.1");
  const h2 = await host("dns2", a, DNS2, "198.51.100.1");
  const h3 = await host("dns3", a, DNS3, "198.51.100.1");
  const fw = await host("fw", a, FW, "198.51.100.1");
  const h4 = await host("dns4", b, DNS4, "203.0.113.1");
  await host("closed", a, CLOSED, "198.51.100.1");
  const dns1 = await startDnsmasq(h1, DNS1, records("198.51.100.80"));
  await startDnsmasq(h2, DNS2, records("198.51.100.80"));
  await startDnsmasq(h3, DNS3, records("198.51.100.90"));
  await startDnsmasq(fw, FW, records("198.51.100.80"));
  const dns4 = await startDnsmasq(h4, DNS4, records("198.51.100.80"));
  return { lab, client, dns1, dns4, fw };
}

type Result = DnsRecord | DnsConsistencyRecord;

function firewall(rule: string): string {
  return `table inet wp {\n  chain input {\n    type filter hook input priority 0;\n    ${rule}\n  }\n}\n`;
}

async function collect(
  names: string[],
  options: DnsOptions,
): Promise<{ dns: DnsRecord[]; consistency: DnsConsistencyRecord[]; summary: SummaryRecord | undefined }> {
  const run = dns(names, options);
  const all: Result[] = [];
  for await (const r of run) all.push(r);
  return {
    dns: all.filter((r): r is DnsRecord => r.type === "dns"),
    consistency: all.filter((r): r is DnsConsistencyRecord => r.type === "dns-consistency"),
    summary: run.summary,
  };
}

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: number }).code ?? 1) : 0;
      resolve({ code: typeof code === "number" ? code : 1, stdout, stderr });
    });
  });
}

function jsonLines(stdout: string): Array<Result | SummaryRecord> {
  return stdout
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l) as Result | SummaryRecord);
}

t.test("dns in a lab with dnsmasq servers", async (t) => {
  const lab = await withLab(t, "dns");
  const topo = await build(lab);
  const ns = topo.client.ns;
  const base: DnsOptions = { netns: ns, timeoutMs: 1500, retries: 0 };

  t.test("answers equal dig's, type by type", async (t) => {
    const cases: Array<[string, string]> = [
      ["web.lab", "A"],
      ["db.lab", "A"],
      ["db.lab", "AAAA"],
      ["v4mapped.lab", "AAAA"],
      ["v6.lab", "AAAA"],
      ["v6b.lab", "AAAA"],
      ["alias.lab", "A"],
      ["alias.lab", "CNAME"],
      ["lab", "MX"],
      ["txt.lab", "TXT"],
      ["quote.lab", "TXT"],
      ["_sip._udp.lab", "SRV"],
      ["lab", "NS"],
      ["lab", "SOA"],
      ["80.100.51.198.in-addr.arpa", "PTR"],
      ["nope.lab", "A"],
      ["web.lab", "MX"],
    ];
    for (const [name, type] of cases) {
      const { dns: got } = await collect([name], { ...base, servers: [DNS1], qtype: type });
      const oracle = await dig(topo.client, DNS1, name, type);
      t.equal(got.length, 1, `${name} ${type}: one record`);
      const r = got[0]!;
      t.equal(r.status, "ok", `${name} ${type}: answered`);
      t.equal(r.rcode, oracle.status, `${name} ${type}: rcode ${oracle.status} as dig`);
      t.same(r.answers, oracle.answers, `${name} ${type}: ${JSON.stringify(oracle.answers)} as dig +short`);
      t.match(r, { server: DNS1, port: 53, name, qtype: type, transport: "udp", truncated: false });
    }
    const { dns: ptr } = await collect(["198.51.100.80"], { ...base, servers: [DNS1], qtype: "PTR" });
    const oracle = await dig(topo.client, DNS1, "198.51.100.80", "PTR-x");
    t.equal(ptr[0]!.name, "80.100.51.198.in-addr.arpa", "an address becomes its reverse name, like dig -x");
    t.same(ptr[0]!.answers, oracle.answers, "PTR answers as dig -x");
    t.ok(oracle.answers.length > 0, "dnsmasq serves the reverse zone");
  });

  t.test("over TCP the answers equal dig +tcp", async (t) => {
    for (const [name, type] of [
      ["web.lab", "A"],
      ["lab", "MX"],
      ["db.lab", "AAAA"],
    ] as const) {
      const { dns: got } = await collect([name], { ...base, servers: [DNS1], qtype: type, tcp: true });
      const oracle = await dig(topo.client, DNS1, name, type, ["+tcp"]);
      t.match(got, [{ status: "ok", transport: "tcp", rcode: oracle.status }], `${name} ${type} over TCP`);
      t.same(got[0]!.answers, oracle.answers, `${name} ${type}: same answers as dig +tcp`);
    }
  });

  t.test("TCP runs inside the namespace: the server logs the client's lab address", async (t) => {
    const { dns: got } = await collect(["tcp-check.web.lab"], { ...base, servers: [DNS4], tcp: true });
    t.match(got, [{ status: "ok", transport: "tcp", rcode: "NXDOMAIN" }], "routed TCP answer");
    // dnsmasq answers TCP in a forked child, whose log line may come a moment later.
    await waitUntil("dnsmasq's log line", () => /tcp-check\.web\.lab from/.test(topo.dns4.log())).catch(
      () => {},
    );
    t.match(
      topo.dns4.log(),
      /(query|auth)\[A\] tcp-check\.web\.lab from 198\.51\.100\.10/,
      "dnsmasq saw 198.51.100.10",
    );
  });

  t.test("a truncated UDP answer is asked again over TCP", async (t) => {
    const { dns: got, summary } = await collect(["big.lab"], { ...base, servers: [DNS1], qtype: "TXT" });
    const oracle = await dig(topo.client, DNS1, "big.lab", "TXT");
    t.match(got, [{ status: "ok", transport: "udp", truncated: true, attempts: 2, rcode: "NOERROR" }]);
    t.equal(got[0]!.answers.length, 1, "one TXT record");
    t.equal(got[0]!.answers[0]!.split('" "').length, 10, "with all ten strings");
    t.same(got[0]!.answers, oracle.answers, "the full answer, as dig (which retries over TCP too)");
    t.equal(summary?.packetsSent, 2, "one UDP query, one TCP query");
    const plain = await collect(["big.lab"], { ...base, servers: [DNS1], qtype: "TXT", edns: false });
    t.match(plain.dns, [{ status: "ok", truncated: true }], "without EDNS (512 bytes) as well");
  });

  t.test("NXDOMAIN is an answer (status ok) and a failed check (exit 1)", async (t) => {
    const { dns: got } = await collect(["nope.lab"], { ...base, servers: [DNS1] });
    t.match(got, [{ status: "ok", rcode: "NXDOMAIN", answers: [] }]);
    const run = await cli(["dns", "--netns", ns, "--server", DNS1, "--json", "nope.lab"]);
    t.equal(run.code, 1, "exit 1");
    const ok = await cli(["dns", "--netns", ns, "--server", DNS1, "--json", "web.lab"]);
    t.equal(ok.code, 0, "exit 0 for NOERROR");
  });

  t.test("nothing listening: refused, from the ICMP port unreachable, as dig says", async (t) => {
    const { dns: got } = await collect(["web.lab", "db.lab"], { ...base, servers: [CLOSED], retries: 1 });
    for (const r of got) {
      t.match(r, {
        status: "refused",
        reason: "port-unreach",
        from: CLOSED,
        rcode: null,
        answers: [],
        attempts: 1,
      });
    }
    const oracle = await dig(topo.client, CLOSED, "web.lab");
    t.match(oracle.stdout, /connection refused/, "dig: connection refused");
    const tcp = await collect(["web.lab"], { ...base, servers: [CLOSED], tcp: true });
    t.match(tcp.dns, [{ status: "refused", reason: "connection-refused", transport: "tcp" }]);
  });

  t.test(
    "udp/53 rejected by nftables: refused; and answering over one transport only is a finding",
    async (t) => {
      await topo.fw.nft(firewall("udp dport 53 reject"));
      try {
        const { dns: got } = await collect(["web.lab"], { ...base, servers: [FW], both: true });
        const udp = got.find((r) => r.transport === "udp")!;
        const tcp = got.find((r) => r.transport === "tcp")!;
        t.match(udp, { status: "refused", reason: "port-unreach", from: FW });
        t.match(tcp, { status: "ok", answers: ["198.51.100.80"] });
        const oracle = await dig(topo.client, FW, "web.lab");
        t.match(oracle.stdout, /connection refused/, "dig: connection refused over UDP");
        const human = await cli([
          "dns",
          "--netns",
          ns,
          "--server",
          FW,
          "--both",
          "--timeout",
          "1500",
          "web.lab",
        ]);
        t.equal(human.code, 1);
        t.match(human.stdout, new RegExp(`${FW} for web\\.lab A: answers over TCP only \\(UDP: refused`));
      } finally {
        await topo.fw.exec("nft", ["delete", "table", "inet", "wp"]);
      }
      await topo.fw.nft(firewall("tcp dport 53 reject with tcp reset"));
      try {
        const { dns: got } = await collect(["web.lab"], { ...base, servers: [FW], both: true });
        t.match(
          got.find((r) => r.transport === "udp"),
          { status: "ok", answers: ["198.51.100.80"] },
        );
        t.match(
          got.find((r) => r.transport === "tcp"),
          { status: "refused", reason: "connection-refused" },
        );
        const human = await cli([
          "dns",
          "--netns",
          ns,
          "--server",
          FW,
          "--both",
          "--timeout",
          "1500",
          "web.lab",
        ]);
        t.match(human.stdout, new RegExp(`${FW} for web\\.lab A: answers over UDP only \\(TCP: refused`));
      } finally {
        await topo.fw.exec("nft", ["delete", "table", "inet", "wp"]);
      }
    },
  );

  t.test(
    "an on-link address without a host: timeout, or unreachable once the kernel's ARP gives up",
    async (t) => {
      // The kernel resolves the neighbour for ~3 s (3 probes, 1 s apart) before it reports host unreachable
      // to the sender, from this host's own address. One 1.5 s attempt ends before that: timeout.
      const quick = await collect(["web.lab"], { ...base, servers: [NOBODY], timeoutMs: 1500, retries: 0 });
      t.match(quick.dns, [{ status: "timeout", reason: null, attempts: 1 }]);
      // The defaults (2 attempts of 2 s) outlast it: the kernel's verdict arrives while we wait.
      const patient = await collect(["web.lab"], { netns: ns, servers: [NOBODY] });
      t.match(patient.dns, [{ status: "unreachable", reason: "host-unreach", from: "198.51.100.10" }]);
    },
  );

  t.test("a server behind a router without a route to it: unreachable, from the router", async (t) => {
    const { dns: got } = await collect(["web.lab", "db.lab", "alias.lab"], { ...base, servers: [UNROUTED] });
    for (const r of got) t.match(r, { status: "unreachable", reason: "net-unreach", from: "198.51.100.1" });
    const tcp = await collect(["web.lab"], { ...base, servers: [UNROUTED], tcp: true });
    t.match(tcp.dns, [{ status: "unreachable", reason: "net-unreach", transport: "tcp" }]);
    const routed = await collect(["web.lab"], { ...base, servers: [DNS4] });
    t.match(routed.dns, [{ status: "ok", answers: ["198.51.100.80"] }], "a routed server that has the route");
  });

  t.test("no route at all: unreachable with reason no-route, nothing sent", async (t) => {
    const lonely = await lab.host("lonely");
    await lonely.connect(lab.segments.get("a")!, { address: "198.51.100.20/24" });
    const { dns: got, summary } = await collect(["web.lab"], { netns: lonely.ns, servers: [DNS4] });
    t.match(got, [{ status: "unreachable", reason: "no-route", from: null }]);
    t.equal(summary?.packetsSent, 0);
    const tcp = await collect(["web.lab"], { netns: lonely.ns, servers: [DNS4], tcp: true });
    t.match(tcp.dns, [{ status: "unreachable", transport: "tcp" }]);
  });

  t.test("servers with the same records agree; the odd one out is named", async (t) => {
    const same = await collect(["web.lab", "lab"], { ...base, servers: [DNS1, DNS2], qtype: ["A", "MX"] });
    t.equal(same.dns.length, 8, "2 names x 2 types x 2 servers");
    t.equal(same.consistency.length, 4, "one verdict per name and type");
    for (const c of same.consistency) t.match(c, { consistent: true, odd: [] }, `${c.name} ${c.qtype}`);
    const web = same.consistency.find((c) => c.name === "web.lab" && c.qtype === "A")!;
    t.same(web.answers, { [DNS1]: ["198.51.100.80"], [DNS2]: ["198.51.100.80"] });

    const three = await collect(["web.lab", "db.lab"], { ...base, servers: [DNS1, DNS3, DNS2] });
    const webC = three.consistency.find((c) => c.name === "web.lab")!;
    t.match(webC, { consistent: false, odd: [DNS3], transport: "udp" });
    t.same(webC.answers[DNS3], ["198.51.100.90"]);
    t.match(
      three.consistency.find((c) => c.name === "db.lab"),
      { consistent: true },
    );
    for (const server of [DNS1, DNS3]) {
      const oracle = await dig(topo.client, server, "web.lab");
      t.same(webC.answers[server], oracle.answers, `${server} as dig says`);
    }

    const two = await collect(["web.lab"], { ...base, servers: [DNS1, DNS3] });
    t.match(
      two.consistency,
      [{ consistent: false, odd: [DNS3] }],
      "a tie: the first server is the reference",
    );

    const human = await cli([
      "dns",
      "--netns",
      ns,
      "--server",
      `${DNS1},${DNS3}`,
      "--server",
      DNS2,
      "web.lab",
    ]);
    t.equal(human.code, 1, "disagreement exits 1");
    t.match(
      human.stdout,
      new RegExp(`web\\.lab A \\(udp\\): servers disagree: odd one out: ${DNS3} \\(198\\.51\\.100\\.90\\)`),
    );
    const agree = await cli(["dns", "--netns", ns, "--server", `${DNS1},${DNS2}`, "--json", "web.lab"]);
    t.equal(agree.code, 0, "agreement and NOERROR exit 0");
    const lines = jsonLines(agree.stdout);
    t.match(lines, [
      { type: "dns" },
      { type: "dns" },
      { type: "dns-consistency", consistent: true, odd: [] },
      { type: "summary", command: "dns", targets: 2, states: { ok: 2 } },
    ]);
  });

  t.test("a server that does not answer makes the set inconsistent", async (t) => {
    const { consistency } = await collect(["web.lab"], { ...base, servers: [DNS1, CLOSED, DNS2] });
    t.match(consistency, [
      { consistent: false, odd: [CLOSED], statuses: { [CLOSED]: "refused", [DNS1]: "ok" } },
    ]);
    t.notOk(CLOSED in consistency[0]!.answers, "no answers listed for a server that did not answer");
  });

  t.test(
    "--concurrency: at most N queries outstanding per server on the wire; a silent server holds up no other",
    async (t) => {
      const names = ["web.lab", "db.lab", "alias.lab", "lab", "txt.lab", "v6.lab"];
      await topo.fw.nft(firewall("udp dport 53 drop"));
      const capture = await startCapture(topo.client, "eth0", "udp dst port 53");
      let got: DnsRecord[];
      try {
        ({ dns: got } = await collect(names, {
          ...base,
          servers: [FW, DNS1],
          concurrency: 2,
          timeoutMs: 400,
          retries: 0,
        }));
      } finally {
        await topo.fw.exec("nft", ["delete", "table", "inet", "wp"]);
      }
      const queries = await capture.stop();
      const sentTo = (server: string) =>
        queries.filter((p) => p.data.subarray(30, 34).join(".") === server).map((p) => p.timestampMs);
      const silent = sentTo(FW);
      const answering = sentTo(DNS1);
      t.equal(silent.length, 6, "one query per name to the silent server");
      t.equal(answering.length, 6, "and to the answering one");
      for (let k = 2; k < silent.length; k++) {
        t.ok(
          silent[k]! - silent[k - 2]! >= 390,
          `query ${k + 1} to the silent server waits for query ${k - 1}'s timeout`,
        );
      }
      t.ok(
        Math.max(...answering) < silent[2]!,
        "the answering server got all its queries before the silent one's first timeout",
      );
      for (const r of got.filter((r) => r.server === FW)) t.match(r, { status: "timeout", attempts: 1 });
      for (const r of got.filter((r) => r.server === DNS1)) t.match(r, { status: "ok" }, r.name);
    },
  );

  t.test("--both asks over UDP and TCP, with a verdict per transport", async (t) => {
    const { dns: got, consistency } = await collect(["web.lab"], {
      ...base,
      servers: [DNS1, DNS2],
      both: true,
    });
    t.equal(got.length, 4);
    t.same(got.map((r) => r.transport).sort(), ["tcp", "tcp", "udp", "udp"]);
    for (const r of got) t.match(r, { status: "ok", answers: ["198.51.100.80"] });
    t.same(consistency.map((c) => `${c.transport}:${c.consistent}`).sort(), ["tcp:true", "udp:true"]);
  });

  t.test("-i pins the interface: out of the wrong one nothing reaches the server", async (t) => {
    const right = await collect(["web.lab"], { ...base, servers: [DNS1], interface: "eth0", both: true });
    for (const r of right.dns) t.match(r, { status: "ok" }, `${r.transport} out of eth0`);
    const wrong = await collect(["web.lab"], {
      ...base,
      servers: [DNS1],
      interface: "eth1",
      timeoutMs: 800,
      both: true,
    });
    for (const r of wrong.dns) t.not(r.status, "ok", `${r.transport} out of eth1: ${r.status}`);
    const missing = await cli(["dns", "--netns", ns, "--server", DNS1, "-i", "eth9", "web.lab"]);
    t.equal(missing.code, 3, "an unknown interface is an environment error");
    t.match(missing.stderr, /unknown interface "eth9"/);
  });

  t.test("servers from a resolv.conf; netns as a /proc path", async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "wp-resolv-"));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, "resolv.conf");
    writeFileSync(
      file,
      `# a pod's resolv.conf\nsearch default.svc.cluster.local\nnameserver ${DNS1}\nnameserver fe80::53%eth0\nnameserver ${DNS2} ; second\noptions ndots:5\n`,
    );
    const warnings: string[] = [];
    const { dns: got } = await collect(["web.lab"], {
      ...base,
      resolvConf: file,
      onWarning: (w) => warnings.push(w),
    });
    t.same(got.map((r) => r.server).sort(), [DNS1, DNS2]);
    t.match(warnings, [/skipping nameserver fe80::53%eth0 .*zone index/]);
    const sleeper = topo.client.spawn("sleep", ["60"], { stdio: "ignore" });
    try {
      // `ip netns exec` enters the namespace before it runs sleep: wait until the pid is in there.
      const inClient = () => {
        try {
          return statSync(`/proc/${sleeper.pid}/ns/net`).ino === statSync(topo.client.nsPath).ino;
        } catch {
          return false;
        }
      };
      await waitUntil("sleep in the client namespace", inClient);
      const viaPath = await collect(["web.lab"], {
        ...base,
        netns: `/proc/${sleeper.pid}/ns/net`,
        servers: [DNS1],
      });
      t.match(viaPath.dns, [{ status: "ok", answers: ["198.51.100.80"] }]);
    } finally {
      sleeper.kill("SIGKILL");
    }
    const cliRun = await cli(["dns", "--netns", ns, "--resolv-conf", file, "--json", "web.lab"]);
    t.match(cliRun.stderr, /warning: skipping nameserver fe80::53%eth0/);
    t.equal(cliRun.code, 0);
  });

  t.test("bad input exits 2, a bad environment 3, never a stack trace", async (t) => {
    const cases: Array<[string[], number, RegExp]> = [
      [
        ["dns", "--netns", ns, "--server", DNS1, "--type", "AXFR", "web.lab"],
        2,
        /unknown record type "AXFR"/,
      ],
      [["dns", "--netns", ns, "--server", "example.com", "web.lab"], 2, /not an IPv4 or IPv6 address/],
      [["dns", "--netns", ns, "--server", DNS1], 2, /at least one NAME/],
      [["dns", "--netns", ns, "--server", DNS1, "a..b"], 2, /empty label/],
      [["dns", "--netns", ns, "--server", DNS1, `${"a".repeat(64)}.lab`], 2, /label over 63/],
      [["dns", "--netns", "wp-no-such-ns", "--server", DNS1, "web.lab"], 3, /network namespace/],
      [["dns", "--netns", ns, "--resolv-conf", "/nonexistent/resolv.conf", "web.lab"], 3, /cannot read/],
    ];
    for (const [args, code, message] of cases) {
      const r = await cli(args);
      t.equal(r.code, code, `${args.slice(3).join(" ")}: exit ${code}`);
      t.match(r.stderr, message);
      t.notMatch(r.stderr, /\n\s+at /, "no stack trace");
    }
  });

  t.test("the library: records, summary, several types", async (t) => {
    const { dns: got, summary } = await collect(["web.lab", "db.lab"], {
      ...base,
      servers: [DNS1],
      qtype: "A,AAAA",
    });
    t.equal(got.length, 4);
    t.match(summary, { type: "summary", command: "dns", targets: 4, states: { ok: 4 }, packetsSent: 4 });
    for (const r of got) {
      t.ok(r.rttMs !== null && r.rttMs >= 0, "rtt measured");
      t.ok(r.flags.includes("qr") && r.flags.includes("aa"), "flags as dig shows them");
    }
  });
});
