// DNS in the lab: dnsmasq servers on lab hosts and dig as the oracle, both run inside lab namespaces.

import type { ChildProcess } from "node:child_process";
import { join } from "node:path";
import type { Host } from "../../src/lab";

export interface Dnsmasq {
  process: ChildProcess;
  /** everything dnsmasq logged so far (with --log-queries: one line per query, with the client address) */
  log(): string;
}

/**
 * Starts dnsmasq in `host` as a plain authoritative-style server for the lab: no upstream, no /etc/hosts,
 * in the foreground (so lab.destroy() ends it), logging queries to stderr. `records` are extra options such
 * as "--host-record=web.lab,198.51.100.80". Resolves once it answers.
 */
export async function startDnsmasq(
  host: Host,
  address: string,
  records: readonly string[],
): Promise<Dnsmasq> {
  const args = [
    "--no-daemon",
    "--keep-in-foreground",
    "--no-resolv",
    "--no-hosts",
    "--no-poll",
    "--port=53",
    `--listen-address=${address}`,
    "--bind-interfaces",
    "--log-queries",
    "--log-facility=-",
    "--pid-file=",
    "--user=root",
    ...records,
  ];
  const child = host.spawn("dnsmasq", args, { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (chunk: string) => {
    log += chunk;
  });
  const exited = new Promise<never>((_, reject) => {
    child.once("exit", (code, signal) =>
      reject(new Error(`dnsmasq in ${host.ns} exited (${signal ?? code}): ${log.trim()}`)),
    );
  });
  exited.catch(() => {});
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (/started, version/.test(log)) break;
    if (Date.now() > deadline) throw new Error(`dnsmasq in ${host.ns} did not start: ${log.trim()}`);
    await Promise.race([new Promise((r) => setTimeout(r, 20)), exited]);
  }
  return { process: child, log: () => log };
}

/** The hostile server (test/helpers/dns-hostile.ts) on `address`:53, answering from `other` too. */
export async function startHostileDns(host: Host, address: string, other: string): Promise<ChildProcess> {
  const child = host.spawn(
    process.execPath,
    [...process.execArgv, join(__dirname, "dns-hostile.ts"), address, other],
    {
      stdio: ["ignore", "pipe", "pipe"],
    },
  );
  let out = "";
  child.stdout?.setEncoding("utf8");
  child.stderr?.setEncoding("utf8");
  child.stderr?.on("data", (c: string) => {
    out += c;
  });
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`hostile DNS server did not start: ${out}`)), 30_000);
    child.stdout?.on("data", (c: string) => {
      out += c;
      if (/ready/.test(out)) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`hostile DNS server exited (${code}): ${out}`));
    });
  });
  return child;
}

export interface DigResult {
  /** the rcode from the header line ("status: NXDOMAIN"), null when no answer came */
  status: string | null;
  /** the answer section's data, as +short prints it, sorted */
  answers: string[];
  /** dig's own words when it got no answer ("connection refused", "timed out", ...) */
  stdout: string;
}

/**
 * Asks with dig from `host` (same namespace as the probe): once in full for the rcode, once +short for the
 * answers. `extra` e.g. ["+tcp"]. Never throws for a failed query.
 */
export async function dig(
  host: Host,
  server: string,
  name: string,
  type = "A",
  extra: readonly string[] = [],
): Promise<DigResult> {
  const base = [
    `@${server}`,
    ...(type === "PTR-x" ? ["-x", name] : [name, type]),
    "+time=2",
    "+tries=1",
    ...extra,
  ];
  const full = await host.exec("dig", base, { reject: false, timeoutMs: 20_000 });
  const status = /status: ([A-Z0-9]+)/.exec(full.stdout)?.[1] ?? null;
  const short = await host.exec("dig", [...base, "+short"], { reject: false, timeoutMs: 20_000 });
  const answers =
    status === null
      ? []
      : short.stdout
          .split("\n")
          .filter((l) => l !== "" && !l.startsWith(";"))
          .sort();
  return { status, answers, stdout: full.stdout };
}
