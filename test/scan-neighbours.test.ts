// What a sweep leaves in the kernel's neighbour table (README, "How it works"): an ARP sweep nothing; a SYN
// sweep of an on-link range one entry per host that answered SYN-ACK, made by the kernel's own RST (nmap's
// sweep leaves the same); and none with the documented workaround, an nftables rule that drops the kernel's
// RSTs from the scan's --source-port.
//
//   segment a 198.18.0.0/22: node .0.1 (the prober), target .0.2, which owns 198.18.2.0/23 as an AnyIP local
//   route (it answers ARP and TCP for every address there) and listens on 8080

import { execFile } from "node:child_process";
import { join } from "node:path";
import t from "tap";
import type { Host } from "../src/lab";
import { withLab } from "./helpers/lab";

const BIN = join(__dirname, "..", "bin", "wireprobe.js");

function wireprobe(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { timeout: 120_000 }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: number }).code ?? 1) : 0;
      resolve({ code: typeof code === "number" ? code : 1, stdout, stderr });
    });
  });
}

/** Neighbour entries of the node for addresses in 198.18.2.0/23 (the swept ones). */
async function neighbours(node: Host): Promise<number> {
  const r = await node.exec("ip", ["neigh", "show", "dev", "eth0"]);
  return r.stdout.split("\n").filter((l) => /^198\.18\.[23]\./.test(l)).length;
}

function openCount(stdout: string): number {
  return stdout.split("\n").filter((l) => l.includes('"state":"open"')).length;
}

t.test("a sweep and the kernel's neighbour table", async (t) => {
  const lab = await withLab(t, "neighbours");
  const a = await lab.segment("a");
  const node = await lab.host("node");
  await node.connect(a, { address: "198.18.0.1/22" });
  const target = await lab.host("target");
  await target.connect(a, { address: "198.18.0.2/22" });
  await target.ip(["route", "add", "local", "198.18.2.0/23", "dev", "lo", "table", "local"]);
  const listener = [
    "import socket, time",
    "s = socket.socket()",
    "s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)",
    "s.bind(('0.0.0.0', 8080))",
    "s.listen(4096)",
    "time.sleep(1e6)",
  ].join("\n");
  target.spawn("python3", ["-c", listener], { stdio: "ignore" });
  for (let i = 0; (await target.exec("ss", ["-ltnH", "sport = :8080"])).stdout.trim() === ""; i++) {
    if (i > 200) throw new Error("the listener did not start");
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  const flush = () => node.exec("ip", ["neigh", "flush", "dev", "eth0"]);

  const arp = await wireprobe(["arp", "--netns", node.ns, "--json", "198.18.2.0/25"]);
  t.equal(arp.stdout.split("\n").filter((l) => l.includes('"state":"reply"')).length, 128, "ARP: all answer");
  t.equal(await neighbours(node), 0, "an ARP sweep adds no neighbour entry");

  const syn = await wireprobe(["scan", "--netns", node.ns, "--json", "-p", "8080", "198.18.2.0/25"]);
  t.equal(openCount(syn.stdout), 128, "SYN sweep: 128 open");
  t.equal(await neighbours(node), 128, "a SYN sweep: one entry per host that answered SYN-ACK");
  await flush();

  await node.exec("nmap", ["-n", "-Pn", "-sS", "-p", "8080", "198.18.2.128/25"], { timeoutMs: 120_000 });
  t.equal(await neighbours(node), 128, "nmap's SYN sweep: the same");
  await flush();

  await node.nft(
    [
      "table inet wpscan {",
      "  chain output {",
      "    type filter hook output priority 0;",
      "    tcp sport 40000 tcp flags & rst == rst drop",
      "  }",
      "}",
      "",
    ].join("\n"),
  );
  const quiet = await wireprobe([
    "scan",
    "--netns",
    node.ns,
    "--json",
    "-p",
    "8080",
    "--source-port",
    "40000",
    "198.18.3.0/25",
  ]);
  t.equal(openCount(quiet.stdout), 128, "with the rule: the same results");
  t.equal(await neighbours(node), 0, "with the rule: no neighbour entry");
});
