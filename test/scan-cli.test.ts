// `wireprobe scan` as a command: interrupted scans that still leave well-formed outputs, the connect-scan
// fallback without privilege (uid 65534), exit codes, target lists, exclusions and hostnames.

import { type ChildProcess, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import type { Host } from "../src/lab";
import { scan } from "../src/probes/scan/scan";
import type { PortRecord, SummaryRecord } from "../src/records";
import { unprivilegedBin } from "./helpers/cli";
import { withLab } from "./helpers/lab";

const BIN = join(__dirname, "..", "bin", "wireprobe.js");

interface Result {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs `ip netns exec NS [prefix...] node bin/wireprobe.js scan ...args` (no shell). */
function run(
  ns: string,
  args: string[],
  options: { prefix?: string[]; input?: string; onStart?: (c: ChildProcess) => void } = {},
): Promise<Result> {
  return new Promise((resolve) => {
    const child = spawn(
      "ip",
      // without the test runner's NODE_OPTIONS: its loaders write files an unprivileged user may not
      [
        "netns",
        "exec",
        ns,
        "env",
        "-u",
        "NODE_OPTIONS",
        ...(options.prefix ?? []),
        process.execPath,
        options.prefix ? unprivilegedBin() : BIN,
        "scan",
        ...args,
      ],
      { stdio: ["pipe", "pipe", "pipe"] },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
    });
    child.stdin.end(options.input ?? "");
    const timer = setTimeout(() => child.kill("SIGKILL"), 90_000);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    options.onStart?.(child);
  });
}

function records(stdout: string): Array<PortRecord | SummaryRecord | { type: "host"; target: string }> {
  return stdout
    .trim()
    .split("\n")
    .filter(Boolean)
    .map((l) => JSON.parse(l));
}

async function xmlWellFormed(host: Host, file: string): Promise<{ exit: string; ports: number }> {
  const script = `
import json, sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
fin = root.find("runstats/finished")
print(json.dumps({"exit": fin.get("exit"), "ports": len(root.findall("host/ports/port")) + sum(int(e.get("count")) for e in root.findall("host/ports/extraports"))}))
`;
  return JSON.parse((await host.exec("python3", ["-c", script, file])).stdout);
}

t.test("scan as a command", async (t) => {
  const lab = await withLab(t, "scancli");
  const a = await lab.segment("a");
  const node = await lab.host("node");
  await node.connect(a, { address: "198.51.100.10/24" });
  const target = await lab.host("target");
  await target.connect(a, { address: "198.51.100.11/24" });
  await target.nft(
    "table ip filter {\n  chain input {\n    type filter hook input priority 0;\n    tcp dport 9001 drop\n  }\n}\n",
  );
  target.spawn("python3", ["-m", "http.server", "8080", "--bind", "0.0.0.0"], { stdio: "ignore" });
  for (let i = 0; (await target.exec("ss", ["-ltnH", "sport = :8080"])).stdout.trim() === ""; i++) {
    if (i > 200) throw new Error("the listener did not start");
    await new Promise((r) => setTimeout(r, 25));
  }
  const ns = node.ns;
  const dir = mkdtempSync(join(tmpdir(), "wp-scancli-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));

  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    t.test(`${signal} mid-scan: every result so far, the summary, well-formed -oX and -oG`, async (t) => {
      const base = join(dir, signal);
      const r = await run(
        ns,
        [
          "-p-",
          "--rate",
          "4000",
          "-oX",
          `${base}.xml`,
          "-oG",
          `${base}.gnmap`,
          "-oJ",
          `${base}.json`,
          "198.51.100.11",
        ],
        { onStart: (c) => setTimeout(() => c.kill(signal), 1500) },
      );
      t.equal(
        r.code,
        signal === "SIGINT" ? 130 : 143,
        `exit code of an interrupted scan (${r.code} ${r.signal} ${r.stderr})`,
      );
      const json = readFileSync(`${base}.json`, "utf8")
        .trim()
        .split("\n")
        .map((l) => JSON.parse(l));
      const summary = json.at(-1) as SummaryRecord;
      t.match(summary, { type: "summary", command: "scan", aborted: true });
      const ports = json.filter((x) => x.type === "port");
      t.ok(
        ports.length > 1000 && ports.length < 65535,
        `${ports.length} ports were answered before the stop`,
      );
      t.ok(
        ports.every((p) => p.state !== "filtered"),
        "no unanswered port is declared filtered by an abort",
      );
      const xml = await xmlWellFormed(node, `${base}.xml`);
      t.same(
        xml,
        { exit: "error", ports: ports.length },
        "XML parses, says the run ended in error, has every port",
      );
      const grep = readFileSync(`${base}.gnmap`, "utf8");
      t.match(grep, /^# wireprobe .* scan initiated /);
      t.match(grep, /\n# wireprobe interrupted at .* -- 1 IP address \(1 host up\) scanned in /);
      const closed = ports.filter((p) => p.state === "closed").length;
      t.match(grep, `\tIgnored State: closed (${closed})\n`, "the closed ports found so far are counted");
      t.same(
        readdirSync(dir).filter((f) => f.includes(".tmp-")),
        [],
        "no temporary files left",
      );
    });
  }

  t.test("without CAP_NET_RAW: a connect scan, said once, with the same open and closed ports", async (t) => {
    const targets = ["198.51.100.11", "198.51.100.10"];
    const ports = "22,8080,9001";
    const syn: Record<string, string> = {};
    for await (const r of scan(targets, { ports, netns: ns, timeoutMs: 300 })) {
      if (r.type === "port") syn[`${r.target}:${r.port}`] = r.state;
    }
    const nobody = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"];
    const r = await run(ns, ["--json", "-p", ports, "--timeout", "300", ...targets], { prefix: nobody });
    t.equal(r.code, 0, r.stderr);
    t.equal(
      r.stderr.match(/falling back to a TCP connect scan/g)?.length,
      1,
      `said once on stderr: ${r.stderr.trim()}`,
    );
    const out = records(r.stdout);
    const summary = out.at(-1) as SummaryRecord;
    t.equal(summary.method, "connect");
    const connect: Record<string, string> = {};
    for (const x of out) if (x.type === "port") connect[`${x.target}:${x.port}`] = x.state;
    t.same(connect, syn, "the same states as the SYN scan");
    t.equal(connect["198.51.100.11:8080"], "open");
    t.equal(connect["198.51.100.11:22"], "closed");
    t.equal(connect["198.51.100.11:9001"], "filtered");
    const reasons = out
      .filter((x): x is PortRecord => x.type === "port")
      .map((x) => `${x.state}/${x.reason}`);
    t.ok(reasons.includes("closed/conn-refused"), "nmap's connect-scan reason for closed");
    const viaNetns: Record<string, string> = {};
    const chosen = scan(targets, { ports, netns: ns, timeoutMs: 300, method: "connect" });
    for await (const x of chosen) if (x.type === "port") viaNetns[`${x.target}:${x.port}`] = x.state;
    t.same(viaNetns, syn, "-sT with --netns (root): sockets opened inside the namespace, the same states");
    t.equal(chosen.summary?.method, "connect");
    const strict = await run(ns, ["-sS", "-p", "22", "198.51.100.11"], { prefix: nobody });
    t.equal(strict.code, 3, "an explicit -sS without privilege fails (exit 3), as nmap does");
    t.match(strict.stderr, /CAP_NET_RAW/);
  });

  t.test("exit codes and --expect", async (t) => {
    const open = await run(ns, ["--json", "-p", "8080", "--expect", "open", "198.51.100.11"]);
    t.equal(open.code, 0, "every port open: 0");
    const mixed = await run(ns, ["--json", "-p", "22,8080", "--expect", "open", "198.51.100.11"]);
    t.equal(mixed.code, 1, "a closed port: 1");
    const down = await run(ns, [
      "--json",
      "-p",
      "8080",
      "--expect",
      "open",
      "198.51.100.11",
      "198.51.100.99",
    ]);
    t.equal(down.code, 1, "a down host: 1");
    const closed = await run(ns, ["--json", "-p", "22", "--expect", "closed", "198.51.100.11"]);
    t.equal(closed.code, 0, "--expect closed");
    const plain = await run(ns, ["-p", "22,8080", "198.51.100.11"]);
    t.equal(plain.code, 0, "without --expect a completed scan is 0 whatever it found");
    for (const bad of [
      ["-p", "70000", "198.51.100.11"],
      ["-p", "22", "198.51.100.256"],
      ["-p", "22", "198.51.100.11; reboot"],
      ["-p", "22", "--expect", "maybe", "198.51.100.11"],
      ["-p", "22"],
      ["-p", "22", "--bogus", "198.51.100.11"],
      ["-p", "22", "--json", "-oX", "-", "198.51.100.11"],
    ]) {
      const r = await run(ns, bad);
      t.equal(r.code, 2, `${bad.join(" ")}: exit 2`);
      t.equal(r.stderr.trim().split("\n").length, 1, `one line: ${r.stderr.trim()}`);
      t.notMatch(r.stderr, /\bat .*\.js:\d+/, "no stack trace");
    }
    const noNs = await run(ns, ["--netns", "no-such-namespace-here", "-p", "22", "198.51.100.11"]);
    t.equal(noNs.code, 3, "unknown namespace: 3");
    t.notOk(existsSync(join(dir, "never.xml")));
  });

  t.test("-iL from stdin, --exclude, -p- glued, hostnames, --open", async (t) => {
    const list = "# nodes\n198.51.100.8/29   # the small subnet\n198.51.100.11\nlocalhost\n";
    const r = await run(
      ns,
      ["--json", "-p8080", "-iL", "-", "--exclude", "198.51.100.8-10,198.51.100.12-15"],
      {
        input: list,
      },
    );
    t.equal(r.code, 0, r.stderr);
    const out = records(r.stdout);
    const ports = out.filter((x): x is PortRecord => x.type === "port");
    t.same(
      ports.map((p) => [p.target, p.state, p.hostname ?? null]).sort(),
      [
        ["127.0.0.1", "closed", "localhost"],
        ["198.51.100.11", "open", null],
      ],
      "the list minus the exclusions; localhost resolved and scanned over the loopback",
    );
    const onlyOpen = await run(ns, ["--json", "--open", "-p", "22,8080,9001", "198.51.100.11"]);
    const shown = records(onlyOpen.stdout).filter((x): x is PortRecord => x.type === "port");
    t.same(
      shown.map((p) => p.port),
      [8080],
      "--open shows only open ports",
    );
    t.match(
      records(onlyOpen.stdout).at(-1),
      { states: { open: 1, closed: 1, filtered: 1 } },
      "the summary counts all",
    );
  });
});
