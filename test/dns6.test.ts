// `wireprobe dns` asking DNS servers at IPv6 addresses (UDP and TCP), against dnsmasq in a lab, with dig over
// IPv6 as the oracle in the same namespace. Addresses from 2001:db8::/32 only (added with nodad).
//
//   segment a 2001:db8:a::/64 and 198.51.100.0/24: client ::10 (.10), router ::1, dns1 ::53 (.53, both
//     families), dns2 ::54 (same records), closed ::9 (no listener), quiet ::56 (drops udp/53)
//   router: `prohibit 2001:db8:6::/48`

import { execFile } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { check } from "../src/check/check";
import { type DnsOptions, dns } from "../src/probes/dns/dns";
import type { DnsConsistencyRecord, DnsRecord, SummaryRecord, VerdictRecord } from "../src/records";
import { dig, startDnsmasq } from "./helpers/dns-lab";
import { withLab } from "./helpers/lab";

const BIN = join(__dirname, "..", "bin", "wireprobe.js");
const DNS1 = "2001:db8:a::53";
const DNS1_V4 = "198.51.100.53";
const DNS2 = "2001:db8:a::54";
const CLOSED = "2001:db8:a::9";
const QUIET = "2001:db8:a::56";
const PROHIBITED = "2001:db8:6::53";

const BIG_TXT = Array.from({ length: 10 }, (_, i) => `${"x".repeat(200)}${i}`).join(",");

const RECORDS = [
  "--auth-server=ns.lab,eth0",
  "--auth-zone=lab,198.51.100.0/24,2001:db8::/32",
  "--host-record=web.lab,198.51.100.80,2001:db8:80::80",
  "--host-record=v6only.lab,2001:db8:80::81",
  "--host-record=many.lab,198.51.100.83,2001:db8:80:0:1::3",
  "--host-record=zeros.lab,2001:db8:0:0:1:0:0:1",
  "--cname=alias.lab,v6only.lab",
  `--txt-record=big.lab,${BIG_TXT}`,
  "--edns-packet-max=512",
];

const QUESTIONS: Array<[string, string]> = [
  ["web.lab", "AAAA"],
  ["web.lab", "A"],
  ["v6only.lab", "AAAA"],
  ["many.lab", "AAAA"],
  ["zeros.lab", "AAAA"],
  ["alias.lab", "AAAA"],
  ["nx.lab", "AAAA"],
  ["v6only.lab", "A"],
];

async function collect(names: string[], options: DnsOptions) {
  const run = dns(names, options);
  const records: DnsRecord[] = [];
  const consistency: DnsConsistencyRecord[] = [];
  for await (const r of run) {
    if (r.type === "dns") records.push(r);
    else consistency.push(r);
  }
  return { records, consistency, summary: run.summary as SummaryRecord | undefined };
}

function run(cmd: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 60_000 }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: number }).code ?? 1) : 0;
      resolve({ code: typeof code === "number" ? code : 1, stdout, stderr });
    });
  });
}

t.test("dns with servers at IPv6 addresses", async (t) => {
  const lab = await withLab(t, { name: "dns6", ipv6: true });
  const a = await lab.segment("a");
  const router = await lab.router("r", [[a, ["198.51.100.1/24", "2001:db8:a::1/64"]]]);
  await router.sysctl("net.ipv6.conf.all.forwarding", "1");
  await router.sysctl("net.ipv6.icmp.ratelimit", "0");
  await router.route(["prohibit", "2001:db8:6::/48"]);
  const client = await lab.host("client");
  await client.connect(a, { address: ["198.51.100.10/24", "2001:db8:a::10/64"] });
  await client.route(["::/0", "via", "2001:db8:a::1"]);
  const server = async (name: string, addresses: string[]) => {
    const h = await lab.host(name);
    await h.connect(a, { address: addresses });
    await h.sysctl("net.ipv6.icmp.ratelimit", "0");
    return h;
  };
  const h1 = await server("dns1", [`${DNS1}/64`, `${DNS1_V4}/24`]);
  const h2 = await server("dns2", [`${DNS2}/64`]);
  await server("closed", [`${CLOSED}/64`]);
  const quiet = await server("quiet", [`${QUIET}/64`]);
  await quiet.nft(
    "table inet wp {\n  chain input {\n    type filter hook input priority 0;\n    udp dport 53 drop\n  }\n}\n",
  );
  await startDnsmasq(h1, `${DNS1},${DNS1_V4}`, RECORDS);
  await startDnsmasq(h2, DNS2, RECORDS);
  const ns = client.ns;
  const names = [...new Set(QUESTIONS.map(([n]) => n))];

  for (const transport of ["udp", "tcp"] as const) {
    t.test(`${transport}: every answer as dig's over IPv6, AAAA included`, async (t) => {
      const { records, summary } = await collect(names, {
        netns: ns,
        servers: [DNS1],
        qtype: ["AAAA", "A"],
        tcp: transport === "tcp",
        timeoutMs: 3000,
      });
      for (const [name, qtype] of QUESTIONS) {
        const r = records.find((x) => x.name === name && x.qtype === qtype);
        const oracle = await dig(client, DNS1, name, qtype, transport === "tcp" ? ["+tcp"] : []);
        t.ok(r, `${name} ${qtype}: a record`);
        t.equal(r?.server, DNS1, `${name} ${qtype}: the server in RFC 5952 form`);
        t.equal(r?.transport, transport);
        t.equal(r?.status, "ok", `${name} ${qtype}: answered`);
        t.equal(r?.rcode, oracle.status, `${name} ${qtype}: rcode ${oracle.status}, as dig`);
        t.same([...(r?.answers ?? [])].sort(), oracle.answers, `${name} ${qtype}: the answers dig prints`);
        t.ok((r?.rttMs ?? -1) > 0, `${name} ${qtype}: a round-trip time`);
      }
      t.same(
        records.find((x) => x.name === "zeros.lab" && x.qtype === "AAAA")?.answers,
        ["2001:db8::1:0:0:1"],
        "an AAAA answer in RFC 5952 form",
      );
      t.match(summary, { command: "dns", targets: names.length * 2 });
    });
  }

  t.test("a truncated UDP answer is asked again over TCP, over IPv6", async (t) => {
    const { records } = await collect(["big.lab"], { netns: ns, servers: [DNS1], qtype: "TXT", edns: false });
    const oracle = await dig(client, DNS1, "big.lab", "TXT", ["+tcp"]);
    t.match(records[0], { status: "ok", truncated: true, transport: "udp", rcode: "NOERROR" });
    t.same([...records[0]!.answers].sort(), oracle.answers, "the whole answer, as dig +tcp");
  });

  t.test("both families in one run: the servers agree", async (t) => {
    const { records, consistency } = await collect(["web.lab", "v6only.lab"], {
      netns: ns,
      servers: [DNS1_V4, DNS1, DNS2],
      qtype: "AAAA",
      both: true,
    });
    t.equal(records.length, 2 * 3 * 2, "a record per name, server and transport");
    t.ok(
      records.every((r) => r.status === "ok" && r.rcode === "NOERROR"),
      "every server answered, over UDP and TCP",
    );
    t.equal(consistency.length, 4);
    t.ok(
      consistency.every((c) => c.consistent),
      "the IPv4 and IPv6 addresses of one server and a second server agree",
    );
  });

  t.test("servers that refuse, drop or cannot be reached: as dig sees them", async (t) => {
    const { records } = await collect(["web.lab"], {
      netns: ns,
      servers: [CLOSED, QUIET, PROHIBITED],
      qtype: "AAAA",
      timeoutMs: 1000,
      retries: 0,
    });
    const of = (s: string) => records.find((r) => r.server === s);
    t.match(of(CLOSED), { status: "refused", reason: "port-unreach", from: CLOSED });
    const closed = await dig(client, CLOSED, "web.lab", "AAAA");
    t.equal(closed.status, null, "dig gets no answer from the closed server");
    t.match(closed.stdout, /refused/i, "dig: connection refused");
    t.match(of(QUIET), { status: "timeout" });
    const quietDig = await dig(client, QUIET, "web.lab", "AAAA");
    t.match(quietDig.stdout, /timed out/i, "dig: timed out");
    t.match(of(PROHIBITED), { status: "unreachable", reason: "admin-prohibited", from: "2001:db8:a::1" });
    const prohibitedDig = await dig(client, PROHIBITED, "web.lab", "AAAA");
    t.equal(prohibitedDig.status, null, "dig gets no answer behind the prohibit route either");
    const tcp = await collect(["web.lab"], { netns: ns, servers: [CLOSED], qtype: "AAAA", tcp: true });
    t.match(tcp.records[0], { status: "refused", reason: "connection-refused" }, "over TCP: a reset");
  });

  t.test("nameservers from resolv.conf: IPv6 ones are asked, zoned ones skipped", async (t) => {
    const dir = mkdtempSync(join(tmpdir(), "wp-dns6-"));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const file = join(dir, "resolv.conf");
    writeFileSync(file, `nameserver fe80::1%eth0\nnameserver 2001:DB8:A:0::53\nnameserver ${DNS1_V4}\n`);
    const warnings: string[] = [];
    const { records } = await collect(["v6only.lab"], {
      netns: ns,
      resolvConf: file,
      qtype: "AAAA",
      onWarning: (w) => warnings.push(w),
    });
    t.same(
      records.map((r) => r.server).sort(),
      [DNS1_V4, DNS1].sort(),
      "both nameservers, IPv6 in RFC 5952 form",
    );
    t.ok(
      records.every((r) => r.status === "ok" && r.answers.join() === "2001:db8:80::81"),
      "both answer the AAAA",
    );
    t.match(warnings, [/skipping nameserver fe80::1%eth0 .*zone index/]);
  });

  t.test("the CLI: --server with an IPv6 address; bad servers are one-line usage errors", async (t) => {
    const r = await run(process.execPath, [
      BIN,
      "dns",
      "--netns",
      ns,
      "--json",
      "--server",
      "2001:DB8:A::53",
      "-t",
      "AAAA",
      "v6only.lab",
    ]);
    t.equal(r.code, 0, "exit 0: answered NOERROR");
    const record = JSON.parse(r.stdout.split("\n")[0]!) as DnsRecord;
    t.match(record, { server: DNS1, status: "ok", answers: ["2001:db8:80::81"] });
    for (const [server, message] of [
      ["::ffff:198.51.100.53", /IPv4-mapped/],
      ["fe80::1%eth0", /zone index/],
      ["2001:db8::g", /not an IPv4 or IPv6 address/],
    ] as Array<[string, RegExp]>) {
      const bad = await run(process.execPath, [BIN, "dns", "--netns", ns, "--server", server, "web.lab"]);
      t.equal(bad.code, 2, `${server}: exit 2`);
      t.match(bad.stderr, message);
      t.equal(bad.stderr.trim().split("\n").length, 1, `${server}: one line`);
    }
  });

  t.test("check --dns with IPv6 servers: the dns verdict, as for IPv4", async (t) => {
    const verdictOf = async (servers: string[]) => {
      const records = [];
      for await (const r of check({ netns: ns, dnsServers: servers, dnsNames: ["web.lab", "v6only.lab"] })) {
        records.push(r);
      }
      return records.find((r): r is VerdictRecord => r.type === "verdict" && r.check === "dns");
    };
    const ok = await verdictOf(["2001:DB8:A::53", DNS2, DNS1_V4]);
    t.match(ok, { ok: true, complete: true }, "every server answers, IPv6 and IPv4, and they agree");
    t.match(ok?.detail, /All 3 DNS server\(s\) answer every name/);
    const bad = await verdictOf([DNS1, CLOSED]);
    t.match(bad, { ok: false }, "a closed IPv6 server fails the verdict");
    t.match(bad?.detail, new RegExp(CLOSED));
  });
});
