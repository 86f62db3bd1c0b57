// IPv6 bad input, one table for every command that takes addresses: a /48 without a cap, a zone index (no
// target or server may carry one), an IPv4-mapped address (refused: the IPv4 form is named instead), and
// -sU without privilege. Each ends with exactly one line on stderr, no stack trace and the documented exit
// code, before anything is sent. The commands run inside a lab namespace all the same, so that a case that
// wrongly got as far as probing would probe nothing outside it.

import { mkdtempSync, rmSync, truncateSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import t from "tap";
import { AS_NOBODY, runCli } from "./helpers/cli";
import { withLab } from "./helpers/lab";

interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(ns: string, args: readonly string[], nobody: boolean): Promise<Result> {
  return runCli(ns, args, { ...(nobody ? { asUser: AS_NOBODY } : {}), timeoutMs: 60_000 });
}

const CAP =
  /is too large: a \/48 holds 1208925819614629174706176 addresses, more than the cap of 65536; raise the cap with --ipv6-cap N/;
const ZONE = /a zone index (\(%[a-z0-9]+\) )?is not supported; choose the interface with --interface/;
const MAPPED = /an IPv4-mapped IPv6 address.*; give the IPv4 address \(198\.51\.100\.1\) instead$/;

t.test("bad IPv6 input: one line, no stack trace, the documented exit code", async (t) => {
  const lab = await withLab(t, { name: "badin", ipv6: true });
  const a = await lab.segment("a");
  const node = await lab.host("node");
  await node.connect(a, { address: ["2001:db8:a::10/64", "198.51.100.10/24"] });
  const dir = mkdtempSync(join(tmpdir(), "wp-badin-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  const list = join(dir, "targets");
  writeFileSync(list, "198.51.100.1\n2001:db8::/48  # too large\n");
  const mappedList = join(dir, "mapped");
  writeFileSync(mappedList, "::ffff:198.51.100.1\n");
  // check has no --ipv6-cap (it takes at most 4096 nodes): its refusal says that, not an option it lacks
  const CHECK_CAP =
    /is too large: a \/48 holds 1208925819614629174706176 addresses, more than the cap of 4096; check takes at most 4096 nodes$/;

  // command line, exit code, what the line says, run as uid 65534
  const cases: Array<[string[], number, RegExp, boolean?]> = [
    [["scan", "-p", "22", "2001:db8::/48"], 2, CAP],
    [["scan", "-p", "22", "-iL", list], 2, CAP],
    [["scan", "-p", "22", "fe80::1%eth0"], 2, ZONE],
    [["scan", "-p", "22", "2001:db8::1%lo"], 2, ZONE],
    [["scan", "-p", "22", "::ffff:198.51.100.1"], 2, MAPPED],
    [["scan", "-p", "22", "-iL", mappedList], 2, MAPPED],
    [["scan", "-p", "22", "--exclude", "::ffff:198.51.100.1", "198.51.100.1"], 2, MAPPED],
    [
      ["scan", "-sU", "-p", "53", "198.51.100.1"],
      3,
      /^a UDP scan \(-sU\) needs root or CAP_NET_RAW \(EPERM\)$/,
      true,
    ],
    [["arp", "2001:db8::/48"], 2, CAP],
    [["arp", "fe80::1%eth0"], 2, ZONE],
    [["arp", "2001:db8::1%lo"], 2, ZONE],
    [["arp", "::ffff:198.51.100.1"], 2, MAPPED],
    [["ping", "-c", "1", "2001:db8::/48"], 2, CAP],
    [["ping", "-c", "1", "fe80::1%eth0"], 2, ZONE],
    [["ping", "-c", "1", "2001:db8::1%lo"], 2, ZONE],
    [["ping", "-c", "1", "::ffff:198.51.100.1"], 2, MAPPED],
    // a DNS server is one address: a prefix is no server, whatever the cap
    [
      ["dns", "--server", "2001:db8::/48", "example.com"],
      2,
      /^server "2001:db8::\/48" is not an IPv4 or IPv6 address$/,
    ],
    [["dns", "--server", "fe80::1%eth0", "example.com"], 2, ZONE],
    [["dns", "--server", "2001:db8::1%lo", "example.com"], 2, ZONE],
    [["dns", "--server", "::ffff:198.51.100.1", "example.com"], 2, MAPPED],
    [["check", "--nodes", "2001:db8::/48"], 2, CHECK_CAP],
    [["check", "--nodes", "fe80::1%eth0"], 2, ZONE],
    [["check", "--nodes", "2001:db8::1%lo"], 2, ZONE],
    [["check", "--nodes", "::ffff:198.51.100.1"], 2, MAPPED],
    [["check", "--nodes", "198.51.100.1", "--dns", "2001:db8::1%lo"], 2, ZONE],
    [["check", "--nodes", "198.51.100.1", "--dns", "::ffff:198.51.100.1"], 2, MAPPED],
  ];
  for (const [args, code, says, nobody] of cases) {
    const r = await run(node.ns, args, nobody ?? false);
    const what = args.join(" ").replace(dir, "DIR");
    t.equal(r.code, code, `${what}: exit ${code}`);
    t.equal(r.stdout, "", `${what}: nothing on stdout`);
    t.match(r.stderr, /^wireprobe: [^\n]+\n$/, `${what}: exactly one line: ${r.stderr.trim()}`);
    t.match(r.stderr.trim().replace(/^wireprobe: /, ""), says, `${what}: says why`);
    t.notMatch(r.stderr, /\bat .*\.js:\d+|Error:/, `${what}: no stack trace`);
  }
});

t.test(
  "--ipv6-cap N on scan and arp: raises and lowers the cap, -iL lists too, exclusions never capped",
  async (t) => {
    const lab = await withLab(t, { name: "ipv6cap", ipv6: true });
    const a = await lab.segment("a");
    const node = await lab.host("node");
    await node.connect(a, { address: "2001:db8:a::10/64" });
    const dir = mkdtempSync(join(tmpdir(), "wp-ipv6cap-"));
    t.teardown(() => rmSync(dir, { recursive: true, force: true }));
    const list = join(dir, "targets");
    writeFileSync(list, "2001:db8:a::/111\n");
    const excluded = join(dir, "excluded");
    writeFileSync(excluded, "2001:db8:a::/64\n");
    const oneLine = (r: Result, what: string, says: RegExp) => {
      t.equal(r.code, 2, `${what}: exit 2`);
      t.match(r.stderr, /^wireprobe: [^\n]+\n$/, `${what}: one line`);
      t.match(r.stderr, says, `${what}: ${r.stderr.trim()}`);
    };
    const quick = ["--timeout", "200", "--retries", "0"];

    oneLine(
      await run(node.ns, ["arp", "--ipv6-cap", "15", "2001:db8:a::10/124"], false),
      "arp cap 15",
      /a \/124 holds 16 addresses, more than the cap of 15; raise the cap with --ipv6-cap N/,
    );
    const arp = await run(
      node.ns,
      ["arp", "--ipv6-cap", "16", "--json", ...quick, "2001:db8:a::10/124"],
      false,
    );
    const arpRecords = arp.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { type: string; target: string });
    t.equal(
      arpRecords.filter((r) => r.type === "arp").length,
      16,
      "arp --ipv6-cap 16: the /124's 16 records",
    );
    t.equal(arp.stderr, "", "arp: no error");

    oneLine(
      await run(node.ns, ["scan", "-sT", "--ipv6-cap", "15", "-p", "9", "2001:db8:a::10/124"], false),
      "scan cap 15",
      /more than the cap of 15/,
    );
    const scan = await run(
      node.ns,
      ["scan", "-sT", "--ipv6-cap", "16", "--json", "-p", "9", ...quick, "2001:db8:a::10/124"],
      false,
    );
    t.equal(scan.code, 0, scan.stderr);
    const ports = scan.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as { type: string; target: string; state?: string });
    t.equal(
      ports.filter((r) => r.type === "port").length,
      16,
      "scan --ipv6-cap 16: the /124's 16 port records",
    );
    t.match(
      ports.find((r) => r.target === "2001:db8:a::10"),
      { state: "closed" },
      "this host's own address: closed",
    );

    oneLine(
      await run(node.ns, ["scan", "-sT", "-p", "9", "-iL", list], false),
      "scan -iL /111",
      /a \/111 holds 131072 addresses, more than the cap of 65536/,
    );
    const all = await run(
      node.ns,
      ["scan", "-sT", "--json", "-p", "9", "--ipv6-cap", "131072", "-iL", list, "--excludefile", excluded],
      false,
    );
    t.equal(all.code, 0, all.stderr);
    t.match(
      JSON.parse(all.stdout.trim()),
      { type: "summary", targets: 0 },
      "the /111 admitted, and all of it excluded by a /64",
    );
  },
);

t.test("scan --shard and --seed: bad values end in one line, exit 2, before anything is sent", async (t) => {
  const lab = await withLab(t, "badshard");
  const a = await lab.segment("a");
  const node = await lab.host("node");
  await node.connect(a, { address: "198.51.100.10/24" });
  const target = ["-p", "22", "198.51.100.0/28"];
  const cases: Array<[string[], RegExp]> = [
    [["--shard", "4/4", "--seed", "1"], /^the shard index must be a whole number from 0 to 3, not 4$/],
    [["--shard", "x", "--seed", "1"], /^--shard takes I\/N \(shard I of N, I from 0 to N-1\), not "x"$/],
    [["--shard", "0/0", "--seed", "1"], /^the shard count must be a whole number from 1 to 65535, not 0$/],
    [["--shard", "-1/4", "--seed", "1"], /^--shard takes I\/N/],
    [
      ["--shard", "1/70000", "--seed", "1"],
      /^the shard count must be a whole number from 1 to 65535, not 70000$/,
    ],
    [["--shard", "1/4"], /^--shard 1\/4 needs --seed N, the same for every shard$/],
    [["--shard", "1/4", "--seed", "abc"], /^--seed takes a whole number from 0 to 2\^64-1, not "abc"$/],
    [["--seed", "-5"], /^--seed takes a whole number from 0 to 2\^64-1, not "-5"$/],
    [["--seed", "18446744073709551616"], /^the seed must be a whole number from 0 to 18446744073709551615$/],
  ];
  for (const [args, says] of cases) {
    const r = await run(node.ns, ["scan", ...args, ...target], false);
    const what = `scan ${args.join(" ")}`;
    t.equal(r.code, 2, `${what}: exit 2`);
    t.equal(r.stdout, "", `${what}: nothing on stdout`);
    t.match(r.stderr, /^wireprobe: [^\n]+\n$/, `${what}: exactly one line: ${r.stderr.trim()}`);
    t.match(r.stderr.trim().replace(/^wireprobe: /, ""), says, `${what}: says why`);
  }
  // 0/1 is the whole scan, and needs no seed
  const whole = await run(
    node.ns,
    ["scan", "--shard", "0/1", "--json", "--timeout", "100", "--retries", "0", ...target],
    false,
  );
  t.equal(whole.code, 0, whole.stderr);
  t.match(whole.stdout, /"shard":"0\/1"/);
});

t.test("check --kube-nodes / --kube-services: bad kubectl JSON in one line, exit 2", async (t) => {
  const lab = await withLab(t, { name: "badkube" });
  const a = await lab.segment("a");
  const node = await lab.host("node");
  await node.connect(a, { address: "198.51.100.10/24" });
  const fixtures = join(__dirname, "fixtures", "kube");
  const f = (name: string) => join(fixtures, name);
  const dir = mkdtempSync(join(tmpdir(), "wp-badkube-"));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  // a sparse file over the 256 MiB cap: refused by its size, before a byte is read
  const huge = join(dir, "huge.json");
  writeFileSync(huge, "");
  truncateSync(huge, 300 * 1024 * 1024);

  const cases: Array<[string[], RegExp]> = [
    [["--kube-nodes", f("truncated.json")], /^--kube-nodes \S+truncated\.json: not JSON: /],
    [
      ["--kube-nodes", f("nodes.yaml")],
      /^--kube-nodes \S+nodes\.yaml: not JSON \(YAML\? use kubectl \.\.\. -o json\)/,
    ],
    [
      ["--kube-nodes", f("wrong-kind.json")],
      /^--kube-nodes \S+wrong-kind\.json: item 1 is a Pod, not a Node \(the output of kubectl get nodes -o json\)$/,
    ],
    [
      ["--kube-nodes", f("services.json")],
      /^--kube-nodes \S+services\.json: item 1 is a Service, not a Node/,
    ],
    [
      ["--kube-nodes", f("bad-node-address.json")],
      /^--kube-nodes \S+bad-node-address\.json: node worker1: InternalIP "198\.51\.100\.300" is not an IPv4 or IPv6 address$/,
    ],
    [
      ["--kube-nodes", f("nodes-ipv4.json"), "--kube-services", f("bad-nodeport.json")],
      /^--kube-services \S+bad-nodeport\.json: Service default\/web port "http": nodePort 70000 is out of range \(1-65535\)$/,
    ],
    [
      ["--kube-nodes", f("nodes-ipv4.json"), "--kube-services", f("lab-nodes.json")],
      /^--kube-services \S+lab-nodes\.json: item 1 is a Node, not a Service/,
    ],
    [
      ["--kube-nodes", f("nodes-empty.json")],
      /^--kube-nodes \S+nodes-empty\.json: no node with an InternalIP$/,
    ],
    [["--kube-nodes", join(dir, "missing.json")], /^cannot read --kube-nodes \S+missing\.json: ENOENT/],
    [["--kube-nodes", huge], /^--kube-nodes \S+huge\.json: larger than 256 MiB, more than it can hold$/],
    [
      ["--kube-nodes", "-", "--kube-services", "-"],
      /^--kube-nodes - and --kube-services -: only one input can read standard input; give the other a file$/,
    ],
    [
      ["-iL", "-", "--kube-services", "-"],
      /^-iL - and --kube-services -: only one input can read standard input/,
    ],
    // nodePorts without nodes: check's own refusal, naming --kube-nodes
    [
      ["--kube-services", f("services.json")],
      /^--node-port needs the nodes \(--nodes, -iL or --kube-nodes\)$/,
    ],
  ];
  for (const [args, says] of cases) {
    const r = await run(node.ns, ["check", ...args], false);
    const what = ["check", ...args].join(" ").replaceAll(fixtures, "FIXTURES").replace(dir, "DIR");
    t.equal(r.code, 2, `${what}: exit 2`);
    t.equal(r.stdout, "", `${what}: nothing on stdout`);
    t.match(r.stderr, /^wireprobe: [^\n]+\n$/, `${what}: exactly one line: ${r.stderr.trim()}`);
    t.match(r.stderr.trim().replace(/^wireprobe: /, ""), says, `${what}: says why`);
    t.notMatch(r.stderr, /\bat .*\.js:\d+|Error:/, `${what}: no stack trace`);
  }
});
