// Targets this host's own routes refuse, named alike by every command as the kernel names the route types:
// blackhole, prohibit, unreachable (routes, or a policy rule), and a broadcast address (which the kernel
// pings only with iputils' -b). `ip route` and iputils ping, run in the same namespace, are the oracles.
//
//   segment a 198.51.100.0/24: node .10 (the prober, with the routes below), peer .11 (answers)
//   node: blackhole 198.18.5.0/24, prohibit 198.18.6.0/24, unreachable 198.18.7.0/24,
//         rule `to 198.18.9.0/24 prohibit`, no route at all to 203.0.113.0/24; broadcast 198.51.100.255

import { execFile } from "node:child_process";
import { join } from "node:path";
import t from "tap";
import { dns } from "../src/probes/dns/dns";
import { ping } from "../src/probes/icmp/ping";
import { scan } from "../src/probes/scan/scan";
import type { DnsRecord, HostRecord, PingRecord } from "../src/records";
import { withLab } from "./helpers/lab";

const BIN = join(__dirname, "..", "bin", "wireprobe.js");

/** target -> the reason every command must give */
const REFUSED: Record<string, string> = {
  "198.18.5.1": "blackhole",
  "198.18.6.1": "prohibit",
  "198.18.7.1": "unreachable",
  "198.18.9.1": "prohibit",
  "198.51.100.255": "broadcast",
  "203.0.113.9": "no-route",
};
const TARGETS = Object.keys(REFUSED);

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { timeout: 120_000 }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: number }).code ?? 1) : 0;
      resolve({ code: typeof code === "number" ? code : 1, stdout, stderr });
    });
  });
}

t.test("routes that refuse a target, named by their type in every command", async (t) => {
  const lab = await withLab(t, "routetypes");
  const a = await lab.segment("a");
  const node = await lab.host("node");
  await node.connect(a, { address: "198.51.100.10/24" });
  const peer = await lab.host("peer");
  await peer.connect(a, { address: "198.51.100.11/24" });
  await node.route(["blackhole", "198.18.5.0/24"]);
  await node.route(["prohibit", "198.18.6.0/24"]);
  await node.route(["unreachable", "198.18.7.0/24"]);
  await node.exec("ip", ["rule", "add", "to", "198.18.9.0/24", "prohibit"]);
  const ns = node.ns;

  t.test("the oracles: ip route names the types; iputils ping refuses them all", async (t) => {
    for (const [target, type] of Object.entries(REFUSED)) {
      if (target.startsWith("198.18.") && target !== "198.18.9.1") {
        const shown = await node.exec("ip", ["-j", "route", "show", "match", target]);
        const routes = JSON.parse(shown.stdout) as Array<{ type?: string; dst: string }>;
        t.equal(routes.find((r) => r.dst !== "default")?.type, type, `ip route: ${target} is ${type}`);
      }
      const p = await node.exec("ping", ["-n", "-c", "1", "-W", "1", target], { reject: false });
      t.not(p.code, 0, `iputils ping ${target} fails`);
      t.notMatch(p.stdout, /1 packets transmitted/, `iputils sends nothing to ${target}`);
    }
    const broadcast = await node.exec("ping", ["-n", "-c", "1", "198.51.100.255"], { reject: false });
    t.match(
      broadcast.stderr,
      /Do you want to ping broadcast\? Then -b/,
      "iputils refuses a broadcast without -b",
    );
    const ipGet = await node.exec("ip", ["route", "get", "198.51.100.255"]);
    t.match(ipGet.stdout, /^broadcast 198\.51\.100\.255 /, "ip route get: a broadcast route");
  });

  t.test("scan: the host record's reason is the route type", async (t) => {
    const reasons: Record<string, string> = {};
    for await (const r of scan([...TARGETS, "198.51.100.11"], { netns: ns, ports: "22", timeoutMs: 300 })) {
      if (r.type === "host") reasons[r.target] = (r as HostRecord).reason;
    }
    t.same(reasons, REFUSED);
  });

  t.test("ping: unreachable, with the route type as reason, nothing sent", async (t) => {
    for (const mode of ["raw", "dgram"] as const) {
      if (mode === "dgram") await node.exec("sysctl", ["-q", "-w", "net.ipv4.ping_group_range=0 0"]);
      const got = new Map<string, PingRecord>();
      for await (const r of ping([...TARGETS, "198.51.100.11"], {
        netns: ns,
        mode,
        count: 2,
        timeoutMs: 500,
      })) {
        got.set(r.target, r);
      }
      for (const [target, reason] of Object.entries(REFUSED)) {
        const r = got.get(target);
        // exact (t.same, not t.match, whose strings match as substrings: "prohibited" is no "prohibit")
        t.same(
          { state: r?.state, reason: r?.reason, sent: r?.sent, from: r?.from },
          { state: "unreachable", reason, sent: 0, from: null },
          `${mode}: ${target}`,
        );
      }
      t.match(got.get("198.51.100.11"), { state: "reply" }, `${mode}: the peer still answers`);
    }
    const human = await cli(["ping", "--netns", ns, "-c", "1", ...TARGETS]);
    t.equal(human.code, 1);
    t.match(human.stdout, /198\.18\.5\.1\s+unreachable\s+0\/0\s+-\s+-\s+blackhole route/);
    t.match(human.stdout, /198\.51\.100\.255\s+unreachable\s+0\/0\s+-\s+-\s+broadcast address/);
  });

  t.test("dns: unreachable over UDP and TCP, with the route type as reason", async (t) => {
    const run = dns(["example.lab"], {
      netns: ns,
      servers: TARGETS,
      both: true,
      timeoutMs: 500,
      retries: 0,
    });
    const got: DnsRecord[] = [];
    for await (const r of run) if (r.type === "dns") got.push(r);
    t.equal(got.length, TARGETS.length * 2);
    for (const r of got) {
      t.same(
        { status: r.status, reason: r.reason, from: r.from },
        { status: "unreachable", reason: REFUSED[r.server], from: null },
        `${r.transport} ${r.server}`,
      );
    }
    const human = await cli(["dns", "--netns", ns, "--server", "198.18.5.1", "example.lab"]);
    t.match(human.stdout, /unreachable\s+-\s+-\s+blackhole route to the server/);
  });
});
