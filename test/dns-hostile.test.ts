// `wireprobe dns` against a hostile server (test/helpers/dns-hostile.ts) in a lab namespace: wrong IDs, wrong
// questions, garbage, truncated and looping packets, answers from another port or address, floods. The
// probe must never crash and never call anything but the real answer `ok`.

import { execFile } from "node:child_process";
import { join } from "node:path";
import t from "tap";
import { type DnsOptions, dns } from "../src/probes/dns/dns";
import type { DnsRecord } from "../src/records";
import { startHostileDns } from "./helpers/dns-lab";
import { withLab } from "./helpers/lab";

const BIN = join(__dirname, "..", "bin", "wireprobe.js");
const HOSTILE = "198.51.100.66";
const OTHER = "198.51.100.67";
const GOOD = ["198.51.100.200"];

async function ask(names: string[], options: DnsOptions): Promise<Map<string, DnsRecord>> {
  const out = new Map<string, DnsRecord>();
  for await (const r of dns(names, options)) {
    if (r.type === "dns") out.set(r.name, r);
  }
  return out;
}

t.test("a hostile DNS server", async (t) => {
  const lab = await withLab(t, "dnshost");
  const lan = await lab.segment("lan");
  const client = await lab.host("client");
  await client.connect(lan, { address: "198.51.100.10/24" });
  const evil = await lab.host("evil");
  await evil.connect(lan, { address: [`${HOSTILE}/24`, `${OTHER}/24`] });
  await startHostileDns(evil, HOSTILE, OTHER);
  const base: DnsOptions = { netns: client.ns, servers: [HOSTILE], timeoutMs: 700, retries: 0 };

  // name → what the probe must say: exact status, plus for `error` a word of the explanation.
  const expected: Array<[string, DnsRecord["status"], RegExp | null]> = [
    ["ok.lab", "ok", null],
    ["no-edns.lab", "ok", null],
    ["wrong-id.lab", "timeout", null],
    ["wrong-q.lab", "error", /another question/],
    ["wrong-type.lab", "error", /another question/],
    ["qr0.lab", "error", /QR=0/],
    ["opcode.lab", "error", /opcode 2/],
    ["garbage.lab", "error", /./],
    ["short.lab", "timeout", null],
    ["cut.lab", "error", /malformed/],
    ["bad-pointer.lab", "error", /malformed/],
    ["other-port.lab", "timeout", null],
    ["other-addr.lab", "timeout", null],
    ["flood.lab", "error", /./],
    ["flood-then-ok.lab", "ok", null],
    ["bad-then-ok.lab", "ok", null],
    ["tc.lab", "ok", null],
    ["tc-garbage.lab", "ok", null],
    ["tcp-garbage.lab", "error", /truncated; over TCP: the server closed the TCP connection after/],
    ["tcp-wrong-id.lab", "error", /truncated; over TCP: answer with ID/],
    ["silent.lab", "timeout", null],
  ];

  t.test("each misbehaviour on its own: the right verdict, never a wrong ok", async (t) => {
    for (const [name, status, why] of expected) {
      const got = (await ask([name], base)).get(name);
      t.ok(got, `${name}: a record`);
      if (!got) continue;
      t.equal(got.status, status, `${name}: ${status}`);
      if (status === "ok") {
        t.same(got.answers, GOOD, `${name}: only the real answer`);
        t.equal(got.rcode, "NOERROR");
      } else {
        t.same(got.answers, [], `${name}: no answers`);
        t.equal(got.rcode, null, `${name}: no rcode`);
      }
      if (why) t.match(got.error ?? "", why, `${name}: says what was wrong (${got.error})`);
      if (name.startsWith("tc")) t.equal(got.truncated, true, `${name}: answered over TCP after TC`);
      if (name === "no-edns.lab") t.equal(got.attempts, 2, "asked again without EDNS, like dig");
    }
  });

  t.test("AAAA answers cut short inside the address are malformed, never a shorter address", async (t) => {
    const got = [];
    for await (const r of dns(["cut.lab"], { ...base, qtype: "AAAA" })) if (r.type === "dns") got.push(r);
    t.equal(got.length, 1);
    t.equal(got[0]?.status, "error");
    t.match(got[0]?.error ?? "", /malformed answer: cut short/);
    t.same(got[0]?.answers, []);
  });

  t.test("all at once, interleaved: the same verdicts", async (t) => {
    const names = expected.map(([n]) => n).filter((n) => !n.startsWith("flood"));
    const got = await ask(names, { ...base, timeoutMs: 1500 });
    t.equal(got.size, names.length, "one record per name");
    for (const [name, status] of expected) {
      if (name.startsWith("flood")) continue;
      const r = got.get(name)!;
      t.equal(r.status === "ok", status === "ok", `${name}: ${r.status}`);
      if (r.status === "ok") t.same(r.answers, GOOD);
    }
  });

  t.test(
    "floods with retries: the probe survives, and a real answer after the flood still counts",
    async (t) => {
      const got = await ask(["flood.lab", "flood-then-ok.lab", "ok.lab"], {
        ...base,
        timeoutMs: 1500,
        retries: 1,
      });
      t.not(got.get("flood.lab")?.status, "ok", "a flood of wrong answers is never ok");
      t.match(got.get("flood-then-ok.lab"), { status: "ok", answers: GOOD });
      t.match(got.get("ok.lab"), { status: "ok", answers: GOOD });
    },
  );

  t.test("the CLI: JSON lines, exit 1, no stack trace", async (t) => {
    const names = expected.map(([n]) => n);
    const r = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile(
        process.execPath,
        [
          BIN,
          "dns",
          "--netns",
          client.ns,
          "--server",
          HOSTILE,
          "--timeout",
          "700",
          "--retries",
          "0",
          "--json",
          ...names,
        ],
        { timeout: 60_000 },
        (err, stdout, stderr) => {
          const code = err ? ((err as { code?: number }).code ?? 1) : 0;
          resolve({ code: typeof code === "number" ? code : 1, stdout, stderr });
        },
      );
    });
    t.equal(r.code, 1, "exit 1");
    t.equal(r.stderr, "", "nothing on stderr");
    const lines = r.stdout
      .split("\n")
      .filter(Boolean)
      .map((l) => JSON.parse(l) as { type: string; name?: string; status?: string; answers?: string[] });
    const records = lines.filter((l) => l.type === "dns");
    t.equal(records.length, names.length, "one record per name");
    for (const rec of records) {
      if (rec.status === "ok") t.same(rec.answers, GOOD, `${rec.name}: ok only with the real answer`);
    }
    t.match(lines[lines.length - 1], { type: "summary", command: "dns" });
  });
});
