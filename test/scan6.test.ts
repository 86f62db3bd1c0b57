// `wireprobe scan` (SYN) over IPv6, checked against `nmap -6 -sS -Pn -n` in the same namespace. Next hops come
// from wireprobe's own NDP. Addresses from 2001:db8::/32 only (added with nodad).
//
//   segment a 2001:db8:a::/64: node ::10 (the prober), router ::1, web ::11 (8080 open, 22 closed, 81 dropped,
//     82 rejected with admin-prohibited); nobody at ::77 (down: no neighbour advertisement)
//   segment b 2001:db8:b::/64: router ::1, far ::20 (8080 open, 22 closed)
//   router: `prohibit 2001:db8:6::/48` (admin-prohibited from the router)

import { execFile } from "node:child_process";
import { join } from "node:path";
import t from "tap";
import type { Host } from "../src/lab";
import { withLab } from "./helpers/lab";
import { nmapOracle } from "./helpers/nmap";

const BIN = join(__dirname, "..", "bin", "wireprobe.js");
const PORTS = "22,81,82,8080";

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

async function listen(host: Host, port: number): Promise<void> {
  host.spawn("python3", ["-m", "http.server", String(port), "--bind", "::"], { stdio: "ignore" });
  for (let i = 0; ; i++) {
    const r = await host.exec("ss", ["-ltnH", `sport = :${port}`], { reject: false });
    if (r.stdout.trim() !== "") return;
    if (i > 200) throw new Error("the web server did not start");
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

t.test("SYN scan over IPv6 against nmap -6", async (t) => {
  const lab = await withLab(t, { name: "scan6", ipv6: true });
  const a = await lab.segment("a");
  const b = await lab.segment("b");
  const router = await lab.router("r", [
    [a, "2001:db8:a::1/64"],
    [b, "2001:db8:b::1/64"],
  ]);
  await router.sysctl("net.ipv6.conf.all.forwarding", "1");
  await router.sysctl("net.ipv6.icmp.ratelimit", "0");
  await router.route(["prohibit", "2001:db8:6::/48"]);
  const node = await lab.host("node");
  await node.connect(a, { address: "2001:db8:a::10/64" });
  await node.route(["::/0", "via", "2001:db8:a::1"]);
  const web = await lab.host("web");
  await web.connect(a, { address: "2001:db8:a::11/64" });
  await web.route(["::/0", "via", "2001:db8:a::1"]);
  await web.sysctl("net.ipv6.icmp.ratelimit", "0");
  await web.nft(
    "table inet wp {\n  chain input {\n    type filter hook input priority 0;\n    tcp dport 81 drop\n    tcp dport 82 reject with icmpv6 type admin-prohibited\n  }\n}\n",
  );
  const far = await lab.host("far");
  await far.connect(b, { address: "2001:db8:b::20/64" });
  await far.route(["::/0", "via", "2001:db8:b::1"]);
  await listen(web, 8080);
  await listen(far, 8080);
  const ns = node.ns;

  const targets = ["2001:db8:a::11", "2001:db8:b::20", "2001:db8:6::1", "2001:db8:a::77"];
  const nmap = await nmapOracle(node, [
    "-6",
    "-sS",
    "-Pn",
    "-n",
    "--max-retries",
    "1",
    "-p",
    PORTS,
    ...targets,
  ]);

  t.test("every target x port: the state and reason nmap gives", async (t) => {
    const r = await cli(ns, ["-6", "-sS", "-Pn", "-n", "--json", "--retries", "1", "-p", PORTS, ...targets]);
    t.equal(r.stderr, "", "no error");
    const records = r.stdout
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const port = (target: string, p: number) =>
      records.find((x) => x.type === "port" && x.target === target && x.port === p);
    const cases: Array<[string, number, string, string]> = [
      ["2001:db8:a::11", 8080, "open", "syn-ack"],
      ["2001:db8:a::11", 22, "closed", "reset"],
      ["2001:db8:a::11", 81, "filtered", "no-response"],
      ["2001:db8:a::11", 82, "filtered", "admin-prohibited"],
      ["2001:db8:b::20", 8080, "open", "syn-ack"],
      ["2001:db8:b::20", 22, "closed", "reset"],
      ["2001:db8:6::1", 22, "filtered", "admin-prohibited"],
    ];
    for (const [target, p, state, reason] of cases) {
      const got = port(target, p);
      t.match(got, { state, reason, protocol: "tcp" }, `${target} ${p}: ${state} (${reason})`);
      const oracle = nmap.get(target)?.ports[String(p)];
      t.same(
        { state: got?.state, reason: got?.reason },
        oracle,
        `${target} ${p}: as nmap -6 (${JSON.stringify(oracle)})`,
      );
    }
    t.match(port("2001:db8:6::1", 22), { reasonIp: "2001:db8:a::1" }, "the router sent the error");
    t.match(
      records.find((x) => x.type === "host" && x.target === "2001:db8:a::77"),
      { state: "down", reason: "no-ndp-reply" },
      "no neighbour advertisement: down",
    );
    t.equal(nmap.get("2001:db8:a::77")?.status, "down", "nmap -6 -Pn finds it down too");
    const neigh = await node.exec("ip", ["-6", "neigh", "show", "dev", "eth0"]);
    t.notMatch(
      neigh.stdout,
      /2001:db8:a::77/,
      "the kernel's neighbour table has nothing of the silent address",
    );
  });

  t.test("-sT takes IPv6 targets too (test/scan-connect6.test.ts holds it to nmap -6 -sT)", async (t) => {
    const r = await cli(ns, ["-sT", "--json", "-p", "22,8080", "2001:db8:a::11"]);
    t.equal(r.code, 0, r.stderr);
    t.match(
      r.stdout,
      /"target":"2001:db8:a::11","port":8080,"protocol":"tcp","state":"open","reason":"syn-ack"/,
    );
    t.match(r.stdout, /"port":22,"protocol":"tcp","state":"closed","reason":"conn-refused"/);
  });

  t.test("-oX and -oG name IPv6 hosts as nmap does", async (t) => {
    const x = await cli(ns, ["-6", "-p", PORTS, "-oX", "-", "2001:db8:a::11"]);
    t.match(x.stdout, /<address addr="2001:db8:a::11" addrtype="ipv6"\/>/, "addrtype ipv6");
    t.match(x.stdout, /<port protocol="tcp" portid="8080"><state state="open" reason="syn-ack"/);
    const both = await cli(ns, ["-6", "-p", PORTS, "-oX", "-", "2001:db8:a::77", "2001:db8:a::11"]);
    // -v: nmap lists the hosts it found down too, as wireprobe always does
    const oracle = await node.exec("nmap", [
      "-6",
      "-v",
      "-Pn",
      "-n",
      "-p",
      PORTS,
      "-oX",
      "-",
      "2001:db8:a::77",
      "2001:db8:a::11",
    ]);
    const hosts = (xml: string) =>
      [
        ...xml.matchAll(
          /<host\b[^>]*><status state="(\w+)"[\s\S]*?<address addr="([0-9a-f:]+)" addrtype="(\w+)"/g,
        ),
      ].map((m) => `${m[2]} ${m[1]} ${m[3]}`);
    const runstats = (xml: string) => /<hosts up="\d+" down="\d+" total="\d+"\/>/.exec(xml)?.[0];
    // nmap writes a host found down before the scanned ones; wireprobe in address order (as for IPv4)
    t.same(hosts(both.stdout).sort(), hosts(oracle.stdout).sort(), "the same <host> elements as nmap's");
    t.equal(runstats(both.stdout), runstats(oracle.stdout), "the same runstats counts");
    const g = await cli(ns, ["-6", "-p", PORTS, "-oG", "-", "2001:db8:a::11"]);
    t.match(g.stdout, /Host: 2001:db8:a::11 \(\)\tPorts: .*8080\/open\/tcp/, "the grepable Ports line");
  });
});
