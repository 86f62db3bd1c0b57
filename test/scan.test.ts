// `wireprobe scan` against a real lab, with nmap (Debian's package) as the oracle: open, closed, filtered
// (silently dropped, and with ICMP reasons from the host and from a router), down (no ARP reply) and a host
// behind a router, plus this host's own address. Both scanners run in the same namespace; their states and
// reasons must be identical, and so must the hosts that `grep Ports | grep open` finds in their -oG files.

import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { formatPortList, topPorts } from "../src/addr/ports";
import type { Host, Lab } from "../src/lab";
import { decodeFrame } from "../src/packet/frame";
import { scan } from "../src/probes/scan/scan";
import type { HostRecord, PortRecord, SummaryRecord } from "../src/records";
import { startCapture } from "./helpers/capture";
import { withLab } from "./helpers/lab";

const BIN = join(__dirname, "..", "bin", "wireprobe.js");
const PORTS = "22,8080,9001-9003";
const TARGETS = ["198.51.100.11", "198.51.100.99", "203.0.113.20", "203.0.113.200", "198.51.100.10"];

interface Topology {
  node: Host;
  target: Host;
  far: Host;
  macs: { router: string; target: string };
}

async function listening(host: Host, port: number): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const r = await host.exec("ss", ["-ltnH", `sport = :${port}`], { reject: false });
    if (r.stdout.trim() !== "") return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`nothing listens on ${port} in ${host.ns}`);
}

/**
 *   segment a 198.51.100.0/24: node .10 (the prober), target .11, router .1; .99 is nobody (down)
 *   segment b 203.0.113.0/24: router .1, far .20; the router rejects .128/25 with host-unreachable
 *   target: 8080 open, 22 closed, 9001 dropped, 9002 rejected admin-prohibited, 9003 port-unreachable
 *   far: 8080 open, the rest closed
 */
async function build(lab: Lab): Promise<Topology> {
  const a = await lab.segment("a");
  const b = await lab.segment("b");
  const router = await lab.router("r", [
    [a, "198.51.100.1/24"],
    [b, "203.0.113.1/24"],
  ]);
  // The router refuses 203.0.113.128/25 with host-unreachable. (An "unreachable" route would do it too, but
  // the kernel rate-limits those errors with a global, not per-namespace, token bucket.) ICMP errors are also
  // rate-limited per destination by default: a scan would see only the first few.
  await router.nft(
    [
      "table ip filter {",
      "  chain forward {",
      "    type filter hook forward priority 0;",
      "    ip daddr 203.0.113.128/25 reject with icmp type host-unreachable",
      "  }",
      "}",
      "",
    ].join("\n"),
  );
  await router.sysctl("net.ipv4.icmp_ratelimit", "0");
  const node = await lab.host("node");
  await node.connect(a, { address: "198.51.100.10/24" });
  await node.route(["default", "via", "198.51.100.1"]);
  const target = await lab.host("target");
  const targetIf = await target.connect(a, { address: "198.51.100.11/24" });
  await target.route(["default", "via", "198.51.100.1"]);
  await target.sysctl("net.ipv4.icmp_ratelimit", "0");
  await target.nft(
    [
      "table ip filter {",
      "  chain input {",
      "    type filter hook input priority 0;",
      "    tcp dport 9001 drop",
      "    tcp dport 9002 reject with icmp type admin-prohibited",
      "    tcp dport 9003 reject with icmp type port-unreachable",
      "  }",
      "}",
      "",
    ].join("\n"),
  );
  const far = await lab.host("far");
  await far.connect(b, { address: "203.0.113.20/24" });
  await far.route(["default", "via", "203.0.113.1"]);
  for (const h of [target, far]) {
    h.spawn("python3", ["-m", "http.server", "8080", "--bind", "0.0.0.0"], { stdio: "ignore" });
    await listening(h, 8080);
  }
  return { node, target, far, macs: { router: await router.mac("eth0"), target: targetIf.mac } };
}

type State = { state: string; reason: string };

interface XmlView {
  hosts: Array<{ addr: string; status: string; reason: string; ports: Record<string, State> }>;
  runstats: { exit: string; up: number; down: number };
  scaninfo: { type: string; services: string };
}

/** Reads an nmap XML document the way a consumer of nmap XML does (python's ElementTree, by element path). */
async function readNmapXml(host: Host, file: string): Promise<XmlView> {
  const script = `
import json, sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
assert root.tag == "nmaprun", root.tag
hosts = []
for h in root.findall("host"):
    st = h.find("status")
    ports = {}
    for p in h.findall("ports/port"):
        s = p.find("state")
        assert p.find("service") is not None
        ports[p.get("portid")] = {"state": s.get("state"), "reason": s.get("reason")}
    for ex in h.findall("ports/extraports"):
        for er in ex.findall("extrareasons"):
            for part in er.get("ports").split(","):
                lo, _, hi = part.partition("-")
                for n in range(int(lo), int(hi or lo) + 1):
                    ports[str(n)] = {"state": ex.get("state"), "reason": er.get("reason")}
    hosts.append({"addr": h.find("address").get("addr"), "status": st.get("state"), "reason": st.get("reason"), "ports": ports})
fin = root.find("runstats/finished")
hs = root.find("runstats/hosts")
si = root.find("scaninfo")
print(json.dumps({"hosts": hosts, "runstats": {"exit": fin.get("exit"), "up": int(hs.get("up")), "down": int(hs.get("down"))},
                  "scaninfo": {"type": si.get("type"), "services": si.get("services")}}))
`;
  const r = await host.exec("python3", ["-c", script, file]);
  return JSON.parse(r.stdout) as XmlView;
}

function cli(ns: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, "scan", "--netns", ns, ...args],
      { timeout: 90_000, maxBuffer: 64 * 1024 * 1024 },
      (err, stdout, stderr) => {
        const code = err ? ((err as { code?: number }).code ?? 1) : 0;
        resolve({ code: typeof code === "number" ? code : 1, stdout, stderr });
      },
    );
  });
}

async function collect(run: AsyncIterable<PortRecord | HostRecord>) {
  const ports = new Map<string, PortRecord>();
  const hosts = new Map<string, HostRecord>();
  for await (const r of run) {
    if (r.type === "port") {
      const key = `${r.target}:${r.port}`;
      if (ports.has(key)) throw new Error(`two records for ${key}`);
      ports.set(key, r);
    } else hosts.set(r.target, r);
  }
  return { ports, hosts };
}

t.test("scan in a lab, nmap as the oracle", async (t) => {
  const lab = await withLab(t, "scan");
  const topo = await build(lab);
  const ns = topo.node.ns;
  const dir = mkdtempSync(join(tmpdir(), "wp-scan-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));

  t.test("every state and reason equals nmap's", async (t) => {
    const run = scan(TARGETS, { ports: PORTS, netns: ns, timeoutMs: 500 });
    const got = await collect(run);
    const nmapFile = join(dir, "oracle.xml");
    await topo.node.exec("nmap", ["-Pn", "-sS", "-n", "-p", PORTS, "-oX", nmapFile, ...TARGETS], {
      timeoutMs: 90_000,
    });
    const oracle = await readNmapXml(topo.node, nmapFile);
    const up = oracle.hosts.filter((h) => h.status === "up").map((h) => h.addr);
    t.same(up.sort(), ["198.51.100.10", "198.51.100.11", "203.0.113.20", "203.0.113.200"], "nmap: who is up");
    let compared = 0;
    for (const h of oracle.hosts) {
      for (const [p, expected] of Object.entries(h.ports)) {
        const mine = got.ports.get(`${h.addr}:${p}`);
        t.same(
          mine && { state: mine.state, reason: mine.reason },
          expected,
          `${h.addr}:${p} is ${expected.state} (${expected.reason}) as nmap says`,
        );
        compared++;
      }
    }
    t.equal(compared, 20, "4 hosts x 5 ports compared");
    t.notOk(
      oracle.hosts.some((h) => h.addr === "198.51.100.99" && h.status === "up"),
      "nmap: .99 is not up",
    );
    t.same(got.hosts.get("198.51.100.99"), {
      type: "host",
      target: "198.51.100.99",
      state: "down",
      reason: "no-arp-reply",
    });
    t.notOk(
      [...got.ports.keys()].some((k) => k.startsWith("198.51.100.99:")),
      "no port records for a down host",
    );
    // details nmap's XML does not carry
    t.equal(got.ports.get("203.0.113.200:22")?.reasonIp, "198.51.100.1", "the router sent host-unreach");
    t.equal(got.ports.get("203.0.113.20:8080")?.ttl, 63, "TTL of an answer from behind the router");
    t.equal(got.ports.get("198.51.100.11:9001")?.ttl, null);
    const rtt = got.ports.get("198.51.100.11:8080")?.rttMs;
    t.ok(typeof rtt === "number" && rtt >= 0 && rtt < 500, `rtt ${rtt} ms`);
    const s = run.summary as SummaryRecord;
    t.match(s, {
      type: "summary",
      command: "scan",
      method: "syn",
      targets: 5,
      ports: 5,
      probes: 20,
      hostsDown: 1,
      states: { open: 2, closed: 10, filtered: 8 },
    });
    t.equal(s.retransmissions, 1, "only the silently dropped port was probed again");
    t.equal(s.packetsSent, 21);
    t.equal(s.packetsReceived, 19);
  });

  t.test("-oG: grep Ports | grep open finds the same hosts as on nmap's file", async (t) => {
    const mine = join(dir, "mine.gnmap");
    const theirs = join(dir, "nmap.gnmap");
    const r = await cli(ns, ["-p", PORTS, "--timeout", "500", "-oG", mine, ...TARGETS]);
    t.equal(r.code, 0, r.stderr);
    await topo.node.exec("nmap", ["-Pn", "-sS", "-n", "-p", PORTS, "-oG", theirs, ...TARGETS], {
      timeoutMs: 90_000,
    });
    const pipeline = async (file: string) =>
      (
        await topo.node.exec("bash", [
          "-c",
          "grep Ports \"$1\" | grep open | awk '{print $2}' | sort",
          "pipeline",
          file,
        ])
      ).stdout;
    const ours = await pipeline(mine);
    t.equal(ours, "198.51.100.11\n203.0.113.20\n", "ours");
    t.equal(ours, await pipeline(theirs), "the same as nmap's");
    const closed = async (file: string) =>
      (await topo.node.exec("bash", ["-c", "grep -o '[0-9]*/closed/' \"$1\" | sort | uniq -c", "p", file]))
        .stdout;
    t.equal(await closed(mine), await closed(theirs), "the same closed ports, port by port");
  });

  t.test("-oX: nmap's structure, read by an XML consumer like nmap's own file", async (t) => {
    const mine = join(dir, "mine.xml");
    const r = await cli(ns, ["-p", PORTS, "--timeout", "500", "-oX", mine, ...TARGETS]);
    t.equal(r.code, 0, r.stderr);
    t.match(r.stdout, /Scan report for 198\.51\.100\.11/, "the human report still goes to stdout");
    const ours = await readNmapXml(topo.node, mine);
    const oracle = await readNmapXml(topo.node, join(dir, "oracle.xml"));
    const up = (v: XmlView) =>
      v.hosts
        .filter((h) => h.status === "up")
        .sort((a, b) => (a.addr < b.addr ? -1 : a.addr > b.addr ? 1 : 0));
    t.same(
      up(ours).map((h) => [h.addr, h.ports]),
      up(oracle).map((h) => [h.addr, h.ports]),
      "the same hosts up with the same port states and reasons",
    );
    t.same(
      ours.hosts.find((h) => h.addr === "198.51.100.99"),
      { addr: "198.51.100.99", status: "down", reason: "no-response", ports: {} },
      "the down host is listed as nmap -v lists it",
    );
    t.same(ours.runstats, { exit: "success", up: 4, down: 1 });
    t.same(ours.scaninfo, oracle.scaninfo, "scaninfo: syn, the same services list");
  });

  t.test("the default port list is nmap's top 1000", async (t) => {
    const file = join(dir, "top.xml");
    await topo.node.exec("nmap", ["-Pn", "-sS", "-n", "-oX", file, "198.51.100.11"], { timeoutMs: 90_000 });
    const oracle = await readNmapXml(topo.node, file);
    t.equal(formatPortList(topPorts()), oracle.scaninfo.services, "same ports as nmap scans by default");
    const got = await collect(scan("198.51.100.11", { netns: ns, rate: 0, timeoutMs: 300 }));
    const open = [...got.ports.values()].filter((r) => r.state === "open").map((r) => String(r.port));
    const oracleOpen = Object.entries(oracle.hosts[0]!.ports)
      .filter(([, s]) => s.state === "open")
      .map(([p]) => p);
    t.same(open, oracleOpen, "same open ports");
    t.equal(got.ports.size, 1000);
  });

  t.test("the probes on the wire: SYNs to the next hop's MAC, valid checksums", async (t) => {
    const cap = await startCapture(
      topo.node,
      "eth0",
      "tcp[tcpflags] & tcp-syn != 0 and not tcp[tcpflags] & tcp-ack != 0",
    );
    await collect(scan(["198.51.100.11", "203.0.113.20"], { ports: "22", netns: ns, sourcePort: 44444 }));
    const frames = await cap.stop();
    t.equal(frames.length, 2, "one SYN per target");
    for (const f of frames) {
      // verifyChecksums: a bad IPv4 or TCP checksum throws
      const d = decodeFrame(f.data, { linkType: "ethernet", verifyChecksums: true });
      const ip = d.ipv4!;
      const tcp = d.tcp!;
      const dstMac = f.data.subarray(0, 6).toString("hex");
      const expected = ip.dst === "198.51.100.11" ? topo.macs.target : topo.macs.router;
      t.equal(
        dstMac,
        expected.replaceAll(":", ""),
        `${ip.dst}: to ${ip.dst === "198.51.100.11" ? "itself" : "the gateway"}`,
      );
      t.match(tcp, { syn: true, ack: false, rst: false, srcPort: 44444, dstPort: 22, window: 1024 });
      t.same(tcp.options, [{ kind: "mss", value: 1460 }], "MSS 1460, as nmap sends");
      t.equal(ip.src, "198.51.100.10");
    }
  });

  t.test("scans running at once in one process keep their answers apart", async (t) => {
    const alone = await collect(scan(TARGETS, { ports: PORTS, netns: ns, timeoutMs: 300 }));
    const states = (r: Awaited<ReturnType<typeof collect>>) =>
      Object.fromEntries([...r.ports].map(([k, v]) => [k, `${v.state}/${v.reason}`]).sort());
    const together = await Promise.all(
      [1, 2, 3].map((n) =>
        collect(scan(TARGETS, { ports: PORTS, netns: ns, timeoutMs: 300, sourcePort: 45000 + (n % 2) })),
      ),
    );
    for (const r of together) t.same(states(r), states(alone), "the same states as a scan alone");
  });

  t.test("a /24 sweep leaves the kernel's neighbour table alone", async (t) => {
    await topo.node.ip(["neigh", "flush", "all"]);
    const got = await collect(scan("198.51.100.0/24", { ports: "22", netns: ns, rate: 0, timeoutMs: 300 }));
    const up = [...new Set([...got.ports.values()].map((r) => r.target))].sort();
    t.same(up, ["198.51.100.1", "198.51.100.10", "198.51.100.11"], "the router, this host and the target");
    t.equal(got.hosts.size, 253, "every other address is down");
    t.equal(got.hosts.get("198.51.100.255")?.reason, "broadcast", "the broadcast address is not probed");
    t.equal(got.hosts.get("198.51.100.99")?.reason, "no-arp-reply");
    const neigh = (await topo.node.ip(["neigh", "show"])).stdout.trim();
    t.equal(neigh, "", "no neighbour entries were created");
  });
});
