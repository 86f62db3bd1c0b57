// What nmap users type and read, checked against nmap (Debian's package) in the same lab namespace: --open
// leaves down hosts out of -oG and -oX as nmap does; -p takes nmap-services names and masks; --top-ports N
// above 1000 scans nmap's own list.
//
//   segment a 198.51.100.0/24: node .10 (the prober), web .11 (8080 open, 22 closed), quiet .12 (22 closed);
//   nobody at .99 (down)

import { execFile } from "node:child_process";
import { join } from "node:path";
import t from "tap";
import { parsePorts } from "../src/addr/ports";
import type { Host } from "../src/lab";
import { withLab } from "./helpers/lab";

const BIN = join(__dirname, "..", "bin", "wireprobe.js");
const TARGETS = ["198.51.100.11", "198.51.100.12", "198.51.100.99"];

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

/** The hosts an nmap -oG file lists, with their Status (or "Ports" when only a Ports line names them). */
function grepableHosts(text: string): string[] {
  return text
    .split("\n")
    .filter((l) => l.startsWith("Host: "))
    .map((l) => `${l.split(" ")[1]} ${l.includes("Status: ") ? l.split("Status: ")[1] : "Ports"}`);
}

/** The <host> elements of an nmap XML document, as "address state", and the runstats host counts. */
function xmlHosts(text: string): { hosts: string[]; runstats: string } {
  const hosts = [...text.matchAll(/<host\b[^>]*><status state="(\w+)"[\s\S]*?<address addr="([\d.]+)"/g)].map(
    (m) => `${m[2]} ${m[1]}`,
  );
  const runstats = /<hosts up="\d+" down="\d+" total="\d+"\/>/.exec(text)?.[0] ?? "";
  return { hosts, runstats };
}

/** The port list nmap (or wireprobe) says it scanned: scaninfo's services attribute of -oX. */
function scaninfoServices(xml: string): string {
  const m = /<scaninfo [^>]*\bservices="([^"]*)"/.exec(xml);
  if (!m) throw new Error(`no scaninfo in ${xml.slice(0, 400)}`);
  return m[1]!;
}

async function nmap(host: Host, args: string[]): Promise<string> {
  return (await host.exec("nmap", ["-n", ...args], { timeoutMs: 300_000 })).stdout;
}

t.test("scan as nmap users type and read it", async (t) => {
  const lab = await withLab(t, "nmapcompat");
  const a = await lab.segment("a");
  const node = await lab.host("node");
  await node.connect(a, { address: "198.51.100.10/24" });
  const web = await lab.host("web");
  await web.connect(a, { address: "198.51.100.11/24" });
  const quiet = await lab.host("quiet");
  await quiet.connect(a, { address: "198.51.100.12/24" });
  web.spawn("python3", ["-m", "http.server", "8080", "--bind", "0.0.0.0"], { stdio: "ignore" });
  for (let i = 0; ; i++) {
    const r = await web.exec("ss", ["-ltnH", "sport = :8080"], { reject: false });
    if (r.stdout.trim() !== "") break;
    if (i > 200) throw new Error("the web server did not start");
    await new Promise((resolve) => setTimeout(resolve, 25));
  }

  t.test("--open: only hosts with an open port, in -oG and -oX, as nmap", async (t) => {
    const ports = "22,8080";
    const oracleG = await nmap(node, ["-sS", "--open", "-p", ports, "-oG", "-", ...TARGETS]);
    const oracleX = await nmap(node, ["-sS", "--open", "-p", ports, "-oX", "-", ...TARGETS]);
    t.same(grepableHosts(oracleG), ["198.51.100.11 Up", "198.51.100.11 Ports"], "nmap: the open host only");

    const g = await cli(node.ns, ["--open", "-p", ports, "-oG", "-", ...TARGETS]);
    t.equal(g.code, 0, g.stderr);
    t.same(grepableHosts(g.stdout), grepableHosts(oracleG), "the same hosts as nmap's -oG");
    t.notMatch(g.stdout, /Status: Down/, "no down host");
    const counted = (text: string) => /-- (\d+ IP address.*\)) scanned in/.exec(text)?.[1];
    t.equal(counted(g.stdout), counted(oracleG), "the last line counts every host, as nmap's");

    const x = await cli(node.ns, ["--open", "-p", ports, "-oX", "-", ...TARGETS]);
    t.equal(x.code, 0, x.stderr);
    t.same(
      xmlHosts(x.stdout),
      xmlHosts(oracleX),
      "the same <host> elements and runstats counts as nmap's -oX",
    );

    const human = await cli(node.ns, ["--open", "-p", ports, ...TARGETS]);
    t.notMatch(
      human.stdout,
      /is down|198\.51\.100\.12/,
      "the report leaves out the down and the closed host",
    );
    t.match(human.stdout, /Scan report for 198\.51\.100\.11/);

    // Without --open every host is listed, down ones as nmap -v lists them.
    const all = await cli(node.ns, ["-p", ports, "-oG", "-", ...TARGETS]);
    t.match(all.stdout, /Host: 198\.51\.100\.99 \(\)\tStatus: Down/);
  });

  t.test("-p with service names and masks scans the ports nmap scans", async (t) => {
    for (const spec of ["ssh,http", "ssh,80,1000-1002,domain", "http*", "h?tp", "T:ssh,https-alt"]) {
      const oracle = scaninfoServices(await nmap(node, ["-sS", "-p", spec, "-oX", "-", "198.51.100.11"]));
      const r = await cli(node.ns, ["-p", spec, "-oX", "-", "198.51.100.11"]);
      t.equal(r.code, 0, `${spec}: ${r.stderr}`);
      t.equal(scaninfoServices(r.stdout), oracle, `-p ${spec}: ${oracle}`);
    }
    const glued = await cli(node.ns, ["-pssh,http-proxy", "--json", "198.51.100.11"]);
    const states = glued.stdout
      .split("\n")
      .filter((l) => l.includes('"type":"port"'))
      .map((l) => JSON.parse(l) as { port: number; state: string })
      .map((p) => `${p.port}/${p.state}`)
      .sort();
    t.same(states, ["22/closed", "8080/open"], "-pssh,http-proxy: 22 and 8080, glued as nmap allows");

    const unknown = await cli(node.ns, ["-p", "ssh,nosuchservice", "198.51.100.11"]);
    t.equal(unknown.code, 2, "an unknown name is bad usage");
    t.match(unknown.stderr, /unknown service name "nosuchservice"/);
    t.notMatch(unknown.stderr, /\n\s+at /, "no stack trace");
    const nmapUnknown = await node.exec("nmap", ["-n", "-p", "nosuchservice", "198.51.100.11"], {
      reject: false,
    });
    t.not(nmapUnknown.code, 0, "nmap refuses it too");
  });

  t.test("--top-ports above 1000: nmap's own list", async (t) => {
    for (const n of [2000, 8366]) {
      const oracle = scaninfoServices(
        await nmap(node, ["-sS", "--top-ports", String(n), "-oX", "-", "198.51.100.11"]),
      );
      t.equal(parsePorts(oracle).length, n, `nmap scans ${n} ports`);
      const r = await cli(node.ns, ["--top-ports", String(n), "--rate", "0", "-oX", "-", "198.51.100.11"]);
      t.equal(r.code, 0, r.stderr);
      t.equal(scaninfoServices(r.stdout), oracle, `--top-ports ${n}: the same ports as nmap`);
    }
    // nmap stops at the 8366 ports nmap-services lists; wireprobe goes on with the rest, in numeric order.
    const all = await cli(node.ns, ["--top-ports", "65535", "--rate", "0", "-oX", "-", "198.51.100.11"]);
    t.equal(all.code, 0, all.stderr);
    t.equal(scaninfoServices(all.stdout), "1-65535", "--top-ports 65535 is every port");
    const tooMany = await cli(node.ns, ["--top-ports", "65536", "198.51.100.11"]);
    t.equal(tooMany.code, 2);
  });
});
