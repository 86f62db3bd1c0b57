// The files a user names for an output (-oX, -oG, -oJ, -oA, check --junit): written where the user points
// (devices, links, FIFOs and process substitutions in place; regular files atomically, through a temporary
// file nobody can predict), every path checked before the first probe, and a closed stdout that still
// leaves complete files.

import { type ChildProcess, execFileSync, spawn } from "node:child_process";
import {
  chmodSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import type { SummaryRecord } from "../src/records";
import { unprivilegedBin } from "./helpers/cli";
import { withLab } from "./helpers/lab";

const BIN = join(__dirname, "..", "bin", "wireprobe.js");
const TARGET = "203.0.113.11";
const NOBODY = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"];

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
  pid: number | undefined;
}

/**
 * Runs `ip netns exec NS env -u NODE_OPTIONS [prefix...] node bin/wireprobe.js ...args` (no shell; `ip netns
 * exec` and `env` exec, so the CLI runs as the spawned pid). `onStdout` sees stdout as it comes.
 */
function cli(
  ns: string,
  args: string[],
  options: { prefix?: string[]; onStdout?: (text: string, child: ChildProcess) => void } = {},
): Promise<Result> {
  return new Promise((resolve) => {
    const child = spawn(
      "ip",
      [
        "netns",
        "exec",
        ns,
        "env",
        "-u",
        "NODE_OPTIONS",
        ...(options.prefix ?? []),
        process.execPath,
        // uid 65534 cannot read a checkout in a 0700 directory: it runs a world-readable copy
        options.prefix ? unprivilegedBin() : BIN,
        ...args,
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
      options.onStdout?.(stdout, child);
    });
    child.stdout.on("error", () => {
      // destroyed on purpose by a test
    });
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 100_000);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, pid: child.pid });
    });
  });
}

/** Runs a bash script inside the namespace with $NODE and $BIN set (for process substitution and pipes). */
function bash(ns: string, script: string, args: string[] = []): Promise<Result> {
  return new Promise((resolve) => {
    const child = spawn(
      "ip",
      [
        "netns",
        "exec",
        ns,
        "env",
        "-u",
        "NODE_OPTIONS",
        `NODE=${process.execPath}`,
        `BIN=${BIN}`,
        "bash",
        "-c",
        script,
        "bash",
        ...args,
      ],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 100_000);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, pid: child.pid });
    });
  });
}

/** nmap's XML as a parser sees it: whether the run finished or was cut short, and the ports in it. */
function parseXml(file: string): { exit: string; ports: number } {
  const script = `
import json, sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
fin = root.find("runstats/finished")
print(json.dumps({"exit": fin.get("exit"), "ports": len(root.findall("host/ports/port")) + sum(int(e.get("count")) for e in root.findall("host/ports/extraports"))}))
`;
  return JSON.parse(execFileSync("python3", ["-c", script, file], { encoding: "utf8" }));
}

function ndjson(text: string): Array<{ type: string }> {
  return text
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l));
}

async function waitFor(what: string, test: () => boolean, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!test()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

t.test("output files", async (t) => {
  const lab = await withLab(t, "outfiles");
  const seg = await lab.segment("a");
  const node = await lab.host("node");
  const nodeIf = await node.connect(seg, { address: "203.0.113.10/24" });
  const target = await lab.host("target");
  await target.connect(seg, { address: `${TARGET}/24` });
  // Every probe from the prober that reaches the target is counted: "nothing was probed" is a counter that
  // stayed at zero.
  await target.nft(
    // What a probe sends, and the kernel never does on its own: broadcast ARP requests (its neighbour
    // re-checks of the target are unicast), SYNs without ACK (its own TCP only answers with RSTs here),
    // UDP and ICMP echo.
    `table netdev wpcount {\n  counter probes {}\n  chain in {\n    type filter hook ingress device "eth0" priority 0;\n` +
      `    ether saddr ${nodeIf.mac} ether daddr ff:ff:ff:ff:ff:ff meta protocol arp counter name probes\n` +
      `    ether saddr ${nodeIf.mac} meta protocol ip tcp flags & (syn | ack) == syn counter name probes\n` +
      `    ether saddr ${nodeIf.mac} meta protocol ip meta l4proto udp counter name probes\n` +
      `    ether saddr ${nodeIf.mac} meta protocol ip icmp type echo-request counter name probes\n  }\n}\n`,
  );
  const probes = async (): Promise<number> => {
    const out = await target.exec("nft", ["-j", "list", "counter", "netdev", "wpcount", "probes"]);
    const counter = (JSON.parse(out.stdout).nftables as Array<{ counter?: { packets: number } }>).find(
      (x) => x.counter,
    );
    return counter!.counter!.packets;
  };
  const resetProbes = () => target.exec("nft", ["reset", "counter", "netdev", "wpcount", "probes"]);
  const ns = node.ns;
  const root = mkdtempSync(join(tmpdir(), "wp-outfiles-"));
  t.teardown(() => rmSync(root, { recursive: true, force: true }));
  let n = 0;
  const freshDir = (): string => {
    const d = join(root, `d${n++}`);
    mkdirSync(d);
    return d;
  };

  t.test("a device node, a symbolic link and a FIFO are written in place, not replaced", async (t) => {
    const dir = freshDir();
    const dev = join(dir, "null");
    execFileSync("mknod", [dev, "c", "1", "3"]);
    const victimOfLink = join(dir, "target.json");
    writeFileSync(victimOfLink, "old content\n");
    symlinkSync("target.json", join(dir, "link.json"));
    const fifo = join(dir, "fifo.gnmap");
    execFileSync("mkfifo", [fifo]);
    // The FIFO's reader, as a user would run it in another terminal.
    const reader = spawn("cat", [fifo], { stdio: ["ignore", "pipe", "ignore"] });
    let fromFifo = "";
    reader.stdout.setEncoding("utf8").on("data", (d: string) => {
      fromFifo += d;
    });
    const readerDone = new Promise<void>((resolve) => reader.on("close", () => resolve()));
    t.teardown(() => reader.kill("SIGKILL"));

    const r = await cli(ns, [
      "scan",
      "-p",
      "22,9100",
      "-oX",
      dev,
      "-oJ",
      join(dir, "link.json"),
      "-oG",
      fifo,
      TARGET,
    ]);
    t.equal(r.code, 0, r.stderr);
    t.ok(lstatSync(dev).isCharacterDevice(), "the device node is still a device node");
    t.equal(lstatSync(dev).rdev, statSync("/dev/null").rdev, "with the same device number");
    t.ok(lstatSync(join(dir, "link.json")).isSymbolicLink(), "the link is still a link");
    t.equal(readlinkSync(join(dir, "link.json")), "target.json", "to the same file");
    const json = ndjson(readFileSync(victimOfLink, "utf8"));
    t.match(json.at(-1), { type: "summary", command: "scan" }, "the file it points to has the NDJSON");
    t.equal(json.filter((x) => x.type === "port").length, 2);
    // cat ends when the writer closes the FIFO; killed (and the test fails) if it never does.
    const killer = setTimeout(() => reader.kill("SIGKILL"), 20_000);
    await readerDone;
    clearTimeout(killer);
    t.match(fromFifo, /^# wireprobe .* scan initiated /, "the FIFO's reader got the grepable output");
    t.match(fromFifo, /\n# wireprobe done at .*\n$/, "all of it");
    t.ok(lstatSync(fifo).isFIFO(), "the FIFO is still a FIFO");
    t.same(readdirSync(dir).sort(), ["fifo.gnmap", "link.json", "null", "target.json"], "no other file");
  });

  t.test("process substitution (/dev/fd/N) and /dev/fd/1 as stdout", async (t) => {
    const dir = freshDir();
    const out = join(dir, "ps.gnmap");
    const r = await bash(ns, `"$NODE" "$BIN" scan -p 22,9100 -oG >(cat > "$1") -oX /dev/fd/1 ${TARGET}`, [
      out,
    ]);
    t.equal(r.code, 0, r.stderr);
    await waitFor("the substituted process's file", () => {
      try {
        return /# wireprobe done at /.test(readFileSync(out, "utf8"));
      } catch {
        return false;
      }
    });
    t.match(readFileSync(out, "utf8"), /^# wireprobe .* scan initiated .*\nHost: 203\.0\.113\.11 /);
    t.match(r.stdout, /^<\?xml version="1.0"/, "-oX /dev/fd/1 is stdout: the XML, not the report");
    t.notMatch(r.stdout, /Scan report for/);
    t.same(readdirSync(dir), ["ps.gnmap"]);
  });

  t.test("links planted under the old temporary names are never followed", async (t) => {
    const dir = freshDir();
    const victim = join(dir, "victim");
    writeFileSync(victim, "precious\n");
    // What another user who can write to the directory could do: links named like the temporary files
    // (out.xml.tmp-PID), for the next pids.
    const last = Number(readFileSync("/proc/sys/kernel/ns_last_pid", "utf8"));
    const planted: string[] = [];
    for (let pid = last + 1; pid <= last + 3000; pid++) {
      for (const name of [`out.xml.tmp-${pid}`, `out.gnmap.tmp-${pid}`, `out.json.tmp-${pid}`]) {
        symlinkSync(victim, join(dir, name));
        planted.push(name);
      }
    }
    const r = await cli(ns, ["scan", "-p", "22,9100", "-oA", join(dir, "out"), TARGET]);
    t.equal(r.code, 0, r.stderr);
    t.ok(r.pid! > last && r.pid! <= last + 3000, `the planted names covered this run's pid ${r.pid}`);
    t.equal(readFileSync(victim, "utf8"), "precious\n", "the file the links point to is untouched");
    for (const f of ["out.xml", "out.gnmap", "out.json"]) {
      t.ok(lstatSync(join(dir, f)).isFile(), `${f} is a regular file`);
    }
    t.same(parseXml(join(dir, "out.xml")), { exit: "success", ports: 2 });
    t.same(
      readdirSync(dir).sort(),
      [...planted, "out.gnmap", "out.json", "out.xml", "victim"].sort(),
      "no file but the outputs was left",
    );
  });

  t.test("bad output paths: one line, exit 2, before anything is probed, nothing created", async (t) => {
    const dir = freshDir();
    mkdirSync(join(dir, "adir"));
    mkdirSync(join(dir, "x.xml"));
    writeFileSync(join(dir, "same"), "");
    symlinkSync("same", join(dir, "alias"));
    symlinkSync("nowhere", join(dir, "dangling"));
    const before = readdirSync(dir).sort();
    const cases: Array<[string, string[], RegExp]> = [
      ["a directory", ["-oX", join(dir, "adir")], /is a directory/],
      ["-oA whose BASE.xml is a directory", ["-oA", join(dir, "x")], /x\.xml: is a directory/],
      ["the same path twice", ["-oX", join(dir, "new"), "-oG", join(dir, "new")], /same file/],
      ["the same file through a link", ["-oX", join(dir, "same"), "-oJ", join(dir, "alias")], /same file/],
      ["a missing directory", ["-oG", join(dir, "nosuch", "out.gnmap")], /no such directory/],
      ["a link to nothing", ["-oJ", join(dir, "dangling")], /symbolic link to nothing/],
    ];
    for (const [what, outputs, message] of cases) {
      await resetProbes();
      const r = await cli(ns, ["scan", "-p", "9100", ...outputs, TARGET]);
      t.equal(r.code, 2, `${what}: exit 2`);
      t.equal(r.stderr.trim().split("\n").length, 1, `${what}: one line: ${r.stderr.trim()}`);
      t.match(r.stderr, message);
      t.equal(r.stdout, "", `${what}: nothing on stdout`);
      t.equal(await probes(), 0, `${what}: nothing was sent to the target`);
      t.same(readdirSync(dir).sort(), before, `${what}: nothing was created`);
    }
    await resetProbes();
    const junit = await cli(ns, [
      "check",
      "--nodes",
      TARGET,
      "--node-port",
      "9100",
      "--dns",
      TARGET,
      "--junit",
      join(dir, "adir"),
    ]);
    t.equal(junit.code, 2, "check --junit DIRECTORY: exit 2");
    t.match(junit.stderr, /^wireprobe: cannot write .*adir: is a directory\n$/);
    t.equal(await probes(), 0, "check --junit DIRECTORY: nothing was sent");
  });

  t.test("a file the user may not write is not replaced (uid 65534)", async (t) => {
    const dir = freshDir();
    chmodSync(root, 0o755);
    chmodSync(dir, 0o755);
    const shared = join(dir, "shared");
    mkdirSync(shared);
    chmodSync(shared, 0o777);
    const report = join(shared, "report.xml");
    writeFileSync(report, "root's report\n");
    chmodSync(report, 0o644);
    await resetProbes();
    const r = await cli(ns, ["scan", "-p", "9100", "-oX", report, TARGET], { prefix: NOBODY });
    t.equal(r.code, 2, `exit 2: ${r.stderr.trim()}`);
    t.match(r.stderr, /^wireprobe: cannot write .*report\.xml: permission denied\n$/);
    t.equal(readFileSync(report, "utf8"), "root's report\n", "the file is untouched");
    t.equal(statSync(report).uid, 0, "and still root's");
    const closed = await cli(ns, ["scan", "-p", "9100", "-oG", join(dir, "new.gnmap"), TARGET], {
      prefix: NOBODY,
    });
    t.equal(closed.code, 2, "a directory the user may not write: exit 2");
    t.match(closed.stderr, /^wireprobe: cannot write .*new\.gnmap: permission denied\n$/);
    t.equal(await probes(), 0, "nothing was sent");
    t.same(readdirSync(shared), ["report.xml"]);
  });

  t.test(
    "stdout closed early (| head -1): the run stops, the files are complete, no temporary file",
    async (t) => {
      const dir = freshDir();
      const base = join(dir, "cut");
      let during: string[] = [];
      let closed = false;
      const r = await cli(
        ns,
        [
          "scan",
          "--json",
          "-p-",
          "--rate",
          "4000",
          "-oX",
          `${base}.xml`,
          "-oG",
          `${base}.gnmap`,
          "-oJ",
          `${base}.json`,
          TARGET,
        ],
        {
          onStdout: (text, child) => {
            if (closed || !text.includes("\n")) return;
            closed = true;
            during = readdirSync(dir);
            child.stdout!.destroy();
          },
        },
      );
      t.ok(closed, "a first line came");
      t.equal(r.code, 0, `exit 0, as for a reader that had enough: ${r.stderr.trim()}`);
      t.equal(r.stderr, "", "nothing on stderr");
      t.equal(during.length, 3, `three temporary files while it ran: ${during.join(" ")}`);
      for (const name of during) {
        t.match(
          name,
          /^\.cut\.(xml|gnmap|json)\.[0-9a-f]{16}\.tmp$/,
          `${name}: random, in the same directory`,
        );
        t.notMatch(name, String(r.pid), "not named after the pid");
      }
      t.same(readdirSync(dir).sort(), ["cut.gnmap", "cut.json", "cut.xml"], "only the outputs remain");
      const json = ndjson(readFileSync(`${base}.json`, "utf8"));
      const summary = json.at(-1) as SummaryRecord;
      t.match(summary, { type: "summary", command: "scan", aborted: true }, "-oJ ends with the summary");
      const ports = json.filter((x) => x.type === "port").length;
      t.ok(ports > 0 && ports < 65535, `stopped early: ${ports} ports`);
      t.same(parseXml(`${base}.xml`), { exit: "error", ports }, "the XML parses, every port, cut short");
      const grep = readFileSync(`${base}.gnmap`, "utf8");
      t.match(grep, /^# wireprobe .* scan initiated /);
      t.match(grep, /\nHost: 203\.0\.113\.11 \(\)\tPorts: /);
      t.match(grep, /\n# wireprobe interrupted at .* -- 1 IP address \(1 host up\) scanned in .*\n$/);
    },
  );

  t.test("a scan that fails before scanning prints only its error", async (t) => {
    const dir = freshDir();
    await resetProbes();
    const r = await cli(ns, ["scan", "-i", "nosuch", "-p", "9100", "-oX", join(dir, "n.xml"), TARGET]);
    t.equal(r.code, 3, "exit 3");
    t.equal(r.stdout, "", "no report or summary on stdout");
    t.match(r.stderr, /^wireprobe: unknown interface "nosuch".*\n$/, "one line");
    t.same(readdirSync(dir), [], "no output file");
    t.equal(await probes(), 0);
  });
});
