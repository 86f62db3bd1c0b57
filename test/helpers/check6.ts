// Helpers of the check's IPv6, dual-stack and UDP tests (check6, check-udp, demo6): the CLI, the NDJSON
// records, nodePort stand-ins in lab hosts, and the oracles ndisc6 and nmap in the checking node's namespace.

import { execFile } from "node:child_process";
import { join } from "node:path";
import type { Host } from "../../src/lab";
import { labPrefixOf } from "../../src/lab/names";
import { ownerAlive, readOwner } from "../../src/lab/owner";
import type { ArpRecord, PortRecord, VerdictRecord } from "../../src/records";
import { nmapOracle } from "./nmap";

const BIN = join(__dirname, "..", "..", "bin", "wireprobe.js");
export const NAME = "kubernetes.default.svc.cluster.local";
export const RECORD = `--host-record=${NAME},198.18.1.1`;

export function cli(
  args: string[],
  timeout = 180_000,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], { timeout, maxBuffer: 64 << 20 }, (err, stdout, stderr) => {
      const code = err ? (err as { code?: number }).code : 0;
      resolve({ code: typeof code === "number" ? code : -1, stdout, stderr });
    });
  });
}

export type AnyRecord = { type: string };

export function parse(stdout: string): AnyRecord[] {
  return stdout
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as AnyRecord);
}

export function verdict(records: AnyRecord[], check: string): VerdictRecord {
  const v = records.find((r) => r.type === "verdict" && (r as VerdictRecord).check === check);
  if (!v) throw new Error(`no ${check} verdict`);
  return v as VerdictRecord;
}

export const arpOf = (records: AnyRecord[], target: string) =>
  records.find((r) => r.type === "arp" && (r as ArpRecord).target === target) as ArpRecord | undefined;

export const portOf = (records: AnyRecord[], target: string, port: number, protocol = "tcp") =>
  records.find(
    (r) =>
      r.type === "port" &&
      (r as PortRecord).target === target &&
      (r as PortRecord).port === port &&
      (r as PortRecord).protocol === protocol,
  ) as PortRecord | undefined;

/** ndisc6's answer from `host` out of `ifname`: the MACs it printed, none when nothing answered. */
export async function ndisc6(host: Host, target: string, ifname = "eth0"): Promise<string[]> {
  const r = await host.exec("ndisc6", ["-n", "-m", "-r", "2", "-w", "500", target, ifname], {
    reject: false,
    timeoutMs: 30_000,
  });
  if (r.code !== 0 && !/Timed out|No response/i.test(r.stdout + r.stderr)) {
    throw new Error(`ndisc6 ${target} failed (${r.code}): ${r.stderr || r.stdout}`);
  }
  return [...r.stdout.matchAll(/Target link-layer address: ([0-9A-Fa-f:]{17})/g)].map((m) =>
    m[1]!.toLowerCase(),
  );
}

/** A TCP listener standing for a pod behind a nodePort, on "::" (both families) or "0.0.0.0" (IPv4 only). */
export function listenTcp(host: Host, port: number, address: "::" | "0.0.0.0"): void {
  host.spawn(process.execPath, [
    "-e",
    `require("node:net").createServer((s) => { s.on("error", () => {}); s.end(); }).listen(${port}, "${address}")`,
  ]);
}

/** A UDP service that answers every datagram (an empty one with "pong"), on "::" (both families) or IPv4. */
export function listenUdpEcho(host: Host, port: number, address: "::" | "0.0.0.0" = "0.0.0.0"): void {
  const type = address === "::" ? "udp6" : "udp4";
  host.spawn(process.execPath, [
    "-e",
    `const s = require("node:dgram").createSocket("${type}"); s.on("message", (m, r) => s.send(m.length > 0 ? m : Buffer.from("pong"), r.port, r.address)); s.bind(${port}, "${address}");`,
  ]);
}

export async function waitListening(host: Host, proto: "t" | "u", port: number, count = 1): Promise<void> {
  for (let i = 0; i < 200; i++) {
    const r = await host.exec("ss", ["-Hln", `-${proto}`, `sport = :${port}`], { reject: false });
    if (r.stdout.trim().split("\n").filter(Boolean).length >= count) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`nothing listens on ${proto}/${port} in ${host.ns}`);
}

/** nmap's state for each target on one port, in the checking node's namespace. */
export async function nmapStates(
  host: Host,
  args: readonly string[],
  port: number,
  targets: readonly string[],
): Promise<Map<string, string>> {
  const hosts = await nmapOracle(host, ["-Pn", "-n", ...args, "-p", String(port), ...targets]);
  return new Map(targets.map((a) => [a, hosts.get(a)?.ports[String(port)]?.state ?? "none"]));
}

/**
 * Demo namespaces left behind: wpdemo-* namespaces whose lab has no live owner. Another demo running at the
 * same time (tap runs test files in parallel) owns its namespaces and is not counted.
 */
export async function demoLeftovers(): Promise<string[]> {
  const out = await new Promise<string>((resolve) =>
    execFile("ip", ["netns", "list"], (_e, stdout) => resolve(stdout)),
  );
  return out
    .split("\n")
    .map((l) => l.split(" ")[0]!)
    .filter((ns) => ns.startsWith("wpdemo-"))
    .filter((ns) => {
      const prefix = labPrefixOf(ns);
      const owner = prefix === null ? null : readOwner(prefix);
      return owner === null || !ownerAlive(owner);
    });
}
