// `check --kube-nodes F --kube-services G` in the demo's broken cluster lab (dual-stack): the kubectl JSON in
// test/fixtures/kube/lab-*.json is what `kubectl get nodes -o json` and `kubectl get svc -A -o json` would print
// for that lab (the four nodes' InternalIPs, a dual-stack NodePort 30000/TCP, a single-stack IPv4 NodePort
// 30514/UDP, a ClusterIP Service, kube-dns with the DNS Service VIPs as clusterIPs). The check from those files
// must give the same records and verdicts as the same check typed by hand (--nodes, --node-port, --dns), also
// with the nodes piped in on standard input, as `kubectl get nodes -o json | wireprobe check --kube-nodes -`.

import { spawn } from "node:child_process";
import { openSync, readFileSync } from "node:fs";
import { join } from "node:path";
import t from "tap";
import { nodesFromKubectl, servicesFromKubectl } from "../src/check/kube";
import { buildClusterLab } from "../src/demo/cluster-lab";
import type { PortRecord, VerdictRecord } from "../src/records";
import { withLab } from "./helpers/lab";

// three checks of the demo cluster
t.setTimeout(5 * 60_000);

const BIN = join(__dirname, "..", "bin", "wireprobe.js");
const FIXTURES = join(__dirname, "fixtures", "kube");
const NODES = join(FIXTURES, "lab-nodes.json");
const SERVICES = join(FIXTURES, "lab-services.json");

/** Runs the CLI (it enters the lab namespace itself: --netns), stdin from `stdinFile` or none. */
function cli(
  args: readonly string[],
  stdinFile?: string,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const stdin = stdinFile === undefined ? "ignore" : openSync(stdinFile, "r");
    const child = spawn(process.execPath, [BIN, ...args], { stdio: [stdin, "pipe", "pipe"] });
    let stdout = "";
    let stderr = "";
    child.stdout!.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
    });
    child.stderr!.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), 180_000);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
  });
}

type Rec = { type: string } & Record<string, unknown>;
const records = (stdout: string): Rec[] =>
  stdout
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as Rec);

/** Round trips out of a text: they differ from run to run. */
const untimed = (s: string) => s.replace(/[0-9.]+ ms\b/g, "N ms");

/**
 * What a verdict concludes, without timings and arrival order: the same for the same cluster however it was
 * given.
 */
function conclusions(rs: Rec[]) {
  return rs
    .filter((r): r is Rec & VerdictRecord => r.type === "verdict")
    .map((v) => ({
      check: v.check,
      ok: v.ok,
      complete: v.complete,
      detail: untimed(v.detail),
      evidence: v.evidence
        .map((e) => ({ ...e, finding: untimed(e.finding) }))
        .sort((a, b) => `${a.subject} ${a.finding}`.localeCompare(`${b.subject} ${b.finding}`)),
      fix: v.fix,
      notProbed: v.notProbed,
      families: v.families?.map((f) => ({ ...f, detail: untimed(f.detail) })),
    }));
}

/** The port records as "target port/protocol state". */
const ports = (rs: Rec[]) =>
  rs
    .filter((r): r is Rec & PortRecord => r.type === "port")
    .map((p) => `${p.target} ${p.port}/${p.protocol} ${p.state}`)
    .sort();

t.test("check from kubectl JSON = the same check typed by hand (broken dual-stack lab)", async (t) => {
  const lab = await withLab(t, { name: "kubein", ipv6: true });
  const c = await buildClusterLab("broken", lab, { dualStack: true });

  // The fixtures describe this lab: the same nodes, and the DNS Service's VIPs as kube-dns.
  const kubeNodes = nodesFromKubectl(readFileSync(NODES, "utf8"));
  t.same(
    kubeNodes.flatMap((n) => n.addresses),
    c.nodeAddresses,
    "lab-nodes.json: the lab's node addresses",
  );
  const kube = servicesFromKubectl(readFileSync(SERVICES, "utf8"));
  t.same(kube.dnsServers, c.dnsVips, "lab-services.json: kube-dns is the lab's DNS Service");

  // dns2 is typed as well (--dns adds to kube-dns): against the VIP (dns1's endpoint) it shows the
  // disagreement, as the demo's dns verdict does.
  const dns2 = ["198.51.100.54", "2001:db8:1::54"];
  const common = [
    "check",
    "--netns",
    c.node.ns,
    ...c.dnsNames.flatMap((n) => ["--dns-name", n]),
    "--external",
    c.external.join(","),
    "--timeout",
    "500",
    "--json",
  ];
  const fromKube = await cli([
    ...common,
    "--kube-nodes",
    NODES,
    "--kube-services",
    SERVICES,
    "--dns",
    dns2.join(","),
  ]);
  const byHand = await cli([
    ...common,
    "--nodes",
    c.nodes.join(","),
    "--node-port",
    "30000,30514/udp/ipv4",
    "--dns",
    [...dns2, ...c.dnsVips].join(","),
  ]);
  const piped = await cli(
    [...common, "--kube-nodes", "-", "--kube-services", SERVICES, "--dns", dns2.join(",")],
    NODES,
  );
  for (const [what, r] of [
    ["from kubectl JSON", fromKube],
    ["typed by hand", byHand],
    ["nodes on stdin", piped],
  ] as const) {
    t.equal(r.code, 1, `${what}: failed verdicts, exit 1 (${r.stderr.trim()})`);
    t.equal(r.stderr, byHand.stderr, `${what}: the same notices`);
  }

  const kubeRecords = records(fromKube.stdout);
  const handRecords = records(byHand.stdout);
  const pipedRecords = records(piped.stdout);
  const verdicts = conclusions(kubeRecords);
  t.same(
    verdicts.map((v) => `${v.check} ${v.ok ? "ok" : "failed"}${v.complete ? "" : " incomplete"}`),
    ["host-gw failed", "nodeport failed", "dns failed"],
    "the lab's three failures",
  );
  t.same(verdicts, conclusions(handRecords), "the same verdicts as typed by hand");
  t.same(conclusions(pipedRecords), conclusions(handRecords), "the same verdicts with the nodes on stdin");
  t.same(ports(kubeRecords), ports(handRecords), "the same port records");
  t.same(ports(pipedRecords), ports(handRecords), "the same port records (stdin)");

  // What the kubectl JSON said reached the probes: 30000/tcp on all eight node addresses, 30514/udp (a
  // SingleStack IPv4 Service) on the four IPv4 ones only, the node behind the router named by its node name.
  const scanned = ports(kubeRecords);
  t.equal(scanned.filter((p) => p.includes(" 30000/tcp ")).length, 8, "30000/tcp on both families");
  t.same(
    scanned.filter((p) => p.includes(" 30514/udp ")).map((p) => p.split(" ")[0]),
    ["198.51.100.11", "198.51.100.12", "198.51.100.13", "203.0.113.14"],
    "30514/udp on the IPv4 addresses only",
  );
  t.match(
    verdicts[0]!.evidence.find((e) => e.subject === "203.0.113.14"),
    { node: "node4" },
    "the node behind the router carries its kubectl name",
  );
  const dnsServers = kubeRecords.filter((r) => r.type === "dns").map((r) => r.server as string);
  t.same(
    [...new Set(dnsServers)].sort(),
    [...dns2, ...c.dnsVips].sort(),
    "asked: the typed servers and kube-dns's clusterIPs",
  );
});

t.test(
  "what the kubectl JSON has that check does not probe: said in notices, the rest checked",
  async (t) => {
    const lab = await withLab(t, { name: "kubenote" });
    const seg = await lab.segment("a");
    const node = await lab.host("node");
    await node.connect(seg, { address: "198.51.100.10/24" });
    // cp1 of nodes-ipv4.json answers (its ports closed), worker1 and worker2 do not exist
    const cp1 = await lab.host("cp1");
    await cp1.connect(seg, { address: "198.51.100.11/24" });
    // IPv4 nodes and the full services.json: its SingleStack IPv6 nodePort has no node of its family, its
    // SCTP one no probe
    const r = await cli([
      "check",
      "--netns",
      node.ns,
      "--kube-nodes",
      join(FIXTURES, "nodes-ipv4.json"),
      "--kube-services",
      join(FIXTURES, "services.json"),
      "--timeout",
      "200",
      "--json",
    ]);
    t.equal(r.code, 1, "failed verdicts, exit 1");
    const lines = r.stderr.trim().split("\n");
    t.ok(
      lines.includes(
        `wireprobe: --kube-services ${FIXTURES}/services.json: SCTP nodePorts are not checked (no SCTP probe): telecom/diameter 30868/SCTP`,
      ),
      "SCTP: a notice",
    );
    t.ok(
      lines.includes(
        "wireprobe: --kube-services: no node has an address of the family of nodePort 30514/udp/ipv6: not checked",
      ),
      "an IPv6 nodePort without IPv6 nodes: a notice",
    );
    const rs = records(r.stdout);
    t.same(
      ports(rs)
        .filter((p) => p.startsWith("198.51.100.11 "))
        .map((p) => p.split(" ")[1])
        .sort(),
      ["30000/tcp", "30053/tcp", "30053/udp", "31080/tcp", "31443/tcp"],
      "every other nodePort probed",
    );
    t.same(
      [...new Set(rs.filter((x) => x.type === "dns").map((x) => x.server as string))],
      ["198.18.53.10", "2001:db8:53::10"],
      "kube-dns's clusterIPs asked",
    );
  },
);
